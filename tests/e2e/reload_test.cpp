// SIGHUP reloads the config (issue 4): new accounts and limits apply to new sessions, running
// sessions keep the rules they started with, a bad file changes nothing, and restart-only keys
// are logged as ignored.
#include "common/base64.h"
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>

namespace labmta::test {
namespace {

constexpr std::string_view kAuthOk = "235 2.7.0 Authentication successful";
constexpr std::string_view kAuthFailed = "535 5.7.8 Error: authentication failed";
constexpr std::string_view kTooManyAuthFailures =
    "421 4.7.0 profbox.domain.local Error: too many AUTH failures";

std::string auth_plain(std::string_view user, std::string_view password) {
    const std::string nul(1, '\0');
    return "AUTH PLAIN "
           + common::base64_encode(nul + std::string(user) + nul + std::string(password));
}

// The test config with a second account, bob, and a smaller message size limit.
std::string config_with_bob() {
    return make_config_yaml() + "  - name: bob\n    password: \"b0b-pw\"\n"
           + "limits:\n  message_size: 100000\n";
}

// Rewrites the server's config file, sends SIGHUP and waits for the log line that says how the
// reload went.
std::string reload(TestServer& server, const std::string& yaml, const std::string& pattern) {
    const std::size_t before = log_lines_matching(server.process(), pattern).size();
    write_text_file(server.config_path(), yaml);
    server.process().send_signal(SIGHUP);
    std::string line;
    wait_until(
        [&] {
            const auto lines = log_lines_matching(server.process(), pattern);
            line = lines.size() > before ? lines.back() : "";
            return !line.empty();
        },
        kDeliveryWait);
    return line;
}

SmtpClient open_session(TestServer& server, std::string_view ehlo_size) {
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    const std::string ehlo = client.ask("EHLO client.example");
    CHECK(ehlo.find("250-SIZE " + std::string(ehlo_size) + "\n") != std::string::npos);
    return client;
}

}  // namespace

TEST_CASE("e2e reload: SIGHUP adds an account for new sessions, a running session keeps its rules",
          "[e2e][reload]") {
    TestServerOptions options;
    options.config_yaml = make_config_yaml();
    TestServer server(options);
    SmtpClient old_session = open_session(server, "10240000");
    CHECK(old_session.ask(auth_plain("bob", "b0b-pw")).starts_with(kAuthFailed));

    const std::string loaded = reload(server, config_with_bob(), "reload: .* loaded");
    REQUIRE_FALSE(loaded.empty());

    // The old session: still the old accounts and limits, and it finishes a message.
    CHECK(old_session.ask(auth_plain("bob", "b0b-pw")).starts_with(kAuthFailed));
    CHECK(old_session.ask("EHLO client.example").find("250-SIZE 10240000\n") != std::string::npos);
    CHECK(old_session.ask(auth_plain("student", "hessovs!")) == kAuthOk);
    const std::string marker = unique_marker();
    const std::string big_body(200000, 'x');  // over the new limit, under the old one
    CHECK_FALSE(send_message(old_session,
                             "student@domain.local",
                             {"student@domain.local"},
                             "Subject: old " + marker + "\n\n" + marker + "\n" + big_body)
                    .empty());
    CHECK(old_session.ask("QUIT") == "221 2.0.0 Bye");
    CHECK_FALSE(wait_for_delivery(server.maildir_new("student"), marker).empty());

    // A new session: bob may log in, and the new size limit applies.
    SmtpClient new_session = open_session(server, "100000");
    CHECK(new_session.ask(auth_plain("bob", "b0b-pw")) == kAuthOk);
    CHECK(new_session.ask("MAIL FROM:<bob@domain.local> SIZE=200000")
          == "552 5.3.4 Message size exceeds fixed limit");
    CHECK(new_session.ask("QUIT") == "221 2.0.0 Bye");
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e reload: new AUTH failure limits per client apply after SIGHUP", "[e2e][reload]") {
    TestServer server(options_with({{"auth_failure_delay", "0"}}));  // 10 per client: default
    const std::string loaded = reload(server,
                                      make_config_yaml({{"auth_failure_delay", "0"},
                                                        {"auth_failures_per_client", "2"},
                                                        {"auth_block_time", "60"}}),
                                      "reload: .* loaded");
    REQUIRE_FALSE(loaded.empty());
    CHECK(log_lines_matching(server.process(), "reload: .* changed").empty());

    SmtpClient guesser = open_session(server, "10240000");
    CHECK(guesser.ask(auth_plain("student", "wrong")).starts_with(kAuthFailed));
    CHECK(guesser.ask(auth_plain("student", "wrong")).starts_with(kAuthFailed));
    CHECK(guesser.read_line() == kTooManyAuthFailures);  // the second failure from this IP
    CHECK(guesser.read_until_closed().empty());
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  "127\\.0\\.0\\.1: too many AUTH failures, blocked for 60s")
                    .empty());
    SmtpClient refused = server.connect();
    CHECK(refused.read_until_closed() == std::string(kTooManyAuthFailures) + "\r\n");
}

TEST_CASE("e2e reload: a bad config on SIGHUP is refused and the old one stays", "[e2e][reload]") {
    TestServerOptions options;
    options.config_yaml = config_with_bob();
    TestServer server(options);
    const std::string bad = make_config_yaml() + "limits:\n  timeout: soon\n";
    const std::string line = reload(server, bad, "reload failed");
    INFO(line);
    const auto bad_line = std::count(bad.begin(), bad.end(), '\n');  // the last line, 1-based
    CHECK(line.find("warning: reload failed: " + server.config_path() + ":"
                    + std::to_string(bad_line)
                    + ": limits.timeout: expected a positive integer, got 'soon'; keeping "
                      "the old configuration")
          != std::string::npos);
    CHECK(log_lines_matching(server.process(), "reload: .* loaded").empty());

    SmtpClient client = open_session(server, "100000");
    CHECK(client.ask(auth_plain("bob", "b0b-pw")) == kAuthOk);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e reload: restart-only keys changed on SIGHUP are logged and ignored",
          "[e2e][reload]") {
    TestServerOptions options;
    options.config_yaml = make_config_yaml();
    TestServer server(options);
    std::string changed = make_config_yaml() + "queue:\n  retry: 7\n";
    changed.replace(changed.find("profbox.domain.local"), 20, "other.domain.local");
    CHECK_FALSE(reload(server, changed, "reload: .* loaded").empty());
    CHECK(log_lines_matching(server.process(),
                             "warning: reload: hostname changed: ignored until labmta is restarted")
              .size()
          == 1);
    CHECK(log_lines_matching(server.process(), "warning: reload: queue changed: ignored").size()
          == 1);
    // The greeting still names the old host; mail still flows.
    check_fresh_message_delivered(server);
}

}  // namespace labmta::test
