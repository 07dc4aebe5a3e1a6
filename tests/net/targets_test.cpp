// Tests of net::resolve_targets against dnsmasq on 127.0.0.1 (the zone of resolver_rig.h):
// MX order, implicit MX, NXDOMAIN and null MX bounces, a relayhost's MX, a temporary failure,
// and one delivery to an SMTP server found through DNS.
#include "server/net/destination.h"
#include "server/net/outbound_connection.h"
#include "tests/net/resolver_rig.h"
#include "tests/net/scripted_smtp_server.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

using labmta::common::choose_destination;
using labmta::common::Destination;
using labmta::net::DnsError;
using labmta::net::DnsTimeouts;
using labmta::net::OutboundConnection;
using labmta::net::OutboundResult;
using labmta::net::OutboundTimeouts;
using labmta::net::Target;
using labmta::net::TargetsResult;
using labmta::protocol::ClientJob;
using labmta::protocol::OutcomeStatus;
using labmta::test::ResolverRig;
using labmta::test::ScriptedSmtpServer;
using labmta::test::SilentDnsServer;
using labmta::test::SmtpScript;
using labmta::test::start_test_dns;

TEST_CASE("targets: MX hosts by preference, each with its addresses", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});

    const TargetsResult result = rig.targets(Destination{"example.test", 25, true});

    REQUIRE(result.error == DnsError::None);
    CHECK(result.targets
          == std::vector<Target>{{"mx1.example.test", "127.0.0.1", 25},
                                 {"mx2.example.test", "127.0.0.2", 25},
                                 {"mx2.example.test", "::1", 25}});
}

TEST_CASE("targets: a domain with an A record and no MX is its own MX", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});

    const TargetsResult result = rig.targets(Destination{"nomx.test", 25, true});

    REQUIRE(result.error == DnsError::None);
    CHECK(result.targets == std::vector<Target>{{"nomx.test", "127.0.0.3", 25}});
}

TEST_CASE("targets: an unknown domain bounces with 5.4.4", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});

    const TargetsResult result = rig.targets(Destination{"nope.test", 25, true});

    CHECK(result.error == DnsError::NotFound);
    CHECK(result.dsn == "5.4.4");
    CHECK(result.reason
          == "Host or domain name not found. Name service error for name=nope.test type=A: "
             "Host not found");
    CHECK(result.targets.empty());
}

TEST_CASE("targets: a null MX bounces with 5.1.10 (RFC 7505)", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});

    const TargetsResult result = rig.targets(Destination{"nullmx.test", 25, true});

    CHECK(result.error == DnsError::NotFound);
    CHECK(result.dsn == "5.1.10");
    CHECK(result.reason == "Domain nullmx.test does not accept mail (nullMX)");
}

TEST_CASE("targets: a relayhost host:port uses the host's MX with that port", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});
    const auto destination = choose_destination("gmail.com", "example.test:2525");
    REQUIRE(destination);

    const TargetsResult result = rig.targets(*destination);

    REQUIRE(result.error == DnsError::None);
    CHECK(result.targets.front() == Target{"mx1.example.test", "127.0.0.1", 2525});
}

TEST_CASE("targets: a DNS server that never answers defers with 4.4.3", "[resolver]") {
    const SilentDnsServer silent;
    ResolverRig rig({silent.server()}, DnsTimeouts{100, 1});

    const TargetsResult result = rig.targets(Destination{"example.test", 25, true});

    CHECK(result.error == DnsError::TemporaryFailure);
    CHECK(result.dsn == "4.4.3");
    CHECK(result.reason
          == "Host or domain name not found. Name service error for name=example.test type=MX: "
             "Host not found, try again (Timeout while contacting DNS servers)");
}

TEST_CASE("targets: delivery through MX to a server found in DNS", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ScriptedSmtpServer server(SmtpScript{});
    const std::string relayhost = "example.test:" + std::to_string(server.port());
    std::optional<OutboundResult> delivered;
    {
        ResolverRig rig({dns->server()});
        const TargetsResult route = rig.targets(*choose_destination("example.test", relayhost));
        REQUIRE(route.error == DnsError::None);
        // Only the first target: the others are addresses where no test server listens.
        OutboundConnection connection(
            rig.loop.get(),
            {route.targets.front()},
            ClientJob{"client.test", "a@client.test", {"b@example.test"}, "Hi\n"},
            OutboundTimeouts{2000, 2000},
            [&](OutboundResult result) { delivered = std::move(result); });
        connection.start();
        if (!rig.loop.run_until([&] { return delivered.has_value(); })) {
            connection.abort("test gave up");  // its handles must close before it is destroyed
            rig.loop.run_until([&] { return delivered.has_value(); });
        }
    }
    REQUIRE(delivered);
    CHECK(delivered->relay == "mx1.example.test[127.0.0.1]:" + std::to_string(server.port()));
    REQUIRE(delivered->outcomes.size() == 1);
    CHECK(delivered->outcomes.front().status == OutcomeStatus::Sent);
}
