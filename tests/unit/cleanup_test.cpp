// cleanup_message: the Received: line, Date: and Message-ID: when missing (names compared
// case-insensitively), the blank line where the headers end, and the client's bytes untouched.
#include "spool/cleanup.h"

#include "tests/support/cleanup_fixture.h"

#include <catch2/catch.hpp>

#include <string>

namespace {

using labmta::common::Envelope;
using labmta::spool::cleanup_message;
using labmta::spool::CleanupInput;

using labmta::test::arrival_date;
using labmta::test::date_and_id;
using labmta::test::kNewId;
using labmta::test::lab_cleanup_input;
using labmta::test::lab_envelope;
using labmta::test::received_one_rcpt;

labmta::spool::CleanupResult run(std::string_view raw, const Envelope& envelope) {
    const CleanupInput input = lab_cleanup_input(envelope);
    return cleanup_message(raw, input);
}

labmta::spool::CleanupResult run(std::string_view raw) {
    return run(raw, lab_envelope());
}

}  // namespace

TEST_CASE("cleanup: the lab session's message gets Received, Date and Message-ID", "[cleanup]") {
    const auto result =
        run("SUBJECT: Test msg\n\nHello,\nThis is a simple test message.\n\nDasek Joiakim\n");
    CHECK(result.message
          == received_one_rcpt() + "SUBJECT: Test msg\n" + date_and_id()
                 + "\nHello,\nThis is a simple test message.\n\nDasek Joiakim\n");
    CHECK(result.message_id == kNewId);
}

TEST_CASE("cleanup: a blank line is inserted where the headers end (lab example)", "[cleanup]") {
    const auto result = run("Message-ID: <x@y>\nThis is the body message !\n");
    CHECK(result.message
          == received_one_rcpt() + "Message-ID: <x@y>\nDate: " + arrival_date()
                 + "\n\nThis is the body message !\n");
    CHECK(result.message_id == "<x@y>");
}

TEST_CASE("cleanup: a message without any header gets the blank line at its start", "[cleanup]") {
    CHECK(run("Hello\n").message == received_one_rcpt() + date_and_id() + "\nHello\n");
    // A line that looks like a header only after a space is body text.
    CHECK(run("Subject : spaced\nx\n").message
          == received_one_rcpt() + date_and_id() + "\nSubject : spaced\nx\n");
    // A leading white-space line cannot continue a header that is not there.
    CHECK(run(" indented: x\n").message
          == received_one_rcpt() + date_and_id() + "\n indented: x\n");
}

TEST_CASE("cleanup: an existing Date is kept and not added twice, any case", "[cleanup]") {
    for (const std::string name : {"Date", "date", "DATE", "dAtE"}) {
        INFO(name);
        const std::string raw = name + ": Mon, 1 Jan 2024 00:00:00 +0000\nSubject: s\n\nbody\n";
        const auto result = run(raw);
        CHECK(result.message
              == received_one_rcpt() + name
                     + ": Mon, 1 Jan 2024 00:00:00 +0000\nSubject: s\nMessage-ID: "
                     + std::string(kNewId) + "\n\nbody\n");
    }
}

TEST_CASE("cleanup: an existing Message-ID is kept, any case, and returned trimmed", "[cleanup]") {
    for (const std::string name : {"Message-ID", "message-id", "MESSAGE-ID", "Message-Id"}) {
        INFO(name);
        const std::string raw = name + ":   <abc@example.org>  \nSubject: s\n\nbody\n";
        const auto result = run(raw);
        CHECK(result.message_id == "<abc@example.org>");
        CHECK(result.message
              == received_one_rcpt() + raw.substr(0, raw.find("\n\n") + 1)
                     + "Date: " + arrival_date() + "\n\nbody\n");
    }
}

TEST_CASE("cleanup: a folded Message-ID is unfolded for the result", "[cleanup]") {
    const std::string raw = "Message-ID:\n <folded@example.org>\nSubject: s\n\nbody\n";
    const auto result = run(raw);
    CHECK(result.message_id == "<folded@example.org>");
    CHECK(result.message.find("Message-ID:\n <folded@example.org>\nSubject: s\nDate: ")
          != std::string::npos);
}

TEST_CASE("cleanup: headers in the body do not count", "[cleanup]") {
    const auto result = run("Subject: s\n\nDate: not a header\nMessage-ID: <body@x>\n");
    CHECK(result.message
          == received_one_rcpt() + "Subject: s\n" + date_and_id()
                 + "\nDate: not a header\nMessage-ID: <body@x>\n");
    CHECK(result.message_id == kNewId);
}

TEST_CASE("cleanup: Received has \"for\" only with exactly one recipient", "[cleanup]") {
    Envelope two = lab_envelope();
    two.recipients = {"student@domain.local", "other@domain.local"};
    two.helo = "client.example";
    two.protocol = "ESMTP";
    two.client_host = "client.example";
    two.client_ip = "192.0.2.7";
    const auto result = run("Subject: s\n\nbody\n", two);
    CHECK(result.message
          == "Received: from client.example (client.example [192.0.2.7])\n"
             "\tby profbox.domain.local (labmta) with ESMTP id 0193A5C2F10A;\n\t"
                 + arrival_date() + "\nSubject: s\n" + date_and_id() + "\nbody\n");
    CHECK(result.message.find("for <") == std::string::npos);
}

TEST_CASE("cleanup: body bytes are kept byte for byte", "[cleanup]") {
    const std::string body = "From the start\n>From quoted\nbare\rCR inside\r\n.\n..\n\tx\n\n\n";
    const std::string headers = "Subject: s\r\nX-Odd:\n\tcontinued\n";
    const auto result = run(headers + "\n" + body);
    CHECK(result.message == received_one_rcpt() + headers + date_and_id() + "\n" + body);
}

TEST_CASE("cleanup: a \"From \" line ends the headers like any non-header", "[cleanup]") {
    const auto result = run("Subject: s\nFrom someone\nrest\n");
    CHECK(result.message
          == received_one_rcpt() + "Subject: s\n" + date_and_id() + "\nFrom someone\nrest\n");
}

TEST_CASE("cleanup: the message always ends with a newline", "[cleanup]") {
    CHECK(run("Subject: s\n\nno newline").message
          == received_one_rcpt() + "Subject: s\n" + date_and_id() + "\nno newline\n");
    CHECK(run("Subject: only headers").message
          == received_one_rcpt() + "Subject: only headers\n" + date_and_id());
    CHECK(run("").message == received_one_rcpt() + date_and_id());
}

TEST_CASE("cleanup: control characters in envelope fields cannot break the header", "[cleanup]") {
    Envelope envelope = lab_envelope();
    envelope.helo = "evil\r\nX-Injected: yes";
    envelope.recipients = {"a@b.c\nBcc: x"};
    const auto result = run("Subject: s\n\nbody\n", envelope);
    CHECK(
        result.message.starts_with("Received: from evil??X-Injected: yes (unknown [127.0.0.1])\n"
                                   "\tby profbox.domain.local (labmta) with SMTP id 0193A5C2F10A\n"
                                   "\tfor <a@b.c?Bcc: x>; "));
    CHECK(result.message.find("\nX-Injected") == std::string::npos);
    CHECK(result.message.find("\nBcc") == std::string::npos);
}

TEST_CASE("cleanup: a missing HELO falls back to the client host name", "[cleanup]") {
    Envelope envelope = lab_envelope();
    envelope.helo.clear();
    envelope.client_host = "client.example";
    CHECK(run("Subject: s\n\nbody\n", envelope)
              .message.starts_with("Received: from client.example (client.example [127.0.0.1])\n"));
}
