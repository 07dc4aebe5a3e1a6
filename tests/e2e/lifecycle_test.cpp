// The command line and the process's life: several listeners and the ready file, SIGTERM and
// SIGINT with and without clients, a config that fails at start, check-config, --version and
// --help.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace labmta::test {
namespace {

bool names_line(const std::string& output, int line) {
    const std::string number = std::to_string(line);
    return output.find(":" + number + ":") != std::string::npos
           || output.find("line " + number) != std::string::npos;
}

}  // namespace

TEST_CASE("e2e: every --listen gets a line in the ready file and accepts clients", "[e2e]") {
    TempDir dir;
    ServeOptions options;
    options.binary = LABMTA_BINARY;
    options.config_path = lab_config_path();
    options.spool_dir = dir / "spool";
    options.work_dir = dir.path();
    options.listen = {"127.0.0.1:0", "127.0.0.1:0"};
    ServerProcess server(options);
    REQUIRE(server.listeners().size() == 2);
    for (const std::string& listener : server.listeners()) {
        INFO(listener);
        REQUIRE(listener.starts_with("127.0.0.1:"));
        const auto port = static_cast<std::uint16_t>(std::stoul(listener.substr(10)));
        SmtpClient client(port);
        CHECK(client.read_greeting() == kGreeting);
        CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    }
    CHECK(server.listeners()[0] != server.listeners()[1]);
    CHECK(server.stop() == kCleanExit);
}

TEST_CASE("e2e: SIGTERM with no clients exits 0", "[e2e]") {
    TestServer server;
    CHECK(server.stop() == kCleanExit);
}

TEST_CASE("e2e: SIGTERM answers an idle session 421 4.3.2 and exits 0", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO idle.example").starts_with("250-"));
    server.process().send_signal(SIGTERM);
    CHECK(SmtpClient::join(client.read_reply())
          == "421 4.3.2 profbox.domain.local Service shutting down");
    CHECK(client.read_until_closed().empty());
    CHECK(server.process().wait_for_exit() == kCleanExit);
}

TEST_CASE("e2e: SIGINT stops the server like SIGTERM", "[e2e]") {
    TestServer server;
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    server.process().send_signal(SIGINT);
    CHECK(SmtpClient::join(client.read_reply())
          == "421 4.3.2 profbox.domain.local Service shutting down");
    CHECK(server.process().wait_for_exit() == kCleanExit);
}

TEST_CASE("e2e: serve with a bad config exits non-zero and writes no ready file", "[e2e]") {
    TempDir dir;
    write_text_file(dir / "bad.yaml", "hostname: profbox.domain.local\nlimits:\n  nope: 1\n");
    const CommandResult result = run_labmta({"serve",
                                             "--config",
                                             dir / "bad.yaml",
                                             "--listen",
                                             "127.0.0.1:0",
                                             "--spool",
                                             dir / "spool",
                                             "--ready-file",
                                             dir / "ready"});
    INFO(result.output);
    CHECK(result.exit_code != 0);
    CHECK(result.output.find("nope") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "ready"));
}

TEST_CASE("e2e: check-config prints the lab config and hides passwords", "[e2e]") {
    const CommandResult result = run_labmta({"check-config", "--config", lab_config_path()});
    INFO(result.output);
    CHECK(result.exit_code == 0);
    CHECK(result.output.find("hostname: profbox.domain.local") != std::string::npos);
    CHECK(result.output.find("domain.local") != std::string::npos);
    CHECK(result.output.find("student") != std::string::npos);
    CHECK(result.output.find("hessovs!") == std::string::npos);
}

TEST_CASE("e2e: check-config names the key and line of a bad value and exits 1", "[e2e]") {
    TempDir dir;
    write_text_file(dir / "bad.yaml",
                    "hostname: profbox.domain.local\n"
                    "local_domains: [domain.local]\n"
                    "limits:\n"
                    "  timeout: 30\n"
                    "  message_size: ten\n");
    const CommandResult result = run_labmta({"check-config", "--config", dir / "bad.yaml"});
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("message_size") != std::string::npos);
    CHECK(names_line(result.output, 5));
}

