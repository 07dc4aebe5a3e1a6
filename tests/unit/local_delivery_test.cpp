// Local delivery into Maildir on a real temp spool: file contents, one copy per recipient,
// remote recipients left pending, unsafe addresses never reaching the file system, retries
// after an I/O failure, and no second delivery after success.
#include "spool/local_delivery.h"

#include "common/address.h"
#include "spool/spool.h"
#include "tests/support/files.h"
#include "tests/support/spool_fixture.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using labmta::spool::deliver_local;
using labmta::spool::DeliveryStatus;
using labmta::spool::QueueFile;
using labmta::spool::Spool;
using labmta::test::kArrivalUs;
using labmta::test::make_queue_file;
const std::vector<std::string> kLocalDomains = {"domain.local"};
const std::string kMessage = "Received: x\nSUBJECT: Test msg\n\nHello,\n";

std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
        names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Every path under dir, relative to it, sorted.
std::vector<std::string> tree_of(const std::string& dir) {
    std::vector<std::string> paths;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        paths.push_back(fs::relative(entry.path(), dir).string());
    }
    std::sort(paths.begin(), paths.end());
    return paths;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

struct Fixture : labmta::test::SpoolFixture {
    Fixture() : SpoolFixture(3) {}

    std::string queue(std::vector<std::string> recipients,
                      std::string sender = "joiakim@domain.local") {
        return commit(make_queue_file(std::move(recipients), kMessage, std::move(sender)));
    }

    labmta::spool::LocalDeliveryReport deliver(const std::string& id) {
        return deliver_local(spool, id, kLocalDomains, "profbox.domain.local");
    }

    std::string maildir(const std::string& folder) const {
        return spool.mailboxes_dir() + "/" + folder;
    }
};

}  // namespace

TEST_CASE("local_delivery: maildir_unique_name has the documented shape", "[local_delivery]") {
    CHECK(labmta::spool::maildir_unique_name(
              1795876332000042, "0193A5C2F10A", 7, "profbox.domain.local")
          == "1795876332.M42Q0193A5C2F10AR7.profbox.domain.local");
    CHECK(labmta::spool::maildir_unique_name(1000000, "AB", 0, "a/b:c")
          == "1.M0QABR0.a\\057b\\072c");
    CHECK(labmta::spool::maildir_unique_name(1, "AB", 0, "h")
          != labmta::spool::maildir_unique_name(1, "AB", 1, "h"));
}

TEST_CASE("local_delivery: is_maildir_unique_name knows our names and no others",
          "[local_delivery]") {
    using labmta::spool::is_maildir_unique_name;
    using labmta::spool::maildir_unique_name;
    CHECK(is_maildir_unique_name(maildir_unique_name(1795876332000042, "0193A5C2F10A", 7, "h.x")));
    CHECK(is_maildir_unique_name(maildir_unique_name(1000000, "0193A5C2F10A", 0, "a/b:c")));
    CHECK_FALSE(is_maildir_unique_name("1795876332.M42Q0193A5C2F10AR7."));   // no host
    CHECK_FALSE(is_maildir_unique_name("1795876332.M42Q0193a5c2f10aR7.h"));  // not our IDs
    CHECK_FALSE(is_maildir_unique_name("1795876332.P1234Q5.profbox"));       // a reader's
    CHECK_FALSE(is_maildir_unique_name("1795876332.M42R7.profbox"));         // no queue ID
    CHECK_FALSE(is_maildir_unique_name("x1795876332.M42Q0193A5C2F10AR7.h"));
    CHECK_FALSE(is_maildir_unique_name(""));
}

