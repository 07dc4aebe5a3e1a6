// Group commit, as databases do it: messages that reach the end of DATA while a group is being
// written wait for it and are then written together by the next group, on libuv's thread
// pool, sharing the fsync rounds (spool::Spool::commit_batch). Each session gets its answer
// when its own message is durable, and the event loop never waits for the disk. One group is
// written at a time: a lone session's message is written at once, a busy server makes big
// groups, and no timer adds latency.
#pragma once

#include "common/envelope.h"
#include "server/protocol/session_types.h"
#include "spool/spill_file.h"

#include <uv.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace labmta::net {

// One message to queue: the part streamed to disk during DATA (if any), then rest.
struct QueueRequest {
    common::Envelope envelope;
    spool::SpillFile spilled;  // not open when the whole message is in rest
    std::string rest;
    protocol::QueueResult result;  // filled in by the writer
};

class GroupCommitter {
public:
    // Writes one group durably and fills in each result. Runs on a thread-pool thread, never
    // two at once, and must touch nothing the loop thread uses.
    using WriteGroup = std::function<void(std::vector<QueueRequest>&)>;
    // Runs on the loop for each message queued, before its session hears of it.
    using Queued = std::function<void(const std::string& queue_id)>;

    // spill_dir: where the messages in progress are streamed (<spool>/tmp).
    GroupCommitter(uv_loop_t* loop, std::string spill_dir, WriteGroup write_group, Queued queued);
    GroupCommitter(const GroupCommitter&) = delete;
    GroupCommitter& operator=(const GroupCommitter&) = delete;

    // A file for a message in progress (see spool::SpillFile).
    spool::SpillFile create_spill_file(std::error_code& error) const;
    // Queues request; done runs on the loop once it is durable or has failed.
    void queue(QueueRequest request, protocol::QueueDone done);

private:
    static void on_work(uv_work_t* request);
    static void on_work_done(uv_work_t* request, int status);
    void start_group();

    // A group is bounded so that its open files and memory stay small.
    static constexpr std::size_t kMaxGroup = 256;

    uv_loop_t* loop_;
    std::string spill_dir_;
    WriteGroup write_group_;
    Queued queued_;
    uv_work_t work_{};
    bool writing_ = false;
    std::vector<QueueRequest> waiting_;  // the next group
    std::vector<protocol::QueueDone> waiting_done_;
    std::vector<QueueRequest> group_;  // being written
    std::vector<protocol::QueueDone> group_done_;
};

}  // namespace labmta::net
