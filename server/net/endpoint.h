// An address to listen on or that was bound: the config's ADDR:PORT value, and its text form
// ("127.0.0.1:2525", "[::1]:25").
#pragma once

#include "config/config.h"

#include <string>

namespace labmta::net {

using Endpoint = config::ListenAddress;

inline std::string to_string(const Endpoint& endpoint) {
    return config::format_listen_address(endpoint);
}

}  // namespace labmta::net
