// See delivery_outcomes.h.
#include "server/net/delivery_outcomes.h"

namespace labmta::net {

using protocol::OutcomeStatus;

OutcomeStatus to_outcome_status(spool::DeliveryStatus status) {
    switch (status) {
        case spool::DeliveryStatus::Sent:
            return OutcomeStatus::Sent;
        case spool::DeliveryStatus::Deferred:
            return OutcomeStatus::Deferred;
        case spool::DeliveryStatus::Bounced:
            return OutcomeStatus::Bounced;
    }
    return OutcomeStatus::Deferred;
}

const char* status_word(OutcomeStatus status) {
    switch (status) {
        case OutcomeStatus::Sent:
            return "sent";
        case OutcomeStatus::Deferred:
            return "deferred";
        case OutcomeStatus::Bounced:
            return "bounced";
    }
    return "deferred";
}

std::string relay_host(const std::string& relay) {
    if (relay == "none" || relay == kLocalRelay) {
        return {};
    }
    return relay.substr(0, relay.find('['));
}

bool is_local_failure(const spool::RecipientResult& result) {
    return result.status == spool::DeliveryStatus::Deferred && !result.copy_in_maildir;
}

std::vector<RelayOutcome> local_failures(const spool::LocalDeliveryReport& report) {
    std::vector<RelayOutcome> outcomes;
    for (const spool::RecipientResult& result : report.results) {
        if (is_local_failure(result)) {
            outcomes.push_back(
                {{result.recipient, to_outcome_status(result.status), result.dsn, result.detail},
                 std::string(kLocalRelay)});
        }
    }
    return outcomes;
}

void expire_deferred(std::vector<RelayOutcome>& outcomes) {
    for (RelayOutcome& result : outcomes) {
        protocol::RecipientOutcome& outcome = result.outcome;
        if (outcome.status == OutcomeStatus::Deferred) {
            outcome.status = OutcomeStatus::Bounced;
            outcome.dsn = "5.4.7";
            outcome.reply = "message expired in queue: " + outcome.reply;
        }
    }
}

}  // namespace labmta::net
