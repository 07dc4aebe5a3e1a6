// The log on stderr: one line per event in Postfix's maillog shape (issue 2, section 7), so
// that people who know Postfix can read it. Lines are searched, not matched whole, so the
// timestamp and process prefix may change.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <regex>

namespace labmta::test {
namespace {

// Waits (bounded) until the server's log has a line that matches pattern.
bool log_has(TestServer& server, const std::string& pattern) {
    const std::regex line(pattern);
    return wait_until(
        [&] {
            const std::string log = server.process().log();
            std::size_t start = 0;
            while (start < log.size()) {
                std::size_t end = log.find('\n', start);
                end = end == std::string::npos ? log.size() : end;
                if (std::regex_search(log.begin() + static_cast<std::ptrdiff_t>(start),
                                      log.begin() + static_cast<std::ptrdiff_t>(end),
                                      line)) {
                    return true;
                }
                start = end + 1;
            }
            return false;
        },
        kDeliveryWait);
}

}  // namespace

TEST_CASE("e2e: a delivered message is logged from connect to removed", "[e2e]") {
    TestServer server;
    std::string id;
    {
        SmtpClient client = server.connect();
        REQUIRE(client.read_greeting() == kGreeting);
        REQUIRE(client.ask("HELO Joiakim") == "250 profbox.domain.local");
        id = send_message(
            client, "joiakim@domain.local", {"student@domain.local"}, "Subject: logged\n\nHello,");
        REQUIRE(client.ask("QUIT") == "221 2.0.0 Bye");
    }
    CHECK(log_has(server, R"(: connect from [^ ]+\[127\.0\.0\.1\]$)"));
    CHECK(log_has(server, ": " + id + R"(: client=[^ ]+\[127\.0\.0\.1\]$)"));
    CHECK(log_has(server,
                  ": " + id + R"(: message-id=<[0-9A-Z]+\.[0-9A-Z]+@profbox\.domain\.local>$)"));
    CHECK(log_has(
        server,
        ": " + id + R"(: from=<joiakim@domain\.local>, size=[0-9]+, nrcpt=1 \(queue active\)$)"));
    CHECK(log_has(server,
                  ": " + id
                      + R"(: to=<student@domain\.local>, relay=local, delay=[0-9.]+, dsn=2\.0\.0, )"
                        R"(status=sent \(delivered to maildir\)$)"));
    CHECK(log_has(server, ": " + id + ": removed$"));
    CHECK(log_has(server,
                  R"(: disconnect from [^ ]+\[127\.0\.0\.1\] helo=1 mail=1 rcpt=1 data=1 quit=1 )"
                  R"(commands=5$)"));
}

TEST_CASE("e2e: a refused recipient is logged as a NOQUEUE reject", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO client.example").starts_with("250-"));
    REQUIRE(client.ask("MAIL FROM:<joiakim@domain.local>") == "250 2.1.0 Ok");
    REQUIRE(client.ask("RCPT TO:<jowadev@gmail.com>")
            == "554 5.7.1 <jowadev@gmail.com>: Relay access denied");
    CHECK(log_has(server,
                  R"(: NOQUEUE: reject: RCPT from [^ ]+\[127\.0\.0\.1\]: 554 5\.7\.1 )"
                  R"(<jowadev@gmail\.com>: Relay access denied; from=<joiakim@domain\.local> )"
                  R"(to=<jowadev@gmail\.com> proto=ESMTP helo=<client\.example>$)"));
}

}  // namespace labmta::test
