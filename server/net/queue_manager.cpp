// See queue_manager.h.
#include "server/net/queue_manager.h"

#include "server/net/delivery_outcomes.h"
#include "server/net/uv_error.h"
#include "spool/retry.h"

#include <spdlog/spdlog.h>

#include <iterator>
#include <memory>
#include <utility>

namespace labmta::net {
namespace {

using protocol::OutcomeStatus;

// The recipients of file that still wait for the relay agent: not delivered, not local.
std::vector<std::string> remote_pending(const spool::QueueFile& file,
                                        const std::vector<std::string>& local_domains) {
    std::vector<std::string> recipients;
    for (std::size_t i = 0; i < file.envelope.recipients.size(); ++i) {
        const std::string& recipient = file.envelope.recipients[i];
        if (!file.delivered[i] && !spool::is_local_recipient(recipient, local_domains)) {
            recipients.push_back(recipient);
        }
    }
    return recipients;
}

// The first recipient with this address not yet delivered, or npos.
std::size_t pending_index(const spool::QueueFile& file, const std::string& address) {
    for (std::size_t i = 0; i < file.envelope.recipients.size(); ++i) {
        if (!file.delivered[i] && file.envelope.recipients[i] == address) {
            return i;
        }
    }
    return std::string::npos;
}

}  // namespace

QueueManager::QueueManager(uv_loop_t* loop,
                           spool::Spool& spool,
                           QueueSettings settings,
                           const common::Clock& clock,
                           common::Random& random,
                           RelayAgent& relay)
    : loop_(loop),
      spool_(spool),
      settings_(std::move(settings)),
      clock_(clock),
      random_(random),
      ids_(clock, random),
      relay_(relay) {
    work_.data = this;
    record_work_.data = this;
    uv_timer_init(loop_, &scan_timer_);
    scan_timer_.data = this;
    uv_timer_init(loop_, &gather_timer_);
    gather_timer_.data = this;
}

void QueueManager::start() {
    // A restart retries everything at once, deferred mail included: whoever restarts a lab
    // server expects what is queued to go out, and a fixed peer may be why it was restarted.
    scan(Attempt::Now);
    const std::uint64_t interval_ms = std::uint64_t{settings_.scan_interval_s} * 1000;
    uv_timer_start(&scan_timer_, &QueueManager::on_scan_timer, interval_ms, interval_ms);
}

void QueueManager::notify(const std::string& queue_id) {
    schedule(queue_id, Attempt::FirstTime);
}

void QueueManager::flush() {
    spdlog::info("flush: retrying all queued mail now");
    scan(Attempt::Now);
}

// Not while an attempt is being recorded: its record may have just queued a bounce, which the
// record hands over when done (on_record_done). Found here first, it would be delivered, then
// scheduled once more. Such a scan runs when the record is done.
void QueueManager::scan(Attempt attempt) {
    if (recording_) {
        postponed_scan_ = postponed_scan_ == Attempt::Now ? Attempt::Now : attempt;
        return;
    }
    for (const std::string& id : spool_.list_queue()) {
        schedule(id, attempt);
    }
}

void QueueManager::stop() {
    stopping_ = true;
    pending_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&scan_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&gather_timer_), nullptr);
    relay_.abort_all();
}

void QueueManager::schedule(const std::string& queue_id, Attempt attempt) {
    if (stopping_ || !scheduled_.insert(queue_id).second) {
        return;
    }
    pending_.emplace_back(queue_id, attempt);
    run_next();
}

void QueueManager::run_next() {
    if (busy_ || pending_.empty() || stopping_) {
        return;
    }
    // A group is worth waiting for: its fsync rounds cost what one message's do. So a short
    // group waits up to kGatherMs for more messages (sessions committing meanwhile), which
    // keeps delivery from competing with the sessions' commits for the disk.
    if (pending_.size() < kMaxDeliveryGroup && !gathered_) {
        if (uv_is_active(reinterpret_cast<uv_handle_t*>(&gather_timer_)) == 0) {
            uv_timer_start(&gather_timer_, &QueueManager::on_gather_timer, kGatherMs, 0);
        }
        return;
    }
    gathered_ = false;
    uv_timer_stop(&gather_timer_);
    current_.clear();
    while (!pending_.empty() && current_.size() < kMaxDeliveryGroup) {
        Job& job = current_.emplace_back();
        job.queue_id = pending_.front().first;
        job.attempt = pending_.front().second;
        pending_.pop_front();
    }
    busy_ = true;
    const int rc =
        uv_queue_work(loop_, &work_, &QueueManager::on_work, &QueueManager::on_work_done);
    if (rc != 0) {
        busy_ = false;
        spdlog::error("cannot start delivery: {}", uv_error_text(rc));
        for (const Job& job : current_) {
            done_with(job.queue_id);
        }
        current_.clear();
    }
}

