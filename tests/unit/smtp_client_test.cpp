// The SMTP client state machine, reply by reply: the exact bytes it writes after each server
// reply and the exact outcome of every recipient, for each behaviour and for garbage input.
#include "server/protocol/smtp_client.h"

#include <catch2/catch.hpp>

#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using labmta::protocol::ClientJob;
using labmta::protocol::OutcomeStatus;
using labmta::protocol::RecipientOutcome;
using labmta::protocol::SmtpClientSession;

// The message of the lab session, as queued (LF line ends), and as it goes on the wire.
const std::string kLabMessage =
    "Message-ID: <819ih78s78988752fZTGFU@domain.local>\nThis is the body message !\n";
const std::string kLabWire =
    "Message-ID: <819ih78s78988752fZTGFU@domain.local>\r\nThis is the body message !\r\n.\r\n";
constexpr std::size_t kLabWireBytes = 79;  // kLabWire without the final ".\r\n"

const std::string kMailFrom = "MAIL FROM:<dasek.joiakim@gmail.com>\r\n";
const std::string kRcptJowadev = "RCPT TO:<jowadev@gmail.com>\r\n";
const std::string kRcptDavid = "RCPT TO:<david.backoffice@gmail.com>\r\n";

const std::initializer_list<std::string_view> kEhloPlain = {
    "250-mx.example.test", "250-ENHANCEDSTATUSCODES", "250 DSN"};
const std::initializer_list<std::string_view> kEhloPipelining = {
    "250-mx.example.test", "250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250 DSN"};

ClientJob lab_job(std::vector<std::string> recipients = {"jowadev@gmail.com",
                                                         "david.backoffice@gmail.com"},
                  std::string message = kLabMessage) {
    return ClientJob{"profbox.domain.local",
                     "dasek.joiakim@gmail.com",
                     std::move(recipients),
                     std::move(message)};
}

// A client and the server's side of the dialog: reply() feeds lines, returns what was written.
struct Dialog {
    SmtpClientSession client;

    explicit Dialog(ClientJob job = lab_job()) : client(std::move(job)) {}

    std::string reply(std::initializer_list<std::string_view> lines) {
        for (const std::string_view line : lines) {
            client.on_reply_line(line);
        }
        return client.take_output();
    }
    std::string reply(std::string_view line) { return reply({line}); }

    // Greeting and EHLO done, the MAIL command (and with PIPELINING its group) returned.
    std::string start(std::initializer_list<std::string_view> ehlo = kEhloPlain) {
        REQUIRE(reply("220 mx.example.test ESMTP Postfix") == "EHLO profbox.domain.local\r\n");
        return reply(ehlo);
    }
};

std::string describe(const RecipientOutcome& outcome) {
    const char* status = outcome.status == OutcomeStatus::Sent      ? "sent"
                         : outcome.status == OutcomeStatus::Bounced ? "bounced"
                                                                    : "deferred";
    return outcome.recipient + " " + status + " " + outcome.dsn + " (" + outcome.reply + ")";
}

std::vector<std::string> outcomes_of(const SmtpClientSession& client) {
    std::vector<std::string> described;
    for (const RecipientOutcome& outcome : client.outcomes()) {
        described.push_back(describe(outcome));
    }
    return described;
}

using Outcomes = std::vector<std::string>;

// After MAIL FROM was sent without PIPELINING: each reply brings the next command, and the
// message is sent to both recipients.
void check_plain_transaction_sent(Dialog& d) {
    CHECK(d.reply("250 2.1.0 Ok") == kRcptJowadev);
    CHECK(d.reply("250 2.1.5 Ok") == kRcptDavid);
    CHECK(d.reply("250 2.1.5 Ok") == "DATA\r\n");
    CHECK(d.reply("354 End data with <CR><LF>.<CR><LF>") == kLabWire);
    CHECK_FALSE(d.client.is_done());
    CHECK(d.reply("250 2.0.0 Ok: queued as 4F2A1B") == "QUIT\r\n");
    CHECK(d.client.is_done());
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com sent 2.0.0 (250 2.0.0 Ok: queued as 4F2A1B)",
                      "david.backoffice@gmail.com sent 2.0.0 (250 2.0.0 Ok: queued as 4F2A1B)"});
}

}  // namespace

TEST_CASE("smtp_client: nothing is written before the greeting", "[smtp_client]") {
    Dialog d;
    CHECK(d.client.take_output().empty());
    CHECK_FALSE(d.client.is_done());
}

