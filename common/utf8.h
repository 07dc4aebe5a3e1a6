// UTF-8 well-formedness (RFC 3629), for checking what a client sends in SMTP commands.
// Pure: no locale, no allocation.
#pragma once

#include <string_view>

namespace labmta::common {

// True when text is well-formed UTF-8: no stray continuation bytes, no truncated sequences,
// no overlong forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
// ASCII, including control characters and NUL, is valid UTF-8.
bool is_valid_utf8(std::string_view text);

}  // namespace labmta::common
