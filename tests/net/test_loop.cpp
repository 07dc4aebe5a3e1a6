// See test_loop.h. The deadline is a timer of the loop itself, so UV_RUN_ONCE always wakes up
// in time; it is unreferenced, so that it never keeps the loop alive on its own.
#include "tests/net/test_loop.h"

#include <cstdint>
#include <cstdio>

namespace labmta::test {
namespace {

void on_deadline(uv_timer_t* timer) {
    *static_cast<bool*>(timer->data) = true;
}

}  // namespace

TestLoop::TestLoop() {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &deadline_);
    uv_unref(reinterpret_cast<uv_handle_t*>(&deadline_));
}

TestLoop::~TestLoop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), nullptr);
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
    while (!done() && !expired) {
        // Nothing else active (the deadline is unreferenced): nothing more can happen.
        if (uv_run(&loop_, UV_RUN_ONCE) == 0) {
            break;
        }
    }
    uv_timer_stop(&deadline_);
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
