// Password checks for AUTH: plaintext compared in constant time, and crypt(3) hashes
// ($y$ yescrypt, $6$ SHA-512, $2b$ bcrypt, ...) checked with libxcrypt. No config types and
// no logging here; nothing keeps or prints a password.
#pragma once

#include <string>
#include <string_view>

namespace labmta::common {

// True when both are the same bytes. The time taken depends only on the longer length, never
// on where the first difference is.
bool verify_plain_password(std::string_view given, std::string_view expected);

// True when crypt(given, crypt_hash) reproduces crypt_hash. False for an unknown or malformed
// hash ("", "*", "$6$"), and for a password with a NUL byte (crypt would cut it short).
bool verify_password_hash(std::string_view given, std::string_view crypt_hash);

// A new yescrypt hash ("$y$...") of `password` with a random salt from the OS, for the config's
// password_hash. "" on failure (no entropy, or a NUL byte in the password).
std::string hash_password(std::string_view password);

}  // namespace labmta::common
