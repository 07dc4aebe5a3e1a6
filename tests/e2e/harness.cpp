// End-to-end test harness (see harness.h).
#include "tests/e2e/harness.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <exception>
#include <fstream>
#include <iostream>
#include <regex>

namespace labmta::test {
namespace {

void print_log_tail(const ServerProcess& process) {
    std::cerr << "---- labmta log (last lines) ----\n"
              << process.log_tail() << "---- end of labmta log ----\n";
}

}  // namespace

std::string lab_config_path() {
    return std::string(LABMTA_SOURCE_DIR) + "/config/labmta.yaml";
}

std::string fixture_path(std::string_view name) {
    return std::string(LABMTA_FIXTURES_DIR) + "/" + std::string(name);
}

std::string make_config_yaml(const std::vector<std::pair<std::string, std::string>>& limits,
                             std::string_view local_recipients) {
    std::string yaml =
        "hostname: profbox.domain.local\n"
        "banner: ESMTP labmta\n"
        "listen:\n"
        "  - \"127.0.0.1:0\"\n"
        "local_domains:\n"
        "  - domain.local\n"
        "local_recipients: "
        + std::string(local_recipients)
        + "\n"
          "users:\n"
          "  - name: student\n"
          "    password: \"hessovs!\"\n";
    if (!limits.empty()) {
        yaml += "limits:\n";
        for (const auto& [key, value] : limits) {
            yaml += "  " + key + ": " + value + "\n";
        }
    }
    return yaml;
}

std::string make_outbound_config_yaml(
    const OutboundConfig& outbound,
    const std::vector<std::pair<std::string, std::string>>& limits,
    std::string_view local_recipients) {
    std::string yaml = make_config_yaml(limits, local_recipients);
    if (!outbound.spool.empty()) {
        yaml += "spool: \"" + outbound.spool + "\"\n";
    }
    yaml += "relay:\n  networks: [";
    for (std::size_t i = 0; i < outbound.networks.size(); ++i) {
        yaml += (i == 0 ? "\"" : ", \"") + outbound.networks[i] + "\"";
    }
    yaml += "]\n";
    if (!outbound.relayhost.empty()) {
        yaml += "  relayhost: \"" + outbound.relayhost + "\"\n";
    }
    yaml += "queue:\n  retry: " + std::to_string(outbound.retry_s)
            + "\n  max_retry: " + std::to_string(outbound.max_retry_s)
            + "\n  lifetime: " + std::to_string(outbound.lifetime_s) + "\n";
    if (!outbound.dns_servers.empty()) {
        yaml += "dns:\n  servers:\n";
        for (const std::string& server : outbound.dns_servers) {
            yaml += "    - \"" + server + "\"\n";
        }
    }
    return yaml;
}

std::vector<std::string> log_lines_matching(const ServerProcess& process,
                                            const std::string& pattern) {
    const std::regex expression(pattern);
    const std::string log = process.log();
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < log.size()) {
        std::size_t end = log.find('\n', start);
        end = end == std::string::npos ? log.size() : end;
        std::string line = log.substr(start, end - start);
        if (std::regex_search(line, expression)) {
            lines.push_back(std::move(line));
        }
        start = end + 1;
    }
    return lines;
}

std::string wait_for_log_line(const ServerProcess& process,
                              const std::string& pattern,
                              std::chrono::milliseconds timeout) {
    std::string found;
    wait_until(
        [&] {
            const auto lines = log_lines_matching(process, pattern);
            found = lines.empty() ? "" : lines.front();
            return !lines.empty();
        },
        timeout);
    return found;
}

CommandResult run_labmta(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    std::vector<std::string> argv{LABMTA_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, timeout);
}

std::string regex_escape(std::string_view text) {
    static constexpr std::string_view kSpecial = R"(\^$.|?*+()[]{})";
    std::string out;
    for (const char c : text) {
        if (kSpecial.find(c) != std::string_view::npos) {
            out += '\\';
        }
        out += c;
    }
    return out;
}

TestServer::TestServer(TestServerOptions options) {
    spool_ = options.spool_dir.empty() ? dir_ / "spool" : options.spool_dir;
    ServeOptions serve;
    serve.binary = LABMTA_BINARY;
    serve.spool_dir = spool_;
    serve.work_dir = dir_.path();
    serve.user = options.user;
    serve.environment = options.environment;
    if (options.config_yaml.empty()) {
        serve.config_path = lab_config_path();
    } else {
        serve.config_path = dir_ / "labmta.yaml";
        write_text_file(serve.config_path, options.config_yaml);
    }
    config_path_ = serve.config_path;
    process_ = std::make_unique<ServerProcess>(serve);
}

TestServer::~TestServer() {
    if (!process_) {
        return;
    }
    if (std::uncaught_exceptions() > 0) {
        print_log_tail(*process_);
        return;  // ~ServerProcess kills it
    }
    // Every test ends with a clean stop, so a crash during the test, or a crash or a leak
    // (ASan) at exit, fails it.
    const std::string how = process_->is_running() ? process_->stop() : process_->wait_for_exit();
    if (how != kCleanExit) {
        print_log_tail(*process_);
    }
    CHECK(how == kCleanExit);
}

