// Checks for single config values: listen addresses, CIDR networks, domain and user names,
// relayhost, counts. Pure: no YAML, no I/O, no name lookups (addresses must be numeric).
#include "config/values.h"

#include "config/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

namespace labmta::config {
namespace {

constexpr int kIpv4Bits = 32;
constexpr int kIpv6Bits = 128;
constexpr std::uint32_t kMaxPort = 65535;

// The value as it may be shown in an error: control bytes written as \xNN so that a stray
// NUL or newline cannot cut or fake the message.
std::string printable(std::string_view text) {
    constexpr std::string_view kHex = "0123456789ABCDEF";
    std::string result;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7F) {
            result += "\\x";
            result += kHex[byte >> 4];
            result += kHex[byte & 0xFU];
        } else {
            result += c;
        }
    }
    return result;
}

[[noreturn]] void fail(std::string_view what, std::string_view problem, std::string_view text) {
    throw ConfigError(std::string(what) + ": " + std::string(problem) + ", got '" + printable(text)
                      + "'");
}

bool is_digits(std::string_view text) {
    return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// Digits only; nullopt when empty, not a number or above `max`.
std::optional<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
    if (!is_digits(text)) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value > max) {
        return std::nullopt;
    }
    return value;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
    const auto value = parse_decimal(text, kMaxPort);
    if (!value) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(*value);
}

bool is_address(int family, std::string_view text) {
    std::array<unsigned char, sizeof(in6_addr)> buffer{};
    return inet_pton(family, std::string(text).c_str(), buffer.data()) == 1;
}

bool is_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// RFC 1035 2.3.4: labels of at most 63 octets, names of at most 253 written characters.
bool is_domain(std::string_view text) {
    constexpr std::size_t kMaxName = 253;
    constexpr std::size_t kMaxLabel = 63;
    if (text.empty() || text.size() > kMaxName) {
        return false;
    }
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t dot = std::min(text.find('.', start), text.size());
        const std::string_view label = text.substr(start, dot - start);
        if (label.empty() || label.size() > kMaxLabel || label.front() == '-'
            || label.back() == '-') {
            return false;
        }
        for (const char c : label) {
            if (!is_label_char(c)) {
                return false;
            }
        }
        start = dot + 1;
    }
    return true;
}

// The network address of `address`/`prefix`, for the hint in the "host bits" error.
std::string network_of(int family, std::array<unsigned char, sizeof(in6_addr)> bytes, int prefix) {
    const int total_bytes = family == AF_INET ? kIpv4Bits / 8 : kIpv6Bits / 8;
    for (int i = 0; i < total_bytes; ++i) {
        const int keep = std::clamp(prefix - (i * 8), 0, 8);
        const unsigned mask = keep == 0 ? 0U : (0xFFU << (8 - keep)) & 0xFFU;
        bytes[static_cast<std::size_t>(i)] &= static_cast<unsigned char>(mask);
    }
    std::array<char, INET6_ADDRSTRLEN> text{};
    inet_ntop(family, bytes.data(), text.data(), text.size());
    return std::string(text.data()) + "/" + std::to_string(prefix);
}

}  // namespace

ListenAddress parse_listen_address(std::string_view text, std::string_view what) {
    constexpr std::string_view kShape = "expected ADDR:PORT";
    std::string host;
    std::string_view port_text;
    if (text.starts_with('[')) {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") {
            fail(what, kShape, text);
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
        if (!is_address(AF_INET6, host)) {
            fail(what, "expected an IPv6 address inside [...]", text);
        }
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            fail(what, kShape, text);
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string::npos) {
            fail(what, "IPv6 addresses are written in brackets, like [::]:25", text);
        }
        // Names are not resolved here; "localhost" is the one convenience, and it means the
        // IPv4 loopback (not ::1) so that it behaves the same on every machine.
        if (host == "localhost") {
            host = "127.0.0.1";
        }
        if (!is_address(AF_INET, host)) {
            fail(what, "expected a numeric IPv4 address or [IPv6] address", text);
        }
    }
    const auto port = parse_port(port_text);  // 0 asks the system for a free port
    if (!port) {
        fail(what, "expected a port number 0..65535", text);
    }
    return ListenAddress{host, *port};
}

