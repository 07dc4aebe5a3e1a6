// SmtpClient (see smtp_client.h). Blocking sockets with poll() for the read timeout;
// MSG_NOSIGNAL so a server that closed early fails the test instead of killing it by SIGPIPE.
#include "tests/support/smtp_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace labmta::test {
namespace {

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

SmtpClient::SmtpClient(std::uint16_t port, std::chrono::milliseconds timeout) : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        throw SmtpClientError(errno_text("socket"));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        const std::string error = errno_text("connect to 127.0.0.1");
        ::close(fd_);
        fd_ = -1;
        throw SmtpClientError(error + " (port " + std::to_string(port) + ")");
    }
}

SmtpClient::~SmtpClient() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

SmtpClient::SmtpClient(SmtpClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      timeout_(other.timeout_),
      buffer_(std::move(other.buffer_)) {}

void SmtpClient::send(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw SmtpClientError(errno_text("send"));
        }
        bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
}

void SmtpClient::send_line(std::string_view line) {
    std::string bytes(line);
    bytes += "\r\n";
    send(bytes);
}

bool SmtpClient::has_input() {
    if (!buffer_.empty()) {
        return true;
    }
    pollfd request{fd_, POLLIN, 0};
    return ::poll(&request, 1, 0) > 0;
}

bool SmtpClient::receive_more(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            throw SmtpClientError("no reply within " + std::to_string(timeout_.count())
                                  + " ms (received so far: \"" + buffer_ + "\")");
        }
        pollfd request{fd_, POLLIN, 0};
        const int ready = ::poll(&request, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno != EINTR) {
            throw SmtpClientError(errno_text("poll"));
        }
        if (ready <= 0) {
            continue;
        }
        char chunk[4096];
        const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
        if (got > 0) {
            buffer_.append(chunk, static_cast<std::size_t>(got));
            return true;
        }
        if (got == 0 || errno == ECONNRESET) {
            return false;
        }
        if (errno != EINTR && errno != EAGAIN) {
            throw SmtpClientError(errno_text("recv"));
        }
    }
}

std::string SmtpClient::read_line() {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    std::size_t end = buffer_.find('\n');
    while (end == std::string::npos) {
        if (!receive_more(deadline)) {
            throw SmtpClientError("connection closed by the server (pending: \"" + buffer_ + "\")");
        }
        end = buffer_.find('\n');
    }
    std::string line = buffer_.substr(0, end);
    buffer_.erase(0, end + 1);
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    } else {
        line += " <bare LF>";
    }
    return line;
}

std::vector<std::string> SmtpClient::read_reply() {
    std::vector<std::string> lines;
    for (;;) {
        lines.push_back(read_line());
        const std::string& line = lines.back();
        // RFC 5321 4.2.1: "xyz-" continues a multi-line reply; "xyz " or "xyz" ends it.
        if (line.size() < 4 || line[3] != '-') {
            return lines;
        }
    }
}

std::string SmtpClient::ask(std::string_view line) {
    send_line(line);
    return join(read_reply());
}

std::string SmtpClient::read_until_closed() {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (receive_more(deadline)) {
    }
    return std::exchange(buffer_, {});
}

std::string SmtpClient::join(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) {
        if (!text.empty()) {
            text += '\n';
        }
        text += line;
    }
    return text;
}

}  // namespace labmta::test
