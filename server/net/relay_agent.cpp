// See relay_agent.h.
#include "server/net/relay_agent.h"

#include "common/address.h"
#include "server/net/destination.h"

#include <algorithm>

namespace labmta::net {

// One message's delivery: the groups still running and the outcomes gathered so far.
struct RelayAgent::Delivery {
    std::string sender;
    std::string message;
    std::size_t groups_running = 0;
    std::vector<RelayOutcome> outcomes;
    Done done;
};

namespace {

std::string domain_of(const std::string& address) {
    const std::size_t at = address.rfind('@');
    return at == std::string::npos ? std::string{} : common::to_lower_ascii(address.substr(at + 1));
}

std::vector<RelayOutcome> outcomes_for(const std::vector<std::string>& recipients,
                                       protocol::OutcomeStatus status,
                                       const std::string& dsn,
                                       const std::string& reason) {
    std::vector<RelayOutcome> outcomes;
    for (const std::string& recipient : recipients) {
        outcomes.push_back({{recipient, status, dsn, reason}, "none"});
    }
    return outcomes;
}

}  // namespace

RelayAgent::RelayAgent(uv_loop_t* loop, Resolver& resolver, RelaySettings settings)
    : loop_(loop), resolver_(resolver), settings_(std::move(settings)) {}

RelayAgent::~RelayAgent() = default;

void RelayAgent::deliver(std::string sender,
                         std::vector<std::string> recipients,
                         std::string message,
                         Done done) {
    auto delivery = std::make_shared<Delivery>();
    delivery->sender = std::move(sender);
    delivery->message = std::move(message);
    delivery->done = std::move(done);

    // Group by destination: with a relayhost everything goes there in one connection.
    std::map<std::string, std::pair<common::Destination, std::vector<std::string>>> groups;
    std::vector<std::string> unroutable;
    for (std::string& recipient : recipients) {
        const std::optional<common::Destination> destination =
            common::choose_destination(domain_of(recipient), settings_.relayhost);
        if (!destination) {
            unroutable.push_back(std::move(recipient));
            continue;
        }
        const std::string key = destination->name + ":" + std::to_string(destination->port)
                                + (destination->use_mx ? "/mx" : "/direct");
        auto& group =
            groups.try_emplace(key, *destination, std::vector<std::string>{}).first->second;
        group.second.push_back(std::move(recipient));
    }
    delivery->outcomes = outcomes_for(unroutable,
                                      protocol::OutcomeStatus::Bounced,
                                      "5.1.2",
                                      "bad destination mailbox address syntax");
    delivery->groups_running = groups.size();
    if (groups.empty()) {
        const Done finished = std::move(delivery->done);
        finished(std::move(delivery->outcomes));
        return;
    }
    for (auto& [key, group] : groups) {
        start_group(delivery, group.first, std::move(group.second));
    }
}

void RelayAgent::start_group(const std::shared_ptr<Delivery>& delivery,
                             const common::Destination& destination,
                             std::vector<std::string> recipients) {
    resolve_targets(
        resolver_, destination, [this, delivery, recipients](TargetsResult result) mutable {
            if (stopping_) {
                // A lookup that finished during shutdown: no new connection now.
                group_finished(delivery,
                               outcomes_for(recipients,
                                            protocol::OutcomeStatus::Deferred,
                                            "4.3.2",
                                            "mail system is shutting down"));
                return;
            }
            if (result.error != DnsError::None || result.targets.empty()) {
                const auto status = result.error == DnsError::NotFound
                                        ? protocol::OutcomeStatus::Bounced
                                        : protocol::OutcomeStatus::Deferred;
                group_finished(delivery,
                               outcomes_for(recipients, status, result.dsn, result.reason));
                return;
            }
            protocol::ClientJob job{
                settings_.hostname, delivery->sender, recipients, delivery->message};
            const std::uint64_t id = next_connection_id_++;
            auto connection = std::make_unique<OutboundConnection>(
                loop_,
                std::move(result.targets),
                std::move(job),
                settings_.timeouts,
                [this, delivery, id](OutboundResult outbound) {
                    std::vector<RelayOutcome> outcomes;
                    for (protocol::RecipientOutcome& outcome : outbound.outcomes) {
                        outcomes.push_back({std::move(outcome), outbound.relay});
                    }
                    connections_.erase(id);  // allowed: done runs after the handles closed
                    group_finished(delivery, std::move(outcomes));
                });
            OutboundConnection* raw = connection.get();
            connections_.emplace(id, std::move(connection));
            raw->start();
        });
}

void RelayAgent::group_finished(const std::shared_ptr<Delivery>& delivery,
                                std::vector<RelayOutcome> outcomes) {
    for (RelayOutcome& outcome : outcomes) {
        delivery->outcomes.push_back(std::move(outcome));
    }
    if (--delivery->groups_running == 0) {
        const Done finished = std::move(delivery->done);
        finished(std::move(delivery->outcomes));
    }
}

void RelayAgent::abort_all() {
    stopping_ = true;
    for (const auto& [id, connection] : connections_) {
        connection->abort("mail system is shutting down");
    }
}

}  // namespace labmta::net
