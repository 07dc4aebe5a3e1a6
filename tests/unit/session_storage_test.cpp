// The session's part of "disk full" (issue 4): MAIL FROM asks the sink whether the queue has
// room (452 4.3.1, Postfix's smtpd_check_queue), and a sink that cannot write the queue file
// gives 451 4.3.0 at the end of DATA. The free-space query is injected; no I/O here.
#include "server/protocol/session.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

namespace {

using labmta::common::Envelope;
using labmta::protocol::QueueResult;
using labmta::protocol::Session;
using labmta::protocol::SessionEvent;
using labmta::protocol::SessionPolicy;

struct SpaceSink final : labmta::protocol::MessageSink {
    bool room = true;
    bool write_fails = false;
    std::vector<std::size_t> asked;  // message_bytes of each has_room_for call
    std::size_t commits = 0;

    void append(std::string_view) override {}
    void discard() override {}
    void queue(Envelope, std::string, labmta::protocol::QueueDone done) override {
        if (write_fails) {
            done({});
            return;
        }
        ++commits;
        done({true, "0123456789AB", "<id@profbox.domain.local>"});
    }
    bool has_room_for(std::size_t message_bytes) override {
        asked.push_back(message_bytes);
        return room;
    }
};

struct NoAuth final : labmta::protocol::Authenticator {
    bool authenticate(std::string_view, std::string_view) override { return false; }
};

struct Harness {
    SessionPolicy policy;
    SpaceSink sink;
    NoAuth authenticator;
    std::optional<Session> session;

    Harness() {
        policy.hostname = "profbox.domain.local";
        policy.banner = "ESMTP labmta";
        policy.local_domains = {"domain.local"};
        session.emplace(
            policy, labmta::protocol::ClientInfo{"unknown", "127.0.0.1"}, sink, authenticator);
        session->start();
        session->take_output();
        send("EHLO client.example");
    }
    std::string send(std::string_view line) {
        session->on_line(line);
        return session->take_output();
    }
};

}  // namespace

TEST_CASE("session: MAIL FROM asks the sink for room for the declared SIZE", "[session]") {
    Harness h;
    CHECK(h.send("MAIL FROM:<a@domain.local> SIZE=12345") == "250 2.1.0 Ok\r\n");
    CHECK(h.send("RSET") == "250 2.0.0 Ok\r\n");
    CHECK(h.send("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok\r\n");
    CHECK(h.sink.asked == std::vector<std::size_t>{12345, 0});
}

TEST_CASE("session: MAIL FROM without room in the queue is 452 4.3.1", "[session]") {
    Harness h;
    h.sink.room = false;
    CHECK(h.send("MAIL FROM:<a@domain.local> SIZE=500")
          == "452 4.3.1 Insufficient system storage\r\n");
    // No transaction was started: RCPT needs MAIL first.
    CHECK(h.send("RCPT TO:<student@domain.local>") == "503 5.5.1 Error: need MAIL command\r\n");
    const std::vector<SessionEvent> events = h.session->take_events();
    REQUIRE_FALSE(events.empty());
    CHECK(events.front().kind == SessionEvent::Kind::Rejected);
    CHECK(events.front().stage == "MAIL");
    CHECK(events.front().reply == "452 4.3.1 Insufficient system storage");
    // Once there is room again, the same session may send.
    h.sink.room = true;
    CHECK(h.send("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok\r\n");
}

TEST_CASE("session: SIZE over the limit is 552 before the sink is asked", "[session]") {
    Harness h;
    CHECK(h.send("MAIL FROM:<a@domain.local> SIZE=99999999")
          == "552 5.3.4 Message size exceeds fixed limit\r\n");
    CHECK(h.sink.asked.empty());
}

TEST_CASE("session: a queue file write error at end of DATA is 451 4.3.0, then it goes on",
          "[session]") {
    Harness h;
    h.sink.write_fails = true;
    CHECK(h.send("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok\r\n");
    CHECK(h.send("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok\r\n");
    CHECK(h.send("DATA") == "354 End data with <CR><LF>.<CR><LF>\r\n");
    CHECK(h.send("Subject: x").empty());
    CHECK(h.send(".") == "451 4.3.0 Error: queue file write error\r\n");
    h.sink.write_fails = false;
    CHECK(h.send("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok\r\n");
    CHECK(h.send("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok\r\n");
    CHECK(h.send("DATA") == "354 End data with <CR><LF>.<CR><LF>\r\n");
    CHECK(h.send(".") == "250 2.0.0 Ok: queued as 0123456789AB\r\n");
    CHECK(h.sink.commits == 1);
}
