// Big messages, streamed to disk during DATA: byte-exact arrival in the Maildir (only the
// server's own header lines added), an own Message-ID kept, a header section over the 100 KiB
// header size limit, a message over limits.message_size, and a client that hangs up in the
// middle of a big DATA. Spill files have no name, so <spool>/tmp must stay empty, and the
// server must not keep them open once the message is gone.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

namespace labmta::test {
namespace {

constexpr std::size_t kHeaderSizeLimit = 102400;  // spool::kHeaderSizeLimit, Postfix's default

// A body of about size bytes with the lines that DATA transparency must get right: lines
// that start with ".", a line of exactly "." and of exactly "..", empty lines, lines far over
// the 2048-byte line limit, and a line with trailing white space.
std::string tricky_body(std::size_t size, std::string_view marker) {
    std::string body = "first body line " + std::string(marker) + "\n";
    for (std::size_t i = 0; body.size() < size; ++i) {
        body += "line " + std::to_string(i) + " " + std::string(i % 71, 'x') + "\n";
        switch (i % 50) {
            case 3:
                body += ".\n";
                break;
            case 7:
                body += "..\n";
                break;
            case 11:
                body += ".leading dot " + std::to_string(i) + "\n";
                break;
            case 13:
                body += "...three\n";
                break;
            case 17:
                body += "\n\n";
                break;
            case 19:
                body += std::string(5000, static_cast<char>('A' + i % 26)) + "\n";
                break;
            case 23:
                body += "trailing space \t \n";
                break;
            default:
                break;
        }
    }
    return body + "last line " + std::string(marker) + "\n";
}

// Files that the server holds open in spool/tmp: spill files of messages in progress (an
// O_TMPFILE shows as "<dir>/#<inode> (deleted)", an unlinked one as "<path> (deleted)").
std::size_t open_spill_files(ServerProcess& process, const std::string& spool) {
    const std::string tmp = std::filesystem::canonical(spool + "/tmp").string() + "/";
    std::size_t count = 0;
    std::error_code error;
    const std::string fd_dir = "/proc/" + std::to_string(process.pid()) + "/fd";
    for (const auto& entry : std::filesystem::directory_iterator(fd_dir, error)) {
        std::error_code link_error;
        const std::string target = std::filesystem::read_symlink(entry.path(), link_error).string();
        if (!link_error && target.starts_with(tmp)) {
            ++count;
        }
    }
    return count;
}

// "" when a == b; otherwise where they first differ, shortly (a failed CHECK on two
// megabyte strings would print them both whole).
std::string first_difference(const std::string& a, const std::string& b) {
    if (a == b) {
        return "";
    }
    std::size_t at = 0;
    while (at < a.size() && at < b.size() && a[at] == b[at]) {
        ++at;
    }
    const auto around = [at](const std::string& text) {
        const std::size_t from = at < 20 ? 0 : at - 20;
        return "\"" + text.substr(from, 60) + "\"";
    };
    return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size())
           + ", first difference at " + std::to_string(at) + ": " + around(a) + " vs " + around(b);
}

// Splits a delivered file at its first blank line.
struct Delivered {
    std::string headers;  // up to and with the LF before the blank line
    std::string body;     // after the blank line
};

Delivered split_delivered(const std::string& text) {
    const std::size_t blank = text.find("\n\n");
    REQUIRE(blank != std::string::npos);
    return {text.substr(0, blank + 1), text.substr(blank + 2)};
}

// What the server puts before the client's first header line: Return-Path, Delivered-To and
// the three-line Received of a one-recipient ESMTP message.
std::regex added_on_top(std::string_view sender, const std::string& queue_id) {
    return std::regex("Return-Path: <" + regex_escape(sender)
                      + ">\nDelivered-To: student@domain\\.local\n"
                        "Received: from big\\.example \\([^\n]+ \\[127\\.0\\.0\\.1\\]\\)\n"
                        "\tby profbox\\.domain\\.local \\(labmta\\) with ESMTP id "
                      + queue_id + "\n\tfor <student@domain\\.local>; [^\n]+\n");
}

// The Date and Message-ID the server adds when the client's header section has none.
const std::regex kDateAndNewId(
    "Date: [A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} "
    "[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\n"
    "Message-ID: <[0-9A-Z]+\\.[0-9A-Z]+@profbox\\.domain\\.local>\n");

SmtpClient open_session(TestServer& server) {
    SmtpClient client = server.connect();
    client.set_timeout(std::chrono::seconds(30));
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO big.example").starts_with("250-profbox.domain.local\n"));
    return client;
}

// Sends message, waits for its delivery to student and returns the Maildir file.
std::string send_and_fetch(TestServer& server,
                           const std::string& message,
                           const std::string& marker,
                           std::string& queue_id) {
    SmtpClient client = open_session(server);
    queue_id = send_message(client, "big@domain.local", {"student@domain.local"}, message);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    REQUIRE_FALSE(queue_id.empty());
    const std::string text =
        wait_for_delivery(server.maildir_new("student"), marker, std::chrono::seconds(30));
    REQUIRE_FALSE(text.empty());
    return text;
}

void check_spool_clean(TestServer& server) {
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK(list_files(server.spool() + "/tmp").empty());
    CHECK(list_files(server.spool() + "/mailboxes/domain.local/student/tmp").empty());
    CHECK(wait_until([&] { return open_spill_files(server.process(), server.spool()) == 0; },
                     kDeliveryWait));
}

}  // namespace

