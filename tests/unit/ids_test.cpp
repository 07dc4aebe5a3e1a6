// Unit tests for common/ids and common/clock: queue IDs with a fake clock and fixed random,
// Message-IDs, base 36, and the Date header in fixed POSIX time zones.
#include "common/ids.h"

#include "common/clock.h"
#include "tests/support/fakes.h"

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

using labmta::common::format_rfc5322_date;
using labmta::common::is_valid_queue_id;
using labmta::common::make_message_id;
using labmta::common::QueueIdGenerator;
using labmta::common::to_base36;
using labmta::test::FakeClock;
using labmta::test::FixedRandom;

namespace {

// Sets TZ for one test and puts the previous value back, so other tests see the real zone.
class ScopedTimeZone {
public:
    explicit ScopedTimeZone(const char* zone) {
        if (const char* old = getenv("TZ")) {
            old_ = old;
        }
        setenv("TZ", zone, 1);
        tzset();
    }
    ~ScopedTimeZone() {
        if (old_) {
            setenv("TZ", old_->c_str(), 1);
        } else {
            unsetenv("TZ");
        }
        tzset();
    }
    ScopedTimeZone(const ScopedTimeZone&) = delete;
    ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

private:
    std::optional<std::string> old_;
};

constexpr std::int64_t kSecond = 1'000'000;

}  // namespace

TEST_CASE("ids: queue ID is 10 hex digits of time then 2 of sequence", "[ids]") {
    const FakeClock clock(0x123456789A);
    FixedRandom random(0x42);
    QueueIdGenerator generator(clock, random);
    CHECK(generator.next() == "123456789A42");
}

TEST_CASE("ids: queue ID keeps only the low 40 bits of the time", "[ids]") {
    const FakeClock clock(0x7BCDEF0123456);
    FixedRandom random(0);
    QueueIdGenerator generator(clock, random);
    CHECK(generator.next() == "DEF012345600");
}

TEST_CASE("ids: queue ID sequence starts at the low byte of the random value", "[ids]") {
    FakeClock clock(1000);
    FixedRandom random(0xFEDCBA98765432C7);
    QueueIdGenerator generator(clock, random);
    CHECK(generator.next() == "00000003E8C7");
    clock.set_now_us(2000);
    CHECK(generator.next() == "00000007D0C8");
    clock.set_now_us(3000);
    CHECK(generator.next() == "0000000BB8C9");
}

