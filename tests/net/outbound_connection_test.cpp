// Tests of net::OutboundConnection against a scripted SMTP server on 127.0.0.1: a whole
// dialog and its outcomes, the next address after a refused one, connect and reply timeouts,
// a dropped connection and an abort. Every wait is bounded; nothing leaves 127.0.0.0/8.
#include "server/net/outbound_connection.h"

#include "tests/net/scripted_smtp_server.h"
#include "tests/net/test_loop.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

using labmta::net::OutboundConnection;
using labmta::net::OutboundResult;
using labmta::net::OutboundTimeouts;
using labmta::net::Target;
using labmta::protocol::ClientJob;
using labmta::protocol::OutcomeStatus;
using labmta::protocol::RecipientOutcome;
using labmta::test::AtEhlo;
using labmta::test::ScriptedSmtpServer;
using labmta::test::SmtpScript;
using labmta::test::TestLoop;

namespace {

constexpr OutboundTimeouts kQuick{2000, 2000};
constexpr OutboundTimeouts kShortReply{2000, 200};
constexpr std::chrono::milliseconds kServerWait{5000};

ClientJob job() {
    return ClientJob{"client.test",
                     "alice@client.test",
                     {"bob@sink.test", "carol@sink.test"},
                     "Subject: test\n\nHello\n.leading dot\n"};
}

Target sink_at(std::uint16_t port) {
    return Target{"sink.test", "127.0.0.1", port};
}

// A TCP socket on 127.0.0.1 that is bound but not listening: connecting to it is refused.
// Kept open by the test so that no one else can take the port meanwhile.
class RefusingPort {
public:
    RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0);
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
        port_ = ntohs(address.sin_port);
    }
    ~RefusingPort() { ::close(fd_); }
    RefusingPort(const RefusingPort&) = delete;
    RefusingPort& operator=(const RefusingPort&) = delete;
    std::uint16_t port() const { return port_; }

protected:
    int fd_;
    std::uint16_t port_ = 0;
};

// A listener whose accept queue is full (backlog 0, one connection already queued, never
// accepted): Linux drops further SYNs, so a connect to it times out.
class FullBacklogPort : public RefusingPort {
public:
    FullBacklogPort() {
        REQUIRE(::listen(fd_, 0) == 0);
        for (int& filler : fillers_) {
            filler = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            address.sin_port = htons(port_);
            ::connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof address);
        }
    }
    ~FullBacklogPort() {
        for (const int filler : fillers_) {
            ::close(filler);
        }
    }
    FullBacklogPort(const FullBacklogPort&) = delete;
    FullBacklogPort& operator=(const FullBacklogPort&) = delete;

private:
    std::array<int, 2> fillers_{};
};

struct Run {
    OutboundResult result;
    int done_calls = 0;
};

// Runs one connection to its end on a fresh loop. abort_when, if given, is checked while the
// loop runs and aborts the connection once it holds.
Run deliver(std::vector<Target> targets,
            OutboundTimeouts timeouts,
            const std::function<bool()>& abort_when = {}) {
    Run run;
    bool finished = false;
    {
        TestLoop loop;
        OutboundConnection connection(
            loop.get(), std::move(targets), job(), timeouts, [&](OutboundResult result) {
                ++run.done_calls;
                run.result = std::move(result);
                finished = true;
            });
        connection.start();
        if (abort_when) {
            loop.run_until([&] { return finished || abort_when(); });
            connection.abort("shutting down");
        }
        if (!loop.run_until([&] { return finished; })) {
            connection.abort("test gave up");  // so that the handles close before the asserts
            loop.run_until([&] { return finished; });
        }
        CHECK(loop.run_to_end());  // nothing left open: the loop can end
    }
    REQUIRE(finished);
    return run;
}

const RecipientOutcome& outcome_of(const Run& run, const std::string& recipient) {
    for (const RecipientOutcome& outcome : run.result.outcomes) {
        if (outcome.recipient == recipient) {
            return outcome;
        }
    }
    FAIL("no outcome for " << recipient);
    throw std::logic_error("unreachable");
}

void check_all_deferred(const Run& run, const std::string& reason, std::string_view dsn) {
    REQUIRE(run.result.outcomes.size() == 2);
    for (const RecipientOutcome& outcome : run.result.outcomes) {
        CHECK(outcome.status == OutcomeStatus::Deferred);
        CHECK(outcome.reply == reason);
        CHECK(outcome.dsn == dsn);
    }
}

}  // namespace