std::string TestServer::maildir_new(std::string_view user, std::string_view domain) const {
    return spool_ + "/mailboxes/" + std::string(domain) + "/" + std::string(user) + "/new";
}

std::string unique_marker() {
    static std::atomic<unsigned> counter{0};
    return "marker-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

std::string expect_reply(SmtpClient& client,
                         std::string_view line,
                         std::string_view expected_prefix) {
    const std::string reply = client.ask(line);
    if (!reply.starts_with(expected_prefix)) {
        throw SmtpClientError("\"" + std::string(line).substr(0, 80) + "\" got \"" + reply
                              + "\", expected \"" + std::string(expected_prefix) + "...\"");
    }
    return reply;
}

std::string send_message(SmtpClient& client,
                         std::string_view from,
                         const std::vector<std::string>& recipients,
                         std::string_view message) {
    expect_reply(client, "MAIL FROM:<" + std::string(from) + ">", "250 2.1.0 Ok");
    for (const std::string& recipient : recipients) {
        expect_reply(client, "RCPT TO:<" + recipient + ">", "250 2.1.5 Ok");
    }
    expect_reply(client, "DATA", "354 ");
    std::string data;
    std::size_t start = 0;
    while (start < message.size()) {
        std::size_t end = message.find('\n', start);
        end = end == std::string_view::npos ? message.size() : end;
        const std::string_view line = message.substr(start, end - start);
        data += line.starts_with('.') ? "." : "";  // RFC 5321 4.5.2 dot-stuffing
        data += line;
        data += "\r\n";
        start = end + 1;
    }
    client.send(data);
    const std::string reply = expect_reply(client, ".", "250 2.0.0 Ok: queued as ");
    return queue_id_of(reply);
}

std::string queue_id_of(std::string_view reply) {
    constexpr std::string_view kQueued = "250 2.0.0 Ok: queued as ";
    return reply.starts_with(kQueued) ? std::string(reply.substr(kQueued.size())) : "";
}

std::string wait_for_delivery(const std::string& dir,
                              std::string_view marker,
                              std::chrono::milliseconds timeout) {
    std::string found;
    wait_until(
        [&] {
            for (const std::string& name : list_files(dir)) {
                std::string content;
                try {
                    content = read_text_file(dir + "/" + name);
                } catch (const std::exception&) {
                    continue;  // renamed away meanwhile (a reader moved it to cur/)
                }
                if (content.find(marker) != std::string::npos) {
                    found = std::move(content);
                    return true;
                }
            }
            return false;
        },
        timeout);
    return found;
}

bool wait_for_file_count(const std::string& dir,
                         std::size_t count,
                         std::chrono::milliseconds timeout) {
    return wait_until([&] { return list_files(dir).size() == count; }, timeout);
}

bool wait_for_free_connection_slots(TestServer& server, std::size_t count) {
    return wait_until(
        [&] {
            try {
                std::vector<SmtpClient> probes;
                for (std::size_t i = 0; i < count; ++i) {
                    probes.push_back(server.connect());
                    if (probes.back().read_greeting() != kGreeting) {
                        return false;
                    }
                }
                for (SmtpClient& probe : probes) {
                    if (probe.ask("QUIT") != "221 2.0.0 Bye"
                        || !probe.read_until_closed().empty()) {
                        return false;
                    }
                }
                return true;
            } catch (const SmtpClientError&) {
                return false;  // refused, or closed while an earlier session was still counted
            }
        },
        kDeliveryWait);
}

TestServerOptions options_with(const std::vector<std::pair<std::string, std::string>>& limits,
                               std::string_view smtpd_section) {
    return TestServerOptions{.config_yaml = make_config_yaml(limits) + std::string(smtpd_section),
                             .spool_dir = ""};
}

SmtpClient ehlo_client(TestServer& server, std::string_view helo) {
    SmtpClient client = server.connect();
    REQUIRE(client.read_greeting() == kGreeting);
    REQUIRE(client.ask("EHLO " + std::string(helo)).starts_with("250-profbox.domain.local\n"));
    return client;
}

long resident_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

void check_fresh_message_delivered(TestServer& server) {
    SmtpClient client = ehlo_client(server, "fresh.example");
    const std::string marker = unique_marker();
    const std::string queue_id = send_message(client,
                                              "fresh@domain.local",
                                              {"student@domain.local"},
                                              "Subject: fresh " + marker + "\n\n" + marker);
    CHECK(client.ask("QUIT") == "221 2.0.0 Bye");
    const std::string delivered = wait_for_delivery(server.maildir_new("student"), marker);
    INFO("fresh message " << queue_id << " with " << marker);
    CHECK_FALSE(delivered.empty());
}

}  // namespace labmta::test
