// See uv_error.h.
#include "server/net/uv_error.h"

#include <uv.h>

namespace labmta::net {

std::string uv_error_text(int code) {
    return std::string(uv_err_name(code)) + " (" + uv_strerror(code) + ")";
}

}  // namespace labmta::net
