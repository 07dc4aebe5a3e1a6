// The queue tools (issue 3) run as the built binary against the spool of a running labmta that
// relays to an SmtpSink on 127.0.0.1 answering 4xx, so that mail stays in the queue:
// `labmta queue [--json]`, `show`, `delete <ID>|ALL` and `flush`, with --spool or --config.
#include "tests/e2e/harness.h"
#include "tests/support/smtp_sink.h"

#include <catch2/catch.hpp>

#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>

namespace labmta::test {
namespace {

constexpr std::string_view kSender = "joiakim@domain.local";
constexpr std::string_view kTryLater = "451 4.3.0 try later";

// A server that relays for 127.0.0.0/8 to sink and retries only after an hour, unless flushed.
std::string slow_retry_config(const SmtpSink& sink, const std::string& spool = "") {
    OutboundConfig outbound;
    outbound.relayhost = sink.relayhost();
    outbound.networks = {"127.0.0.0/8"};
    outbound.retry_s = 3600;
    outbound.max_retry_s = 3600;
    outbound.spool = spool;
    return make_outbound_config_yaml(outbound);
}

// Queues one message (no AUTH needed from 127.0.0.1 here); returns its queue ID.
std::string queue_message(TestServer& server,
                          const std::vector<std::string>& recipients,
                          const std::string& marker) {
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO client.example").starts_with("250-"));
    const std::string id =
        send_message(client, kSender, recipients, "Subject: " + marker + "\n\nbody of " + marker);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    return id;
}

// Waits until the server has logged a deferral for this message and recipient.
void wait_deferred(TestServer& server, const std::string& id, const std::string& recipient) {
    const std::string line = wait_for_log_line(
        server.process(), ": " + id + ": to=<" + regex_escape(recipient) + ">, .*status=deferred");
    REQUIRE_FALSE(line.empty());
}

CommandResult tool(const std::string& command,
                   const std::string& spool,
                   const std::vector<std::string>& more = {}) {
    std::vector<std::string> args{command};
    args.insert(args.end(), more.begin(), more.end());
    args.push_back("--spool");
    args.push_back(spool);
    return run_labmta(args);
}

nlohmann::json queue_json(const std::string& spool) {
    const CommandResult result = tool("queue", spool, {"--json"});
    INFO("labmta queue --json: " << result.output);
    REQUIRE(result.exit_code == 0);
    nlohmann::json parsed;
    REQUIRE_NOTHROW(parsed = nlohmann::json::parse(result.output));
    REQUIRE(parsed.is_array());
    return parsed;
}

}  // namespace

TEST_CASE("e2e queue tools: an empty queue is 'Mail queue is empty' and []", "[e2e][queue_tools]") {
    SmtpSink sink;
    TestServer server({slow_retry_config(sink), ""});
    const CommandResult listing = tool("queue", server.spool());
    INFO(listing.output);
    CHECK(listing.exit_code == 0);
    CHECK(listing.output == "Mail queue is empty\n");
    CHECK(queue_json(server.spool()).empty());
}

TEST_CASE("e2e queue tools: queue lists deferred mail with its reason, as text and JSON",
          "[e2e][queue_tools]") {
    SinkPolicy policy;
    policy.rcpt["david.backoffice@gmail.com"] = {std::string(kTryLater)};
    SmtpSink sink(policy);
    TestServer server({slow_retry_config(sink), ""});
    const std::string marker = unique_marker();
    const std::int64_t before = std::time(nullptr);
    const std::string id =
        queue_message(server, {"jowadev@gmail.com", "david.backoffice@gmail.com"}, marker);
    wait_deferred(server, id, "david.backoffice@gmail.com");
    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));  // jowadev@ was delivered

    const CommandResult listing = tool("queue", server.spool());
    INFO("labmta queue:\n" << listing.output);
    CHECK(listing.exit_code == 0);
    CHECK(std::regex_search(listing.output,
                            std::regex("(^|\n)" + id
                                       + "[*!]? +[0-9]+ [A-Z][a-z]{2} [A-Z][a-z]{2} +"
                                         "[0-9]+ [0-9]{2}:[0-9]{2}:[0-9]{2} +"
                                       + regex_escape(std::string(kSender)) + "\n")));
    CHECK(std::regex_search(listing.output,
                            std::regex("\n *\\([^\n]*" + regex_escape(std::string(kTryLater))
                                       + "[^\n]*\\)\n +david\\.backoffice@gmail\\.com\n")));
    CHECK(listing.output.find("jowadev@gmail.com") == std::string::npos);  // delivered
    CHECK(std::regex_search(listing.output, std::regex("\n-- [0-9]+ Kbytes in 1 Requests?\\.\n$")));

    const nlohmann::json queue = queue_json(server.spool());
    INFO("labmta queue --json: " << queue.dump(2));
    REQUIRE(queue.size() == 1);
    const nlohmann::json& entry = queue[0];
    CHECK(entry.at("queue_id") == id);
    CHECK(entry.at("sender") == std::string(kSender));
    CHECK(entry.at("message_size").get<std::int64_t>() > 0);
    const std::int64_t arrival = entry.at("arrival_time").get<std::int64_t>();
    CHECK(arrival >= before - 1);
    CHECK(arrival <= std::time(nullptr) + 1);
    const nlohmann::json& recipients = entry.at("recipients");
    REQUIRE(recipients.size() == 2);
    CHECK(recipients[0].at("address") == "jowadev@gmail.com");
    CHECK(recipients[0].at("delivered") == true);
    CHECK_FALSE(recipients[0].contains("delay_reason"));
    CHECK(recipients[1].at("address") == "david.backoffice@gmail.com");
    CHECK(recipients[1].at("delivered") == false);
    CHECK(recipients[1].at("delay_reason").get<std::string>().find(kTryLater) != std::string::npos);
}

