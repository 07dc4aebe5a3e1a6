// Shared pieces of the resolver and targets tests: the test zone served by dnsmasq, a loop with
// a resolver that is always closed cleanly, and a DNS server that never answers. Test code
// only; helpers use Catch macros and run on the test's thread.
#pragma once

#include "server/net/destination.h"
#include "server/net/resolver.h"
#include "tests/net/dnsmasq.h"
#include "tests/net/test_loop.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace labmta::test {

inline constexpr net::DnsTimeouts kQuickDns{1000, 2};

// dnsmasq on 127.0.0.1 serving the test zone (every name under .test is answered locally):
//   example.test  MX 10 mx1.example.test, MX 20 mx2.example.test
//   mx1.example.test A 127.0.0.1;  mx2.example.test A 127.0.0.2, AAAA ::1
//   nomx.test     A 127.0.0.3 and no MX;  nullmx.test MX 0 "." (RFC 7505);  nope.test: NXDOMAIN
// nullptr, with a Catch warning, when dnsmasq is not installed: the test then returns.
std::unique_ptr<Dnsmasq> start_test_dns();

// A loop and a resolver on it; the resolver is closed, and its handles too, however the test
// ends. The lookups run the loop until their answer (bounded by kLoopWait).
struct ResolverRig {
    explicit ResolverRig(const std::vector<std::string>& servers,
                         net::DnsTimeouts timeouts = kQuickDns);
    ~ResolverRig();
    ResolverRig(const ResolverRig&) = delete;
    ResolverRig& operator=(const ResolverRig&) = delete;

    net::MxResult mx(const std::string& domain);
    net::AddressResult addresses(const std::string& host);
    net::TargetsResult targets(const common::Destination& destination);

    TestLoop loop;
    std::unique_ptr<net::Resolver> resolver;
};

// A UDP socket on 127.0.0.1 that receives DNS queries and never answers.
class SilentDnsServer {
public:
    SilentDnsServer();
    ~SilentDnsServer();
    SilentDnsServer(const SilentDnsServer&) = delete;
    SilentDnsServer& operator=(const SilentDnsServer&) = delete;

    std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
    bool has_received_query() const;

private:
    int fd_;
    std::uint16_t port_ = 0;
};

}  // namespace labmta::test

namespace Catch {
template <>
struct StringMaker<labmta::common::MxRecord> {
    static std::string convert(const labmta::common::MxRecord& record) {
        return record.host + "/" + std::to_string(record.preference);
    }
};
template <>
struct StringMaker<labmta::net::Target> {
    static std::string convert(const labmta::net::Target& target) {
        return target.host + "[" + target.ip + "]:" + std::to_string(target.port);
    }
};
}  // namespace Catch