// Runs on a thread-pool thread: touches only the spool and current_. The due messages of the
// group are delivered locally together, sharing their fsync rounds.
void QueueManager::on_work(uv_work_t* request) {
    auto* self = static_cast<QueueManager*>(request->data);
    std::vector<std::string> due_ids;
    std::vector<Job*> due;
    for (Job& job : self->current_) {
        // A deferred message waits for its retry time: not even read before then, so that a
        // queue scan over many deferred messages costs one small file read each. A message
        // queued just now has no defer file: no read at all on the hot path.
        if (job.attempt != Attempt::FirstTime) {
            job.defer = spool::read_defer_info(self->spool_.root(), job.queue_id)
                            .value_or(spool::DeferInfo{});
        }
        if (job.attempt != Attempt::WhenDue || job.defer.next_attempt_us <= self->clock_.now_us()) {
            due_ids.push_back(job.queue_id);
            due.push_back(&job);
        }
    }
    std::vector<spool::LocalDeliveryReport> reports = spool::deliver_local_group(
        self->spool_, due_ids, self->settings_.local_domains, self->settings_.hostname);
    for (std::size_t i = 0; i < due.size(); ++i) {
        Job& job = *due[i];
        job.local = std::move(reports[i]);
        if (!job.local.load_error && !job.local.removed) {
            job.remaining = self->spool_.load(job.queue_id, job.load_error);
        }
        if (job.local.removed && job.attempt != Attempt::FirstTime) {
            // Delivered on a retry: its defer file has nothing left to say. Should this fail,
            // a defer file without its queue file is ignored by the tools and the scans.
            (void)spool::remove_defer_info(self->spool_.root(), job.queue_id);
        }
    }
}

void QueueManager::on_work_done(uv_work_t* request, int /*status*/) {
    auto* self = static_cast<QueueManager*>(request->data);
    self->busy_ = false;
    for (Job& job : std::exchange(self->current_, {})) {
        self->after_local(std::move(job));
    }
    self->run_next();
}

void QueueManager::after_local(Job job) {
    log_local(job.queue_id, job.local);
    // Local recipients left pending failed in local delivery just now: they are retried by
    // local delivery after their backoff, never by the relay agent.
    std::vector<RelayOutcome> failed = local_failures(job.local);
    if (!job.remaining) {
        // Nothing to record them in: the next scan or start retries them.
        log_outcomes(job.queue_id, job.local.arrival_us, failed);
        if (job.load_error) {
            spdlog::error("{}: cannot read queue file: {}", job.queue_id, job.load_error.message());
        }
        done_with(job.queue_id);
    } else if (!stopping_ && !remote_pending(*job.remaining, settings_.local_domains).empty()) {
        // While stopping, remote recipients wait for the next start, unattempted; the local
        // failures below are recorded all the same (records outlive stop()).
        start_relay(std::move(job), std::move(failed));
    } else if (!failed.empty()) {
        finish_attempt(
            job.queue_id, std::move(*job.remaining), std::move(job.defer), std::move(failed));
    } else {
        done_with(job.queue_id);
    }
}

void QueueManager::start_relay(Job job, std::vector<RelayOutcome> local_deferred) {
    auto file = std::make_shared<spool::QueueFile>(std::move(*job.remaining));
    std::vector<std::string> recipients = remote_pending(*file, settings_.local_domains);
    relay_.deliver(file->envelope.sender,
                   std::move(recipients),
                   file->message,
                   [this,
                    id = job.queue_id,
                    file,
                    defer = std::move(job.defer),
                    local = std::move(local_deferred)](std::vector<RelayOutcome> outcomes) mutable {
                       outcomes.insert(outcomes.end(),
                                       std::make_move_iterator(local.begin()),
                                       std::make_move_iterator(local.end()));
                       // The relay has its own copy of the message: this one is the record's.
                       finish_attempt(id, std::move(*file), std::move(defer), std::move(outcomes));
                   });
}

void QueueManager::finish_attempt(const std::string& queue_id,
                                  spool::QueueFile file,
                                  spool::DeferInfo defer,
                                  std::vector<RelayOutcome> outcomes) {
    records_.push_back(
        {queue_id, std::move(file), std::move(defer), std::move(outcomes), random_.next_u64(), {}});
    run_next_record();
}

