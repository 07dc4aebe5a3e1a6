// Drives delivery of queued mail from the event loop, like Postfix's qmgr. Local recipients
// are delivered into Maildirs by a job on libuv's thread pool (file I/O and fsync must not
// stall the sessions), one job at a time, each job a group of up to kMaxDeliveryGroup
// messages that share their fsync rounds (a short group waits kGatherMs for more first); remote
// recipients then go to the relay agent, on the loop. Outcomes are recorded in the spool (delivered
// marks, defer file with backoff), bounced recipients get a delivery status notification, and
// everything is logged in Postfix's maillog shape. On start it picks up whatever an earlier run
// left queued.
#pragma once

#include "common/clock.h"
#include "common/ids.h"
#include "server/net/relay_agent.h"
#include "spool/bounce.h"
#include "spool/defer_file.h"
#include "spool/local_delivery.h"
#include "spool/spool.h"

#include <uv.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::net {

struct QueueSettings {
    std::vector<std::string> local_domains;
    std::string hostname;
    unsigned scan_interval_s = 60;  // how often the queue is scanned for due retries
    unsigned first_retry_s = 300;   // config queue.retry
    unsigned max_retry_s = 3600;    // config queue.max_retry
    unsigned lifetime_s = 432000;   // config queue.lifetime
};

class QueueManager {
public:
    QueueManager(uv_loop_t* loop,
                 spool::Spool& spool,
                 QueueSettings settings,
                 const common::Clock& clock,
                 common::Random& random,
                 RelayAgent& relay);
    QueueManager(const QueueManager&) = delete;
    QueueManager& operator=(const QueueManager&) = delete;

    // Schedules every message already in the queue, due or not.
    void start();
    // A message was just queued.
    void notify(const std::string& queue_id);
    // Retry every deferred message now (labmta flush, SIGUSR1).
    void flush();
    // No new delivery jobs; a job already running finishes (the loop waits for it), and the
    // outcomes of every attempt, those stop() aborts included, are still recorded.
    void stop();

private:
    // Why a message is scheduled. WhenDue: a queue scan, which respects its retry time; Now:
    // start or flush, which ignore it; FirstTime: just queued, so it has no defer file to read.
    enum class Attempt { WhenDue, Now, FirstTime };

    // What the thread-pool job found for one message.
    struct Job {
        std::string queue_id;
        Attempt attempt = Attempt::WhenDue;
        spool::LocalDeliveryReport local;
        std::optional<spool::QueueFile> remaining;  // loaded when remote recipients remain
        spool::DeferInfo defer;
        std::error_code load_error;
    };

    static void on_work(uv_work_t* request);
    static void on_work_done(uv_work_t* request, int status);
    static void on_scan_timer(uv_timer_t* timer);
    static void on_gather_timer(uv_timer_t* timer);

    void schedule(const std::string& queue_id, Attempt attempt);
    // Schedules every queued message (start, flush, the scan timer).
    void scan(Attempt attempt);
    void run_next();
    void after_local(Job job);
    // Relays the remote recipients; local_deferred joins their outcomes afterwards.
    void start_relay(Job job, std::vector<RelayOutcome> local_deferred);
    // One attempt's outcomes, relayed and local, waiting to be recorded (record()).
    struct Record {
        std::string queue_id;
        spool::QueueFile file;
        spool::DeferInfo defer;
        std::vector<RelayOutcome> outcomes;
        std::uint64_t bounce_seed = 0;  // drawn on the loop: random_ is not the pool's
        std::string bounce_id;          // set by record(): the notification it queued, if any
    };
    // Queues the attempt's outcomes for record(), on the thread pool: the loop never waits
    // for the disk. The message stays scheduled until they are recorded.
    void finish_attempt(const std::string& queue_id,
                        spool::QueueFile file,
                        spool::DeferInfo defer,
                        std::vector<RelayOutcome> outcomes);
    void run_next_record();
    static void on_record_work(uv_work_t* request);
    static void on_record_done(uv_work_t* request, int status);
    // Runs on a thread-pool thread, one record at a time (ids_ is its own): delivered marks,
    // expiry (bounced with 5.4.7 past queue.lifetime), the defer file with the next retry,
    // log lines, the bounce, and the queue file's removal when every recipient is done.
    void record(Record& attempt);
    // Marks the recipients that are done (sent or bounced) in file and its queue file; returns
    // the bounced ones.
    std::vector<spool::BouncedRecipient> record_settled(const std::string& queue_id,
                                                        spool::QueueFile& file,
                                                        const std::vector<RelayOutcome>& outcomes);
    // Writes the defer file for the deferred outcomes, with the next retry time.
    void record_deferred(const std::string& queue_id,
                         unsigned attempts,
                         const std::vector<RelayOutcome>& outcomes,
                         std::int64_t now_us);
    // Queues a delivery status notification to the sender; returns its queue ID, or "".
    std::string queue_bounce(const spool::QueueFile& file,
                             const std::vector<spool::BouncedRecipient>& bounced,
                             std::uint64_t seed);
    void done_with(const std::string& queue_id);
    void log_local(const std::string& queue_id, const spool::LocalDeliveryReport& report);
    // One maillog line per recipient, as Postfix's delivery agents write them.
    void log_outcomes(const std::string& queue_id,
                      std::int64_t arrival_us,
                      const std::vector<RelayOutcome>& outcomes) const;
    // The fields of one such line, viewed where they are (no copies on the delivery path).
    struct DeliveryLine {
        std::string_view recipient;
        std::string_view relay;
        std::string_view dsn;
        std::string_view text;  // the reply, or local delivery's detail
    };
    void log_delivery(const std::string& queue_id,
                      std::int64_t arrival_us,
                      const DeliveryLine& line,
                      protocol::OutcomeStatus status) const;
    double delay_s(std::int64_t arrival_us) const;

    uv_loop_t* loop_;
    spool::Spool& spool_;
    QueueSettings settings_;
    const common::Clock& clock_;
    common::Random& random_;
    common::QueueIdGenerator ids_;
    RelayAgent& relay_;
    uv_work_t work_{};
    uv_timer_t scan_timer_{};
    uv_timer_t gather_timer_{};
    bool gathered_ = false;  // the gather time is over: start the group as it is
    bool busy_ = false;
    bool stopping_ = false;
    std::deque<std::pair<std::string, Attempt>> pending_;
    std::set<std::string> scheduled_;  // pending, running or relaying: one job per message
    std::vector<Job> current_;         // the group being delivered on the thread pool
    uv_work_t record_work_{};
    std::deque<Record> records_;             // waiting for the thread pool
    std::optional<Record> recording_;        // on the thread pool
    std::optional<Attempt> postponed_scan_;  // asked for while recording_ (scan())
    // A group is bounded so that one slow group does not hold up the messages behind it.
    static constexpr std::size_t kMaxDeliveryGroup = 64;
    // How long a group shorter than that waits for more messages before it starts.
    static constexpr std::uint64_t kGatherMs = 50;
};

}  // namespace labmta::net
