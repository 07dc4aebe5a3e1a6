// UTF-8 well-formedness as RFC 3629 defines it: the boundaries of each sequence length and
// every kind of ill-formed input.
#include "common/utf8.h"

#include <catch2/catch.hpp>

#include <string>

using labmta::common::is_valid_utf8;

TEST_CASE("utf8: ASCII, NUL and the empty string are valid", "[utf8]") {
    using namespace std::string_literals;
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("MAIL FROM:<a@b>"));
    CHECK(is_valid_utf8("\x01\x7f"));
    CHECK(is_valid_utf8("a\0b"s));
}

TEST_CASE("utf8: well-formed sequences of each length, at their boundaries", "[utf8]") {
    CHECK(is_valid_utf8("\xc2\x80"));          // U+0080
    CHECK(is_valid_utf8("caf\xc3\xa9"));       // é
    CHECK(is_valid_utf8("\xdf\xbf"));          // U+07FF
    CHECK(is_valid_utf8("\xe0\xa0\x80"));      // U+0800
    CHECK(is_valid_utf8("\xe2\x82\xac"));      // €
    CHECK(is_valid_utf8("\xed\x9f\xbf"));      // U+D7FF, below the surrogates
    CHECK(is_valid_utf8("\xee\x80\x80"));      // U+E000, above them
    CHECK(is_valid_utf8("\xef\xbf\xbf"));      // U+FFFF
    CHECK(is_valid_utf8("\xf0\x90\x80\x80"));  // U+10000
    CHECK(is_valid_utf8("\xf0\x9f\x93\xa7"));  // 📧
    CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
}

TEST_CASE("utf8: ill-formed input is refused", "[utf8]") {
    CHECK_FALSE(is_valid_utf8("\x80"));  // stray continuation byte
    CHECK_FALSE(
        is_valid_utf8("a\xbf"
                      "b"));                 // stray continuation byte
    CHECK_FALSE(is_valid_utf8("caf\xe9"));   // Latin-1
    CHECK_FALSE(is_valid_utf8("\xc3"));      // truncated at the end
    CHECK_FALSE(is_valid_utf8("\xe2\x82"));  // truncated at the end
    CHECK_FALSE(
        is_valid_utf8("\xe2\x82"
                      "a"));  // continuation missing
    CHECK_FALSE(
        is_valid_utf8("\xf0\x9f\x93"
                      "a"));                         // continuation missing
    CHECK_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
    CHECK_FALSE(is_valid_utf8("\xc1\xbf"));          // overlong
    CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong 3-byte
    CHECK_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));  // overlong 4-byte
    CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));      // U+D800, a surrogate
    CHECK_FALSE(is_valid_utf8("\xed\xbf\xbf"));      // U+DFFF, a surrogate
    CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // U+110000
    CHECK_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));  // lead byte above F4
    CHECK_FALSE(is_valid_utf8("\xfe"));
    CHECK_FALSE(is_valid_utf8("\xff"));
}
