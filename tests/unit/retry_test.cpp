// Backoff and queue lifetime with fixed numbers: the Postfix-like defaults (300 s doubling to
// 3600 s, 5 days), small test settings, and the edges (attempt 0, caps, clock going back).
#include "spool/retry.h"

#include <catch2/catch.hpp>

#include <climits>

namespace {

using labmta::spool::is_expired;
using labmta::spool::kDefaultLifetimeS;
using labmta::spool::kDefaultRetryFirstS;
using labmta::spool::kDefaultRetryMaxS;
using labmta::spool::next_retry_delay_s;

constexpr std::int64_t kArrivalUs = 1795876331000000;
constexpr std::int64_t kSecondUs = 1000000;

TEST_CASE("retry: defaults are 300 s, 3600 s and 5 days", "[retry]") {
    CHECK(kDefaultRetryFirstS == 300);
    CHECK(kDefaultRetryMaxS == 3600);
    CHECK(kDefaultLifetimeS == 432000);
}

TEST_CASE("retry: delay doubles from first_s and stops at max_s", "[retry]") {
    CHECK(next_retry_delay_s(1, 300, 3600) == 300);
    CHECK(next_retry_delay_s(2, 300, 3600) == 600);
    CHECK(next_retry_delay_s(3, 300, 3600) == 1200);
    CHECK(next_retry_delay_s(4, 300, 3600) == 2400);
    CHECK(next_retry_delay_s(5, 300, 3600) == 3600);
    CHECK(next_retry_delay_s(6, 300, 3600) == 3600);
    CHECK(next_retry_delay_s(100, 300, 3600) == 3600);
}

TEST_CASE("retry: small test settings", "[retry]") {
    CHECK(next_retry_delay_s(1, 1, 8) == 1);
    CHECK(next_retry_delay_s(2, 1, 8) == 2);
    CHECK(next_retry_delay_s(3, 1, 8) == 4);
    CHECK(next_retry_delay_s(4, 1, 8) == 8);
    CHECK(next_retry_delay_s(5, 1, 8) == 8);
    CHECK(next_retry_delay_s(3, 2, 5) == 5);
}

TEST_CASE("retry: attempt 0 waits like the first", "[retry]") {
    CHECK(next_retry_delay_s(0, 300, 3600) == 300);
}

TEST_CASE("retry: first_s above max_s is capped, first_s 0 stays 0", "[retry]") {
    CHECK(next_retry_delay_s(1, 7200, 3600) == 3600);
    CHECK(next_retry_delay_s(1, 0, 3600) == 0);
    CHECK(next_retry_delay_s(9, 0, 3600) == 0);
}

TEST_CASE("retry: huge attempt counts and limits do not overflow", "[retry]") {
    CHECK(next_retry_delay_s(UINT_MAX, 300, 3600) == 3600);
    CHECK(next_retry_delay_s(UINT_MAX, UINT_MAX, UINT_MAX) == std::int64_t{UINT_MAX});
    CHECK(next_retry_delay_s(40, 1, UINT_MAX) == std::int64_t{UINT_MAX});
}

TEST_CASE("retry: a message expires when its lifetime has passed", "[retry]") {
    const std::int64_t lifetime_us = std::int64_t{432000} * kSecondUs;
    CHECK_FALSE(is_expired(kArrivalUs, kArrivalUs, 432000));
    CHECK_FALSE(is_expired(kArrivalUs, kArrivalUs + lifetime_us - 1, 432000));
    CHECK(is_expired(kArrivalUs, kArrivalUs + lifetime_us, 432000));
    CHECK(is_expired(kArrivalUs, kArrivalUs + lifetime_us + 3600 * kSecondUs, 432000));
}

TEST_CASE("retry: short lifetimes for tests, lifetime 0 means try once", "[retry]") {
    CHECK_FALSE(is_expired(kArrivalUs, kArrivalUs + 2 * kSecondUs, 3));
    CHECK(is_expired(kArrivalUs, kArrivalUs + 3 * kSecondUs, 3));
    CHECK(is_expired(kArrivalUs, kArrivalUs, 0));
}

TEST_CASE("retry: a clock that went back never expires mail", "[retry]") {
    CHECK_FALSE(is_expired(kArrivalUs, kArrivalUs - kSecondUs, 0));
    CHECK_FALSE(is_expired(kArrivalUs, 0, 10));
}

}  // namespace
