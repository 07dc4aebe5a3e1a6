// Small read-only looks at a message's header section (LF line endings). Pure.
#pragma once

#include <cstddef>
#include <string_view>

namespace labmta::common {

// How many "Received:" header fields (any case) the header section holds: the hop count
// that mail loops are detected with (Postfix's hopcount_limit).
std::size_t count_received_headers(std::string_view message);

}  // namespace labmta::common
