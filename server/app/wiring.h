// Connects the pure modules to the real world: the spool as the session's MessageSink, and
// the config turned into the policies and limits the other modules take.
#pragma once

#include "common/clock.h"
#include "common/ids.h"
#include "config/config.h"
#include "server/net/queue_manager.h"
#include "server/net/smtp_server.h"
#include "server/protocol/session_types.h"
#include "spool/spool.h"

#include <cstdint>
#include <memory>
#include <string>

namespace labmta::app {

protocol::SessionPolicy make_session_policy(const config::Config& config);
net::ServerLimits make_server_limits(const config::Config& config);
// The policy, limits and accounts of config, for SmtpServer (at start and on each reload).
std::shared_ptr<const net::SessionSettings> make_session_settings(const config::Config& config);
net::QueueSettings make_queue_settings(const config::Config& config);
net::RelaySettings make_relay_settings(const config::Config& config);

// Cleans up each accepted message (Received:, Date:, Message-ID:), commits it durably to the
// spool, and tells the queue manager. Runs on the event loop.
class SpoolSink final : public protocol::MessageSink {
public:
    SpoolSink(spool::Spool& spool,
              net::QueueManager& queue,
              std::string hostname,
              const common::Clock& clock,
              common::Random& random,
              std::uint64_t min_free_bytes = 0);

    protocol::QueueResult commit(const common::Envelope& envelope, std::string message) override;
    // queue.min_free and Postfix's SIZE rule against the spool's free space now.
    bool has_room_for(std::size_t message_bytes) override;

private:
    spool::Spool& spool_;
    net::QueueManager& queue_;
    std::string hostname_;
    const common::Clock& clock_;
    common::Random& random_;
    common::QueueIdGenerator ids_;
    std::uint64_t min_free_bytes_;
};

}  // namespace labmta::app
