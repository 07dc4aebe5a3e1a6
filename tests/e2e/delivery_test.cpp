// What lands in the Maildir: the lab session's message with the headers the server adds, the
// queue left empty, a queue that was not empty at start, and a stop in the middle of DATA.
#include "spool/queue_file.h"
#include "tests/e2e/harness.h"
#include "tests/support/dialog.h"
#include "tests/support/spool_fixture.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <regex>

namespace labmta::test {
namespace {

struct ParsedMessage {
    std::vector<std::string> headers;  // unfolded, in order
    std::string body;                  // everything after the first blank line
};

ParsedMessage parse_message(const std::string& text) {
    ParsedMessage parsed;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        end = end == std::string::npos ? text.size() : end;
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        if (line.empty()) {
            parsed.body = start < text.size() ? text.substr(start) : "";
            break;
        }
        const bool folded = line.front() == ' ' || line.front() == '\t';
        if (folded && !parsed.headers.empty()) {
            parsed.headers.back() += "\n" + line;
        } else {
            parsed.headers.push_back(line);
        }
    }
    return parsed;
}

std::string header_name(const std::string& header) {
    return header.substr(0, header.find(':'));
}

bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x))
               == std::tolower(static_cast<unsigned char>(y));
    });
}

// Runs the lab fixture's client lines turn by turn and returns the queue ID.
std::string run_lab_session(TestServer& server) {
    const auto exchanges = group_exchanges(load_dialog(fixture_path("lab_local.txt")));
    SmtpClient client = server.connect();
    std::string queue_id;
    for (const DialogExchange& exchange : exchanges) {
        for (const DialogStep& step : exchange.client_lines) {
            client.send_line(step.text);
        }
        const std::string reply = SmtpClient::join(client.read_reply());
        queue_id = queue_id.empty() ? queue_id_of(reply) : queue_id;
    }
    return queue_id;
}

// Makes <spool>/incoming and <spool>/tmp, as the server would, and puts one queue file in.
void queue_message_by_hand(const std::string& spool, const spool::QueueFile& file) {
    std::filesystem::create_directories(spool + "/incoming");
    std::filesystem::create_directories(spool + "/tmp");
    std::filesystem::permissions(spool, std::filesystem::perms::owner_all);
    write_text_file(spool + "/incoming/" + file.queue_id, spool::serialize_queue_file(file));
}

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A queue file from queued@domain.local that arrived now, no recipient delivered yet.
spool::QueueFile queue_file_by_hand(std::string queue_id,
                                    std::vector<std::string> recipients,
                                    std::string message) {
    spool::QueueFile file =
        make_queue_file(std::move(recipients), std::move(message), "queued@domain.local");
    file.queue_id = std::move(queue_id);
    file.arrival_us = now_us();
    return file;
}

}  // namespace

TEST_CASE("e2e: the lab session's message lands in student's Maildir with added headers", "[e2e]") {
    TestServer server;
    const std::string queue_id = run_lab_session(server);
    REQUIRE_FALSE(queue_id.empty());

    const std::string text = wait_for_delivery(server.maildir_new("student"), "Dasek Joiakim");
    REQUIRE_FALSE(text.empty());
    CHECK(text.find('\r') == std::string::npos);
    const ParsedMessage message = parse_message(text);
    REQUIRE(message.headers.size() >= 4);
    CHECK(message.headers[0] == "Return-Path: <joiakim@domain.local>");
    CHECK(message.headers[1] == "Delivered-To: student@domain.local");
    const std::regex received(
        "Received: from Joiakim \\([^ ]+ \\[127\\.0\\.0\\.1\\]\\)\\s+by profbox\\.domain\\.local "
        "\\(labmta\\) with SMTP id "
        + queue_id + "\\s+for <student@domain\\.local>; [A-Z][a-z]{2}, [0-9]{1,2} .+");
    INFO("Received header: " << message.headers[2]);
    CHECK(std::regex_match(message.headers[2], received));
    CHECK(message.headers[3] == "SUBJECT: Test msg");

    std::vector<std::string> added;
    for (std::size_t i = 4; i < message.headers.size(); ++i) {
        added.push_back(header_name(message.headers[i]));
    }
    INFO("headers after the client's: " << SmtpClient::join(added));
    REQUIRE(added.size() == 2);
    const std::string date = iequals(added[0], "Date") ? message.headers[4] : message.headers[5];
    const std::string id = iequals(added[0], "Date") ? message.headers[5] : message.headers[4];
    CHECK(std::regex_match(date,
                           std::regex("Date: [A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} "
                                      "[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}")));
    CHECK(std::regex_match(id,
                           std::regex("Message-I[Dd]: <[0-9A-Z]+\\.[0-9A-Z]+"
                                      "@profbox\\.domain\\.local>")));

    CHECK(message.body == "Hello,\nThis is a simple test message.\n\nDasek Joiakim\n");
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK(list_files(server.spool() + "/mailboxes/domain.local/student/tmp").empty());
    CHECK(server.stop() == kCleanExit);
}

