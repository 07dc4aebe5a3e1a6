// See connection.h. No exception may leave a libuv callback: everything called from them is
// noexcept in practice (no throwing code on this path), and allocation failure terminates.
#include "server/net/connection.h"

#include "common/reply_format.h"
#include "server/net/smtp_server.h"
#include "server/net/stream_write.h"
#include "server/net/uv_error.h"
#include "server/protocol/replies.h"

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <utility>

namespace labmta::net {
namespace {

// Replies waiting to be written before we stop reading from a client (and stop processing
// the lines it already sent).
constexpr std::size_t kMaxPendingWriteBytes = 64 * 1024;

// A write request and the bytes it sends, alive until libuv's write callback.

std::string peer_ip(uv_tcp_t* tcp) {
    sockaddr_storage address{};
    int length = sizeof address;
    if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return "unknown";
    }
    char host[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET6) {
        uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&address), host, sizeof host);
    } else {
        uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&address), host, sizeof host);
    }
    return host;
}

}  // namespace

Connection::Connection(SmtpServer& server)
    : server_(server), settings_(server.settings()), framer_(settings_->limits.line_length) {}

int Connection::accept_from(uv_stream_t* listener) {
    uv_tcp_init(server_.loop(), &tcp_);
    uv_timer_init(server_.loop(), &idle_timer_);
    uv_timer_init(server_.loop(), &delay_timer_);
    tcp_.data = this;
    idle_timer_.data = this;
    delay_timer_.data = this;
    open_handles_ = 3;
    const int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&tcp_));
    if (rc != 0) {
        close();
        return rc;
    }
    client_ip_ = peer_ip(&tcp_);
    // No reverse DNS lookup yet: Postfix's name for a client without one is "unknown".
    client_label_ = "unknown[" + client_ip_ + "]";
    return 0;
}

void Connection::start() {
    spdlog::info("connect from {}", client_label_);
    protocol::ClientInfo client;
    client.ip = client_ip_;
    client.may_relay = settings_->limits.relay_networks.contains(client_ip_);
    session_.emplace(settings_->policy,
                     std::move(client),
                     static_cast<protocol::MessageSink&>(*this),
                     static_cast<protocol::Authenticator&>(*this));
    session_deadline_ms_ =
        uv_now(server_.loop()) + std::uint64_t{settings_->limits.session_timeout_s} * 1000;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&tcp_), &Connection::on_alloc, &Connection::on_read);
    restart_idle_timer();
    if (settings_->limits.greet_pause_ms > 0) {
        // As Postfix postscreen's pregreet test: a client that talks before the 220 is a
        // spambot that does not wait for replies. Judged when the pause ends.
        greeting_pending_ = true;
        uv_timer_start(
            &delay_timer_, &Connection::on_delay_timer, settings_->limits.greet_pause_ms, 0);
        return;
    }
    session_->start();
    after_session_step();
}

void Connection::finish_greet_pause() {
    greeting_pending_ = false;
    if (pregreet_bytes_ > 0) {
        spdlog::warn("PREGREET {} bytes from {}", pregreet_bytes_, client_label_);
        refuse(protocol::replies::kProtocolSynchronization);
        return;
    }
    session_->start();
    after_session_step();
}

void Connection::refuse(std::string_view reply_line) {
    spdlog::warn("refused connection from {}: {}", client_label_, reply_line);
    std::string bytes;
    common::append_reply(bytes, reply_line);
    write(std::move(bytes));
    closing_ = true;
    if (writes_in_flight_ == 0) {
        close();
    }
}

void Connection::shutdown() {
    if (!session_ || closing_) {
        return;
    }
    if (session_->is_in_data() || session_->is_waiting()) {
        // Answered once the message has been received and queued, or the AUTH checked.
        shutdown_pending_ = true;
        return;
    }
    session_->on_shutdown();
    after_session_step();
}

void Connection::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buffer) {
    auto* self = static_cast<Connection*>(handle->data);
    *buffer = self->server_.read_buffer();
}

