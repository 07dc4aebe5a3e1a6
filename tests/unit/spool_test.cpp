// Spool on a real temp directory: folder creation, crash-safe commit (nothing in incoming/ and
// no tmp file when a step fails), ID retry, listing, load, in-place marks and removal.
#include "spool/spool.h"

#include "common/ids.h"
#include "common/startup_error.h"
#include "tests/support/spool_fixture.h"

#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using labmta::spool::QueueFile;
using labmta::spool::Spool;
using labmta::test::FakeClock;
using labmta::test::FixedRandom;
using labmta::test::kArrivalUs;
using labmta::test::TempDir;
using Fixture = labmta::test::SpoolFixture;

std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
        names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

QueueFile sample_file() {
    return labmta::test::make_queue_file({"student@domain.local", "other@domain.local"},
                                         "SUBJECT: Test msg\n\nHello,\n");
}

// The IDs a generator built on the same fakes will hand out, in order.
std::vector<std::string> predicted_ids(std::size_t count) {
    FakeClock clock(kArrivalUs);
    FixedRandom random(7);
    labmta::common::QueueIdGenerator ids(clock, random);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(ids.next());
    }
    return out;
}

// Lowers RLIMIT_FSIZE for the scope so that writes past max_bytes fail with EFBIG.
class FileSizeLimit {
public:
    explicit FileSizeLimit(rlim_t max_bytes) {
        ::getrlimit(RLIMIT_FSIZE, &saved_);
        old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
        rlimit limit = saved_;
        limit.rlim_cur = max_bytes;
        ::setrlimit(RLIMIT_FSIZE, &limit);
    }
    FileSizeLimit(const FileSizeLimit&) = delete;
    FileSizeLimit& operator=(const FileSizeLimit&) = delete;
    ~FileSizeLimit() {
        ::setrlimit(RLIMIT_FSIZE, &saved_);
        std::signal(SIGXFSZ, old_handler_);
    }

private:
    rlimit saved_{};
    void (*old_handler_)(int) = nullptr;
};

}  // namespace

TEST_CASE("spool: constructor creates the folders with mode 0700", "[spool]") {
    TempDir temp;
    const std::string root = temp / "a/b/spool";
    const Spool spool(root);
    CHECK(spool.root() == root);
    CHECK(spool.mailboxes_dir() == root + "/mailboxes");
    for (const std::string& dir : {root, root + "/tmp", root + "/incoming", root + "/mailboxes"}) {
        struct stat info {};
        REQUIRE(::stat(dir.c_str(), &info) == 0);
        CHECK(S_ISDIR(info.st_mode));
        CHECK((info.st_mode & 0777) == 0700);
    }
    // Opening an existing spool again is fine.
    CHECK_NOTHROW(Spool(root));
}

TEST_CASE("spool: constructor refuses a root that is a file", "[spool]") {
    TempDir temp;
    write_text(temp / "spool", "not a directory");
    CHECK_THROWS_AS(Spool(temp / "spool"), labmta::StartupError);
    CHECK_THROWS_WITH(Spool(temp / "spool"), Catch::Contains(temp / "spool"));
}

TEST_CASE("spool: constructor refuses a spool whose incoming/ is a file", "[spool]") {
    TempDir temp;
    fs::create_directory(temp / "spool");
    write_text(temp / "spool/incoming", "");
    CHECK_THROWS_WITH(Spool(temp / "spool"), Catch::Contains("incoming"));
}

TEST_CASE("spool: constructor refuses a root that cannot be created", "[spool]") {
    CHECK_THROWS_AS(Spool("/proc/labmta-spool-test"), labmta::StartupError);
    CHECK_THROWS_AS(Spool(""), labmta::StartupError);
}

TEST_CASE("spool: constructor refuses a root that is not writable", "[spool]") {
    if (::geteuid() == 0) {
        WARN("running as root: permission bits do not stop root, skipping");
        return;
    }
    TempDir temp;
    fs::create_directory(temp / "spool");
    ::chmod((temp / "spool").c_str(), 0500);
    CHECK_THROWS_WITH(Spool(temp / "spool"), Catch::Contains("spool"));
    ::chmod((temp / "spool").c_str(), 0700);
}

TEST_CASE("spool: commit writes one complete file into incoming/ and nothing in tmp/", "[spool]") {
    Fixture f;
    const auto result = f.spool.commit(sample_file(), f.ids);
    REQUIRE_FALSE(result.error);
    CHECK(result.queue_id == predicted_ids(1)[0]);
    CHECK(labmta::common::is_valid_queue_id(result.queue_id));
    CHECK(names_in(f.root + "/incoming") == std::vector<std::string>{result.queue_id});
    CHECK(names_in(f.root + "/tmp").empty());

    QueueFile expected = sample_file();
    expected.queue_id = result.queue_id;
    const std::string path = f.root + "/incoming/" + result.queue_id;
    CHECK(read_text(path) == labmta::spool::serialize_queue_file(expected));
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);

    std::error_code error;
    const auto loaded = f.spool.load(result.queue_id, error);
    REQUIRE(loaded);
    CHECK_FALSE(error);
    CHECK(loaded->queue_id == result.queue_id);
    CHECK(loaded->message == expected.message);
    CHECK(loaded->envelope.recipients == expected.envelope.recipients);
}

