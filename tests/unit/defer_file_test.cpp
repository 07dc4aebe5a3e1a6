// defer/<ID> files: the exact text format, strict parsing, and the atomic write/read/remove on
// a temp spool (mode 0700 folder, no tmp file left, old file kept when a write fails).
#include "spool/defer_file.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using labmta::spool::DeferInfo;
using labmta::spool::parse_defer_info;
using labmta::spool::read_defer_info;
using labmta::spool::remove_defer_info;
using labmta::spool::serialize_defer_info;
using labmta::spool::write_defer_info;
using labmta::test::TempDir;

constexpr const char* kId = "1A2B3C4D5E2A";

DeferInfo sample_info() {
    DeferInfo info;
    info.attempts = 3;
    info.next_attempt_us = 1795877531000000;
    info.recipients = {
        {"jowadev@gmail.com", "4.4.1", "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused"},
        {"david.backoffice@gmail.com", "4.2.2", "452 4.2.2 Mailbox full"},
    };
    return info;
}

constexpr const char* kSampleText =
    "attempts: 3\n"
    "next-attempt: 1795877531000000\n"
    "recipient: 4.4.1 jowadev@gmail.com connect to 127.0.0.1[127.0.0.1]:2525: Connection refused\n"
    "recipient: 4.2.2 david.backoffice@gmail.com 452 4.2.2 Mailbox full\n";

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

bool same(const DeferInfo& a, const DeferInfo& b) {
    if (a.attempts != b.attempts || a.next_attempt_us != b.next_attempt_us
        || a.recipients.size() != b.recipients.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.recipients.size(); ++i) {
        const auto& x = a.recipients[i];
        const auto& y = b.recipients[i];
        if (x.address != y.address || x.dsn != y.dsn || x.reason != y.reason) {
            return false;
        }
    }
    return true;
}

TEST_CASE("defer_file: serialize writes the documented text", "[defer_file]") {
    CHECK(serialize_defer_info(sample_info()) == kSampleText);
}

TEST_CASE("defer_file: parse reads the documented text", "[defer_file]") {
    const auto info = parse_defer_info(kSampleText);
    REQUIRE(info);
    CHECK(same(*info, sample_info()));
}

TEST_CASE("defer_file: no recipients is still a valid file", "[defer_file]") {
    DeferInfo info;
    info.attempts = 1;
    info.next_attempt_us = 5;
    CHECK(serialize_defer_info(info) == "attempts: 1\nnext-attempt: 5\n");
    const auto parsed = parse_defer_info("attempts: 1\nnext-attempt: 5\n");
    REQUIRE(parsed);
    CHECK(same(*parsed, info));
}

TEST_CASE("defer_file: CR and LF in the reason become spaces", "[defer_file]") {
    DeferInfo info;
    info.recipients = {{"a@b.test", "4.0.0", "451-first\r\n451 second\nrecipient: 2.0.0 x@y ok"}};
    const std::string text = serialize_defer_info(info);
    CHECK(text
          == "attempts: 0\nnext-attempt: 0\n"
             "recipient: 4.0.0 a@b.test 451-first  451 second recipient: 2.0.0 x@y ok\n");
    const auto parsed = parse_defer_info(text);
    REQUIRE(parsed);
    REQUIRE(parsed->recipients.size() == 1);
    CHECK(parsed->recipients[0].reason == "451-first  451 second recipient: 2.0.0 x@y ok");
}

TEST_CASE("defer_file: spaces and % in an address or dsn survive the round trip", "[defer_file]") {
    DeferInfo info;
    info.recipients = {{"\"john doe\"@x.test", "4.0.0", "busy"},
                       {"a%b@x.test", "4 4 1", ""},
                       {"", "", "empty address"}};
    const std::string text = serialize_defer_info(info);
    CHECK(text.find("recipient: 4.0.0 \"john%20doe\"@x.test busy\n") != std::string::npos);
    CHECK(text.find("recipient: 4%204%201 a%25b@x.test\n") != std::string::npos);
    const auto parsed = parse_defer_info(text);
    REQUIRE(parsed);
    CHECK(same(*parsed, info));
}

