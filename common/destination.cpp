// See destination.h.
#include "common/destination.h"

#include "common/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <set>

namespace labmta::common {
namespace {

bool is_ipv4(const std::string& text) {
    in_addr address{};
    return inet_pton(AF_INET, text.c_str(), &address) == 1;
}

bool is_ipv6(const std::string& text) {
    in6_addr address{};
    return inet_pton(AF_INET6, text.c_str(), &address) == 1;
}

bool is_ldh(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// RFC 1035 2.3.1 host names: dot-separated LDH labels of 1 to 63 octets, not starting or
// ending with "-"; at most 253 octets; a final "." (an absolute name) is allowed.
bool is_host_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    if (name.empty() || name.size() > 253) {
        return false;
    }
    std::size_t start = 0;
    while (start <= name.size()) {
        const std::size_t dot = std::min(name.find('.', start), name.size());
        const std::string_view label = name.substr(start, dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-'
            || !std::all_of(label.begin(), label.end(), is_ldh)) {
            return false;
        }
        start = dot + 1;
    }
    return true;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
    unsigned value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, error] = std::from_chars(text.data(), end, value);
    if (text.empty() || error != std::errc() || ptr != end || value == 0 || value > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(value);
}

// The inside of "[...]": an IPv4 or IPv6 address ("IPv6:" prefix optional, RFC 5321 4.1.3)
// or, in relayhost only, a host name.
std::optional<std::string> parse_bracketed(std::string_view inside, bool allow_name) {
    constexpr std::string_view kIpv6Tag = "IPv6:";
    if (inside.size() > kIpv6Tag.size()
        && iequals_ascii(inside.substr(0, kIpv6Tag.size()), kIpv6Tag)) {
        const std::string address(inside.substr(kIpv6Tag.size()));
        return is_ipv6(address) ? std::optional(address) : std::nullopt;
    }
    const std::string host(inside);
    if (is_ipv4(host) || is_ipv6(host) || (allow_name && is_host_name(host))) {
        return host;
    }
    return std::nullopt;
}

bool is_root(const std::string& host) {
    return host.empty() || host == ".";
}

}  // namespace

std::optional<Destination> parse_relayhost(std::string_view relayhost) {
    Destination destination;
    std::string_view rest = relayhost;
    if (!rest.empty() && rest.front() == '[') {
        const std::size_t close = rest.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        const std::optional<std::string> host = parse_bracketed(rest.substr(1, close - 1), true);
        if (!host) {
            return std::nullopt;
        }
        destination.name = *host;
        destination.use_mx = false;  // Postfix: brackets turn off the MX lookup
        rest.remove_prefix(close + 1);
    } else {
        const std::size_t colon = rest.find(':');
        const std::string host(rest.substr(0, colon));
        if (!is_host_name(host) && !is_ipv4(host)) {
            return std::nullopt;
        }
        destination.name = host;
        destination.use_mx = !is_ipv4(host);
        rest.remove_prefix(colon == std::string_view::npos ? rest.size() : colon);
    }
    if (!rest.empty()) {
        const std::optional<std::uint16_t> port =
            rest.front() == ':' ? parse_port(rest.substr(1)) : std::nullopt;
        if (!port) {
            return std::nullopt;
        }
        destination.port = *port;
    }
    return destination;
}

std::optional<Destination> choose_destination(std::string_view recipient_domain,
                                              std::string_view relayhost) {
    if (!relayhost.empty()) {
        return parse_relayhost(relayhost);  // Postfix: the relayhost takes all remote mail
    }
    if (!recipient_domain.empty() && recipient_domain.front() == '[') {
        if (recipient_domain.back() != ']') {
            return std::nullopt;
        }
        const std::optional<std::string> address =
            parse_bracketed(recipient_domain.substr(1, recipient_domain.size() - 2), false);
        if (!address) {
            return std::nullopt;
        }
        return Destination{*address, kSmtpPort, false};
    }
    if (!is_host_name(recipient_domain)) {
        return std::nullopt;
    }
    return Destination{std::string(recipient_domain), kSmtpPort, true};
}

HopList direct_hops(const Destination& destination) {
    return HopList{{Hop{destination.name, destination.port}}, std::nullopt};
}

HopList mx_hops(const Destination& destination, std::vector<MxRecord> records) {
    // RFC 7505 3: one "." record of preference 0. Only "." records at all means the same.
    if (!records.empty() && std::all_of(records.begin(), records.end(), [](const MxRecord& r) {
            return is_root(r.host);
        })) {
        return HopList{
            {},
            DestinationFailure{"5.1.10",
                               "Domain " + destination.name + " does not accept mail (nullMX)"}};
    }
    std::erase_if(records, [](const MxRecord& record) { return is_root(record.host); });
    if (records.empty()) {
        return direct_hops(destination);  // no record: the domain is its own MX
    }
    std::sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
        if (a.preference != b.preference) {
            return a.preference < b.preference;
        }
        return to_lower_ascii(a.host) < to_lower_ascii(b.host);
    });
    HopList list;
    std::set<std::string> seen;
    for (const MxRecord& record : records) {
        if (seen.insert(to_lower_ascii(record.host)).second) {
            list.hops.push_back(Hop{record.host, destination.port});
        }
    }
    return list;
}

}  // namespace labmta::common