TEST_CASE("ids: queue IDs are distinct and increasing when the clock does not move", "[ids]") {
    const FakeClock clock(1'790'000'000 * kSecond);
    FixedRandom random(0x80);
    QueueIdGenerator generator(clock, random);
    std::vector<std::string> ids;
    for (int i = 0; i < 2000; ++i) {
        ids.push_back(generator.next());
    }
    const std::set<std::string> unique(ids.begin(), ids.end());
    CHECK(unique.size() == ids.size());
    for (std::size_t i = 1; i < ids.size(); ++i) {
        REQUIRE(ids[i - 1] < ids[i]);
    }
}

TEST_CASE("ids: sequence wrap in the same microsecond advances the time part", "[ids]") {
    const FakeClock clock(0x10);
    FixedRandom random(0xFE);
    QueueIdGenerator generator(clock, random);
    CHECK(generator.next() == "0000000010FE");
    CHECK(generator.next() == "0000000010FF");
    CHECK(generator.next() == "000000001100");
    CHECK(generator.next() == "000000001101");
}

TEST_CASE("ids: sequence wraps without a time change when the clock moved", "[ids]") {
    FakeClock clock(0x10);
    FixedRandom random(0xFF);
    QueueIdGenerator generator(clock, random);
    CHECK(generator.next() == "0000000010FF");
    clock.set_now_us(0x20);
    CHECK(generator.next() == "000000002000");
}

TEST_CASE("ids: a clock stepping back does not repeat a queue ID", "[ids]") {
    FakeClock clock(5000);
    FixedRandom random(0x01);
    QueueIdGenerator generator(clock, random);
    const std::string first = generator.next();
    clock.set_now_us(4000);
    const std::string second = generator.next();
    CHECK(first == "000000138801");
    CHECK(second == "000000138802");
}

TEST_CASE("ids: generated queue IDs pass is_valid_queue_id", "[ids]") {
    const FakeClock clock(1'790'000'000 * kSecond);
    FixedRandom random(0xAB);
    QueueIdGenerator generator(clock, random);
    const std::string id = generator.next();
    CHECK(id.size() == 12);
    CHECK(is_valid_queue_id(id));
}

TEST_CASE("ids: is_valid_queue_id accepts 10 to 20 upper-case hex digits", "[ids]") {
    CHECK(is_valid_queue_id("0123456789"));
    CHECK(is_valid_queue_id("1DB2CCD67ABCDEF01234"));
    CHECK(is_valid_queue_id("ABCDEF012345"));
}

TEST_CASE("ids: is_valid_queue_id refuses anything that is not a plain ID", "[ids]") {
    using namespace std::string_literals;
    CHECK_FALSE(is_valid_queue_id(""));
    CHECK_FALSE(is_valid_queue_id("012345678"));              // 9 digits
    CHECK_FALSE(is_valid_queue_id("0123456789ABCDEF01234"));  // 21 digits
    CHECK_FALSE(is_valid_queue_id("abcdef012345"));           // lower case
    CHECK_FALSE(is_valid_queue_id("ABCDEG012345"));           // not hex
    CHECK_FALSE(is_valid_queue_id("../../etc/passwd"));
    CHECK_FALSE(is_valid_queue_id("ABCDEF/12345"));
    CHECK_FALSE(
        is_valid_queue_id("ABCDEF\0"s
                          "12345"));
    CHECK_FALSE(is_valid_queue_id(" ABCDEF12345"));
}

TEST_CASE("ids: to_base36 uses 0-9 and upper-case A-Z", "[ids]") {
    CHECK(to_base36(0) == "0");
    CHECK(to_base36(9) == "9");
    CHECK(to_base36(10) == "A");
    CHECK(to_base36(35) == "Z");
    CHECK(to_base36(36) == "10");
    CHECK(to_base36(1295) == "ZZ");
    CHECK(to_base36(UINT64_MAX) == "3W5E11264SGSF");
}

TEST_CASE("ids: Message-ID is base36 milliseconds, base36 random, hostname", "[ids]") {
    const FakeClock clock(1'700'000'000'123'456);  // 1700000000123 ms
    FixedRandom random(0xDEADBEEFCAFEF00D);
    CHECK(make_message_id(clock, random, "mx.example.org")
          == "<LOYW3V5N.3DWOAQSH0XFD9@mx.example.org>");
}

TEST_CASE("ids: RFC 5322 date in UTC", "[ids]") {
    const ScopedTimeZone zone("UTC0");
    CHECK(format_rfc5322_date(1'795'876'331 * kSecond) == "Sat, 28 Nov 2026 14:32:11 +0000");
    CHECK(format_rfc5322_date(0) == "Thu, 1 Jan 1970 00:00:00 +0000");
}

TEST_CASE("ids: RFC 5322 date drops microseconds and handles times before 1970", "[ids]") {
    const ScopedTimeZone zone("UTC0");
    CHECK(format_rfc5322_date(999'999) == "Thu, 1 Jan 1970 00:00:00 +0000");
    CHECK(format_rfc5322_date(-1) == "Wed, 31 Dec 1969 23:59:59 +0000");
}

TEST_CASE("ids: RFC 5322 date uses the local zone offset", "[ids]") {
    {
        const ScopedTimeZone zone("CET-1");  // POSIX: one hour east of UTC, no DST
        CHECK(format_rfc5322_date(1'795'876'331 * kSecond) == "Sat, 28 Nov 2026 15:32:11 +0100");
    }
    {
        const ScopedTimeZone zone("NST3:30");  // three and a half hours west of UTC
        CHECK(format_rfc5322_date(1'795'876'331 * kSecond) == "Sat, 28 Nov 2026 11:02:11 -0330");
    }
}

TEST_CASE("ids: RFC 5322 date follows daylight saving time", "[ids]") {
    const ScopedTimeZone zone("CET-1CEST,M3.5.0,M10.5.0/3");
    CHECK(format_rfc5322_date(1'783'155'907 * kSecond) == "Sat, 4 Jul 2026 11:05:07 +0200");
    CHECK(format_rfc5322_date(1'795'876'331 * kSecond) == "Sat, 28 Nov 2026 15:32:11 +0100");
}

TEST_CASE("ids: SystemClock agrees with std::chrono::system_clock", "[ids]") {
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    using std::chrono::system_clock;
    const labmta::common::SystemClock clock;
    const auto before = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
    const std::int64_t now = clock.now_us();
    const auto after = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
    CHECK(before <= now);
    CHECK(now <= after);
}

TEST_CASE("ids: SystemRandom instances are seeded independently", "[ids]") {
    labmta::common::SystemRandom first;
    labmta::common::SystemRandom second;
    // Equal first outputs would mean a fixed seed; by chance it happens with p = 2^-64.
    CHECK(first.next_u64() != second.next_u64());
    const std::uint64_t a = first.next_u64();
    const std::uint64_t b = first.next_u64();
    CHECK(a != b);
}
