// Tests of net::Resolver and net::resolve_targets. [dns] tests ask a real DNS server (dnsmasq
// on 127.0.0.1, started per test with records for *.test); the others need no server: IP
// literals, a server that never answers (timeout), cancelling on close(). Nothing leaves
// 127.0.0.0/8: every resolver is given 127.0.0.1 servers only.
#include "server/net/resolver.h"

#include "common/startup_error.h"
#include "server/net/destination.h"
#include "server/net/outbound_connection.h"
#include "tests/net/dnsmasq.h"
#include "tests/net/scripted_smtp_server.h"
#include "tests/net/test_loop.h"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using labmta::common::Destination;
using labmta::common::MxRecord;
using labmta::net::AddressResult;
using labmta::net::DnsError;
using labmta::net::DnsTimeouts;
using labmta::net::MxResult;
using labmta::net::resolve_targets;
using labmta::net::Resolver;
using labmta::net::Target;
using labmta::net::TargetsResult;
using labmta::test::Dnsmasq;
using labmta::test::TestLoop;

namespace {

constexpr DnsTimeouts kQuickDns{1000, 2};

const std::vector<std::string> kRecords{
    "--mx-host=example.test,mx2.example.test,20",
    "--mx-host=example.test,mx1.example.test,10",
    "--host-record=mx1.example.test,127.0.0.1",
    "--host-record=mx2.example.test,127.0.0.2,::1",
    "--host-record=nomx.test,127.0.0.3",
    "--mx-host=nullmx.test,.,0",
};

// A loop and a resolver on it; the resolver is closed and its handles are closed when the
// test ends, however it ends.
struct ResolverRig {
    explicit ResolverRig(const std::vector<std::string>& servers, DnsTimeouts timeouts = kQuickDns)
        : resolver(std::make_unique<Resolver>(loop.get(), servers, timeouts)) {}
    ~ResolverRig() {
        resolver->close();
        loop.run_until([&] { return resolver->is_closed(); });
    }
    ResolverRig(const ResolverRig&) = delete;
    ResolverRig& operator=(const ResolverRig&) = delete;

    MxResult mx(const std::string& domain) {
        std::optional<MxResult> result;
        resolver->resolve_mx(domain, [&](MxResult answer) { result = std::move(answer); });
        REQUIRE(loop.run_until([&] { return result.has_value(); }));
        return *result;
    }
    AddressResult addresses(const std::string& host) {
        std::optional<AddressResult> result;
        resolver->resolve_addresses(host,
                                    [&](AddressResult answer) { result = std::move(answer); });
        REQUIRE(loop.run_until([&] { return result.has_value(); }));
        return *result;
    }
    TargetsResult targets(const Destination& destination) {
        std::optional<TargetsResult> result;
        resolve_targets(
            *resolver, destination, [&](TargetsResult answer) { result = std::move(answer); });
        REQUIRE(loop.run_until([&] { return result.has_value(); }));
        return *result;
    }

    TestLoop loop;
    std::unique_ptr<Resolver> resolver;
};

// A UDP socket on 127.0.0.1 that receives DNS queries and never answers.
class SilentDnsServer {
public:
    SilentDnsServer() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0);
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
        port_ = ntohs(address.sin_port);
    }
    ~SilentDnsServer() { ::close(fd_); }
    SilentDnsServer(const SilentDnsServer&) = delete;
    SilentDnsServer& operator=(const SilentDnsServer&) = delete;

    std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
    bool has_received_query() const {
        char byte = 0;
        return ::recv(fd_, &byte, 1, MSG_PEEK) >= 0;
    }

private:
    int fd_;
    std::uint16_t port_ = 0;
};

// dnsmasq with kRecords, or nullopt (and a warning) when it is not installed.
std::optional<std::string> dnsmasq_binary() {
    std::optional<std::string> binary = labmta::test::find_dnsmasq();
    if (!binary) {
        WARN("dnsmasq is not installed (Debian: dnsmasq-base): test skipped");
    }
    return binary;
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<MxRecord> {
    static std::string convert(const MxRecord& record) {
        return record.host + "/" + std::to_string(record.preference);
    }
};
template <>
struct StringMaker<Target> {
    static std::string convert(const Target& target) {
        return target.host + "[" + target.ip + "]:" + std::to_string(target.port);
    }
};
}  // namespace Catch

TEST_CASE("resolver: MX records of a domain", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});

    MxResult result = rig.mx("example.test");

    REQUIRE(result.error == DnsError::None);
    std::sort(result.records.begin(), result.records.end(), [](const auto& a, const auto& b) {
        return a.preference < b.preference;
    });
    CHECK(result.records
          == std::vector<MxRecord>{{"mx1.example.test", 10}, {"mx2.example.test", 20}});
}

TEST_CASE("resolver: A and AAAA records of a host, IPv4 first", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});

    const AddressResult mx1 = rig.addresses("mx1.example.test");
    CHECK(mx1.error == DnsError::None);
    CHECK(mx1.addresses == std::vector<std::string>{"127.0.0.1"});
    const AddressResult mx2 = rig.addresses("mx2.example.test");
    CHECK(mx2.error == DnsError::None);
    CHECK(mx2.addresses == std::vector<std::string>{"127.0.0.2", "::1"});
}

