// A small blocking SMTP client over TCP to 127.0.0.1, for end-to-end tests: sends raw bytes or
// lines and reads whole replies ("250-" continues a reply, "250 " ends it). Every read waits at
// most the client's timeout (poll), so a silent server fails the test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::test {

class SmtpClientError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class SmtpClient {
public:
    // Connects to 127.0.0.1:port; throws SmtpClientError when it cannot.
    explicit SmtpClient(std::uint16_t port,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~SmtpClient();
    SmtpClient(SmtpClient&& other) noexcept;
    SmtpClient& operator=(SmtpClient&&) = delete;
    SmtpClient(const SmtpClient&) = delete;
    SmtpClient& operator=(const SmtpClient&) = delete;

    void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

    // Writes all of bytes (one write() call when the socket takes it).
    void send(std::string_view bytes);
    // Writes line + CRLF.
    void send_line(std::string_view line);

    // One reply line without its CRLF. A line that ended in a bare LF gets " <bare LF>"
    // appended, so comparisons show it. Throws SmtpClientError on timeout or end of stream.
    std::string read_line();
    // The lines of one complete reply.
    std::vector<std::string> read_reply();
    // send_line(line), then read_reply() joined with "\n": for CHECK(client.ask(..) == "...").
    std::string ask(std::string_view line);
    // True when something from the server is waiting to be read, without waiting for it.
    bool has_input();
    // The greeting, read_reply() joined with "\n".
    std::string read_greeting() { return join(read_reply()); }

    // Waits until the server closes the connection and returns whatever it sent before that
    // ("" when nothing). Throws SmtpClientError when the connection is still open at timeout.
    std::string read_until_closed();

    static std::string join(const std::vector<std::string>& lines);

private:
    // Appends at least one byte to buffer_; false on end of stream. Throws on timeout.
    bool receive_more(std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    std::string buffer_;
};

}  // namespace labmta::test
