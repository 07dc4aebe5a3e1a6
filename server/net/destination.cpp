// See destination.h. One lookup is a shared state that the resolver's callbacks keep alive:
// the MX answer first (unless the destination needs none), then every hop's addresses at once.
#include "server/net/destination.h"

#include <memory>
#include <set>
#include <utility>

namespace labmta::net {
namespace {

struct TargetsLookup {
    Resolver& resolver;
    common::Destination destination;
    std::function<void(TargetsResult)> done;
    std::vector<common::Hop> hops;
    std::vector<AddressResult> answers;  // one per hop
    std::size_t pending = 0;
};

TargetsResult failure(DnsError error,
                      const std::string& name,
                      std::string_view type,
                      const std::string& detail) {
    TargetsResult result;
    result.error = error;
    result.dsn = error == DnsError::NotFound ? "5.4.4" : "4.4.3";
    result.reason = "Host or domain name not found. Name service error for name=" + name
                    + " type=" + std::string(type) + ": " + detail;
    return result;
}

// Every hop's addresses in hop order, each (ip, port) once; or, when no hop has an address,
// the most telling failure: a cancel, else a temporary failure (retry), else "not found".
TargetsResult collect_targets(const TargetsLookup& lookup) {
    TargetsResult result;
    std::set<std::pair<std::string, std::uint16_t>> seen;
    for (std::size_t i = 0; i < lookup.hops.size(); ++i) {
        const common::Hop& hop = lookup.hops[i];
        for (const std::string& ip : lookup.answers[i].addresses) {
            if (seen.emplace(ip, hop.port).second) {
                result.targets.push_back(Target{hop.host, ip, hop.port});
            }
        }
    }
    if (!result.targets.empty()) {
        return result;
    }
    for (const DnsError wanted :
         {DnsError::Cancelled, DnsError::TemporaryFailure, DnsError::NotFound}) {
        for (std::size_t i = 0; i < lookup.hops.size(); ++i) {
            if (lookup.answers[i].error == wanted) {
                return failure(wanted, lookup.hops[i].host, "A", lookup.answers[i].detail);
            }
        }
    }
    return failure(DnsError::NotFound, lookup.destination.name, "A", "Host not found");
}

void resolve_hops(const std::shared_ptr<TargetsLookup>& lookup, common::HopList list) {
    if (list.failure) {
        TargetsResult result;
        result.error = DnsError::NotFound;
        result.dsn = list.failure->dsn;
        result.reason = list.failure->text;
        lookup->done(std::move(result));
        return;
    }
    lookup->hops = std::move(list.hops);
    lookup->answers.resize(lookup->hops.size());
    lookup->pending = lookup->hops.size();
    for (std::size_t i = 0; i < lookup->hops.size(); ++i) {
        lookup->resolver.resolve_addresses(lookup->hops[i].host, [lookup, i](AddressResult answer) {
            lookup->answers[i] = std::move(answer);
            if (--lookup->pending == 0) {
                lookup->done(collect_targets(*lookup));
            }
        });
    }
}

void on_mx(const std::shared_ptr<TargetsLookup>& lookup, MxResult answer) {
    const common::Destination& destination = lookup->destination;
    switch (answer.error) {
        case DnsError::None:
            resolve_hops(lookup, common::mx_hops(destination, std::move(answer.records)));
            return;
        case DnsError::NotFound:
            // No MX record (or no such domain, which the address lookup then reports).
            resolve_hops(lookup, common::direct_hops(destination));
            return;
        case DnsError::TemporaryFailure:
        case DnsError::Cancelled:
            lookup->done(failure(answer.error, destination.name, "MX", answer.detail));
            return;
    }
}

}  // namespace

void resolve_targets(Resolver& resolver,
                     const common::Destination& destination,
                     std::function<void(TargetsResult)> done) {
    auto lookup = std::make_shared<TargetsLookup>(
        TargetsLookup{resolver, destination, std::move(done), {}, {}, 0});
    if (!destination.use_mx) {
        resolve_hops(lookup, common::direct_hops(destination));
        return;
    }
    resolver.resolve_mx(destination.name,
                        [lookup](MxResult answer) { on_mx(lookup, std::move(answer)); });
}

}  // namespace labmta::net