TEST_CASE("resolver: NXDOMAIN is NotFound", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});

    const MxResult mx = rig.mx("nope.test");
    CHECK(mx.error == DnsError::NotFound);
    CHECK(mx.detail == "Host not found");
    const AddressResult addresses = rig.addresses("nope.test");
    CHECK(addresses.error == DnsError::NotFound);
    CHECK(addresses.addresses.empty());
}

TEST_CASE("resolver: a name without MX record is NotFound with no data", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});

    const MxResult mx = rig.mx("nomx.test");
    CHECK(mx.error == DnsError::NotFound);
    CHECK(mx.detail == "Host found but no data record of requested type");
}

TEST_CASE("resolver: a REFUSED answer is a TemporaryFailure", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    // Outside its local zones and without upstream servers, dnsmasq answers REFUSED.
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});

    const MxResult mx = rig.mx("example.invalid");
    CHECK(mx.error == DnsError::TemporaryFailure);
    CHECK_THAT(mx.detail, Catch::StartsWith("Host not found, try again"));
}

TEST_CASE("targets: MX hosts by preference, each with its addresses", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});

    const TargetsResult result = rig.targets(Destination{"example.test", 25, true});

    REQUIRE(result.error == DnsError::None);
    CHECK(result.targets
          == std::vector<Target>{{"mx1.example.test", "127.0.0.1", 25},
                                 {"mx2.example.test", "127.0.0.2", 25},
                                 {"mx2.example.test", "::1", 25}});
}

TEST_CASE("targets: a domain with an A record and no MX is its own MX", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});

    const TargetsResult result = rig.targets(Destination{"nomx.test", 25, true});

    REQUIRE(result.error == DnsError::None);
    CHECK(result.targets == std::vector<Target>{{"nomx.test", "127.0.0.3", 25}});
}

TEST_CASE("targets: an unknown domain bounces with 5.4.4", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});

    const TargetsResult result = rig.targets(Destination{"nope.test", 25, true});

    CHECK(result.error == DnsError::NotFound);
    CHECK(result.dsn == "5.4.4");
    CHECK(result.reason
          == "Host or domain name not found. Name service error for name=nope.test type=A: "
             "Host not found");
    CHECK(result.targets.empty());
}

TEST_CASE("targets: a null MX bounces with 5.1.10 (RFC 7505)", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});

    const TargetsResult result = rig.targets(Destination{"nullmx.test", 25, true});

    CHECK(result.error == DnsError::NotFound);
    CHECK(result.dsn == "5.1.10");
    CHECK(result.reason == "Domain nullmx.test does not accept mail (nullMX)");
}

TEST_CASE("targets: a relayhost host:port uses the host's MX with that port", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    ResolverRig rig({dns.server()});
    const auto destination = labmta::common::choose_destination("gmail.com", "example.test:2525");
    REQUIRE(destination);

    const TargetsResult result = rig.targets(*destination);

    REQUIRE(result.error == DnsError::None);
    CHECK(result.targets.front() == Target{"mx1.example.test", "127.0.0.1", 2525});
}

TEST_CASE("targets: delivery through MX to a server found in DNS", "[dns]") {
    const auto binary = dnsmasq_binary();
    if (!binary) {
        return;
    }
    const Dnsmasq dns(*binary, kRecords);
    labmta::test::ScriptedSmtpServer server(labmta::test::SmtpScript{});
    const std::string relayhost = "example.test:" + std::to_string(server.port());
    std::optional<labmta::net::OutboundResult> delivered;
    {
        ResolverRig rig({dns.server()});
        const TargetsResult route =
            rig.targets(*labmta::common::choose_destination("example.test", relayhost));
        REQUIRE(route.error == DnsError::None);
        // Only the first target: the others are other 127/8 or ::1 addresses with no server.
        labmta::net::OutboundConnection connection(
            rig.loop.get(),
            {route.targets.front()},
            labmta::protocol::ClientJob{"client.test", "a@client.test", {"b@example.test"}, "Hi\n"},
            labmta::net::OutboundTimeouts{2000, 2000},
            [&](labmta::net::OutboundResult result) { delivered = std::move(result); });
        connection.start();
        if (!rig.loop.run_until([&] { return delivered.has_value(); })) {
            connection.abort("test gave up");
            rig.loop.run_until([&] { return delivered.has_value(); });
        }
    }
    REQUIRE(delivered);
    CHECK(delivered->relay == "mx1.example.test[127.0.0.1]:" + std::to_string(server.port()));
    REQUIRE(delivered->outcomes.size() == 1);
    CHECK(delivered->outcomes.front().status == labmta::protocol::OutcomeStatus::Sent);
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
    const TargetsResult targets = rig.targets(Destination{"example.test", 25, true});
    CHECK(targets.error == DnsError::TemporaryFailure);
    CHECK(targets.dsn == "4.4.3");
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

        CHECK(mx.has_value());
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
