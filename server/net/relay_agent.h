// Relays one queued message to its remote recipients, as Postfix's smtp(8) does: recipients
// are grouped by destination (the relayhost, or each domain's MX), each group's hosts are
// resolved on the loop, and one OutboundConnection per group carries the message. The result
// is one outcome per recipient, with the relay it went through, for the queue manager to
// record and log. Owns its connections; no file I/O here.
#pragma once

#include "server/net/outbound_connection.h"
#include "server/net/resolver.h"
#include "server/protocol/smtp_client.h"

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace labmta::net {

struct RelaySettings {
    std::string hostname;   // for EHLO
    std::string relayhost;  // config relay.relayhost, "" for MX delivery
    OutboundTimeouts timeouts;
};

struct RelayOutcome {
    protocol::RecipientOutcome outcome;
    std::string relay;  // "mx.example.test[127.0.0.1]:25", or "none"
};

class RelayAgent {
public:
    using Done = std::function<void(std::vector<RelayOutcome>)>;

    RelayAgent(uv_loop_t* loop, Resolver& resolver, RelaySettings settings);
    ~RelayAgent();
    RelayAgent(const RelayAgent&) = delete;
    RelayAgent& operator=(const RelayAgent&) = delete;

    // Sends message from sender to recipients (all remote). done runs once, on the loop, with
    // one outcome per recipient, after every connection of this delivery has closed.
    void deliver(std::string sender,
                 std::vector<std::string> recipients,
                 std::string message,
                 Done done);

    // Aborts deliveries in progress and refuses to start new connections (their recipients
    // are deferred); used at shutdown.
    void abort_all();

private:
    struct Delivery;
    void start_group(const std::shared_ptr<Delivery>& delivery,
                     const common::Destination& destination,
                     std::vector<std::string> recipients);
    void group_finished(const std::shared_ptr<Delivery>& delivery,
                        std::vector<RelayOutcome> outcomes);

    uv_loop_t* loop_;
    Resolver& resolver_;
    RelaySettings settings_;
    bool stopping_ = false;  // after abort_all(): no new connection is started
    std::uint64_t next_connection_id_ = 0;
    std::map<std::uint64_t, std::unique_ptr<OutboundConnection>> connections_;
};

}  // namespace labmta::net