TEST_CASE("smtp_client: full dialog without PIPELINING waits for each reply", "[smtp_client]") {
    Dialog d;
    CHECK(d.reply("220 mx.example.test ESMTP Postfix") == "EHLO profbox.domain.local\r\n");
    CHECK(d.reply(kEhloPlain) == kMailFrom);
    check_plain_transaction_sent(d);
}

TEST_CASE("smtp_client: full pipelined dialog sends MAIL, RCPTs and DATA in one output",
          "[smtp_client]") {
    Dialog d;
    CHECK(d.start(kEhloPipelining) == kMailFrom + kRcptJowadev + kRcptDavid + "DATA\r\n");
    CHECK(d.reply("250 2.1.0 Ok").empty());
    CHECK(d.reply("250 2.1.5 Ok").empty());
    CHECK(d.reply("250 2.1.5 Ok").empty());
    CHECK(d.reply("354 End data with <CR><LF>.<CR><LF>") == kLabWire);
    CHECK(d.reply("250 2.0.0 Ok: queued as 4F2A1B") == "QUIT\r\n");
    CHECK(d.client.is_done());
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com sent 2.0.0 (250 2.0.0 Ok: queued as 4F2A1B)",
                      "david.backoffice@gmail.com sent 2.0.0 (250 2.0.0 Ok: queued as 4F2A1B)"});
}

TEST_CASE("smtp_client: pipelined replies arriving together are matched in order",
          "[smtp_client]") {
    Dialog d;
    d.start(kEhloPipelining);
    CHECK(d.reply({"250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 go ahead"}) == kLabWire);
    CHECK(d.reply("250 2.0.0 Ok") == "QUIT\r\n");
}

TEST_CASE("smtp_client: HELO fallback after 502 command not recognized", "[smtp_client]") {
    Dialog d;
    CHECK(d.reply("220 old.example.test SMTP") == "EHLO profbox.domain.local\r\n");
    CHECK(d.reply("502 5.5.2 Error: command not recognized") == "HELO profbox.domain.local\r\n");
    // No extensions after HELO: no SIZE=, and one command per reply.
    CHECK(d.reply("250 old.example.test") == kMailFrom);
    CHECK(d.reply("250 Ok") == kRcptJowadev);
    CHECK(d.reply("250 Ok") == kRcptDavid);
    CHECK(d.reply("250 Ok") == "DATA\r\n");
    CHECK(d.reply("354 go ahead") == kLabWire);
    CHECK(d.reply("250 Ok") == "QUIT\r\n");
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com sent 2.0.0 (250 Ok)",
                      "david.backoffice@gmail.com sent 2.0.0 (250 Ok)"});
}

TEST_CASE("smtp_client: EHLO 4xx defers and HELO 5xx bounces everyone", "[smtp_client]") {
    SECTION("EHLO 421") {
        Dialog d;
        d.reply("220 mx.example.test ESMTP");
        CHECK(d.reply("421 4.7.0 mx.example.test Error: too many errors") == "QUIT\r\n");
        CHECK(d.client.is_done());
        CHECK(outcomes_of(d.client)[0]
              == "jowadev@gmail.com deferred 4.7.0 "
                 "(421 4.7.0 mx.example.test Error: too many errors)");
    }
    SECTION("HELO 550 after EHLO 500") {
        Dialog d;
        d.reply("220 mx.example.test ESMTP");
        CHECK(d.reply("500 unrecognized command") == "HELO profbox.domain.local\r\n");
        CHECK(d.reply("550 go away") == "QUIT\r\n");
        CHECK(d.client.is_done());
        CHECK(outcomes_of(d.client)
              == Outcomes{"jowadev@gmail.com bounced 5.0.0 (550 go away)",
                          "david.backoffice@gmail.com bounced 5.0.0 (550 go away)"});
    }
}

TEST_CASE("smtp_client: multi-line replies are assembled across on_reply_line calls",
          "[smtp_client]") {
    Dialog d;
    CHECK(d.reply("220-mx.example.test ESMTP").empty());
    CHECK(d.reply("220 welcome") == "EHLO profbox.domain.local\r\n");
    CHECK(d.reply("250-mx.example.test").empty());
    CHECK(d.reply("250-pipelining").empty());  // keywords are case-insensitive
    CHECK(d.reply("250-Size 5000").empty());
    CHECK(d.reply("250-VRFY").empty());
    CHECK(d.reply("250 8bitmime")
          == "MAIL FROM:<dasek.joiakim@gmail.com> SIZE=79\r\n" + kRcptJowadev + kRcptDavid
                 + "DATA\r\n");
}

