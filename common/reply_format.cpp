// See reply_format.h.
#include "common/reply_format.h"

namespace labmta::common {

void append_reply(std::string& out, std::string_view line) {
    out.append(line);
    out.append("\r\n");
}

void append_multiline_reply(std::string& out,
                            std::string_view code,
                            const std::vector<std::string>& texts) {
    for (std::size_t i = 0; i < texts.size(); ++i) {
        out.append(code);
        out.push_back(i + 1 < texts.size() ? '-' : ' ');
        append_reply(out, texts[i]);
    }
}

}  // namespace labmta::common