void Connection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer) {
    auto* self = static_cast<Connection*>(stream->data);
    if (nread < 0) {
        if (nread != UV_EOF) {
            spdlog::info("read error from {}: {}",
                         self->client_label_,
                         uv_error_text(static_cast<int>(nread)));
        }
        self->close();
        return;
    }
    if (nread == 0 || self->closing_) {
        return;
    }
    if (self->greeting_pending_) {
        // Whatever it is, it came before the greeting: nothing more needs reading.
        self->pregreet_bytes_ += static_cast<std::size_t>(nread);
        uv_read_stop(stream);
        return;
    }
    self->restart_idle_timer();
    self->framer_.feed(std::string_view(buffer->base, static_cast<std::size_t>(nread)));
    if (self->holding_reply_) {
        uv_read_stop(stream);  // one buffer at most while a reply is held; resumed on release
        return;
    }
    self->process_lines();
}

// Feeds every complete line to the session, then sends all replies in one write: a client
// that pipelines a whole transaction gets its replies batched, in order.
void Connection::process_lines() {
    if (holding_reply_) {
        return;  // release_held_reply() goes on
    }
    // Stop at a full batch of replies: the rest of the buffered lines wait for on_write, so a
    // client that pipelines without reading cannot make us queue replies without limit.
    // While a message is being queued, the lines after it wait in the framer: their replies
    // must follow its 250, and a QUIT must not close before it.
    // Stop after a failed AUTH too: its reply is delayed, and so is everything after it.
    while (!session_->close_after_flush() && !session_->is_waiting()
           && session_->output().size() < kMaxPendingWriteBytes
           && session_->auth_failures() == auth_failures_seen_) {
        const std::optional<common::Line> line = framer_.next();
        if (!line) {
            break;
        }
        session_->on_line(*line);
    }
    if (shutdown_pending_ && !session_->is_in_data() && !session_->is_waiting()) {
        shutdown_pending_ = false;
        session_->on_shutdown();
    }
    after_session_step();
}

void Connection::append(std::string_view text) {
    if (spill_error_) {
        return;  // already failed: the rest is dropped, the end of data gets 451
    }
    if (!spill_.is_open()) {
        spill_ = server_.committer().create_spill_file(spill_error_);
    }
    if (!spill_error_) {
        spill_error_ = spill_.append(text);
    }
    if (spill_error_) {
        spdlog::error(
            "{}: cannot write message in progress: {}", client_label_, spill_error_.message());
        spill_ = spool::SpillFile();
    }
}

void Connection::discard() {
    spill_ = spool::SpillFile();
    spill_error_.clear();
}

void Connection::queue(common::Envelope envelope, std::string rest, protocol::QueueDone done) {
    if (std::exchange(spill_error_, {})) {
        done({});  // part of the message is missing: 451, and the client sends it again
        return;
    }
    awaiting_answer_ = true;
    server_.committer().queue(
        net::QueueRequest{std::move(envelope), std::exchange(spill_, {}), std::move(rest), {}},
        [this, done = std::move(done)](protocol::QueueResult result) {
            awaiting_answer_ = false;
            done(std::move(result));
            after_answer();
        });
}

void Connection::after_answer() {
    if (open_handles_ == 0) {
        log_events();  // the client left meanwhile; a message is queued all the same
        server_.release(this);
        return;
    }
    process_lines();  // writes the reply and goes on with the lines that waited
}

bool Connection::authenticate(std::string_view user, std::string_view password) {
    return settings_->authenticator->authenticate(user, password);
}

namespace {

// One credentials check on the thread pool. It holds the settings, so that a reload meanwhile
// cannot free the accounts it reads.
struct AuthCheck {
    uv_work_t work{};
    std::shared_ptr<const SessionSettings> settings;
    std::string user;
    std::string password;
    protocol::AuthDone done;
    Connection* connection = nullptr;
    bool ok = false;
};

}  // namespace

void Connection::authenticate_later(std::string user,
                                    std::string password,
                                    protocol::AuthDone done) {
    auto check = std::make_unique<AuthCheck>();
    check->work.data = check.get();
    check->settings = settings_;
    check->user = std::move(user);
    check->password = std::move(password);
    check->done = std::move(done);
    check->connection = this;
    const int rc = uv_queue_work(
        server_.loop(), &check->work, &Connection::on_auth_work, &Connection::on_auth_done);
    if (rc != 0) {
        // Only when the loop is broken; refused like a wrong password.
        spdlog::error("cannot start an AUTH check: {}", uv_error_text(rc));
        check->done(false);
        return;
    }
    awaiting_answer_ = true;
    static_cast<void>(check.release());  // owned by libuv until on_auth_done
}

void Connection::on_auth_work(uv_work_t* work) {
    auto* check = static_cast<AuthCheck*>(work->data);
    check->ok = check->settings->authenticator->authenticate(check->user, check->password);
    std::fill(check->password.begin(), check->password.end(), '\0');
}

