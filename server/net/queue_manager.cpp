// See queue_manager.h.
#include "server/net/queue_manager.h"

#include "server/net/uv_error.h"

#include <spdlog/spdlog.h>

namespace labmta::net {
namespace {

const char* status_word(spool::DeliveryStatus status) {
    switch (status) {
        case spool::DeliveryStatus::Sent:
            return "sent";
        case spool::DeliveryStatus::Deferred:
            return "deferred";
        case spool::DeliveryStatus::Bounced:
            return "bounced";
    }
    return "deferred";
}

}  // namespace

QueueManager::QueueManager(uv_loop_t* loop,
                           spool::Spool& spool,
                           QueueSettings settings,
                           const common::Clock& clock)
    : loop_(loop), spool_(spool), settings_(std::move(settings)), clock_(clock) {
    work_.data = this;
    uv_timer_init(loop_, &retry_timer_);
    retry_timer_.data = this;
}

void QueueManager::start() {
    for (const std::string& id : spool_.list_queue()) {
        notify(id);
    }
    const std::uint64_t retry_ms = std::uint64_t{settings_.retry_s} * 1000;
    uv_timer_start(&retry_timer_, &QueueManager::on_retry_timer, retry_ms, retry_ms);
}

void QueueManager::notify(const std::string& queue_id) {
    if (stopping_ || !scheduled_.insert(queue_id).second) {
        return;
    }
    pending_.push_back(queue_id);
    run_next();
}

void QueueManager::stop() {
    stopping_ = true;
    pending_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_), nullptr);
}

void QueueManager::run_next() {
    if (busy_ || pending_.empty() || stopping_) {
        return;
    }
    current_id_ = pending_.front();
    pending_.pop_front();
    busy_ = true;
    const int rc =
        uv_queue_work(loop_, &work_, &QueueManager::on_work, &QueueManager::on_work_done);
    if (rc != 0) {
        busy_ = false;
        scheduled_.erase(current_id_);
        spdlog::error("{}: cannot start delivery: {}", current_id_, uv_error_text(rc));
    }
}

// Runs on a thread-pool thread: touches only the spool and this job's own fields.
void QueueManager::on_work(uv_work_t* request) {
    auto* self = static_cast<QueueManager*>(request->data);
    self->current_report_ = spool::deliver_local(self->spool_,
                                                 self->current_id_,
                                                 self->settings_.local_domains,
                                                 self->settings_.hostname,
                                                 self->clock_.now_us());
}

void QueueManager::on_work_done(uv_work_t* request, int /*status*/) {
    auto* self = static_cast<QueueManager*>(request->data);
    self->busy_ = false;
    self->scheduled_.erase(self->current_id_);
    self->log_report(self->current_id_, self->current_report_);
    self->run_next();
}

void QueueManager::on_retry_timer(uv_timer_t* timer) {
    auto* self = static_cast<QueueManager*>(timer->data);
    for (const std::string& id : self->spool_.list_queue()) {
        self->notify(id);
    }
}

void QueueManager::log_report(const std::string& queue_id,
                              const spool::LocalDeliveryReport& report) {
    if (report.load_error) {
        spdlog::error("{}: cannot read queue file: {}", queue_id, report.load_error.message());
        return;
    }
    const double delay_s = static_cast<double>(clock_.now_us() - report.arrival_us) / 1'000'000.0;
    for (const spool::RecipientResult& result : report.results) {
        spdlog::info("{}: to=<{}>, relay=local, delay={:.2f}, dsn={}, status={} ({})",
                     queue_id,
                     result.recipient,
                     delay_s,
                     result.dsn,
                     status_word(result.status),
                     result.detail);
    }
    if (report.removed) {
        spdlog::info("{}: removed", queue_id);
    }
}

}  // namespace labmta::net