TEST_CASE("smtp_client: message larger than SIZE bounces everyone without MAIL", "[smtp_client]") {
    Dialog d;
    CHECK(d.start({"250-mx.example.test", "250-PIPELINING", "250 SIZE 78"}) == "QUIT\r\n");
    CHECK(d.client.is_done());
    CHECK(outcomes_of(d.client)
          == Outcomes{
              "jowadev@gmail.com bounced 5.3.4 (message size exceeds server limit)",
              "david.backoffice@gmail.com bounced 5.3.4 (message size exceeds server limit)"});
}

TEST_CASE("smtp_client: message of exactly SIZE bytes is sent", "[smtp_client]") {
    Dialog d;
    CHECK(d.start({"250-mx.example.test", "250 SIZE " + std::to_string(kLabWireBytes)})
          == "MAIL FROM:<dasek.joiakim@gmail.com> SIZE=79\r\n");
}

TEST_CASE("smtp_client: SIZE= counts wire bytes and BODY=8BITMIME marks 8-bit text",
          "[smtp_client]") {
    // 43 bytes on the wire: CRLF line ends, the stuffed dot, UTF-8 "é" and "à" of 2 bytes.
    const std::string message = "Subject: Caf\xc3\xa9\n\nD\xc3\xa9j\xc3\xa0 vu.\n.signature\n";
    const std::string wire =
        "Subject: Caf\xc3\xa9\r\n\r\nD\xc3\xa9j\xc3\xa0 vu.\r\n..signature\r\n.\r\n";
    SECTION("SIZE and 8BITMIME advertised, 8-bit message") {
        Dialog d(lab_job({"jowadev@gmail.com"}, message));
        CHECK(d.start({"250-mx.example.test", "250-SIZE 10240000", "250 8BITMIME"})
              == "MAIL FROM:<dasek.joiakim@gmail.com> SIZE=43 BODY=8BITMIME\r\n");
        d.reply("250 2.1.0 Ok");
        d.reply("250 2.1.5 Ok");
        CHECK(d.reply("354 go ahead") == wire);
    }
    SECTION("SIZE without a limit is still declared") {
        Dialog d;
        CHECK(d.start({"250-mx.example.test", "250-SIZE", "250 8BITMIME"})
              == "MAIL FROM:<dasek.joiakim@gmail.com> SIZE=79\r\n");
    }
    SECTION("7-bit message: no BODY=") {
        Dialog d;
        CHECK(d.start({"250-mx.example.test", "250 8BITMIME"}) == kMailFrom);
    }
    SECTION("8-bit message without 8BITMIME: no BODY=, sent as it is") {
        Dialog d(lab_job({"jowadev@gmail.com"}, message));
        CHECK(d.start(kEhloPlain) == kMailFrom);
        d.reply("250 2.1.0 Ok");
        d.reply("250 2.1.5 Ok");
        CHECK(d.reply("354 go ahead") == wire);
    }
}

TEST_CASE("smtp_client: null sender is MAIL FROM:<>", "[smtp_client]") {
    ClientJob job = lab_job();
    job.sender = "";
    Dialog d(std::move(job));
    CHECK(d.start() == "MAIL FROM:<>\r\n");
}

TEST_CASE("smtp_client: RCPT 250/450/550 mix settles each recipient", "[smtp_client]") {
    Dialog d(lab_job({"a@example.test", "b@example.test", "c@example.test"}));
    d.start();
    CHECK(d.reply("250 2.1.0 Ok") == "RCPT TO:<a@example.test>\r\n");
    CHECK(d.reply("250 2.1.5 Ok") == "RCPT TO:<b@example.test>\r\n");
    CHECK(d.reply("450 4.2.0 <b@example.test>: Recipient address rejected: Greylisted")
          == "RCPT TO:<c@example.test>\r\n");
    CHECK(d.reply("550 5.1.1 <c@example.test>: Recipient address rejected: User unknown")
          == "DATA\r\n");
    CHECK(d.reply("354 go ahead") == kLabWire);
    CHECK(d.reply("250 2.0.0 Ok: queued as 9B1C") == "QUIT\r\n");
    CHECK(outcomes_of(d.client)
          == Outcomes{"a@example.test sent 2.0.0 (250 2.0.0 Ok: queued as 9B1C)",
                      "b@example.test deferred 4.2.0 (450 4.2.0 <b@example.test>: Recipient "
                      "address rejected: Greylisted)",
                      "c@example.test bounced 5.1.1 (550 5.1.1 <c@example.test>: Recipient "
                      "address rejected: User unknown)"});
}

