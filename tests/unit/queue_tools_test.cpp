// The queue tools on a temp spool filled through Spool::commit and defer files: mailq text
// (empty, deferred recipients), JSON, postcat-like show, delete one/ALL/unknown, and flush
// against no server, a stale pid, a foreign process and this test process itself.
#include "server/app/queue_tools.h"

#include "common/ids.h"
#include "spool/defer_file.h"
#include "spool/spool.h"
#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using labmta::app::pid_file_path;
using labmta::app::run_delete;
using labmta::app::run_flush;
using labmta::app::run_queue_list;
using labmta::app::run_show;
using labmta::spool::DeferInfo;
using labmta::spool::QueueFile;
using labmta::test::FakeClock;
using labmta::test::FixedRandom;
using labmta::test::TempDir;

constexpr std::int64_t kArrivalUs = 1795876331000000;      // Sat Nov 28 14:32:11 2026 UTC
constexpr std::int64_t kNextAttemptUs = 1795877531000000;  // 20 minutes later
constexpr const char* kMessage =
    "Message-ID: <819ih78s78988752fZTGFU@domain.local>\n"
    "Subject: lab\n"
    "\n"
    "This is the body message !\n";  // 91 bytes
constexpr const char* kRefused = "connect to 127.0.0.1[127.0.0.1]:2525: Connection refused";

// Sets TZ for one test and puts the previous value back, so other tests see the real zone.
class ScopedTimeZone {
public:
    explicit ScopedTimeZone(const char* zone) {
        if (const char* old = std::getenv("TZ")) {
            old_ = old;
        }
        ::setenv("TZ", zone, 1);
        ::tzset();
    }
    ~ScopedTimeZone() {
        if (old_) {
            ::setenv("TZ", old_->c_str(), 1);
        } else {
            ::unsetenv("TZ");
        }
        ::tzset();
    }
    ScopedTimeZone(const ScopedTimeZone&) = delete;
    ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

private:
    std::optional<std::string> old_;
};

struct QueueFixture {
    ScopedTimeZone zone{"UTC"};
    TempDir dir;
    std::string root = dir / "spool";
    labmta::spool::Spool spool{root};
    FakeClock clock{kArrivalUs};
    FixedRandom random{0x2A};
    labmta::common::QueueIdGenerator ids{clock, random};

    // The lab message: one recipient delivered locally, two deferred, one not tried yet.
    std::string commit_lab_message() {
        QueueFile file;
        file.arrival_us = kArrivalUs;
        file.envelope.sender = "dasek.joiakim@gmail.com";
        file.envelope.recipients = {"student@domain.local",
                                    "jowadev@gmail.com",
                                    "david.backoffice@gmail.com",
                                    "prof@other.test"};
        file.delivered = {true, false, false, false};
        file.envelope.helo = "joiakim.dasek@domain.local";
        file.envelope.protocol = "ESMTPA";
        file.envelope.client_host = "unknown";
        file.envelope.client_ip = "127.0.0.1";
        file.envelope.auth_user = "student";
        file.message = kMessage;
        const auto result = spool.commit(file, ids);
        REQUIRE_FALSE(result.error);
        DeferInfo defer;
        defer.attempts = 2;
        defer.next_attempt_us = kNextAttemptUs;
        defer.recipients = {{"jowadev@gmail.com", "4.4.1", kRefused},
                            {"david.backoffice@gmail.com", "4.4.1", kRefused}};
        REQUIRE_FALSE(labmta::spool::write_defer_info(root, result.queue_id, defer));
        return result.queue_id;
    }

    // A bounce: null sender, one recipient, no defer file.
    std::string commit_bounce() {
        QueueFile file;
        file.arrival_us = kArrivalUs + 60 * 1000000;
        file.envelope.recipients = {"dasek.joiakim@gmail.com"};
        file.envelope.protocol = "SMTP";
        file.envelope.client_host = "localhost";
        file.envelope.client_ip = "127.0.0.1";
        file.message = std::string(2000, 'x') + "\n";
        const auto result = spool.commit(file, ids);
        REQUIRE_FALSE(result.error);
        return result.queue_id;
    }

    bool is_queued(const std::string& id) const { return fs::exists(root + "/incoming/" + id); }
    bool has_defer_file(const std::string& id) const { return fs::exists(root + "/defer/" + id); }
};

struct Output {
    int rc = -1;
    std::string out;
    std::string err;
};

Output queue_list(const std::string& root, bool json) {
    std::ostringstream out;
    std::ostringstream err;
    const int rc = run_queue_list(root, json, out, err);
    return {rc, out.str(), err.str()};
}

Output show(const std::string& root, std::string_view id) {
    std::ostringstream out;
    std::ostringstream err;
    const int rc = run_show(root, id, out, err);
    return {rc, out.str(), err.str()};
}

