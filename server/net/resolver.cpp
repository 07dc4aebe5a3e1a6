// See resolver.h. c-ares runs on one thread (the loop's) and is driven by ares_process_fd():
// from a uv_poll_t when one of its sockets is ready, from the timer when a retransmission or a
// timeout is due. No exception may leave a libuv or c-ares callback.
#include "server/net/resolver.h"

#include "common/startup_error.h"
#include "server/net/uv_error.h"

#include <spdlog/spdlog.h>

#include <ares.h>
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <memory>

namespace labmta::net {
namespace {

// RFC 1035 3.2.2 / 3.2.4, RFC 3596 2.1.
constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeAaaa = 28;
constexpr int kMaxAddresses = 32;  // per family; more is never useful for delivery

DnsError classify(int status) {
    switch (status) {
        case ARES_SUCCESS:
            return DnsError::None;
        case ARES_ENOTFOUND:  // NXDOMAIN
        case ARES_ENODATA:    // the name exists, without records of this type
        case ARES_EBADNAME:   // cannot be a DNS name: no query would ever find it
            return DnsError::NotFound;
        case ARES_ECANCELLED:
        case ARES_EDESTRUCTION:
            return DnsError::Cancelled;
        default:
            return DnsError::TemporaryFailure;
    }
}

std::string describe(int status) {
    switch (status) {
        case ARES_ENOTFOUND:
            return "Host not found";
        case ARES_ENODATA:
            return "Host found but no data record of requested type";
        case ARES_EBADNAME:
            return "Malformed domain name";
        case ARES_ECANCELLED:
        case ARES_EDESTRUCTION:
            return "Lookup cancelled";
        default:
            return std::string("Host not found, try again (") + ares_strerror(status) + ")";
    }
}

// "127.0.0.1:5353,[::1]:53", the form ares_set_servers_ports_csv() takes.
std::string join_servers(const std::vector<std::string>& servers) {
    std::string csv;
    for (const std::string& server : servers) {
        csv += (csv.empty() ? "" : ",") + server;
    }
    return csv;
}

bool is_ip_address(const std::string& text) {
    std::array<unsigned char, sizeof(in6_addr)> buffer{};
    return inet_pton(AF_INET, text.c_str(), buffer.data()) == 1
           || inet_pton(AF_INET6, text.c_str(), buffer.data()) == 1;
}

std::string address_text(int family, const void* address) {
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (inet_ntop(family, address, text.data(), text.size()) == nullptr) {
        return {};
    }
    return text.data();
}

// The addresses of an A (family AF_INET) or AAAA reply, appended to out.
int parse_addresses(int family,
                    const unsigned char* answer,
                    int length,
                    std::vector<std::string>& out) {
    int count = kMaxAddresses;
    if (family == AF_INET) {
        std::array<ares_addrttl, kMaxAddresses> records{};
        const int status = ares_parse_a_reply(answer, length, nullptr, records.data(), &count);
        for (int i = 0; status == ARES_SUCCESS && i < count; ++i) {
            out.push_back(address_text(AF_INET, &records[static_cast<std::size_t>(i)].ipaddr));
        }
        return status;
    }
    std::array<ares_addr6ttl, kMaxAddresses> records{};
    const int status = ares_parse_aaaa_reply(answer, length, nullptr, records.data(), &count);
    for (int i = 0; status == ARES_SUCCESS && i < count; ++i) {
        out.push_back(address_text(AF_INET6, &records[static_cast<std::size_t>(i)].ip6addr));
    }
    return status;
}

int parse_mx(const unsigned char* answer, int length, std::vector<common::MxRecord>& out) {
    ares_mx_reply* list = nullptr;
    const int status = ares_parse_mx_reply(answer, length, &list);
    for (const ares_mx_reply* mx = list; status == ARES_SUCCESS && mx != nullptr; mx = mx->next) {
        out.push_back(common::MxRecord{mx->host != nullptr ? mx->host : "", mx->priority});
    }
    if (list != nullptr) {
        ares_free_data(list);
    }
    return status;
}

// Which failure to report when both halves of an address lookup fail.
int rank(DnsError error) {
    switch (error) {
        case DnsError::None:
            return 0;
        case DnsError::NotFound:
            return 1;
        case DnsError::TemporaryFailure:
            return 2;
        case DnsError::Cancelled:
            return 3;
    }
    return 0;
}

// The A and AAAA halves of one resolve_addresses(), merged when both have answered.
struct AddressLookup {
    Resolver::AddressCallback done;
    int pending = 2;
    std::vector<std::string> ipv4;
    std::vector<std::string> ipv6;
    AddressResult failed;  // the more telling failure of the two, when both fail