TEST_CASE("local_delivery: a start removes the copies a crash left in tmp/, and nothing else",
          "[local_delivery]") {
    labmta::test::SpoolFixture f;
    const std::string box = f.spool.mailboxes_dir() + "/domain.local/student";
    for (const char* sub : {"/tmp", "/new", "/cur"}) {
        fs::create_directories(box + sub);
    }
    const std::string ours =
        labmta::spool::maildir_unique_name(kArrivalUs, "0193A5C2F10A", 0, "profbox.domain.local");
    const auto touch = [](const std::string& path) { std::ofstream(path) << "x\n"; };
    touch(box + "/tmp/" + ours + ".4242.0");  // written, never renamed: a killed delivery
    touch(box + "/tmp/" + ours + ".4242.17");
    touch(box + "/tmp/1795876332.P77Q3.profbox.domain.local");  // a mail reader's tmp/ file
    touch(box + "/tmp/" + ours);                                // no attempt suffix: not ours
    touch(box + "/new/" + ours);                                // delivered: never touched

    CHECK(labmta::spool::remove_crashed_maildir_copies(f.spool) == 2);
    CHECK(names_in(box + "/tmp")  // sorted
          == std::vector<std::string>{ours, "1795876332.P77Q3.profbox.domain.local"});
    CHECK(names_in(box + "/new") == std::vector<std::string>{ours});
    // No mailboxes at all is fine too.
    labmta::test::SpoolFixture empty;
    CHECK(labmta::spool::remove_crashed_maildir_copies(empty.spool) == 0);
}

TEST_CASE("regression: a copy that a crashed run put into new/ is not delivered again",
          "[local_delivery]") {
    // A kill between the Maildir rename and the queue update used to mean a second copy.
    Fixture f;
    const std::string id = f.queue({"student@domain.local", "joiakim@domain.local"});
    const std::string queue_path = f.spool.root() + "/incoming/" + id;
    const std::string before = labmta::test::read_text_file(queue_path);
    REQUIRE(f.deliver(id).removed);
    const auto first = labmta::test::list_files(f.maildir("domain.local/student/new"));
    REQUIRE(first.size() == 1);
    // The crash: the queue file is as it was before delivery (the unlink never happened), and
    // a tmp/ file of the killed attempt is left behind.
    labmta::test::write_text_file(queue_path, before);
    labmta::test::write_text_file(f.maildir("domain.local/student/tmp/") + first.front() + ".1.0",
                                  "partial");
    const auto report = f.deliver(id);
    REQUIRE(report.results.size() == 2);
    for (const auto& result : report.results) {
        CHECK(result.status == labmta::spool::DeliveryStatus::Sent);
    }
    CHECK(report.removed);
    CHECK(labmta::test::list_files(f.maildir("domain.local/student/new")) == first);
    CHECK(labmta::test::list_files(f.maildir("domain.local/joiakim/new")).size() == 1);
    CHECK(labmta::test::read_text_file(f.maildir("domain.local/student/new/") + first.front())
              .find("Delivered-To: student@domain.local")
          != std::string::npos);
}

TEST_CASE("local_delivery: the lab message lands in new/ with Return-Path and Delivered-To",
          "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"student@domain.local"});
    const auto report = f.deliver(id);
    CHECK_FALSE(report.load_error);
    CHECK(report.arrival_us == kArrivalUs);
    CHECK(report.sender == "joiakim@domain.local");
    REQUIRE(report.results.size() == 1);
    CHECK(report.results[0].recipient == "student@domain.local");
    CHECK(report.results[0].status == DeliveryStatus::Sent);
    CHECK(report.results[0].dsn == "2.0.0");
    CHECK(report.results[0].detail == "delivered to maildir");
    CHECK(report.removed);
    CHECK(f.spool.list_queue().empty());

    const std::string maildir = f.maildir("domain.local/student");
    CHECK(names_in(maildir) == std::vector<std::string>{"cur", "new", "tmp"});
    CHECK(names_in(maildir + "/tmp").empty());
    CHECK(names_in(maildir + "/cur").empty());
    const auto files = names_in(maildir + "/new");
    REQUIRE(files.size() == 1);
    CHECK(files[0] == "1795876331.M0Q" + id + "R0.profbox.domain.local");  // from kArrivalUs
    CHECK(read_text(maildir + "/new/" + files[0])
          == "Return-Path: <joiakim@domain.local>\nDelivered-To: student@domain.local\n"
                 + kMessage);
    CHECK((fs::status(maildir).permissions() & fs::perms::all) == fs::perms::owner_all);
}

TEST_CASE("local_delivery: domains and mailboxes are matched case-insensitively",
          "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"Student@DOMAIN.Local"}, "");
    const auto report = deliver_local(f.spool, id, {"Domain.LOCAL"}, "h");
    REQUIRE(report.results.size() == 1);
    CHECK(report.results[0].status == DeliveryStatus::Sent);
    const auto files = names_in(f.maildir("domain.local/student/new"));
    REQUIRE(files.size() == 1);
    CHECK(read_text(f.maildir("domain.local/student/new/") + files[0])
          == "Return-Path: <>\nDelivered-To: student@domain.local\n" + kMessage);
}

