// Delivery by MX lookup (issue 3): no relayhost, dns.servers pointing at a dnsmasq started by
// the test on 127.0.0.1 with records for a made-up domain (example.test), whose MX host is an
// SmtpSink on port 25 of another loopback address (MX hosts are always contacted on port 25).
// Skipped with a warning when dnsmasq is not installed or no 127.0.0.x:25 can be bound (port
// 25 needs root or CAP_NET_BIND_SERVICE, and may be taken).
#include "tests/e2e/harness.h"
#include "tests/net/dnsmasq.h"
#include "tests/support/smtp_sink.h"

#include <catch2/catch.hpp>

#include <memory>
#include <optional>

namespace labmta::test {
namespace {

// A sink on <127.0.0.x>:25 for the first x in 2..20 that can be bound; nullptr when none.
std::unique_ptr<SmtpSink> sink_on_port_25(SinkPolicy policy = {}, int first = 2) {
    for (int x = first; x <= 20; ++x) {
        try {
            return std::make_unique<SmtpSink>(policy, "127.0.0." + std::to_string(x), 25);
        } catch (const std::exception&) {
            continue;
        }
    }
    return nullptr;
}

// What the MX tests need, or a reason to skip them.
struct MxSetup {
    std::optional<std::string> dnsmasq;
    std::unique_ptr<SmtpSink> sink;
    std::string skip_reason;
};

MxSetup mx_setup() {
    MxSetup setup;
    setup.dnsmasq = find_dnsmasq();
    if (!setup.dnsmasq) {
        setup.skip_reason = "dnsmasq is not installed (Debian package dnsmasq-base)";
        return setup;
    }
    setup.sink = sink_on_port_25();
    if (!setup.sink) {
        setup.skip_reason =
            "cannot bind an SMTP sink to port 25 of any 127.0.0.2-20 "
            "(not root, or the port is taken)";
    }
    return setup;
}

std::string mx_config(const Dnsmasq& dns) {
    OutboundConfig outbound;
    outbound.networks = {"127.0.0.0/8"};
    outbound.dns_servers = {dns.server()};
    return make_outbound_config_yaml(outbound);
}

std::string queue_message(TestServer& server,
                          const std::string& recipient,
                          const std::string& marker) {
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO client.example").starts_with("250-"));
    const std::string id =
        send_message(client, "joiakim@domain.local", {recipient}, "Subject: " + marker);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    return id;
}

}  // namespace

TEST_CASE("e2e mx: mail for example.test goes to its MX host found through dns.servers",
          "[e2e][mx]") {
    MxSetup setup = mx_setup();
    if (!setup.skip_reason.empty()) {
        WARN("skipped: " << setup.skip_reason);
        return;
    }
    SmtpSink& sink = *setup.sink;
    const Dnsmasq dns(*setup.dnsmasq,
                      {"--mx-host=example.test,mx.example.test,10",
                       "--host-record=mx.example.test," + sink.address()});
    TestServer server({mx_config(dns), ""});
    const std::string marker = unique_marker();
    const std::string id = queue_message(server, "someone@example.test", marker);

    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));
    const SinkTransaction message = sink.accepted_messages().front();
    CHECK(message.helo == "profbox.domain.local");
    CHECK(message.mail_from == "joiakim@domain.local");
    CHECK(message.rcpt_to == std::vector<std::string>{"someone@example.test"});
    CHECK(message.data.find("Subject: " + marker + "\r\n") != std::string::npos);
    const std::string sent = wait_for_log_line(
        server.process(),
        ": " + id + ": to=<someone@example\\.test>, relay=mx\\.example\\.test\\["
            + regex_escape(sink.address()) + "\\]:25, .*dsn=2\\.0\\.0, status=sent \\(250 ");
    INFO("server log:\n" << server.process().log());
    CHECK_FALSE(sent.empty());
    CHECK_FALSE(wait_for_log_line(server.process(), ": " + id + ": removed$").empty());
    INFO("dnsmasq log:\n" << dns.log());
    CHECK(dns.log().find("query[MX] example.test") != std::string::npos);
}

TEST_CASE("e2e mx: a domain without MX records gets its mail at its A record", "[e2e][mx]") {
    MxSetup setup = mx_setup();
    if (!setup.skip_reason.empty()) {
        WARN("skipped: " << setup.skip_reason);
        return;
    }
    SmtpSink& sink = *setup.sink;
    const Dnsmasq dns(*setup.dnsmasq, {"--host-record=nomx.example.test," + sink.address()});
    TestServer server({mx_config(dns), ""});
    const std::string marker = unique_marker();
    const std::string id = queue_message(server, "someone@nomx.example.test", marker);
    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));
    CHECK(sink.accepted_messages().front().rcpt_to
          == std::vector<std::string>{"someone@nomx.example.test"});
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  ": " + id
                                      + ": to=<someone@nomx\\.example\\.test>, "
                                        "relay=nomx\\.example\\.test\\["
                                      + regex_escape(sink.address()) + "\\]:25, .*status=sent")
                    .empty());
}

TEST_CASE("e2e mx: when the preferred MX host refuses connections the next one gets the mail",
          "[e2e][mx]") {
    MxSetup setup = mx_setup();
    if (!setup.skip_reason.empty()) {
        WARN("skipped: " << setup.skip_reason);
        return;
    }
    SmtpSink& sink = *setup.sink;
    // 127.0.0.21:25 has no listener (the sinks only use .2 to .20): connection refused.
    const Dnsmasq dns(*setup.dnsmasq,
                      {"--mx-host=example.test,mx1.example.test,10",
                       "--mx-host=example.test,mx2.example.test,20",
                       "--host-record=mx1.example.test,127.0.0.21",
                       "--host-record=mx2.example.test," + sink.address()});
    TestServer server({mx_config(dns), ""});
    const std::string id = queue_message(server, "someone@example.test", unique_marker());
    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));
    CHECK_FALSE(wait_for_log_line(server.process(),
                                  ": " + id
                                      + ": to=<someone@example\\.test>, "
                                        "relay=mx2\\.example\\.test\\[.*status=sent")
                    .empty());
}

}  // namespace labmta::test
