// See text.h.
#include "common/text.h"

namespace labmta::common {

std::string replace_control_chars(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            c = '?';
        }
    }
    return out;
}

}  // namespace labmta::common