TEST_CASE("e2e: a 3 MB message arrives byte-exact, only the server's headers added", "[e2e]") {
    TestServer server(TestServerOptions{.config_yaml = make_config_yaml(), .spool_dir = ""});
    const std::string marker = unique_marker();
    const std::string headers = "From: Big Sender <big@domain.local>\n"
                                "To: student@domain.local\n"
                                "Subject: big " + marker + "\n"
                                "X-Folded: first part\n\tsecond part\n";
    const std::string body = tricky_body(3 * 1024 * 1024, marker);
    REQUIRE(body.size() > 3 * 1024 * 1024);
    std::string queue_id;
    const std::string text = send_and_fetch(server, headers + "\n" + body, marker, queue_id);

    const Delivered delivered = split_delivered(text);
    CHECK(delivered.body.size() == body.size());
    CHECK(first_difference(delivered.body, body) == "");
    const std::size_t client_at = delivered.headers.find(headers);
    REQUIRE(client_at != std::string::npos);
    CHECK(std::regex_match(delivered.headers.substr(0, client_at),
                           added_on_top("big@domain.local", queue_id)));
    const std::string after = delivered.headers.substr(client_at + headers.size());
    INFO("after the client's headers: " << after);
    CHECK(std::regex_match(after, kDateAndNewId));
    CHECK(text.find('\r') == std::string::npos);
    check_spool_clean(server);
    CHECK(server.stop() == kCleanExit);
}

TEST_CASE("e2e: a big message keeps its own Message-ID and Date", "[e2e]") {
    TestServer server(TestServerOptions{.config_yaml = make_config_yaml(), .spool_dir = ""});
    const std::string marker = unique_marker();
    const std::string headers = "Subject: own id " + marker + "\n"
                                "Date: Mon, 2 Nov 2026 10:00:00 +0100\n"
                                "Message-ID: <own." + marker + "@domain.local>\n";
    const std::string body = tricky_body(2 * 1024 * 1024, marker);
    std::string queue_id;
    const std::string text = send_and_fetch(server, headers + "\n" + body, marker, queue_id);

    const Delivered delivered = split_delivered(text);
    CHECK(first_difference(delivered.body, body) == "");
    CHECK(delivered.headers.ends_with("\n" + headers));
    const std::size_t client_at = delivered.headers.find(headers);
    REQUIRE(client_at != std::string::npos);
    CHECK(std::regex_match(delivered.headers.substr(0, client_at),
                           added_on_top("big@domain.local", queue_id)));
    // Nothing added after the client's header lines: one Date, one Message-ID, its own.
    CHECK(delivered.headers.find("\nMessage-ID: <own." + marker) != std::string::npos);
    CHECK(delivered.headers.rfind("Message-ID:") == delivered.headers.find("Message-ID:"));
    CHECK(delivered.headers.rfind("\nDate:") == delivered.headers.find("\nDate:"));
    check_spool_clean(server);
}

TEST_CASE("e2e: a header section over 100 KiB is ended there, the rest kept as body", "[e2e]") {
    TestServer server(TestServerOptions{.config_yaml = make_config_yaml(), .spool_dir = ""});
    const std::string marker = unique_marker();
    std::string headers = "Subject: long headers " + marker + "\n";
    for (int i = 0; headers.size() < 160 * 1024; ++i) {
        headers += "X-Filler-" + std::to_string(i) + ": " + std::string(60 + i % 37, 'f') + "\n";
    }
    headers += "Message-ID: <late." + marker + "@domain.local>\n";  // past the limit
    const std::string raw = headers + "\n" + tricky_body(1024 * 1024, marker);
    // Only whole lines of the first kHeaderSizeLimit bytes are header lines.
    const std::size_t kept = raw.rfind('\n', kHeaderSizeLimit - 1) + 1;
    REQUIRE(kept < headers.size());
    REQUIRE(kept > 90 * 1024);
    std::string queue_id;
    const std::string text = send_and_fetch(server, raw, marker, queue_id);

    const std::size_t client_at = text.find("Subject: long headers ");
    REQUIRE(client_at != std::string::npos);
    CHECK(std::regex_match(text.substr(0, client_at), added_on_top("big@domain.local", queue_id)));
    const std::string from_client = text.substr(client_at);
    REQUIRE(from_client.starts_with(raw.substr(0, kept)));
    // Then Date and a new Message-ID (the client's came too late to be seen), the blank line
    // that ends the header section, and the rest of the client's bytes unchanged.
    const std::string rest = from_client.substr(kept);
    const std::size_t blank = rest.find("\n\n");
    REQUIRE(blank != std::string::npos);
    INFO("added after the kept header lines: " << rest.substr(0, blank + 2));
    CHECK(std::regex_match(rest.substr(0, blank + 1), kDateAndNewId));
    CHECK(first_difference(rest.substr(blank + 2), raw.substr(kept)) == "");
    check_spool_clean(server);
}

