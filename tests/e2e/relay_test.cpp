// Relaying (issue 3) end to end: labmta with a relayhost that is an SmtpSink started by the
// test on 127.0.0.1, so that "outside" addresses (gmail.com) are only strings and no name is
// ever looked up. The relay policy, what arrives at the relayhost and how it is logged,
// deferral and retry, bounces, the queue lifetime and a restart with deferred mail.
#include "spool/defer_file.h"
#include "tests/e2e/harness.h"
#include "tests/support/dialog.h"
#include "tests/support/smtp_sink.h"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <thread>

namespace labmta::test {
namespace {

constexpr std::string_view kPlain64 = "AHN0dWRlbnQAaGVzc292cyE=";  // "\0student\0hessovs!"
constexpr std::chrono::milliseconds kRetryWait{15000};  // a few 1-2 s retries, generously

std::string config_for(const SmtpSink& sink, OutboundConfig outbound = {}) {
    outbound.relayhost = sink.relayhost();
    return make_outbound_config_yaml(outbound);
}

// A connection after the greeting, EHLO and (when auth) AUTH PLAIN as student.
SmtpClient open_session(TestServer& server, bool auth = true) {
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO client.example").starts_with("250-profbox.domain.local\n"));
    if (auth) {
        REQUIRE(client.ask("AUTH PLAIN " + std::string(kPlain64))
                == "235 2.7.0 Authentication successful");
    }
    return client;
}

// One authenticated session that queues one message; returns its queue ID.
std::string relay_message(TestServer& server,
                          std::string_view from,
                          const std::vector<std::string>& recipients,
                          std::string_view message) {
    SmtpClient client = open_session(server);
    const std::string id = send_message(client, from, recipients, message);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    return id;
}

// Postfix's delivery log line for one recipient, up to "status=<status> (".
std::string delivery_pattern(const std::string& id,
                             const std::string& recipient,
                             const SmtpSink& sink,
                             const std::string& status) {
    return ": " + id + ": to=<" + regex_escape(recipient)
           + ">, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:" + std::to_string(sink.port())
           + R"(, delay=[0-9.]+, (delays=[^ ]+, )?dsn=)"
           + (status == "sent" ? R"(2\.0\.0)" : R"([45]\.[0-9]+\.[0-9]+)") + ", status=" + status
           + " \\(";
}

std::string removed_pattern(const std::string& id) {
    return ": " + id + ": removed$";
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos;
         at = text.find(needle, at + 1)) {
        ++count;
    }
    return count;
}

std::size_t count_message_ids(const std::string& data) {
    return count_of(data, "\r\nMessage-ID: ") + count_of(data, "\r\nMessage-Id: ")
           + count_of(data, "\r\nMessage-id: ") + (data.starts_with("Message-ID: ") ? 1 : 0);
}

// Every file under <spool>/mailboxes, as paths relative to it.
std::vector<std::string> mailbox_files(const TestServer& server) {
    std::vector<std::string> files;
    const std::filesystem::path root = server.spool() + "/mailboxes";
    std::error_code error;
    if (!std::filesystem::exists(root, error)) {
        return files;
    }
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root, error)) {
        if (entry.is_regular_file()) {
            files.push_back(std::filesystem::relative(entry.path(), root).string());
        }
    }
    return files;
}

// The text with folded lines joined (RFC 5322 2.2.3; the report's text is wrapped too):
// "\n" followed by white space becomes one space.
std::string unfold(const std::string& text) {
    return std::regex_replace(text, std::regex("\n[ \t]+"), " ");
}

void check_bounce(const std::string& bounce,
                  const std::string& failed_recipient,
                  const std::string& remote_reply,
                  const std::string& marker) {
    INFO("bounce:\n" << bounce);
    CHECK(bounce.find("Return-Path: <>") != std::string::npos);
    CHECK(bounce.find("From: MAILER-DAEMON@profbox.domain.local") != std::string::npos);
    CHECK(bounce.find("Subject: Undelivered Mail Returned to Sender") != std::string::npos);
    CHECK(bounce.find("multipart/report") != std::string::npos);
    CHECK(bounce.find("report-type=delivery-status") != std::string::npos);
    CHECK(bounce.find("message/delivery-status") != std::string::npos);
    CHECK(bounce.find("Final-Recipient: rfc822; " + failed_recipient) != std::string::npos);
    CHECK(bounce.find("Action: failed") != std::string::npos);
    CHECK(unfold(bounce).find(remote_reply) != std::string::npos);
    CHECK(bounce.find(marker) != std::string::npos);  // the returned header section
}

// Waits for the log line of a message's expiry (expiry_pattern), then for the bounce it sent
// to joiakim, the sender; returns the bounce.
std::string expiry_bounce(TestServer& server, const std::string& expiry_pattern) {
    const std::string expired = wait_for_log_line(server.process(), expiry_pattern, kRetryWait);
    INFO("expiry line: " << expired);
    CHECK_FALSE(expired.empty());
    const std::string bounce =
        wait_for_delivery(server.maildir_new("joiakim"), "Undelivered Mail Returned to Sender");
    REQUIRE_FALSE(bounce.empty());
    return bounce;
}

}  // namespace

