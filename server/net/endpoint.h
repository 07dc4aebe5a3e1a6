// An address to listen on or that was bound, and its text form ("127.0.0.1:2525",
// "[::1]:25"). Plain data.
#pragma once

#include <cstdint>
#include <string>

namespace labmta::net {

struct Endpoint {
    std::string host;  // numeric IPv4 or IPv6 address
    std::uint16_t port = 0;
};

std::string to_string(const Endpoint& endpoint);

}  // namespace labmta::net