TEST_CASE("e2e: check-config names an unknown key and its line and exits 1", "[e2e]") {
    TempDir dir;
    write_text_file(dir / "typo.yaml",
                    "hostname: profbox.domain.local\n"
                    "hostnme: typo.example\n");
    const CommandResult result = run_labmta({"check-config", "--config", dir / "typo.yaml"});
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("hostnme") != std::string::npos);
    CHECK(names_line(result.output, 2));
}

TEST_CASE("e2e: check-config on a missing file exits 1", "[e2e]") {
    const CommandResult result =
        run_labmta({"check-config", "--config", "/nonexistent/labmta/labmta.yaml"});
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK_FALSE(result.output.empty());
}

TEST_CASE("e2e: --version prints the version and --help the commands", "[e2e]") {
    const CommandResult version = run_labmta({"--version"});
    INFO(version.output);
    CHECK(version.exit_code == 0);
    CHECK(version.output.find(LABMTA_VERSION) != std::string::npos);

    const CommandResult help = run_labmta({"--help"});
    INFO(help.output);
    CHECK(help.exit_code == 0);
    CHECK(help.output.find("serve") != std::string::npos);
    CHECK(help.output.find("check-config") != std::string::npos);
}

}  // namespace labmta::test

namespace labmta::test {

// Review findings: two servers on one spool would deliver every message twice; and a port
// already in use must be one clear log line and exit 1, not an abort.
TEST_CASE("e2e: a second server on the same spool refuses to start", "[e2e]") {
    TestServer first;
    TempDir dir;
    const CommandResult second = run_labmta({"serve",
                                             "--config",
                                             lab_config_path(),
                                             "--listen",
                                             "127.0.0.1:0",
                                             "--spool",
                                             first.spool(),
                                             "--user",
                                             std::string(kTestUser),
                                             "--ready-file",
                                             dir / "ready"});
    INFO(second.output);
    CHECK(second.exit_code == 1);
    CHECK(second.output.find("is in use by another labmta") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir / "ready"));
    check_fresh_message_delivered(first);
}

TEST_CASE("e2e: a listen port already in use is a clean startup error", "[e2e]") {
    TestServer first;
    TempDir dir;
    const CommandResult second = run_labmta({"serve",
                                             "--config",
                                             lab_config_path(),
                                             "--listen",
                                             "127.0.0.1:" + std::to_string(first.port()),
                                             "--spool",
                                             dir / "spool",
                                             "--user",
                                             std::string(kTestUser)});
    INFO(second.output);
    CHECK(second.exit_code == 1);
    CHECK(second.output.find("cannot listen on 127.0.0.1:" + std::to_string(first.port()))
          != std::string::npos);
    check_fresh_message_delivered(first);
}

}  // namespace labmta::test

namespace labmta::test {
namespace {

// "Max open files  <soft>  <hard>  files" from /proc/<pid>/limits.
std::pair<std::string, std::string> open_file_limits(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Max open files", 0) == 0) {
            std::istringstream fields(line.substr(std::string_view("Max open files").size()));
            std::string soft;
            std::string hard;
            fields >> soft >> hard;
            return {soft, hard};
        }
    }
    return {};
}

}  // namespace

TEST_CASE("e2e: serve raises its open-file soft limit to the hard limit", "[e2e]") {
    // The server inherits a low soft limit from us, as from a login shell's ulimit -n 1024.
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    if (saved.rlim_max <= 256) {
        WARN("hard open-file limit " << saved.rlim_max << " leaves nothing to raise");
        return;
    }
    rlimit low = saved;
    low.rlim_cur = 256;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::optional<TestServer> server;
    try {
        server.emplace();
    } catch (...) {
        ::setrlimit(RLIMIT_NOFILE, &saved);
        throw;
    }
    ::setrlimit(RLIMIT_NOFILE, &saved);
    const auto [soft, hard] = open_file_limits(server->process().pid());
    CHECK(soft == hard);
    CHECK(soft == (saved.rlim_max == RLIM_INFINITY ? "unlimited" : std::to_string(saved.rlim_max)));
    check_fresh_message_delivered(*server);
}

}  // namespace labmta::test