TEST_CASE("spool: two commits get two different IDs", "[spool]") {
    Fixture f;
    const auto first = f.spool.commit(sample_file(), f.ids);
    const auto second = f.spool.commit(sample_file(), f.ids);
    REQUIRE_FALSE(first.error);
    REQUIRE_FALSE(second.error);
    CHECK(first.queue_id != second.queue_id);
    CHECK(f.spool.list_queue() == std::vector<std::string>{first.queue_id, second.queue_id});
}

TEST_CASE("spool: commit retries with a new ID when tmp/<ID> exists", "[spool]") {
    Fixture f;
    const auto expected = predicted_ids(2);
    write_text(f.root + "/tmp/" + expected[0], "someone else's file");
    const auto result = f.spool.commit(sample_file(), f.ids);
    REQUIRE_FALSE(result.error);
    CHECK(result.queue_id == expected[1]);
    CHECK(names_in(f.root + "/incoming") == std::vector<std::string>{expected[1]});
    // The other writer's file is left alone.
    CHECK(names_in(f.root + "/tmp") == std::vector<std::string>{expected[0]});
    CHECK(read_text(f.root + "/tmp/" + expected[0]) == "someone else's file");
}

TEST_CASE("spool: commit retries with a new ID when incoming/<ID> exists", "[spool]") {
    Fixture f;
    const auto expected = predicted_ids(2);
    write_text(f.root + "/incoming/" + expected[0], "an older message");
    const auto result = f.spool.commit(sample_file(), f.ids);
    REQUIRE_FALSE(result.error);
    CHECK(result.queue_id == expected[1]);
    CHECK(read_text(f.root + "/incoming/" + expected[0]) == "an older message");
    CHECK(names_in(f.root + "/tmp").empty());
}

TEST_CASE("spool: a failed rename leaves nothing in incoming/ and no tmp file", "[spool]") {
    Fixture f;
    // Root can write anywhere, so make the rename itself impossible: incoming/ is now a file.
    fs::remove(f.root + "/incoming");
    write_text(f.root + "/incoming", "");
    const auto result = f.spool.commit(sample_file(), f.ids);
    CHECK(result.error == std::errc::not_a_directory);
    CHECK(result.queue_id.empty());
    CHECK(names_in(f.root + "/tmp").empty());
    CHECK(fs::is_regular_file(f.root + "/incoming"));
    CHECK(fs::file_size(f.root + "/incoming") == 0);
}

TEST_CASE("spool: a rename across file systems fails cleanly", "[spool]") {
    Fixture f;
    const std::string shm_dir = "/dev/shm/labmta-spool-test-" + std::to_string(::getpid());
    struct stat tmp_info {};
    struct stat shm_info {};
    if (::stat(f.root.c_str(), &tmp_info) != 0 || ::stat("/dev/shm", &shm_info) != 0
        || tmp_info.st_dev == shm_info.st_dev) {
        WARN("no second file system at /dev/shm, skipping");
        return;
    }
    fs::create_directory(shm_dir);
    fs::remove(f.root + "/incoming");
    fs::create_directory_symlink(shm_dir, f.root + "/incoming");
    const auto result = f.spool.commit(sample_file(), f.ids);
    CHECK(result.error == std::errc::cross_device_link);
    CHECK(names_in(shm_dir).empty());
    CHECK(names_in(f.root + "/tmp").empty());
    fs::remove_all(shm_dir);
}

TEST_CASE("spool: a failed write leaves nothing in incoming/ and no tmp file", "[spool]") {
    Fixture f;
    QueueFile big = sample_file();
    big.message = std::string(100000, 'x') + "\n";
    labmta::spool::CommitResult result;
    {
        const FileSizeLimit limit(4096);  // the write stops after 4096 bytes with EFBIG
        result = f.spool.commit(big, f.ids);
    }
    CHECK(result.error == std::errc::file_too_large);
    CHECK(names_in(f.root + "/incoming").empty());
    CHECK(names_in(f.root + "/tmp").empty());
}

TEST_CASE("spool: a missing tmp/ makes commit fail without queueing", "[spool]") {
    Fixture f;
    fs::remove(f.root + "/tmp");
    const auto result = f.spool.commit(sample_file(), f.ids);
    CHECK(result.error == std::errc::no_such_file_or_directory);
    CHECK(names_in(f.root + "/incoming").empty());
}

