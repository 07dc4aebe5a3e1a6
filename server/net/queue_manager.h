// Drives delivery of queued mail from the event loop: one delivery job at a time runs on
// libuv's thread pool (file I/O and fsync must not stall the sessions), results are logged
// from the loop in Postfix's maillog shape, and deferred mail is retried on a timer.
// On start it picks up whatever an earlier run left in the queue.
#pragma once

#include "common/clock.h"
#include "spool/local_delivery.h"
#include "spool/spool.h"

#include <uv.h>

#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <vector>

namespace labmta::net {

struct QueueSettings {
    std::vector<std::string> local_domains;
    std::string hostname;
    unsigned retry_s = 300;  // Postfix's queue_run_delay
};

class QueueManager {
public:
    QueueManager(uv_loop_t* loop,
                 spool::Spool& spool,
                 QueueSettings settings,
                 const common::Clock& clock);
    QueueManager(const QueueManager&) = delete;
    QueueManager& operator=(const QueueManager&) = delete;

    // Schedules every message already in the queue.
    void start();
    // A message was just queued.
    void notify(const std::string& queue_id);
    // No new jobs; a job already running finishes (the loop waits for it).
    void stop();

private:
    static void on_work(uv_work_t* request);
    static void on_work_done(uv_work_t* request, int status);
    static void on_retry_timer(uv_timer_t* timer);

    void run_next();
    void log_report(const std::string& queue_id, const spool::LocalDeliveryReport& report);

    uv_loop_t* loop_;
    spool::Spool& spool_;
    QueueSettings settings_;
    const common::Clock& clock_;
    uv_work_t work_{};
    uv_timer_t retry_timer_{};
    bool busy_ = false;
    bool stopping_ = false;
    std::deque<std::string> pending_;
    std::set<std::string> scheduled_;  // in pending_ or running: never two jobs for one ID
    std::string current_id_;
    spool::LocalDeliveryReport current_report_;
};

}  // namespace labmta::net