TEST_CASE("e2e queue tools: show prints the envelope records and the message",
          "[e2e][queue_tools]") {
    SinkPolicy policy;
    policy.any_rcpt = {std::string(kTryLater)};
    SmtpSink sink(policy);
    TestServer server({slow_retry_config(sink), ""});
    const std::string marker = unique_marker();
    const std::string id = queue_message(server, {"jowadev@gmail.com"}, marker);
    wait_deferred(server, id, "jowadev@gmail.com");

    const CommandResult shown = tool("show", server.spool(), {id});
    INFO("labmta show:\n" << shown.output);
    CHECK(shown.exit_code == 0);
    CHECK(shown.output.starts_with("*** ENVELOPE RECORDS " + id + " ***\n"));
    CHECK(shown.output.find(std::string(kSender)) != std::string::npos);
    CHECK(shown.output.find("jowadev@gmail.com") != std::string::npos);
    CHECK(shown.output.find("Subject: " + marker + "\n") != std::string::npos);
    CHECK(shown.output.find("body of " + marker + "\n") != std::string::npos);
    const std::size_t envelope_end = shown.output.find("Subject: " + marker);
    CHECK(shown.output.find(std::string(kSender)) < envelope_end);

    const CommandResult unknown = tool("show", server.spool(), {"ABCDEF0123456"});
    INFO("labmta show of an unknown ID: " << unknown.output);
    CHECK(unknown.exit_code == 1);
    CHECK_FALSE(unknown.output.empty());
}

