// Abuse and limits: each test uses a small config with one limit lowered, checks the exact
// reply, and ends by showing that a fresh normal message still goes through.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <chrono>

namespace labmta::test {
namespace {

// A session past HELO.
SmtpClient open_session(TestServer& server) {
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("HELO limits.example") == "250 profbox.domain.local");
    return client;
}

}  // namespace

TEST_CASE("e2e: a message over message_size is 552 5.3.4 and the session goes on", "[e2e]") {
    TestServer server(options_with({{"message_size", "1000"}}));
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    const std::string ehlo = client.ask("EHLO big.example");
    CHECK(ehlo.find("\n250-SIZE 1000\n") != std::string::npos);
    REQUIRE(client.ask("MAIL FROM:<big@domain.local>") == "250 2.1.0 Ok");
    REQUIRE(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
    REQUIRE(client.ask("DATA") == "354 End data with <CR><LF>.<CR><LF>");
    std::string data = "Subject: too big\r\n\r\n";
    for (int i = 0; i < 40; ++i) {
        data += std::string(98, 'x') + "\r\n";
    }
    client.send(data);
    CHECK(client.ask(".") == "552 5.3.4 Error: message file too big");

    const std::string marker = unique_marker();
    send_message(client, "small@domain.local", {"student@domain.local"}, "Subject: " + marker);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    CHECK_FALSE(wait_for_delivery(server.maildir_new("student"), marker).empty());
    CHECK(list_files(server.maildir_new("student")).size() == 1);
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: MAIL FROM with SIZE= over the limit is 552 5.3.4", "[e2e]") {
    TestServer server(options_with({{"message_size", "1000"}}));
    SmtpClient client = open_session(server);
    CHECK(client.ask("MAIL FROM:<big@domain.local> SIZE=5000")
          == "552 5.3.4 Message size exceeds fixed limit");
    CHECK(client.ask("MAIL FROM:<small@domain.local> SIZE=500") == "250 2.1.0 Ok");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: a 3000-byte command line is 500 5.5.2 command too long", "[e2e]") {
    TestServer server(options_with({{"line_length", "2048"}}));
    SmtpClient client = open_session(server);
    const std::string line = "MAIL FROM:<" + std::string(2975, 'a') + "@domain.local>";
    REQUIRE(line.size() >= 3000);
    CHECK(client.ask(line) == "500 5.5.2 profbox.domain.local Error: command too long");
    // One reply for the whole line: the next reply is NOOP's.
    CHECK(client.ask("NOOP") == "250 2.0.0 Ok");
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: after limits.errors errors the server says 421 4.7.0 and closes", "[e2e]") {
    TestServer server(options_with({{"errors", "3"}}));
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    CHECK(client.ask("BOGUS1") == "500 5.5.2 Error: command not recognized");
    CHECK(client.ask("BOGUS2") == "500 5.5.2 Error: command not recognized");
    CHECK(client.ask("BOGUS3") == "500 5.5.2 Error: command not recognized");
    // Postfix's smtpd_hard_error_limit: the 421 follows the third error reply unasked.
    CHECK(SmtpClient::join(client.read_reply())
          == "421 4.7.0 profbox.domain.local Error: too many errors");
    CHECK(client.read_until_closed().empty());
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: an idle client gets 421 4.4.2 timeout exceeded and is closed", "[e2e]") {
    TestServer server(options_with({{"timeout", "1"}}));
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("HELO sleepy.example") == "250 profbox.domain.local");
    const auto idle_since = std::chrono::steady_clock::now();
    CHECK(SmtpClient::join(client.read_reply()) == kTimeoutExceeded);
    const auto idle = std::chrono::steady_clock::now() - idle_since;
    CHECK(idle >= std::chrono::milliseconds(900));
    CHECK(client.read_until_closed().empty());
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: a client idle in the middle of DATA also times out", "[e2e]") {
    TestServer server(options_with({{"timeout", "1"}}));
    SmtpClient client = open_session(server);
    REQUIRE(client.ask("MAIL FROM:<slow@domain.local>") == "250 2.1.0 Ok");
    REQUIRE(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
    REQUIRE(client.ask("DATA") == "354 End data with <CR><LF>.<CR><LF>");
    client.send("Subject: never finished\r\n\r\nhalf a message\r\n");
    CHECK(client.read_until_closed() == std::string(kTimeoutExceeded) + "\r\n");
    CHECK(list_files(server.incoming_dir()).empty());
    CHECK(list_files(server.spool() + "/tmp").empty());
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: local_recipients users rejects unknown local parts with 550 5.1.1", "[e2e]") {
    TestServer server(
        TestServerOptions{.config_yaml = make_config_yaml({}, "users"), .spool_dir = ""});
    SmtpClient client = open_session(server);
    REQUIRE(client.ask("MAIL FROM:<joiakim@domain.local>") == "250 2.1.0 Ok");
    CHECK(client.ask("RCPT TO:<nobody@domain.local>")
          == "550 5.1.1 <nobody@domain.local>: Recipient address rejected: User unknown in "
             "local recipient table");
    CHECK(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: recipients beyond limits.recipients get 452 4.5.3", "[e2e]") {
    TestServer server(options_with({{"recipients", "2"}}));
    SmtpClient client = open_session(server);
    REQUIRE(client.ask("MAIL FROM:<many@domain.local>") == "250 2.1.0 Ok");
    CHECK(client.ask("RCPT TO:<a@domain.local>") == "250 2.1.5 Ok");
    CHECK(client.ask("RCPT TO:<b@domain.local>") == "250 2.1.5 Ok");
    CHECK(client.ask("RCPT TO:<c@domain.local>") == "452 4.5.3 Error: too many recipients");
    CHECK(client.ask("RSET") == "250 2.0.0 Ok");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: connections beyond connections_per_client get 421 and are closed", "[e2e]") {
    TestServer server(options_with({{"connections_per_client", "2"}}));
    std::vector<SmtpClient> clients;
    for (int i = 0; i < 2; ++i) {
        clients.push_back(server.connect());
        REQUIRE(clients.back().read_greeting() == kGreeting);
    }
    {
        SmtpClient third = server.connect();
        CHECK(third.read_until_closed()
              == "421 4.7.0 profbox.domain.local Error: too many connections from 127.0.0.1\r\n");
    }
    CHECK(clients[0].ask("QUIT") == "221 2.0.0 Bye");
    CHECK(clients[0].read_until_closed().empty());
    // A slot is free again once the server has seen the close.
    const bool accepted = wait_until(
        [&] {
            try {
                SmtpClient next = server.connect();
                return next.read_greeting() == kGreeting;
            } catch (const SmtpClientError&) {
                return false;  // refused or closed while the old session was still counted
            }
        },
        kDeliveryWait);
    CHECK(accepted);
    CHECK(clients[1].ask("NOOP") == "250 2.0.0 Ok");
    CHECK(clients[1].ask("QUIT") == "221 2.0.0 Bye");
    CHECK(clients[1].read_until_closed().empty());
    CHECK(wait_for_free_connection_slots(server, 2));
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: binary garbage and NUL bytes get replies, not a crash", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    client.send(std::string("\x00\x01\xff\xfe garbage\r\n", 14));
    CHECK(client.read_line().starts_with("5"));
    CHECK(client.ask("NOOP") == "250 2.0.0 Ok");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    CHECK(server.process().is_running());
    check_fresh_message_delivered(server);
}

TEST_CASE("e2e: a client that disconnects in the middle of DATA leaves nothing queued", "[e2e]") {
    TestServer server;
    {
        SmtpClient client = open_session(server);
        REQUIRE(client.ask("MAIL FROM:<gone@domain.local>") == "250 2.1.0 Ok");
        REQUIRE(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
        REQUIRE(client.ask("DATA") == "354 End data with <CR><LF>.<CR><LF>");
        client.send("Subject: cut off\r\n\r\nhalf");
    }
    check_fresh_message_delivered(server);
    CHECK(list_files(server.maildir_new("student")).size() == 1);
    CHECK(list_files(server.spool() + "/tmp").empty());
}

}  // namespace labmta::test