TEST_CASE("smtp_client: pipelined RCPT rejection bounces only that recipient", "[smtp_client]") {
    Dialog d;
    d.start(kEhloPipelining);
    CHECK(d.reply({"250 2.1.0 Ok",
                   "550 5.1.1 <jowadev@gmail.com>: Recipient address rejected",
                   "250 2.1.5 Ok",
                   "354 End data with <CR><LF>.<CR><LF>"})
          == kLabWire);
    CHECK(d.reply("250 2.0.0 Ok: queued as 77AA") == "QUIT\r\n");
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com bounced 5.1.1 (550 5.1.1 <jowadev@gmail.com>: "
                      "Recipient address rejected)",
                      "david.backoffice@gmail.com sent 2.0.0 (250 2.0.0 Ok: queued as 77AA)"});
}

TEST_CASE("smtp_client: no recipient accepted ends with QUIT, never DATA", "[smtp_client]") {
    Dialog d;
    d.start();
    d.reply("250 2.1.0 Ok");
    CHECK(d.reply("550 5.1.1 no such user") == kRcptDavid);
    CHECK(d.reply("451 4.3.0 try later") == "QUIT\r\n");
    CHECK(d.client.is_done());
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com bounced 5.1.1 (550 5.1.1 no such user)",
                      "david.backoffice@gmail.com deferred 4.3.0 (451 4.3.0 try later)"});
}

TEST_CASE("smtp_client: pipelined group with no recipient accepted consumes the DATA refusal",
          "[smtp_client]") {
    Dialog d;
    d.start(kEhloPipelining);
    CHECK(d.reply({"250 2.1.0 Ok", "550 5.1.1 no such user", "550 5.1.1 no such user"}).empty());
    CHECK_FALSE(d.client.is_done());
    CHECK(d.reply("554 5.5.1 Error: no valid recipients") == "QUIT\r\n");
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com bounced 5.1.1 (550 5.1.1 no such user)",
                      "david.backoffice@gmail.com bounced 5.1.1 (550 5.1.1 no such user)"});
}

TEST_CASE("smtp_client: 354 with no recipient accepted sends only the end-of-data dot",
          "[smtp_client]") {
    Dialog d;
    d.start(kEhloPipelining);
    CHECK(d.reply({"250 2.1.0 Ok", "450 4.2.0 later", "450 4.2.0 later", "354 go ahead"})
          == ".\r\n");
    CHECK(d.reply("250 2.0.0 Ok: queued as nothing") == "QUIT\r\n");
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com deferred 4.2.0 (450 4.2.0 later)",
                      "david.backoffice@gmail.com deferred 4.2.0 (450 4.2.0 later)"});
}

TEST_CASE("smtp_client: MAIL rejected with 451 defers and with 553 bounces everyone",
          "[smtp_client]") {
    SECTION("451 without PIPELINING") {
        Dialog d;
        d.start();
        CHECK(d.reply("451 4.3.0 Error: queue file write error") == "QUIT\r\n");
        CHECK(outcomes_of(d.client)
              == Outcomes{"jowadev@gmail.com deferred 4.3.0 (451 4.3.0 Error: queue file write "
                          "error)",
                          "david.backoffice@gmail.com deferred 4.3.0 (451 4.3.0 Error: queue "
                          "file write error)"});
    }
    SECTION("553 without PIPELINING") {
        Dialog d;
        d.start();
        CHECK(d.reply("553 5.7.1 <dasek.joiakim@gmail.com>: Sender address rejected")
              == "QUIT\r\n");
        CHECK(outcomes_of(d.client)[1]
              == "david.backoffice@gmail.com bounced 5.7.1 (553 5.7.1 "
                 "<dasek.joiakim@gmail.com>: Sender address rejected)");
    }
}

