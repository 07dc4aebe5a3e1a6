// Base64 (RFC 4648, standard alphabet with padding), as AUTH uses it (RFC 4954).
// Pure functions; decoding is strict so that bad client input becomes an SMTP error.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace labmta::common {

std::string base64_encode(std::string_view bytes);

// nullopt when the text is not canonical base64: a character outside the alphabet, a length
// that is not a multiple of 4, or misplaced padding. Empty text decodes to an empty string.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace labmta::common
