// The per-client count of failed AUTHs, with the time given by the test: blocking after the
// limit within the window, expiry, independence of addresses, and bounded memory.
#include "server/net/auth_failure_limiter.h"

#include <catch2/catch.hpp>

#include <string>

using labmta::net::AuthFailureLimiter;

TEST_CASE("auth limiter: the limit within the window blocks for the window", "[auth_limiter]") {
    AuthFailureLimiter limiter(3, 600000);
    CHECK_FALSE(limiter.note_failure("192.0.2.1", 1000));
    CHECK_FALSE(limiter.note_failure("192.0.2.1", 2000));
    CHECK_FALSE(limiter.is_blocked("192.0.2.1", 2000));
    CHECK(limiter.note_failure("192.0.2.1", 3000));
    CHECK(limiter.is_blocked("192.0.2.1", 3000));
    CHECK(limiter.is_blocked("192.0.2.1", 602999));
    CHECK_FALSE(limiter.is_blocked("192.0.2.1", 603000));
    // Another address is not affected.
    CHECK_FALSE(limiter.is_blocked("192.0.2.2", 3000));
}

TEST_CASE("auth limiter: new limits decide from the next failure, counting the earlier ones",
          "[auth_limiter]") {
    AuthFailureLimiter limiter(10, 600000);
    CHECK_FALSE(limiter.note_failure("192.0.2.1", 1000));
    CHECK_FALSE(limiter.note_failure("192.0.2.1", 2000));
    limiter.set_limits(3, 5000);
    CHECK(limiter.note_failure("192.0.2.1", 3000));  // the third within 5 s
    CHECK(limiter.is_blocked("192.0.2.1", 7999));
    CHECK_FALSE(limiter.is_blocked("192.0.2.1", 8000));
}

TEST_CASE("auth limiter: new limits leave a block in force as it is", "[auth_limiter]") {
    AuthFailureLimiter limiter(2, 10000);
    CHECK_FALSE(limiter.note_failure("192.0.2.1", 0));
    CHECK(limiter.note_failure("192.0.2.1", 100));  // blocked until 10,100
    limiter.set_limits(5, 1000);
    CHECK(limiter.is_blocked("192.0.2.1", 10099));
    CHECK_FALSE(limiter.is_blocked("192.0.2.1", 10100));
    // From then on five failures within 1 s block, for 1 s.
    for (std::uint64_t now = 20000; now < 20004; ++now) {
        CHECK_FALSE(limiter.note_failure("192.0.2.1", now));
    }
    CHECK(limiter.note_failure("192.0.2.1", 20004));
    CHECK(limiter.is_blocked("192.0.2.1", 21003));
    CHECK_FALSE(limiter.is_blocked("192.0.2.1", 21004));
}

TEST_CASE("auth limiter: failures spread wider than the window never block", "[auth_limiter]") {
    AuthFailureLimiter limiter(3, 10000);
    // Every 6 s: never three within 10 s.
    for (std::uint64_t now = 0; now <= 96000; now += 6000) {
        CHECK_FALSE(limiter.note_failure("192.0.2.1", now));
    }
    // 90 s, 96 s and now 97 s: three within 10 s.
    CHECK(limiter.note_failure("192.0.2.1", 97000));
}

TEST_CASE("auth limiter: a failure while blocked extends the block", "[auth_limiter]") {
    AuthFailureLimiter limiter(2, 1000);
    limiter.note_failure("::1", 0);
    CHECK(limiter.note_failure("::1", 100));
    CHECK(limiter.note_failure("::1", 900));
    CHECK(limiter.is_blocked("::1", 1800));
    CHECK_FALSE(limiter.is_blocked("::1", 1900));
}

TEST_CASE("auth limiter: expired clients are forgotten, so memory stays bounded",
          "[auth_limiter]") {
    AuthFailureLimiter limiter(10, 1000);
    for (unsigned i = 0; i < 10000; ++i) {
        limiter.note_failure("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256),
                             std::uint64_t{i} * 10);
    }
    // At most the clients of the last second (100 of them) and one sweep's growth.
    CHECK(limiter.tracked_clients() <= 256);
}