void Connection::on_auth_done(uv_work_t* work, int /*status*/) {
    const std::unique_ptr<AuthCheck> check(static_cast<AuthCheck*>(work->data));
    Connection* self = check->connection;
    self->awaiting_answer_ = false;
    check->done(check->ok);
    self->after_answer();
}

bool Connection::has_room_for(std::size_t message_bytes) {
    return server_.has_room_for(message_bytes);
}

void Connection::after_session_step() {
    log_events();
    if (holding_reply_ || hold_auth_failure_reply()) {
        return;
    }
    std::string output = session_->take_output();
    if (!output.empty()) {
        write(std::move(output));
    }
    auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
    if (session_->close_after_flush() && !closing_) {
        closing_ = true;
        uv_read_stop(stream);
        if (writes_in_flight_ == 0) {
            close();
        } else {
            restart_idle_timer();  // the last reply gets one timeout to be written, no more
        }
        return;
    }
    // Back-pressure: a client that does not read its replies is not read from either.
    if (!closing_ && !reading_paused_
        && uv_stream_get_write_queue_size(stream) >= kMaxPendingWriteBytes) {
        reading_paused_ = true;
        uv_read_stop(stream);
    }
}

void Connection::write(std::string bytes) {
    const WriteResult result = write_bytes(
        reinterpret_cast<uv_stream_t*>(&tcp_), std::move(bytes), this, &Connection::on_write);
    if (result.error != 0) {
        spdlog::info("write error to {}: {}", client_label_, uv_error_text(result.error));
        close();
        return;
    }
    if (result.pending) {
        ++writes_in_flight_;
    }
}

void Connection::on_write(void* owner, int status) {
    auto* self = static_cast<Connection*>(owner);
    --self->writes_in_flight_;
    if (status < 0 && status != UV_ECANCELED) {
        spdlog::info("write error to {}: {}", self->client_label_, uv_error_text(status));
        self->close();
        return;
    }
    if (self->closing_) {
        if (self->writes_in_flight_ == 0) {
            self->close();
        }
        return;
    }
    auto* stream = reinterpret_cast<uv_stream_t*>(&self->tcp_);
    if (uv_stream_get_write_queue_size(stream) < kMaxPendingWriteBytes) {
        if (self->reading_paused_) {
            self->reading_paused_ = false;
            uv_read_start(stream, &Connection::on_alloc, &Connection::on_read);
        }
        self->process_lines();  // lines left in the framer when the last batch filled up
    }
}

void Connection::on_timer(uv_timer_t* timer) {
    auto* self = static_cast<Connection*>(timer->data);
    if (!self->session_) {
        return;
    }
    if (self->closing_) {
        // The last reply could not be written within the timeout: the client is not reading.
        self->close();
        return;
    }
    if (self->session_->is_waiting()) {
        self->restart_idle_timer();  // the disk or the password hash is slow, not the client
        return;
    }
    if (uv_now(self->server_.loop()) >= self->session_deadline_ms_) {
        spdlog::info("session timeout after {}s from {}",
                     self->settings_->limits.session_timeout_s,
                     self->client_label_);
    } else {
        spdlog::info("timeout after {} from {}",
                     self->session_->is_in_data() ? "DATA" : "command",
                     self->client_label_);
    }
    self->session_->on_timeout();
    self->after_session_step();
}

// One timer for both limits: limits.timeout of silence, and limits.session_timeout in all
// (a client that sends a byte now and then still ends there). Once closing, the last reply
// gets a whole limits.timeout to be written; so does a message being queued (on_timer would
// otherwise fire again at once, the deadline being past).
void Connection::restart_idle_timer() {
    std::uint64_t timeout_ms = std::uint64_t{settings_->limits.timeout_s} * 1000;
    const std::uint64_t now_ms = uv_now(server_.loop());
    if (!closing_ && !(session_ && session_->is_waiting())) {
        timeout_ms =
            std::min(timeout_ms, session_deadline_ms_ > now_ms ? session_deadline_ms_ - now_ms : 0);
    }
    uv_timer_start(&idle_timer_, &Connection::on_timer, timeout_ms, 0);
}