TEST_CASE("e2e relay: without AUTH a remote recipient is 554 5.7.1 Relay access denied",
          "[e2e][relay]") {
    SmtpSink sink;
    TestServer server({config_for(sink), ""});
    SmtpClient client = open_session(server, false);
    CHECK(client.ask("MAIL FROM:<joiakim@domain.local>") == "250 2.1.0 Ok");
    CHECK(client.ask("RCPT TO:<jowadev@gmail.com>")
          == "554 5.7.1 <jowadev@gmail.com>: Relay access denied");
    CHECK_FALSE(
        wait_for_log_line(server.process(),
                          R"(NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 554 5\.7\.1 )"
                          R"(<jowadev@gmail\.com>: Relay access denied; )"
                          R"(from=<joiakim@domain\.local> to=<jowadev@gmail\.com> )"
                          R"(proto=ESMTP helo=<client\.example>$)")
            .empty());
    // A local recipient needs no AUTH, in the same transaction.
    CHECK(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
    CHECK(client.ask("DATA").starts_with("354 "));
    const std::string marker = unique_marker();
    client.send("Subject: " + marker + "\r\n\r\nlocal only\r\n");
    CHECK(queue_id_of(client.ask(".")).size() > 0);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    CHECK_FALSE(wait_for_delivery(server.maildir_new("student"), marker).empty());
    CHECK(sink.connection_count() == 0);
}

TEST_CASE("e2e relay: the lab session relays both recipients and its Message-ID to the relayhost",
          "[e2e][relay]") {
    SmtpSink sink;
    TestServer server({config_for(sink), ""});

    // The lab document's session, byte for byte (tests/fixtures/lab_relay_auth.txt).
    const auto exchanges = group_exchanges(load_dialog(fixture_path("lab_relay_auth.txt")));
    SmtpClient client = server.connect();
    std::string id;
    for (const DialogExchange& exchange : exchanges) {
        for (const DialogStep& step : exchange.client_lines) {
            client.send_line(step.text);
        }
        std::vector<std::string> received;
        while (received.size() < exchange.expected_lines.size()) {
            for (const std::string& line : client.read_reply()) {
                received.push_back(line);
            }
        }
        const std::string mismatch = describe_reply_mismatch(exchange.expected_lines, received);
        if (!mismatch.empty()) {
            FAIL("lab_relay_auth.txt: " << mismatch);
        }
        for (const std::string& line : received) {
            id = id.empty() ? queue_id_of(line) : id;
        }
    }
    REQUIRE_FALSE(id.empty());

    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));
    const auto log_sent = [&](const std::string& rcpt) {
        return wait_for_log_line(server.process(),
                                 delivery_pattern(id, rcpt, sink, "sent") + R"(250 .*\)$)");
    };
    CHECK_FALSE(log_sent("jowadev@gmail.com").empty());
    CHECK_FALSE(log_sent("david.backoffice@gmail.com").empty());
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));

    const auto messages = sink.accepted_messages();
    REQUIRE(messages.size() == 1);  // one transaction for both: same destination
    const SinkTransaction& message = messages.front();
    CHECK(message.helo == "profbox.domain.local");
    CHECK(message.mail_from == "dasek.joiakim@gmail.com");
    CHECK(message.rcpt_to
          == std::vector<std::string>{"jowadev@gmail.com", "david.backoffice@gmail.com"});
    INFO("data at the sink:\n" << message.data);
    CHECK(message.only_crlf);
    CHECK(message.data.starts_with("Received: from joiakim.dasek@domain.local ("));
    CHECK(message.data.find("by profbox.domain.local (labmta) with ") != std::string::npos);
    CHECK(message.data.find(" id " + id) != std::string::npos);
    CHECK(message.data.find("\r\nMessage-ID: <819ih78s78988752fZTGFU@domain.local>\r\n")
          != std::string::npos);
    CHECK(count_message_ids(message.data) == 1);
    CHECK(message.data.ends_with("This is the body message !\r\n"));

    REQUIRE(sink.wait_for_closed_connections(1, kDeliveryWait));
    const auto commands = sink.commands();
    INFO("commands at the sink:\n" << SmtpClient::join(commands));
    REQUIRE(commands.size() >= 5);
    CHECK(commands.front() == "EHLO profbox.domain.local");
    CHECK(commands[1].starts_with("MAIL FROM:<dasek.joiakim@gmail.com>"));
    CHECK(std::count(commands.begin(), commands.end(), "RCPT TO:<jowadev@gmail.com>") == 1);
    CHECK(std::count(commands.begin(), commands.end(), "RCPT TO:<david.backoffice@gmail.com>")
          == 1);
    CHECK(std::count(commands.begin(), commands.end(), "DATA") == 1);
    CHECK(commands.back() == "QUIT");
    CHECK(sink.quit_count() == 1);
}

