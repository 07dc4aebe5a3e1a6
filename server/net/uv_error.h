// libuv error codes as text for logs and startup errors: "EADDRINUSE (address already in use)".
#pragma once

#include <string>

namespace labmta::net {

std::string uv_error_text(int code);

}  // namespace labmta::net