TEST_CASE("local_delivery: control bytes in the sender cannot add a header line",
          "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"student@domain.local"}, "a@b.c\rX-Evil:\t1");
    REQUIRE(f.deliver(id).removed);
    const auto files = names_in(f.maildir("domain.local/student/new"));
    REQUIRE(files.size() == 1);
    CHECK(read_text(f.maildir("domain.local/student/new/") + files[0])
          == "Return-Path: <a@b.c?X-Evil:?1>\nDelivered-To: student@domain.local\n" + kMessage);
}

TEST_CASE("local_delivery: two recipients get two files and the queue file goes",
          "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"student@domain.local", "prof@domain.local"});
    const auto report = f.deliver(id);
    REQUIRE(report.results.size() == 2);
    CHECK(report.results[0].status == DeliveryStatus::Sent);
    CHECK(report.results[1].status == DeliveryStatus::Sent);
    CHECK(report.removed);
    CHECK(names_in(f.root + "/incoming").empty());
    CHECK(names_in(f.maildir("domain.local/student/new")).size() == 1);
    const auto prof = names_in(f.maildir("domain.local/prof/new"));
    REQUIRE(prof.size() == 1);
    CHECK(
        read_text(f.maildir("domain.local/prof/new/") + prof[0])
            .starts_with("Return-Path: <joiakim@domain.local>\nDelivered-To: prof@domain.local\n"));
}

TEST_CASE("local_delivery: the same mailbox twice gets two distinct files", "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"student@domain.local", "STUDENT@domain.local"});
    const auto report = f.deliver(id);
    CHECK(report.removed);
    CHECK(names_in(f.maildir("domain.local/student/new")).size() == 2);
}

TEST_CASE("local_delivery: a remote recipient stays pending in the queue", "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"someone@gmail.com", "student@domain.local"});
    const auto report = f.deliver(id);
    REQUIRE(report.results.size() == 1);
    CHECK(report.results[0].recipient == "student@domain.local");
    CHECK(report.results[0].status == DeliveryStatus::Sent);
    CHECK_FALSE(report.removed);
    CHECK(f.spool.list_queue() == std::vector<std::string>{id});
    CHECK(names_in(f.maildir("domain.local/student/new")).size() == 1);
    CHECK(names_in(f.spool.mailboxes_dir()) == std::vector<std::string>{"domain.local"});

    std::error_code error;
    const auto file = f.spool.load(id, error);
    REQUIRE(file);
    CHECK(file->delivered == std::vector<bool>{false, true});

    // A second run delivers nothing more and keeps the remote recipient pending.
    const auto again = f.deliver(id);
    CHECK(again.results.empty());
    CHECK_FALSE(again.removed);
    CHECK(names_in(f.maildir("domain.local/student/new")).size() == 1);
    CHECK(f.spool.list_queue() == std::vector<std::string>{id});
}

TEST_CASE("local_delivery: running again after success does not deliver twice",
          "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"student@domain.local"});
    REQUIRE(f.deliver(id).removed);
    const auto again = f.deliver(id);
    CHECK(again.load_error == std::errc::no_such_file_or_directory);
    CHECK(again.results.empty());
    CHECK(names_in(f.maildir("domain.local/student/new")).size() == 1);
}

TEST_CASE("local_delivery: a recipient already marked done is not delivered again",
          "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"student@domain.local", "prof@domain.local"});
    REQUIRE_FALSE(f.spool.mark_delivered(id, 0));
    const auto report = f.deliver(id);
    REQUIRE(report.results.size() == 1);
    CHECK(report.results[0].recipient == "prof@domain.local");
    CHECK(report.removed);
    CHECK_FALSE(fs::exists(f.maildir("domain.local/student")));
}