TEST_CASE("e2e relay: an authenticated EHLO session is ESMTPA, dot-stuffed, CRLF on the wire",
          "[e2e][relay]") {
    SmtpSink sink;
    TestServer server({config_for(sink), ""});
    const std::string marker = unique_marker();
    const std::string id =
        relay_message(server,
                      "joiakim@domain.local",
                      {"jowadev@gmail.com"},
                      "Subject: " + marker + "\n\nfirst\n.leading dot\n..two dots\n.\nlast");
    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));
    const SinkTransaction message = sink.accepted_messages().front();
    INFO("data at the sink:\n" << message.data);
    CHECK(message.mail_from == "joiakim@domain.local");
    CHECK(message.only_crlf);
    CHECK(std::regex_search(
        message.data,
        std::regex("^Received: from client\\.example \\([^)]*\\[127\\.0\\.0\\.1\\]\\)"
                   "\\s+by profbox\\.domain\\.local \\(labmta\\) with ESMTPA id "
                   + id)));
    CHECK(message.data.find("\r\nfirst\r\n.leading dot\r\n..two dots\r\n.\r\nlast\r\n")
          != std::string::npos);
    CHECK(count_message_ids(message.data) == 1);
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
}

TEST_CASE("e2e relay: a client inside relay.networks relays without AUTH, a Message-ID is added",
          "[e2e][relay]") {
    SmtpSink sink;
    OutboundConfig outbound;
    outbound.networks = {"127.0.0.0/8"};
    TestServer server({config_for(sink, outbound), ""});
    SmtpClient client = open_session(server, false);
    const std::string marker = unique_marker();
    const std::string id = send_message(
        client, "joiakim@domain.local", {"jowadev@gmail.com"}, "Subject: " + marker + "\n\nno id");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));
    const SinkTransaction message = sink.accepted_messages().front();
    INFO("data at the sink:\n" << message.data);
    CHECK(count_message_ids(message.data) == 1);
    std::smatch found;
    REQUIRE(std::regex_search(
        message.data,
        found,
        std::regex("\r\nMessage-I[Dd]: (<[^>\r\n]+@profbox\\.domain\\.local>)\r\n")));
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  ": " + id + ": message-id=" + regex_escape(found[1].str()) + "$")
                    .empty());
    CHECK(message.data.find(" with ESMTP id " + id) != std::string::npos);
    CHECK_FALSE(
        wait_for_log_line(server.process(), delivery_pattern(id, "jowadev@gmail.com", sink, "sent"))
            .empty());
}

TEST_CASE("e2e relay: a relayhost without PIPELINING and with multi-line replies gets the mail",
          "[e2e][relay]") {
    SinkPolicy policy;
    policy.greeting = "220-sink.test ESMTP\n220-second line\n220 last line";
    policy.ehlo = {"250-sink.test", "250-8BITMIME", "250 HELP"};
    policy.any_rcpt = {"250-2.1.5 Ok\n250 2.1.5 still Ok"};
    SmtpSink sink(policy);
    TestServer server({config_for(sink), ""});
    const std::string marker = unique_marker();
    const std::string id = relay_message(
        server, "joiakim@domain.local", {"a@example.org", "b@example.org"}, "Subject: " + marker);
    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));
    CHECK(sink.accepted_messages().front().rcpt_to
          == std::vector<std::string>{"a@example.org", "b@example.org"});
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
}

TEST_CASE("e2e relay: a relayhost that refuses EHLO gets HELO", "[e2e][relay]") {
    SinkPolicy policy;
    policy.ehlo = {"502 5.5.2 Error: command not recognized"};
    SmtpSink sink(policy);
    TestServer server({config_for(sink), ""});
    const std::string id = relay_message(
        server, "joiakim@domain.local", {"jowadev@gmail.com"}, "Subject: " + unique_marker());
    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));
    const auto commands = sink.commands();
    INFO(SmtpClient::join(commands));
    REQUIRE(commands.size() >= 2);
    CHECK(commands[0] == "EHLO profbox.domain.local");
    CHECK(commands[1] == "HELO profbox.domain.local");
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
}

TEST_CASE("e2e relay: a 451 recipient is deferred, retried and then delivered once",
          "[e2e][relay]") {
    SinkPolicy policy;
    policy.rcpt["jowadev@gmail.com"] = {"451 4.3.0 <jowadev@gmail.com>: try later", "250 2.1.5 Ok"};
    SmtpSink sink(policy);
    TestServer server({config_for(sink), ""});
    const std::string marker = unique_marker();
    const std::string id =
        relay_message(server, "joiakim@domain.local", {"jowadev@gmail.com"}, "Subject: " + marker);

    const std::string deferred = wait_for_log_line(
        server.process(),
        delivery_pattern(id, "jowadev@gmail.com", sink, "deferred") + ".*451 4\\.3\\.0");
    INFO("deferred line: " << deferred);
    CHECK_FALSE(deferred.empty());
    CHECK(deferred.find("dsn=4.3.0") != std::string::npos);
    CHECK(list_files(server.incoming_dir()).size() == 1);

    REQUIRE(sink.wait_for_messages(1, kRetryWait));
    CHECK_FALSE(
        wait_for_log_line(server.process(), delivery_pattern(id, "jowadev@gmail.com", sink, "sent"))
            .empty());
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    const auto messages = sink.accepted_messages();
    REQUIRE(messages.size() == 1);
    CHECK(messages.front().rcpt_to == std::vector<std::string>{"jowadev@gmail.com"});
    CHECK(messages.front().data.find(marker) != std::string::npos);
    CHECK(log_lines_matching(server.process(), ": " + id + ": to=.*status=sent").size() == 1);
}