Output remove(const std::string& root, std::string_view id) {
    std::ostringstream out;
    std::ostringstream err;
    const int rc = run_delete(root, id, out, err);
    return {rc, out.str(), err.str()};
}

Output flush(const std::string& root) {
    std::ostringstream out;
    std::ostringstream err;
    const int rc = run_flush(root, out, err);
    return {rc, out.str(), err.str()};
}

void write_pid_file(const std::string& root, long pid) {
    std::ofstream(pid_file_path(root)) << pid << '\n';
}

TEST_CASE("queue_tools: an empty queue", "[queue_tools]") {
    QueueFixture f;
    const Output text = queue_list(f.root, false);
    CHECK(text.rc == 0);
    CHECK(text.out == "Mail queue is empty\n");
    CHECK(text.err.empty());
    const Output json = queue_list(f.root, true);
    CHECK(json.rc == 0);
    CHECK(json.out == "[]\n");
}

TEST_CASE("queue_tools: a spool that does not exist is an error, not a new spool",
          "[queue_tools]") {
    TempDir dir;
    const std::string root = dir / "nowhere";
    const Output result = queue_list(root, false);
    CHECK(result.rc == 1);
    CHECK(result.out.empty());
    CHECK(result.err
          == "labmta: fatal: no mail queue in " + root + " (" + root
                 + "/incoming: No such file or directory)\n");
    CHECK_FALSE(fs::exists(root));
    CHECK(show(root, "570AC510C02A").rc == 1);
    CHECK(remove(root, "ALL").rc == 1);
}

TEST_CASE("queue_tools: mailq format with deferred and pending recipients", "[queue_tools]") {
    QueueFixture f;
    const std::string id = f.commit_lab_message();
    REQUIRE(id == "570AC510C02A");
    const Output result = queue_list(f.root, false);
    CHECK(result.rc == 0);
    CHECK(result.err.empty());
    CHECK(result.out
          == "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
             "570AC510C02A        91 Sat Nov 28 14:32:11  dasek.joiakim@gmail.com\n"
             "(connect to 127.0.0.1[127.0.0.1]:2525: Connection refused)\n"
             "                                         jowadev@gmail.com\n"
             "                                         david.backoffice@gmail.com\n"
             "                                         prof@other.test\n"
             "\n"
             "-- 1 Kbytes in 1 Request.\n");
}

TEST_CASE("queue_tools: mailq with two messages, a null sender and a total", "[queue_tools]") {
    QueueFixture f;
    f.commit_lab_message();
    const std::string bounce = f.commit_bounce();
    REQUIRE(bounce == "570AC510C02B");
    const Output result = queue_list(f.root, false);
    CHECK(result.out.find("\n570AC510C02B      2001 Sat Nov 28 14:33:11  MAILER-DAEMON\n"
                          "                                         dasek.joiakim@gmail.com\n"
                          "\n"
                          "-- 3 Kbytes in 2 Requests.\n")
          != std::string::npos);
}

TEST_CASE("queue_tools: a reason changing between recipients is printed again", "[queue_tools]") {
    QueueFixture f;
    const std::string id = f.commit_lab_message();
    DeferInfo defer;
    defer.recipients = {{"jowadev@gmail.com", "4.4.1", "timeout"},
                        {"david.backoffice@gmail.com", "4.2.2", "452 4.2.2 full\x1b[2J"}};
    REQUIRE_FALSE(labmta::spool::write_defer_info(f.root, id, defer));
    const Output result = queue_list(f.root, false);
    CHECK(result.out.find("(timeout)\n"
                          "                                         jowadev@gmail.com\n"
                          "(452 4.2.2 full?[2J)\n"
                          "                                         david.backoffice@gmail.com\n"
                          "                                         prof@other.test\n")
          != std::string::npos);
}

TEST_CASE("queue_tools: an unreadable queue file is reported and left out", "[queue_tools]") {
    QueueFixture f;
    std::ofstream(f.root + "/incoming/0000000000FF") << "garbage\n";
    const Output result = queue_list(f.root, false);
    CHECK(result.rc == 0);
    CHECK(result.out == "Mail queue is empty\n");
    CHECK(result.err == "labmta: warning: 0000000000FF: cannot read queue file: Bad message\n");
}

