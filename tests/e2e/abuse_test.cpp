// Abuse over real sockets (issue 4): NUL and invalid UTF-8 in commands, and a slow-drip client
// against the total session timeout. Each test performs the attack, checks the exact replies,
// and ends by showing that a fresh normal message still goes through.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

namespace labmta::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kTimeoutExceeded =
    "421 4.4.2 profbox.domain.local Error: timeout exceeded";

TestServerOptions options_with(const std::vector<std::pair<std::string, std::string>>& limits,
                               std::string_view smtpd_section = "") {
    return TestServerOptions{.config_yaml = make_config_yaml(limits) + std::string(smtpd_section),
                             .spool_dir = ""};
}

SmtpClient ehlo_client(TestServer& server) {
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO guesser.example").starts_with("250-profbox.domain.local\n"));
    return client;
}

milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

}  // namespace

TEST_CASE(
    "e2e abuse: NUL bytes and invalid UTF-8 in commands are 500 5.5.2; message text "
    "keeps them",
    "[e2e][abuse]") {
    using namespace std::string_literals;
    TestServer server(options_with({}));
    SmtpClient client = ehlo_client(server);
    CHECK(client.ask("NOOP\0junk"s) == "500 5.5.2 Error: bad syntax");
    CHECK(client.ask("MAIL FROM:<student@domain.local>\0<evil@example.com>"s)
          == "500 5.5.2 Error: bad syntax");
    CHECK(client.ask("MAIL FROM:<caf\xe9@domain.local>") == "500 5.5.2 Error: bad UTF-8 syntax");
    CHECK(client.ask("VRFY \xc0\xaf") == "500 5.5.2 Error: bad UTF-8 syntax");
    CHECK(client.ask("VRFY caf\xc3\xa9") == "252 2.0.0 caf\xc3\xa9");

    const std::string marker = unique_marker();
    send_message(client,
                 "joiakim@domain.local",
                 {"student@domain.local"},
                 "Subject: " + marker + "\n\nLatin-1 caf\xe9, UTF-8 caf\xc3\xa9\nnul\0here"s);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    const std::string delivered = wait_for_delivery(server.maildir_new("student"), marker);
    CHECK(delivered.find("Latin-1 caf\xe9, UTF-8 caf\xc3\xa9") != std::string::npos);
    CHECK(delivered.find("nul\0here"s) != std::string::npos);
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e abuse: a slow-drip client is cut at session_timeout with 421 4.4.2",
          "[e2e][abuse]") {
    // Idle timeout 1 s, but a byte every 200 ms keeps resetting it: only the total ends it.
    TestServer server(options_with({{"timeout", "1"}, {"session_timeout", "3"}}));
    SmtpClient client = server.connect();
    const auto start = Clock::now();
    REQUIRE(client.read_greeting() == kGreeting);
    client.set_timeout(milliseconds(200));
    std::string reply;
    while (reply.empty() && since(start) < milliseconds(10000)) {
        client.send("X");  // a command line that never ends
        try {
            reply = client.read_line();
        } catch (const SmtpClientError&) {
            // nothing yet: drip on
        }
    }
    CHECK(reply == kTimeoutExceeded);
    CHECK(since(start) >= milliseconds(2900));
    client.set_timeout(milliseconds(5000));
    CHECK(client.read_until_closed().empty());
    CHECK_FALSE(
        wait_for_log_line(server.process(), "session timeout after 3s from unknown\\[127").empty());
    check_fresh_message_delivered(server);
}

}  // namespace labmta::test
