// Checks for single config values (addresses, networks, names, counts), shared by the YAML
// reader and the command line. Pure: no YAML and no I/O. Each function throws ConfigError
// "<what>: <problem>", so `what` carries the file, line and key (or the flag name).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace labmta::config {

// "127.0.0.0/8", "::1/128"; a bare address gets /32 or /128. Returns the normalized form.
std::string parse_cidr(std::string_view text, std::string_view what);

// A host or domain name (letters, digits, hyphens, dots); returns it lower-cased.
std::string parse_domain(std::string_view text, std::string_view what);

// "[host]:port", "host:port", "host" or "" (no relayhost); returns it lower-cased.
std::string parse_relayhost(std::string_view text, std::string_view what);

// A login name: non-empty, no ':', no whitespace or control characters.
std::string parse_user_name(std::string_view text, std::string_view what);

// ASCII lower-casing, for domain names (locale-independent on purpose).
std::string lower_ascii(std::string_view text);

// A decimal integer in [min, max], digits only (no sign, no suffix).
std::uint64_t parse_count(std::string_view text,
                          std::uint64_t min,
                          std::uint64_t max,
                          std::string_view what);

// A decimal integer in [0, max]: like parse_count, but 0 (off) is allowed.
std::uint64_t parse_count_or_zero(std::string_view text, std::uint64_t max, std::string_view what);

// Seconds with at most three decimals ("1", "0.25", "0"), returned in milliseconds, at most
// max_ms.
std::uint64_t parse_seconds_ms(std::string_view text, std::uint64_t max_ms, std::string_view what);

}  // namespace labmta::config
