// One listening TCP socket. Hands each incoming connection to SmtpServer::accept.
#pragma once

#include "server/net/endpoint.h"

#include <uv.h>

namespace labmta::net {

class SmtpServer;

class Listener {
public:
    explicit Listener(SmtpServer& server);
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    // Binds and listens; returns the bound endpoint. Throws StartupError on failure.
    Endpoint bind_and_listen(const Endpoint& endpoint);
    // Closes the socket; the object must live until the loop has run the close callback.
    void close();

private:
    static void on_connection(uv_stream_t* stream, int status);

    SmtpServer& server_;
    uv_tcp_t tcp_{};
    bool open_ = false;
};

}  // namespace labmta::net
