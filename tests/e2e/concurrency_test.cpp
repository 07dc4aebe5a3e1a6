// 50 clients at once, 5 messages each on one connection: every message lands exactly once, in
// one Maildir, and every queue ID is distinct. Client threads use no Catch macros (they are
// not thread-safe); they collect errors for the test thread to report.
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace labmta::test {
namespace {

constexpr int kClients = 50;
constexpr int kMessagesPerClient = 5;

struct Outcome {
    std::mutex mutex;
    std::vector<std::string> errors;
    std::vector<std::string> queue_ids;
};

std::string message_marker(const std::string& run, int client, int message) {
    return run + "-c" + std::to_string(client) + "-m" + std::to_string(message);
}

void run_client(std::uint16_t port, const std::string& run, int index, Outcome& outcome) {
    try {
        SmtpClient client(port, std::chrono::seconds(30));
        const std::string greeting = client.read_greeting();
        if (greeting != kGreeting) {
            throw SmtpClientError("greeting was \"" + greeting + "\"");
        }
        expect_reply(client, "EHLO client" + std::to_string(index) + ".example", "250-");
        std::vector<std::string> ids;
        for (int m = 0; m < kMessagesPerClient; ++m) {
            const std::string marker = message_marker(run, index, m);
            ids.push_back(send_message(client,
                                       "c" + std::to_string(index) + "@domain.local",
                                       {"student@domain.local"},
                                       "Subject: " + marker + "\n\nbody of " + marker));
        }
        expect_reply(client, "QUIT", "221 2.0.0 Bye");
        const std::lock_guard lock(outcome.mutex);
        outcome.queue_ids.insert(outcome.queue_ids.end(), ids.begin(), ids.end());
    } catch (const std::exception& error) {
        const std::lock_guard lock(outcome.mutex);
        outcome.errors.push_back("client " + std::to_string(index) + ": " + error.what());
    }
}

// Subject marker of each delivered file -> how many files carry it.
std::map<std::string, int> count_subjects(const std::string& dir, const std::string& run) {
    std::map<std::string, int> counts;
    for (const std::string& name : list_files(dir)) {
        const std::string text = read_text_file(dir + "/" + name);
        const std::size_t at = text.find("\nSubject: " + run);
        if (at == std::string::npos) {
            ++counts["(no subject marker in " + name + ")"];
            continue;
        }
        const std::size_t start = at + std::string_view("\nSubject: ").size();
        ++counts[text.substr(start, text.find('\n', start) - start)];
    }
    return counts;
}

}  // namespace

TEST_CASE("e2e: 50 concurrent clients x 5 messages all land exactly once", "[e2e]") {
    TestServer server(TestServerOptions{
        .config_yaml =
            make_config_yaml({{"connections", "200"}, {"connections_per_client", "100"}}),
        .spool_dir = ""});
    const std::string run = unique_marker();
    Outcome outcome;
    {
        std::vector<std::jthread> clients;
        for (int i = 0; i < kClients; ++i) {
            clients.emplace_back(run_client, server.port(), run, i, std::ref(outcome));
        }
    }
    if (!outcome.errors.empty()) {
        const std::size_t failed = outcome.errors.size();
        outcome.errors.resize(std::min<std::size_t>(failed, 5));
        FAIL(failed << " clients failed, the first ones:\n" << SmtpClient::join(outcome.errors));
    }
    const std::size_t total = kClients * kMessagesPerClient;
    REQUIRE(outcome.queue_ids.size() == total);
    CHECK(std::set<std::string>(outcome.queue_ids.begin(), outcome.queue_ids.end()).size()
          == total);

    const std::string maildir = server.maildir_new("student");
    CHECK(wait_for_file_count(maildir, total, std::chrono::seconds(60)));
    // Lists each marker that did not land exactly once, and any file that is not ours.
    std::map<std::string, int> counts = count_subjects(maildir, run);
    std::string problems;
    for (int c = 0; c < kClients; ++c) {
        for (int m = 0; m < kMessagesPerClient; ++m) {
            const std::string marker = message_marker(run, c, m);
            const int count = counts[marker];
            counts.erase(marker);
            if (count != 1) {
                problems += marker + " landed " + std::to_string(count) + " times\n";
            }
        }
    }
    for (const auto& [other, count] : counts) {
        problems += "unexpected: " + other + " x" + std::to_string(count) + "\n";
    }
    CHECK(problems.empty());
    CHECK(wait_for_file_count(server.incoming_dir(), 0));
    CHECK(server.stop() == kCleanExit);
}

}  // namespace labmta::test