TEST_CASE("outbound: a whole dialog, one recipient accepted and one refused", "[outbound]") {
    SmtpScript script;
    script.rcpt["carol@sink.test"] = "550 5.1.1 <carol@sink.test>: Recipient address rejected";
    ScriptedSmtpServer server(script);

    const Run run = deliver({sink_at(server.port())}, kQuick);

    REQUIRE(server.wait_closed(kServerWait));
    CHECK(server.received()
          == std::vector<std::string>{"EHLO client.test",
                                      "MAIL FROM:<alice@client.test>",
                                      "RCPT TO:<bob@sink.test>",
                                      "RCPT TO:<carol@sink.test>",
                                      "DATA",
                                      "Subject: test",
                                      "",
                                      "Hello",
                                      "..leading dot",
                                      ".",
                                      "QUIT"});
    CHECK(run.done_calls == 1);
    CHECK(run.result.relay == "sink.test[127.0.0.1]:" + std::to_string(server.port()));
    const RecipientOutcome& bob = outcome_of(run, "bob@sink.test");
    CHECK(bob.status == OutcomeStatus::Sent);
    CHECK(bob.dsn == "2.0.0");
    CHECK(bob.reply == "250 2.0.0 Ok: queued as 4A5B6C7D");
    const RecipientOutcome& carol = outcome_of(run, "carol@sink.test");
    CHECK(carol.status == OutcomeStatus::Bounced);
    CHECK(carol.dsn == "5.1.1");
    CHECK(carol.reply == "550 5.1.1 <carol@sink.test>: Recipient address rejected");
}

TEST_CASE("outbound: replies ending in bare LF, and PIPELINING, work", "[outbound]") {
    SmtpScript script;
    script.ehlo = {"250-sink.test", "250-PIPELINING", "250 8BITMIME"};
    script.line_ending = "\n";
    ScriptedSmtpServer server(script);

    const Run run = deliver({sink_at(server.port())}, kQuick);

    REQUIRE(server.wait_closed(kServerWait));
    CHECK(server.received().back() == "QUIT");
    CHECK(outcome_of(run, "bob@sink.test").status == OutcomeStatus::Sent);
    CHECK(outcome_of(run, "carol@sink.test").status == OutcomeStatus::Sent);
}

TEST_CASE("outbound: a refused connection defers every recipient", "[outbound]") {
    const RefusingPort refusing;
    const std::string port = std::to_string(refusing.port());

    const Run run = deliver({sink_at(refusing.port())}, kQuick);

    // 4.4.1, as Postfix: no answer from the host (a lost connection is 4.4.2).
    check_all_deferred(
        run, "connect to sink.test[127.0.0.1]:" + port + ": Connection refused", "4.4.1");
    CHECK(run.result.relay == "none");
    CHECK(run.done_calls == 1);
}

TEST_CASE("outbound: the next address is tried when one refuses", "[outbound]") {
    const RefusingPort refusing;
    ScriptedSmtpServer server(SmtpScript{});

    const Run run = deliver({Target{"mx1.sink.test", "127.0.0.1", refusing.port()},
                             Target{"mx2.sink.test", "127.0.0.1", server.port()}},
                            kQuick);

    CHECK(run.result.relay == "mx2.sink.test[127.0.0.1]:" + std::to_string(server.port()));
    CHECK(outcome_of(run, "bob@sink.test").status == OutcomeStatus::Sent);
}

TEST_CASE("outbound: a server that greets with 554 is skipped for the next address, as Postfix",
          "[outbound]") {
    SmtpScript refusing;
    refusing.greeting = "554 5.7.1 mx1.sink.test: no SMTP service for you";
    ScriptedSmtpServer first(refusing);
    ScriptedSmtpServer second(SmtpScript{});

    const Run run = deliver({Target{"mx1.sink.test", "127.0.0.1", first.port()},
                             Target{"mx2.sink.test", "127.0.0.1", second.port()}},
                            kQuick);

    CHECK(run.result.relay == "mx2.sink.test[127.0.0.1]:" + std::to_string(second.port()));
    CHECK(outcome_of(run, "bob@sink.test").status == OutcomeStatus::Sent);
    CHECK(outcome_of(run, "carol@sink.test").status == OutcomeStatus::Sent);
    CHECK(run.done_calls == 1);
    REQUIRE(second.wait_closed(kServerWait));
    CHECK(second.received().back() == "QUIT");
}