TEST_CASE("smtp_client: pipelined MAIL rejection consumes the RCPT and DATA replies",
          "[smtp_client]") {
    Dialog d;
    d.start(kEhloPipelining);
    CHECK(d.reply("553 5.7.1 Sender address rejected").empty());
    // A 250 here answers a RCPT of the refused transaction: it must not count as accepted.
    CHECK(d.reply({"503 5.5.1 Error: need MAIL command", "250 2.1.5 Ok"}).empty());
    CHECK_FALSE(d.client.is_done());
    CHECK(d.reply("503 5.5.1 Error: need RCPT command") == "QUIT\r\n");
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com bounced 5.7.1 (553 5.7.1 Sender address rejected)",
                      "david.backoffice@gmail.com bounced 5.7.1 (553 5.7.1 Sender address "
                      "rejected)"});
}

TEST_CASE("smtp_client: final reply 451 defers and 554 bounces the accepted recipients",
          "[smtp_client]") {
    const auto run = [](std::string_view final_reply) {
        Dialog d;
        d.start(kEhloPipelining);
        d.reply({"250 2.1.0 Ok", "250 2.1.5 Ok", "550 5.1.1 unknown", "354 go ahead"});
        CHECK(d.reply(final_reply) == "QUIT\r\n");
        CHECK(d.client.is_done());
        return outcomes_of(d.client);
    };
    CHECK(run("451 4.3.0 Error: queue file write error")
          == Outcomes{"jowadev@gmail.com deferred 4.3.0 (451 4.3.0 Error: queue file write "
                      "error)",
                      "david.backoffice@gmail.com bounced 5.1.1 (550 5.1.1 unknown)"});
    CHECK(run("554 5.7.1 Message rejected: spam")
          == Outcomes{"jowadev@gmail.com bounced 5.7.1 (554 5.7.1 Message rejected: spam)",
                      "david.backoffice@gmail.com bounced 5.1.1 (550 5.1.1 unknown)"});
}

TEST_CASE("smtp_client: DATA refused settles the accepted recipients", "[smtp_client]") {
    Dialog d(lab_job({"jowadev@gmail.com"}));
    d.start();
    d.reply("250 2.1.0 Ok");
    CHECK(d.reply("250 2.1.5 Ok") == "DATA\r\n");
    CHECK(d.reply("451 4.3.0 try again") == "QUIT\r\n");
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com deferred 4.3.0 (451 4.3.0 try again)"});
}

TEST_CASE("smtp_client: dsn is derived from the reply code without an enhanced status code",
          "[smtp_client]") {
    Dialog d(lab_job({"a@example.test", "b@example.test", "c@example.test"}));
    d.start(kEhloPipelining);
    CHECK(d.reply({"250 Ok", "250 Ok", "450 mailbox busy", "550 9.9 not a status code", "354 go"})
          == kLabWire);
    d.reply("250 queued");
    CHECK(outcomes_of(d.client)
          == Outcomes{"a@example.test sent 2.0.0 (250 queued)",
                      "b@example.test deferred 4.0.0 (450 mailbox busy)",
                      "c@example.test bounced 5.0.0 (550 9.9 not a status code)"});
}

TEST_CASE("smtp_client: multi-line reply text is the lines joined by a space", "[smtp_client]") {
    Dialog d(lab_job({"jowadev@gmail.com"}));
    d.start();
    d.reply("250 2.1.0 Ok");
    CHECK(d.reply({"550-5.1.1 The email account that you tried to reach does not exist.",
                   "550 5.1.1 Please try double-checking the recipient's email address."})
          == "QUIT\r\n");
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com bounced 5.1.1 (550-5.1.1 The email account that you "
                      "tried to reach does not exist. 550 5.1.1 Please try double-checking the "
                      "recipient's email address.)"});
}

TEST_CASE("smtp_client: dot-stuffing and LF to CRLF", "[smtp_client]") {
    Dialog d(lab_job({"jowadev@gmail.com"}, ".hidden\n..\n.\nmid.dot\nbare\rcr\n\n.\n"));
    d.start();
    d.reply("250 2.1.0 Ok");
    d.reply("250 2.1.5 Ok");
    CHECK(d.reply("354 go ahead")
          == "..hidden\r\n...\r\n..\r\nmid.dot\r\nbare\rcr\r\n\r\n..\r\n.\r\n");
}

