// See group_commit.h.
#include "server/net/group_commit.h"

#include "server/net/uv_error.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <utility>

namespace labmta::net {

GroupCommitter::GroupCommitter(uv_loop_t* loop,
                               std::string spill_dir,
                               WriteGroup write_group,
                               Queued queued)
    : loop_(loop),
      spill_dir_(std::move(spill_dir)),
      write_group_(std::move(write_group)),
      queued_(std::move(queued)) {
    work_.data = this;
}

spool::SpillFile GroupCommitter::create_spill_file(std::error_code& error) const {
    return spool::SpillFile::create(spill_dir_, error);
}

void GroupCommitter::queue(QueueRequest request, protocol::QueueDone done) {
    waiting_.push_back(std::move(request));
    waiting_done_.push_back(std::move(done));
    if (!writing_) {
        start_group();
    }
}

void GroupCommitter::start_group() {
    const std::size_t count = std::min(waiting_.size(), kMaxGroup);
    const auto take = [count](auto& from, auto& to) {
        to.assign(std::make_move_iterator(from.begin()),
                  std::make_move_iterator(from.begin() + static_cast<std::ptrdiff_t>(count)));
        from.erase(from.begin(), from.begin() + static_cast<std::ptrdiff_t>(count));
    };
    take(waiting_, group_);
    take(waiting_done_, group_done_);
    const int rc = uv_queue_work(loop_, &work_, &GroupCommitter::on_work, &on_work_done);
    if (rc != 0) {
        // Only when the loop is broken; the sessions get 451 and their clients retry.
        spdlog::error("cannot start a queue write: {}", uv_error_text(rc));
        for (protocol::QueueDone& done : std::exchange(group_done_, {})) {
            done({});
        }
        group_.clear();
        return;
    }
    writing_ = true;
}

void GroupCommitter::on_work(uv_work_t* request) {
    auto* self = static_cast<GroupCommitter*>(request->data);
    self->write_group_(self->group_);
}

void GroupCommitter::on_work_done(uv_work_t* request, int /*status*/) {
    auto* self = static_cast<GroupCommitter*>(request->data);
    std::vector<QueueRequest> group = std::exchange(self->group_, {});
    std::vector<protocol::QueueDone> done = std::exchange(self->group_done_, {});
    // Answering a session may queue its next message (pipelining): it waits for the next
    // group, which starts below with everything that arrived meanwhile.
    for (std::size_t i = 0; i < group.size(); ++i) {
        if (group[i].result.ok) {
            self->queued_(group[i].result.queue_id);
        }
        done[i](std::move(group[i].result));
    }
    self->writing_ = false;
    if (!self->waiting_.empty()) {
        self->start_group();
    }
}

}  // namespace labmta::net
