// See outbound_connection.h. One uv_tcp_t (closed and initialized again between connect
// attempts) and one uv_timer_t for both the connect and the reply timeout. No exception may
// leave a libuv callback: nothing on these paths throws except allocation, which terminates.
#include "server/net/outbound_connection.h"

#include "common/address.h"
#include "server/net/stream_write.h"

#include <sys/socket.h>

#include <cassert>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

namespace labmta::net {
namespace {

// RFC 5321 4.5.3.1.5 allows 512 octets; longer lines are cut here (the rest is dropped).
constexpr std::size_t kMaxReplyLine = 4096;
constexpr std::size_t kReadBufferBytes = 16384;

// Postfix words system errors as strerror() does: "Connection refused".
std::string system_error_text(int uv_status) {
    return std::generic_category().message(-uv_status);
}

int to_sockaddr(const Target& target, sockaddr_storage& address) {
    if (target.ip.find(':') != std::string::npos) {
        return uv_ip6_addr(
            target.ip.c_str(), target.port, reinterpret_cast<sockaddr_in6*>(&address));
    }
    return uv_ip4_addr(target.ip.c_str(), target.port, reinterpret_cast<sockaddr_in*>(&address));
}

// The verb of the last command in bytes ("RCPT"), or "." when bytes end the message.
std::string last_command_of(std::string_view bytes) {
    if (bytes.ends_with("\r\n")) {
        bytes.remove_suffix(2);
    }
    const std::size_t line_start = bytes.rfind('\n');
    const std::string_view line =
        line_start == std::string_view::npos ? bytes : bytes.substr(line_start + 1);
    return std::string(line.substr(0, line.find(' ')));
}

}  // namespace

OutboundConnection::OutboundConnection(uv_loop_t* loop,
                                       std::vector<Target> targets,
                                       protocol::ClientJob job,
                                       OutboundTimeouts timeouts,
                                       Done done)
    : loop_(loop),
      targets_(std::move(targets)),
      timeouts_(timeouts),
      done_(std::move(done)),
      session_(std::move(job)),
      framer_(kMaxReplyLine),
      read_buffer_(kReadBufferBytes, '\0') {}

OutboundConnection::~OutboundConnection() {
    assert((phase_ == Phase::Idle || finished_) && "destroyed before its handles were closed");
}

void OutboundConnection::start() {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    timer_open_ = true;
    phase_ = Phase::Connecting;
    connect_next();
}

void OutboundConnection::abort(std::string_view reason) {
    if (phase_ == Phase::Idle || closing_) {
        return;
    }
    fail(std::string(reason));
}

// Starts a connection to the next target; when none is left, the last connect error is the
// reason for every recipient (Postfix reports the last address it tried).
void OutboundConnection::connect_next() {
    while (next_target_ < targets_.size()) {
        sockaddr_storage address{};
        const int parsed = to_sockaddr(targets_[next_target_++], address);
        if (parsed != 0) {
            last_connect_error_ = "connect to " + endpoint() + ": " + system_error_text(parsed);
            continue;
        }
        uv_tcp_init(loop_, &tcp_);
        tcp_.data = this;
        tcp_open_ = true;
        connect_request_.data = this;
        const int rc = uv_tcp_connect(&connect_request_,
                                      &tcp_,
                                      reinterpret_cast<const sockaddr*>(&address),
                                      &OutboundConnection::on_connect);
        if (rc != 0) {
            connect_failed(system_error_text(rc));
            return;
        }
        uv_timer_start(&timer_, &OutboundConnection::on_timer, timeouts_.connect_ms, 0);
        return;
    }
    fail(last_connect_error_.empty() ? "no address to connect to" : last_connect_error_,
         Failure::NoConnection);
}

// This attempt failed: close its socket; on_tcp_closed then tries the next target.
void OutboundConnection::connect_failed(std::string_view error) {
    last_connect_error_ = "connect to " + endpoint() + ": " + std::string(error);
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &OutboundConnection::on_tcp_closed);
}

void OutboundConnection::on_connect(uv_connect_t* request, int status) {
    auto* self = static_cast<OutboundConnection*>(request->data);
    if (status == UV_ECANCELED) {
        return;  // we closed the socket (timeout or abort): on_tcp_closed decides what follows
    }
    if (status < 0) {
        self->connect_failed(system_error_text(status));
        return;
    }
    self->connected();
}

void OutboundConnection::connected() {
    phase_ = Phase::Talking;
    relay_ = endpoint();
    restart_reply_timer();
    uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_),
                  &OutboundConnection::on_alloc,
                  &OutboundConnection::on_read);
}

void OutboundConnection::on_alloc(uv_handle_t* handle,
                                  std::size_t /*suggested*/,
                                  uv_buf_t* buffer) {
    auto* self = static_cast<OutboundConnection*>(handle->data);
    *buffer = uv_buf_init(self->read_buffer_.data(), self->read_buffer_.size());
}

void OutboundConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer) {
    auto* self = static_cast<OutboundConnection*>(stream->data);
    if (self->closing_) {
        return;
    }
    if (nread < 0) {
        // EOF or a reset: the server went away before the dialog ended.
        self->fail("lost connection with " + self->peer() + " " + self->stage());
        return;
    }
    if (nread == 0) {
        return;
    }
    self->restart_reply_timer();
    self->framer_.feed(std::string_view(buffer->base, static_cast<std::size_t>(nread)));
    self->process_lines();
}

// Feeds every complete reply line to the session (CRLF or bare LF: the framer accepts both).
void OutboundConnection::process_lines() {
    while (!session_.is_done()) {
        const std::optional<common::Line> line = framer_.next();
        if (!line) {
            break;
        }
        if (skipping_long_line_) {
            skipping_long_line_ = line->ending == common::LineEnding::Partial;
            continue;
        }
        skipping_long_line_ = line->ending == common::LineEnding::Partial;
        session_.on_reply_line(line->text);
    }
    after_session_step();
}

