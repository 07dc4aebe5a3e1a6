// Non-delivery reports: the report's headers, the three MIME parts (text, RFC 3464 fields,
// the returned header section), several recipients, a boundary that never occurs in the
// content, header injection through a remote reply, folding, and the never-bounce-a-bounce rule.
#include "spool/bounce.h"

#include "common/ids.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

using labmta::common::format_rfc5322_date;
using labmta::common::to_base36;
using labmta::spool::BouncedRecipient;
using labmta::spool::BounceInput;
using labmta::spool::make_bounce_message;
using labmta::spool::should_bounce;

constexpr std::int64_t kArrivalUs = 1795876331000000;
constexpr std::int64_t kNowUs = 1796308331000000;
constexpr std::uint64_t kSeed = 0x0123456789ABCDEF;

constexpr const char* kOriginalHeaders =
    "Received: from Joiakim (unknown [127.0.0.1])\n"
    "\tby profbox.domain.local (labmta) with ESMTPA id 1DB2CCD67A00;\n"
    "\tSat, 28 Nov 2026 14:32:11 +0000\n"
    "Message-ID: <819ih78s78988752fZTGFU@domain.local>\n"
    "Subject: hello\n";
constexpr const char* kOriginalBody = "This is the body message !\n";

BounceInput sample_input() {
    BounceInput input;
    input.hostname = "profbox.domain.local";
    input.queue_id = "1DB2CCD67A00";
    input.envelope.sender = "dasek.joiakim@gmail.com";
    input.envelope.helo = "joiakim.dasek@domain.local";
    input.envelope.client_host = "unknown";
    input.envelope.client_ip = "127.0.0.1";
    input.arrival_us = kArrivalUs;
    input.now_us = kNowUs;
    input.recipients = {
        {"jowadev@gmail.com",
         "5.1.1",
         "mx.example.test",
         "550 5.1.1 <jowadev@gmail.com>: Recipient address rejected"},
    };
    input.original_message = std::string(kOriginalHeaders) + "\n" + kOriginalBody;
    input.seed = kSeed;
    return input;
}

struct Section {
    std::string headers;  // with the LF of each line
    std::string body;
};

Section split_section(const std::string& text) {
    const std::size_t end = text.find("\n\n");
    REQUIRE(end != std::string::npos);
    return {text.substr(0, end + 1), text.substr(end + 2)};
}

// The value of the first "name: value" line, unfolded; "" when absent.
std::string field(const std::string& headers, const std::string& name) {
    const std::string prefix = name + ": ";
    std::size_t pos = headers.rfind(prefix, 0) == 0 ? 0 : headers.find("\n" + prefix);
    if (pos == std::string::npos) {
        return {};
    }
    pos += pos == 0 ? prefix.size() : prefix.size() + 1;
    std::string value;
    for (;;) {
        const std::size_t end = headers.find('\n', pos);
        value += headers.substr(pos, end - pos);
        if (end == std::string::npos || end + 1 >= headers.size()
            || (headers[end + 1] != ' ' && headers[end + 1] != '\t')) {
            return value;
        }
        pos = end + 1;
        while (pos < headers.size() && (headers[pos] == ' ' || headers[pos] == '\t')) {
            ++pos;
        }
        value += ' ';
    }
}

std::string boundary_of(const std::string& headers) {
    const std::string content_type = field(headers, "Content-Type");
    const std::string marker = "boundary=\"";
    const std::size_t start = content_type.find(marker);
    REQUIRE(start != std::string::npos);
    const std::size_t end = content_type.find('"', start + marker.size());
    REQUIRE(end != std::string::npos);
    return content_type.substr(start + marker.size(), end - start - marker.size());
}

// The body parts between "--boundary" lines; the text must end with the close delimiter.
std::vector<std::string> mime_parts(const std::string& body, const std::string& boundary) {
    const std::string delimiter = "\n--" + boundary;
    std::vector<std::string> parts;
    std::size_t pos = body.find(delimiter);
    while (pos != std::string::npos) {
        const std::size_t after = pos + delimiter.size();
        if (body.compare(after, std::string::npos, "--\n") == 0) {
            return parts;
        }
        REQUIRE(body[after] == '\n');
        const std::size_t next = body.find(delimiter, after);
        REQUIRE(next != std::string::npos);
        parts.push_back(body.substr(after + 1, next - after - 1));
        pos = next;
    }
    FAIL("no close delimiter");
    return parts;
}

struct Report {
    Section top;
    std::string boundary;
    std::vector<Section> parts;
};