TEST_CASE("spool: list_queue is sorted oldest first and skips junk", "[spool]") {
    Fixture f;
    const std::string incoming = f.root + "/incoming/";
    for (const std::string name : {"0193A5C2F10B",
                                   "0193A5C2F10A",
                                   "0000000000FF",
                                   "1000000000000",
                                   "README",
                                   "0193a5c2f10c",
                                   ".0193A5C2F10D",
                                   "12AB",
                                   "0193A5C2F10E.tmp"}) {
        write_text(incoming + name, "x");
    }
    fs::create_directory(incoming + "0193A5C2F10F");
    CHECK(f.spool.list_queue()
          == std::vector<std::string>{
              "0000000000FF", "0193A5C2F10A", "0193A5C2F10B", "1000000000000"});
}

TEST_CASE("spool: list_queue of an empty spool is empty", "[spool]") {
    Fixture f;
    CHECK(f.spool.list_queue().empty());
}

TEST_CASE("spool: mark_delivered changes only that status word", "[spool]") {
    Fixture f;
    const auto committed = f.spool.commit(sample_file(), f.ids);
    REQUIRE_FALSE(committed.error);
    const std::string path = f.root + "/incoming/" + committed.queue_id;
    const std::string before = read_text(path);

    REQUIRE_FALSE(f.spool.mark_delivered(committed.queue_id, 1));
    const std::string after = read_text(path);
    REQUIRE(after.size() == before.size());
    std::string expected = before;
    expected.replace(expected.find("recipient: todo other@"), 15, "recipient: done");
    CHECK(after == expected);

    std::error_code error;
    const auto loaded = f.spool.load(committed.queue_id, error);
    REQUIRE(loaded);
    CHECK(loaded->delivered == std::vector<bool>{false, true});

    // Marking again is harmless; an index past the recipients is an error.
    CHECK_FALSE(f.spool.mark_delivered(committed.queue_id, 1));
    CHECK(f.spool.mark_delivered(committed.queue_id, 2) == std::errc::invalid_argument);
    CHECK(read_text(path) == expected);
}

TEST_CASE("spool: remove deletes the queue file", "[spool]") {
    Fixture f;
    const auto committed = f.spool.commit(sample_file(), f.ids);
    REQUIRE_FALSE(committed.error);
    CHECK_FALSE(f.spool.remove(committed.queue_id));
    CHECK(names_in(f.root + "/incoming").empty());
    CHECK(f.spool.list_queue().empty());
    CHECK(f.spool.remove(committed.queue_id) == std::errc::no_such_file_or_directory);
    std::error_code error;
    CHECK_FALSE(f.spool.load(committed.queue_id, error));
    CHECK(error == std::errc::no_such_file_or_directory);
}

TEST_CASE("spool: an ID that is not a queue ID never becomes a path", "[spool]") {
    Fixture f;
    write_text(f.temp / "victim", "keep me");
    const std::string traversal = "../../victim";
    std::error_code error;
    CHECK_FALSE(f.spool.load(traversal, error));
    CHECK(error == std::errc::invalid_argument);
    CHECK(f.spool.mark_delivered(traversal, 0) == std::errc::invalid_argument);
    CHECK(f.spool.remove(traversal) == std::errc::invalid_argument);
    CHECK(f.spool.remove("") == std::errc::invalid_argument);
    CHECK(read_text(f.temp / "victim") == "keep me");
}

TEST_CASE("spool: load refuses a corrupt file or one that names another ID", "[spool]") {
    Fixture f;
    write_text(f.root + "/incoming/0193A5C2F10A", "version: 1\ngarbage\n\nbody\n");
    std::error_code error;
    CHECK_FALSE(f.spool.load("0193A5C2F10A", error));
    CHECK(error == std::errc::bad_message);

    QueueFile other = sample_file();
    other.queue_id = "0193A5C2F10B";
    write_text(f.root + "/incoming/0193A5C2F10C", labmta::spool::serialize_queue_file(other));
    error.clear();
    CHECK_FALSE(f.spool.load("0193A5C2F10C", error));
    CHECK(error == std::errc::bad_message);
}

TEST_CASE("spool: commit with a builder builds once, for the ID it claimed", "[spool]") {
    Fixture f;
    const auto expected = predicted_ids(2);
    write_text(f.root + "/tmp/" + expected[0], "taken");
    std::vector<std::string> calls;
    const auto result = f.spool.commit(f.ids, [&](const std::string& queue_id) {
        calls.push_back(queue_id);
        QueueFile file = sample_file();
        file.queue_id = "IGNORED";
        file.message = "Received: by me id " + queue_id + "\n\nbody\n";
        return file;
    });
    REQUIRE_FALSE(result.error);
    CHECK(calls == std::vector<std::string>{expected[1]});
    CHECK(result.queue_id == expected[1]);
    std::error_code error;
    const auto loaded = f.spool.load(result.queue_id, error);
    REQUIRE(loaded);
    CHECK(loaded->queue_id == expected[1]);
    CHECK(loaded->message == "Received: by me id " + expected[1] + "\n\nbody\n");
}