TEST_CASE("e2e: a big message over message_size is 552 5.3.4 and the session goes on", "[e2e]") {
    TestServer server(TestServerOptions{
        .config_yaml = make_config_yaml({{"message_size", "1000000"}}), .spool_dir = ""});
    SmtpClient client = open_session(server);
    const std::string marker = unique_marker();
    REQUIRE(client.ask("MAIL FROM:<big@domain.local>") == "250 2.1.0 Ok");
    REQUIRE(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
    REQUIRE(client.ask("DATA") == "354 End data with <CR><LF>.<CR><LF>");
    std::string data = "Subject: too big " + marker + "\r\n\r\n";
    while (data.size() < 3 * 1024 * 1024) {
        data += std::string(998, 'x') + "\r\n";
    }
    client.send(data);
    CHECK(client.ask(".") == "552 5.3.4 Error: message file too big");
    CHECK(list_files(server.spool() + "/tmp").empty());
    CHECK(list_files(server.incoming_dir()).empty());
    CHECK(wait_until([&] { return open_spill_files(server.process(), server.spool()) == 0; },
                     kDeliveryWait));

    // The same session goes on: a second big message within the limit is accepted.
    CHECK(client.ask("NOOP") == "250 2.0.0 Ok");
    const std::string second = unique_marker();
    const std::string body = tricky_body(900 * 1000, second);
    send_message(client, "big@domain.local", {"student@domain.local"}, "Subject: s\n\n" + body);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    const std::string text =
        wait_for_delivery(server.maildir_new("student"), second, std::chrono::seconds(30));
    REQUIRE_FALSE(text.empty());
    CHECK(first_difference(split_delivered(text).body, body) == "");
    CHECK(list_files(server.maildir_new("student")).size() == 1);
    CHECK(text.find(marker) == std::string::npos);
    check_spool_clean(server);
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: a client that hangs up in a big DATA leaves nothing behind", "[e2e]") {
    TestServer server(TestServerOptions{.config_yaml = make_config_yaml(), .spool_dir = ""});
    {
        SmtpClient client = open_session(server);
        REQUIRE(client.ask("MAIL FROM:<quitter@domain.local>") == "250 2.1.0 Ok");
        REQUIRE(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
        REQUIRE(client.ask("DATA") == "354 End data with <CR><LF>.<CR><LF>");
        std::string data = "Subject: never finished\r\n\r\n";
        while (data.size() < 2 * 1024 * 1024) {
            data += std::string(500, 'q') + "\r\n";
        }
        client.send(data);
        // The message in progress is on disk by now, in a file without a name.
        CHECK(wait_until([&] { return open_spill_files(server.process(), server.spool()) == 1; },
                         kDeliveryWait));
        CHECK(list_files(server.spool() + "/tmp").empty());
    }  // closes the connection in the middle of DATA
    CHECK(wait_until([&] { return open_spill_files(server.process(), server.spool()) == 0; },
                     kDeliveryWait));
    CHECK(list_files(server.spool() + "/tmp").empty());
    CHECK(list_files(server.incoming_dir()).empty());
    check_fresh_message_delivered(server);
    CHECK(list_files(server.maildir_new("student")).size() == 1);
    CHECK(server.stop() == kCleanExit);
}

TEST_CASE("e2e: a header section of exactly 100 KiB keeps the body byte-exact", "[e2e]") {
    // The header section ends right where the header size limit does: the blank line is the
    // first byte past the prefix that cleanup looks at. It must stay one blank line, not two.
    TestServer server(TestServerOptions{.config_yaml = make_config_yaml(), .spool_dir = ""});
    const std::string marker = unique_marker();
    std::string headers = "Subject: exact " + marker + "\n"
                          "Date: Mon, 2 Nov 2026 10:00:00 +0100\n"
                          "Message-ID: <exact." + marker + "@domain.local>\n";
    for (int i = 0; headers.size() < kHeaderSizeLimit - 200; ++i) {
        headers += "X-Filler-" + std::to_string(i) + ": " + std::string(60, 'f') + "\n";
    }
    headers += "X-Pad: " + std::string(kHeaderSizeLimit - headers.size() - 8, 'p') + "\n";
    REQUIRE(headers.size() == kHeaderSizeLimit);
    const std::string body = tricky_body(512 * 1024, marker);
    std::string queue_id;
    const std::string text = send_and_fetch(server, headers + "\n" + body, marker, queue_id);

    const Delivered delivered = split_delivered(text);
    CHECK(delivered.headers.ends_with("\n" + headers));
    CHECK(delivered.body.size() == body.size());
    CHECK(first_difference(delivered.body, body) == "");
    check_spool_clean(server);
}

}  // namespace labmta::test
