// The values a Session is built from and the events it reports. Plain data, no behaviour,
// except the two injected interfaces that adapters implement (spool, accounts).
#pragma once

#include "common/envelope.h"

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::protocol {

// What the session needs to know of the configuration.
struct SessionPolicy {
    std::string hostname;
    std::string banner;
    std::size_t max_message_bytes = 10240000;
    std::size_t max_recipients = 1000;
    unsigned max_errors = 20;
    std::vector<std::string> local_domains;  // lower-cased
    bool any_local_recipient = true;         // false: only local_users have mailboxes
    std::vector<std::string> local_users;    // lower-cased
    bool auth_enabled = false;               // accounts exist: advertise and accept AUTH
    std::size_t max_hops = 50;               // Received: headers before a loop is assumed
    bool reject_bare_newline = false;        // smtpd.bare_newline: reject
    std::size_t stream_bytes = 65536;        // message text kept in memory before append()
    unsigned max_auth_failures = 3;          // limits.auth_failures: 535s before 421
};

struct ClientInfo {
    std::string host = "unknown";  // reverse-resolved name, "unknown" when none
    std::string ip;
    bool may_relay = false;  // inside relay.networks
};

struct QueueResult {
    bool ok = false;
    std::string queue_id;
    std::string message_id;
};

// Called once with the outcome of MessageSink::queue().
using QueueDone = std::function<void(QueueResult)>;

// Where accepted messages go: the spool, in the server; a fake in tests. queue() may answer
// at once or later (the server commits groups of messages on a worker thread); done runs only
// once the message is durable, or has failed: the 250 depends on it.
//
// A big message comes in parts: append() gets the text of the message in progress as it
// arrives (so it can go to disk at once), and queue() the rest; the message is all of them in
// order. discard() drops what was appended (message refused, too big).
class MessageSink {
public:
    virtual ~MessageSink() = default;
    virtual void append(std::string_view text) = 0;
    virtual void discard() = 0;
    virtual void queue(common::Envelope envelope, std::string rest, QueueDone done) = 0;
    // Asked at MAIL FROM: whether the queue has room for a message of message_bytes (the
    // declared SIZE, 0 when none). false: 452 4.3.1 Insufficient system storage.
    virtual bool has_room_for(std::size_t /*message_bytes*/) { return true; }
};

// Called once with the result of a credentials check.
using AuthDone = std::function<void(bool ok)>;

// Checks AUTH credentials: the config's accounts, in the server; a fake in tests.
class Authenticator {
public:
    virtual ~Authenticator() = default;
    // True when user/password match an account. Must not log or keep the password. May be
    // called from any thread, several at once: it must change nothing.
    virtual bool authenticate(std::string_view user, std::string_view password) = 0;
    // What the session calls: done gets authenticate()'s answer, here at once. The server's
    // connection answers later instead, from libuv's thread pool: checking a yescrypt hash
    // took 16 ms on the 2-core development VM, which the event loop must not spend.
    virtual void authenticate_later(std::string user, std::string password, AuthDone done) {
        done(authenticate(user, password));
    }
};

struct SessionEvent {
    enum class Kind {
        Rejected,       // NOQUEUE reject: a recipient or sender refused by policy
        Queued,         // a message was committed: queue_id, message_id, sender, size, nrcpt
        QueueFailed,    // the sink failed: 451 was sent
        Authenticated,  // sasl_method, sasl_username
        AuthFailed,     // sasl_method, reply
        TooManyErrors,
        TooManyAuthFailures,  // limits.auth_failures in this session, or the client is blocked
        Timeout,
    };
    Kind kind = Kind::Rejected;
    std::string queue_id;
    std::string message_id;
    std::string reply;  // Rejected: the reply line sent
    std::string stage;  // Rejected: "RCPT", "MAIL"
    std::string sender;
    std::string recipient;
    std::string helo;
    std::string protocol;
    std::size_t size = 0;
    std::size_t nrcpt = 0;
    std::string sasl_method;    // "LOGIN", "PLAIN"
    std::string sasl_username;  // Queued: the authenticated user, if any
};

struct CommandCount {
    std::string verb;  // lower-case, e.g. "rcpt"
    unsigned ok = 0;
    unsigned total = 0;
};

}  // namespace labmta::protocol