TEST_CASE("outbound: when every server refuses to talk, all are deferred with the last reply",
          "[outbound]") {
    SmtpScript busy;
    busy.greeting = "421 4.3.2 mx1.sink.test busy, try later";
    SmtpScript refusing;
    refusing.greeting = "554 5.7.1 mx2.sink.test: no SMTP service for you";
    ScriptedSmtpServer first(busy);
    ScriptedSmtpServer second(refusing);

    const Run run = deliver({Target{"mx1.sink.test", "127.0.0.1", first.port()},
                             Target{"mx2.sink.test", "127.0.0.1", second.port()}},
                            kQuick);

    // Never bounced on a greeting: the 5.7.1 becomes 4.7.1, and the message is tried later.
    check_all_deferred(run, "554 5.7.1 mx2.sink.test: no SMTP service for you", "4.7.1");
    CHECK(run.result.relay == "mx2.sink.test[127.0.0.1]:" + std::to_string(second.port()));
    CHECK(run.done_calls == 1);
}

TEST_CASE("outbound: when every address refuses, the last error is the reason", "[outbound]") {
    const RefusingPort first;
    const RefusingPort second;

    const Run run = deliver({Target{"mx1.sink.test", "127.0.0.1", first.port()},
                             Target{"mx2.sink.test", "127.0.0.1", second.port()}},
                            kQuick);

    check_all_deferred(run,
                       "connect to mx2.sink.test[127.0.0.1]:" + std::to_string(second.port())
                           + ": Connection refused",
                       "4.4.1");
}

TEST_CASE("outbound: a connect that gets no answer times out", "[outbound]") {
    const FullBacklogPort full;

    const Run run = deliver({sink_at(full.port())}, OutboundTimeouts{200, 2000});

    check_all_deferred(
        run,
        "connect to sink.test[127.0.0.1]:" + std::to_string(full.port()) + ": Connection timed out",
        "4.4.1");
}

TEST_CASE("outbound: a server that never answers times out", "[outbound]") {
    SmtpScript script;
    script.silent = true;
    ScriptedSmtpServer server(script);

    const Run run = deliver({sink_at(server.port())}, kShortReply);

    check_all_deferred(run,
                       "conversation with sink.test[127.0.0.1] timed out while receiving the "
                       "initial server greeting",
                       "4.4.2");
    CHECK(run.result.relay == "sink.test[127.0.0.1]:" + std::to_string(server.port()));
    REQUIRE(server.wait_closed(kServerWait));
    CHECK(server.received().empty());
}

TEST_CASE("outbound: a server that stops answering after EHLO times out", "[outbound]") {
    SmtpScript script;
    script.at_ehlo = AtEhlo::Hang;
    ScriptedSmtpServer server(script);

    const Run run = deliver({sink_at(server.port())}, kShortReply);

    check_all_deferred(run,
                       "conversation with sink.test[127.0.0.1] timed out while performing the "
                       "EHLO handshake",
                       "4.4.2");
}

TEST_CASE("outbound: a dropped connection defers with Postfix's wording", "[outbound]") {
    SmtpScript script;
    script.at_ehlo = AtEhlo::Close;
    ScriptedSmtpServer server(script);

    const Run run = deliver({sink_at(server.port())}, kQuick);

    check_all_deferred(
        run,
        "lost connection with sink.test[127.0.0.1] while performing the EHLO handshake",
        "4.4.2");
}

TEST_CASE("outbound: abort in the middle of the dialog defers with its reason", "[outbound]") {
    SmtpScript script;
    script.at_ehlo = AtEhlo::Hang;
    ScriptedSmtpServer server(script);

    const Run run = deliver({sink_at(server.port())}, OutboundTimeouts{2000, 5000}, [&] {
        return !server.received().empty();  // EHLO arrived: the dialog is under way
    });

    check_all_deferred(run, "shutting down", "4.4.2");
    CHECK(run.done_calls == 1);
}

TEST_CASE("outbound: abort while connecting defers with its reason", "[outbound]") {
    const FullBacklogPort full;

    const Run run = deliver({sink_at(full.port())}, kQuick, [] { return true; });

    check_all_deferred(run, "shutting down", "4.4.2");
    CHECK(run.result.relay == "none");
}

TEST_CASE("outbound: no target at all defers every recipient", "[outbound]") {
    const Run run = deliver({}, kQuick);

    check_all_deferred(run, "no address to connect to", "4.4.1");
}