TEST_CASE("local_delivery: unsafe addresses bounce and create nothing", "[local_delivery]") {
    Fixture f;
    // "../x" and ".hidden" fail address parsing; "a/b" parses ("/" is atext) but cannot be
    // a single folder name, so mailbox_folder refuses it.
    const auto slashed = labmta::common::parse_mailbox("a/b@domain.local");
    REQUIRE(slashed);
    CHECK_FALSE(labmta::common::mailbox_folder(*slashed));

    const std::vector<std::string> bad = {"../x@domain.local",
                                          ".hidden@domain.local",
                                          "a/b@domain.local",
                                          "../../../tmp/evil@domain.local"};
    const std::string id = f.queue(bad);
    const auto before = tree_of(f.temp.path());
    const auto report = f.deliver(id);
    REQUIRE(report.results.size() == bad.size());
    for (std::size_t i = 0; i < bad.size(); ++i) {
        INFO(bad[i]);
        CHECK(report.results[i].recipient == bad[i]);
        CHECK(report.results[i].status == DeliveryStatus::Bounced);
        CHECK(report.results[i].dsn == "5.1.3");
        CHECK(report.results[i].detail == "bad address syntax");
    }
    CHECK(report.removed);
    std::vector<std::string> expected = before;
    std::erase(expected, "spool/incoming/" + id);
    CHECK(tree_of(f.temp.path()) == expected);
    CHECK(names_in(f.spool.mailboxes_dir()).empty());
    CHECK_FALSE(fs::exists(f.temp / "x"));
    CHECK_FALSE(fs::exists("/tmp/evil"));
}

TEST_CASE("local_delivery: an I/O failure defers the recipient for a later retry",
          "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"student@domain.local"});
    // Root may write anywhere, so block the path instead: the domain folder is a file.
    std::ofstream(f.maildir("domain.local")) << "in the way";
    const auto report = f.deliver(id);
    REQUIRE(report.results.size() == 1);
    CHECK(report.results[0].status == DeliveryStatus::Deferred);
    CHECK(report.results[0].dsn == "4.3.0");
    CHECK(report.results[0].detail == std::make_error_code(std::errc::not_a_directory).message());
    CHECK_FALSE(report.removed);
    std::error_code error;
    const auto file = f.spool.load(id, error);
    REQUIRE(file);
    CHECK(file->delivered == std::vector<bool>{false});

    fs::remove(f.maildir("domain.local"));
    const auto retry = f.deliver(id);
    REQUIRE(retry.results.size() == 1);
    CHECK(retry.results[0].status == DeliveryStatus::Sent);
    CHECK(retry.removed);
    CHECK(names_in(f.maildir("domain.local/student/new")).size() == 1);
}

TEST_CASE("local_delivery: a failed rename into new/ leaves no partial copy", "[local_delivery]") {
    Fixture f;
    const std::string id = f.queue({"student@domain.local"});
    const std::string maildir = f.maildir("domain.local/student");
    const std::string shm_dir = "/dev/shm/labmta-maildir-test-" + std::to_string(::getpid());
    struct stat spool_info {};
    struct stat shm_info {};
    if (::stat(f.root.c_str(), &spool_info) != 0 || ::stat("/dev/shm", &shm_info) != 0
        || spool_info.st_dev == shm_info.st_dev) {
        WARN("no second file system at /dev/shm, skipping");
        return;
    }
    fs::create_directories(maildir + "/tmp");
    fs::create_directories(maildir + "/cur");
    fs::create_directory(shm_dir);
    // new/ on another file system: tmp/ -> new/ cannot be a rename, so it must fail (EXDEV).
    fs::create_directory_symlink(shm_dir, maildir + "/new");
    const auto report = f.deliver(id);
    std::error_code ignored;
    fs::remove_all(shm_dir, ignored);
    REQUIRE(report.results.size() == 1);
    CHECK(report.results[0].status == DeliveryStatus::Deferred);
    CHECK(report.results[0].dsn == "4.3.0");
    CHECK(report.results[0].detail == std::make_error_code(std::errc::cross_device_link).message());
    CHECK(names_in(maildir + "/tmp").empty());
    CHECK(f.spool.list_queue() == std::vector<std::string>{id});
    std::error_code error;
    const auto file = f.spool.load(id, error);
    REQUIRE(file);
    CHECK(file->delivered == std::vector<bool>{false});
}

TEST_CASE("local_delivery: an unknown queue ID reports a load error", "[local_delivery]") {
    Fixture f;
    const auto missing = f.deliver("0193A5C2F10A");
    CHECK(missing.load_error == std::errc::no_such_file_or_directory);
    CHECK(missing.results.empty());
    CHECK_FALSE(missing.removed);
    const auto invalid = f.deliver("../incoming");
    CHECK(invalid.load_error == std::errc::invalid_argument);
}
