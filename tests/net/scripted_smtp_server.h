// A one-connection SMTP server for the outbound connection tests: a thread with blocking
// sockets on 127.0.0.1:0 that answers each command from a fixed script (by verb, and by
// recipient for RCPT) and records every line it received. Every wait in it is bounded.
// Test code only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace labmta::test {

// What the server does when the client says EHLO.
enum class AtEhlo {
    Answer,  // the ehlo lines
    Close,   // closes the connection
    Hang,    // never answers (nor closes, until the client does)
};

struct SmtpScript {
    std::string greeting = "220 sink.test ESMTP";
    std::vector<std::string> ehlo{"250-sink.test", "250 8BITMIME"};
    std::map<std::string, std::string> rcpt;  // recipient -> reply; others get 250 2.1.5 Ok
    std::string end_of_data = "250 2.0.0 Ok: queued as 4A5B6C7D";
    std::string line_ending = "\r\n";  // how replies end; "\n" for a sloppy server
    bool silent = false;               // accept, then never send a byte
    AtEhlo at_ehlo = AtEhlo::Answer;
};

class ScriptedSmtpServer {
public:
    explicit ScriptedSmtpServer(SmtpScript script);
    // Stops the thread (it notices within a few milliseconds) and joins it.
    ~ScriptedSmtpServer();
    ScriptedSmtpServer(const ScriptedSmtpServer&) = delete;
    ScriptedSmtpServer& operator=(const ScriptedSmtpServer&) = delete;

    std::uint16_t port() const { return port_; }
    // Waits until the dialog is over: QUIT answered, the client closed, or the server gave up
    // (kServeWait without a connection or a line). True when it is over within timeout.
    bool wait_closed(std::chrono::milliseconds timeout);
    // Every line received so far, without line endings; message lines as sent (dot-stuffed).
    std::vector<std::string> received() const;

private:
    void run();
    bool serve(int client);
    bool read_line(int client, std::string& line);
    bool reply(int client, const std::string& text);
    bool reply_lines(int client, const std::vector<std::string>& lines);

    SmtpScript script_;
    int listener_ = -1;
    std::uint16_t port_ = 0;
    std::string buffer_;
    mutable std::mutex mutex_;
    std::condition_variable closed_changed_;
    std::vector<std::string> received_;
    bool closed_ = false;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace labmta::test
