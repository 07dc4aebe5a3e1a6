// Connects the pure modules to the real world: the spool behind the session's MessageSink, and
// the config turned into the policies and limits the other modules take.
#pragma once

#include "common/clock.h"
#include "common/ids.h"
#include "config/config.h"
#include "server/net/group_commit.h"
#include "server/net/queue_manager.h"
#include "server/net/smtp_server.h"
#include "server/protocol/session_types.h"
#include "spool/spool.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace labmta::app {

protocol::SessionPolicy make_session_policy(const config::Config& config);
net::ServerLimits make_server_limits(const config::Config& config);
// The policy, limits and accounts of config, for SmtpServer (at start and on each reload).
std::shared_ptr<const net::SessionSettings> make_session_settings(const config::Config& config);
net::QueueSettings make_queue_settings(const config::Config& config);
net::RelaySettings make_relay_settings(const config::Config& config);

// Writes a group of accepted messages into the spool (net::GroupCommitter's WriteGroup):
// each is cleaned up (Received:, Date:, Message-ID:) and the group committed durably. Runs on
// a thread-pool thread, one group at a time; so it owns its ID generator and randomness.
class SpoolWriter {
public:
    SpoolWriter(spool::Spool& spool, std::string hostname, const common::Clock& clock);

    void write_group(std::vector<net::QueueRequest>& group);

private:
    spool::Spool& spool_;
    std::string hostname_;
    const common::Clock& clock_;
    common::SystemRandom random_;
    common::QueueIdGenerator ids_;
};

// MAIL FROM's "is there room?" (SmtpServer::set_room_check): the spool's free space against
// queue.min_free and Postfix's SIZE rule (spool::has_room); logs a warning when there is not.
bool spool_has_room(const spool::Spool& spool,
                    std::uint64_t min_free_bytes,
                    std::size_t message_bytes);

}  // namespace labmta::app