TEST_CASE("e2e: a message sent with EHLO says ESMTP and keeps its own Date and Message-ID",
          "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO esmtp.example").starts_with("250-"));
    const std::string marker = unique_marker();
    const std::string message = "From: Someone <someone@domain.local>\n"
                                "Date: Mon, 2 Nov 2026 10:00:00 +0100\n"
                                "Message-ID: <own." + marker + "@domain.local>\n"
                                "Subject: own headers\n"
                                "\n"
                                "body " + marker + "\n"
                                "\n"
                                "last line";
    const std::string queue_id =
        send_message(client, "someone@domain.local", {"student@domain.local"}, message);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");

    const std::string text = wait_for_delivery(server.maildir_new("student"), marker);
    REQUIRE_FALSE(text.empty());
    const ParsedMessage parsed = parse_message(text);
    REQUIRE(parsed.headers.size() == 7);
    CHECK(parsed.headers[0] == "Return-Path: <someone@domain.local>");
    CHECK(parsed.headers[1] == "Delivered-To: student@domain.local");
    CHECK(std::regex_search(parsed.headers[2],
                            std::regex("\\(labmta\\) with ESMTP id " + queue_id + "\\s")));
    CHECK(text.ends_with(message + "\n"));
}

TEST_CASE("e2e: a message without a blank line after its headers gets one inserted", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("HELO Joiakim") == "250 profbox.domain.local");
    const std::string marker = unique_marker();
    send_message(client,
                 "joiakim@domain.local",
                 {"student@domain.local"},
                 "Subject: no blank line " + marker + "\n"
                 "Message-ID: <noblank." + marker + "@domain.local>\n"
                 "Hello, straight into the body\n"
                 "second line");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    const std::string text = wait_for_delivery(server.maildir_new("student"), marker);
    REQUIRE_FALSE(text.empty());
    const ParsedMessage parsed = parse_message(text);
    CHECK(parsed.body == "Hello, straight into the body\nsecond line\n");
    CHECK(std::count(parsed.headers.begin(),
                     parsed.headers.end(),
                     "Message-ID: <noblank." + marker + "@domain.local>")
          == 1);
}

