// Abuse over real sockets (issue 4): NUL and invalid UTF-8 in commands. Each test performs the
// attack, checks the exact replies, and ends by showing that a fresh normal message still goes
// through.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <string>

namespace labmta::test {
namespace {

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

}  // namespace labmta::test
