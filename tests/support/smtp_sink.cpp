// The recording SMTP sink (see smtp_sink.h). One thread accepts, one thread per connection
// serves it; all of them poll() their socket together with the read end of a pipe that the
// destructor writes to, so that they all wake at once and end.
#include "tests/support/smtp_sink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace labmta::test {
namespace {

// A client silent this long is dropped; far longer than any test waits for the server.
constexpr std::chrono::seconds kIdleLimit{60};
constexpr std::size_t kMaxLine = 1 << 20;

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
    });
    return out;
}

bool starts_with_verb(std::string_view line, std::string_view verb) {
    return line.size() >= verb.size() && lower(line.substr(0, verb.size())) == lower(verb)
           && (line.size() == verb.size() || line[verb.size()] == ' ' || line[verb.size()] == ':');
}

// The text between the first '<' and the next '>', or "" when there is none.
std::string angle_address(std::string_view line) {
    const std::size_t open = line.find('<');
    if (open == std::string_view::npos) {
        return "";
    }
    const std::size_t close = line.find('>', open);
    if (close == std::string_view::npos) {
        return "";
    }
    return std::string(line.substr(open + 1, close - open - 1));
}

bool is_positive(std::string_view reply) {
    return !reply.empty() && reply.front() == '2';
}

void close_fd(int& fd) {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

// One client connection on its own thread.
class SmtpSink::Connection {
public:
    Connection(SmtpSink& sink, int fd, std::size_t number)
        : sink_(sink), fd_(fd), number_(number), thread_([this] { run(); }) {}
    ~Connection() {
        if (thread_.joinable()) {
            thread_.join();
        }
        close_fd(fd_);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

private:
    enum class ReadResult { Line, Closed };

    void run() {
        bool quit = false;
        try {
            quit = serve();
        } catch (const std::exception&) {
            quit = false;  // a write to a closed socket, a line too long: the dialog is over
        }
        finish_transaction();
        ::shutdown(fd_, SHUT_RDWR);
        sink_.note_closed(quit);
    }

    // True when the client said QUIT.
    bool serve() {
        if (!reply(sink_policy_copy().greeting)) {
            return false;
        }
        std::string line;
        bool crlf = true;
        while (read_line(line, crlf) == ReadResult::Line) {
            sink_.note_command(line);
            if (starts_with_verb(line, "EHLO")) {
                helo_ = line.size() > 5 ? line.substr(5) : "";
                finish_transaction();
                if (!reply_lines(sink_policy_copy().ehlo)) {
                    return false;
                }
            } else if (starts_with_verb(line, "HELO")) {
                helo_ = line.size() > 5 ? line.substr(5) : "";
                finish_transaction();
                if (!reply("250 sink.test")) {
                    return false;
                }
            } else if (starts_with_verb(line, "MAIL")) {
                if (!on_mail(line)) {
                    return false;
                }
            } else if (starts_with_verb(line, "RCPT")) {
                if (!on_rcpt(line)) {
                    return false;
                }
            } else if (starts_with_verb(line, "DATA")) {
                if (!on_data()) {
                    return false;
                }
            } else if (starts_with_verb(line, "RSET")) {
                finish_transaction();
                if (!reply("250 2.0.0 Ok")) {
                    return false;
                }
            } else if (starts_with_verb(line, "NOOP")) {
                if (!reply("250 2.0.0 Ok")) {
                    return false;
                }
            } else if (starts_with_verb(line, "QUIT")) {
                finish_transaction();
                reply("221 2.0.0 Bye");
                return true;
            } else if (!reply("502 5.5.2 Error: command not recognized")) {
                return false;
            }
        }
        return false;
    }

    bool on_mail(const std::string& line) {
        if (current_) {
            return reply("503 5.5.1 Error: nested MAIL command");
        }
        const std::string answer =
            sink_.next_reply(sink_policy_copy().mail, "mail", "250 2.1.0 Ok");
        if (is_positive(answer)) {
            current_ = std::make_unique<SinkTransaction>();
            current_->connection = number_;
            current_->helo = helo_;
            current_->mail_from = angle_address(line);
            current_->mail_from_line = line;
        }
        return reply(answer);
    }

    bool on_rcpt(const std::string& line) {
        if (!current_) {
            return reply("503 5.5.1 Error: need MAIL command");
        }
        const std::string address = angle_address(line);
        const SinkPolicy policy = sink_policy_copy();
        std::string answer;
        auto own = std::find_if(policy.rcpt.begin(), policy.rcpt.end(), [&](const auto& entry) {
            return lower(entry.first) == lower(address);
        });
        if (own != policy.rcpt.end()) {
            answer = sink_.next_reply(own->second, "rcpt:" + lower(address), kRcptOk);
        } else {
            answer = sink_.next_reply(policy.any_rcpt, "any_rcpt:" + lower(address), kRcptOk);
        }
        current_->rcpt_tried.push_back(address);
        if (is_positive(answer)) {
            current_->rcpt_to.push_back(address);
        }
        return reply(answer);
    }

    bool on_data() {
        if (!current_) {
            return reply("503 5.5.1 Error: need RCPT command");
        }
        if (current_->rcpt_to.empty()) {
            finish_transaction();
            return reply("554 5.5.1 Error: no valid recipients");
        }
        if (!reply("354 End data with <CR><LF>.<CR><LF>")) {
            return false;
        }
        std::string line;
        bool crlf = true;
        while (read_line(line, crlf) == ReadResult::Line) {
            if (line == ".") {
                current_->data_complete = true;
                break;
            }
            current_->only_crlf = current_->only_crlf && crlf;
            current_->data += (line.starts_with('.') ? line.substr(1) : line) + "\r\n";
        }
        if (!current_->data_complete) {
            return false;  // the connection closed in the middle of the message
        }
        const std::size_t number = sink_.transactions().size() + 1;
        const std::string answer =
            sink_.next_reply(sink_policy_copy().end_of_data,
                             "data",
                             "250 2.0.0 Ok: queued as SINK" + std::to_string(number));
        current_->end_of_data_reply = answer;
        current_->accepted = is_positive(answer);
        finish_transaction();
        return reply(answer);
    }

    void finish_transaction() {
        if (current_) {
            sink_.record(*current_);
            current_.reset();
        }
    }

    SinkPolicy sink_policy_copy() const {
        const std::lock_guard lock(sink_.mutex_);
        return sink_.policy_;
    }

    ReadResult read_line(std::string& line, bool& crlf) {
        const auto deadline = std::chrono::steady_clock::now() + kIdleLimit;
        while (true) {
            const std::size_t end = buffer_.find('\n');
            if (end != std::string::npos) {
                crlf = end > 0 && buffer_[end - 1] == '\r';
                line = buffer_.substr(0, crlf ? end - 1 : end);
                buffer_.erase(0, end + 1);
                return ReadResult::Line;
            }
            if (buffer_.size() > kMaxLine) {
                throw std::runtime_error("line too long");
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || sink_.stopping_) {
                return ReadResult::Closed;
            }
            pollfd fds[2] = {{fd_, POLLIN, 0}, {sink_.wake_read_, POLLIN, 0}};
            const int ready = ::poll(fds, 2, static_cast<int>(left.count()));
            if (ready < 0 && errno == EINTR) {
                continue;
            }
            if (ready < 0 || (fds[1].revents & POLLIN) != 0) {
                return ReadResult::Closed;
            }
            if (ready == 0) {
                continue;
            }
            char chunk[4096];
            const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
            if (got < 0 && errno == EINTR) {
                continue;
            }
            if (got <= 0) {
                return ReadResult::Closed;
            }
            buffer_.append(chunk, static_cast<std::size_t>(got));
        }
    }

    bool reply(const std::string& text) {
        std::string bytes;
        std::size_t start = 0;
        while (start <= text.size()) {
            std::size_t end = text.find('\n', start);
            end = end == std::string::npos ? text.size() : end;
            bytes += text.substr(start, end - start) + "\r\n";
            start = end + 1;
        }
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return false;
            }
            sent += static_cast<std::size_t>(n);
        }
        return true;
    }

    bool reply_lines(const std::vector<std::string>& lines) {
        std::string joined;
        for (const std::string& line : lines) {
            joined += (joined.empty() ? "" : "\n") + line;
        }
        return reply(joined.empty() ? "250 sink.test" : joined);
    }

    SmtpSink& sink_;
    int fd_;
    std::size_t number_;
    std::string buffer_;
    std::string helo_;
    std::unique_ptr<SinkTransaction> current_;
    std::thread thread_;  // last: starts once every other member is ready
};