TEST_CASE("queue_tools: JSON listing parses back", "[queue_tools]") {
    QueueFixture f;
    const std::string id = f.commit_lab_message();
    f.commit_bounce();
    const Output result = queue_list(f.root, true);
    CHECK(result.rc == 0);
    REQUIRE(result.out.ends_with("\n"));
    const nlohmann::json list = nlohmann::json::parse(result.out);
    REQUIRE(list.is_array());
    REQUIRE(list.size() == 2);
    const nlohmann::json& message = list[0];
    CHECK(message["queue_id"] == id);
    CHECK(message["arrival_time"] == 1795876331);
    CHECK(message["message_size"] == 91);
    CHECK(message["sender"] == "dasek.joiakim@gmail.com");
    const nlohmann::json& recipients = message["recipients"];
    REQUIRE(recipients.size() == 4);
    CHECK(recipients[0]
          == nlohmann::json{{"address", "student@domain.local"}, {"delivered", true}});
    CHECK(recipients[1]
          == nlohmann::json{
              {"address", "jowadev@gmail.com"}, {"delivered", false}, {"delay_reason", kRefused}});
    CHECK(recipients[2]["delay_reason"] == kRefused);
    CHECK(recipients[3] == nlohmann::json{{"address", "prof@other.test"}, {"delivered", false}});
    CHECK(list[1]["sender"] == "");
    CHECK(list[1]["message_size"] == 2001);
}

TEST_CASE("queue_tools: JSON survives bytes that are not UTF-8", "[queue_tools]") {
    QueueFixture f;
    const std::string id = f.commit_lab_message();
    DeferInfo defer;
    defer.recipients = {{"jowadev@gmail.com", "4.0.0", "bad \xff byte"}};
    REQUIRE_FALSE(labmta::spool::write_defer_info(f.root, id, defer));
    const Output result = queue_list(f.root, true);
    const nlohmann::json list = nlohmann::json::parse(result.out);
    CHECK(list[0]["recipients"][1]["delay_reason"] == "bad \xef\xbf\xbd byte");
}

TEST_CASE("queue_tools: show prints envelope and message like postcat", "[queue_tools]") {
    QueueFixture f;
    const std::string id = f.commit_lab_message();
    const Output result = show(f.root, id);
    CHECK(result.rc == 0);
    CHECK(result.err.empty());
    CHECK(result.out
          == "*** ENVELOPE RECORDS 570AC510C02A ***\n"
             "message_size: 91\n"
             "message_arrival_time: Sat Nov 28 14:32:11 2026\n"
             "sender: dasek.joiakim@gmail.com\n"
             "helo_name: joiakim.dasek@domain.local\n"
             "protocol: ESMTPA\n"
             "client: unknown[127.0.0.1]\n"
             "sasl_username: student\n"
             "recipient: student@domain.local (delivered)\n"
             "recipient: jowadev@gmail.com (deferred: 4.4.1 connect to 127.0.0.1[127.0.0.1]:2525: "
             "Connection refused)\n"
             "recipient: david.backoffice@gmail.com (deferred: 4.4.1 connect to "
             "127.0.0.1[127.0.0.1]:2525: Connection refused)\n"
             "recipient: prof@other.test (pending)\n"
             "delivery_attempts: 2\n"
             "next_attempt_time: Sat Nov 28 14:52:11 2026\n"
             "*** MESSAGE CONTENTS 570AC510C02A ***\n"
             "Message-ID: <819ih78s78988752fZTGFU@domain.local>\n"
             "Subject: lab\n"
             "\n"
             "This is the body message !\n"
             "*** MESSAGE FILE END 570AC510C02A ***\n");
}

TEST_CASE("queue_tools: show of a message never deferred has no retry state", "[queue_tools]") {
    QueueFixture f;
    const std::string id = f.commit_bounce();
    const Output result = show(f.root, id);
    CHECK(result.rc == 0);
    CHECK(result.out.find("sender: \n") != std::string::npos);
    CHECK(result.out.find("sasl_username") == std::string::npos);
    CHECK(result.out.find("delivery_attempts") == std::string::npos);
    CHECK(result.out.find("recipient: dasek.joiakim@gmail.com (pending)\n") != std::string::npos);
}

TEST_CASE("queue_tools: show of an unknown or invalid ID fails", "[queue_tools]") {
    QueueFixture f;
    const Output unknown = show(f.root, "570AC510C0FF");
    CHECK(unknown.rc == 1);
    CHECK(unknown.out.empty());
    CHECK(unknown.err == "labmta: 570AC510C0FF: no such message in the queue\n");
    const Output invalid = show(f.root, "../../etc/passwd");
    CHECK(invalid.rc == 1);
    CHECK(invalid.err == "labmta: invalid queue ID: ../../etc/passwd\n");
}

TEST_CASE("queue_tools: delete one message removes its queue and defer files", "[queue_tools]") {
    QueueFixture f;
    const std::string id = f.commit_lab_message();
    const std::string other = f.commit_bounce();
    const Output result = remove(f.root, id);
    CHECK(result.rc == 0);
    CHECK(result.err.empty());
    CHECK(result.out == "labmta: 570AC510C02A: removed\nlabmta: Deleted: 1 message\n");
    CHECK_FALSE(f.is_queued(id));
    CHECK_FALSE(f.has_defer_file(id));
    CHECK(f.is_queued(other));
}