TEST_CASE("spool: a builder that throws leaves no tmp file", "[spool]") {
    Fixture f;
    CHECK_THROWS_AS(f.spool.commit(f.ids,
                                   [](const std::string&) -> QueueFile {
                                       throw std::runtime_error("out of memory, say");
                                   }),
                    std::runtime_error);
    CHECK(names_in(f.root + "/tmp").empty());
    CHECK(names_in(f.root + "/incoming").empty());
}

TEST_CASE("spool: mark_delivered works whatever the header and message sizes", "[spool]") {
    // The header's blank line at every offset around the 64 KiB read chunk, and a message
    // larger than a chunk that contains lines looking like recipients.
    for (const std::size_t blank_at : {65534u, 65535u, 65536u, 65537u}) {
        INFO(blank_at);
        Fixture f;
        QueueFile file = sample_file();
        file.message = "x\n" + std::string(200000, 'm') + "\nrecipient: todo fake@x\n";
        const auto probe = f.spool.commit(file, f.ids);
        REQUIRE_FALSE(probe.error);
        const std::string probe_text = read_text(f.root + "/incoming/" + probe.queue_id);
        const std::size_t base = probe_text.find("\n\n");
        REQUIRE(base < blank_at);
        file.envelope.helo += std::string(blank_at - base, 'h');
        const auto committed = f.spool.commit(file, f.ids);
        REQUIRE_FALSE(committed.error);
        const std::string path = f.root + "/incoming/" + committed.queue_id;
        REQUIRE(read_text(path).find("\n\n") == blank_at);

        REQUIRE_FALSE(f.spool.mark_delivered(committed.queue_id, 1));
        CHECK(f.spool.mark_delivered(committed.queue_id, 2) == std::errc::invalid_argument);
        std::error_code error;
        const auto loaded = f.spool.load(committed.queue_id, error);
        REQUIRE(loaded);
        CHECK(loaded->delivered == std::vector<bool>{false, true});
        CHECK(loaded->message == file.message);
    }
}

TEST_CASE("spool: the server lock is exclusive and clears what a crash left in tmp/", "[spool]") {
    // Found by the kill -9 test: half-written queue files piled up in tmp/ across crashes.
    TempDir temp;
    const std::string root = temp / "spool";
    {
        const Spool crashed(root);
        write_text(root + "/tmp/0193A5C2F10A", "half a queue file");
    }
    Spool server(root);
    server.lock_for_server();
    CHECK_FALSE(std::filesystem::exists(root + "/tmp/0193A5C2F10A"));
    CHECK(std::filesystem::exists(root + "/tmp"));
    // flock() locks are per open file: a second lock attempt, even in this process, fails.
    Spool second(root);
    CHECK_THROWS_AS(second.lock_for_server(), labmta::StartupError);
    CHECK_THROWS_WITH(second.lock_for_server(), Catch::Contains("is in use by another labmta"));
}

TEST_CASE("spool: has_room follows Postfix's queue_minfree and 'SIZE < free / 2' rule", "[spool]") {
    using labmta::spool::has_room;
    CHECK(has_room(1000, 0, 0));
    CHECK_FALSE(has_room(0, 0, 0));  // a full file system: nothing fits
    CHECK(has_room(1000, 0, 499));
    CHECK_FALSE(has_room(1000, 0, 500));   // half of the free space is too much
    CHECK_FALSE(has_room(1000, 1000, 0));  // at queue.min_free: refused
    CHECK(has_room(1001, 1000, 0));
    CHECK(has_room(10000, 1000, 4999));
    CHECK_FALSE(has_room(10000, 9000, 1000));  // does not fit above queue.min_free
    CHECK_FALSE(has_room(500, 1000, 0));       // below queue.min_free
}

TEST_CASE("spool: free_bytes reports the file system's free space", "[spool]") {
    const TempDir dir;
    const Spool spool(dir / "spool");
    std::error_code error;
    const std::uint64_t free_bytes = spool.free_bytes(error);
    CHECK_FALSE(error);
    // Others may write to the same file system meanwhile: equal within 64 MiB.
    const std::uint64_t expected = std::filesystem::space(dir.path()).available;
    CHECK(free_bytes > 0);
    CHECK((free_bytes > expected ? free_bytes - expected : expected - free_bytes) < (64U << 20));
}