    void finish_half(int status) {
        const DnsError error = classify(status);
        if (rank(error) > rank(failed.error)) {
            failed.error = error;
            failed.detail = describe(status);
        }
        --pending;
    }
    AddressResult result() {
        if (ipv4.empty() && ipv6.empty()) {
            return failed;
        }
        AddressResult merged;
        merged.addresses = std::move(ipv4);
        merged.addresses.insert(merged.addresses.end(), ipv6.begin(), ipv6.end());
        return merged;
    }
};

}  // namespace

struct Resolver::Query {
    AnswerCallback done;
};

struct Resolver::SocketWatch {
    uv_poll_t poll{};
    int fd = -1;
};

Resolver::Resolver(uv_loop_t* loop, const std::vector<std::string>& servers, DnsTimeouts timeouts)
    : loop_(loop) {
    ares_options options{};
    options.sock_state_cb = &Resolver::on_socket_state;
    options.sock_state_cb_data = this;
    options.timeout = static_cast<int>(timeouts.timeout_ms);
    options.tries = static_cast<int>(std::max(1U, timeouts.tries));
    const int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    int status = ares_library_init(ARES_LIB_INIT_ALL);
    if (status != ARES_SUCCESS) {
        throw StartupError(std::string("cannot start the DNS resolver: ") + ares_strerror(status));
    }
    status = ares_init_options(&channel_, &options, mask);
    if (status != ARES_SUCCESS) {
        ares_library_cleanup();
        throw StartupError(std::string("cannot start the DNS resolver: ") + ares_strerror(status));
    }
    const std::string csv = join_servers(servers);
    status = csv.empty() ? ARES_SUCCESS : ares_set_servers_ports_csv(channel_, csv.c_str());
    if (status != ARES_SUCCESS) {
        ares_destroy(channel_);
        ares_library_cleanup();
        throw StartupError("dns.servers: cannot use '" + csv + "': " + ares_strerror(status));
    }
    uv_timer_init(loop_, &timeout_timer_);
    uv_timer_init(loop_, &post_timer_);
    timeout_timer_.data = this;
    post_timer_.data = this;
    open_handles_ = 2;
}

Resolver::~Resolver() {
    assert(is_closed() && "close() the resolver and run the loop before destroying it");
    ares_library_cleanup();
}

void Resolver::resolve_mx(const std::string& domain, MxCallback done) {
    query(domain,
          kTypeMx,
          [this, done = std::move(done)](int status, const unsigned char* answer, int length) {
              MxResult result;
              if (status == ARES_SUCCESS) {
                  status = parse_mx(answer, length, result.records);
              }
              result.error = classify(status);
              if (result.error != DnsError::None) {
                  result.detail = describe(status);
                  result.records.clear();
              }
              post([done, result = std::move(result)]() mutable { done(std::move(result)); });
          });
}

void Resolver::resolve_addresses(const std::string& host, AddressCallback done) {
    if (is_ip_address(host)) {
        AddressResult result;
        result.addresses.push_back(host);
        post([done = std::move(done), result = std::move(result)]() mutable {
            done(std::move(result));
        });
        return;
    }
    auto lookup = std::make_shared<AddressLookup>();
    lookup->done = std::move(done);
    for (const int family : {AF_INET, AF_INET6}) {
        const int type = family == AF_INET ? kTypeA : kTypeAaaa;
        query(host,
              type,
              [this, lookup, family](int status, const unsigned char* answer, int length) {
                  if (status == ARES_SUCCESS) {
                      status = parse_addresses(
                          family, answer, length, family == AF_INET ? lookup->ipv4 : lookup->ipv6);
                  }
                  lookup->finish_half(status);
                  if (lookup->pending == 0) {
                      post([lookup] { lookup->done(lookup->result()); });
                  }
              });
    }
}

void Resolver::query(const std::string& name, int type, AnswerCallback done) {
    if (closed_) {
        done(ARES_ECANCELLED, nullptr, 0);
        return;
    }
    // Owned by c-ares until on_answer, which it calls exactly once (also on cancel/destroy).
    auto* context = new Query{std::move(done)};
    ares_query(channel_, name.c_str(), kClassIn, type, &Resolver::on_answer, context);
    update_timeout_timer();
}

void Resolver::on_answer(
    void* arg, int status, int /*timeouts*/, unsigned char* answer, int length) {
    const std::unique_ptr<Query> context(static_cast<Query*>(arg));
    context->done(status, answer, length);
}

void Resolver::post(std::function<void()> completion) {
    posted_.push_back(std::move(completion));
    if (closed_) {
        run_posted();  // close() has run or is running: no timer any more
        return;
    }
    uv_timer_start(&post_timer_, &Resolver::on_post_timer, 0, 0);
}

void Resolver::on_post_timer(uv_timer_t* timer) {
    static_cast<Resolver*>(timer->data)->run_posted();
}

void Resolver::run_posted() {
    // A callback may start new lookups, which post more: take the list before running it.
    while (!posted_.empty()) {
        std::vector<std::function<void()>> ready;
        ready.swap(posted_);
        for (std::function<void()>& completion : ready) {
            completion();
        }
    }
}

void Resolver::close() {
    if (closed_) {
        return;
    }
    closed_ = true;
    run_posted();
    ares_cancel(channel_);   // every pending query's callback runs now with ARES_ECANCELLED
    ares_destroy(channel_);  // closes c-ares' sockets: on_socket_state unwatches them
    channel_ = nullptr;
    while (!watches_.empty()) {
        unwatch_socket(watches_.begin()->first);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&timeout_timer_), &Resolver::on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&post_timer_), &Resolver::on_handle_closed);
}

