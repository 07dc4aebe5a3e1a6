// See dnsmasq.h. dnsmasq is started with posix_spawn (no fork while other test threads may
// run), on a port that was free a moment before (retried if it was taken since), and is ready
// once it answers a probe query over UDP. Every wait is bounded.
#include "tests/net/dnsmasq.h"

#include "tests/support/files.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

extern char** environ;

namespace labmta::test {
namespace {

constexpr std::chrono::milliseconds kStartWait{5000};
constexpr std::chrono::milliseconds kStopWait{3000};
constexpr int kStartAttempts = 3;

// Closes a socket at the end of a scope.
class Socket {
public:
    explicit Socket(int fd) : fd_(fd) {}
    ~Socket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

std::uint16_t free_udp_port() {
    const Socket socket(::socket(AF_INET, SOCK_DGRAM, 0));
    sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    if (socket.get() < 0 || ::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), length) != 0
        || ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw DnsmasqError(std::string("no free UDP port: ") + std::strerror(errno));
    }
    return ntohs(address.sin_port);
}

// True when something answers a DNS query (A probe.test, RFC 1035 4.1) on 127.0.0.1:port
// within a short wait.
bool answers_query(std::uint16_t port) {
    static constexpr std::array<unsigned char, 28> kQuery{
        0x4c, 0x4d, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // header, RD
        5,    'p',  'r',  'o',  'b',  'e',  4,    't',  'e',  's',  't',  0,     // probe.test
        0x00, 0x01, 0x00, 0x01};                                                 // A, IN
    const Socket socket(::socket(AF_INET, SOCK_DGRAM, 0));
    const sockaddr_in address = loopback(port);
    if (socket.get() < 0
        || ::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0
        || ::send(socket.get(), kQuery.data(), kQuery.size(), 0) < 0) {
        return false;
    }
    pollfd ready{socket.get(), POLLIN, 0};
    std::array<unsigned char, 512> reply{};
    return ::poll(&ready, 1, 100) == 1 && ::recv(socket.get(), reply.data(), reply.size(), 0) > 0;
}

bool is_executable(const std::string& path) {
    return ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::optional<std::string> find_dnsmasq() {
    for (const char* dir : {"/usr/sbin", "/usr/local/sbin", "/sbin"}) {
        const std::string path = std::string(dir) + "/dnsmasq";
        if (is_executable(path)) {
            return path;
        }
    }
    const char* search_path = std::getenv("PATH");
    std::string_view rest = search_path != nullptr ? search_path : "";
    while (!rest.empty()) {
        const std::size_t colon = std::min(rest.find(':'), rest.size());
        const std::string path = std::string(rest.substr(0, colon)) + "/dnsmasq";
        if (colon > 0 && is_executable(path)) {
            return path;
        }
        rest.remove_prefix(std::min(colon + 1, rest.size()));
    }
    return std::nullopt;
}

Dnsmasq::Dnsmasq(const std::string& binary,
                 const std::vector<std::string>& options,
                 const std::vector<std::string>& local_zones) {
    for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
        port_ = free_udp_port();
        std::vector<std::string> arguments{binary,
                                           "--no-daemon",
                                           "--conf-file=/dev/null",
                                           "--pid-file=",
                                           "--port=" + std::to_string(port_),
                                           "--listen-address=127.0.0.1",
                                           "--bind-interfaces",
                                           "--no-resolv",
                                           "--no-hosts",
                                           "--log-queries"};
        for (const std::string& zone : local_zones) {
            arguments.push_back("--local=/" + zone + "/");
        }
        arguments.insert(arguments.end(), options.begin(), options.end());
        if (start(binary, arguments)) {
            return;
        }
    }
    throw DnsmasqError("dnsmasq did not start; log:\n" + log());
}

Dnsmasq::~Dnsmasq() {
    stop();
}

// Spawns dnsmasq and waits until it answers; false when it exited (the port may have been
// taken in between: the caller retries). Throws when it neither exits nor answers in time.
bool Dnsmasq::start(const std::string& binary, const std::vector<std::string>& arguments) {
    std::vector<char*> argv;
    for (const std::string& argument : arguments) {
        argv.push_back(const_cast<char*>(argument.c_str()));
    }
    argv.push_back(nullptr);
    const std::string log_path = dir_ / "dnsmasq.log";
    posix_spawn_file_actions_t actions{};
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(
        &actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const int error = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) {
        pid_ = -1;
        throw DnsmasqError("cannot start " + binary + ": " + std::strerror(error));
    }
    const auto deadline = std::chrono::steady_clock::now() + kStartWait;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        if (answers_query(port_)) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop();
    throw DnsmasqError("dnsmasq did not answer within 5 s; log:\n" + log());
}

void Dnsmasq::stop() {
    if (pid_ < 0) {
        return;
    }
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kStopWait;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
}

std::string Dnsmasq::log() const {
    try {
        return read_text_file(dir_ / "dnsmasq.log");
    } catch (const std::exception&) {
        return "(no log)";
    }
}

}  // namespace labmta::test
