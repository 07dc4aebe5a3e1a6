// Counts failed AUTHs per client address over time, for SmtpServer: after `max_failures`
// within `window_ms`, the address is blocked for `window_ms` after its last failure.
// Pure bookkeeping: the caller passes the time (uv_now() in the server, a number in tests);
// no libuv, no clock, no logging here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

namespace labmta::net {

class AuthFailureLimiter {
public:
    AuthFailureLimiter(unsigned max_failures, std::uint64_t window_ms);

    // New limits (a reload): they decide from the next failure on, counting the failures
    // already recorded; a block in force keeps its end.
    void set_limits(unsigned max_failures, std::uint64_t window_ms);

    // Records one failure from ip at now_ms; true when ip is blocked after it.
    bool note_failure(const std::string& ip, std::uint64_t now_ms);
    // True while ip is blocked. A successful AUTH changes nothing: it is not reported here.
    bool is_blocked(const std::string& ip, std::uint64_t now_ms) const;

    // Addresses with failures still inside the window (bounded by pruning; for tests).
    std::size_t tracked_clients() const { return failures_.size(); }

private:
    struct Client {
        std::deque<std::uint64_t> failures;  // times inside the window, oldest first
        std::uint64_t blocked_until_ms = 0;
    };

    void forget_old(Client& client, std::uint64_t now_ms) const;
    void prune(std::uint64_t now_ms);

    unsigned max_failures_ = 1;
    std::uint64_t window_ms_ = 0;
    std::unordered_map<std::string, Client> failures_;
    std::size_t prune_at_ = 64;  // prune every client once the map has grown to this
};

}  // namespace labmta::net
