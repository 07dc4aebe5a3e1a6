// See listener.h.
#include "server/net/listener.h"

#include "common/startup_error.h"
#include "server/net/smtp_server.h"
#include "server/net/uv_error.h"

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <sys/socket.h>

namespace labmta::net {
namespace {

Endpoint endpoint_of(const sockaddr_storage& address) {
    char host[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
        uv_ip6_name(in6, host, sizeof host);
        return Endpoint{host, ntohs(in6->sin6_port)};
    }
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(&address);
    uv_ip4_name(in4, host, sizeof host);
    return Endpoint{host, ntohs(in4->sin_port)};
}

}  // namespace

Listener::Listener(SmtpServer& server) : server_(server) {}

Endpoint Listener::bind_and_listen(const Endpoint& endpoint) {
    sockaddr_storage address{};
    const bool is_ipv6 = endpoint.host.find(':') != std::string::npos;
    int rc =
        is_ipv6 ? uv_ip6_addr(
            endpoint.host.c_str(), endpoint.port, reinterpret_cast<sockaddr_in6*>(&address))
                : uv_ip4_addr(
                    endpoint.host.c_str(), endpoint.port, reinterpret_cast<sockaddr_in*>(&address));
    if (rc != 0) {
        throw StartupError("bad listen address " + to_string(endpoint) + ": " + uv_error_text(rc));
    }
    uv_tcp_init(server_.loop(), &tcp_);
    tcp_.data = this;
    open_ = true;
    rc = uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&address), 0);
    if (rc == 0) {
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), SOMAXCONN, &Listener::on_connection);
    }
    if (rc != 0) {
        throw StartupError("cannot listen on " + to_string(endpoint) + ": " + uv_error_text(rc));
    }
    sockaddr_storage bound{};
    int length = sizeof bound;
    uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&bound), &length);
    return endpoint_of(bound);
}

void Listener::close() {
    if (open_) {
        open_ = false;
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
    }
}

void Listener::on_connection(uv_stream_t* stream, int status) {
    auto* self = static_cast<Listener*>(stream->data);
    if (status < 0) {
        spdlog::warn("accept failed: {}", uv_error_text(status));
        return;
    }
    self->server_.accept(stream);
}

}  // namespace labmta::net
