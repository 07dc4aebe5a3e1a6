// What one delivery attempt did for each recipient, local or relayed, in one shape
// (RelayOutcome), so that the queue manager records, expires, logs and bounces both alike.
// Pure functions: no spool, no clock, no logging here.
#pragma once

#include "server/net/relay_agent.h"
#include "spool/local_delivery.h"

#include <string>
#include <string_view>
#include <vector>

namespace labmta::net {

// The relay= of local delivery's log lines and outcomes.
inline constexpr std::string_view kLocalRelay = "local";

// "sent", "deferred", "bounced": the status= of a maillog line.
const char* status_word(protocol::OutcomeStatus status);

protocol::OutcomeStatus to_outcome_status(spool::DeliveryStatus status);

// "mx.example.test[127.0.0.1]:25" -> "mx.example.test", for a bounce's Remote-MTA; "" for
// local delivery and for "none" (no server reached).
std::string relay_host(const std::string& relay);

// A local recipient that the attempt could not deliver to: it joins the attempt's outcomes,
// recorded in the defer file and expired with the message, as relayed recipients are
// (Postfix's qmgr treats local(8) and smtp(8) deferrals alike). A copy already in new/ that
// the queue could not record is no failure: the retry finds it and settles it.
bool is_local_failure(const spool::RecipientResult& result);

// The outcomes of the report's failures (is_local_failure).
std::vector<RelayOutcome> local_failures(const spool::LocalDeliveryReport& report);

// RFC 3463 X.4.7, delivery time expired: past queue.lifetime every deferred outcome becomes a
// 5.4.7 bounce, "message expired in queue: <reason>", returned to the sender.
void expire_deferred(std::vector<RelayOutcome>& outcomes);

}  // namespace labmta::net
