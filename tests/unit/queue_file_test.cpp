// Queue file format: exact serialized text, round trips, and every way parse must refuse a
// file. Pure; no file system.
#include "spool/queue_file.h"

#include <catch2/catch.hpp>

#include <string>

namespace {

using labmta::spool::parse_queue_file;
using labmta::spool::QueueFile;
using labmta::spool::recipient_status_offset;
using labmta::spool::serialize_queue_file;

QueueFile lab_file() {
    QueueFile file;
    file.queue_id = "0193A5C2F10A";
    file.arrival_us = 1795876331000000;
    file.envelope.sender = "joiakim@domain.local";
    file.envelope.recipients = {"student@domain.local", "other@domain.local"};
    file.envelope.helo = "Joiakim";
    file.envelope.protocol = "SMTP";
    file.envelope.client_host = "unknown";
    file.envelope.client_ip = "127.0.0.1";
    file.delivered = {false, true};
    file.message = "SUBJECT: Test msg\n\nHello,\n";
    return file;
}

const std::string kLabText =
    "version: 1\n"
    "queue-id: 0193A5C2F10A\n"
    "arrival: 1795876331000000\n"
    "sender: joiakim@domain.local\n"
    "helo: Joiakim\n"
    "protocol: SMTP\n"
    "client: unknown[127.0.0.1]\n"
    "auth-user:\n"
    "recipient: todo student@domain.local\n"
    "recipient: done other@domain.local\n"
    "\n"
    "SUBJECT: Test msg\n\nHello,\n";

void check_same(const QueueFile& a, const QueueFile& b) {
    CHECK(a.queue_id == b.queue_id);
    CHECK(a.arrival_us == b.arrival_us);
    CHECK(a.envelope.sender == b.envelope.sender);
    CHECK(a.envelope.recipients == b.envelope.recipients);
    CHECK(a.envelope.helo == b.envelope.helo);
    CHECK(a.envelope.protocol == b.envelope.protocol);
    CHECK(a.envelope.client_host == b.envelope.client_host);
    CHECK(a.envelope.client_ip == b.envelope.client_ip);
    CHECK(a.envelope.auth_user == b.envelope.auth_user);
    CHECK(a.delivered == b.delivered);
    CHECK(a.message == b.message);
}

// kLabText with one line replaced (or removed when replacement is empty).
std::string with_line(const std::string& line, const std::string& replacement) {
    std::string text = kLabText;
    const std::size_t pos = text.find(line + "\n");
    REQUIRE(pos != std::string::npos);
    text.replace(pos, line.size() + 1, replacement.empty() ? "" : replacement + "\n");
    return text;
}

}  // namespace

TEST_CASE("queue_file: serializes exactly the documented format", "[queue_file]") {
    CHECK(serialize_queue_file(lab_file()) == kLabText);
}

TEST_CASE("queue_file: parse reads back what serialize wrote", "[queue_file]") {
    const auto parsed = parse_queue_file(kLabText);
    REQUIRE(parsed);
    check_same(*parsed, lab_file());
}

TEST_CASE("queue_file: round trip keeps unusual bytes in values and message", "[queue_file]") {
    QueueFile file = lab_file();
    file.envelope.sender = "";  // null sender
    file.envelope.helo = " leading space\rand CR\x01";
    file.envelope.client_host = "host[with]brackets";
    file.envelope.client_ip = "::1";
    file.envelope.auth_user = "student";
    file.envelope.protocol = "ESMTP";
    file.envelope.recipients = {"a@b.c"};
    file.delivered = {true};
    file.message = std::string("\nrecipient: todo body@x\n\r\n\0bin\xff", 32);
    const std::string text = serialize_queue_file(file);
    CHECK(text.find("sender:\n") != std::string::npos);
    const auto parsed = parse_queue_file(text);
    REQUIRE(parsed);
    check_same(*parsed, file);
}

TEST_CASE("queue_file: an empty message and no recipients round trip", "[queue_file]") {
    QueueFile file = lab_file();
    file.envelope.recipients.clear();
    file.delivered.clear();
    file.message.clear();
    const auto parsed = parse_queue_file(serialize_queue_file(file));
    REQUIRE(parsed);
    check_same(*parsed, file);
}

TEST_CASE("queue_file: an LF in a value cannot forge a header line", "[queue_file]") {
    QueueFile file = lab_file();
    file.envelope.sender = "evil@x\nrecipient: todo victim@domain.local";
    file.envelope.recipients = {"a@b.c\nauth-user: admin"};
    file.delivered = {false};
    const std::string text = serialize_queue_file(file);
    const auto parsed = parse_queue_file(text);
    REQUIRE(parsed);
    CHECK(parsed->envelope.sender == "evil@x recipient: todo victim@domain.local");
    CHECK(parsed->envelope.recipients == std::vector<std::string>{"a@b.c auth-user: admin"});
    CHECK(parsed->envelope.auth_user.empty());
}

TEST_CASE("queue_file: missing delivered flags serialize as todo", "[queue_file]") {
    QueueFile file = lab_file();
    file.delivered.clear();
    const auto parsed = parse_queue_file(serialize_queue_file(file));
    REQUIRE(parsed);
    CHECK(parsed->delivered == std::vector<bool>{false, false});
}

