// Shared pieces of the end-to-end tests: a labmta server on a free port with a private spool,
// configs written for one test, whole SMTP transactions, and bounded waits for delivered mail.
// Helpers throw std::runtime_error (never Catch macros) so that client threads may use them;
// ehlo_client() and check_fresh_message_delivered() are the exceptions and run on the test's
// thread.
#pragma once

#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/smtp_client.h"
#include "tests/support/temp_dir.h"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labmta::test {

inline constexpr std::string_view kHost = "profbox.domain.local";
inline constexpr std::string_view kGreeting = "220 profbox.domain.local ESMTP labmta";
inline constexpr std::chrono::milliseconds kDeliveryWait{10000};
// What a session past limits.session_timeout (or idle past limits.timeout) gets before close.
inline constexpr std::string_view kTimeoutExceeded =
    "421 4.4.2 profbox.domain.local Error: timeout exceeded";

std::string lab_config_path();                    // config/labmta.yaml in the source tree
std::string fixture_path(std::string_view name);  // tests/fixtures/<name>

// A config like the lab one (profbox.domain.local, domain.local, user student), with the given
// local_recipients policy and limits ({"timeout", "1"}, ...).
std::string make_config_yaml(const std::vector<std::pair<std::string, std::string>>& limits = {},
                             std::string_view local_recipients = "any");

struct TestServerOptions {
    std::string config_yaml;  // empty: the lab config file config/labmta.yaml
    std::string spool_dir;    // empty: a fresh spool in the server's temp directory
    std::string user = std::string(kTestUser);  // --user; empty: the config's user:
    std::vector<std::string> environment{};     // see ServeOptions::environment
};

// Options for a server on make_config_yaml(limits), with smtpd_section (YAML) appended.
TestServerOptions options_with(const std::vector<std::pair<std::string, std::string>>& limits,
                               std::string_view smtpd_section = "");

// `labmta serve --listen 127.0.0.1:0 --spool ... --ready-file ...`. At the end of a test that
// did not stop it, it is stopped with SIGTERM and must exit 0 (a CHECK); when the test ends
// with an exception (a failed REQUIRE) it is killed with SIGKILL instead, and its log tail is
// printed to stderr to show what the server saw.
class TestServer {
public:
    TestServer() : TestServer(TestServerOptions{}) {}
    explicit TestServer(TestServerOptions options);
    ~TestServer();
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    std::uint16_t port() const { return process_->port(); }
    SmtpClient connect() const { return SmtpClient(port()); }
    ServerProcess& process() { return *process_; }
    std::string stop() { return process_->stop(); }

    const std::string& spool() const { return spool_; }
    // The config file it was started with (a copy in its temp dir unless the lab config).
    const std::string& config_path() const { return config_path_; }
    std::string incoming_dir() const { return spool_ + "/incoming"; }
    // <spool>/mailboxes/<domain>/<user>/new
    std::string maildir_new(std::string_view user, std::string_view domain = "domain.local") const;

private:
    TempDir dir_;
    std::string spool_;
    std::string config_path_;
    std::unique_ptr<ServerProcess> process_;
};

// "marker-<pid>-<n>": a string that appears in exactly one test message.
std::string unique_marker();

// Sends line and returns the reply; throws SmtpClientError unless the reply starts with
// expected_prefix.
std::string expect_reply(SmtpClient& client,
                         std::string_view line,
                         std::string_view expected_prefix);

// MAIL, RCPT (each), DATA, the message (lines separated by "\n"; CRLF and dot-stuffing are
// added here), "." — in an open session after HELO/EHLO. Returns the queue ID.
std::string send_message(SmtpClient& client,
                         std::string_view from,
                         const std::vector<std::string>& recipients,
                         std::string_view message);

// The queue ID of "250 2.0.0 Ok: queued as <ID>", or "" for any other reply.
std::string queue_id_of(std::string_view reply);

// Waits (bounded) for a file in dir whose content contains marker; returns its content, or ""
// when none appeared in time.
std::string wait_for_delivery(const std::string& dir,
                              std::string_view marker,
                              std::chrono::milliseconds timeout = kDeliveryWait);

// Waits (bounded) until dir holds exactly count regular files.
bool wait_for_file_count(const std::string& dir,
                         std::size_t count,
                         std::chrono::milliseconds timeout = kDeliveryWait);

// Outbound delivery (issue 3): the relay, queue and dns sections added to make_config_yaml().
struct OutboundConfig {
    std::string relayhost;                 // relay.relayhost, e.g. "[127.0.0.1]:2525"; "": none
    std::vector<std::string> networks;     // relay.networks (CIDR)
    unsigned retry_s = 1;                  // queue.retry
    unsigned max_retry_s = 2;              // queue.max_retry
    unsigned lifetime_s = 3600;            // queue.lifetime
    std::vector<std::string> dns_servers;  // dns.servers ("127.0.0.1:PORT"); empty: none
    std::string spool;                     // spool; "": not written (the server gets --spool)
};
std::string make_outbound_config_yaml(
    const OutboundConfig& outbound,
    const std::vector<std::pair<std::string, std::string>>& limits = {},
    std::string_view local_recipients = "any");

// The server's log lines that match pattern (ECMAScript, searched within each line), so far.
std::vector<std::string> log_lines_matching(const ServerProcess& process,
                                            const std::string& pattern);
// Waits (bounded) for a log line that matches pattern; returns it, or "" when none came.
std::string wait_for_log_line(const ServerProcess& process,
                              const std::string& pattern,
                              std::chrono::milliseconds timeout = kDeliveryWait);

// Runs the built labmta binary (LABMTA_BINARY) with args, e.g. {"queue", "--spool", dir}.
CommandResult run_labmta(const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout = kDefaultWait);

// Regex-escapes text (queue IDs are hex, addresses have dots) for the patterns above.
std::string regex_escape(std::string_view text);

// Waits (bounded) until `count` new sessions can be open at the same time: each gets the 220,
// then QUIT and the server's close. After a connection limit test, so that what follows is not
// refused because the server has not yet seen an earlier client go.
bool wait_for_free_connection_slots(TestServer& server, std::size_t count);

// A new connection after the greeting and "EHLO <helo>" (both REQUIREd). Uses Catch assertions.
SmtpClient ehlo_client(TestServer& server, std::string_view helo = "client.example");

// The resident memory of process pid in KiB (Linux /proc), or -1 when it cannot be read.
long resident_kib(pid_t pid);

// Every abuse test ends with this: a new connection sends a normal message to student, and it
// lands in the Maildir. Uses Catch assertions.
void check_fresh_message_delivered(TestServer& server);

}  // namespace labmta::test
