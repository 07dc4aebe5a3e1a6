// Unit tests for common/base64: RFC 4648 vectors, round trips, and every invalid form the
// strict decoder must refuse (bad AUTH input becomes a 501, never a crash).
#include "common/base64.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using labmta::common::base64_decode;
using labmta::common::base64_encode;
using namespace std::string_literals;

TEST_CASE("base64: RFC 4648 test vectors encode", "[base64]") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foob") == "Zm9vYg==");
    CHECK(base64_encode("fooba") == "Zm9vYmE=");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("base64: RFC 4648 test vectors decode", "[base64]") {
    CHECK(base64_decode("") == std::optional<std::string>(""));
    CHECK(base64_decode("Zg==") == std::optional<std::string>("f"));
    CHECK(base64_decode("Zm8=") == std::optional<std::string>("fo"));
    CHECK(base64_decode("Zm9v") == std::optional<std::string>("foo"));
    CHECK(base64_decode("Zm9vYg==") == std::optional<std::string>("foob"));
    CHECK(base64_decode("Zm9vYmE=") == std::optional<std::string>("fooba"));
    CHECK(base64_decode("Zm9vYmFy") == std::optional<std::string>("foobar"));
}

TEST_CASE("base64: AUTH LOGIN examples decode", "[base64]") {
    CHECK(base64_decode("c3R1ZGVudA==") == std::optional<std::string>("student"));
    CHECK(base64_decode("aGVzc292cyE=") == std::optional<std::string>("hessovs!"));
    CHECK(base64_decode("VXNlcm5hbWU6") == std::optional<std::string>("Username:"));
    CHECK(base64_decode("UGFzc3dvcmQ6") == std::optional<std::string>("Password:"));
}

TEST_CASE("base64: every byte value round-trips", "[base64]") {
    std::string all_bytes;
    for (int i = 0; i < 256; ++i) {
        all_bytes += static_cast<char>(i);
    }
    // Each length exercises the three padding cases and bytes with the high bit set.
    for (std::size_t length = 0; length <= all_bytes.size(); ++length) {
        const std::string bytes = all_bytes.substr(all_bytes.size() - length);
        const std::string encoded = base64_encode(bytes);
        CHECK(encoded.size() == (length + 2) / 3 * 4);
        CHECK(base64_decode(encoded) == std::optional<std::string>(bytes));
    }
}

TEST_CASE("base64: encoding uses + and / for the last two alphabet values", "[base64]") {
    CHECK(base64_encode("\xfb\xff\xbf"s) == "+/+/");
    CHECK(base64_decode("+/+/") == std::optional<std::string>("\xfb\xff\xbf"s));
}

TEST_CASE("base64: length not a multiple of 4 is refused", "[base64]") {
    CHECK_FALSE(base64_decode("Z").has_value());
    CHECK_FALSE(base64_decode("Zg").has_value());
    CHECK_FALSE(base64_decode("Zg=").has_value());
    CHECK_FALSE(base64_decode("Zm9").has_value());
    CHECK_FALSE(base64_decode("Zm9vY").has_value());
    CHECK_FALSE(base64_decode("c3R1ZGVudA").has_value());  // padding left out
}

TEST_CASE("base64: characters outside the alphabet are refused", "[base64]") {
    CHECK_FALSE(base64_decode("Zm9*").has_value());
    CHECK_FALSE(base64_decode("Zm 9").has_value());
    CHECK_FALSE(base64_decode("Zm9v\r\n==").has_value());
    CHECK_FALSE(base64_decode("Zm-_").has_value());  // URL-safe alphabet, RFC 4648 section 5
    CHECK_FALSE(base64_decode("Zm\0v"s).has_value());
    CHECK_FALSE(base64_decode("Zm\xc3\xa9"s).has_value());
}

TEST_CASE("base64: misplaced padding is refused", "[base64]") {
    CHECK_FALSE(base64_decode("=Zm9").has_value());
    CHECK_FALSE(base64_decode("Z=g=").has_value());
    CHECK_FALSE(base64_decode("Zg=A").has_value());
    CHECK_FALSE(base64_decode("Zg==Zm9v").has_value());  // padding inside the text
    CHECK_FALSE(base64_decode("Z===").has_value());
    CHECK_FALSE(base64_decode("A===").has_value());  // zero bits: only the padding count is wrong
    CHECK_FALSE(base64_decode("====").has_value());
    CHECK_FALSE(base64_decode("Zm9v====").has_value());
}

TEST_CASE("base64: non-zero bits before the padding are refused", "[base64]") {
    // RFC 4648 3.5: "Zh==" would decode to "f" too, but it is not the canonical encoding.
    CHECK_FALSE(base64_decode("Zh==").has_value());
    CHECK_FALSE(base64_decode("Zm9=").has_value());
    CHECK(base64_decode("Zm8=") == std::optional<std::string>("fo"));
}