TEST_CASE("e2e relay: a 451 at the end of data defers the message, then it is delivered once",
          "[e2e][relay]") {
    SinkPolicy policy;
    policy.end_of_data = {"451 4.3.0 Error: queue file write error", "250 2.0.0 Ok: queued as AB"};
    SmtpSink sink(policy);
    TestServer server({config_for(sink), ""});
    const std::string id = relay_message(server,
                                         "joiakim@domain.local",
                                         {"jowadev@gmail.com", "david.backoffice@gmail.com"},
                                         "Subject: " + unique_marker());
    REQUIRE(sink.wait_for_messages(1, kRetryWait));
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    CHECK(log_lines_matching(server.process(), ": " + id + ": to=.*status=deferred").size() == 2);
    CHECK(log_lines_matching(server.process(), ": " + id + ": to=.*status=sent").size() == 2);
    CHECK(sink.accepted_messages().size() == 1);
    CHECK(sink.transactions().size() == 2);
}

TEST_CASE("e2e relay: a 550 recipient bounces to the local sender's Maildir", "[e2e][relay]") {
    const std::string rejection =
        "550 5.1.1 <jowadev@gmail.com>: Recipient address rejected: "
        "User unknown in virtual mailbox table";
    SinkPolicy policy;
    policy.rcpt["jowadev@gmail.com"] = {rejection};
    SmtpSink sink(policy);
    TestServer server({config_for(sink), ""});
    const std::string marker = unique_marker();
    const std::string id = relay_message(
        server, "joiakim@domain.local", {"jowadev@gmail.com"}, "Subject: " + marker + "\n\nbody");

    CHECK_FALSE(wait_for_log_line(server.process(),
                                  delivery_pattern(id, "jowadev@gmail.com", sink, "bounced") + ".*"
                                      + regex_escape("550 5.1.1 <jowadev@gmail.com>"))
                    .empty());
    const std::string bounce =
        wait_for_delivery(server.maildir_new("joiakim"), "Undelivered Mail Returned to Sender");
    REQUIRE_FALSE(bounce.empty());
    check_bounce(bounce,
                 "jowadev@gmail.com",
                 "550 5.1.1 <jowadev@gmail.com>: Recipient address rejected",
                 marker);
    CHECK(bounce.find("Status: 5.1.1") != std::string::npos);
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK(sink.transactions().size() == 1);  // a 5xx is final: never tried again
    CHECK(sink.accepted_messages().empty());
}

TEST_CASE("e2e relay: one recipient accepted and one refused: sent, bounced, one bounce",
          "[e2e][relay]") {
    SinkPolicy policy;
    policy.rcpt["david.backoffice@gmail.com"] = {
        "550 5.1.1 <david.backoffice@gmail.com>: Recipient address rejected"};
    SmtpSink sink(policy);
    TestServer server({config_for(sink), ""});
    const std::string marker = unique_marker();
    const std::string id = relay_message(server,
                                         "joiakim@domain.local",
                                         {"jowadev@gmail.com", "david.backoffice@gmail.com"},
                                         "Subject: " + marker);
    CHECK_FALSE(
        wait_for_log_line(server.process(), delivery_pattern(id, "jowadev@gmail.com", sink, "sent"))
            .empty());
    CHECK_FALSE(
        wait_for_log_line(server.process(),
                          delivery_pattern(id, "david.backoffice@gmail.com", sink, "bounced"))
            .empty());
    const std::string bounce =
        wait_for_delivery(server.maildir_new("joiakim"), "Undelivered Mail Returned to Sender");
    REQUIRE_FALSE(bounce.empty());
    check_bounce(bounce,
                 "david.backoffice@gmail.com",
                 "550 5.1.1 <david.backoffice@gmail.com>: Recipient address rejected",
                 marker);
    CHECK(bounce.find("Final-Recipient: rfc822; jowadev@gmail.com") == std::string::npos);
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    REQUIRE(sink.accepted_messages().size() == 1);
    CHECK(sink.accepted_messages().front().rcpt_to
          == std::vector<std::string>{"jowadev@gmail.com"});
    CHECK(wait_for_file_count(server.maildir_new("joiakim"), 1));
}

TEST_CASE("e2e relay: mail from the null sender that bounces gets no bounce", "[e2e][relay]") {
    SinkPolicy policy;
    policy.any_rcpt = {"550 5.1.1 Recipient address rejected"};
    SmtpSink sink(policy);
    TestServer server({config_for(sink), ""});
    const std::string id =
        relay_message(server, "", {"jowadev@gmail.com"}, "Subject: " + unique_marker());
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  delivery_pattern(id, "jowadev@gmail.com", sink, "bounced"))
                    .empty());
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    // A bounce would be queued before the original is removed; a later message then shows
    // that the queue manager has moved on.
    check_fresh_message_delivered(server);
    INFO("log:\n" << server.process().log());
    CHECK(log_lines_matching(server.process(), R"(\(queue active\)$)").size() == 2);
    CHECK(log_lines_matching(server.process(), "MAILER-DAEMON").empty());
    const auto files = mailbox_files(server);
    INFO("mailbox files: " << SmtpClient::join(files));
    CHECK(files.size() == 1);
    CHECK(sink.transactions().size() == 1);
}

