// See scripted_smtp_server.h. The thread polls in short slices so that the destructor can
// stop it at any point; a test that never connects costs at most kServeWait.
#include "tests/net/scripted_smtp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace labmta::test {
namespace {

constexpr std::chrono::milliseconds kServeWait{10000};
constexpr int kSliceMs = 10;

bool starts_with_verb(const std::string& line, std::string_view verb) {
    if (line.size() < verb.size()) {
        return false;
    }
    for (std::size_t i = 0; i < verb.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(line[i])) != verb[i]) {
            return false;
        }
    }
    return true;
}

// "RCPT TO:<a@b> NOTIFY=..." -> "a@b"
std::string rcpt_address(const std::string& line) {
    const std::size_t open = line.find('<');
    const std::size_t close = line.find('>', open);
    if (open == std::string::npos || close == std::string::npos) {
        return {};
    }
    return line.substr(open + 1, close - open - 1);
}

}  // namespace

ScriptedSmtpServer::ScriptedSmtpServer(SmtpScript script) : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0
        || ::listen(listener_, 4) != 0
        || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        const std::string error = std::strerror(errno);
        if (listener_ >= 0) {
            ::close(listener_);
        }
        throw std::runtime_error("scripted SMTP server: cannot listen: " + error);
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
}

ScriptedSmtpServer::~ScriptedSmtpServer() {
    stopping_ = true;
    thread_.join();
    ::close(listener_);
}

bool ScriptedSmtpServer::wait_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return closed_changed_.wait_for(lock, timeout, [this] { return closed_; });
}

std::vector<std::string> ScriptedSmtpServer::received() const {
    const std::lock_guard lock(mutex_);
    return received_;
}

void ScriptedSmtpServer::run() {
    const auto deadline = std::chrono::steady_clock::now() + kServeWait;
    pollfd ready{listener_, POLLIN, 0};
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
        if (::poll(&ready, 1, kSliceMs) != 1) {
            continue;
        }
        const int client = ::accept(listener_, nullptr, nullptr);
        if (client < 0) {
            continue;
        }
        serve(client);
        ::close(client);
        break;
    }
    const std::lock_guard lock(mutex_);
    closed_ = true;
    closed_changed_.notify_all();
}

// Plays the script until QUIT, the client's EOF, or a stop; false when the dialog broke off.
bool ScriptedSmtpServer::serve(int client) {
    if (!script_.silent && !reply(client, script_.greeting)) {
        return false;
    }
    std::string line;
    bool in_data = false;
    while (read_line(client, line)) {
        {
            const std::lock_guard lock(mutex_);
            received_.push_back(line);
        }
        if (script_.silent) {
            continue;
        }
        if (in_data) {
            in_data = line != ".";
            if (!in_data && !reply(client, script_.end_of_data)) {
                return false;
            }
        } else if (starts_with_verb(line, "EHLO")) {
            if (script_.at_ehlo == AtEhlo::Close) {
                return false;
            }
            if (script_.at_ehlo == AtEhlo::Hang) {
                script_.silent = true;  // from here on, only record what arrives
            } else if (!reply_lines(client, script_.ehlo)) {
                return false;
            }
        } else if (starts_with_verb(line, "HELO")) {
            reply(client, "250 sink.test");
        } else if (starts_with_verb(line, "MAIL")) {
            reply(client, "250 2.1.0 Ok");
        } else if (starts_with_verb(line, "RCPT")) {
            const auto it = script_.rcpt.find(rcpt_address(line));
            reply(client, it != script_.rcpt.end() ? it->second : "250 2.1.5 Ok");
        } else if (starts_with_verb(line, "DATA")) {
            in_data = reply(client, "354 End data with <CR><LF>.<CR><LF>");
        } else if (starts_with_verb(line, "QUIT")) {
            reply(client, "221 2.0.0 Bye");
            return true;
        } else {
            reply(client, "502 5.5.2 Error: command not recognized");
        }
    }
    return false;
}

// The next CRLF-terminated line; false on EOF, error, stop or after kServeWait.
bool ScriptedSmtpServer::read_line(int client, std::string& line) {
    const auto deadline = std::chrono::steady_clock::now() + kServeWait;
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
        const std::size_t end = buffer_.find("\r\n");
        if (end != std::string::npos) {
            line = buffer_.substr(0, end);
            buffer_.erase(0, end + 2);
            return true;
        }
        pollfd ready{client, POLLIN, 0};
        if (::poll(&ready, 1, kSliceMs) != 1) {
            continue;
        }
        std::array<char, 4096> chunk{};
        const ssize_t got = ::recv(client, chunk.data(), chunk.size(), 0);
        if (got <= 0) {
            return false;
        }
        buffer_.append(chunk.data(), static_cast<std::size_t>(got));
    }
    return false;
}

bool ScriptedSmtpServer::reply(int client, const std::string& text) {
    return reply_lines(client, {text});
}

bool ScriptedSmtpServer::reply_lines(int client, const std::vector<std::string>& lines) {
    std::string bytes;
    for (const std::string& line : lines) {
        bytes += line + script_.line_ending;
    }
    return ::send(client, bytes.data(), bytes.size(), MSG_NOSIGNAL)
           == static_cast<ssize_t>(bytes.size());
}

}  // namespace labmta::test
