// A list of IP networks (relay.networks) and the test "is this client address inside one of
// them?". Pure: parsing and comparing bytes only, no I/O, no name resolution.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::common {

class NetworkList {
public:
    NetworkList() = default;

    // Each entry is "address/prefix" or a bare address (a host: /32 or /128), as
    // config::parse_cidr returns them. Throws labmta::StartupError on an entry that does not
    // parse or has host bits set: the config has already refused those, so this is a bug.
    explicit NetworkList(const std::vector<std::string>& cidrs);

    // True when `ip`, a numeric IPv4 or IPv6 address as a peer name gives it, is inside one
    // of the networks. An IPv4-mapped IPv6 address ("::ffff:127.0.0.1", from a dual-stack
    // socket) is the IPv4 client it stands for, as in Postfix. Anything else (a name, a zone
    // index, an empty or over-long text) is never inside: false, never an error.
    bool contains(std::string_view ip) const;

    bool empty() const { return networks_.empty(); }

private:
    struct Network {
        bool is_ipv6 = false;
        std::array<unsigned char, 16> bytes{};  // IPv4 uses the first 4
        unsigned prefix_bits = 0;
    };

    static bool matches(const Network& network, const Network& host);

    std::vector<Network> networks_;
};

}  // namespace labmta::common
