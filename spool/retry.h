// When to try a deferred message again and when to give up on it: exponential backoff as
// Postfix's queue manager does it (queue.retry first/max) and the queue lifetime
// (queue.lifetime). Pure arithmetic, no clock and no I/O here; the caller passes the times.
#pragma once

#include <cstdint>

namespace labmta::spool {

// The config defaults (Postfix: minimal_backoff_time, maximal_backoff_time,
// maximal_queue_lifetime).
constexpr unsigned kDefaultRetryFirstS = 300;
constexpr unsigned kDefaultRetryMaxS = 3600;
constexpr unsigned kDefaultLifetimeS = 432000;  // 5 days

// Seconds to wait after the attempts-th failed delivery attempt: first_s after the first,
// doubling with each further one, never more than max_s. attempts 0 counts as 1, so a caller
// that forgot to count still waits rather than retrying in a tight loop.
std::int64_t next_retry_delay_s(unsigned attempts, unsigned first_s, unsigned max_s);

// True when a message that arrived at arrival_us has been queued for lifetime_s seconds or more
// at now_us; then it is bounced instead of retried. lifetime_s 0 means "try once" (Postfix's
// maximal_queue_lifetime = 0). A clock that went back (now before arrival) never expires mail.
bool is_expired(std::int64_t arrival_us, std::int64_t now_us, unsigned lifetime_s);

}  // namespace labmta::spool
