// The SMTP session state machine, line by line: exact replies for every behaviour, and the
// dialog fixtures in tests/fixtures replayed against it (the e2e tests replay them over TCP).
#include "server/protocol/session.h"

#include "tests/support/dialog.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace {

using labmta::common::Envelope;
using labmta::common::Line;
using labmta::common::LineEnding;
using labmta::protocol::ClientInfo;
using labmta::protocol::MessageSink;
using labmta::protocol::QueueResult;
using labmta::protocol::Session;
using labmta::protocol::SessionEvent;
using labmta::protocol::SessionPolicy;

// Answers at once, as most tests want, or (defer) keeps the answer until answer() is called,
// as the server's group commit does.
struct FakeSink final : MessageSink {
    struct Commit {
        Envelope envelope;
        std::string message;
    };
    std::vector<Commit> commits;
    bool fail = false;
    bool defer = false;
    labmta::protocol::QueueDone pending;

    std::string streamed;  // appended parts of the message in progress
    std::vector<std::string> appends;
    unsigned discards = 0;

    void append(std::string_view text) override {
        streamed.append(text);
        appends.emplace_back(text);
    }
    void discard() override {
        streamed.clear();
        ++discards;
    }
    void queue(Envelope envelope, std::string rest, labmta::protocol::QueueDone done) override {
        std::string message = std::exchange(streamed, {}) + rest;
        if (!fail) {
            commits.push_back({std::move(envelope), std::move(message)});
        }
        if (defer) {
            pending = std::move(done);
        } else {
            answer(std::move(done));
        }
    }

    void answer(labmta::protocol::QueueDone done) const {
        if (fail) {
            done({});
        } else {
            done({true, "0123456789AB", "<id@profbox.domain.local>"});
        }
    }
};

// Answers at once, or (defer) keeps the answer until answer() is called, as the server does
// when it checks on the thread pool.
struct FakeAuthenticator final : labmta::protocol::Authenticator {
    std::vector<std::string> seen_users;
    bool defer = false;
    bool pending_ok = false;
    labmta::protocol::AuthDone pending;

    bool authenticate(std::string_view user, std::string_view password) override {
        seen_users.emplace_back(user);
        return user == "student" && password == "hessovs!";
    }
    void authenticate_later(std::string user,
                            std::string password,
                            labmta::protocol::AuthDone done) override {
        const bool ok = authenticate(user, password);
        if (!defer) {
            done(ok);
            return;
        }
        pending_ok = ok;
        pending = std::move(done);
    }
    void answer() { std::exchange(pending, {})(pending_ok); }
};

SessionPolicy lab_policy() {
    SessionPolicy policy;
    policy.hostname = "profbox.domain.local";
    policy.banner = "ESMTP labmta";
    policy.local_domains = {"domain.local"};
    policy.local_users = {"student"};
    policy.auth_enabled = true;
    return policy;
}

// A session with the lab policy, started, its greeting already taken.
struct Harness {
    SessionPolicy policy = lab_policy();
    FakeSink sink;
    FakeAuthenticator authenticator;
    Session session;

    explicit Harness(SessionPolicy p = lab_policy(), ClientInfo client = {"unknown", "127.0.0.1"})
        : policy(std::move(p)), session(policy, std::move(client), sink, authenticator) {
        session.start();
        session.take_output();
    }

    // Sends one CRLF line, returns the replies it produced.
    std::string send(std::string_view line) {
        session.on_line(line);
        return session.take_output();
    }

    void begin_transaction() {
        send("EHLO client.example");
        REQUIRE(send("MAIL FROM:<joiakim@domain.local>") == "250 2.1.0 Ok\r\n");
        REQUIRE(send("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok\r\n");
        REQUIRE(send("DATA") == "354 End data with <CR><LF>.<CR><LF>\r\n");
    }
};

std::vector<std::string> split_reply_lines(const std::string& output) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < output.size()) {
        const std::size_t end = output.find("\r\n", start);
        REQUIRE(end != std::string::npos);
        lines.push_back(output.substr(start, end - start));
        start = end + 2;
    }
    return lines;
}

}  // namespace

TEST_CASE("session: greeting is 220 host banner", "[session]") {
    FakeSink sink;
    FakeAuthenticator authenticator;
    const SessionPolicy policy = lab_policy();
    Session session(policy, {}, sink, authenticator);
    session.start();
    CHECK(session.take_output() == "220 profbox.domain.local ESMTP labmta\r\n");
}

TEST_CASE("session: HELO answers 250 with our host name", "[session]") {
    Harness h;
    CHECK(h.send("HELO Joiakim") == "250 profbox.domain.local\r\n");
    CHECK(h.send("HELO") == "501 5.5.4 Syntax: HELO hostname\r\n");
}

TEST_CASE("session: EHLO lists the extensions in order", "[session]") {
    Harness h;
    CHECK(h.send("EHLO client.example")
          == "250-profbox.domain.local\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
             "250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n"
             "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n");
    CHECK(h.send("EHLO") == "501 5.5.4 Syntax: EHLO hostname\r\n");
}

TEST_CASE("session: verbs are case-insensitive", "[session]") {
    Harness h;
    CHECK(h.send("helo x") == "250 profbox.domain.local\r\n");
    CHECK(h.send("mail from:<a@domain.local>") == "250 2.1.0 Ok\r\n");
    CHECK(h.send("rCpT To:<student@domain.local>") == "250 2.1.5 Ok\r\n");
    CHECK(h.send("quit") == "221 2.0.0 Bye\r\n");
}

