// How clients write commands: a whole transaction in one write (PIPELINING), commands ending
// in a bare LF (netcat), a session dribbled one byte per write, and a DATA end that only
// <CRLF>.<CRLF> can make (no SMTP smuggling with bare LFs).
#include "tests/e2e/harness.h"
#include "tests/support/dialog.h"

#include <catch2/catch.hpp>

namespace labmta::test {
namespace {

// The EHLO reply as tests/fixtures/ehlo.txt expects it: one list of extensions to keep.
std::vector<std::string> expected_ehlo_reply() {
    const auto exchanges = group_exchanges(load_dialog(fixture_path("ehlo.txt")));
    std::vector<std::string> lines;
    for (const DialogStep& step : exchanges.at(1).expected_lines) {
        lines.push_back(step.text);
    }
    return lines;
}

}  // namespace

TEST_CASE("e2e: a whole transaction in one write gets every reply in order", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    const std::string marker = unique_marker();
    client.send("EHLO pipe.example\r\n"
                "MAIL FROM:<pipe@domain.local>\r\n"
                "RCPT TO:<student@domain.local>\r\n"
                "RCPT TO:<teacher@domain.local>\r\n"
                "DATA\r\n"
                "Subject: pipelined " + marker + "\r\n"
                "\r\n"
                "sent in one write\r\n"
                ".\r\n"
                "QUIT\r\n");
    CHECK(client.read_reply() == expected_ehlo_reply());
    CHECK(client.read_line() == "250 2.1.0 Ok");
    CHECK(client.read_line() == "250 2.1.5 Ok");
    CHECK(client.read_line() == "250 2.1.5 Ok");
    CHECK(client.read_line() == "354 End data with <CR><LF>.<CR><LF>");
    CHECK_FALSE(queue_id_of(client.read_line()).empty());
    CHECK(client.read_line() == "221 2.0.0 Bye");
    CHECK(client.read_until_closed().empty());
    CHECK_FALSE(wait_for_delivery(server.maildir_new("student"), marker).empty());
    CHECK_FALSE(wait_for_delivery(server.maildir_new("teacher"), marker).empty());
}

TEST_CASE("e2e: two pipelined transactions with errors between them keep their order", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    const std::string marker = unique_marker();
    client.send("HELO pipe.example\r\n"
                "NOOP\r\n"
                "MAIL FROM:<one@domain.local>\r\n"
                "RCPT TO:<jowadev@gmail.com>\r\n"
                "RCPT TO:<student@domain.local>\r\n"
                "DATA\r\n"
                "Subject: first " + marker + "\r\n\r\none\r\n.\r\n"
                "BOGUS\r\n"
                "MAIL FROM:<two@domain.local>\r\n"
                "RCPT TO:<student@domain.local>\r\n"
                "RSET\r\n"
                "MAIL FROM:<three@domain.local>\r\n"
                "RCPT TO:<student@domain.local>\r\n"
                "DATA\r\n"
                "Subject: second " + marker + "\r\n\r\ntwo\r\n.\r\n"
                "QUIT\r\n");
    CHECK(client.read_line() == "250 profbox.domain.local");
    CHECK(client.read_line() == "250 2.0.0 Ok");
    CHECK(client.read_line() == "250 2.1.0 Ok");
    CHECK(client.read_line() == "554 5.7.1 <jowadev@gmail.com>: Relay access denied");
    CHECK(client.read_line() == "250 2.1.5 Ok");
    CHECK(client.read_line() == "354 End data with <CR><LF>.<CR><LF>");
    const std::string first_id = queue_id_of(client.read_line());
    CHECK(client.read_line() == "500 5.5.2 Error: command not recognized");
    CHECK(client.read_line() == "250 2.1.0 Ok");
    CHECK(client.read_line() == "250 2.1.5 Ok");
    CHECK(client.read_line() == "250 2.0.0 Ok");
    CHECK(client.read_line() == "250 2.1.0 Ok");
    CHECK(client.read_line() == "250 2.1.5 Ok");
    CHECK(client.read_line() == "354 End data with <CR><LF>.<CR><LF>");
    const std::string second_id = queue_id_of(client.read_line());
    CHECK(client.read_line() == "221 2.0.0 Bye");
    CHECK(client.read_until_closed().empty());
    CHECK_FALSE(first_id.empty());
    CHECK_FALSE(second_id.empty());
    CHECK(first_id != second_id);
    CHECK(wait_for_file_count(server.maildir_new("student"), 2));
}

TEST_CASE("e2e: command lines ending in a bare LF work (netcat style)", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    const std::string marker = unique_marker();
    client.send("HELO netcat\n");
    CHECK(client.read_line() == "250 profbox.domain.local");
    client.send("MAIL FROM: joiakim@domain.local\n");
    CHECK(client.read_line() == "250 2.1.0 Ok");
    client.send("RCPT TO: student@domain.local\n");
    CHECK(client.read_line() == "250 2.1.5 Ok");
    client.send("DATA\n");
    CHECK(client.read_line() == "354 End data with <CR><LF>.<CR><LF>");
    client.send("Subject: netcat " + marker + "\r\n\r\ntyped with nc -C off\r\n.\r\n");
    CHECK_FALSE(queue_id_of(client.read_line()).empty());
    client.send("QUIT\n");
    CHECK(client.read_line() == "221 2.0.0 Bye");
    CHECK_FALSE(wait_for_delivery(server.maildir_new("student"), marker).empty());
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: a session written one byte per write gets the same replies", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    const std::string marker = unique_marker();
    const std::string session = "HELO Joiakim\r\n"
                                "MAIL FROM: joiakim@domain.local\r\n"
                                "RCPT TO: student@domain.local\r\n"
                                "DATA\r\n"
                                "SUBJECT: " + marker + "\r\n\r\nHello,\r\n.\r\n"
                                "QUIT\r\n";
    for (const char byte : session) {
        client.send(std::string_view(&byte, 1));
    }
    CHECK(client.read_line() == "250 profbox.domain.local");
    CHECK(client.read_line() == "250 2.1.0 Ok");
    CHECK(client.read_line() == "250 2.1.5 Ok");
    CHECK(client.read_line() == "354 End data with <CR><LF>.<CR><LF>");
    CHECK_FALSE(queue_id_of(client.read_line()).empty());
    CHECK(client.read_line() == "221 2.0.0 Bye");
    CHECK_FALSE(wait_for_delivery(server.maildir_new("student"), marker).empty());
}

TEST_CASE("e2e: only <CRLF>.<CRLF> ends DATA, so bare-LF dots smuggle no commands", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("HELO smuggler") == "250 profbox.domain.local");
    REQUIRE(client.ask("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok");
    REQUIRE(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
    REQUIRE(client.ask("DATA") == "354 End data with <CR><LF>.<CR><LF>");
    const std::string marker = unique_marker();
    client.send("Subject: smuggling " + marker + "\r\n\r\n"
                "before\n.\nMAIL FROM:<evil1@domain.local>\r\n"
                "middle\r\n.\nMAIL FROM:<evil2@domain.local>\r\n"
                "later\n.\r\nMAIL FROM:<evil3@domain.local>\r\n"
                "after\r\n.\r\n");
    CHECK_FALSE(queue_id_of(SmtpClient::join(client.read_reply())).empty());
    // The next reply must be NOOP's: nothing inside the message ran as a command.
    CHECK(client.ask("NOOP") == "250 2.0.0 Ok");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    const std::string text = wait_for_delivery(server.maildir_new("student"), marker);
    CHECK(text.find("after") != std::string::npos);
    CHECK(text.find("evil3") != std::string::npos);
    CHECK(list_files(server.maildir_new("student")).size() == 1);
    check_fresh_message_delivered(server);
}

}  // namespace labmta::test
