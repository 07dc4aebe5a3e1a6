// `labmta serve` started as root (issue 4): binds, takes the spool, then runs as `user:` for good
// before serving anyone; a missing user or root itself is a clear startup error. Needs root
// (see main.cpp for how the tests are skipped otherwise).
#include "tests/e2e/harness.h"
#include "tests/root/root_support.h"

#include <catch2/catch.hpp>

#include <pwd.h>

#include <filesystem>
#include <sstream>

namespace labmta::test {
namespace {

bool skipped_without_root() {
    const std::string why = why_root_tests_cannot_run();
    if (!why.empty()) {
        WARN("skipped: " << why);
    }
    return !why.empty();
}

// The values of one line of /proc/<pid>/status ("Uid:", "Gid:", "Groups:").
std::vector<std::string> status_field(int pid, std::string_view name) {
    std::istringstream lines(read_text_file("/proc/" + std::to_string(pid) + "/status"));
    std::string line;
    while (std::getline(lines, line)) {
        if (line.starts_with(name)) {
            std::istringstream values(line.substr(name.size()));
            std::vector<std::string> result;
            for (std::string value; values >> value;) {
                result.push_back(value);
            }
            return result;
        }
    }
    return {};
}

struct Account {
    std::string uid;
    std::string gid;
};

Account nobody() {
    const passwd* entry = ::getpwnam("nobody");
    REQUIRE(entry != nullptr);
    return {std::to_string(entry->pw_uid), std::to_string(entry->pw_gid)};
}

// `labmta serve` as a one-shot command with config_yaml, as root, without --user.
CommandResult serve_once(const TempDir& dir, const std::string& config_yaml) {
    write_text_file(dir / "labmta.yaml", config_yaml);
    return run_labmta({"serve",
                       "--config",
                       dir / "labmta.yaml",
                       "--listen",
                       "127.0.0.1:0",
                       "--spool",
                       dir / "spool",
                       "--ready-file",
                       dir / "ready"});
}

// After a refused start, the same spool with user: nobody serves and delivers.
void check_spool_still_serves(const TempDir& dir) {
    TestServerOptions options;
    options.config_yaml = make_config_yaml() + "user: nobody\n";
    options.spool_dir = dir / "spool";
    options.user = "";
    TestServer server(options);
    check_fresh_message_delivered(server);
}

}  // namespace

TEST_CASE("root e2e: started as root with user: nobody, it serves as nobody and delivers",
          "[e2e][root]") {
    if (skipped_without_root()) {
        return;
    }
    const Account expected = nobody();
    TestServerOptions options;
    options.config_yaml = make_config_yaml() + "user: nobody\n";
    options.user = "";  // the config's user:, not --user
    TestServer server(options);

    // A reply proves the event loop runs, and the drop happens before the loop starts.
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO client.example").starts_with("250-"));
    const int pid = server.process().pid();
    CHECK(status_field(pid, "Uid:")
          == std::vector<std::string>(4, expected.uid));  // real, effective, saved, fs
    CHECK(status_field(pid, "Gid:") == std::vector<std::string>(4, expected.gid));
    CHECK(status_field(pid, "Groups:") == std::vector<std::string>{expected.gid});
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");

    // The spool tree belongs to nobody, and so does what it delivers.
    for (const char* dir : {"", "/tmp", "/incoming", "/mailboxes", "/labmta.lock"}) {
        INFO(dir);
        CHECK(std::to_string(owner_uid(server.spool() + dir)) == expected.uid);
    }
    check_fresh_message_delivered(server);
    const std::vector<std::string> delivered = list_files(server.maildir_new("student"));
    REQUIRE(delivered.size() == 1);
    CHECK(std::to_string(owner_uid(server.maildir_new("student") + "/" + delivered[0]))
          == expected.uid);
    CHECK_FALSE(log_lines_matching(server.process(), "running as user nobody").empty());
}

TEST_CASE("root e2e: a user: that does not exist is a startup error naming it", "[e2e][root]") {
    if (skipped_without_root()) {
        return;
    }
    TempDir dir;
    const CommandResult result =
        serve_once(dir, make_config_yaml() + "user: labmta-no-such-user\n");
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("fatal: user \"labmta-no-such-user\" from config does not exist; "
                             "create it (useradd --system labmta-no-such-user) or set user:")
          != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "ready"));
    check_spool_still_serves(dir);
}

TEST_CASE("root e2e: user: root is refused", "[e2e][root]") {
    if (skipped_without_root()) {
        return;
    }
    TempDir dir;
    const CommandResult result = serve_once(dir, make_config_yaml() + "user: root\n");
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("refusing to run the SMTP protocol as root") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "ready"));
    check_spool_still_serves(dir);
}

TEST_CASE("root e2e: a spool the user cannot reach is a startup error, not lost mail",
          "[e2e][root]") {
    if (skipped_without_root()) {
        return;
    }
    TempDir dir;
    std::filesystem::create_directory(dir / "private");
    std::filesystem::permissions(dir / "private", std::filesystem::perms::owner_all);
    write_text_file(dir / "labmta.yaml", make_config_yaml() + "user: nobody\n");
    const CommandResult result = run_labmta({"serve",
                                             "--config",
                                             dir / "labmta.yaml",
                                             "--listen",
                                             "127.0.0.1:0",
                                             "--spool",
                                             dir / "private/spool"});
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("spool directory " + dir / "private/spool"
                             + " is not writable by user \"nobody\"")
          != std::string::npos);
    // Once the parent may be searched, the same spool serves.
    std::filesystem::permissions(
        dir / "private", std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
    TestServerOptions options;
    options.config_yaml = make_config_yaml() + "user: nobody\n";
    options.spool_dir = dir / "private/spool";
    options.user = "";
    TestServer server(options);
    check_fresh_message_delivered(server);
}

}  // namespace labmta::test