// After each 535 the reply waits limits.auth_failure_delay (Postfix's smtpd_error_sleep_time)
// and nothing more is read or processed meanwhile: a password guesser gets one guess per delay.
// Each failure also counts for the client's address (limits.auth_failures_per_client).
bool Connection::hold_auth_failure_reply() {
    if (session_->auth_failures() == auth_failures_seen_) {
        return false;
    }
    auth_failures_seen_ = session_->auth_failures();
    if (server_.note_auth_failure(client_ip_)) {
        session_->on_auth_blocked();
        log_events();
    }
    const unsigned delay_ms = settings_->limits.auth_failure_delay_ms;
    if (delay_ms == 0) {
        return false;
    }
    holding_reply_ = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    uv_timer_start(&delay_timer_, &Connection::on_delay_timer, delay_ms, 0);
    return true;
}

void Connection::release_held_reply() {
    holding_reply_ = false;
    after_session_step();  // writes the held replies; closes after them if the session ended
    if (closing_) {
        return;
    }
    if (!reading_paused_) {
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(&tcp_), &Connection::on_alloc, &Connection::on_read);
    }
    process_lines();  // lines that came with or after the failed AUTH
}

void Connection::on_delay_timer(uv_timer_t* timer) {
    auto* self = static_cast<Connection*>(timer->data);
    if (!self->session_ || self->closing_) {
        return;
    }
    if (self->greeting_pending_) {
        self->finish_greet_pause();
    } else {
        self->release_held_reply();
    }
}

void Connection::close() {
    closing_ = true;
    auto* tcp_handle = reinterpret_cast<uv_handle_t*>(&tcp_);
    auto* timer_handle = reinterpret_cast<uv_handle_t*>(&idle_timer_);
    auto* delay_handle = reinterpret_cast<uv_handle_t*>(&delay_timer_);
    if (!uv_is_closing(tcp_handle)) {
        if (session_) {
            spdlog::info("disconnect from {} {}", client_label_, session_->command_summary());
        }
        uv_close(tcp_handle, &Connection::on_close);
    }
    if (!uv_is_closing(timer_handle)) {
        uv_close(timer_handle, &Connection::on_close);
    }
    if (!uv_is_closing(delay_handle)) {
        uv_close(delay_handle, &Connection::on_close);
    }
}

void Connection::on_close(uv_handle_t* handle) {
    auto* self = static_cast<Connection*>(handle->data);
    if (--self->open_handles_ == 0 && !self->awaiting_answer_) {
        self->server_.release(self);
    }
}

void Connection::log_events() {
    for (const protocol::SessionEvent& event : session_->take_events()) {
        using Kind = protocol::SessionEvent::Kind;
        switch (event.kind) {
            case Kind::Queued:
                if (event.sasl_username.empty()) {
                    spdlog::info("{}: client={}", event.queue_id, client_label_);
                } else {
                    spdlog::info("{}: client={}, sasl_method={}, sasl_username={}",
                                 event.queue_id,
                                 client_label_,
                                 event.sasl_method,
                                 event.sasl_username);
                }
                spdlog::info("{}: message-id={}", event.queue_id, event.message_id);
                spdlog::info("{}: from=<{}>, size={}, nrcpt={} (queue active)",
                             event.queue_id,
                             event.sender,
                             event.size,
                             event.nrcpt);
                break;
            case Kind::Rejected:
                spdlog::info(
                    "NOQUEUE: reject: {} from {}: {}; from=<{}> to=<{}> proto={} helo=<{}>",
                    event.stage,
                    client_label_,
                    event.reply,
                    event.sender,
                    event.recipient,
                    event.protocol,
                    event.helo);
                break;
            case Kind::QueueFailed:
                spdlog::error("NOQUEUE: queue file write error from {}: from=<{}>, nrcpt={}",
                              client_label_,
                              event.sender,
                              event.nrcpt);
                break;
            case Kind::Authenticated:
                spdlog::info("{}: sasl_method={}, sasl_username={}",
                             client_label_,
                             event.sasl_method,
                             event.sasl_username);
                break;
            case Kind::AuthFailed:
                spdlog::warn("warning: {}: SASL {} authentication failed: {}",
                             client_label_,
                             event.sasl_method,
                             event.reply);
                break;
            case Kind::TooManyErrors:
                spdlog::warn("too many errors from {}", client_label_);
                break;
            case Kind::TooManyAuthFailures:
                spdlog::warn("too many AUTH failures from {}", client_label_);
                break;
            case Kind::Timeout:
                break;  // logged by on_timer with the state it happened in
        }
    }
}

}  // namespace labmta::net