TEST_CASE("queue_tools: delete of an unknown or invalid ID fails", "[queue_tools]") {
    QueueFixture f;
    const std::string id = f.commit_lab_message();
    const Output unknown = remove(f.root, "570AC510C0FF");
    CHECK(unknown.rc == 1);
    CHECK(unknown.out.empty());
    CHECK(unknown.err == "labmta: 570AC510C0FF: no such message in the queue\n");
    const Output invalid = remove(f.root, "../incoming");
    CHECK(invalid.rc == 1);
    CHECK(invalid.err == "labmta: invalid queue ID: ../incoming\n");
    const Output lower = remove(f.root, "all");
    CHECK(lower.rc == 1);
    CHECK(f.is_queued(id));
}

TEST_CASE("queue_tools: delete ALL empties the queue and the defer files", "[queue_tools]") {
    QueueFixture f;
    const std::string id = f.commit_lab_message();
    const std::string other = f.commit_bounce();
    // A defer file whose message is already gone.
    REQUIRE_FALSE(labmta::spool::write_defer_info(f.root, "570AC510C0EE", DeferInfo{}));
    const Output result = remove(f.root, "ALL");
    CHECK(result.rc == 0);
    CHECK(result.err.empty());
    CHECK(result.out
          == "labmta: 570AC510C02A: removed\n"
             "labmta: 570AC510C02B: removed\n"
             "labmta: Deleted: 2 messages\n");
    CHECK(fs::is_empty(f.root + "/incoming"));
    CHECK(fs::is_empty(f.root + "/defer"));
    CHECK(queue_list(f.root, false).out == "Mail queue is empty\n");
    CHECK(remove(f.root, "ALL").out == "labmta: Deleted: 0 messages\n");
}

TEST_CASE("queue_tools: flush without a server is an error", "[queue_tools]") {
    QueueFixture f;
    const Output result = flush(f.root);
    CHECK(result.rc == 1);
    CHECK(result.out.empty());
    CHECK(result.err
          == "labmta: fatal: the mail server is not running (no " + f.root + "/labmta.pid)\n");

    std::ofstream(pid_file_path(f.root)) << "not a pid\n";
    CHECK(flush(f.root).err
          == "labmta: fatal: " + f.root + "/labmta.pid does not hold a process ID\n");
    for (const char* pid : {"0", "-1", ""}) {
        std::ofstream(pid_file_path(f.root)) << pid << '\n';
        CHECK(flush(f.root).rc == 1);
    }
}

TEST_CASE("queue_tools: flush with a stale pid file is an error", "[queue_tools]") {
    QueueFixture f;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::_exit(0);
    }
    REQUIRE(::waitpid(child, nullptr, 0) == child);
    write_pid_file(f.root, child);
    const Output result = flush(f.root);
    CHECK(result.rc == 1);
    CHECK(result.err
          == "labmta: fatal: the mail server is not running (" + f.root
                 + "/labmta.pid names process " + std::to_string(child)
                 + ", which does not exist)\n");
}

TEST_CASE("queue_tools: flush never signals a process that is not labmta", "[queue_tools]") {
    QueueFixture f;
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Only async-signal-safe calls after fork.
        ::prctl(PR_SET_NAME, "sleeper", 0, 0, 0);
        (void)!::write(ready[1], "x", 1);
        for (;;) {
            ::pause();
        }
    }
    ::close(ready[1]);
    char byte = 0;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    ::close(ready[0]);
    write_pid_file(f.root, child);
    const Output result = flush(f.root);
    CHECK(result.rc == 1);
    CHECK(result.err.find("names process " + std::to_string(child) + ", which is sleeper")
          != std::string::npos);
    CHECK(::waitpid(child, nullptr, WNOHANG) == 0);  // still alive: it got no SIGUSR1
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
}

volatile std::sig_atomic_t g_flush_signals = 0;  // written by the signal handler only

void count_flush_signal(int) {
    g_flush_signals = g_flush_signals + 1;
}

TEST_CASE("queue_tools: flush sends SIGUSR1 to the pid in the pid file", "[queue_tools]") {
    QueueFixture f;
    struct sigaction action {};
    struct sigaction previous {};
    action.sa_handler = &count_flush_signal;
    sigemptyset(&action.sa_mask);
    REQUIRE(::sigaction(SIGUSR1, &action, &previous) == 0);
    g_flush_signals = 0;
    write_pid_file(f.root, ::getpid());
    // A signal a process sends itself is delivered before kill() returns (POSIX).
    const Output result = flush(f.root);
    ::sigaction(SIGUSR1, &previous, nullptr);
    CHECK(result.rc == 0);
    CHECK(result.err.empty());
    CHECK(result.out
          == "labmta: asked the mail server (pid " + std::to_string(::getpid())
                 + ") to retry deferred mail now\n");
    CHECK(g_flush_signals == 1);
}

}  // namespace
