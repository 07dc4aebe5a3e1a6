// See utf8.h. Follows the table of well-formed byte sequences in RFC 3629 section 4.
#include "common/utf8.h"

#include <cstddef>

namespace labmta::common {
namespace {

bool is_continuation(unsigned char byte) {
    return (byte & 0xC0U) == 0x80U;
}

// The length of the sequence starting at lead and the allowed range of its second byte
// (which excludes overlong forms, surrogates and code points above U+10FFFF); 0 when lead
// cannot start a sequence.
struct Lead {
    std::size_t length = 0;
    unsigned char second_min = 0x80;
    unsigned char second_max = 0xBF;
};

Lead classify(unsigned char lead) {
    if (lead >= 0xC2 && lead <= 0xDF) {
        return {2, 0x80, 0xBF};
    }
    if (lead == 0xE0) {
        return {3, 0xA0, 0xBF};  // no overlong 3-byte forms
    }
    if (lead == 0xED) {
        return {3, 0x80, 0x9F};  // no surrogates
    }
    if (lead >= 0xE1 && lead <= 0xEF) {
        return {3, 0x80, 0xBF};
    }
    if (lead == 0xF0) {
        return {4, 0x90, 0xBF};  // no overlong 4-byte forms
    }
    if (lead >= 0xF1 && lead <= 0xF3) {
        return {4, 0x80, 0xBF};
    }
    if (lead == 0xF4) {
        return {4, 0x80, 0x8F};  // nothing above U+10FFFF
    }
    return {};  // 0x80..0xC1 (continuation or overlong lead), 0xF5..0xFF
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte < 0x80) {
            ++i;
            continue;
        }
        const Lead lead = classify(byte);
        if (lead.length == 0 || text.size() - i < lead.length) {
            return false;
        }
        const auto second = static_cast<unsigned char>(text[i + 1]);
        if (second < lead.second_min || second > lead.second_max) {
            return false;
        }
        for (std::size_t k = 2; k < lead.length; ++k) {
            if (!is_continuation(static_cast<unsigned char>(text[i + k]))) {
                return false;
            }
        }
        i += lead.length;
    }
    return true;
}

}  // namespace labmta::common
