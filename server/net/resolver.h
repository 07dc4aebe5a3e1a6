// Asynchronous DNS on the libuv loop with c-ares, for outbound delivery: MX lookups and a host's
// A and AAAA addresses. c-ares' sockets are watched with uv_poll_t handles (it tells us which
// through its socket-state callback), its retransmissions run from a uv_timer_t. Results are
// delivered from the loop, never from inside resolve_*(); callbacks must not throw.
#pragma once

#include "common/destination.h"

#include <uv.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

struct ares_channeldata;  // c-ares' channel; <ares.h> stays out of this header

namespace labmta::net {

enum class DnsError {
    None,
    NotFound,          // NXDOMAIN or no record of that type: permanent
    TemporaryFailure,  // SERVFAIL, REFUSED, timeout, no server reachable: try again later
    Cancelled,         // the resolver was closed before an answer came
};

// detail, when error != None, is the reason as Postfix words it after "Name service error for
// name=... type=...: ": "Host not found" (NXDOMAIN), "Host found but no data record of requested
// type", "Host not found, try again" (SERVFAIL, REFUSED, timeout), "Lookup cancelled".
struct MxResult {
    DnsError error = DnsError::None;
    std::string detail;
    std::vector<common::MxRecord> records;  // as received, unsorted
};

struct AddressResult {
    DnsError error = DnsError::None;
    std::string detail;
    std::vector<std::string> addresses;  // numeric; IPv4 first, then IPv6
};

struct DnsTimeouts {
    unsigned timeout_ms = 5000;  // first try per server; c-ares doubles it for later tries
    unsigned tries = 2;          // as the system resolver's "attempts:2"
};

// Owned by its user. Call close() and let the loop run (its handles close) before destroying.
class Resolver {
public:
    using MxCallback = std::function<void(MxResult)>;
    using AddressCallback = std::function<void(AddressResult)>;

    // servers: "127.0.0.1:5353", "[::1]:53", "192.0.2.1" (port 53); empty: /etc/resolv.conf.
    // Throws StartupError when c-ares cannot start or a server is malformed.
    Resolver(uv_loop_t* loop, const std::vector<std::string>& servers, DnsTimeouts timeouts = {});
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // MX records of domain (RFC 1035 3.3.9). No search domains are appended.
    void resolve_mx(const std::string& domain, MxCallback done);
    // A and AAAA records of host; an IP address gives itself without a query. Fails only when
    // both lookups fail (TemporaryFailure if either failed temporarily).
    void resolve_addresses(const std::string& host, AddressCallback done);

    // Cancels every pending lookup (each callback runs with Cancelled before close() returns)
    // and closes the handles. Lookups asked for afterwards complete at once with Cancelled.
    void close();
    // True once close() was called and its handles' close callbacks have run.
    bool is_closed() const { return closed_ && open_handles_ == 0; }

private:
    struct Query;
    struct SocketWatch;

    static void on_socket_state(void* data, int fd, int readable, int writable);
    static void on_poll(uv_poll_t* poll, int status, int events);
    static void on_timeout_timer(uv_timer_t* timer);
    static void on_post_timer(uv_timer_t* timer);
    static void on_answer(void* arg, int status, int timeouts, unsigned char* answer, int length);
    static void on_handle_closed(uv_handle_t* handle);

    // status is an ARES_* code; answer and length are the raw reply when status is ARES_SUCCESS.
    using AnswerCallback = std::function<void(int status, const unsigned char* answer, int length)>;

    void query(const std::string& name, int type, AnswerCallback done);
    void post(std::function<void()> completion);
    void run_posted();
    void watch_socket(int fd, int events);
    void unwatch_socket(int fd);
    void update_timeout_timer();

    uv_loop_t* loop_;
    ares_channeldata* channel_ = nullptr;
    uv_timer_t timeout_timer_{};
    uv_timer_t post_timer_{};              // 0 ms: runs posted results on the next loop iteration
    std::map<int, SocketWatch*> watches_;  // by fd; each freed in its own close callback
    std::vector<std::function<void()>> posted_;
    unsigned open_handles_ = 0;
    bool closed_ = false;
};

}  // namespace labmta::net
