// See auth_failure_limiter.h. Memory stays bounded by the clients that failed within the
// window: the map is swept of expired entries each time it doubles.
#include "server/net/auth_failure_limiter.h"

#include <algorithm>

namespace labmta::net {

AuthFailureLimiter::AuthFailureLimiter(unsigned max_failures, std::uint64_t window_ms) {
    set_limits(max_failures, window_ms);
}

void AuthFailureLimiter::set_limits(unsigned max_failures, std::uint64_t window_ms) {
    max_failures_ = std::max(max_failures, 1U);
    window_ms_ = window_ms;
}

bool AuthFailureLimiter::note_failure(const std::string& ip, std::uint64_t now_ms) {
    Client& client = failures_[ip];
    forget_old(client, now_ms);
    client.failures.push_back(now_ms);
    if (client.failures.size() >= max_failures_) {
        client.blocked_until_ms = now_ms + window_ms_;
    }
    const bool blocked = now_ms < client.blocked_until_ms;
    if (failures_.size() >= prune_at_) {
        prune(now_ms);
    }
    return blocked;
}

bool AuthFailureLimiter::is_blocked(const std::string& ip, std::uint64_t now_ms) const {
    const auto it = failures_.find(ip);
    return it != failures_.end() && now_ms < it->second.blocked_until_ms;
}

void AuthFailureLimiter::forget_old(Client& client, std::uint64_t now_ms) const {
    while (!client.failures.empty() && client.failures.front() + window_ms_ <= now_ms) {
        client.failures.pop_front();
    }
    // Only the last max_failures matter for the next decision.
    while (client.failures.size() >= max_failures_) {
        client.failures.pop_front();
    }
}

void AuthFailureLimiter::prune(std::uint64_t now_ms) {
    for (auto it = failures_.begin(); it != failures_.end();) {
        forget_old(it->second, now_ms);
        if (it->second.failures.empty() && now_ms >= it->second.blocked_until_ms) {
            it = failures_.erase(it);
        } else {
            ++it;
        }
    }
    prune_at_ = std::max<std::size_t>(64, failures_.size() * 2);
}

}  // namespace labmta::net
