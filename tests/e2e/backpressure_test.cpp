// A client that pipelines commands but never reads the replies (review finding): the server
// must stop reading from it instead of queueing replies without limit, and must drop it after
// the timeout even though its replies cannot be written.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace labmta::test {
namespace {

// A non-blocking socket with a small receive buffer: the server's replies back up quickly.
int connect_without_reading(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    const int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

// Sends up to max_bytes of NOOP lines, for at most `duration`; returns the bytes the kernel
// took. It stops early once the socket stays full for 500 ms.
std::size_t flood_noops(int fd, std::size_t max_bytes, std::chrono::milliseconds duration) {
    std::string chunk;
    while (chunk.size() < 65536) {
        chunk += "NOOP\r\n";
    }
    std::size_t sent = 0;
    const auto deadline = std::chrono::steady_clock::now() + duration;
    auto last_progress = std::chrono::steady_clock::now();
    while (sent < max_bytes && std::chrono::steady_clock::now() < deadline) {
        const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            last_progress = std::chrono::steady_clock::now();
            continue;
        }
        if (std::chrono::steady_clock::now() - last_progress > std::chrono::milliseconds(500)) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return sent;
}

}  // namespace

TEST_CASE("e2e: a client that never reads its replies is not buffered for without limit",
          "[e2e][limits]") {
    TestServer server(options_with({{"timeout", "2"}}));
    const long before_kib = resident_kib(server.process().pid());
    REQUIRE(before_kib > 0);
    const int fd = connect_without_reading(server.port());
    const std::size_t sent = flood_noops(fd, 16 * 1024 * 1024, std::chrono::seconds(5));
    const long growth_kib = resident_kib(server.process().pid()) - before_kib;
    INFO("sent " << sent << " bytes of NOOP lines; server RSS grew by " << growth_kib << " KiB");
    // Unbounded, 16 MiB of NOOPs would queue about 37 MiB of "250 2.0.0 Ok" replies.
#if defined(__SANITIZE_ADDRESS__)
    // ASan keeps freed memory in quarantine, so RSS says nothing about what is still queued.
    WARN("AddressSanitizer build: the RSS bound is checked in the plain build only");
#else
    CHECK(growth_kib < 4096);
#endif

    // Without reading a byte, the client is dropped once the timeout has passed twice
    // (the 421, then the grace period for writing it).
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  "disconnect from unknown\\[127\\.0\\.0\\.1\\]",
                                  std::chrono::seconds(15))
                    .empty());
    ::close(fd);
    check_fresh_message_delivered(server);
}

}  // namespace labmta::test