TEST_CASE("smtp_client: message without a trailing LF gets CRLF before the dot", "[smtp_client]") {
    SECTION("last line without LF") {
        Dialog d(lab_job({"jowadev@gmail.com"}, "Subject: x\n\nlast line"));
        d.start();
        d.reply({"250 2.1.0 Ok", "250 2.1.5 Ok"});
        CHECK(d.reply("354 go ahead") == "Subject: x\r\n\r\nlast line\r\n.\r\n");
    }
    SECTION("last line is a lone dot without LF") {
        Dialog d(lab_job({"jowadev@gmail.com"}, "a\n."));
        d.start();
        d.reply({"250 2.1.0 Ok", "250 2.1.5 Ok"});
        CHECK(d.reply("354 go ahead") == "a\r\n..\r\n.\r\n");
    }
    SECTION("empty message") {
        Dialog d(lab_job({"jowadev@gmail.com"}, ""));
        d.start();
        d.reply({"250 2.1.0 Ok", "250 2.1.5 Ok"});
        CHECK(d.reply("354 go ahead") == ".\r\n");
    }
}

TEST_CASE("smtp_client: a 4xx or 5xx greeting defers everyone, a 5xx one as a 4xx (Postfix)",
          "[smtp_client]") {
    SECTION("421") {
        Dialog d;
        CHECK(d.reply("421 4.3.2 Service shutting down") == "QUIT\r\n");
        CHECK(d.client.is_done());
        CHECK(d.client.greeting_refused());
        CHECK(outcomes_of(d.client)
              == Outcomes{"jowadev@gmail.com deferred 4.3.2 (421 4.3.2 Service shutting down)",
                          "david.backoffice@gmail.com deferred 4.3.2 (421 4.3.2 Service "
                          "shutting down)"});
    }
    SECTION("554 with an enhanced status code") {
        Dialog d;
        CHECK(d.reply("554 5.7.1 No SMTP service here") == "QUIT\r\n");
        CHECK(d.client.greeting_refused());
        CHECK(outcomes_of(d.client)[0]
              == "jowadev@gmail.com deferred 4.7.1 (554 5.7.1 No SMTP service here)");
    }
    SECTION("554 without one") {
        Dialog d;
        CHECK(d.reply({"554-mx.example.test", "554 No SMTP service here"}) == "QUIT\r\n");
        CHECK(outcomes_of(d.client)[0]
              == "jowadev@gmail.com deferred 4.0.0 (554-mx.example.test 554 No SMTP service "
                 "here)");
    }
    SECTION("a refusal later in the dialog is not a refused greeting") {
        Dialog d;
        d.start();
        CHECK(d.reply("421 4.4.2 closing") == "QUIT\r\n");
        CHECK_FALSE(d.client.greeting_refused());
    }
}

TEST_CASE("smtp_client: start_over runs the whole dialog again with the next server",
          "[smtp_client]") {
    Dialog d;
    REQUIRE(d.reply("554 5.7.1 No SMTP service here") == "QUIT\r\n");
    d.client.start_over();
    CHECK_FALSE(d.client.is_done());
    CHECK_FALSE(d.client.greeting_refused());
    CHECK(d.client.take_output().empty());
    CHECK(d.start() == kMailFrom);
    check_plain_transaction_sent(d);
}

TEST_CASE("smtp_client: malformed reply defers everyone with 4.4.0", "[smtp_client]") {
    const auto run = [](std::initializer_list<std::string_view> lines) {
        Dialog d;
        d.reply("220 mx.example.test ESMTP");
        CHECK(d.reply(lines) == "QUIT\r\n");
        CHECK(d.client.is_done());
        return outcomes_of(d.client);
    };
    CHECK(run({"hello there"})
          == Outcomes{"jowadev@gmail.com deferred 4.4.0 (malformed reply: \"hello there\")",
                      "david.backoffice@gmail.com deferred 4.4.0 (malformed reply: \"hello "
                      "there\")"});
    CHECK(run({"25"})[0] == "jowadev@gmail.com deferred 4.4.0 (malformed reply: \"25\")");
    CHECK(run({""})[0] == "jowadev@gmail.com deferred 4.4.0 (malformed reply: \"\")");
    CHECK(run({"250_mx.example.test"})[0]
          == "jowadev@gmail.com deferred 4.4.0 (malformed reply: \"250_mx.example.test\")");
    CHECK(run({"2500 ok"})[0] == "jowadev@gmail.com deferred 4.4.0 (malformed reply: \"2500 ok\")");
    CHECK(run({"600 ok"})[0] == "jowadev@gmail.com deferred 4.4.0 (malformed reply: \"600 ok\")");
    CHECK(run({"250-mx.example.test", "251 PIPELINING"})[0]
          == "jowadev@gmail.com deferred 4.4.0 (malformed reply: \"251 PIPELINING\")");
}

