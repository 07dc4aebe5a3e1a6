// Replays every dialog fixture (tests/fixtures/*.txt) over a real socket against labmta with
// the lab config: each turn's client lines are written together, then the replies must match
// the S: lines exactly (placeholders aside). The unit tests replay the same files against the
// Session.
#include "tests/e2e/harness.h"
#include "tests/support/dialog.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <set>

namespace labmta::test {
namespace {

const std::set<std::string>& replayed_fixtures() {
    static const std::set<std::string> names{
        "dot_stuffing.txt",
        "ehlo.txt",
        "help.txt",
        "lab_local.txt",
        "lowercase_verbs.txt",
        "noop_rset.txt",
        "null_sender.txt",
        "relay_denied.txt",
        "sequence_errors.txt",
        "syntax_errors.txt",
        "unknown_command.txt",
        "vrfy.txt",
    };
    return names;
}

// Reads whole replies until there are as many lines as expected, stopping at the first line
// that does not match, so a short or wrong reply fails at once with a clear message.
std::vector<std::string> read_expected_lines(SmtpClient& client,
                                             const std::vector<DialogStep>& expected) {
    std::vector<std::string> received;
    while (received.size() < expected.size()) {
        for (const std::string& line : client.read_reply()) {
            received.push_back(line);
            const std::size_t index = received.size() - 1;
            if (index >= expected.size() || !reply_line_matches(expected[index].text, line)) {
                return received;
            }
        }
    }
    return received;
}

// Replays the fixture on a new connection and returns the queue IDs the server gave.
std::vector<std::string> replay_fixture(TestServer& server, std::string_view name) {
    const auto exchanges = group_exchanges(load_dialog(fixture_path(name)));
    SmtpClient client = server.connect();
    std::vector<std::string> queue_ids;
    bool quit_answered = false;
    for (const DialogExchange& exchange : exchanges) {
        std::string bytes;
        for (const DialogStep& step : exchange.client_lines) {
            bytes += step.text + "\r\n";
        }
        client.send(bytes);
        const auto received = read_expected_lines(client, exchange.expected_lines);
        const std::string mismatch = describe_reply_mismatch(exchange.expected_lines, received);
        if (!mismatch.empty()) {
            FAIL(name << ": " << mismatch);
        }
        for (const std::string& line : received) {
            if (!queue_id_of(line).empty()) {
                queue_ids.push_back(queue_id_of(line));
            }
            quit_answered = line.starts_with("221 ");
        }
    }
    if (quit_answered) {
        INFO(name << ": the server must close the connection after 221");
        CHECK(client.read_until_closed().empty());
    }
    return queue_ids;
}

}  // namespace

// Fixtures that must not be replayed against a server with the lab config, and why.
const std::set<std::string>& fixtures_not_replayed_here() {
    static const std::set<std::string> names{
        // Relays to outside domains after AUTH: over a socket that would send mail off this
        // machine. Its e2e replay needs a local fake relayhost (issue 3).
        "lab_relay_auth.txt",
    };
    return names;
}

TEST_CASE("e2e: every fixture file is replayed by a test", "[e2e]") {
    std::set<std::string> unreplayed;
    for (const auto& entry : std::filesystem::directory_iterator(LABMTA_FIXTURES_DIR)) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() == ".txt" && !replayed_fixtures().contains(name)
            && !fixtures_not_replayed_here().contains(name)) {
            unreplayed.insert(name);
        }
    }
    INFO("add a TEST_CASE that replays each new fixture, and its name to replayed_fixtures()");
    CHECK(unreplayed == std::set<std::string>{});
    for (const std::string& name : replayed_fixtures()) {
        CHECK(std::filesystem::exists(fixture_path(name)));
    }
}

TEST_CASE("e2e: fixture lab_local.txt (the lab session) replays byte for byte", "[e2e]") {
    TestServer server;
    CHECK(replay_fixture(server, "lab_local.txt").size() == 1);
}

TEST_CASE("e2e: fixture ehlo.txt lists the extensions in order", "[e2e]") {
    TestServer server;
    replay_fixture(server, "ehlo.txt");
}

TEST_CASE("e2e: fixture help.txt answers 214 with the commands", "[e2e]") {
    TestServer server;
    replay_fixture(server, "help.txt");
}

TEST_CASE("e2e: fixture relay_denied.txt refuses a non-local recipient", "[e2e]") {
    TestServer server;
    replay_fixture(server, "relay_denied.txt");
    CHECK_FALSE(std::filesystem::exists(server.spool() + "/mailboxes/gmail.com"));
}

TEST_CASE("e2e: fixture sequence_errors.txt answers 503 and goes on", "[e2e]") {
    TestServer server;
    replay_fixture(server, "sequence_errors.txt");
}

TEST_CASE("e2e: fixture syntax_errors.txt answers 501 and goes on", "[e2e]") {
    TestServer server;
    replay_fixture(server, "syntax_errors.txt");
}

TEST_CASE("e2e: fixture unknown_command.txt answers 500 5.5.2", "[e2e]") {
    TestServer server;
    replay_fixture(server, "unknown_command.txt");
}

TEST_CASE("e2e: fixture noop_rset.txt answers 250 2.0.0 Ok", "[e2e]") {
    TestServer server;
    replay_fixture(server, "noop_rset.txt");
}

TEST_CASE("e2e: fixture vrfy.txt answers 252", "[e2e]") {
    TestServer server;
    replay_fixture(server, "vrfy.txt");
}

TEST_CASE("e2e: fixture lowercase_verbs.txt accepts lower-case verbs", "[e2e]") {
    TestServer server;
    CHECK(replay_fixture(server, "lowercase_verbs.txt").size() == 1);
}

TEST_CASE("e2e: fixture null_sender.txt accepts MAIL FROM:<>", "[e2e]") {
    TestServer server;
    REQUIRE(replay_fixture(server, "null_sender.txt").size() == 1);
    const std::string delivered =
        wait_for_delivery(server.maildir_new("student"), "Subject: null sender");
    REQUIRE_FALSE(delivered.empty());
    CHECK(delivered.starts_with("Return-Path: <>\n"));
}

TEST_CASE("e2e: fixture dot_stuffing.txt is delivered with the dots undone", "[e2e]") {
    TestServer server;
    REQUIRE(replay_fixture(server, "dot_stuffing.txt").size() == 1);
    const std::string delivered =
        wait_for_delivery(server.maildir_new("student"), "Subject: dot-stuffing");
    REQUIRE_FALSE(delivered.empty());
    const std::string body = "\n\n.leading dot\n.\n..two dots\n . not at the start\n";
    CHECK(delivered.ends_with(body));
}

}  // namespace labmta::test
