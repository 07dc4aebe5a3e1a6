// A full spool file system (issue 4), on a small tmpfs mounted for the test: MAIL FROM gets
// 452 4.3.1 when the declared SIZE or queue.min_free does not fit, the end of DATA gets
// 451 4.3.0 when the queue file cannot be written, and nothing partial is left in tmp/,
// incoming/ or a Maildir. Once space is freed, a fresh message goes through.
#include "tests/e2e/harness.h"
#include "tests/root/root_support.h"

#include <catch2/catch.hpp>

#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>

namespace labmta::test {
namespace {

constexpr std::uint64_t kTmpfsBytes = 8 << 20;
constexpr std::string_view kWriteError = "451 4.3.0 Error: queue file write error";
constexpr std::string_view kNoStorage = "452 4.3.1 Insufficient system storage";

bool skipped_without_tmpfs() {
    const std::string why = why_tmpfs_tests_cannot_run();
    if (!why.empty()) {
        WARN("skipped: " << why);
    }
    return !why.empty();
}

std::uint64_t free_bytes(const std::string& dir) {
    struct statvfs info {};
    REQUIRE(::statvfs(dir.c_str(), &info) == 0);
    return std::uint64_t{info.f_bavail} * info.f_frsize;
}

// Fills the file system of dir with dir/filler (as root) until only about leave_bytes are free.
void fill(const std::string& dir, std::uint64_t leave_bytes) {
    const std::uint64_t available = free_bytes(dir);
    REQUIRE(available > leave_bytes);
    std::ofstream out(dir + "/filler", std::ios::binary);
    const std::string chunk(4096, 'f');
    for (std::uint64_t written = 0; written + chunk.size() <= available - leave_bytes;
         written += chunk.size()) {
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    }
    out.close();
    REQUIRE(free_bytes(dir) <= leave_bytes + 8192);
}

// Nothing of a refused message anywhere: tmp/ and incoming/ empty, no Maildir file has marker.
void check_nothing_left(TestServer& server, const std::string& marker) {
    CHECK(list_files(server.spool() + "/tmp").empty());
    CHECK(list_files(server.incoming_dir()).empty());
    const std::string maildir = server.maildir_new("student");
    if (std::filesystem::exists(maildir)) {
        for (const std::string& name : list_files(maildir)) {
            CHECK(read_text_file(maildir + "/" + name).find(marker) == std::string::npos);
        }
    }
    const std::string maildir_tmp = server.spool() + "/mailboxes/domain.local/student/tmp";
    if (std::filesystem::exists(maildir_tmp)) {
        CHECK(list_files(maildir_tmp).empty());
    }
}

std::string make_dir(const std::string& path) {
    std::filesystem::create_directory(path);
    return path;
}

// A server whose spool is a fresh tmpfs of kTmpfsBytes; unmounted after the server stopped.
struct TmpfsServer {
    TempDir dir;
    TmpfsMount mount;
    TestServer server;

    explicit TmpfsServer(const std::string& config_yaml)
        : mount(make_dir(dir / "spool"), kTmpfsBytes), server(options(config_yaml)) {}

    TestServerOptions options(const std::string& config_yaml) {
        TestServerOptions result;
        result.config_yaml = config_yaml;
        result.spool_dir = dir / "spool";
        return result;
    }
};

}  // namespace

TEST_CASE("root e2e: a full spool gives 451 4.3.0 at end of DATA and keeps nothing partial",
          "[e2e][root][tmpfs]") {
    if (skipped_without_tmpfs()) {
        return;
    }
    TmpfsServer rig(make_config_yaml());
    TestServer& server = rig.server;
    fill(server.spool(), 64 << 10);

    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO client.example").starts_with("250-"));
    // No SIZE: only "some space left" is checked at MAIL, the write fails at end of DATA.
    CHECK(client.ask("MAIL FROM:<a@domain.local>") == "250 2.1.0 Ok");
    CHECK(client.ask("RCPT TO:<student@domain.local>") == "250 2.1.5 Ok");
    CHECK(client.ask("DATA").starts_with("354 "));
    const std::string marker = unique_marker();
    std::string data = "Subject: too big " + marker + "\r\n\r\n";
    for (int i = 0; i < 4000; ++i) {
        data += marker + " " + std::string(80, 'x') + "\r\n";  // about 400 kB
    }
    client.send(data);
    CHECK(client.ask(".") == kWriteError);
    check_nothing_left(server, marker);
    CHECK_FALSE(wait_for_log_line(server.process(), "queue file write error").empty());

    // A declared SIZE that does not fit is refused up front, in the same session.
    CHECK(client.ask("MAIL FROM:<a@domain.local> SIZE=400000") == kNoStorage);
    CHECK_FALSE(
        log_lines_matching(server.process(), "not enough free space in mail queue").empty());
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");

    std::filesystem::remove(server.spool() + "/filler");
    SmtpClient again = server.connect();
    REQUIRE(again.read_greeting() == kGreeting);
    REQUIRE(again.ask("EHLO client.example").starts_with("250-"));
    CHECK(again.ask("MAIL FROM:<a@domain.local> SIZE=400000") == "250 2.1.0 Ok");
    CHECK(again.ask("QUIT") == "221 2.0.0 Bye");
    check_fresh_message_delivered(server);
}

TEST_CASE("root e2e: MAIL FROM is 452 4.3.1 while free space is below queue.min_free",
          "[e2e][root][tmpfs]") {
    if (skipped_without_tmpfs()) {
        return;
    }
    TmpfsServer rig(make_config_yaml() + "queue:\n  min_free: 4000000\n");
    TestServer& server = rig.server;
    fill(server.spool(), 2 << 20);

    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO client.example").starts_with("250-"));
    CHECK(client.ask("MAIL FROM:<a@domain.local>") == kNoStorage);
    CHECK(client.ask("RCPT TO:<student@domain.local>") == "503 5.5.1 Error: need MAIL command");
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    CHECK(list_files(server.incoming_dir()).empty());
    CHECK_FALSE(
        wait_for_log_line(server.process(), "NOQUEUE: reject: MAIL from .*: 452 4.3.1").empty());

    std::filesystem::remove(server.spool() + "/filler");
    check_fresh_message_delivered(server);
}

}  // namespace labmta::test