TEST_CASE("e2e: a message already in incoming/ at start is delivered after start", "[e2e]") {
    TempDir spool_parent;
    const std::string spool = spool_parent / "spool";
    const std::string marker = unique_marker();
    spool::QueueFile file = queue_file_by_hand(
        "0123456789AB",
        {"student@domain.local", "teacher@domain.local"},
        "Received: from queued.example (localhost [127.0.0.1])\n"
        "\tby profbox.domain.local (labmta) with ESMTP id 0123456789AB\n"
        "\tfor <student@domain.local>; Mon, 2 Nov 2026 10:00:00 +0100\n"
        "Subject: queued before start\n"
        "Date: Mon, 2 Nov 2026 10:00:00 +0100\n"
        "Message-ID: <queued." + marker + "@profbox.domain.local>\n"
        "\n"
        "waiting in the queue " + marker + "\n");
    file.delivered = {false, true};  // teacher got it before the "crash"
    queue_message_by_hand(spool, file);

    TestServer server(TestServerOptions{.config_yaml = "", .spool_dir = spool});
    const std::string text = wait_for_delivery(server.maildir_new("student"), marker);
    CHECK(text
          == "Return-Path: <queued@domain.local>\nDelivered-To: student@domain.local\n"
                 + file.message);
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK(list_files(server.maildir_new("teacher")).empty());
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: a copy already in a Maildir is never bounced when the queue cannot record it",
          "[e2e]") {
    namespace fs = std::filesystem;
    TempDir spool_parent;
    const std::string spool = spool_parent / "spool";
    // A regular file where teacher's Maildir folder must go: that delivery always fails.
    fs::create_directories(spool + "/mailboxes/domain.local");
    write_text_file(spool + "/mailboxes/domain.local/teacher", "not a folder\n");
    const std::string marker = unique_marker();
    spool::QueueFile file = queue_file_by_hand("0123456789AC",
                                               {"student@domain.local", "teacher@domain.local"},
                                               "Subject: " + marker + "\n\n" + marker + "\n");
    file.arrival_us -= std::int64_t{3600} * 1'000'000;  // past queue.lifetime
    queue_message_by_hand(spool, file);
    // Readable, not writable: student's copy lands in new/, but the queue cannot record it.
    fs::permissions(spool + "/incoming/" + file.queue_id,
                    fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    OutboundConfig outbound;
    outbound.lifetime_s = 60;
    TestServer server(
        TestServerOptions{.config_yaml = make_outbound_config_yaml(outbound), .spool_dir = spool});

    REQUIRE_FALSE(wait_for_delivery(server.maildir_new("student"), marker).empty());
    const std::string bounce =
        wait_for_delivery(server.maildir_new("queued"), "Undelivered Mail Returned to Sender");
    INFO("bounce:\n" << bounce);
    REQUIRE_FALSE(bounce.empty());
    CHECK(bounce.find("Final-Recipient: rfc822; teacher@domain.local") != std::string::npos);
    CHECK(bounce.find("student@domain.local") == std::string::npos);
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  R"(: 0123456789AC: to=<student@domain\.local>, relay=local, )"
                                  R"(.*status=deferred \(delivered to maildir, but the queue)")
                    .empty());
    CHECK(log_lines_matching(server.process(), R"(to=<student@domain\.local>.*status=bounced)")
              .empty());
    // One line for teacher's expired attempt, as for a relayed recipient: not "deferred" too.
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  R"(to=<teacher@domain\.local>, relay=local, .*dsn=5\.4\.7, )"
                                  R"(status=bounced \(message expired in queue: )")
                    .empty());
    CHECK(log_lines_matching(server.process(), R"(to=<teacher@domain\.local>.*status=deferred)")
              .empty());
    CHECK(list_files(server.maildir_new("student")).size() == 1);
}

TEST_CASE("e2e: SIGTERM during DATA lets the message finish, and it is delivered", "[e2e]") {
    TempDir spool_parent;
    const std::string spool = spool_parent / "spool";
    const std::string marker = unique_marker();
    {
        TestServer server(TestServerOptions{.config_yaml = "", .spool_dir = spool});
        SmtpClient client = server.connect();
        REQUIRE(client.read_greeting() == kGreeting);
        REQUIRE(client.ask("HELO stopping.example") == "250 profbox.domain.local");
        REQUIRE(client.ask("MAIL FROM:<stop@domain.local>") == "250 2.1.0 Ok");
        REQUIRE(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
        REQUIRE(client.ask("DATA") == "354 End data with <CR><LF>.<CR><LF>");
        client.send("Subject: stopped in DATA\r\n\r\nfirst half\r\n");

        server.process().send_signal(SIGTERM);
        // The server has seen the signal once it no longer accepts connections.
        const bool refused = wait_until(
            [&] {
                try {
                    SmtpClient probe = server.connect();
                    return false;
                } catch (const SmtpClientError&) {
                    return true;
                }
            },
            kDeliveryWait);
        CHECK(refused);

        client.send("second half " + marker + "\r\n.\r\n");
        REQUIRE(queue_id_of(SmtpClient::join(client.read_reply())).size() >= 10);
        const std::string rest = client.read_until_closed();
        CHECK((rest.empty() || rest == "421 4.3.2 profbox.domain.local Service shutting down\r\n"));
        CHECK(server.process().wait_for_exit() == kCleanExit);
        CHECK(list_files(spool + "/tmp").empty());
    }
    // Delivered before the exit, or left in the queue and delivered by the next start.
    TestServer restarted(TestServerOptions{.config_yaml = "", .spool_dir = spool});
    const std::string text = wait_for_delivery(restarted.maildir_new("student"), marker);
    CHECK(text.find("first half\nsecond half " + marker + "\n") != std::string::npos);
    CHECK(wait_for_file_count(restarted.incoming_dir(), 0));
    CHECK(list_files(restarted.maildir_new("student")).size() == 1);
}

}  // namespace labmta::test