SmtpSink::SmtpSink(SinkPolicy policy, const std::string& address, std::uint16_t port)
    : address_(address), policy_(std::move(policy)) {
    int pipe_fds[2] = {-1, -1};
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        throw std::runtime_error(errno_text("sink: pipe"));
    }
    wake_read_ = pipe_fds[0];
    wake_write_ = pipe_fds[1];

    sockaddr_in bind_address{};
    bind_address.sin_family = AF_INET;
    bind_address.sin_port = htons(port);
    if (::inet_pton(AF_INET, address.c_str(), &bind_address.sin_addr) != 1) {
        close_fd(wake_read_);
        close_fd(wake_write_);
        throw std::runtime_error("sink: not an IPv4 address: " + address);
    }
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    socklen_t length = sizeof bind_address;
    if (listener_ < 0 || ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0
        || ::bind(listener_, reinterpret_cast<sockaddr*>(&bind_address), sizeof bind_address) != 0
        || ::listen(listener_, 64) != 0
        || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&bind_address), &length) != 0) {
        const std::string error =
            errno_text(("sink: cannot listen on " + address + ":" + std::to_string(port)).c_str());
        close_fd(listener_);
        close_fd(wake_read_);
        close_fd(wake_write_);
        throw std::runtime_error(error);
    }
    port_ = ntohs(bind_address.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
}

