// The system Clock (CLOCK_REALTIME) and Random (mt19937_64 seeded from the kernel).
// Only this file touches the real time and entropy; everything else gets them injected.
#include "common/clock.h"

#include <time.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <random>

namespace labmta::common {

std::int64_t SystemClock::now_us() const {
    timespec now{};
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        // CLOCK_REALTIME cannot fail on Linux; keep a sane answer anyway.
        const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
        return std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count();
    }
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1'000;
}

struct SystemRandom::State {
    std::mt19937_64 engine;
};

namespace {

// One random_device draw is only 32 bits; the engine has 19968 bits of state, so feed it
// several draws through seed_seq to make the first outputs of two processes unrelated.
std::mt19937_64 make_seeded_engine() {
    constexpr std::size_t kSeedWords = 8;
    std::random_device device;
    std::array<std::uint32_t, kSeedWords> words{};
    for (auto& word : words) {
        word = device();
    }
    std::seed_seq seed(words.begin(), words.end());
    return std::mt19937_64(seed);
}

}  // namespace

SystemRandom::SystemRandom() : state_(std::make_unique<State>(State{make_seeded_engine()})) {}

SystemRandom::~SystemRandom() = default;

std::uint64_t SystemRandom::next_u64() {
    return state_->engine();
}

}  // namespace labmta::common