// Not held back while stopping: the outcomes of the attempts that stop() aborted are recorded
// before the loop ends, as their deferrals must be.
void QueueManager::run_next_record() {
    while (!recording_ && !records_.empty()) {
        recording_.emplace(std::move(records_.front()));
        records_.pop_front();
        const int rc = uv_queue_work(
            loop_, &record_work_, &QueueManager::on_record_work, &QueueManager::on_record_done);
        if (rc != 0) {
            // Only when the loop is broken. Unrecorded, the recipients are tried again later.
            spdlog::error("{}: cannot record the delivery attempt: {}",
                          recording_->queue_id,
                          uv_error_text(rc));
            done_with(recording_->queue_id);
            recording_.reset();
        }
    }
}

void QueueManager::on_record_work(uv_work_t* request) {
    auto* self = static_cast<QueueManager*>(request->data);
    self->record(*self->recording_);
}

void QueueManager::on_record_done(uv_work_t* request, int /*status*/) {
    auto* self = static_cast<QueueManager*>(request->data);
    const Record done = std::move(*self->recording_);
    self->recording_.reset();
    if (!done.bounce_id.empty()) {
        self->schedule(done.bounce_id, Attempt::FirstTime);
    }
    self->done_with(done.queue_id);
    if (const std::optional<Attempt> scan = std::exchange(self->postponed_scan_, std::nullopt)) {
        self->scan(*scan);
    }
    self->run_next_record();
}

void QueueManager::record(Record& attempt) {
    const std::string& queue_id = attempt.queue_id;
    spool::QueueFile& file = attempt.file;
    std::vector<RelayOutcome>& outcomes = attempt.outcomes;
    if (!spool_.is_queued(queue_id)) {
        // Deleted (labmta delete) while this attempt ran: nothing left to record or retry.
        spdlog::info("{}: removed from the queue during delivery", queue_id);
        return;
    }
    const std::int64_t now_us = clock_.now_us();
    if (spool::is_expired(file.arrival_us, now_us, settings_.lifetime_s)) {
        expire_deferred(outcomes);
    }
    // The spool is updated before the log lines are written: whoever reads the log and then
    // the queue (a person, a test) finds the state the log speaks of.
    const std::vector<spool::BouncedRecipient> bounced = record_settled(queue_id, file, outcomes);
    const bool all_done =
        std::find(file.delivered.begin(), file.delivered.end(), false) == file.delivered.end();
    if (!all_done) {
        record_deferred(queue_id, attempt.defer.attempts + 1, outcomes, now_us);
    }
    log_outcomes(queue_id, file.arrival_us, outcomes);
    if (!bounced.empty() && spool::should_bounce(file.envelope.sender)) {
        attempt.bounce_id = queue_bounce(file, bounced, attempt.bounce_seed);
    }
    if (all_done) {
        const std::error_code error = spool_.remove(queue_id);
        spool::remove_defer_info(spool_.root(), queue_id);
        if (error) {
            spdlog::error("{}: cannot remove queue file: {}", queue_id, error.message());
        } else {
            spdlog::info("{}: removed", queue_id);
        }
    }
}

std::vector<spool::BouncedRecipient> QueueManager::record_settled(
    const std::string& queue_id,
    spool::QueueFile& file,
    const std::vector<RelayOutcome>& outcomes) {
    std::vector<spool::BouncedRecipient> bounced;
    for (const RelayOutcome& result : outcomes) {
        const protocol::RecipientOutcome& outcome = result.outcome;
        const std::size_t index = outcome.status == OutcomeStatus::Deferred
                                      ? std::string::npos
                                      : pending_index(file, outcome.recipient);
        if (index == std::string::npos) {
            continue;
        }
        file.delivered[index] = true;
        if (const std::error_code error = spool_.mark_delivered(queue_id, index)) {
            // The copy went out but is not recorded: it may be sent again (at least once).
            spdlog::error("{}: cannot record delivery to <{}>: {}",
                          queue_id,
                          outcome.recipient,
                          error.message());
        }
        if (outcome.status == OutcomeStatus::Bounced) {
            bounced.push_back(
                {outcome.recipient, outcome.dsn, relay_host(result.relay), outcome.reply});
        }
    }
    return bounced;
}

