// Text helpers shared by replies, headers and the queue tools. Pure.
#pragma once

#include <string>
#include <string_view>

namespace labmta::common {

// text with every control byte (below 0x20, and DEL) replaced by "?": for client or spool text
// that is echoed into a reply line, a header or a terminal, where a CR or an escape sequence
// would end the line early or drive the terminal (as Postfix prints such text).
std::string replace_control_chars(std::string_view text);

// True when text is one or more ASCII digits, and nothing else.
bool is_digits(std::string_view text);

}  // namespace labmta::common
