// Time and randomness as injected interfaces, so that ID generators and headers are
// deterministic in tests. The system implementations live in clock.cpp.
#pragma once

#include <cstdint>
#include <memory>

namespace labmta::common {

class Clock {
public:
    virtual ~Clock() = default;
    // Wall-clock time in microseconds since the Unix epoch.
    virtual std::int64_t now_us() const = 0;
};

class Random {
public:
    virtual ~Random() = default;
    virtual std::uint64_t next_u64() = 0;
};

class SystemClock final : public Clock {
public:
    std::int64_t now_us() const override;
};

// A std::mt19937_64 seeded from std::random_device (getrandom on Linux).
class SystemRandom final : public Random {
public:
    SystemRandom();
    ~SystemRandom() override;
    std::uint64_t next_u64() override;

private:
    struct State;
    std::unique_ptr<State> state_;  // pimpl keeps <random> out of this header
};

}  // namespace labmta::common
