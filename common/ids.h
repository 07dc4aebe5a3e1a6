// Queue IDs and Message-IDs. Pure given the injected Clock and Random.
#pragma once

#include "common/clock.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace labmta::common {

// Queue IDs are 12 upper-case hex digits: the low 40 bits of the arrival time in
// microseconds, then an 8-bit sequence that starts at a random value. They sort by arrival,
// and two sessions of one process never get the same ID; across processes and restarts the
// spool's O_EXCL create catches the rare clash and asks for another.
class QueueIdGenerator {
public:
    QueueIdGenerator(const Clock& clock, Random& random);
    std::string next();

private:
    const Clock& clock_;
    std::uint8_t sequence_;
    std::int64_t last_us_ = -1;
};

// True for the IDs QueueIdGenerator makes (10 to 20 upper-case hex digits); checked before an
// ID becomes part of a file name.
bool is_valid_queue_id(std::string_view id);

// The lab document's algorithm: "<" base36(wall-clock ms) "." base36(64 random bits) "@"
// hostname ">", base 36 written with 0-9 and A-Z.
std::string make_message_id(const Clock& clock, Random& random, std::string_view hostname);

std::string to_base36(std::uint64_t value);

// "Sat, 28 Nov 2026 14:32:11 +0000" (RFC 5322 3.3) in the machine's local time zone.
std::string format_rfc5322_date(std::int64_t unix_us);

}  // namespace labmta::common