TEST_CASE("queue_file: parse refuses an unknown or missing version", "[queue_file]") {
    CHECK_FALSE(parse_queue_file(with_line("version: 1", "version: 2")));
    CHECK_FALSE(parse_queue_file(with_line("version: 1", "version: 1.0")));
    CHECK_FALSE(parse_queue_file(with_line("version: 1", "")));
    // version must be the first line
    std::string moved = with_line("version: 1", "");
    moved.insert(moved.find("\n\n"), "\nversion: 1");
    CHECK_FALSE(parse_queue_file(moved));
}

TEST_CASE("queue_file: parse refuses a file missing any field", "[queue_file]") {
    for (const std::string line : {"queue-id: 0193A5C2F10A",
                                   "arrival: 1795876331000000",
                                   "sender: joiakim@domain.local",
                                   "helo: Joiakim",
                                   "protocol: SMTP",
                                   "client: unknown[127.0.0.1]",
                                   "auth-user:"}) {
        INFO(line);
        CHECK_FALSE(parse_queue_file(with_line(line, "")));
    }
}

TEST_CASE("queue_file: parse refuses bad arrival numbers", "[queue_file]") {
    for (const std::string bad : {"arrival:",
                                  "arrival: 12x",
                                  "arrival: -5",
                                  "arrival: +5",
                                  "arrival:  5",
                                  "arrival: 99999999999999999999",
                                  "arrival: 0x10"}) {
        INFO(bad);
        CHECK_FALSE(parse_queue_file(with_line("arrival: 1795876331000000", bad)));
    }
}

TEST_CASE("queue_file: parse refuses an invalid queue id", "[queue_file]") {
    for (const std::string bad : {"queue-id:",
                                  "queue-id: 0193a5c2f10a",
                                  "queue-id: ../../etc",
                                  "queue-id: 0193A5C2F10A/x",
                                  "queue-id: 12AB"}) {
        INFO(bad);
        CHECK_FALSE(parse_queue_file(with_line("queue-id: 0193A5C2F10A", bad)));
    }
}

TEST_CASE("queue_file: parse refuses a header without the blank line", "[queue_file]") {
    const std::string header_only = kLabText.substr(0, kLabText.find("\n\n") + 1);
    CHECK_FALSE(parse_queue_file(header_only));
    CHECK_FALSE(parse_queue_file(header_only.substr(0, header_only.size() - 1)));
    CHECK_FALSE(parse_queue_file(""));
    CHECK(parse_queue_file(header_only + "\n"));  // a blank line and an empty message is fine
}

TEST_CASE("queue_file: parse refuses a recipient status other than todo/done", "[queue_file]") {
    for (const std::string bad : {"recipient: sent student@domain.local",
                                  "recipient: TODO student@domain.local",
                                  "recipient: todostudent@domain.local",
                                  "recipient: todo",
                                  "recipient:"}) {
        INFO(bad);
        CHECK_FALSE(parse_queue_file(with_line("recipient: todo student@domain.local", bad)));
    }
}

TEST_CASE("queue_file: parse refuses unknown, duplicate and malformed lines", "[queue_file]") {
    CHECK_FALSE(parse_queue_file(with_line("auth-user:", "auth-user:\nx-extra: 1")));
    CHECK_FALSE(parse_queue_file(with_line("helo: Joiakim", "helo: Joiakim\nhelo: again")));
    CHECK_FALSE(parse_queue_file(with_line("helo: Joiakim", "helo: Joiakim\nno colon here")));
    CHECK_FALSE(parse_queue_file(with_line("client: unknown[127.0.0.1]", "client: unknown")));
    CHECK_FALSE(parse_queue_file(with_line("client: unknown[127.0.0.1]", "client: [x")));
}

TEST_CASE("queue_file: recipient_status_offset points at each status word", "[queue_file]") {
    const auto first = recipient_status_offset(kLabText, 0);
    const auto second = recipient_status_offset(kLabText, 1);
    REQUIRE(first);
    REQUIRE(second);
    CHECK(kLabText.substr(*first, 4) == "todo");
    CHECK(kLabText.substr(*second, 4) == "done");
    CHECK(kLabText.substr(*first - 11, 11) == "recipient: ");
    CHECK_FALSE(recipient_status_offset(kLabText, 2));

    std::string patched = kLabText;
    patched.replace(*first, 4, "done");
    const auto parsed = parse_queue_file(patched);
    REQUIRE(parsed);
    CHECK(parsed->delivered == std::vector<bool>{true, true});
}

TEST_CASE("queue_file: recipient_status_offset never looks into the message", "[queue_file]") {
    QueueFile file = lab_file();
    file.envelope.recipients = {"a@b.c"};
    file.delivered = {false};
    file.message = "recipient: todo fake@x\n";
    const std::string text = serialize_queue_file(file);
    CHECK(recipient_status_offset(text, 0));
    CHECK_FALSE(recipient_status_offset(text, 1));
    // and nothing at all in a file whose header never ends
    CHECK_FALSE(recipient_status_offset("version: 1\nrecipient: todo a@b.c\n", 0));
}