TEST_CASE("defer_file: parse refuses anything serialize would not write", "[defer_file]") {
    const char* bad[] = {
        "",
        "attempts: 1\n",
        "attempts: 1\nnext-attempt: 5",
        "next-attempt: 5\nattempts: 1\n",
        "attempts: -1\nnext-attempt: 5\n",
        "attempts: 1\nnext-attempt: -5\n",
        "attempts: x\nnext-attempt: 5\n",
        "attempts: 1 \nnext-attempt: 5\n",
        "attempts: 99999999999\nnext-attempt: 5\n",
        "attempts: 1\nnext-attempt: 5\nrecipient: 4.0.0\n",
        "attempts: 1\nnext-attempt: 5\nrecipient: 4.0.0 a%2@b reason\n",
        "attempts: 1\nnext-attempt: 5\nrecipient: 4.0.0 a%zz@b reason\n",
        "attempts: 1\nnext-attempt: 5\nsomething: else\n",
        "attempts: 1\nnext-attempt: 5\nattempts: 2\n",
    };
    for (const char* text : bad) {
        INFO(text);
        CHECK_FALSE(parse_defer_info(text));
    }
}

TEST_CASE("defer_file: write creates defer/ 0700 and the file, leaves no tmp file",
          "[defer_file]") {
    TempDir dir;
    const std::string root = dir.path();
    REQUIRE_FALSE(write_defer_info(root, kId, sample_info()));
    CHECK(read_text(root + "/defer/" + kId) == kSampleText);
    struct stat info {};
    REQUIRE(::stat((root + "/defer").c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0700);
    REQUIRE(::stat((root + "/defer/" + kId).c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    CHECK(fs::is_empty(root + "/tmp"));
}

TEST_CASE("defer_file: read returns what write stored, a rewrite replaces it", "[defer_file]") {
    TempDir dir;
    REQUIRE_FALSE(write_defer_info(dir.path(), kId, sample_info()));
    auto read = read_defer_info(dir.path(), kId);
    REQUIRE(read);
    CHECK(same(*read, sample_info()));

    DeferInfo next = sample_info();
    next.attempts = 4;
    next.recipients.pop_back();
    REQUIRE_FALSE(write_defer_info(dir.path(), kId, next));
    read = read_defer_info(dir.path(), kId);
    REQUIRE(read);
    CHECK(same(*read, next));
    CHECK(fs::is_empty(dir / "tmp"));
}

TEST_CASE("defer_file: read of a missing or corrupt file is nullopt", "[defer_file]") {
    TempDir dir;
    CHECK_FALSE(read_defer_info(dir.path(), kId));
    fs::create_directory(dir / "defer");
    std::ofstream(dir / (std::string("defer/") + kId)) << "garbage\n";
    CHECK_FALSE(read_defer_info(dir.path(), kId));
}

TEST_CASE("defer_file: remove deletes the file, and a missing file is fine", "[defer_file]") {
    TempDir dir;
    REQUIRE_FALSE(write_defer_info(dir.path(), kId, sample_info()));
    CHECK_FALSE(remove_defer_info(dir.path(), kId));
    CHECK_FALSE(fs::exists(dir / (std::string("defer/") + kId)));
    CHECK_FALSE(read_defer_info(dir.path(), kId));
    CHECK_FALSE(remove_defer_info(dir.path(), kId));
}

TEST_CASE("defer_file: an invalid queue ID never becomes a path", "[defer_file]") {
    TempDir dir;
    const char* bad_ids[] = {"../escape", "", "1a2b3c4d5e2a", "1A2B3C4D5E2A/x", "DEFER.1A2B"};
    for (const char* id : bad_ids) {
        INFO(id);
        CHECK(write_defer_info(dir.path(), id, sample_info()) == std::errc::invalid_argument);
        CHECK(remove_defer_info(dir.path(), id) == std::errc::invalid_argument);
        CHECK_FALSE(read_defer_info(dir.path(), id));
    }
    CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("defer_file: a failed write keeps the old file", "[defer_file]") {
    TempDir dir;
    REQUIRE_FALSE(write_defer_info(dir.path(), kId, sample_info()));
    // No tmp file can be created when tmp/ is not a directory.
    fs::remove(dir / "tmp");
    std::ofstream(dir / "tmp") << "not a folder";
    DeferInfo next = sample_info();
    next.attempts = 9;
    CHECK(write_defer_info(dir.path(), kId, next));
    CHECK(read_text(dir / (std::string("defer/") + kId)) == kSampleText);
}

TEST_CASE("defer_file: a failed rename leaves no tmp file", "[defer_file]") {
    TempDir dir;
    // rename() cannot replace a non-empty directory (works even for root).
    fs::create_directories(dir / (std::string("defer/") + kId + "/x"));
    CHECK(write_defer_info(dir.path(), kId, sample_info()));
    CHECK(fs::is_empty(dir / "tmp"));
}

TEST_CASE("defer_file: defer/ that is not a directory is an error", "[defer_file]") {
    TempDir dir;
    std::ofstream(dir / "defer") << "not a folder";
    CHECK(write_defer_info(dir.path(), kId, sample_info()) == std::errc::not_a_directory);
}

}  // namespace