void OutboundConnection::after_session_step() {
    std::string output = session_.take_output();
    if (!output.empty()) {
        last_command_ = last_command_of(output);
        write(std::move(output));
    }
    if (session_.is_done() && !closing_) {
        if (session_.greeting_refused() && next_target_ < targets_.size()) {
            skip_to_next_target();
            return;
        }
        closing_ = true;
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
        if (writes_in_flight_ == 0) {
            close();
        }
    }
}

// The server greeted with 4xx/5xx: as Postfix, the job goes to the next address, the dialog
// started over. Closing the socket may cancel the QUIT if it is still queued; no matter.
void OutboundConnection::skip_to_next_target() {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    uv_timer_stop(&timer_);
    session_.start_over();
    framer_ = common::LineFramer(kMaxReplyLine);
    skipping_long_line_ = false;
    last_command_.clear();
    phase_ = Phase::Connecting;  // on_tcp_closed connects to the next target
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &OutboundConnection::on_tcp_closed);
}

void OutboundConnection::write(std::string bytes) {
    const WriteResult result = write_bytes(reinterpret_cast<uv_stream_t*>(&tcp_),
                                           std::move(bytes),
                                           this,
                                           &OutboundConnection::on_write);
    if (result.error != 0) {
        fail("lost connection with " + peer() + " " + stage());
        return;
    }
    if (result.pending) {
        ++writes_in_flight_;
    } else {
        restart_reply_timer();  // the command left now: its reply is due reply_ms from here
    }
}

void OutboundConnection::on_write(void* owner, int status) {
    auto* self = static_cast<OutboundConnection*>(owner);
    --self->writes_in_flight_;
    if (status < 0 && status != UV_ECANCELED) {
        self->fail("lost connection with " + self->peer() + " " + self->stage());
        return;
    }
    if (self->closing_) {
        if (self->writes_in_flight_ == 0) {
            self->close();
        }
        return;
    }
    self->restart_reply_timer();  // the reply is due reply_ms after the command left
}

void OutboundConnection::on_timer(uv_timer_t* timer) {
    auto* self = static_cast<OutboundConnection*>(timer->data);
    if (self->closing_) {
        return;
    }
    if (self->phase_ == Phase::Connecting) {
        // Closing the socket cancels the connect; on_tcp_closed moves to the next target.
        self->connect_failed(system_error_text(UV_ETIMEDOUT));
        return;
    }
    self->fail("conversation with " + self->peer() + " timed out " + self->stage());
}

void OutboundConnection::restart_reply_timer() {
    uv_timer_start(&timer_, &OutboundConnection::on_timer, timeouts_.reply_ms, 0);
}

// The dialog ends early: recipients without an outcome are deferred with reason.
void OutboundConnection::fail(const std::string& reason, Failure kind) {
    if (!session_.is_done()) {
        if (kind == Failure::NoConnection) {
            session_.on_connect_failure(reason);
        } else {
            session_.on_failure(reason);
        }
        session_.take_output();  // nothing more is sent on a failed connection
    }
    close();
}

void OutboundConnection::close() {
    closing_ = true;
    auto* tcp_handle = reinterpret_cast<uv_handle_t*>(&tcp_);
    auto* timer_handle = reinterpret_cast<uv_handle_t*>(&timer_);
    if (tcp_open_ && !uv_is_closing(tcp_handle)) {
        uv_close(tcp_handle, &OutboundConnection::on_tcp_closed);
    }
    if (timer_open_ && !uv_is_closing(timer_handle)) {
        uv_close(timer_handle, &OutboundConnection::on_timer_closed);
    }
}

void OutboundConnection::on_tcp_closed(uv_handle_t* handle) {
    auto* self = static_cast<OutboundConnection*>(handle->data);
    self->tcp_open_ = false;
    if (self->phase_ == Phase::Connecting && !self->closing_) {
        self->connect_next();
        return;
    }
    self->finish_if_closed();
}

void OutboundConnection::on_timer_closed(uv_handle_t* handle) {
    auto* self = static_cast<OutboundConnection*>(handle->data);
    self->timer_open_ = false;
    self->finish_if_closed();
}

// Runs done once both handles are closed. Nothing touches *this after done: it may free us.
void OutboundConnection::finish_if_closed() {
    if (tcp_open_ || timer_open_ || finished_) {
        return;
    }
    finished_ = true;
    OutboundResult result;
    result.outcomes = session_.outcomes();
    result.relay = relay_;
    const Done done = std::move(done_);
    done(std::move(result));
}

std::string OutboundConnection::peer() const {
    const Target& current = target();
    return current.host + "[" + current.ip + "]";
}

std::string OutboundConnection::endpoint() const {
    return peer() + ":" + std::to_string(target().port);
}

// Where the dialog was, in Postfix's words, from the last command we wrote.
std::string OutboundConnection::stage() const {
    using common::iequals_ascii;
    if (last_command_.empty()) {
        return "while receiving the initial server greeting";
    }
    if (iequals_ascii(last_command_, "EHLO") || iequals_ascii(last_command_, "HELO")) {
        return "while performing the " + last_command_ + " handshake";
    }
    if (last_command_ == ".") {
        return "while sending end of data -- message may be sent more than once";
    }
    if (iequals_ascii(last_command_, "MAIL")) {
        return "after MAIL FROM";
    }
    if (iequals_ascii(last_command_, "RCPT")) {
        return "after RCPT TO";
    }
    return "after " + last_command_;
}

}  // namespace labmta::net
