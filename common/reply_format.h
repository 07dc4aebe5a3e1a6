// Formats SMTP replies for the wire (RFC 5321 4.2): CRLF after each line, and "-" after the
// code on every line of a multi-line reply but the last. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace labmta::common {

// Appends "<line>\r\n".
void append_reply(std::string& out, std::string_view line);

// Appends "<code>-<text>\r\n" for all texts but the last, then "<code> <last>\r\n".
// Nothing is appended when texts is empty.
void append_multiline_reply(std::string& out,
                            std::string_view code,
                            const std::vector<std::string>& texts);

}  // namespace labmta::common
