// A libuv loop for one test, run in bounded steps: run_until() returns when a condition holds
// or a deadline passes, never blocking longer. Test code only.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

namespace labmta::test {

inline constexpr std::chrono::milliseconds kLoopWait{10000};

class TestLoop {
public:
    TestLoop();
    // Closes whatever handles are still open (so that a failed test still ends cleanly).
    ~TestLoop();
    TestLoop(const TestLoop&) = delete;
    TestLoop& operator=(const TestLoop&) = delete;

    uv_loop_t* get() { return &loop_; }

    // Runs the loop until done() is true or timeout has passed; returns done(). done() is checked
    // after every loop iteration and at least every few milliseconds.
    bool run_until(const std::function<bool()>& done,
                   std::chrono::milliseconds timeout = kLoopWait);
    // Runs the loop until no handle is active any more (or timeout); true when it ended.
    bool run_to_end(std::chrono::milliseconds timeout = kLoopWait);

private:
    uv_loop_t loop_{};
    uv_timer_t deadline_{};
    uv_timer_t tick_{};
};

}  // namespace labmta::test
