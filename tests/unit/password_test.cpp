// Unit tests for common/password: published crypt(3) vectors for SHA-512 and bcrypt, a
// yescrypt hash made with libxcrypt, malformed hashes, and the hash_password round trip.
#include "common/password.h"

#include <catch2/catch.hpp>

#include <string>

using labmta::common::hash_password;
using labmta::common::verify_password_hash;
using labmta::common::verify_plain_password;
using namespace std::string_literals;

namespace {

// Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512" specification, test vectors 1 and 2.
constexpr const char* kSha512Default =
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfa"
    "S35inz1";
constexpr const char* kSha512Rounds =
    "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZe"
    "HBy/YTBmSK6H9qs/y3RnOaw5v.";
// The OpenBSD bcrypt vector for "U*U" at cost 5, with the $2b$ and the older $2a$ prefix.
constexpr const char* kBcrypt2b = "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
constexpr const char* kBcrypt2a = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
// "hessovs!" (the lab account's password) hashed by libxcrypt 4.4.33 with the default cost.
constexpr const char* kYescrypt =
    "$y$j9T$Wq1P0Dj5gVXPKADZgu5my0$eXknoqI1mSbdmyCw8K6kP7hqLi.Fa9giGm2IlkHUHt8";

}  // namespace

TEST_CASE("password: plaintext compares whole strings", "[password]") {
    CHECK(verify_plain_password("hessovs!", "hessovs!"));
    CHECK_FALSE(verify_plain_password("Hessovs!", "hessovs!"));
    CHECK_FALSE(verify_plain_password("hessovs?", "hessovs!"));
    CHECK_FALSE(verify_plain_password("hessovs", "hessovs!"));
    CHECK_FALSE(verify_plain_password("hessovs!!", "hessovs!"));
    CHECK_FALSE(verify_plain_password("", "hessovs!"));
    CHECK_FALSE(verify_plain_password("hessovs!", ""));
    CHECK(verify_plain_password("", ""));
}

TEST_CASE("password: plaintext compares bytes, NUL and high bytes included", "[password]") {
    CHECK(verify_plain_password("a\0b"s, "a\0b"s));
    CHECK_FALSE(verify_plain_password("a\0b"s, "a\0c"s));
    CHECK_FALSE(verify_plain_password("a"s, "a\0"s));
    CHECK(verify_plain_password("p\xc3\xa4ss", "p\xc3\xa4ss"));
    CHECK_FALSE(verify_plain_password("p\xc3\xa4ss", "p\xc3\xa5ss"));
}

TEST_CASE("password: SHA-512 crypt vectors", "[password]") {
    CHECK(verify_password_hash("Hello world!", kSha512Default));
    CHECK(verify_password_hash("Hello world!", kSha512Rounds));
    CHECK_FALSE(verify_password_hash("Hello world", kSha512Default));
    CHECK_FALSE(verify_password_hash("hello world!", kSha512Rounds));
    CHECK_FALSE(verify_password_hash("", kSha512Default));
}

TEST_CASE("password: bcrypt vectors", "[password]") {
    CHECK(verify_password_hash("U*U", kBcrypt2b));
    CHECK(verify_password_hash("U*U", kBcrypt2a));
    CHECK_FALSE(verify_password_hash("U*V", kBcrypt2b));
    CHECK_FALSE(verify_password_hash("", kBcrypt2b));
}

TEST_CASE("password: yescrypt hash", "[password]") {
    CHECK(verify_password_hash("hessovs!", kYescrypt));
    CHECK_FALSE(verify_password_hash("hessovs", kYescrypt));
    CHECK_FALSE(verify_password_hash("hessovs!\n", kYescrypt));
}

TEST_CASE("password: a NUL byte never cuts the password short", "[password]") {
    CHECK_FALSE(verify_password_hash("Hello world!\0tail"s, kSha512Default));
    CHECK_FALSE(verify_password_hash("hessovs!\0"s, kYescrypt));
    CHECK_FALSE(verify_password_hash("Hello world!", kSha512Default + "\0"s));
}

TEST_CASE("password: malformed or locked hashes never verify", "[password]") {
    for (const std::string& hash : {""s,
                                    "*"s,
                                    "!"s,
                                    "*0"s,
                                    "$6$"s,
                                    "$y$"s,
                                    "$2b$"s,
                                    "$6$saltstring"s,
                                    "$6$saltstring$"s,
                                    "$2b$05$CCCCCCCCCCCCCCCCCCCCC."s,
                                    "$y$j9T$Wq1P0Dj5gVXPKADZgu5my0"s,
                                    "$unknown$salt$hash"s,
                                    "!"s + kSha512Default,
                                    std::string(kSha512Default).substr(0, 40),
                                    kSha512Default + "x"s,
                                    std::string(1000, '$')}) {
        INFO("hash: " << hash);
        CHECK_FALSE(verify_password_hash("Hello world!", hash));
        CHECK_FALSE(verify_password_hash("", hash));
    }
}

TEST_CASE("password: hash_password makes a yescrypt hash that verifies", "[password]") {
    const std::string hash = hash_password("hessovs!");
    CHECK(hash.rfind("$y$", 0) == 0);
    CHECK(verify_password_hash("hessovs!", hash));
    CHECK_FALSE(verify_password_hash("hessovs?", hash));
    CHECK_FALSE(verify_password_hash("", hash));
}

TEST_CASE("password: hash_password salts each hash differently", "[password]") {
    const std::string first = hash_password("same password");
    const std::string second = hash_password("same password");
    REQUIRE_FALSE(first.empty());
    REQUIRE_FALSE(second.empty());
    CHECK(first != second);
    CHECK(verify_password_hash("same password", first));
    CHECK(verify_password_hash("same password", second));
}

TEST_CASE("password: hash_password refuses what crypt cannot take", "[password]") {
    CHECK(hash_password("a\0b"s).empty());
    CHECK(hash_password(std::string(4096, 'x')).empty());
}