void Resolver::on_handle_closed(uv_handle_t* handle) {
    --static_cast<Resolver*>(handle->data)->open_handles_;
}

// c-ares opened, changed or is about to close one of its sockets.
void Resolver::on_socket_state(void* data, int fd, int readable, int writable) {
    auto* self = static_cast<Resolver*>(data);
    const int events = (readable != 0 ? UV_READABLE : 0) | (writable != 0 ? UV_WRITABLE : 0);
    if (events == 0) {
        self->unwatch_socket(fd);
    } else {
        self->watch_socket(fd, events);
    }
}

void Resolver::watch_socket(int fd, int events) {
    auto it = watches_.find(fd);
    if (it == watches_.end()) {
        auto watch = std::make_unique<SocketWatch>();
        watch->fd = fd;
        const int rc = uv_poll_init_socket(loop_, &watch->poll, fd);
        if (rc != 0) {
            // The query on this socket times out through the timer instead.
            spdlog::error("resolver: cannot watch a DNS socket: {}", uv_error_text(rc));
            return;
        }
        watch->poll.data = this;
        it = watches_.emplace(fd, watch.release()).first;  // freed by unwatch_socket's close
    }
    uv_poll_start(&it->second->poll, events, &Resolver::on_poll);
}

void Resolver::unwatch_socket(int fd) {
    const auto it = watches_.find(fd);
    if (it == watches_.end()) {
        return;
    }
    SocketWatch* watch = it->second;
    watches_.erase(it);
    // Stop before c-ares closes the fd; the watch is freed once libuv is done with it.
    uv_poll_stop(&watch->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll),
             [](uv_handle_t* handle) { delete reinterpret_cast<SocketWatch*>(handle); });
}

void Resolver::on_poll(uv_poll_t* poll, int status, int events) {
    auto* self = static_cast<Resolver*>(poll->data);
    const int fd = reinterpret_cast<SocketWatch*>(poll)->fd;
    // On a poll error let c-ares read and write: it sees the socket's error and moves on.
    const bool readable = status < 0 || (events & UV_READABLE) != 0;
    const bool writable = status < 0 || (events & UV_WRITABLE) != 0;
    ares_process_fd(
        self->channel_, readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
    self->update_timeout_timer();
}

void Resolver::on_timeout_timer(uv_timer_t* timer) {
    auto* self = static_cast<Resolver*>(timer->data);
    ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    self->update_timeout_timer();
}

void Resolver::update_timeout_timer() {
    if (closed_) {
        return;
    }
    timeval next{};
    if (ares_timeout(channel_, nullptr, &next) == nullptr) {
        uv_timer_stop(&timeout_timer_);  // no query pending
        return;
    }
    const std::uint64_t delay_ms = static_cast<std::uint64_t>(next.tv_sec) * 1000
                                   + static_cast<std::uint64_t>(next.tv_usec + 999) / 1000;
    uv_timer_start(&timeout_timer_, &Resolver::on_timeout_timer, delay_ms, 0);
}

}  // namespace labmta::net
