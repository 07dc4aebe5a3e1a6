// One outbound SMTP connection: tries the targets in order until one accepts the TCP
// connection, then only moves bytes: read -> framer -> protocol::SmtpClientSession -> write.
// Connect failures, timeouts and lost connections become the session's on_failure() with
// Postfix's wording. No logging here: the caller logs the outcomes.
#pragma once

#include "common/line_framer.h"
#include "server/net/destination.h"
#include "server/protocol/smtp_client.h"

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::net {

struct OutboundTimeouts {
    std::uint64_t connect_ms = 30000;  // Postfix's smtp_connect_timeout, per address
    std::uint64_t reply_ms = 300000;   // waiting for a reply, or for a write to complete
};

struct OutboundResult {
    std::vector<protocol::RecipientOutcome> outcomes;  // one per recipient of the job
    std::string relay;  // "mx1.example.com[192.0.2.1]:25", or "none" if nothing connected
};

// Lifetime: the caller owns the object (e.g. a std::unique_ptr in a registry) and keeps it
// until `done` has run. `done` runs exactly once, from the close callback of the last handle,
// so the caller may destroy the object from inside `done`, and must not destroy it earlier
// (after start()); abort() makes `done` come soon, e.g. on shutdown. `done` never runs from
// inside start() or abort(), so a registry may abort its connections while iterating them.
class OutboundConnection {
public:
    using Done = std::function<void(OutboundResult)>;

    // Does nothing until start(). done must not throw.
    OutboundConnection(uv_loop_t* loop,
                       std::vector<Target> targets,
                       protocol::ClientJob job,
                       OutboundTimeouts timeouts,
                       Done done);
    ~OutboundConnection();
    OutboundConnection(const OutboundConnection&) = delete;
    OutboundConnection& operator=(const OutboundConnection&) = delete;

    // Connects to the first target. Call once.
    void start();
    // Server shutdown: every recipient without an outcome is deferred with reason, and the
    // connection closes (done runs from the loop). No effect before start() or once the
    // dialog has ended.
    void abort(std::string_view reason);

    bool is_finished() const { return finished_; }

private:
    enum class Phase { Idle, Connecting, Talking };

    static void on_connect(uv_connect_t* request, int status);
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buffer);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer);
    static void on_write(void* owner, int status);
    static void on_timer(uv_timer_t* timer);
    static void on_tcp_closed(uv_handle_t* handle);
    static void on_timer_closed(uv_handle_t* handle);

    void connect_next();
    void connect_failed(std::string_view error);
    void skip_to_next_target();
    void connected();
    void process_lines();
    void after_session_step();
    void write(std::string bytes);
    void restart_reply_timer();
    // A lost connection or a stalled dialog (4.4.2), or no connection at all (4.4.1).
    enum class Failure { Lost, NoConnection };
    void fail(const std::string& reason, Failure kind = Failure::Lost);
    void close();
    void finish_if_closed();
    const Target& target() const { return targets_[next_target_ - 1]; }
    std::string peer() const;      // "host[ip]"
    std::string endpoint() const;  // "host[ip]:port"
    std::string stage() const;     // "while receiving the initial server greeting", "after DATA"

    uv_loop_t* loop_;
    std::vector<Target> targets_;
    std::size_t next_target_ = 0;
    OutboundTimeouts timeouts_;
    Done done_;
    protocol::SmtpClientSession session_;
    common::LineFramer framer_;
    std::string read_buffer_;
    uv_tcp_t tcp_{};
    uv_timer_t timer_{};
    uv_connect_t connect_request_{};
    Phase phase_ = Phase::Idle;
    std::string last_connect_error_;  // "connect to host[ip]:port: Connection refused"
    std::string relay_ = "none";
    std::string last_command_;  // verb of the last command written ("RCPT"), "." after the message
    unsigned writes_in_flight_ = 0;
    bool tcp_open_ = false;
    bool timer_open_ = false;
    bool closing_ = false;
    bool skipping_long_line_ = false;
    bool finished_ = false;
};

}  // namespace labmta::net
