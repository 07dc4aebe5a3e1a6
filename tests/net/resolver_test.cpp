// Tests of net::Resolver. [dns] tests ask a real DNS server (dnsmasq on 127.0.0.1, started per
// test with the zone of resolver_rig.h); [resolver] tests need none: IP literals, a server that
// never answers, close(). Every resolver gets 127.0.0.1 servers only: nothing leaves the host.
#include "server/net/resolver.h"

#include "common/startup_error.h"
#include "tests/net/resolver_rig.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

using labmta::common::Destination;
using labmta::common::MxRecord;
using labmta::net::AddressResult;
using labmta::net::DnsError;
using labmta::net::DnsTimeouts;
using labmta::net::MxResult;
using labmta::net::Resolver;
using labmta::net::Target;
using labmta::net::TargetsResult;
using labmta::test::ResolverRig;
using labmta::test::SilentDnsServer;
using labmta::test::start_test_dns;
using labmta::test::TestLoop;

TEST_CASE("resolver: MX records of a domain", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});

    MxResult result = rig.mx("example.test");

    REQUIRE(result.error == DnsError::None);
    std::sort(result.records.begin(), result.records.end(), [](const auto& a, const auto& b) {
        return a.preference < b.preference;
    });
    CHECK(result.records
          == std::vector<MxRecord>{{"mx1.example.test", 10}, {"mx2.example.test", 20}});
}

TEST_CASE("resolver: A and AAAA records of a host, IPv4 first", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});

    const AddressResult mx1 = rig.addresses("mx1.example.test");
    CHECK(mx1.error == DnsError::None);
    CHECK(mx1.addresses == std::vector<std::string>{"127.0.0.1"});
    const AddressResult mx2 = rig.addresses("mx2.example.test");
    CHECK(mx2.error == DnsError::None);
    CHECK(mx2.addresses == std::vector<std::string>{"127.0.0.2", "::1"});
}

TEST_CASE("resolver: NXDOMAIN is NotFound", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});

    const MxResult mx = rig.mx("nope.test");
    CHECK(mx.error == DnsError::NotFound);
    CHECK(mx.detail == "Host not found");
    const AddressResult addresses = rig.addresses("nope.test");
    CHECK(addresses.error == DnsError::NotFound);
    CHECK(addresses.detail == "Host not found");
    CHECK(addresses.addresses.empty());
}

TEST_CASE("resolver: a name without MX record is NotFound with no data", "[dns]") {
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});

    const MxResult mx = rig.mx("nomx.test");

    CHECK(mx.error == DnsError::NotFound);
    CHECK(mx.detail == "Host found but no data record of requested type");
}

TEST_CASE("resolver: a REFUSED answer is a TemporaryFailure", "[dns]") {
    // Outside its local zone and without upstream servers, dnsmasq answers REFUSED.
    const auto dns = start_test_dns();
    if (!dns) {
        return;
    }
    ResolverRig rig({dns->server()});

    const MxResult mx = rig.mx("example.invalid");

    CHECK(mx.error == DnsError::TemporaryFailure);
    CHECK_THAT(mx.detail, Catch::StartsWith("Host not found, try again"));
}

TEST_CASE("resolver: an IP address resolves to itself without a query", "[resolver]") {
    const SilentDnsServer silent;
    ResolverRig rig({silent.server()});

    CHECK(rig.addresses("127.0.0.1").addresses == std::vector<std::string>{"127.0.0.1"});
    CHECK(rig.addresses("::1").addresses == std::vector<std::string>{"::1"});
    const TargetsResult result = rig.targets(Destination{"127.0.0.1", 2525, false});
    CHECK(result.targets == std::vector<Target>{{"127.0.0.1", "127.0.0.1", 2525}});
    CHECK_FALSE(silent.has_received_query());
}

TEST_CASE("resolver: a server that never answers is a TemporaryFailure", "[resolver]") {
    const SilentDnsServer silent;
    ResolverRig rig({silent.server()}, DnsTimeouts{100, 1});

    const MxResult mx = rig.mx("example.test");

    CHECK(mx.error == DnsError::TemporaryFailure);
    CHECK(mx.detail == "Host not found, try again (Timeout while contacting DNS servers)");
    CHECK(silent.has_received_query());
}

TEST_CASE("resolver: close() cancels pending lookups and the loop ends", "[resolver]") {
    const SilentDnsServer silent;
    TestLoop loop;
    std::optional<MxResult> mx;
    std::optional<AddressResult> addresses;
    std::optional<TargetsResult> targets;
    {
        Resolver resolver(loop.get(), {silent.server()}, DnsTimeouts{5000, 2});
        resolver.resolve_mx("example.test", [&](MxResult result) { mx = std::move(result); });
        resolver.resolve_addresses("mx.example.test",
                                   [&](AddressResult result) { addresses = std::move(result); });
        resolve_targets(resolver, Destination{"example.test", 25, true}, [&](TargetsResult result) {
            targets = std::move(result);
        });
        loop.run_until([&] { return silent.has_received_query(); });

        resolver.close();

        CHECK(mx.has_value());  // before close() returned
        CHECK(addresses.has_value());
        CHECK(targets.has_value());
        CHECK(loop.run_to_end(std::chrono::milliseconds(2000)));
        CHECK(resolver.is_closed());
    }
    REQUIRE(mx);
    CHECK(mx->error == DnsError::Cancelled);
    REQUIRE(addresses);
    CHECK(addresses->error == DnsError::Cancelled);
    REQUIRE(targets);
    CHECK(targets->error == DnsError::Cancelled);
    CHECK(targets->dsn == "4.4.3");
}

TEST_CASE("resolver: lookups after close() complete at once with Cancelled", "[resolver]") {
    TestLoop loop;
    Resolver resolver(loop.get(), {"127.0.0.1:53"});
    resolver.close();
    std::optional<MxResult> mx;

    resolver.resolve_mx("example.test", [&](MxResult result) { mx = std::move(result); });

    REQUIRE(mx);
    CHECK(mx->error == DnsError::Cancelled);
    CHECK(loop.run_to_end(std::chrono::milliseconds(2000)));
}

TEST_CASE("resolver: a malformed server is a startup error", "[resolver]") {
    TestLoop loop;
    CHECK_THROWS_AS(Resolver(loop.get(), {"not a server"}), labmta::StartupError);
}
