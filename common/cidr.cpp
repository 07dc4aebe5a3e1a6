// See cidr.h. Addresses are parsed with inet_pton, which accepts only the numeric forms
// (RFC 4291 2.2 for IPv6, dotted quad for IPv4): no names, no octal, no zone index.
#include "common/cidr.h"

#include "common/startup_error.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <optional>

namespace labmta::common {
namespace {

constexpr unsigned kIpv4Bits = 32;
constexpr unsigned kIpv6Bits = 128;
constexpr std::size_t kMappedPrefixBytes = 12;  // ::ffff:0:0/96, RFC 4291 2.5.5.2
constexpr unsigned kMappedPrefixBits = 96;
constexpr std::array<unsigned char, kMappedPrefixBytes> kMappedPrefix = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

struct ParsedAddress {
    bool ok = false;
    bool is_ipv6 = false;
    std::array<unsigned char, 16> bytes{};
};

// inet_pton needs a NUL-terminated string; a text with an embedded NUL or longer than any
// numeric address is refused here rather than silently cut short.
ParsedAddress parse_address(std::string_view text) {
    ParsedAddress parsed;
    std::array<char, INET6_ADDRSTRLEN> buffer{};
    if (text.empty() || text.size() >= buffer.size() || text.find('\0') != std::string_view::npos) {
        return parsed;
    }
    std::copy(text.begin(), text.end(), buffer.begin());
    parsed.is_ipv6 = text.find(':') != std::string_view::npos;
    parsed.ok =
        inet_pton(parsed.is_ipv6 ? AF_INET6 : AF_INET, buffer.data(), parsed.bytes.data()) == 1;
    return parsed;
}

bool is_ipv4_mapped(const std::array<unsigned char, 16>& bytes) {
    return std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin());
}

// Moves the IPv4 address of "::ffff:a.b.c.d" to the front, in place.
void unmap_ipv4(std::array<unsigned char, 16>& bytes) {
    std::copy_n(bytes.begin() + kMappedPrefixBytes, 4, bytes.begin());
    std::fill(bytes.begin() + 4, bytes.end(), 0);
}

// Decimal digits only (no sign, no space), at most max_bits.
std::optional<unsigned> parse_prefix_bits(std::string_view text, unsigned max_bits) {
    unsigned bits = 0;
    const char* last = text.data() + text.size();
    const auto [end, error] = std::from_chars(text.data(), last, bits);
    if (text.empty() || error != std::errc() || end != last || bits > max_bits) {
        return std::nullopt;
    }
    return bits;
}

[[noreturn]] void fail(std::string_view cidr, std::string_view why) {
    throw labmta::StartupError("relay network '" + std::string(cidr) + "': " + std::string(why));
}

}  // namespace

NetworkList::NetworkList(const std::vector<std::string>& cidrs) {
    for (const std::string& cidr : cidrs) {
        const std::size_t slash = std::min(cidr.find('/'), cidr.size());
        const ParsedAddress address = parse_address(std::string_view(cidr).substr(0, slash));
        if (!address.ok) {
            fail(cidr, "not a numeric IPv4 or IPv6 address");
        }
        Network network{address.is_ipv6, address.bytes, address.is_ipv6 ? kIpv6Bits : kIpv4Bits};
        if (slash < cidr.size()) {
            const auto bits = parse_prefix_bits(cidr.substr(slash + 1), network.prefix_bits);
            if (!bits) {
                fail(cidr, "bad prefix length");
            }
            network.prefix_bits = *bits;
        }
        if (!matches(network, network)) {
            fail(cidr, "host bits are set");
        }
        // "::ffff:10.0.0.0/104" is written for IPv6 but can only ever hold IPv4 clients, which
        // contains() sees as IPv4 addresses; store it as the IPv4 network it is.
        if (network.is_ipv6 && network.prefix_bits >= kMappedPrefixBits
            && is_ipv4_mapped(network.bytes)) {
            unmap_ipv4(network.bytes);
            network.is_ipv6 = false;
            network.prefix_bits -= kMappedPrefixBits;
        }
        networks_.push_back(network);
    }
}

bool NetworkList::contains(std::string_view ip) const {
    ParsedAddress address = parse_address(ip);
    if (!address.ok) {
        return false;
    }
    if (address.is_ipv6 && is_ipv4_mapped(address.bytes)) {
        unmap_ipv4(address.bytes);
        address.is_ipv6 = false;
    }
    const Network host{address.is_ipv6, address.bytes, address.is_ipv6 ? kIpv6Bits : kIpv4Bits};
    return std::any_of(networks_.begin(), networks_.end(), [&](const Network& network) {
        return matches(network, host);
    });
}

// Same family and the first prefix_bits bits of `host` equal the network's, the rest of the
// network's bits being zero (checked once, at construction, by matching it against itself).
bool NetworkList::matches(const Network& network, const Network& host) {
    if (network.is_ipv6 != host.is_ipv6) {
        return false;
    }
    const std::size_t size = network.is_ipv6 ? 16 : 4;
    for (std::size_t i = 0; i < size; ++i) {
        const unsigned bits_before = static_cast<unsigned>(i) * 8;
        const unsigned bits_here =
            network.prefix_bits > bits_before ? std::min(network.prefix_bits - bits_before, 8U) : 0;
        const auto mask = static_cast<unsigned char>(0xff00U >> bits_here);
        if ((host.bytes[i] & mask) != network.bytes[i]) {
            return false;
        }
    }
    return true;
}

}  // namespace labmta::common
