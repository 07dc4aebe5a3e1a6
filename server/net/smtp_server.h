// The SMTP listener side of the event loop: binds the listening sockets, accepts clients
// (within the connection limits), and owns every Connection until its handles are closed.
// Only moves bytes and counts; the protocol is in Session.
#pragma once

#include "common/cidr.h"
#include "server/net/auth_failure_limiter.h"
#include "server/net/endpoint.h"
#include "server/net/group_commit.h"
#include "server/protocol/session_types.h"

#include <uv.h>

#include <array>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace labmta::net {

class Connection;
class Listener;

struct ServerLimits {
    common::NetworkList relay_networks;  // clients that may relay without AUTH
    std::size_t line_length = 2048;
    unsigned timeout_s = 300;
    unsigned connections = 1000;
    unsigned connections_per_client = 50;
    unsigned session_timeout_s = 3600;       // whole session, however active
    unsigned auth_failure_delay_ms = 1000;   // before each 535 (smtpd_error_sleep_time)
    unsigned auth_failures_per_client = 10;  // within auth_block_time_s: then blocked
    unsigned auth_block_time_s = 600;
    unsigned greet_pause_ms = 0;  // 0: greet at once
};

// What sessions are built from and a reload (SIGHUP) may replace. Each Connection keeps the
// settings that were current when it was accepted, so a reload never changes the rules (or the
// accounts) under a running session.
struct SessionSettings {
    protocol::SessionPolicy policy;
    ServerLimits limits;
    std::shared_ptr<protocol::Authenticator> authenticator;
};

class SmtpServer {
public:
    SmtpServer(uv_loop_t* loop,
               std::shared_ptr<const SessionSettings> settings,
               GroupCommitter& committer);
    ~SmtpServer();
    SmtpServer(const SmtpServer&) = delete;
    SmtpServer& operator=(const SmtpServer&) = delete;

    // Binds and listens on every endpoint; returns the bound addresses (port 0 resolved).
    // Throws StartupError when one cannot be bound.
    std::vector<Endpoint> listen(const std::vector<Endpoint>& endpoints);

    // Stops accepting; idle sessions get 421 4.3.2 and close, sessions in DATA finish their
    // message first. The loop ends once every handle is closed.
    void stop();

    // Called by Listener for each new client.
    void accept(uv_stream_t* listener);
    // Called by Connection from its close callback: destroys it.
    void release(Connection* connection);
    // Called by Connection for each AUTH refused with 535; true when ip is now blocked.
    bool note_auth_failure(const std::string& ip);

    // New sessions get settings; running ones keep theirs until they end. The per-client
    // AUTH failure count is the server's, so its new limits apply at once.
    void reload(std::shared_ptr<const SessionSettings> settings);

    uv_loop_t* loop() const { return loop_; }
    const std::shared_ptr<const SessionSettings>& settings() const { return settings_; }
    const protocol::SessionPolicy& policy() const { return settings_->policy; }
    const ServerLimits& limits() const { return settings_->limits; }
    GroupCommitter& committer() const { return committer_; }

    // MAIL FROM's question "is there room in the queue for message_bytes?" (true when unset).
    using RoomCheck = std::function<bool(std::size_t message_bytes)>;
    void set_room_check(RoomCheck check) { room_check_ = std::move(check); }
    bool has_room_for(std::size_t message_bytes) const {
        return !room_check_ || room_check_(message_bytes);
    }
    bool is_stopping() const { return stopping_; }

    // One read buffer for all connections: libuv reads into it and we consume it before the
    // next read, so idle sessions cost no buffer memory.
    uv_buf_t read_buffer() { return uv_buf_init(read_buffer_.data(), read_buffer_.size()); }

private:
    uv_loop_t* loop_;
    std::shared_ptr<const SessionSettings> settings_;
    GroupCommitter& committer_;
    RoomCheck room_check_;
    bool stopping_ = false;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::unordered_map<const Connection*, std::unique_ptr<Connection>> connections_;
    std::map<std::string, unsigned> connections_per_ip_;
    AuthFailureLimiter auth_failures_;
    std::array<char, 65536> read_buffer_{};
};

}  // namespace labmta::net
