// Turns a destination (common/destination.h) into the addresses to connect to, in order: the
// MX lookup unless the destination is a bracketed host, the implicit MX when the domain has no
// MX record (RFC 5321 5.1), then each hop's addresses. Failures come back with a DSN code and
// Postfix's wording; logging is left to the caller.
#pragma once

#include "common/destination.h"
#include "server/net/resolver.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace labmta::net {

// One address to connect to.
struct Target {
    std::string host;  // the MX or relay host name, for "relay=host[ip]:port"
    std::string ip;    // numeric
    std::uint16_t port = common::kSmtpPort;

    bool operator==(const Target&) const = default;
};

struct TargetsResult {
    std::vector<Target> targets;      // in the order to try; empty when error != None
    DnsError error = DnsError::None;  // NotFound (also null MX): bounce; otherwise defer
    std::string dsn;                  // "5.4.4", "4.4.3", "5.1.10"
    // "Host or domain name not found. Name service error for name=x.test type=MX: Host not
    // found, try again", or "Domain x.test does not accept mail (nullMX)"
    std::string reason;
};

// Looks up destination with resolver and calls done once, from the loop. The resolver must
// outlive the lookup (closing it completes the lookup with Cancelled).
void resolve_targets(Resolver& resolver,
                     const common::Destination& destination,
                     std::function<void(TargetsResult)> done);

}  // namespace labmta::net
