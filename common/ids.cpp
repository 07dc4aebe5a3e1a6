// Queue IDs, Message-IDs, base 36 and the RFC 5322 Date header value.
// Pure given the injected Clock and Random; the date uses the process's time zone (TZ).
#include "common/ids.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>

namespace labmta::common {
namespace {

constexpr std::uint64_t kTimeMask = (std::uint64_t{1} << 40) - 1;  // 10 hex digits
constexpr std::size_t kMinQueueIdDigits = 10;
constexpr std::size_t kMaxQueueIdDigits = 20;
constexpr std::int64_t kMicrosPerSecond = 1'000'000;

// Locale-independent names: a Date header is always English (RFC 5322 3.3).
constexpr std::array<const char*, 7> kDayNames = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> kMonthNames = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool is_upper_hex_digit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

std::string format_queue_id(std::int64_t time_us, std::uint8_t sequence) {
    const std::uint64_t time_part = static_cast<std::uint64_t>(time_us) & kTimeMask;
    std::array<char, 16> buffer{};
    std::snprintf(buffer.data(),
                  buffer.size(),
                  "%010llX%02X",
                  static_cast<unsigned long long>(time_part),
                  static_cast<unsigned>(sequence));
    return std::string(buffer.data());
}

// Seconds since the epoch, rounded toward minus infinity so that times before 1970 work.
time_t floor_seconds(std::int64_t unix_us) {
    std::int64_t seconds = unix_us / kMicrosPerSecond;
    if (unix_us % kMicrosPerSecond < 0) {
        --seconds;
    }
    return static_cast<time_t>(seconds);
}

// "+0100", "-0330": the zone's offset from UTC in hours and minutes.
std::string format_utc_offset(long offset_seconds) {
    const char sign = offset_seconds < 0 ? '-' : '+';
    const long minutes = std::labs(offset_seconds) / 60;
    std::array<char, 8> buffer{};
    std::snprintf(buffer.data(), buffer.size(), "%c%02ld%02ld", sign, minutes / 60, minutes % 60);
    return std::string(buffer.data());
}

}  // namespace

QueueIdGenerator::QueueIdGenerator(const Clock& clock, Random& random)
    : clock_(clock), sequence_(static_cast<std::uint8_t>(random.next_u64())) {}

// The time part never goes backwards (a clock step back reuses the last time), and within one
// time value the sequence runs up to 0xFF at most: when it would wrap to 0x00 in the same
// microsecond, the time part moves on by one. So no (time, sequence) pair repeats.
std::string QueueIdGenerator::next() {
    std::int64_t time_us = std::max(clock_.now_us(), last_us_);
    if (time_us == last_us_ && sequence_ == 0) {
        ++time_us;
    }
    last_us_ = time_us;
    std::string id = format_queue_id(time_us, sequence_);
    sequence_ = static_cast<std::uint8_t>(sequence_ + 1);
    return id;
}

bool is_valid_queue_id(std::string_view id) {
    return id.size() >= kMinQueueIdDigits && id.size() <= kMaxQueueIdDigits
           && std::all_of(id.begin(), id.end(), is_upper_hex_digit);
}

std::string make_message_id(const Clock& clock, Random& random, std::string_view hostname) {
    const std::uint64_t now_ms = static_cast<std::uint64_t>(clock.now_us() / 1000);
    std::string id = "<";
    id += to_base36(now_ms);
    id += '.';
    id += to_base36(random.next_u64());
    id += '@';
    id += hostname;
    id += '>';
    return id;
}

std::string to_base36(std::uint64_t value) {
    constexpr std::string_view kDigits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    std::string digits;
    do {
        digits += kDigits[value % 36];
        value /= 36;
    } while (value != 0);
    std::reverse(digits.begin(), digits.end());
    return digits;
}

std::string format_rfc5322_date(std::int64_t unix_us) {
    const time_t seconds = floor_seconds(unix_us);
    tm local{};
    if (localtime_r(&seconds, &local) == nullptr) {
        const time_t epoch = 0;  // out of range for struct tm: say something valid, not crash
        gmtime_r(&epoch, &local);
    }
    std::array<char, 64> buffer{};
    std::snprintf(buffer.data(),
                  buffer.size(),
                  "%s, %d %s %d %02d:%02d:%02d ",
                  kDayNames.at(static_cast<std::size_t>(local.tm_wday)),
                  local.tm_mday,
                  kMonthNames.at(static_cast<std::size_t>(local.tm_mon)),
                  local.tm_year + 1900,
                  local.tm_hour,
                  local.tm_min,
                  local.tm_sec);
    return std::string(buffer.data()) + format_utc_offset(local.tm_gmtoff);
}

}  // namespace labmta::common
