// SpillFile (an unnamed file for a message in progress) and copy_file_part (kernel copy with a
// pread/write fallback), on real temp directories: contents, sizes, offsets, and that nothing
// with a name is left in the spill directory.
#include "spool/spill_file.h"

#include "spool/file_util.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <system_error>

namespace {

using labmta::spool::copy_file_part;
using labmta::spool::open_file;
using labmta::spool::SpillFile;
using labmta::spool::UniqueFd;
using labmta::test::list_files;
using labmta::test::read_text_file;
using labmta::test::TempDir;
using labmta::test::write_text_file;

// Every byte value, over and over: shows any shifted or dropped byte.
std::string pattern_text(std::size_t size) {
    std::string text(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        text[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
    }
    return text;
}

// The whole content of fd, read with pread from offset 0 (the fd's own offset is untouched).
std::string pread_all(int fd) {
    std::string out;
    char buffer[65536];
    off_t offset = 0;
    while (true) {
        const ssize_t got = ::pread(fd, buffer, sizeof buffer, offset);
        REQUIRE(got >= 0);
        if (got == 0) {
            return out;
        }
        out.append(buffer, static_cast<std::size_t>(got));
        offset += got;
    }
}

// A file with content, opened for reading.
UniqueFd open_with(const std::string& path, const std::string& content) {
    write_text_file(path, content);
    std::error_code error;
    UniqueFd fd = open_file(path, O_RDONLY, 0, error);
    REQUIRE_FALSE(error);
    return fd;
}

UniqueFd create_output(const std::string& path) {
    std::error_code error;
    UniqueFd fd = open_file(path, O_WRONLY | O_CREAT | O_EXCL, 0600, error);
    REQUIRE_FALSE(error);
    return fd;
}

bool is_directory(const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

}  // namespace

TEST_CASE("spill_file: create gives an open, empty file that has no name in dir", "[spill_file]") {
    TempDir dir;
    std::error_code error;
    const SpillFile file = SpillFile::create(dir.path(), error);
    REQUIRE_FALSE(error);
    REQUIRE(file.is_open());
    CHECK(file.fd() >= 0);
    CHECK(file.size() == 0);
    CHECK(pread_all(file.fd()).empty());
    CHECK(list_files(dir.path()).empty());
    struct stat info {};
    REQUIRE(::fstat(file.fd(), &info) == 0);
    CHECK(info.st_nlink == 0);  // unlinked (or O_TMPFILE): a dropped session leaves nothing
    CHECK((info.st_mode & 0777) == 0600);
}

TEST_CASE("spill_file: append adds the bytes in order and counts them", "[spill_file]") {
    TempDir dir;
    std::error_code error;
    SpillFile file = SpillFile::create(dir.path(), error);
    REQUIRE(file.is_open());
    const std::string big = pattern_text(300000);
    CHECK_FALSE(file.append("Subject: x\n\n"));
    CHECK_FALSE(file.append(""));
    CHECK_FALSE(file.append(big));
    CHECK_FALSE(file.append(std::string_view("a\0b\n", 4)));
    CHECK(file.size() == 12 + big.size() + 4);
    CHECK(pread_all(file.fd()) == "Subject: x\n\n" + big + std::string("a\0b\n", 4));
    CHECK(list_files(dir.path()).empty());
}

TEST_CASE("spill_file: two spill files in one dir are independent", "[spill_file]") {
    TempDir dir;
    std::error_code error;
    SpillFile first = SpillFile::create(dir.path(), error);
    REQUIRE_FALSE(error);
    SpillFile second = SpillFile::create(dir.path(), error);
    REQUIRE_FALSE(error);
    REQUIRE(first.fd() != second.fd());
    CHECK_FALSE(first.append("first\n"));
    CHECK_FALSE(second.append("second message\n"));
    CHECK(pread_all(first.fd()) == "first\n");
    CHECK(pread_all(second.fd()) == "second message\n");
    CHECK(first.size() == 6);
    CHECK(second.size() == 15);
}

TEST_CASE("spill_file: a directory that does not exist gives an error and no file",
          "[spill_file]") {
    TempDir dir;
    std::error_code error;
    const SpillFile file = SpillFile::create(dir / "missing", error);
    CHECK(error);
    CHECK_FALSE(file.is_open());
    CHECK(list_files(dir.path()).empty());
}

TEST_CASE("spill_file: a moved-from spill file is closed, the new owner keeps the data",
          "[spill_file]") {
    TempDir dir;
    std::error_code error;
    SpillFile file = SpillFile::create(dir.path(), error);
    REQUIRE(file.is_open());
    REQUIRE_FALSE(file.append("kept\n"));
    SpillFile owner = std::move(file);
    REQUIRE(owner.is_open());
    CHECK(owner.size() == 5);
    CHECK(pread_all(owner.fd()) == "kept\n");
}

TEST_CASE("copy_file_part: copies a range to the output's current offset", "[spill_file]") {
    TempDir dir;
    const std::string content = pattern_text(1 << 20);
    const UniqueFd in = open_with(dir / "in", content);
    UniqueFd out = create_output(dir / "out");
    REQUIRE_FALSE(labmta::spool::write_all(out.get(), "HEAD\n"));
    CHECK_FALSE(copy_file_part(in.get(), 1000, 500000, out.get()));
    CHECK_FALSE(copy_file_part(in.get(), 0, 10, out.get()));
    REQUIRE_FALSE(labmta::spool::write_all(out.get(), "TAIL\n"));
    REQUIRE_FALSE(out.close());
    CHECK(read_text_file(dir / "out")
          == "HEAD\n" + content.substr(1000, 500000) + content.substr(0, 10) + "TAIL\n");
    // The input's own offset is not moved: copies from it never disturb another reader.
    CHECK(::lseek(in.get(), 0, SEEK_CUR) == 0);
}

TEST_CASE("copy_file_part: a zero length copies nothing and succeeds", "[spill_file]") {
    TempDir dir;
    const UniqueFd in = open_with(dir / "in", "abc");
    UniqueFd out = create_output(dir / "out");
    CHECK_FALSE(copy_file_part(in.get(), 0, 0, out.get()));
    CHECK_FALSE(copy_file_part(in.get(), 3, 0, out.get()));
    REQUIRE_FALSE(out.close());
    CHECK(read_text_file(dir / "out").empty());
}

TEST_CASE("copy_file_part: a range past the end of the input is an error", "[spill_file]") {
    TempDir dir;
    const UniqueFd in = open_with(dir / "in", "0123456789");
    UniqueFd out = create_output(dir / "out");
    CHECK(copy_file_part(in.get(), 5, 6, out.get()));
    CHECK(copy_file_part(in.get(), 20, 1, out.get()));
}

TEST_CASE("copy_file_part: a bad descriptor is an error, not a crash", "[spill_file]") {
    TempDir dir;
    const UniqueFd in = open_with(dir / "in", "0123456789");
    UniqueFd out = create_output(dir / "out");
    CHECK(copy_file_part(-1, 0, 5, out.get()));
    CHECK(copy_file_part(in.get(), 0, 5, -1));
}

TEST_CASE("copy_file_part: from a spill file into a queue-like file", "[spill_file]") {
    TempDir dir;
    std::error_code error;
    SpillFile spill = SpillFile::create(dir.path(), error);
    REQUIRE(spill.is_open());
    const std::string body = pattern_text(200000);
    REQUIRE_FALSE(spill.append(body));
    UniqueFd out = create_output(dir / "queued");
    REQUIRE_FALSE(labmta::spool::write_all(out.get(), "envelope\n\n"));
    CHECK_FALSE(copy_file_part(spill.fd(), 0, spill.size(), out.get()));
    REQUIRE_FALSE(out.close());
    CHECK(read_text_file(dir / "queued") == "envelope\n\n" + body);
}

TEST_CASE("copy_file_part: across file systems the pread/write fallback copies the same bytes",
          "[spill_file]") {
    // /tmp and /dev/shm (tmpfs) are different file systems on the test hosts, where
    // copy_file_range says EXDEV.
    if (!is_directory("/dev/shm")) {
        WARN("no /dev/shm: the cross-file-system fallback is not exercised");
        return;
    }
    TempDir dir;
    const std::string content = pattern_text(200003);  // more than one 64 KiB buffer, odd size
    const UniqueFd in = open_with(dir / "in", content);
    const std::string out_path = "/dev/shm/labmta-spill-test." + std::to_string(::getpid());
    ::unlink(out_path.c_str());
    UniqueFd out = create_output(out_path);
    REQUIRE_FALSE(labmta::spool::write_all(out.get(), "H"));
    const std::error_code copy_error = copy_file_part(in.get(), 3, content.size() - 3, out.get());
    REQUIRE_FALSE(out.close());
    std::string copied;
    const std::error_code read_error = labmta::spool::read_file(out_path, copied);
    ::unlink(out_path.c_str());
    CHECK_FALSE(copy_error);
    REQUIRE_FALSE(read_error);
    CHECK(copied == "H" + content.substr(3));
}
