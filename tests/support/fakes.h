// Test doubles for the injected Clock and Random: fixed values, set by the test.
// Header-only and tiny on purpose; no real time or entropy in unit tests.
#pragma once

#include "common/clock.h"

#include <cstdint>

namespace labmta::test {

// The time the tests' messages arrive at (2026-11-28): what a FakeClock usually starts at.
inline constexpr std::int64_t kArrivalUs = 1795876331000000;

class FakeClock final : public common::Clock {
public:
    explicit FakeClock(std::int64_t now_us) : now_us_(now_us) {}
    std::int64_t now_us() const override { return now_us_; }
    void set_now_us(std::int64_t now_us) { now_us_ = now_us; }

private:
    std::int64_t now_us_;
};

class FixedRandom final : public common::Random {
public:
    explicit FixedRandom(std::uint64_t value) : value_(value) {}
    std::uint64_t next_u64() override { return value_; }

private:
    std::uint64_t value_;
};

}  // namespace labmta::test