TEST_CASE("e2e relay: a relayhost that is down defers the mail until it is up", "[e2e][relay]") {
    std::uint16_t port = 0;
    {
        const SmtpSink placeholder;  // a free port, closed again: connections are refused
        port = placeholder.port();
    }
    OutboundConfig outbound;
    outbound.relayhost = "[127.0.0.1]:" + std::to_string(port);
    TestServer server({make_outbound_config_yaml(outbound), ""});
    const std::string id = relay_message(
        server, "joiakim@domain.local", {"jowadev@gmail.com"}, "Subject: " + unique_marker());
    const std::string deferred = wait_for_log_line(
        server.process(), ": " + id + ": to=<jowadev@gmail\\.com>, .*status=deferred \\(");
    INFO("deferred line: " << deferred);
    CHECK_FALSE(deferred.empty());
    CHECK(list_files(server.incoming_dir()).size() == 1);

    SmtpSink sink({}, "127.0.0.1", port);
    REQUIRE(sink.wait_for_messages(1, kRetryWait));
    CHECK_FALSE(
        wait_for_log_line(server.process(), delivery_pattern(id, "jowadev@gmail.com", sink, "sent"))
            .empty());
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
}

TEST_CASE("e2e relay: mail deferred past queue.lifetime bounces", "[e2e][relay]") {
    SinkPolicy policy;
    policy.any_rcpt = {"451 4.3.0 try later"};
    SmtpSink sink(policy);
    OutboundConfig outbound;
    outbound.lifetime_s = 2;
    TestServer server({config_for(sink, outbound), ""});
    const std::string marker = unique_marker();
    const std::string id =
        relay_message(server, "joiakim@domain.local", {"jowadev@gmail.com"}, "Subject: " + marker);
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  delivery_pattern(id, "jowadev@gmail.com", sink, "deferred"))
                    .empty());
    const std::string bounce =
        expiry_bounce(server, ": " + id + ": to=<jowadev@gmail\\.com>, .*status=(bounced|expired)");
    check_bounce(bounce, "jowadev@gmail.com", "451 4.3.0 try later", marker);
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK(sink.accepted_messages().empty());
}

TEST_CASE("e2e relay: deferred mail survives a restart, a delivered recipient is not sent again",
          "[e2e][relay]") {
    SinkPolicy first_run;
    first_run.rcpt["david.backoffice@gmail.com"] = {"451 4.3.0 try later"};
    SmtpSink sink(first_run);
    OutboundConfig outbound;
    outbound.retry_s = 3600;
    outbound.max_retry_s = 3600;
    TempDir spool_dir("labmta-restart");
    const std::string spool = spool_dir / "spool";
    const std::string marker = unique_marker();
    std::string id;
    {
        TestServer server({config_for(sink, outbound), spool});
        id = relay_message(server,
                           "joiakim@domain.local",
                           {"jowadev@gmail.com", "david.backoffice@gmail.com"},
                           "Subject: " + marker);
        CHECK_FALSE(wait_for_log_line(server.process(),
                                      delivery_pattern(id, "jowadev@gmail.com", sink, "sent"))
                        .empty());
        CHECK_FALSE(
            wait_for_log_line(server.process(),
                              delivery_pattern(id, "david.backoffice@gmail.com", sink, "deferred"))
                .empty());
        CHECK(list_files(server.incoming_dir()) == std::vector<std::string>{id});
        CHECK(server.stop() == kCleanExit);
    }
    REQUIRE(sink.accepted_messages().size() == 1);
    CHECK(sink.accepted_messages().front().rcpt_to
          == std::vector<std::string>{"jowadev@gmail.com"});
    CHECK(list_files(spool + "/incoming") == std::vector<std::string>{id});

    sink.set_policy({});
    TestServer server({config_for(sink, outbound), spool});
    REQUIRE(sink.wait_for_messages(2, kDeliveryWait));
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  delivery_pattern(id, "david.backoffice@gmail.com", sink, "sent"))
                    .empty());
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    const auto messages = sink.accepted_messages();
    REQUIRE(messages.size() == 2);
    CHECK(messages[1].rcpt_to == std::vector<std::string>{"david.backoffice@gmail.com"});
    CHECK(messages[1].data.find(marker) != std::string::npos);
    CHECK(log_lines_matching(server.process(), "to=<jowadev@gmail\\.com>").empty());
}

}  // namespace labmta::test