TEST_CASE("smtp_client: control bytes in replies are made printable", "[smtp_client]") {
    Dialog d(lab_job({"jowadev@gmail.com"}));
    CHECK(d.reply("220 mx\x01\x7f") == "EHLO profbox.domain.local\r\n");
    CHECK(d.reply("bad\x1b[31m") == "QUIT\r\n");
    CHECK(outcomes_of(d.client)[0]
          == "jowadev@gmail.com deferred 4.4.0 (malformed reply: \"bad?[31m\")");
}

TEST_CASE("smtp_client: on_failure mid-DATA defers the recipients without an outcome",
          "[smtp_client]") {
    Dialog d;
    d.start(kEhloPipelining);
    CHECK(d.reply({"250 2.1.0 Ok", "550 5.1.1 unknown", "250 2.1.5 Ok", "354 go ahead"})
          == kLabWire);
    d.client.on_failure(
        "lost connection with mx.example.test[192.0.2.1] while sending end of "
        "data -- message may be sent more than once");
    CHECK(d.client.is_done());
    CHECK(d.client.take_output().empty());
    CHECK(outcomes_of(d.client)
          == Outcomes{"jowadev@gmail.com bounced 5.1.1 (550 5.1.1 unknown)",
                      "david.backoffice@gmail.com deferred 4.4.2 (lost connection with "
                      "mx.example.test[192.0.2.1] while sending end of data -- message may be "
                      "sent more than once)"});
}

TEST_CASE("smtp_client: a connection lost before the greeting defers everyone with 4.4.2",
          "[smtp_client]") {
    Dialog d;
    d.client.on_failure(
        "lost connection with mx.example.test[192.0.2.1] while receiving the "
        "initial server greeting");
    CHECK(d.client.is_done());
    CHECK(d.client.take_output().empty());
    CHECK(outcomes_of(d.client)[1]
          == "david.backoffice@gmail.com deferred 4.4.2 (lost connection with "
             "mx.example.test[192.0.2.1] while receiving the initial server greeting)");
}

TEST_CASE("smtp_client: no connection at all defers everyone with 4.4.1, as Postfix",
          "[smtp_client]") {
    Dialog d;
    d.client.on_connect_failure("connect to mx.example.test[192.0.2.1]:25: Connection refused");
    CHECK(d.client.is_done());
    CHECK(d.client.take_output().empty());
    CHECK(outcomes_of(d.client)[0]
          == "jowadev@gmail.com deferred 4.4.1 (connect to "
             "mx.example.test[192.0.2.1]:25: Connection refused)");
    CHECK(outcomes_of(d.client)[1]
          == "david.backoffice@gmail.com deferred 4.4.1 (connect to "
             "mx.example.test[192.0.2.1]:25: Connection refused)");
}

TEST_CASE("smtp_client: replies and failures after done are ignored", "[smtp_client]") {
    Dialog d;
    d.start();
    d.reply({"250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 go ahead"});
    REQUIRE(d.reply("250 2.0.0 Ok: queued as 1A") == "QUIT\r\n");
    const Outcomes sent = outcomes_of(d.client);
    CHECK(d.reply({"221 2.0.0 Bye", "250 2.0.0 Ok", "550 5.0.0 no", "garbage", "354 go"}).empty());
    d.client.on_failure("lost connection with mx.example.test[192.0.2.1] after QUIT");
    CHECK(d.client.take_output().empty());
    CHECK(d.client.is_done());
    CHECK(outcomes_of(d.client) == sent);
}

TEST_CASE("smtp_client: job without recipients only says QUIT", "[smtp_client]") {
    Dialog d(lab_job({}));
    CHECK(d.start() == "QUIT\r\n");
    CHECK(d.client.is_done());
    CHECK(d.client.outcomes().empty());
}

TEST_CASE("smtp_client: huge reply lines are kept bounded", "[smtp_client]") {
    Dialog d(lab_job({"jowadev@gmail.com"}));
    CHECK(d.reply("220 " + std::string(1 << 20, 'x')) == "EHLO profbox.domain.local\r\n");
    for (int i = 0; i < 1000; ++i) {
        CHECK(d.reply("250-" + std::string(2000, 'k')).empty());
    }
    CHECK(d.reply("250 PIPELINING") == kMailFrom);  // past the stored part: not seen
    d.reply("250 2.1.0 Ok");
    CHECK(d.reply("550 " + std::string(1 << 20, 'r')) == "QUIT\r\n");
    REQUIRE(d.client.outcomes().size() == 1);
    CHECK(d.client.outcomes()[0].reply.size() <= 1000);
    CHECK(d.client.outcomes()[0].dsn == "5.0.0");
}

