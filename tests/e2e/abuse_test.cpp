// Abuse over real sockets (issue 4): password guessing (delay, per-session and per-IP limits),
// talking before the greeting, NUL and invalid UTF-8 in commands, and a slow-drip client
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

constexpr std::string_view kWrongPlain64 = "AHN0dWRlbnQAd3JvbmctcGFzc3dvcmQ=";  // bad password
constexpr std::string_view kPlain64 = "AHN0dWRlbnQAaGVzc292cyE=";  // "\0student\0hessovs!"
constexpr std::string_view kAuthFailed =
    "535 5.7.8 Error: authentication failed: authentication failure";
constexpr std::string_view kTooManyAuthFailures =
    "421 4.7.0 profbox.domain.local Error: too many AUTH failures";
milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

}  // namespace

TEST_CASE("e2e abuse: each 535 waits auth_failure_delay, and so does what was pipelined after it",
          "[e2e][abuse]") {
    TestServer server(options_with({{"auth_failure_delay", "0.5"}, {"auth_failures", "5"}}));
    SmtpClient client = ehlo_client(server, "guesser.example");

    auto start = Clock::now();
    CHECK(client.ask("AUTH PLAIN " + std::string(kWrongPlain64)) == kAuthFailed);
    CHECK(since(start) >= milliseconds(480));

    // A guesser that pipelines two tries gets no second answer before a second delay.
    start = Clock::now();
    client.send("AUTH PLAIN " + std::string(kWrongPlain64) + "\r\nAUTH PLAIN "
                + std::string(kWrongPlain64) + "\r\nNOOP\r\n");
    CHECK(client.read_line() == kAuthFailed);
    CHECK(client.read_line() == kAuthFailed);
    CHECK(since(start) >= milliseconds(980));
    CHECK(client.read_line() == "250 2.0.0 Ok");

    // The right password still works in the same session, without a delay.
    start = Clock::now();
    CHECK(client.ask("AUTH PLAIN " + std::string(kPlain64))
          == "235 2.7.0 Authentication successful");
    CHECK(since(start) < milliseconds(450));  // loose: ASan builds on busy machines
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e abuse: after limits.auth_failures 535s the session gets 421 4.7.0 and is closed",
          "[e2e][abuse]") {
    TestServer server(options_with({{"auth_failure_delay", "0"}, {"auth_failures", "3"}}));
    SmtpClient client = ehlo_client(server, "guesser.example");
    CHECK(client.ask("AUTH PLAIN " + std::string(kWrongPlain64)) == kAuthFailed);
    CHECK(client.ask("AUTH LOGIN") == "334 VXNlcm5hbWU6");
    CHECK(client.ask("c3R1ZGVudA==") == "334 UGFzc3dvcmQ6");
    CHECK(client.ask("d3Jvbmc=") == kAuthFailed);
    // "*" and bad base64 are syntax errors (501), not password guesses: not counted here.
    CHECK(client.ask("AUTH LOGIN") == "334 VXNlcm5hbWU6");
    CHECK(client.ask("*") == "501 5.7.0 Authentication aborted");
    CHECK(client.ask("AUTH PLAIN " + std::string(kWrongPlain64)) == kAuthFailed);
    CHECK(client.read_line() == kTooManyAuthFailures);
    CHECK(client.read_until_closed().empty());
    CHECK_FALSE(
        wait_for_log_line(server.process(), "too many AUTH failures from unknown\\[127").empty());
    check_fresh_message_delivered(server);
}

TEST_CASE(
    "e2e abuse: an IP over auth_failures_per_client is refused at connect until the "
    "block expires",
    "[e2e][abuse]") {
    TestServer server(options_with({{"auth_failure_delay", "0"},
                                    {"auth_failures", "3"},
                                    {"auth_failures_per_client", "4"},
                                    {"auth_block_time", "2"}}));
    SmtpClient already_open = ehlo_client(server, "guesser.example");  // opened before the block

    SmtpClient first = ehlo_client(server, "guesser.example");
    for (int i = 0; i < 2; ++i) {
        CHECK(first.ask("AUTH PLAIN " + std::string(kWrongPlain64)) == kAuthFailed);
    }
    CHECK(first.ask("AUTH PLAIN " + std::string(kWrongPlain64)) == kAuthFailed);
    CHECK(first.read_line() == kTooManyAuthFailures);  // this session's limit
    CHECK(first.read_until_closed().empty());

    // The 4th failure from this IP, in a new session: blocked after the 535.
    const auto blocked_at = Clock::now();
    SmtpClient second = ehlo_client(server, "guesser.example");
    CHECK(second.ask("AUTH PLAIN " + std::string(kWrongPlain64)) == kAuthFailed);
    CHECK(second.read_line() == kTooManyAuthFailures);
    CHECK(second.read_until_closed().empty());
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  "127\\.0\\.0\\.1: too many AUTH failures, "
                                  "blocked for 2s")
                    .empty());

    // New connections get the 421 instead of the 220.
    SmtpClient refused = server.connect();
    CHECK(refused.read_until_closed() == std::string(kTooManyAuthFailures) + "\r\n");

    // A session opened before the block is closed at its next failure.
    CHECK(already_open.ask("AUTH PLAIN " + std::string(kWrongPlain64)) == kAuthFailed);
    CHECK(already_open.read_line() == kTooManyAuthFailures);
    CHECK(already_open.read_until_closed().empty());

    // The block ends auth_block_time after the last failure: then the greeting is back.
    std::string greeting;
    const bool unblocked = wait_until(
        [&] {
            SmtpClient probe = server.connect();
            greeting = probe.read_line();
            return greeting == kGreeting;
        },
        milliseconds(8000));
    CHECK(unblocked);
    CHECK(since(blocked_at) >= milliseconds(1900));
    check_fresh_message_delivered(server);
}

TEST_CASE(
    "e2e abuse: a client that talks before the greet_pause ends gets 554 5.5.0 and is "
    "closed",
    "[e2e][abuse]") {
    TestServer server(options_with({}, "smtpd:\n  greet_pause: 500\n"));
    SmtpClient early = server.connect();
    early.send("EHLO spambot.example\r\nMAIL FROM:<spam@example.com>\r\n");
    CHECK(early.read_until_closed() == "554 5.5.0 Error: SMTP protocol synchronization\r\n");
    CHECK_FALSE(
        wait_for_log_line(server.process(), "PREGREET \\d+ bytes from unknown\\[127").empty());

    // A client that waits gets the 220 after the pause; the fresh message check is one too.
    const auto start = Clock::now();
    SmtpClient patient = server.connect();
    CHECK(patient.read_greeting() == kGreeting);
    CHECK(since(start) >= milliseconds(450));
    CHECK(patient.ask("QUIT") == "221 2.0.0 Bye");
    check_fresh_message_delivered(server);
}

TEST_CASE(
    "e2e abuse: NUL bytes and invalid UTF-8 in commands are 500 5.5.2, message text "
    "keeps them",
    "[e2e][abuse]") {
    using namespace std::string_literals;
    TestServer server(options_with({}));
    SmtpClient client = ehlo_client(server, "guesser.example");
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