TEST_CASE("session: MAIL FROM accepts a space after the colon and no brackets", "[session]") {
    Harness h;
    h.send("HELO Joiakim");
    CHECK(h.send("MAIL FROM: joiakim@domain.local") == "250 2.1.0 Ok\r\n");
    CHECK(h.send("RCPT TO: student@domain.local") == "250 2.1.5 Ok\r\n");
}

TEST_CASE("session: MAIL FROM null sender and parameters", "[session]") {
    Harness h;
    CHECK(h.send("MAIL FROM:<> SIZE=100 BODY=8BITMIME") == "250 2.1.0 Ok\r\n");
    h.send("RSET");
    CHECK(h.send("MAIL FROM:<a@domain.local> SIZE=10240001")
          == "552 5.3.4 Message size exceeds fixed limit\r\n");
    CHECK(h.send("MAIL FROM:<a@domain.local> SIZE=ten") == "501 5.5.4 Bad message size syntax\r\n");
    CHECK(h.send("MAIL FROM:<a@domain.local> BODY=BINARYMIME")
          == "501 5.5.4 Bad BODY keyword value\r\n");
    CHECK(h.send("MAIL FROM:<a@domain.local> FOO=1") == "555 5.5.4 Unsupported option: FOO\r\n");
}

TEST_CASE("session: MAIL syntax errors", "[session]") {
    Harness h;
    CHECK(h.send("MAIL") == "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    CHECK(h.send("MAIL FROM:") == "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    CHECK(h.send("MAIL TO:<a@b.c>") == "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
    CHECK(h.send("MAIL FROM:<a b@c.d>") == "501 5.1.7 Bad sender address syntax\r\n");
}

TEST_CASE("session: nested MAIL is 503 5.5.1", "[session]") {
    Harness h;
    h.send("MAIL FROM:<a@domain.local>");
    CHECK(h.send("MAIL FROM:<b@domain.local>") == "503 5.5.1 Error: nested MAIL command\r\n");
}

TEST_CASE("session: RCPT before MAIL is 503 5.5.1", "[session]") {
    Harness h;
    CHECK(h.send("RCPT TO:<student@domain.local>") == "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_CASE("session: RCPT syntax errors", "[session]") {
    Harness h;
    h.send("MAIL FROM:<a@domain.local>");
    CHECK(h.send("RCPT TO:") == "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
    CHECK(h.send("RCPT FROM:<x@domain.local>") == "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
    CHECK(h.send("RCPT TO:<>") == "501 5.1.3 Bad recipient address syntax\r\n");
    CHECK(h.send("RCPT TO:<a..b@domain.local>") == "501 5.1.3 Bad recipient address syntax\r\n");
    CHECK(h.send("RCPT TO:<student@domain.local> NOTIFY=NEVER")
          == "555 5.5.4 Unsupported option: NOTIFY\r\n");
}

TEST_CASE("session: relay to an outside domain is denied", "[session]") {
    Harness h;
    h.send("EHLO client.example");
    h.send("MAIL FROM:<joiakim@domain.local>");
    CHECK(h.send("RCPT TO:<jowadev@gmail.com>")
          == "554 5.7.1 <jowadev@gmail.com>: Relay access denied\r\n");
    const std::vector<SessionEvent> events = h.session.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == SessionEvent::Kind::Rejected);
    CHECK(events[0].stage == "RCPT");
    CHECK(events[0].sender == "joiakim@domain.local");
    CHECK(events[0].recipient == "jowadev@gmail.com");
    CHECK(events[0].protocol == "ESMTP");
    CHECK(events[0].helo == "client.example");
}

TEST_CASE("session: a client in relay networks may relay", "[session]") {
    Harness h(lab_policy(), {"unknown", "127.0.0.1", true});
    h.send("MAIL FROM:<joiakim@domain.local>");
    CHECK(h.send("RCPT TO:<jowadev@gmail.com>") == "250 2.1.5 Ok\r\n");
}

TEST_CASE("session: local_recipients users rejects unknown local parts", "[session]") {
    SessionPolicy policy = lab_policy();
    policy.any_local_recipient = false;
    Harness h(policy);
    h.send("MAIL FROM:<a@domain.local>");
    CHECK(h.send("RCPT TO:<Student@Domain.Local>") == "250 2.1.5 Ok\r\n");
    CHECK(h.send("RCPT TO:<nobody@domain.local>")
          == "550 5.1.1 <nobody@domain.local>: Recipient address rejected: User unknown in local "
             "recipient table\r\n");
}

TEST_CASE("session: an address without a domain gets the first local domain", "[session]") {
    Harness h;
    h.send("MAIL FROM: joiakim");
    CHECK(h.send("RCPT TO: student") == "250 2.1.5 Ok\r\n");
    h.send("DATA");
    h.send(".");
    REQUIRE(h.sink.commits.size() == 1);
    CHECK(h.sink.commits[0].envelope.sender == "joiakim@domain.local");
    CHECK(h.sink.commits[0].envelope.recipients
          == std::vector<std::string>{"student@domain.local"});
}

TEST_CASE("session: too many recipients is 452 4.5.3", "[session]") {
    SessionPolicy policy = lab_policy();
    policy.max_recipients = 2;
    Harness h(policy);
    h.send("MAIL FROM:<a@domain.local>");
    CHECK(h.send("RCPT TO:<r1@domain.local>") == "250 2.1.5 Ok\r\n");
    CHECK(h.send("RCPT TO:<r2@domain.local>") == "250 2.1.5 Ok\r\n");
    CHECK(h.send("RCPT TO:<r3@domain.local>") == "452 4.5.3 Error: too many recipients\r\n");
}

TEST_CASE("session: a recipient given twice is kept once", "[session]") {
    Harness h;
    h.send("MAIL FROM:<a@domain.local>");
    h.send("RCPT TO:<student@domain.local>");
    CHECK(h.send("RCPT TO:<STUDENT@domain.local>") == "250 2.1.5 Ok\r\n");
    h.send("DATA");
    h.send(".");
    REQUIRE(h.sink.commits.size() == 1);
    CHECK(h.sink.commits[0].envelope.recipients.size() == 1);
}

TEST_CASE("session: DATA ordering errors", "[session]") {
    Harness h;
    CHECK(h.send("DATA") == "503 5.5.1 Error: need RCPT command\r\n");
    h.send("MAIL FROM:<a@domain.local>");
    CHECK(h.send("DATA") == "554 5.5.1 Error: no valid recipients\r\n");
    h.send("RCPT TO:<x@gmail.com>");
    CHECK(h.send("DATA") == "554 5.5.1 Error: no valid recipients\r\n");
    h.send("RCPT TO:<student@domain.local>");
    CHECK(h.send("DATA x") == "501 5.5.4 Syntax: DATA\r\n");
}

TEST_CASE("session: a message is committed with its envelope and the 250 names its ID",
          "[session]") {
    Harness lab(lab_policy(), {"unknown", "192.0.2.7"});
    lab.send("HELO Joiakim");
    lab.send("MAIL FROM: joiakim@domain.local");
    lab.send("RCPT TO: student@domain.local");
    lab.send("DATA");
    CHECK(lab.send("SUBJECT: Test msg").empty());
    lab.send("");
    lab.send("Hello,");
    CHECK(lab.send(".") == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
    REQUIRE(lab.sink.commits.size() == 1);
    const auto& commit = lab.sink.commits[0];
    CHECK(commit.message == "SUBJECT: Test msg\n\nHello,\n");
    CHECK(commit.envelope.helo == "Joiakim");
    CHECK(commit.envelope.protocol == "SMTP");
    CHECK(commit.envelope.client_ip == "192.0.2.7");
    const std::vector<SessionEvent> events = lab.session.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == SessionEvent::Kind::Queued);
    CHECK(events[0].queue_id == "0123456789AB");
    CHECK(events[0].nrcpt == 1);
    CHECK(events[0].size == std::string("SUBJECT: Test msg\r\n\r\nHello,\r\n").size());
}

TEST_CASE("session: dot-stuffing is undone", "[session]") {
    Harness h;
    h.begin_transaction();
    h.send("..leading dot");
    h.send("...");
    h.send("middle . dot");
    h.send(".");
    REQUIRE(h.sink.commits.size() == 1);
    CHECK(h.sink.commits[0].message == ".leading dot\n..\nmiddle . dot\n");
}

TEST_CASE("session: only CRLF.CRLF ends DATA (smuggling forms are message text)", "[session]") {
    Harness h;
    h.begin_transaction();
    // "\n.\n", "\n.\r\n" and "\r\n.\n" never end the message.
    h.session.on_line(Line{"one", LineEnding::BareLf});
    h.session.on_line(Line{".", LineEnding::BareLf});
    h.session.on_line(Line{"MAIL FROM:<forged@domain.local>", LineEnding::BareLf});
    h.session.on_line(Line{".", LineEnding::Crlf});
    h.session.on_line(Line{"two", LineEnding::Crlf});
    h.session.on_line(Line{".", LineEnding::BareLf});
    // A "." right after a bare LF is not <CRLF>.<CRLF> either.
    h.session.on_line(Line{".", LineEnding::Crlf});
    CHECK(h.session.take_output().empty());
    CHECK(h.sink.commits.empty());
    h.session.on_line(Line{"three", LineEnding::Crlf});
    h.session.on_line(Line{".", LineEnding::Crlf});
    CHECK(h.session.take_output() == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
    REQUIRE(h.sink.commits.size() == 1);
    CHECK(h.sink.commits[0].message
          == "one\n\nMAIL FROM:<forged@domain.local>\n\ntwo\n\n\nthree\n");
}

TEST_CASE("session: a long DATA line in pieces is kept whole", "[session]") {
    Harness h;
    h.begin_transaction();
    h.session.on_line(Line{"abc", LineEnding::Partial});
    h.session.on_line(Line{".", LineEnding::Partial});  // not at line start: no unstuffing
    h.session.on_line(Line{"def", LineEnding::Crlf});
    h.send(".");
    REQUIRE(h.sink.commits.size() == 1);
    CHECK(h.sink.commits[0].message == "abc.def\n");
}

TEST_CASE("session: a message over the size limit is 552 after the end of data", "[session]") {
    SessionPolicy policy = lab_policy();
    policy.max_message_bytes = 20;
    Harness h(policy);
    h.begin_transaction();
    CHECK(h.send("0123456789").empty());
    CHECK(h.send("0123456789").empty());
    CHECK(h.send("still reading").empty());
    CHECK(h.send(".") == "552 5.3.4 Error: message file too big\r\n");
    CHECK(h.sink.commits.empty());
    // The session is usable afterwards.
    CHECK(h.send("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("session: a failed commit is 451 4.3.0", "[session]") {
    Harness h;
    h.sink.fail = true;
    h.begin_transaction();
    CHECK(h.send(".") == "451 4.3.0 Error: queue file write error\r\n");
    CHECK(h.send("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("session: the 250 waits for the sink's answer, and nothing is read meanwhile",
          "[session]") {
    Harness h;
    h.sink.defer = true;
    h.begin_transaction();
    CHECK(h.send(".").empty());
    CHECK(h.session.is_queueing());
    CHECK(h.session.take_events().empty());
    // A line given anyway (the connection holds them) changes nothing.
    CHECK(h.send("MAIL FROM:<a@domain.local>").empty());
    REQUIRE(h.sink.pending);
    h.sink.answer(std::move(h.sink.pending));
    CHECK_FALSE(h.session.is_queueing());
    CHECK(h.session.take_output() == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
    const auto events = h.session.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == SessionEvent::Kind::Queued);
    CHECK(events[0].queue_id == "0123456789AB");
    CHECK(h.send("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("session: a big message reaches the sink in parts, at line starts", "[session]") {
    SessionPolicy policy = lab_policy();
    policy.stream_bytes = 64;
    Harness h(policy);
    h.begin_transaction();
    std::string expected = "Subject: parts\n\n";
    h.send("Subject: parts");
    h.send("");
    for (int i = 0; i < 20; ++i) {
        const std::string line = "line " + std::to_string(i) + " of a message sent in parts";
        CHECK(h.send(line).empty());
        expected += line + "\n";
    }
    CHECK(h.sink.appends.size() >= 5);
    for (const std::string& part : h.sink.appends) {
        CHECK(part.size() >= 64);
        CHECK(part.back() == '\n');
    }
    CHECK(h.send(".") == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
    REQUIRE(h.sink.commits.size() == 1);
    CHECK(h.sink.commits[0].message == expected);
    CHECK(h.sink.discards == 0);
}

TEST_CASE("session: a streamed message that grows too big is discarded, then 552", "[session]") {
    SessionPolicy policy = lab_policy();
    policy.stream_bytes = 64;
    policy.max_message_bytes = 500;
    Harness h(policy);
    h.begin_transaction();
    for (int i = 0; i < 40; ++i) {
        h.send("a line of text that is long enough to fill the buffer quickly");
    }
    CHECK(h.sink.discards == 1);
    CHECK(h.sink.streamed.empty());
    CHECK(h.send(".") == "552 5.3.4 Error: message file too big\r\n");
    CHECK(h.sink.commits.empty());
}

TEST_CASE("session: Received: headers are counted across streamed parts", "[session]") {
    SessionPolicy policy = lab_policy();
    policy.stream_bytes = 64;
    policy.max_hops = 3;
    Harness h(policy);
    h.begin_transaction();
    for (int i = 0; i < 4; ++i) {
        h.send("Received: from hop" + std::to_string(i) + ".example by relay.example; padding");
    }
    h.send("");
    h.send("body");
    CHECK(h.send(".") == "554 5.4.6 Error: too many hops\r\n");
    CHECK(h.sink.discards == 1);
    CHECK(h.sink.commits.empty());
}

TEST_CASE("session: a late queue failure is 451 4.3.0", "[session]") {
    Harness h;
    h.sink.defer = true;
    h.sink.fail = true;
    h.begin_transaction();
    CHECK(h.send(".").empty());
    h.sink.answer(std::move(h.sink.pending));
    CHECK(h.session.take_output() == "451 4.3.0 Error: queue file write error\r\n");
    CHECK(h.send("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("session: a timeout while queueing closes, the late answer is logged, not sent",
          "[session]") {
    Harness h;
    h.sink.defer = true;
    h.begin_transaction();
    CHECK(h.send(".").empty());
    h.session.on_timeout();
    CHECK(h.session.take_output().rfind("421 4.4.2 ", 0) == 0);
    h.session.take_events();
    h.sink.answer(std::move(h.sink.pending));
    CHECK(h.session.take_output().empty());
    CHECK(h.session.close_after_flush());
    const auto events = h.session.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == SessionEvent::Kind::Queued);
}

TEST_CASE("session: RSET, NOOP, VRFY, HELP", "[session]") {
    Harness h;
    h.send("MAIL FROM:<a@domain.local>");
    CHECK(h.send("RSET") == "250 2.0.0 Ok\r\n");
    CHECK(h.send("RCPT TO:<student@domain.local>") == "503 5.5.1 Error: need MAIL command\r\n");
    CHECK(h.send("RSET now") == "501 5.5.4 Syntax: RSET\r\n");
    CHECK(h.send("NOOP") == "250 2.0.0 Ok\r\n");
    CHECK(h.send("VRFY student") == "252 2.0.0 student\r\n");
    CHECK(h.send("VRFY") == "501 5.5.4 Syntax: VRFY address\r\n");
    CHECK(h.send("HELP").rfind("214 2.0.0 Commands:", 0) == 0);
}

TEST_CASE("session: HELO resets the transaction", "[session]") {
    Harness h;
    h.send("MAIL FROM:<a@domain.local>");
    h.send("HELO again");
    CHECK(h.send("RCPT TO:<student@domain.local>") == "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_CASE("session: unknown command and empty line", "[session]") {
    Harness h;
    CHECK(h.send("FOO bar") == "500 5.5.2 Error: command not recognized\r\n");
    CHECK(h.send("") == "500 5.5.2 Error: bad syntax\r\n");
}

TEST_CASE("session: a NUL byte in a command is 500 5.5.2, not a shorter command", "[session]") {
    Harness h;
    using namespace std::string_literals;
    // Cut at the NUL, this would be a valid "NOOP" or "HELO x".
    CHECK(h.send("NOOP\0garbage"s) == "500 5.5.2 Error: bad syntax\r\n");
    CHECK(h.send("HELO x\0.example"s) == "500 5.5.2 Error: bad syntax\r\n");
    CHECK(h.send("\0"s) == "500 5.5.2 Error: bad syntax\r\n");
    h.send("EHLO x");
    CHECK(h.send("MAIL FROM:<a@domain.local>\0"s) == "500 5.5.2 Error: bad syntax\r\n");
    // Nothing was accepted: there is still no transaction.
    CHECK(h.send("RCPT TO:<student@domain.local>") == "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_CASE("session: invalid UTF-8 in a command is 500 5.5.2 bad UTF-8 syntax", "[session]") {
    Harness h;
    h.send("EHLO x");
    CHECK(h.send("NOOP \xff") == "500 5.5.2 Error: bad UTF-8 syntax\r\n");
    CHECK(h.send("MAIL FROM:<caf\xe9@domain.local>")  // Latin-1, not UTF-8
          == "500 5.5.2 Error: bad UTF-8 syntax\r\n");
    CHECK(h.send("VRFY \xc0\xaf") == "500 5.5.2 Error: bad UTF-8 syntax\r\n");  // overlong '/'
    CHECK(h.send("\x80HELO x") == "500 5.5.2 Error: bad UTF-8 syntax\r\n");
    // Well-formed UTF-8 reaches the command handlers.
    CHECK(h.send("VRFY caf\xc3\xa9") == "252 2.0.0 caf\xc3\xa9\r\n");
    CHECK(h.send("NOOP \xe2\x82\xac") == "250 2.0.0 Ok\r\n");
    // Like an empty line, a line refused before parsing is no command in the summary.
    CHECK(h.session.command_summary() == "ehlo=1 vrfy=1 noop=1 commands=3");
}

TEST_CASE("session: message text may hold 8-bit bytes, invalid UTF-8 and NUL, kept as is",
          "[session]") {
    using namespace std::string_literals;
    Harness h;
    h.begin_transaction();
    h.send("Subject: 8bit");
    h.send("");
    h.send("caf\xe9 \xff\xfe");
    h.send("nul\0here"s);
    CHECK(h.send(".") == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
    REQUIRE(h.sink.commits.size() == 1);
    CHECK(h.sink.commits[0].message.find("caf\xe9 \xff\xfe") != std::string::npos);
    CHECK(h.sink.commits[0].message.find("nul\0here"s) != std::string::npos);
}

TEST_CASE("session: QUIT is 221 and closes", "[session]") {
    Harness h;
    CHECK(h.send("QUIT") == "221 2.0.0 Bye\r\n");
    CHECK(h.session.close_after_flush());
    CHECK(h.send("NOOP").empty());
}

TEST_CASE("session: web requests are told goodbye", "[session]") {
    Harness h;
    CHECK(h.send("GET / HTTP/1.1") == "221 2.7.0 Error: I can break rules, too. Goodbye.\r\n");
    CHECK(h.session.close_after_flush());
}

TEST_CASE("session: a command longer than the line limit is 500 once", "[session]") {
    Harness h;
    h.session.on_line(Line{"MAIL FROM:<aaaa", LineEnding::Partial});
    h.session.on_line(Line{"aaaa", LineEnding::Partial});
    CHECK(h.session.take_output().empty());
    h.session.on_line(Line{"a@domain.local>", LineEnding::Crlf});
    CHECK(h.session.take_output() == "500 5.5.2 profbox.domain.local Error: command too long\r\n");
    CHECK(h.send("NOOP") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("session: a bare LF command line works", "[session]") {
    Harness h;
    h.session.on_line(Line{"HELO netcat", LineEnding::BareLf});
    CHECK(h.session.take_output() == "250 profbox.domain.local\r\n");
}

TEST_CASE("session: the error limit ends the session with 421 4.7.0", "[session]") {
    SessionPolicy policy = lab_policy();
    policy.max_errors = 3;
    Harness h(policy);
    CHECK(h.send("FOO") == "500 5.5.2 Error: command not recognized\r\n");
    CHECK(h.send("FOO") == "500 5.5.2 Error: command not recognized\r\n");
    CHECK(h.send("FOO")
          == "500 5.5.2 Error: command not recognized\r\n"
             "421 4.7.0 profbox.domain.local Error: too many errors\r\n");
    CHECK(h.session.close_after_flush());
}

TEST_CASE("session: timeout and shutdown are 421 and close", "[session]") {
    Harness idle;
    idle.session.on_timeout();
    CHECK(idle.session.take_output()
          == "421 4.4.2 profbox.domain.local Error: timeout exceeded\r\n");
    CHECK(idle.session.close_after_flush());
    Harness stopping;
    stopping.session.on_shutdown();
    CHECK(stopping.session.take_output()
          == "421 4.3.2 profbox.domain.local Service shutting down\r\n");
    CHECK(stopping.session.close_after_flush());
}

TEST_CASE("session: command summary counts like Postfix's disconnect line", "[session]") {
    Harness h;
    h.send("EHLO x");
    h.send("MAIL FROM:<a@domain.local>");
    h.send("RCPT TO:<student@domain.local>");
    h.send("RCPT TO:<x@gmail.com>");
    h.send("DATA");
    h.send(".");
    h.send("QUIT");
    CHECK(h.session.command_summary() == "ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5/6");
}

TEST_CASE("session: every dialog fixture replays against the session", "[session][fixtures]") {
    namespace fs = std::filesystem;
    std::vector<fs::path> fixtures;
    for (const auto& entry : fs::directory_iterator(LABMTA_FIXTURES_DIR)) {
        if (entry.path().extension() == ".txt") {
            fixtures.push_back(entry.path());
        }
    }
    REQUIRE(!fixtures.empty());
    for (const fs::path& path : fixtures) {
        SECTION(path.filename().string()) {
            FakeSink sink;
            FakeAuthenticator authenticator;
            const SessionPolicy policy = lab_policy();
            Session session(policy, {"unknown", "127.0.0.1"}, sink, authenticator);
            session.start();
            const auto exchanges = labmta::test::group_exchanges(labmta::test::load_dialog(path));
            for (const auto& exchange : exchanges) {
                for (const auto& step : exchange.client_lines) {
                    session.on_line(step.text);
                }
                const std::string mismatch = labmta::test::describe_reply_mismatch(
                    exchange.expected_lines, split_reply_lines(session.take_output()));
                INFO(path.filename().string() << ": " << mismatch);
                CHECK(mismatch.empty());
            }
        }
    }
}

TEST_CASE("session: AUTH LOGIN with the two prompts", "[session][auth]") {
    Harness h;
    h.send("HELO joiakim.dasek@domain.local");
    CHECK(h.send("AUTH LOGIN") == "334 VXNlcm5hbWU6\r\n");
    CHECK(h.send("c3R1ZGVudA==") == "334 UGFzc3dvcmQ6\r\n");
    CHECK(h.send("aGVzc292cyE=") == "235 2.7.0 Authentication successful\r\n");
    const std::vector<SessionEvent> events = h.session.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == SessionEvent::Kind::Authenticated);
    CHECK(events[0].sasl_method == "LOGIN");
    CHECK(events[0].sasl_username == "student");
}

TEST_CASE("session: AUTH waits for the authenticator's answer, and nothing is read meanwhile",
          "[session][auth]") {
    Harness h;
    h.authenticator.defer = true;
    h.send("EHLO x");
    CHECK(h.send("AUTH PLAIN AHN0dWRlbnQAaGVzc292cyE=").empty());
    CHECK(h.session.is_waiting());
    CHECK_FALSE(h.session.is_queueing());
    CHECK(h.send("NOOP").empty());  // the connection holds lines meanwhile; ignored if sent
    CHECK(h.session.take_events().empty());
    h.authenticator.answer();
    CHECK_FALSE(h.session.is_waiting());
    CHECK(h.session.take_output() == "235 2.7.0 Authentication successful\r\n");
    const std::vector<SessionEvent> events = h.session.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == SessionEvent::Kind::Authenticated);
    CHECK(events[0].sasl_method == "PLAIN");
    CHECK(events[0].sasl_username == "student");
    h.send("MAIL FROM:<student@domain.local>");
    CHECK(h.send("RCPT TO:<jowadev@gmail.com>") == "250 2.1.5 Ok\r\n");
}

TEST_CASE("session: a late AUTH refusal is 535 and counts as a failure", "[session][auth]") {
    Harness h;
    h.authenticator.defer = true;
    h.send("EHLO x");
    h.send("AUTH LOGIN");
    h.send("c3R1ZGVudA==");
    CHECK(h.send("d3Jvbmc=").empty());
    CHECK(h.session.auth_failures() == 0);
    h.authenticator.answer();
    CHECK(h.session.take_output()
          == "535 5.7.8 Error: authentication failed: authentication failure\r\n");
    CHECK(h.session.auth_failures() == 1);
    h.send("MAIL FROM:<a@domain.local>");
    CHECK(h.send("RCPT TO:<jowadev@gmail.com>")
          == "554 5.7.1 <jowadev@gmail.com>: Relay access denied\r\n");
}

TEST_CASE("session: an AUTH answer after a timeout is ignored", "[session][auth]") {
    Harness h;
    h.authenticator.defer = true;
    h.send("EHLO x");
    h.send("AUTH PLAIN AHN0dWRlbnQAaGVzc292cyE=");
    h.session.on_timeout();
    CHECK(h.session.close_after_flush());
    h.session.take_output();
    h.session.take_events();
    h.authenticator.answer();
    CHECK(h.session.take_output().empty());
    CHECK(h.session.take_events().empty());
    CHECK(h.session.close_after_flush());
}

TEST_CASE("session: AUTH LOGIN with an initial response", "[session][auth]") {
    Harness h;
    h.send("EHLO x");
    CHECK(h.send("AUTH LOGIN c3R1ZGVudA==") == "334 UGFzc3dvcmQ6\r\n");
    CHECK(h.send("aGVzc292cyE=") == "235 2.7.0 Authentication successful\r\n");
}

TEST_CASE("session: AUTH PLAIN with and without initial response", "[session][auth]") {
    // base64("\0student\0hessovs!")
    Harness with_initial;
    with_initial.send("EHLO x");
    CHECK(with_initial.send("AUTH PLAIN AHN0dWRlbnQAaGVzc292cyE=")
          == "235 2.7.0 Authentication successful\r\n");
    Harness without;
    without.send("EHLO x");
    CHECK(without.send("AUTH PLAIN") == "334 \r\n");
    CHECK(without.send("AHN0dWRlbnQAaGVzc292cyE=") == "235 2.7.0 Authentication successful\r\n");
    // An authorization identity equal to the user is fine: "student\0student\0hessovs!".
    Harness authzid;
    authzid.send("EHLO x");
    CHECK(authzid.send("AUTH PLAIN c3R1ZGVudABzdHVkZW50AGhlc3NvdnMh")
          == "235 2.7.0 Authentication successful\r\n");
}

TEST_CASE("session: AUTH with a wrong password is 535 5.7.8", "[session][auth]") {
    Harness h;
    h.send("EHLO x");
    h.send("AUTH LOGIN");
    h.send("c3R1ZGVudA==");
    CHECK(h.send("d3Jvbmc=")
          == "535 5.7.8 Error: authentication failed: authentication failure\r\n");
    const std::vector<SessionEvent> events = h.session.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == SessionEvent::Kind::AuthFailed);
    // Still unauthenticated: relaying is refused, and AUTH may be tried again.
    h.send("MAIL FROM:<a@domain.local>");
    CHECK(h.send("RCPT TO:<jowadev@gmail.com>")
          == "554 5.7.1 <jowadev@gmail.com>: Relay access denied\r\n");
    h.send("RSET");
    CHECK(h.send("AUTH PLAIN AHN0dWRlbnQAaGVzc292cyE=")
          == "235 2.7.0 Authentication successful\r\n");
}

TEST_CASE("session: AUTH aborted with *", "[session][auth]") {
    Harness h;
    h.send("EHLO x");
    h.send("AUTH LOGIN");
    CHECK(h.send("*") == "501 5.7.0 Authentication aborted\r\n");
    CHECK(h.send("NOOP") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("session: AUTH with bad base64", "[session][auth]") {
    Harness h;
    h.send("EHLO x");
    CHECK(h.send("AUTH LOGIN !!!") == "501 5.5.2 Invalid base64 data in initial response\r\n");
    h.send("AUTH LOGIN");
    CHECK(h.send("not base64!") == "501 5.5.2 Invalid base64 data in continued response\r\n");
    CHECK(h.send("AUTH PLAIN %%%") == "501 5.5.2 Invalid base64 data in initial response\r\n");
}

TEST_CASE("session: auth_failures counts 535s only, not aborts or bad base64", "[session][auth]") {
    Harness h;
    h.send("EHLO x");
    CHECK(h.session.auth_failures() == 0);
    h.send("AUTH LOGIN");
    h.send("*");
    h.send("AUTH PLAIN %%%");
    CHECK(h.session.auth_failures() == 0);
    CHECK(h.send("AUTH PLAIN AHN0dWRlbnQAd3Jvbmc=")  // student / wrong
          == "535 5.7.8 Error: authentication failed: authentication failure\r\n");
    CHECK(h.session.auth_failures() == 1);
    h.send("AUTH PLAIN Zm9v");  // "foo": not user NUL password, also a 535
    CHECK(h.session.auth_failures() == 2);
    CHECK_FALSE(h.session.close_after_flush());
}

TEST_CASE("session: limits.auth_failures 535s end the session with 421 4.7.0", "[session][auth]") {
    SessionPolicy policy = lab_policy();
    policy.max_auth_failures = 2;
    Harness h(policy);
    h.send("EHLO x");
    CHECK(h.send("AUTH PLAIN AHN0dWRlbnQAd3Jvbmc=")
          == "535 5.7.8 Error: authentication failed: authentication failure\r\n");
    h.session.take_events();
    h.send("AUTH LOGIN");
    h.send("c3R1ZGVudA==");
    CHECK(h.send("d3Jvbmc=")
          == "535 5.7.8 Error: authentication failed: authentication failure\r\n"
             "421 4.7.0 profbox.domain.local Error: too many AUTH failures\r\n");
    CHECK(h.session.close_after_flush());
    const std::vector<SessionEvent> events = h.session.take_events();
    REQUIRE(events.size() == 2);
    CHECK(events[0].kind == SessionEvent::Kind::AuthFailed);
    CHECK(events[1].kind == SessionEvent::Kind::TooManyAuthFailures);
    // The right password is not even tried any more.
    CHECK(h.send("AUTH PLAIN AHN0dWRlbnQAaGVzc292cyE=").empty());
}

TEST_CASE("session: the error limit reached by a 535 gives one 421, too many errors",
          "[session][auth]") {
    SessionPolicy policy = lab_policy();
    policy.max_errors = 2;
    policy.max_auth_failures = 2;
    Harness h(policy);
    h.send("EHLO x");
    h.send("AUTH PLAIN AHN0dWRlbnQAd3Jvbmc=");
    CHECK(h.send("AUTH PLAIN AHN0dWRlbnQAd3Jvbmc=")
          == "535 5.7.8 Error: authentication failed: authentication failure\r\n"
             "421 4.7.0 profbox.domain.local Error: too many errors\r\n");
    CHECK(h.session.close_after_flush());
}

TEST_CASE("session: on_auth_blocked is 421 4.7.0 too many AUTH failures and close",
          "[session][auth]") {
    Harness h;
    h.send("EHLO x");
    h.session.on_auth_blocked();
    CHECK(h.session.take_output()
          == "421 4.7.0 profbox.domain.local Error: too many AUTH failures\r\n");
    CHECK(h.session.close_after_flush());
    h.session.on_auth_blocked();
    h.session.on_timeout();
    CHECK(h.session.take_output().empty());
}

TEST_CASE("session: AUTH ordering and mechanism errors", "[session][auth]") {
    Harness h;
    CHECK(h.send("AUTH LOGIN") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
    h.send("EHLO x");
    CHECK(h.send("AUTH") == "501 5.5.4 Syntax: AUTH mechanism\r\n");
    CHECK(h.send("AUTH CRAM-MD5") == "504 5.5.4 Unsupported authentication mechanism\r\n");
    h.send("MAIL FROM:<a@domain.local>");
    CHECK(h.send("AUTH LOGIN") == "503 5.5.1 Error: MAIL transaction in progress\r\n");
    h.send("RSET");
    h.send("AUTH PLAIN AHN0dWRlbnQAaGVzc292cyE=");
    CHECK(h.send("AUTH LOGIN") == "503 5.5.1 Error: already authenticated\r\n");
}

TEST_CASE("session: AUTH is refused when no accounts exist", "[session][auth]") {
    SessionPolicy policy = lab_policy();
    policy.auth_enabled = false;
    Harness h(policy);
    CHECK(h.send("EHLO x").find("AUTH") == std::string::npos);
    CHECK(h.send("AUTH LOGIN") == "503 5.5.1 Error: authentication not enabled\r\n");
}

TEST_CASE("session: an authenticated client may relay, as ESMTPA with its user",
          "[session][auth]") {
    Harness h;
    h.send("EHLO x");
    h.send("AUTH PLAIN AHN0dWRlbnQAaGVzc292cyE=");
    h.send("MAIL FROM: <dasek.joiakim@gmail.com>");
    CHECK(h.send("RCPT TO: <jowadev@gmail.com>") == "250 2.1.5 Ok\r\n");
    CHECK(h.send("RCPT TO: <david.backoffice@gmail.com>") == "250 2.1.5 Ok\r\n");
    h.send("DATA");
    h.send("Message-ID: <819ih78s78988752fZTGFU@domain.local>");
    h.send("This is the body message !");
    CHECK(h.send(".") == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
    REQUIRE(h.sink.commits.size() == 1);
    CHECK(h.sink.commits[0].envelope.auth_user == "student");
    CHECK(h.sink.commits[0].envelope.protocol == "ESMTPA");
    CHECK(h.sink.commits[0].envelope.recipients.size() == 2);
}

TEST_CASE("session: an over-long AUTH response fails once", "[session][auth]") {
    Harness h;
    h.send("EHLO x");
    h.send("AUTH LOGIN");
    h.session.on_line(Line{"QUFB", LineEnding::Partial});
    h.session.on_line(Line{"QUFB", LineEnding::Partial});
    CHECK(h.session.take_output().empty());
    h.session.on_line(Line{"QUFB", LineEnding::Crlf});
    CHECK(h.session.take_output() == "501 5.5.2 Invalid base64 data in continued response\r\n");
    CHECK(h.send("NOOP") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("session: MAIL FROM accepts AUTH= when AUTH is offered (RFC 4954 5)", "[session][auth]") {
    Harness h;
    h.send("EHLO x");
    CHECK(h.send("MAIL FROM:<a@domain.local> AUTH=<>") == "250 2.1.0 Ok\r\n");
    SessionPolicy policy = lab_policy();
    policy.auth_enabled = false;
    Harness without_auth(policy);
    without_auth.send("EHLO x");
    CHECK(without_auth.send("MAIL FROM:<a@domain.local> AUTH=<>")
          == "555 5.5.4 Unsupported option: AUTH\r\n");
}

TEST_CASE("session: a message with more Received: headers than max_hops is a loop", "[session]") {
    SessionPolicy policy = lab_policy();
    policy.max_hops = 2;
    Harness h(policy);
    h.begin_transaction();
    h.send("Received: from a by b");
    h.send("received: from b by c");
    h.send("Subject: two hops");
    h.send("");
    h.send("Received: in the body does not count");
    CHECK(h.send(".") == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
    h.begin_transaction();
    h.send("Received: from a by b");
    h.send("Received: from b by c");
    h.send("RECEIVED: from c by d");
    h.send("");
    CHECK(h.send(".") == "554 5.4.6 Error: too many hops\r\n");
    CHECK(h.sink.commits.size() == 1);
}

TEST_CASE("session: regression: VRFY never echoes control characters", "[session]") {
    // Found by fuzzing (tests/fuzz/session_fuzz.cpp): "VRFY x\r\x01" was answered with
    // "252 2.0.0 x\r\x01": a bare CR inside a reply line, which a client may take as a line
    // end. Bytes the client sent are echoed with control characters made "?".
    Harness h;
    CHECK(h.send("VRFY x\r\x01\x1bu\x7f") == "252 2.0.0 x???u?\r\n");
    // (A NUL no longer gets this far: the whole line is 500 5.5.2 bad syntax.)
    CHECK(h.send(std::string("VRFY x\r\x01") + '\0' + "u\x7f")
          == "500 5.5.2 Error: bad syntax\r\n");
    CHECK(h.send("VRFY caf\xc3\xa9") == "252 2.0.0 caf\xc3\xa9\r\n");  // 8-bit text stays
}

TEST_CASE("session: smtpd.bare_newline reject refuses a message with a bare LF and hangs up",
          "[session]") {
    SessionPolicy policy = lab_policy();
    policy.reject_bare_newline = true;
    Harness h(policy);
    h.begin_transaction();
    h.session.on_line(Line{"Subject: bare", LineEnding::BareLf});
    h.send("");
    CHECK(h.send(".") == "550 5.5.2 profbox.domain.local Error: bare <LF> received\r\n");
    CHECK(h.session.close_after_flush());
    CHECK(h.sink.commits.empty());
    // Commands with a bare LF stay accepted (telnet/netcat users), and CRLF mail goes through.
    Harness ok(policy);
    ok.session.on_line(Line{"EHLO netcat", LineEnding::BareLf});
    CHECK(ok.session.take_output().rfind("250-profbox.domain.local\r\n", 0) == 0);
    ok.begin_transaction();
    ok.send("Subject: fine");
    CHECK(ok.send(".") == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
}

TEST_CASE("session: by default a bare LF in DATA is normalized", "[session]") {
    Harness h;
    h.begin_transaction();
    h.session.on_line(Line{"Subject: bare", LineEnding::BareLf});
    h.send("body");  // "." right after a bare LF would not end DATA
    CHECK(h.send(".") == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
    REQUIRE(h.sink.commits.size() == 1);
    CHECK(h.sink.commits[0].message == "Subject: bare\nbody\n");
}