namespace {

std::string random_line(std::mt19937& rng) {
    static const std::vector<std::string> plausible = {"220 mx ESMTP",
                                                       "250-mx",
                                                       "250-PIPELINING",
                                                       "250-SIZE 100",
                                                       "250 8BITMIME",
                                                       "250 2.1.5 Ok",
                                                       "354 go ahead",
                                                       "451 4.3.0 later",
                                                       "502 5.5.2 no",
                                                       "550 5.1.1 unknown",
                                                       "550-5.1.1 first"};
    std::uniform_int_distribution<int> choice(0, 3);
    if (choice(rng) != 0) {
        return plausible[std::uniform_int_distribution<std::size_t>(0, plausible.size() - 1)(rng)];
    }
    std::uniform_int_distribution<int> length(0, 600);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string line(static_cast<std::size_t>(length(rng)), '\0');
    for (char& c : line) {
        c = static_cast<char>(byte(rng));
    }
    return line;
}

// Once done, every recipient has a final outcome whose dsn agrees with its status.
void check_settled(const SmtpClientSession& client, std::size_t recipients) {
    REQUIRE(client.outcomes().size() == recipients);
    for (const RecipientOutcome& outcome : client.outcomes()) {
        REQUIRE(outcome.dsn.size() >= 5);
        const char expected = outcome.status == OutcomeStatus::Sent      ? '2'
                              : outcome.status == OutcomeStatus::Bounced ? '5'
                                                                         : '4';
        CHECK(outcome.dsn.front() == expected);
        CHECK_FALSE(outcome.reply.empty());
    }
}

// Takes a fresh dialog to one of its waiting points: 0 greeting, 1 EHLO, 2 MAIL (pipelined
// group), 3 RCPT, 4 DATA, 5 final reply.
void advance(Dialog& d, int stage) {
    const std::vector<std::string> script = {
        "220 mx ESMTP", "250 PIPELINING", "250 2.1.0 Ok", "250 2.1.5 Ok", "354 go ahead"};
    for (int i = 0; i < stage; ++i) {
        d.reply(script[static_cast<std::size_t>(i)]);
    }
}

}  // namespace

TEST_CASE("smtp_client: 1000 random garbage lines never crash", "[smtp_client]") {
    std::mt19937 rng(20240611);
    SECTION("random bytes at every waiting point") {
        std::uniform_int_distribution<int> byte(0, 255);
        for (int i = 0; i < 1000; ++i) {
            Dialog d(lab_job({"jowadev@gmail.com"}));
            advance(d, i % 6);
            REQUIRE_FALSE(d.client.is_done());
            std::string line(static_cast<std::size_t>(i % 300), '\0');
            for (char& c : line) {
                c = static_cast<char>(byte(rng));
            }
            CHECK_NOTHROW(d.client.on_reply_line(line));
            d.client.on_failure("timeout");
            check_settled(d.client, 1);
        }
    }
    SECTION("plausible replies mixed with garbage") {
        for (int round = 0; round < 20; ++round) {
            Dialog d(lab_job({"a@example.test", "b@example.test", "c@example.test"}));
            for (int i = 0; i < 1000 && !d.client.is_done(); ++i) {
                CHECK_NOTHROW(d.client.on_reply_line(random_line(rng)));
                d.client.take_output();
            }
            d.client.on_failure("timeout");
            check_settled(d.client, 3);
            CHECK(d.reply(random_line(rng)).empty());
        }
    }
}

TEST_CASE("smtp_client: a reply out of place defers rather than bounces", "[smtp_client]") {
    Dialog d(lab_job({"jowadev@gmail.com"}));
    d.start();
    d.reply({"250 2.1.0 Ok", "250 2.1.5 Ok"});
    CHECK(d.reply("250 2.0.0 Ok") == "QUIT\r\n");  // DATA needs a 354, not a 250
    CHECK(outcomes_of(d.client) == Outcomes{"jowadev@gmail.com deferred 4.0.0 (250 2.0.0 Ok)"});
}
