// A recording SMTP server for end-to-end tests of outbound delivery: labmta's relayhost or MX.
// It listens on 127.0.0.1:0 (or a given loopback address and port), serves every connection on
// its own thread with blocking sockets and poll(), answers from a scripted policy that the test
// may change at any time, and records each transaction (EHLO name, MAIL FROM, RCPT, the message
// with dot-stuffing undone). Every wait in it is bounded; the destructor wakes and joins every
// thread and closes every socket. Test code only: throws std::runtime_error on setup failures.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace labmta::test {

// What the sink answers. Reply lists are consumed one entry per attempt, and the last entry
// repeats: {"451 4.3.0 try later", "250 2.1.5 Ok"} defers the first attempt and accepts every
// later one; {"550 5.1.1 <x>: Recipient address rejected"} always refuses. A reply may have
// several lines, separated by "\n" (each is sent with CRLF; "-" continuation is the caller's).
struct SinkPolicy {
    std::string greeting = "220 sink.test ESMTP";
    std::vector<std::string> ehlo{"250-sink.test", "250-PIPELINING", "250-8BITMIME", "250 SIZE"};
    // Per recipient (compared case-insensitively, without <>); others get kRcptOk.
    std::map<std::string, std::vector<std::string>> rcpt;
    // RCPT reply for every recipient without its own entry; empty: kRcptOk.
    std::vector<std::string> any_rcpt;
    // Reply to MAIL FROM; empty: "250 2.1.0 Ok".
    std::vector<std::string> mail;
    // Reply to the end of data ("."); empty: "250 2.0.0 Ok: queued as SINK<n>".
    std::vector<std::string> end_of_data;
};

inline constexpr const char* kRcptOk = "250 2.1.5 Ok";

// One MAIL transaction the sink saw, complete or not.
struct SinkTransaction {
    std::size_t connection = 0;           // 1 for the first connection the sink accepted
    std::string helo;                     // the EHLO/HELO argument of that connection
    std::string mail_from;                // between < and >; "" for the null sender
    std::string mail_from_line;           // the whole MAIL FROM line as received
    std::vector<std::string> rcpt_to;     // recipients the sink accepted (2xx), in order
    std::vector<std::string> rcpt_tried;  // every RCPT TO address, accepted or not
    std::string data;                     // the message, CRLF line ends, dot-stuffing undone
    bool data_complete = false;           // the final "." was received
    bool only_crlf = true;                // every line of data ended with CRLF
    std::string end_of_data_reply;        // what the sink answered to "."
    bool accepted = false;                // end_of_data_reply was 2xx
};

class SmtpSink {
public:
    // Listens on address:port (port 0: any free port). Throws std::runtime_error when it cannot
    // bind, e.g. port 25 without the right to use it.
    explicit SmtpSink(SinkPolicy policy = {},
                      const std::string& address = "127.0.0.1",
                      std::uint16_t port = 0);
    // Wakes and joins the accept thread and every connection thread, closing their sockets.
    ~SmtpSink();
    SmtpSink(const SmtpSink&) = delete;
    SmtpSink& operator=(const SmtpSink&) = delete;

    std::uint16_t port() const { return port_; }
    const std::string& address() const { return address_; }
    // "[127.0.0.1]:<port>", for relay.relayhost.
    std::string relayhost() const;

    // Replaces the policy; replies already consumed from lists are not given again (the
    // attempt counters restart at zero for the new policy).
    void set_policy(SinkPolicy policy);

    // Copies of what was recorded so far.
    std::vector<SinkTransaction> transactions() const;
    std::vector<SinkTransaction> accepted_messages() const;  // accepted == true only
    std::vector<std::string> commands() const;               // every command line, in order
    std::size_t connection_count() const;
    std::size_t quit_count() const;  // connections that ended with QUIT

    // Waits until at least count messages were accepted; false when the deadline passed.
    bool wait_for_messages(std::size_t count, std::chrono::steady_clock::time_point deadline) const;
    bool wait_for_messages(std::size_t count, std::chrono::milliseconds timeout) const {
        return wait_for_messages(count, std::chrono::steady_clock::now() + timeout);
    }
    // Waits until at least count transactions (accepted or not) have ended: the final reply
    // to "." was sent, or every RCPT was refused and the client moved on (RSET, QUIT, close).
    bool wait_for_transactions(std::size_t count, std::chrono::milliseconds timeout) const;
    // Waits until at least count connections have closed.
    bool wait_for_closed_connections(std::size_t count, std::chrono::milliseconds timeout) const;

private:
    class Connection;

    void accept_loop();
    std::string next_reply(const std::vector<std::string>& replies,
                           const std::string& key,
                           const std::string& fallback);
    void record(const SinkTransaction& transaction);
    void note_command(const std::string& line);
    void note_closed(bool quit);

    std::string address_;
    std::uint16_t port_ = 0;
    int listener_ = -1;
    int wake_read_ = -1;  // a pipe: the destructor writes, every poll() also watches this end
    int wake_write_ = -1;

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    SinkPolicy policy_;
    std::map<std::string, std::size_t> attempts_;  // reply list key -> replies given
    std::size_t connections_ = 0;
    std::size_t closed_ = 0;
    std::size_t quits_ = 0;
    std::size_t messages_accepted_ = 0;
    std::vector<SinkTransaction> transactions_;
    std::vector<std::string> commands_;

    std::atomic<bool> stopping_{false};
    std::mutex threads_mutex_;
    std::vector<std::unique_ptr<Connection>> live_;
    std::thread accept_thread_;
};

}  // namespace labmta::test
