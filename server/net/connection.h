// One client connection: owns its uv_tcp_t, its idle timer, a delay timer (greet pause, AUTH
// failure delay), the line framer and the Session.
// It only moves bytes: read -> framer -> session -> write. It is freed by SmtpServer from
// the close callback of its last handle, never earlier, and it closes the socket only after
// the write callback of the last reply (221/421) has run.
#pragma once

#include "common/line_framer.h"
#include "server/protocol/session.h"
#include "spool/spill_file.h"

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace labmta::net {

class SmtpServer;
struct SessionSettings;

// The connection is its session's MessageSink: it streams a big message into a spill file as
// it arrives, passes each message on to the server's group commit and, while the answer is
// pending, holds the client's further lines and stays alive even if the client goes away
// (the message may still be queued and is then logged). It is its session's Authenticator
// too, and checks credentials on libuv's thread pool in the same way: a password hash costs
// milliseconds that every other session would otherwise wait for.
class Connection final : private protocol::MessageSink, private protocol::Authenticator {
public:
    explicit Connection(SmtpServer& server);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Initializes the handles, accepts the pending connection from listener into them and
    // learns the client's address. Returns a libuv error code (0 on success); on error the
    // connection closes itself.
    int accept_from(uv_stream_t* listener);
    // Starts the session (greeting) and reading.
    void start();
    // Starts the session with a refusal line instead of a greeting, then closes.
    void refuse(std::string_view reply_line);
    // Server shutdown: 421 now, or after the message in progress has been received.
    void shutdown();

    const std::string& client_ip() const { return client_ip_; }

private:
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buffer);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buffer);
    static void on_write(void* owner, int status);
    static void on_timer(uv_timer_t* timer);
    static void on_delay_timer(uv_timer_t* timer);
    static void on_close(uv_handle_t* handle);

    void append(std::string_view text) override;
    void discard() override;
    void queue(common::Envelope envelope, std::string rest, protocol::QueueDone done) override;
    // MAIL FROM's free-space question goes to the server as is.
    bool has_room_for(std::size_t message_bytes) override;
    // The accounts of this session's settings, asked at once (the session does not).
    bool authenticate(std::string_view user, std::string_view password) override;
    // The same question on the thread pool; done runs on the loop.
    void authenticate_later(std::string user,
                            std::string password,
                            protocol::AuthDone done) override;
    static void on_auth_work(uv_work_t* work);
    static void on_auth_done(uv_work_t* work, int status);
    // After the sink's or the authenticator's answer: goes on, or frees this connection if its
    // client left meanwhile.
    void after_answer();
    void process_lines();
    void after_session_step();
    void write(std::string bytes);
    void close();
    void log_events();
    void restart_idle_timer();
    void finish_greet_pause();
    bool hold_auth_failure_reply();
    void release_held_reply();

    SmtpServer& server_;
    // The settings current when this client was accepted, for its whole session (a reload
    // only affects new sessions). Declared before framer_ and session_, which use it.
    std::shared_ptr<const SessionSettings> settings_;
    std::string client_ip_;     // "" until accepted
    std::string client_label_;  // "unknown[127.0.0.1]" for log lines
    uv_tcp_t tcp_{};
    uv_timer_t idle_timer_{};
    uv_timer_t delay_timer_{};
    common::LineFramer framer_;
    std::optional<protocol::Session> session_;
    unsigned writes_in_flight_ = 0;
    unsigned open_handles_ = 0;
    bool closing_ = false;
    bool shutdown_pending_ = false;
    bool reading_paused_ = false;  // back-pressure: too many replies not yet written
    // A message is with the server's sink, or credentials with the thread pool: keep this
    // alive until the answer comes.
    bool awaiting_answer_ = false;
    spool::SpillFile spill_;       // the message in progress, beyond the session's buffer
    std::error_code spill_error_;  // appending failed: the message gets 451 at its end

    // Abuse limits (issue 4).
    bool greeting_pending_ = false;          // smtpd.greet_pause: the 220 is not sent yet
    std::size_t pregreet_bytes_ = 0;         // received during the greet pause
    bool holding_reply_ = false;             // a failed AUTH's reply waits for delay_timer_
    unsigned auth_failures_seen_ = 0;        // session_->auth_failures() delayed and counted
    std::uint64_t session_deadline_ms_ = 0;  // uv_now() when limits.session_timeout ends it
};

}  // namespace labmta::net