std::string parse_cidr(std::string_view text, std::string_view what) {
    const std::size_t slash = text.find('/');
    const std::string_view address = text.substr(0, slash);
    const int family = address.find(':') != std::string_view::npos ? AF_INET6 : AF_INET;
    const int bits = family == AF_INET ? kIpv4Bits : kIpv6Bits;
    std::array<unsigned char, sizeof(in6_addr)> bytes{};
    if (inet_pton(family, std::string(address).c_str(), bytes.data()) != 1) {
        fail(what, "expected a network like 127.0.0.0/8 or ::1/128", text);
    }
    int prefix = bits;
    if (slash != std::string_view::npos) {
        const auto parsed = parse_decimal(text.substr(slash + 1), static_cast<std::uint64_t>(bits));
        if (!parsed) {
            fail(what, "expected a prefix length 0.." + std::to_string(bits), text);
        }
        prefix = static_cast<int>(*parsed);
    }
    const std::string network = network_of(family, bytes, prefix);
    std::array<unsigned char, sizeof(in6_addr)> masked{};
    inet_pton(family, network.substr(0, network.find('/')).c_str(), masked.data());
    // A set host bit is almost always a typo for the network ("10.0.0.1/8"); Postfix's
    // cidr tables reject it too, so say which network was probably meant.
    if (masked != bytes) {
        fail(what, "host bits are set (did you mean " + network + "?)", text);
    }
    return std::string(address) + "/" + std::to_string(prefix);
}

std::string parse_domain(std::string_view text, std::string_view what) {
    if (!is_domain(text)) {
        fail(what, "expected a domain name like mail.example.org", text);
    }
    return lower_ascii(text);
}

std::string parse_relayhost(std::string_view text, std::string_view what) {
    constexpr std::string_view kShape = "expected [HOST]:PORT, HOST:PORT or HOST";
    if (text.empty()) {
        return {};
    }
    std::string_view host;
    std::string_view rest;
    if (text.starts_with('[')) {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos) {
            fail(what, kShape, text);
        }
        host = text.substr(1, close - 1);
        rest = text.substr(close + 1);
    } else {
        const std::size_t colon = text.find(':');
        host = text.substr(0, colon);
        rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
    }
    const bool host_ok = is_domain(host) || (text.starts_with('[') && is_address(AF_INET6, host));
    if (!host_ok || (!rest.empty() && !rest.starts_with(':'))) {
        fail(what, kShape, text);
    }
    if (!rest.empty()) {
        const auto port = parse_port(rest.substr(1));
        if (!port || *port == 0) {
            fail(what, "expected a port number 1..65535", text);
        }
    }
    return lower_ascii(text);
}

std::string parse_user_name(std::string_view text, std::string_view what) {
    if (text.empty()) {
        fail(what, "expected a non-empty user name", text);
    }
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == ':' || byte <= 0x20 || byte == 0x7F) {
            fail(what, "a user name may not contain ':', spaces or control characters", text);
        }
    }
    return std::string(text);
}

std::string lower_ascii(std::string_view text) {
    std::string result(text);
    for (char& c : result) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return result;
}

std::uint64_t parse_count(std::string_view text,
                          std::uint64_t min,
                          std::uint64_t max,
                          std::string_view what) {
    if (!is_digits(text) || text.find_first_not_of('0') == std::string_view::npos) {
        fail(what, "expected a positive integer", text);
    }
    const auto value = parse_decimal(text, max);
    if (!value) {
        fail(what, "expected a positive integer up to " + std::to_string(max), text);
    }
    if (*value < min) {
        fail(what, "must be at least " + std::to_string(min), text);
    }
    return *value;
}

std::uint64_t parse_count_or_zero(std::string_view text, std::uint64_t max, std::string_view what) {
    const auto value = parse_decimal(text, max);
    if (!value) {
        fail(what, "expected an integer from 0 to " + std::to_string(max), text);
    }
    return *value;
}

std::uint64_t parse_seconds_ms(std::string_view text, std::uint64_t max_ms, std::string_view what) {
    constexpr std::string_view kProblem = "expected seconds like 1 or 0.25 (at most 3 decimals)";
    const std::size_t dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const std::string_view fraction =
        dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    if (!is_digits(whole) || (dot != std::string_view::npos && !is_digits(fraction))
        || fraction.size() > 3) {
        fail(what, kProblem, text);
    }
    const auto seconds = parse_decimal(whole, max_ms / 1000);
    if (!seconds) {
        fail(what, "must be at most " + std::to_string(max_ms / 1000) + " seconds", text);
    }
    std::uint64_t millis = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        millis =
            millis * 10 + (i < fraction.size() ? static_cast<std::uint64_t>(fraction[i] - '0') : 0);
    }
    const std::uint64_t total = *seconds * 1000 + millis;
    if (total > max_ms) {
        fail(what, "must be at most " + std::to_string(max_ms / 1000) + " seconds", text);
    }
    return total;
}

}  // namespace labmta::config