TEST_CASE("e2e queue tools: delete removes one message, delete ALL the rest",
          "[e2e][queue_tools]") {
    SinkPolicy policy;
    policy.any_rcpt = {std::string(kTryLater)};
    SmtpSink sink(policy);
    TestServer server({slow_retry_config(sink), ""});
    const std::string first = queue_message(server, {"jowadev@gmail.com"}, unique_marker());
    const std::string second = queue_message(server, {"jowadev@gmail.com"}, unique_marker());
    const std::string third =
        queue_message(server, {"david.backoffice@gmail.com"}, unique_marker());
    wait_deferred(server, first, "jowadev@gmail.com");
    wait_deferred(server, second, "jowadev@gmail.com");
    wait_deferred(server, third, "david.backoffice@gmail.com");
    REQUIRE(queue_json(server.spool()).size() == 3);

    const CommandResult deleted = tool("delete", server.spool(), {first});
    INFO("labmta delete " << first << ": " << deleted.output);
    CHECK(deleted.exit_code == 0);
    const nlohmann::json left = queue_json(server.spool());
    REQUIRE(left.size() == 2);
    for (const nlohmann::json& entry : left) {
        CHECK(entry.at("queue_id") != first);
    }
    CHECK(tool("queue", server.spool()).output.find(first) == std::string::npos);

    const CommandResult all = tool("delete", server.spool(), {"ALL"});
    INFO("labmta delete ALL: " << all.output);
    CHECK(all.exit_code == 0);
    CHECK(tool("queue", server.spool()).output == "Mail queue is empty\n");
    CHECK(list_files(server.incoming_dir()).empty());

    // A retry now finds nothing to send, and the server goes on working.
    const std::size_t attempts = sink.transactions().size();
    CHECK(tool("flush", server.spool()).exit_code == 0);
    check_fresh_message_delivered(server);
    CHECK(
        wait_until([&] { return tool("queue", server.spool()).output == "Mail queue is empty\n"; },
                   kDeliveryWait));
    CHECK(sink.transactions().size() == attempts);
}

TEST_CASE("e2e queue tools: flush makes the running server retry deferred mail now",
          "[e2e][queue_tools]") {
    SinkPolicy policy;
    policy.any_rcpt = {std::string(kTryLater), kRcptOk};
    SmtpSink sink(policy);
    TestServer server({slow_retry_config(sink), ""});
    const std::string marker = unique_marker();
    const std::string id = queue_message(server, {"jowadev@gmail.com"}, marker);
    wait_deferred(server, id, "jowadev@gmail.com");
    CHECK(sink.accepted_messages().empty());

    const CommandResult flushed = tool("flush", server.spool());
    INFO("labmta flush: " << flushed.output);
    CHECK(flushed.exit_code == 0);
    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));  // far sooner than queue.retry (1 h)
    CHECK(sink.accepted_messages().front().data.find(marker) != std::string::npos);
    CHECK_FALSE(wait_for_log_line(server.process(), ": " + id + ": removed$").empty());
    CHECK(tool("queue", server.spool()).output == "Mail queue is empty\n");
}

TEST_CASE("e2e queue tools: flush without a running server is exit 1 with a message",
          "[e2e][queue_tools]") {
    SmtpSink sink;
    TestServer server({slow_retry_config(sink), ""});
    REQUIRE(server.stop() == kCleanExit);
    const CommandResult flushed = tool("flush", server.spool());
    INFO("labmta flush: " << flushed.output);
    CHECK(flushed.exit_code == 1);
    CHECK_FALSE(flushed.output.empty());
    // The queue can still be listed.
    CHECK(tool("queue", server.spool()).output == "Mail queue is empty\n");
}

TEST_CASE("e2e queue tools: --config FILE finds the spool like --spool", "[e2e][queue_tools]") {
    SinkPolicy policy;
    policy.any_rcpt = {std::string(kTryLater), kRcptOk};
    SmtpSink sink(policy);
    TempDir dir("labmta-queue-config");
    const std::string spool = dir / "spool";
    const std::string config = slow_retry_config(sink, spool);
    const std::string config_path = dir / "labmta.yaml";
    write_text_file(config_path, config);
    TestServer server({config, spool});

    CHECK(run_labmta({"queue", "--config", config_path}).output == "Mail queue is empty\n");
    const std::string id = queue_message(server, {"jowadev@gmail.com"}, unique_marker());
    wait_deferred(server, id, "jowadev@gmail.com");
    const CommandResult listing = run_labmta({"queue", "--config", config_path});
    INFO(listing.output);
    CHECK(listing.exit_code == 0);
    CHECK(listing.output.find(id) != std::string::npos);
    const CommandResult shown = run_labmta({"show", id, "--config", config_path});
    CHECK(shown.exit_code == 0);
    CHECK(shown.output.starts_with("*** ENVELOPE RECORDS " + id + " ***"));
    CHECK(run_labmta({"flush", "--config", config_path}).exit_code == 0);
    REQUIRE(sink.wait_for_messages(1, kDeliveryWait));
    CHECK_FALSE(wait_for_log_line(server.process(), ": " + id + ": removed$").empty());
}

}  // namespace labmta::test