Report parse_report(const std::string& text) {
    Report report;
    report.top = split_section(text);
    report.boundary = boundary_of(report.top.headers);
    for (const std::string& part : mime_parts(report.top.body, report.boundary)) {
        report.parts.push_back(split_section(part));
    }
    REQUIRE(report.parts.size() == 3);
    return report;
}

TEST_CASE("bounce: the report's headers", "[bounce]") {
    const std::string text = make_bounce_message(sample_input());
    const Report report = parse_report(text);
    const std::string& headers = report.top.headers;
    CHECK(field(headers, "From") == "MAILER-DAEMON@profbox.domain.local (Mail Delivery System)");
    CHECK(field(headers, "To") == "dasek.joiakim@gmail.com");
    CHECK(field(headers, "Subject") == "Undelivered Mail Returned to Sender");
    CHECK(field(headers, "Date") == format_rfc5322_date(kNowUs));
    CHECK(field(headers, "Message-ID")
          == "<" + to_base36(kNowUs / 1000) + "." + to_base36(kSeed) + "@profbox.domain.local>");
    CHECK(field(headers, "Auto-Submitted") == "auto-replied");
    CHECK(field(headers, "MIME-Version") == "1.0");
    CHECK(field(headers, "Content-Type")
          == "multipart/report; report-type=delivery-status; boundary=\"" + report.boundary + "\"");
    CHECK(field(headers, "Content-Transfer-Encoding") == "7bit");
    CHECK(text.find('\r') == std::string::npos);
    CHECK(text.ends_with("\n--" + report.boundary + "--\n"));
}

TEST_CASE("bounce: three parts: text, delivery-status, rfc822-headers", "[bounce]") {
    const Report report = parse_report(make_bounce_message(sample_input()));
    CHECK(field(report.parts[0].headers, "Content-Type") == "text/plain; charset=us-ascii");
    CHECK(field(report.parts[1].headers, "Content-Type") == "message/delivery-status");
    CHECK(field(report.parts[2].headers, "Content-Type") == "text/rfc822-headers");
}

TEST_CASE("bounce: the text part says who could not be reached and why", "[bounce]") {
    const std::string human = parse_report(make_bounce_message(sample_input())).parts[0].body;
    CHECK(human.starts_with("This is the mail system at host profbox.domain.local.\n"));
    CHECK(human.find("could not be delivered") != std::string::npos);
    // Folded at the last space within 78 columns, as Postfix folds its bounce text.
    CHECK(human.find("\n<jowadev@gmail.com>: host mx.example.test said: 550 5.1.1 "
                     "<jowadev@gmail.com>:\n"
                     "    Recipient address rejected\n")
          != std::string::npos);
}

TEST_CASE("bounce: RFC 3464 fields for several recipients, remote and local", "[bounce]") {
    BounceInput input = sample_input();
    input.recipients.push_back({"nobody@domain.local", "5.1.1", "", "unknown user"});
    input.recipients.push_back({"x@other.test", "", "mx.other.test", ""});
    const Report report = parse_report(make_bounce_message(input));
    const std::string expected = "Reporting-MTA: dns; profbox.domain.local\n"
                                 "X-Labmta-Queue-ID: 1DB2CCD67A00\n"
                                 "X-Labmta-Sender: rfc822; dasek.joiakim@gmail.com\n"
                                 "Arrival-Date: "
                                 + format_rfc5322_date(kArrivalUs)
                                 + "\n"
                                   "\n"
                                   "Final-Recipient: rfc822; jowadev@gmail.com\n"
                                   "Action: failed\n"
                                   "Status: 5.1.1\n"
                                   "Remote-MTA: dns; mx.example.test\n"
                                   "Diagnostic-Code: smtp; 550 5.1.1 <jowadev@gmail.com>: "
                                   "Recipient address\n"
                                   "    rejected\n"
                                   "\n"
                                   "Final-Recipient: rfc822; nobody@domain.local\n"
                                   "Action: failed\n"
                                   "Status: 5.1.1\n"
                                   "Diagnostic-Code: X-Labmta; unknown user\n"
                                   "\n"
                                   "Final-Recipient: rfc822; x@other.test\n"
                                   "Action: failed\n"
                                   "Status: 5.0.0\n"
                                   "Remote-MTA: dns; mx.other.test\n";
    // The part body ends where the delimiter's line break begins.
    CHECK(report.parts[1].body == expected);
    const std::string human = report.parts[0].body;
    CHECK(human.find("\n<nobody@domain.local>: unknown user\n") != std::string::npos);
    CHECK(human.find("\n<x@other.test>: delivery to host mx.other.test failed\n")
          != std::string::npos);
}

