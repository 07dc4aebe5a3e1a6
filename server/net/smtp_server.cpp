// See smtp_server.h.
#include "server/net/smtp_server.h"

#include "server/net/connection.h"
#include "server/net/listener.h"
#include "server/net/uv_error.h"
#include "server/protocol/replies.h"

#include <spdlog/spdlog.h>

namespace labmta::net {
SmtpServer::SmtpServer(uv_loop_t* loop,
                       std::shared_ptr<const SessionSettings> settings,
                       GroupCommitter& committer)
    : loop_(loop),
      settings_(std::move(settings)),
      committer_(committer),
      // Server-wide state: a reload keeps the counts and changes only the limits.
      auth_failures_(settings_->limits.auth_failures_per_client,
                     std::uint64_t{settings_->limits.auth_block_time_s} * 1000) {}

void SmtpServer::reload(std::shared_ptr<const SessionSettings> settings) {
    settings_ = std::move(settings);
    auth_failures_.set_limits(settings_->limits.auth_failures_per_client,
                              std::uint64_t{settings_->limits.auth_block_time_s} * 1000);
}

SmtpServer::~SmtpServer() = default;

std::vector<Endpoint> SmtpServer::listen(const std::vector<Endpoint>& endpoints) {
    std::vector<Endpoint> bound;
    for (const Endpoint& endpoint : endpoints) {
        listeners_.push_back(std::make_unique<Listener>(*this));
        bound.push_back(listeners_.back()->bind_and_listen(endpoint));
        spdlog::info("listening on {}", to_string(bound.back()));
    }
    return bound;
}

void SmtpServer::stop() {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    for (const auto& listener : listeners_) {
        listener->close();
    }
    for (const auto& [key, connection] : connections_) {
        connection->shutdown();
    }
}

void SmtpServer::accept(uv_stream_t* listener) {
    auto connection = std::make_unique<Connection>(*this);
    Connection* raw = connection.get();
    connections_.emplace(raw, std::move(connection));
    if (raw->accept_from(listener) != 0) {
        return;  // the connection closes itself and is released from its close callback
    }
    const std::string& ip = raw->client_ip();
    unsigned& from_ip = connections_per_ip_[ip];
    ++from_ip;
    const std::string& hostname = policy().hostname;
    if (stopping_) {
        raw->refuse(protocol::replies::shutting_down(hostname));
    } else if (connections_.size() > limits().connections) {
        raw->refuse(protocol::replies::too_many_connections(hostname));
    } else if (from_ip > limits().connections_per_client) {
        raw->refuse(protocol::replies::too_many_connections_from(hostname, ip));
    } else if (auth_failures_.is_blocked(ip, uv_now(loop_))) {
        raw->refuse(protocol::replies::too_many_auth_failures(hostname));
    } else {
        raw->start();
    }
}

bool SmtpServer::note_auth_failure(const std::string& ip) {
    const bool was_blocked = auth_failures_.is_blocked(ip, uv_now(loop_));
    const bool blocked = auth_failures_.note_failure(ip, uv_now(loop_));
    if (blocked && !was_blocked) {
        spdlog::warn("{}: too many AUTH failures, blocked for {}s", ip, limits().auth_block_time_s);
    }
    return blocked;
}

void SmtpServer::release(Connection* connection) {
    const auto it = connections_per_ip_.find(connection->client_ip());
    if (it != connections_per_ip_.end() && --it->second == 0) {
        connections_per_ip_.erase(it);
    }
    connections_.erase(connection);
}

}  // namespace labmta::net
