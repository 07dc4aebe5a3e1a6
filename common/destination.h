// Where mail for a recipient domain goes, as Postfix's smtp client decides it: relay.relayhost
// ("[host]:port" = that host, "host:port" = its MX records) or the domain's own MX records
// (RFC 5321 5.1), and the hosts to try in order once the MX answer is known (RFC 7505 null MX).
// Pure: strings and records in, a plan out; the DNS lookups themselves are in server/net.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::common {

inline constexpr std::uint16_t kSmtpPort = 25;

// What to look up for one recipient domain before connecting.
struct Destination {
    std::string name;  // a host or domain name, or a numeric IP address (without brackets)
    std::uint16_t port = kSmtpPort;
    bool use_mx = true;  // false: connect to `name` itself ("[host]", an address literal)

    bool operator==(const Destination&) const = default;
};

// One host to try, to be resolved to its addresses.
struct Hop {
    std::string host;
    std::uint16_t port = kSmtpPort;

    bool operator==(const Hop&) const = default;
};

struct MxRecord {
    std::string host;  // "" or "." for the root (null MX)
    std::uint16_t preference = 0;

    bool operator==(const MxRecord&) const = default;
};

// A destination that can never take mail: the recipients bounce with this status.
struct DestinationFailure {
    std::string dsn;   // "5.1.10"
    std::string text;  // "Domain example.com does not accept mail (nullMX)"
};

struct HopList {
    std::vector<Hop> hops;  // in the order to try; empty when failure is set
    std::optional<DestinationFailure> failure;
};

// Parses relay.relayhost: "[host]:port", "[host]", "host:port" or "host" (host may be an IPv4
// address, or an IPv6 address inside the brackets). nullopt when malformed or empty.
std::optional<Destination> parse_relayhost(std::string_view relayhost);

// The destination for mail to recipient_domain: the relayhost when one is set, else the
// domain's MX; an address literal ("[127.0.0.1]", "[IPv6:::1]") names its host directly.
// nullopt when relayhost is malformed or the domain is an unusable literal.
std::optional<Destination> choose_destination(std::string_view recipient_domain,
                                              std::string_view relayhost);

// The hops for a destination that needs no MX lookup, or whose MX lookup found no record
// (RFC 5321 5.1: the domain itself is the implicit MX, preference 0).
HopList direct_hops(const Destination& destination);

// The hops from an MX answer: by preference, ties broken by name so that the order is
// deterministic, duplicates dropped; no record at all gives direct_hops(). A single "." record
// of preference 0 is a null MX (RFC 7505 3): failure 5.1.10; a "." next to real hosts is
// ignored. Every hop gets the destination's port.
HopList mx_hops(const Destination& destination, std::vector<MxRecord> records);

}  // namespace labmta::common