TEST_CASE("bounce: only the original's header section is returned", "[bounce]") {
    const std::string text = make_bounce_message(sample_input());
    const Report report = parse_report(text);
    CHECK(report.parts[2].body == kOriginalHeaders);
    CHECK(text.find("This is the body message") == std::string::npos);
}

TEST_CASE("bounce: an original without a body or without headers", "[bounce]") {
    BounceInput input = sample_input();
    input.original_message = "Subject: only headers";
    CHECK(parse_report(make_bounce_message(input)).parts[2].body == "Subject: only headers\n");
    input.original_message = "\nbody only\n";
    CHECK(parse_report(make_bounce_message(input)).parts[2].body.empty());
}

TEST_CASE("bounce: the boundary never occurs in the content", "[bounce]") {
    const std::string first = parse_report(make_bounce_message(sample_input())).boundary;
    CHECK(first.find("1DB2CCD67A00") != std::string::npos);
    BounceInput input = sample_input();
    input.original_message = "X-Trap: --" + first + "\n\nbody\n";
    const std::string text = make_bounce_message(input);
    const Report report = parse_report(text);
    CHECK(report.boundary != first);
    for (const Section& part : report.parts) {
        CHECK(part.body.find(report.boundary) == std::string::npos);
    }
    CHECK(report.parts[2].body == "X-Trap: --" + first + "\n");
}

TEST_CASE("bounce: the boundary depends on the seed", "[bounce]") {
    BounceInput input = sample_input();
    const std::string first = parse_report(make_bounce_message(input)).boundary;
    input.seed = 42;
    CHECK(parse_report(make_bounce_message(input)).boundary != first);
}

TEST_CASE("bounce: line breaks in a remote reply cannot add fields", "[bounce]") {
    BounceInput input = sample_input();
    input.recipients[0].diagnostic = "550 no\r\nFinal-Recipient: rfc822; evil@x\nAction: relayed";
    input.recipients[0].address = "a@b\nBcc: evil@x";
    const std::string text = make_bounce_message(input);
    CHECK(text.find("\nFinal-Recipient: rfc822; evil@x") == std::string::npos);
    CHECK(text.find("\nAction: relayed") == std::string::npos);
    CHECK(text.find("\nBcc:") == std::string::npos);
    CHECK(text.find('\r') == std::string::npos);
    const Report report = parse_report(text);
    CHECK(field(report.parts[1].body, "Final-Recipient") == "rfc822; a@b Bcc: evil@x");
}

TEST_CASE("bounce: long replies are folded at spaces within 78 columns", "[bounce]") {
    BounceInput input = sample_input();
    std::string diagnostic = "550 5.7.1";
    for (int i = 0; i < 30; ++i) {
        diagnostic += " word" + std::to_string(i);
    }
    input.recipients[0].diagnostic = diagnostic;
    const Report report = parse_report(make_bounce_message(input));
    for (const std::size_t index : {0, 1}) {
        const std::string& body = report.parts[index].body;
        std::size_t start = 0;
        while (start < body.size()) {
            const std::size_t end = body.find('\n', start);
            CHECK(end - start <= 78);
            start = end + 1;
        }
    }
    CHECK(field(report.parts[1].body, "Diagnostic-Code") == "smtp; " + diagnostic);
}

TEST_CASE("bounce: 8-bit original headers make the report 8bit", "[bounce]") {
    BounceInput input = sample_input();
    input.original_message = "Subject: caf\xc3\xa9\n\nbody\n";
    const Report report = parse_report(make_bounce_message(input));
    CHECK(field(report.top.headers, "Content-Transfer-Encoding") == "8bit");
    CHECK(field(report.parts[2].headers, "Content-Transfer-Encoding") == "8bit");
    CHECK(report.parts[2].body == "Subject: caf\xc3\xa9\n");
}

TEST_CASE("bounce: never to the null sender or MAILER-DAEMON", "[bounce]") {
    CHECK_FALSE(should_bounce(""));
    CHECK_FALSE(should_bounce("MAILER-DAEMON"));
    CHECK_FALSE(should_bounce("mailer-daemon"));
    CHECK_FALSE(should_bounce("MAILER-DAEMON@profbox.domain.local"));
    CHECK(should_bounce("dasek.joiakim@gmail.com"));
    CHECK(should_bounce("mailer-daemon-fan@x.test"));
    CHECK(should_bounce("postmaster@x.test"));
}

}  // namespace
