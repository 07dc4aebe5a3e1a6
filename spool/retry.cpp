// Backoff and lifetime arithmetic for deferred mail (see retry.h). Pure; 64-bit throughout so
// that no doubling or microsecond product can overflow.
#include "spool/retry.h"

#include <algorithm>

namespace labmta::spool {

namespace {

constexpr std::uint64_t kMicrosPerSecond = 1'000'000;

}  // namespace

std::int64_t next_retry_delay_s(unsigned attempts, unsigned first_s, unsigned max_s) {
    const std::int64_t cap = max_s;
    std::int64_t delay = std::min<std::int64_t>(first_s, cap);
    // Stop doubling once the cap is reached: at most ~32 rounds, and no overflow.
    for (unsigned attempt = 1; attempt < attempts && delay > 0 && delay < cap; ++attempt) {
        delay = std::min(delay * 2, cap);
    }
    return delay;
}

bool is_expired(std::int64_t arrival_us, std::int64_t now_us, unsigned lifetime_s) {
    if (now_us < arrival_us) {
        return false;
    }
    // Unsigned: now - arrival cannot overflow whatever the two values are.
    const auto age_us = static_cast<std::uint64_t>(now_us) - static_cast<std::uint64_t>(arrival_us);
    return age_us >= std::uint64_t{lifetime_s} * kMicrosPerSecond;
}

}  // namespace labmta::spool