SmtpSink::~SmtpSink() {
    stopping_ = true;
    const char byte = 'x';
    [[maybe_unused]] const ssize_t ignored = ::write(wake_write_, &byte, 1);
    if (accept_thread_.joinable()) {
        accept_thread_.join();
    }
    {
        const std::lock_guard lock(threads_mutex_);
        live_.clear();  // each ~Connection joins its thread
    }
    close_fd(listener_);
    close_fd(wake_read_);
    close_fd(wake_write_);
}

std::string SmtpSink::relayhost() const {
    return "[" + address_ + "]:" + std::to_string(port_);
}

void SmtpSink::accept_loop() {
    while (!stopping_) {
        pollfd fds[2] = {{listener_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
        const int ready = ::poll(fds, 2, 1000);
        if (ready < 0 && errno != EINTR) {
            return;
        }
        if ((fds[1].revents & POLLIN) != 0 || stopping_) {
            return;
        }
        if (ready <= 0 || (fds[0].revents & POLLIN) == 0) {
            continue;
        }
        const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) {
            continue;
        }
        std::size_t number = 0;
        {
            const std::lock_guard lock(mutex_);
            number = ++connections_;
        }
        changed_.notify_all();
        const std::lock_guard lock(threads_mutex_);
        live_.push_back(std::make_unique<Connection>(*this, client, number));
    }
}

std::string SmtpSink::next_reply(const std::vector<std::string>& replies,
                                 const std::string& key,
                                 const std::string& fallback) {
    if (replies.empty()) {
        return fallback;
    }
    const std::lock_guard lock(mutex_);
    std::size_t& given = attempts_[key];
    const std::string& answer = replies[std::min(given, replies.size() - 1)];
    ++given;
    return answer;
}

void SmtpSink::set_policy(SinkPolicy policy) {
    const std::lock_guard lock(mutex_);
    policy_ = std::move(policy);
    attempts_.clear();
}

void SmtpSink::record(const SinkTransaction& transaction) {
    {
        const std::lock_guard lock(mutex_);
        transactions_.push_back(transaction);
        messages_accepted_ += transaction.accepted ? 1 : 0;
    }
    changed_.notify_all();
}

void SmtpSink::note_command(const std::string& line) {
    const std::lock_guard lock(mutex_);
    commands_.push_back(line);
}

void SmtpSink::note_closed(bool quit) {
    {
        const std::lock_guard lock(mutex_);
        ++closed_;
        quits_ += quit ? 1 : 0;
    }
    changed_.notify_all();
}

std::vector<SinkTransaction> SmtpSink::transactions() const {
    const std::lock_guard lock(mutex_);
    return transactions_;
}

std::vector<SinkTransaction> SmtpSink::accepted_messages() const {
    const std::lock_guard lock(mutex_);
    std::vector<SinkTransaction> accepted;
    std::copy_if(transactions_.begin(),
                 transactions_.end(),
                 std::back_inserter(accepted),
                 [](const SinkTransaction& t) { return t.accepted; });
    return accepted;
}

std::vector<std::string> SmtpSink::commands() const {
    const std::lock_guard lock(mutex_);
    return commands_;
}

std::size_t SmtpSink::connection_count() const {
    const std::lock_guard lock(mutex_);
    return connections_;
}

std::size_t SmtpSink::quit_count() const {
    const std::lock_guard lock(mutex_);
    return quits_;
}

bool SmtpSink::wait_for_messages(std::size_t count,
                                 std::chrono::steady_clock::time_point deadline) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, deadline, [&] { return messages_accepted_ >= count; });
}

bool SmtpSink::wait_for_transactions(std::size_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return transactions_.size() >= count; });
}

bool SmtpSink::wait_for_closed_connections(std::size_t count,
                                           std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return closed_ >= count; });
}

}  // namespace labmta::test
