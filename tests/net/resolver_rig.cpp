// See resolver_rig.h.
#include "tests/net/resolver_rig.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

namespace labmta::test {
namespace {

const std::vector<std::string> kTestZone{
    "--mx-host=example.test,mx2.example.test,20",
    "--mx-host=example.test,mx1.example.test,10",
    "--host-record=mx1.example.test,127.0.0.1",
    "--host-record=mx2.example.test,127.0.0.2,::1",
    "--host-record=nomx.test,127.0.0.3",
    "--mx-host=nullmx.test,.,0",
};

}  // namespace

std::unique_ptr<Dnsmasq> start_test_dns() {
    const std::optional<std::string> binary = find_dnsmasq();
    if (!binary) {
        WARN("dnsmasq is not installed (Debian: dnsmasq-base): test skipped");
        return nullptr;
    }
    return std::make_unique<Dnsmasq>(*binary, kTestZone);
}

ResolverRig::ResolverRig(const std::vector<std::string>& servers, net::DnsTimeouts timeouts)
    : resolver(std::make_unique<net::Resolver>(loop.get(), servers, timeouts)) {}

ResolverRig::~ResolverRig() {
    resolver->close();
    loop.run_until([&] { return resolver->is_closed(); });
}

net::MxResult ResolverRig::mx(const std::string& domain) {
    std::optional<net::MxResult> result;
    resolver->resolve_mx(domain, [&](net::MxResult answer) { result = std::move(answer); });
    REQUIRE(loop.run_until([&] { return result.has_value(); }));
    return *result;
}

net::AddressResult ResolverRig::addresses(const std::string& host) {
    std::optional<net::AddressResult> result;
    resolver->resolve_addresses(host,
                                [&](net::AddressResult answer) { result = std::move(answer); });
    REQUIRE(loop.run_until([&] { return result.has_value(); }));
    return *result;
}

net::TargetsResult ResolverRig::targets(const common::Destination& destination) {
    std::optional<net::TargetsResult> result;
    net::resolve_targets(
        *resolver, destination, [&](net::TargetsResult answer) { result = std::move(answer); });
    REQUIRE(loop.run_until([&] { return result.has_value(); }));
    return *result;
}

SilentDnsServer::SilentDnsServer() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(fd_ >= 0);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
}

SilentDnsServer::~SilentDnsServer() {
    ::close(fd_);
}

bool SilentDnsServer::has_received_query() const {
    char byte = 0;
    return ::recv(fd_, &byte, 1, MSG_PEEK) >= 0;
}

}  // namespace labmta::test