void QueueManager::record_deferred(const std::string& queue_id,
                                   unsigned attempts,
                                   const std::vector<RelayOutcome>& outcomes,
                                   std::int64_t now_us) {
    spool::DeferInfo next;
    next.attempts = attempts;
    for (const RelayOutcome& result : outcomes) {
        const protocol::RecipientOutcome& outcome = result.outcome;
        if (outcome.status == OutcomeStatus::Deferred) {
            next.recipients.push_back({outcome.recipient, outcome.dsn, outcome.reply});
        }
    }
    if (next.recipients.empty()) {
        return;
    }
    const std::int64_t delay =
        spool::next_retry_delay_s(attempts, settings_.first_retry_s, settings_.max_retry_s);
    next.next_attempt_us = now_us + delay * 1'000'000;
    if (const std::error_code error = spool::write_defer_info(spool_.root(), queue_id, next)) {
        spdlog::error("{}: cannot write defer file: {}", queue_id, error.message());
    }
}

std::string QueueManager::queue_bounce(const spool::QueueFile& file,
                                       const std::vector<spool::BouncedRecipient>& bounced,
                                       std::uint64_t seed) {
    const std::int64_t now_us = clock_.now_us();
    spool::BounceInput input;
    input.hostname = settings_.hostname;
    input.queue_id = file.queue_id;
    input.envelope = file.envelope;
    input.arrival_us = file.arrival_us;
    input.now_us = now_us;
    input.recipients = bounced;
    input.original_message = file.message;
    input.seed = seed;
    common::Envelope envelope;
    envelope.sender = "";  // a bounce never bounces (RFC 5321 4.5.5)
    envelope.recipients = {file.envelope.sender};
    envelope.helo = settings_.hostname;
    envelope.protocol = "local";
    envelope.client_host = "localhost";
    envelope.client_ip = "127.0.0.1";
    const spool::CommitResult result = spool_.commit(ids_, [&](const std::string& id) {
        spool::QueueFile bounce;
        bounce.queue_id = id;
        bounce.arrival_us = now_us;
        bounce.envelope = envelope;
        bounce.delivered = {false};
        bounce.message = spool::make_bounce_message(input);
        return bounce;
    });
    if (result.error) {
        spdlog::error("{}: cannot queue the non-delivery notification: {}",
                      file.queue_id,
                      result.error.message());
        return {};
    }
    spdlog::info("{}: sender non-delivery notification: {}", file.queue_id, result.queue_id);
    return result.queue_id;
}

void QueueManager::done_with(const std::string& queue_id) {
    scheduled_.erase(queue_id);
}

void QueueManager::on_gather_timer(uv_timer_t* timer) {
    auto* self = static_cast<QueueManager*>(timer->data);
    self->gathered_ = true;
    self->run_next();
}

void QueueManager::on_scan_timer(uv_timer_t* timer) {
    static_cast<QueueManager*>(timer->data)->scan(Attempt::WhenDue);
}

void QueueManager::log_local(const std::string& queue_id,
                             const spool::LocalDeliveryReport& report) {
    if (report.load_error) {
        spdlog::error("{}: cannot read queue file: {}", queue_id, report.load_error.message());
        return;
    }
    // Failures are logged with the rest of the attempt, once recorded (after_local).
    for (const spool::RecipientResult& result : report.results) {
        if (!is_local_failure(result)) {
            log_delivery(queue_id,
                         report.arrival_us,
                         {result.recipient, kLocalRelay, result.dsn, result.detail},
                         to_outcome_status(result.status));
        }
    }
    if (report.removed) {
        spdlog::info("{}: removed", queue_id);
    }
}

void QueueManager::log_outcomes(const std::string& queue_id,
                                std::int64_t arrival_us,
                                const std::vector<RelayOutcome>& outcomes) const {
    for (const RelayOutcome& result : outcomes) {
        const protocol::RecipientOutcome& outcome = result.outcome;
        log_delivery(queue_id,
                     arrival_us,
                     {outcome.recipient, result.relay, outcome.dsn, outcome.reply},
                     outcome.status);
    }
}

void QueueManager::log_delivery(const std::string& queue_id,
                                std::int64_t arrival_us,
                                const DeliveryLine& line,
                                OutcomeStatus status) const {
    spdlog::info("{}: to=<{}>, relay={}, delay={:.2f}, dsn={}, status={} ({})",
                 queue_id,
                 line.recipient,
                 line.relay,
                 delay_s(arrival_us),
                 line.dsn,
                 status_word(status),
                 line.text);
}

double QueueManager::delay_s(std::int64_t arrival_us) const {
    return static_cast<double>(clock_.now_us() - arrival_us) / 1'000'000.0;
}

}  // namespace labmta::net
