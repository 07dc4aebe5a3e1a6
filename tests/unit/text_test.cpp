// common/text: control bytes never reach a reply line, a header or a terminal.
#include "common/text.h"

#include <catch2/catch.hpp>

#include <string>

using labmta::common::replace_control_chars;

TEST_CASE("text: control bytes and DEL become ?, everything else is kept", "[text]") {
    CHECK(replace_control_chars("student@domain.local") == "student@domain.local");
    CHECK(replace_control_chars("a\rb\nc\td\x1b[31me\x7f") == "a?b?c?d?[31me?");
    CHECK(replace_control_chars(std::string("nul\0byte", 8)) == "nul?byte");
    CHECK(replace_control_chars("caf\xc3\xa9 \x80") == "caf\xc3\xa9 \x80");  // 8-bit kept
    CHECK(replace_control_chars("").empty());
}

TEST_CASE("text: is_digits is true for ASCII digits only, and never for nothing", "[text]") {
    CHECK(labmta::common::is_digits("0"));
    CHECK(labmta::common::is_digits("1795876332"));
    CHECK_FALSE(labmta::common::is_digits(""));
    CHECK_FALSE(labmta::common::is_digits("12a"));
    CHECK_FALSE(labmta::common::is_digits("-1"));
    CHECK_FALSE(labmta::common::is_digits(" 1"));
    CHECK_FALSE(labmta::common::is_digits("\xd9\xa1"));  // ARABIC-INDIC DIGIT ONE
}
