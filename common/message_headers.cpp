// See message_headers.h.
#include "common/message_headers.h"

#include "common/address.h"

namespace labmta::common {

std::size_t count_received_headers(std::string_view message) {
    constexpr std::string_view kReceived = "received:";
    std::size_t count = 0;
    while (!message.empty()) {
        const std::size_t end = message.find('\n');
        const std::string_view line = message.substr(0, end);
        if (line.empty()) {
            break;  // the blank line that ends the header section
        }
        if (line.size() >= kReceived.size()
            && iequals_ascii(line.substr(0, kReceived.size()), kReceived)) {
            ++count;
        }
        if (end == std::string_view::npos) {
            break;
        }
        message.remove_prefix(end + 1);
    }
    return count;
}

}  // namespace labmta::common