namespace labmta::test {
namespace {

// Regression (review finding): a local recipient whose Maildir delivery failed for a while was
// handed to the relay agent with the remote ones, and so relayed or bounced: lost local mail.
TEST_CASE("e2e relay: a local recipient whose delivery is deferred is never relayed",
          "[e2e][relay]") {
    SmtpSink sink;
    TempDir spool("labmta-local-deferred");
    // A regular file where student's Maildir folder must go: every local attempt fails.
    std::filesystem::create_directories(spool.path() + "/mailboxes/domain.local");
    const std::string blocker = spool.path() + "/mailboxes/domain.local/student";
    write_text_file(blocker, "not a folder\n");
    TestServer server({config_for(sink), spool.path()});
    const std::string marker = unique_marker();
    const std::string id = relay_message(
        server, "joiakim@domain.local", {"student@domain.local"}, "Subject: " + marker);

    // Two failed local attempts: the second comes after a whole retry cycle, so a relay
    // attempt, if any, would have happened by then.
    const std::string local_deferred =
        ": " + id + R"(: to=<student@domain\.local>, relay=local, .*status=deferred)";
    REQUIRE_FALSE(wait_for_log_line(server.process(), local_deferred).empty());
    const auto deadline = std::chrono::steady_clock::now() + kRetryWait;
    while (log_lines_matching(server.process(), local_deferred).size() < 2
           && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(log_lines_matching(server.process(), local_deferred).size() >= 2);
    CHECK(sink.accepted_messages().empty());
    CHECK(log_lines_matching(server.process(), ": " + id + ": to=.*relay=(127|none)").empty());
    CHECK(log_lines_matching(server.process(), "status=bounced").empty());
    CHECK(list_files(server.incoming_dir()).size() == 1);

    // Once the folder can be made, the message lands, once.
    std::filesystem::remove(blocker);
    REQUIRE(wait_for_file_count(server.maildir_new("student"), 1, kRetryWait));
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK(sink.accepted_messages().empty());
}

// A regular file where student's Maildir folder must go, so that every local attempt fails
// (also for root, unlike a mode); returns its path.
std::string block_students_maildir(const std::string& spool) {
    std::filesystem::create_directories(spool + "/mailboxes/domain.local");
    const std::string blocker = spool + "/mailboxes/domain.local/student";
    write_text_file(blocker, "not a folder\n");
    return blocker;
}

// The reason in the server's first local deferral line for id and student.
std::string first_local_deferral_reason(TestServer& server, const std::string& id) {
    const std::string line = wait_for_log_line(
        server.process(),
        ": " + id + R"(: to=<student@domain\.local>, relay=local, .*status=deferred \(.+\)$)");
    std::smatch match;
    REQUIRE(std::regex_search(line, match, std::regex(R"(status=deferred \((.+)\)$)")));
    return match[1];
}

TEST_CASE("e2e relay: a local delivery deferred past queue.lifetime bounces, as relayed mail does",
          "[e2e][relay]") {
    SmtpSink sink;
    TempDir spool("labmta-local-expiry");
    block_students_maildir(spool.path());
    OutboundConfig outbound;
    outbound.lifetime_s = 2;
    TestServer server({config_for(sink, outbound), spool.path()});
    const std::string marker = unique_marker();
    const std::string id = relay_message(
        server, "joiakim@domain.local", {"student@domain.local"}, "Subject: " + marker);
    const std::string reason = first_local_deferral_reason(server, id);

    // Postfix's maximal_queue_lifetime: the deferred recipient is returned to the sender.
    const std::string bounce = expiry_bounce(
        server,
        ": " + id
            + R"(: to=<student@domain\.local>, relay=local, .*dsn=5\.4\.7, status=bounced \(message expired in queue: )"
            + regex_escape(reason) + "\\)$");
    check_bounce(bounce, "student@domain.local", reason, marker);
    CHECK(bounce.find("Remote-MTA:") == std::string::npos);
    CHECK(bounce.find("Diagnostic-Code: X-Labmta; message expired in queue") != std::string::npos);
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK_FALSE(std::filesystem::exists(spool.path() + "/defer/" + id));
    CHECK(sink.accepted_messages().empty());
}

TEST_CASE("e2e relay: the queue shows why a local delivery is deferred until it is delivered",
          "[e2e][relay]") {
    SmtpSink sink;
    TempDir spool("labmta-local-reason");
    const std::string blocker = block_students_maildir(spool.path());
    OutboundConfig outbound;
    outbound.retry_s = 3600;  // no retry on its own: the listing below sees the first attempt
    outbound.max_retry_s = 3600;
    TestServer server({config_for(sink, outbound), spool.path()});
    const std::string id = relay_message(
        server, "joiakim@domain.local", {"student@domain.local"}, "Subject: " + unique_marker());
    const std::string reason = first_local_deferral_reason(server, id);

    const std::string defer_file = spool.path() + "/defer/" + id;
    REQUIRE(wait_for_file_count(spool.path() + "/defer", 1));
    // Retried after queue.retry (an hour), not at every queue scan.
    const std::optional<spool::DeferInfo> defer = spool::read_defer_info(spool.path(), id);
    REQUIRE(defer.has_value());
    CHECK(defer->attempts == 1);
    const auto in_an_hour = std::chrono::system_clock::now() + std::chrono::seconds(3500);
    CHECK(defer->next_attempt_us
          > std::chrono::duration_cast<std::chrono::microseconds>(in_an_hour.time_since_epoch())
                .count());
    const CommandResult listing = run_labmta({"queue", "--spool", spool.path()});
    INFO("queue:\n" << listing.output);
    CHECK(listing.exit_code == 0);
    CHECK(listing.output.find(id) != std::string::npos);
    CHECK(listing.output.find("(" + reason + ")\n") != std::string::npos);
    CHECK(listing.output.find("student@domain.local") != std::string::npos);

    // Fixed, then `labmta flush` (postqueue -f): delivered, and the deferral forgotten.
    std::filesystem::remove(blocker);
    CHECK(run_labmta({"flush", "--spool", spool.path()}).exit_code == 0);
    REQUIRE(wait_for_file_count(server.maildir_new("student"), 1, kRetryWait));
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK(wait_for_file_count(spool.path() + "/defer", 0));
    CHECK_FALSE(std::filesystem::exists(defer_file));
    CHECK(run_labmta({"queue", "--spool", spool.path()}).output == "Mail queue is empty\n");
}

// The folder through which a test holds the server's fsync() (tests/preload/hold_fsync.cpp):
// while <folder>/hold exists, an fsync of a file whose path contains the match waits, and
// makes <folder>/held to say so.
class FsyncGate {
public:
    FsyncGate() {
        std::filesystem::permissions(dir_.path(), std::filesystem::perms::all);  // held: nobody
    }
    // The server's environment for the preloaded fsync().
    std::vector<std::string> environment(const std::string& match) const {
        const char* asan = std::getenv("ASAN_OPTIONS");
        const std::string asan_options =
            asan != nullptr && *asan != '\0' ? std::string(asan) + ":" : "";
        return {"LD_PRELOAD=" LABMTA_HOLD_FSYNC_LIBRARY,
                "LABMTA_TEST_HOLD_FSYNC_DIR=" + dir_.path(),
                "LABMTA_TEST_HOLD_FSYNC_MATCH=" + match,
                // The library is loaded before the sanitizer runtime, which it does not need.
                "ASAN_OPTIONS=" + asan_options + "verify_asan_link_order=0"};
    }
    void hold() const { write_text_file(dir_.path() + "/hold", ""); }
    void release() const {
        std::error_code ignored;
        std::filesystem::remove(dir_.path() + "/hold", ignored);
    }
    bool wait_until_held() const {
        return wait_until([&] { return std::filesystem::exists(dir_.path() + "/held"); },
                          kRetryWait);
    }

private:
    TempDir dir_{"labmta-hold"};
};

// Releases the gate when it goes, so that a failed check does not leave the server stuck in
// fsync(); made after the server, so gone before the server is stopped.
class ReleaseAtEnd {
public:
    explicit ReleaseAtEnd(const FsyncGate& gate) : gate_(gate) {}
    ~ReleaseAtEnd() { gate_.release(); }
    ReleaseAtEnd(const ReleaseAtEnd&) = delete;
    ReleaseAtEnd& operator=(const ReleaseAtEnd&) = delete;

private:
    const FsyncGate& gate_;
};

// The event loop never waits for the disk (README.md, "How it is fast"). What an attempt leaves in
// the spool (delivered marks, the defer file, a bounce, the queue file's removal) is written on the
// thread pool, for relayed and local recipients alike.
TEST_CASE("e2e relay: sessions are answered while a deferral is being written to the disk",
          "[e2e][relay][slow_disk]") {
    SinkPolicy policy;
    policy.any_rcpt = {"451 4.3.0 try later"};
    SmtpSink sink(policy);
    TempDir spool("labmta-slow-defer");
    block_students_maildir(spool.path());
    FsyncGate gate;
    gate.hold();
    TestServerOptions options{config_for(sink), spool.path()};
    options.environment = gate.environment("/tmp/defer.");
    TestServer server(options);
    const ReleaseAtEnd release(gate);
    SmtpClient other = open_session(server, false);
    other.set_timeout(std::chrono::seconds(5));

    std::string recipient =
        GENERATE(as<std::string>{}, "jowadev@gmail.com", "student@domain.local");
    INFO("deferred recipient: " << recipient);
    const std::string id =
        relay_message(server, "joiakim@domain.local", {recipient}, "Subject: " + unique_marker());
    // The attempt is over and its defer file is being written: stuck in its fsync.
    REQUIRE(gate.wait_until_held());
    CHECK(other.ask("NOOP") == "250 2.0.0 Ok");
    SmtpClient fresh = server.connect();
    fresh.set_timeout(std::chrono::seconds(5));
    CHECK(fresh.read_greeting() == kGreeting);
    CHECK(fresh.ask("QUIT") == "221 2.0.0 Bye");
    // Logged once recorded, not before.
    const std::string deferred =
        ": " + id + ": to=<" + regex_escape(recipient) + ">, .*status=deferred \\(";
    CHECK(log_lines_matching(server.process(), deferred).empty());

    gate.release();
    CHECK_FALSE(wait_for_log_line(server.process(), deferred).empty());
    CHECK(std::filesystem::exists(spool.path() + "/defer/" + id));
    CHECK(other.ask("NOOP") == "250 2.0.0 Ok");
}

// A retry that bounces queues the bounce while it is being recorded. The queue scans (every
// second here) and `labmta flush` must leave that bounce to the record: found first, it was
// delivered, and then scheduled again by the record ("cannot read queue file").
TEST_CASE("e2e relay: a bounce queued while its retry is recorded is delivered once, quietly",
          "[e2e][relay][slow_disk]") {
    SinkPolicy policy;
    policy.rcpt["jowadev@gmail.com"] = {
        "451 4.3.0 try later", "550 5.1.1 <jowadev@gmail.com>: Recipient address rejected"};
    SmtpSink sink(policy);
    TempDir spool("labmta-slow-bounce");
    FsyncGate gate;
    TestServerOptions options{config_for(sink), spool.path()};
    options.environment = gate.environment(spool.path() + "/defer");
    TestServer server(options);
    const ReleaseAtEnd release(gate);
    const std::string id = relay_message(
        server, "joiakim@domain.local", {"jowadev@gmail.com"}, "Subject: " + unique_marker());
    // The first attempt is recorded (its defer file and folder fsynced) before this line.
    REQUIRE_FALSE(wait_for_log_line(server.process(),
                                    delivery_pattern(id, "jowadev@gmail.com", sink, "deferred"))
                      .empty());

    // The retry bounces; its record queues the bounce, then removes the defer file, and the
    // defer folder's fsync is held.
    gate.hold();
    REQUIRE(gate.wait_until_held());
    CHECK(run_labmta({"flush", "--spool", spool.path()}).exit_code == 0);
    CHECK(wait_for_delivery(server.maildir_new("joiakim"),
                            "Undelivered Mail Returned to Sender",
                            std::chrono::milliseconds(1500))
              .empty());

    gate.release();
    CHECK_FALSE(
        wait_for_delivery(server.maildir_new("joiakim"), "Undelivered Mail Returned to Sender")
            .empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK(list_files(server.maildir_new("joiakim")).size() == 1);
    CHECK_FALSE(wait_for_log_line(server.process(), removed_pattern(id)).empty());
    CHECK(wait_for_log_line(
              server.process(), "cannot read queue file", std::chrono::milliseconds(1000))
              .empty());
}

// A stop lets a running delivery job finish, and its local failures are recorded as at any
// other time (defer file, attempt counted) before the server exits.
TEST_CASE("e2e relay: a local deferral in a delivery job that a stop waits for is recorded",
          "[e2e][relay][slow_disk]") {
    SmtpSink sink;
    TempDir spool("labmta-stop-defer");
    block_students_maildir(spool.path());
    FsyncGate gate;
    gate.hold();
    TestServerOptions options{config_for(sink), spool.path()};
    // teacher's copy is fine; the job is held in the fsync of teacher's new/.
    options.environment = gate.environment("/domain.local/teacher/new");
    TestServer server(options);
    const ReleaseAtEnd release(gate);
    const std::string id = relay_message(server,
                                         "joiakim@domain.local",
                                         {"student@domain.local", "teacher@domain.local"},
                                         "Subject: " + unique_marker());
    REQUIRE(gate.wait_until_held());
    server.process().send_signal(SIGTERM);
    REQUIRE_FALSE(wait_for_log_line(server.process(), "stopping on signal SIGTERM").empty());

    gate.release();
    CHECK(server.process().wait_for_exit() == kCleanExit);
    CHECK(list_files(server.maildir_new("teacher")).size() == 1);
    const std::optional<spool::DeferInfo> defer = spool::read_defer_info(spool.path(), id);
    REQUIRE(defer.has_value());
    CHECK(defer->attempts == 1);
    REQUIRE(defer->recipients.size() == 1);
    CHECK(defer->recipients.front().address == "student@domain.local");
    CHECK(log_lines_matching(
              server.process(),
              ": " + id + R"(: to=<student@domain\.local>, relay=local, .*status=deferred)")
              .size()
          == 1);
}

// A next hop that takes the connection (the kernel completes it) but never greets, so a
// relay attempt stays open until something cuts it.
class SilentPeer {
public:
    SilentPeer() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        auto* generic = reinterpret_cast<sockaddr*>(&address);
        REQUIRE(fd_ >= 0);
        REQUIRE(::bind(fd_, generic, length) == 0);
        REQUIRE(::listen(fd_, 8) == 0);
        REQUIRE(::getsockname(fd_, generic, &length) == 0);
        port_ = ntohs(address.sin_port);
    }
    ~SilentPeer() { ::close(fd_); }
    SilentPeer(const SilentPeer&) = delete;
    SilentPeer& operator=(const SilentPeer&) = delete;

    std::string relayhost() const { return "[127.0.0.1]:" + std::to_string(port_); }
    // True once a client's connection waits to be accepted.
    bool wait_for_client(std::chrono::milliseconds timeout) const {
        pollfd entry{fd_, POLLIN, 0};
        return ::poll(&entry, 1, static_cast<int>(timeout.count())) == 1;
    }

private:
    int fd_;
    unsigned port_ = 0;
};

// README, "Running it": a stop cuts the relay's connections and defers their recipients,
// recorded before the server exits.
TEST_CASE("e2e relay: a stop cuts a relay attempt and records its recipient as deferred",
          "[e2e][relay]") {
    SilentPeer peer;
    OutboundConfig outbound;
    outbound.relayhost = peer.relayhost();
    TempDir spool("labmta-stop-relay");
    TestServer server({make_outbound_config_yaml(outbound), spool.path()});
    const std::string id = relay_message(
        server, "joiakim@domain.local", {"jowadev@gmail.com"}, "Subject: " + unique_marker());
    REQUIRE(peer.wait_for_client(kRetryWait));

    server.process().send_signal(SIGTERM);
    CHECK(server.process().wait_for_exit() == kCleanExit);
    CHECK(log_lines_matching(server.process(),
                             ": " + id
                                 + R"(: to=<jowadev@gmail\.com>, .*status=deferred \(.*mail )"
                                   R"(system is shutting down)")
              .size()
          == 1);
    const std::optional<spool::DeferInfo> defer = spool::read_defer_info(spool.path(), id);
    REQUIRE(defer.has_value());
    CHECK(defer->attempts == 1);
    REQUIRE(defer->recipients.size() == 1);
    CHECK(defer->recipients.front().address == "jowadev@gmail.com");
    CHECK(list_files(spool.path() + "/incoming") == std::vector<std::string>{id});
}

}  // namespace
}  // namespace labmta::test
