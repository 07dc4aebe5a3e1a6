// See test_loop.h. The deadline is a timer of the loop itself, so UV_RUN_ONCE always wakes up
// in time, and a tick every few milliseconds re-checks conditions that another thread (a test
// server) changes. Both are unreferenced: they never keep the loop alive on their own.
#include "tests/net/test_loop.h"

#include <cstdint>
#include <cstdio>

namespace labmta::test {
namespace {

constexpr std::uint64_t kTickMs = 5;

void on_deadline(uv_timer_t* timer) {
    *static_cast<bool*>(timer->data) = true;
}

void on_tick(uv_timer_t* /*timer*/) {}

}  // namespace

TestLoop::TestLoop() {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &deadline_);
    uv_unref(reinterpret_cast<uv_handle_t*>(&deadline_));
    uv_timer_init(&loop_, &tick_);
    uv_unref(reinterpret_cast<uv_handle_t*>(&tick_));
}

TestLoop::~TestLoop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_walk(
        &loop_,
        [](uv_handle_t* handle, void* /*arg*/) {
            if (!uv_is_closing(handle)) {
                std::fprintf(stderr, "test loop: closing a handle left open\n");
                uv_close(handle, nullptr);
            }
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop_) != 0) {
        std::fprintf(stderr, "test loop: uv_loop_close failed\n");
    }
}

bool TestLoop::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    bool expired = false;
    deadline_.data = &expired;
    uv_timer_start(&deadline_, &on_deadline, static_cast<std::uint64_t>(timeout.count()), 0);
    uv_timer_start(&tick_, &on_tick, kTickMs, kTickMs);
    while (!done() && !expired) {
        // Nothing else active (the deadline is unreferenced): nothing more can happen.
        if (uv_run(&loop_, UV_RUN_ONCE) == 0) {
            break;
        }
    }
    uv_timer_stop(&deadline_);
    uv_timer_stop(&tick_);
    return done();
}

bool TestLoop::run_to_end(std::chrono::milliseconds timeout) {
    bool ended = false;
    run_until(
        [&] {
            ended = uv_loop_alive(&loop_) == 0;
            return ended;
        },
        timeout);
    return ended;
}

}  // namespace labmta::test
