// Unit tests for config/: parsing inline YAML, defaults, every error message (key and 1-based
// line), the shipped config/labmta.yaml, and the to_yaml round trip.
#include "config/config.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using labmta::config::Config;
using labmta::config::ConfigError;
using labmta::config::ListenAddress;
using labmta::config::LocalRecipients;
using labmta::config::parse_config;

const std::string kRepoRoot = LABMTA_FIXTURES_DIR "/../..";

// The message of the ConfigError that parsing `yaml` throws, or "(no error)".
std::string error_of(std::string_view yaml) {
    try {
        parse_config(yaml, "t.yaml");
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "(no error)";
}

Config parse(std::string_view yaml) {
    return parse_config(yaml, "t.yaml");
}

std::vector<std::string> listen_texts(const Config& config) {
    std::vector<std::string> texts;
    for (const ListenAddress& address : config.listen) {
        texts.push_back(address.host + " " + std::to_string(address.port));
    }
    return texts;
}

std::string lower(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return text;
}

// Field by field, so a failure names the field; keep in step with config.h.
void check_same(const Config& a, const Config& b) {
    CHECK(a.hostname == b.hostname);
    CHECK(a.banner == b.banner);
    CHECK(listen_texts(a) == listen_texts(b));
    CHECK(a.spool == b.spool);
    CHECK(a.local_domains == b.local_domains);
    CHECK(a.local_recipients == b.local_recipients);
    REQUIRE(a.users.size() == b.users.size());
    for (std::size_t i = 0; i < a.users.size(); ++i) {
        CHECK(a.users[i].name == b.users[i].name);
        CHECK(a.users[i].password == b.users[i].password);
        CHECK(a.users[i].password_hash == b.users[i].password_hash);
    }
    CHECK(a.relay.networks == b.relay.networks);
    CHECK(a.relay.relayhost == b.relay.relayhost);
    CHECK(a.limits.message_size == b.limits.message_size);
    CHECK(a.limits.recipients == b.limits.recipients);
    CHECK(a.limits.line_length == b.limits.line_length);
    CHECK(a.limits.timeout_s == b.limits.timeout_s);
    CHECK(a.limits.errors == b.limits.errors);
    CHECK(a.limits.connections == b.limits.connections);
    CHECK(a.limits.connections_per_client == b.limits.connections_per_client);
    CHECK(a.limits.session_timeout_s == b.limits.session_timeout_s);
    CHECK(a.limits.auth_failure_delay_ms == b.limits.auth_failure_delay_ms);
    CHECK(a.limits.auth_failures == b.limits.auth_failures);
    CHECK(a.limits.auth_failures_per_client == b.limits.auth_failures_per_client);
    CHECK(a.limits.auth_block_time_s == b.limits.auth_block_time_s);
    CHECK(a.smtpd.greet_pause_ms == b.smtpd.greet_pause_ms);
    CHECK(a.queue.retry_s == b.queue.retry_s);
    CHECK(a.queue.max_retry_s == b.queue.max_retry_s);
    CHECK(a.queue.lifetime_s == b.queue.lifetime_s);
    CHECK(a.queue.min_free_bytes == b.queue.min_free_bytes);
    CHECK(a.user == b.user);
    CHECK(a.dns.servers == b.dns.servers);
}

void check_defaults(const Config& config) {
    const std::string fqdn = lower(labmta::config::machine_fqdn());
    CHECK(config.hostname == fqdn);
    CHECK(config.banner == "ESMTP labmta");
    CHECK(listen_texts(config) == std::vector<std::string>{"0.0.0.0 25"});
    CHECK(config.spool == "/var/spool/labmta");
    CHECK(config.local_domains == std::vector<std::string>{fqdn});
    CHECK(config.local_recipients == LocalRecipients::Any);
    CHECK(config.users.empty());
    CHECK(config.relay.networks.empty());
    CHECK(config.relay.relayhost.empty());
    CHECK(config.limits.message_size == 10240000);
    CHECK(config.limits.recipients == 1000);
    CHECK(config.limits.line_length == 2048);
    CHECK(config.limits.timeout_s == 300);
    CHECK(config.limits.errors == 20);
    CHECK(config.limits.connections == 1000);
    CHECK(config.limits.connections_per_client == 50);
    CHECK(config.limits.session_timeout_s == 3600);
    CHECK(config.limits.auth_failure_delay_ms == 1000);
    CHECK(config.limits.auth_failures == 3);
    CHECK(config.limits.auth_failures_per_client == 10);
    CHECK(config.limits.auth_block_time_s == 600);
    CHECK(config.smtpd.greet_pause_ms == 0);
}

constexpr std::string_view kFullYaml = R"(# every key, none at its default
hostname: mx.example.org
banner: "ESMTP test: #1"
listen:
  - 127.0.0.1:2525
  - "[::1]:0"
spool: ./var/spool
local_domains: [example.org, lab.example.org]
local_recipients: users
users:
  - name: alice
    password: "s3cret!"
  - name: bob
    password_hash: "$y$j9T$abcdefgh$0123456789"
relay:
  networks: [192.168.0.0/16, "2001:db8::/32", 10.1.2.3]
  relayhost: "[smtp.example.org]:587"
limits:
  message_size: 5000000
  recipients: 100
  line_length: 1000
  timeout: 60
  errors: 5
  connections: 200
  connections_per_client: 10
)";

}  // namespace

TEST_CASE("config: empty document gives all defaults", "[config]") {
    check_defaults(parse(""));
}

TEST_CASE("config: document of only comments gives all defaults", "[config]") {
    check_defaults(parse("# nothing here\n\n   # still nothing\n"));
}

TEST_CASE("config: key without a value keeps its default", "[config]") {
    check_defaults(parse("hostname:\nbanner:\nlisten:\nusers:\nrelay:\nlimits:\n"));
}

TEST_CASE("config: every key is read", "[config]") {
    const Config config = parse(kFullYaml);
    CHECK(config.hostname == "mx.example.org");
    CHECK(config.banner == "ESMTP test: #1");
    CHECK(listen_texts(config) == std::vector<std::string>{"127.0.0.1 2525", "::1 0"});
    CHECK(config.spool == "./var/spool");
    CHECK(config.local_domains == std::vector<std::string>{"example.org", "lab.example.org"});
    CHECK(config.local_recipients == LocalRecipients::Users);
    REQUIRE(config.users.size() == 2);
    CHECK(config.users[0].name == "alice");
    CHECK(config.users[0].password == "s3cret!");
    CHECK(config.users[0].password_hash.empty());
    CHECK(config.users[1].name == "bob");
    CHECK(config.users[1].password.empty());
    CHECK(config.users[1].password_hash == "$y$j9T$abcdefgh$0123456789");
    CHECK(config.relay.networks
          == std::vector<std::string>{"192.168.0.0/16", "2001:db8::/32", "10.1.2.3/32"});
    CHECK(config.relay.relayhost == "[smtp.example.org]:587");
    CHECK(config.limits.message_size == 5000000);
    CHECK(config.limits.recipients == 100);
    CHECK(config.limits.line_length == 1000);
    CHECK(config.limits.timeout_s == 60);
    CHECK(config.limits.errors == 5);
    CHECK(config.limits.connections == 200);
    CHECK(config.limits.connections_per_client == 10);
}

TEST_CASE("config: local_domains defaults to the hostname", "[config]") {
    CHECK(parse("hostname: mx.example.org\n").local_domains
          == std::vector<std::string>{"mx.example.org"});
    CHECK(parse("hostname: mx.example.org\nlocal_domains: []\n").local_domains.empty());
}

TEST_CASE("config: domains are lower-cased", "[config]") {
    const Config config = parse(
        "hostname: ProfBox.Domain.LOCAL\nlocal_domains: [Domain.Local]\n"
        "relay: {relayhost: Mail.Example.ORG:25}\n");
    CHECK(config.hostname == "profbox.domain.local");
    CHECK(config.local_domains == std::vector<std::string>{"domain.local"});
    CHECK(config.relay.relayhost == "mail.example.org:25");
}

TEST_CASE("config: listen accepts a single string", "[config]") {
    CHECK(listen_texts(parse("listen: 127.0.0.1:2525\n"))
          == std::vector<std::string>{"127.0.0.1 2525"});
}

TEST_CASE("config: listen accepts IPv6 in brackets, localhost and port 0", "[config]") {
    const Config config = parse("listen: ['[::]:25', 'localhost:0', '0.0.0.0:0', '[::1]:0']\n");
    CHECK(listen_texts(config)
          == std::vector<std::string>{":: 25", "127.0.0.1 0", "0.0.0.0 0", "::1 0"});
}

TEST_CASE("config: unknown top-level key names key and line", "[config]") {
    CHECK(error_of("hostname: a.example\nbanner: x\nmax_size: 5\n")
          == "t.yaml:3: max_size: unknown key");
}

TEST_CASE("config: unknown nested key names dotted key and line", "[config]") {
    CHECK(error_of("limits:\n  timeout: 10\n  max_size: 5\n")
          == "t.yaml:3: limits.max_size: unknown key");
    CHECK(error_of("relay:\n  networks: []\n  relay_host: x\n")
          == "t.yaml:3: relay.relay_host: unknown key");
}

TEST_CASE("config: unknown key in a user names the user's index", "[config]") {
    CHECK(error_of("users:\n  - name: a\n    password: p\n    pasword: q\n")
          == "t.yaml:4: users[0].pasword: unknown key");
}

TEST_CASE("config: repeated key is an error", "[config]") {
    CHECK(error_of("spool: /a\nspool: /b\n") == "t.yaml:2: spool: duplicate key");
}

TEST_CASE("config: bad listen entry names index and line", "[config]") {
    CHECK(error_of("listen:\n  - 127.0.0.1:25\n  - foo\n")
          == "t.yaml:3: listen[1]: expected ADDR:PORT, got 'foo'");
}

TEST_CASE("config: listen port outside 0..65535 is an error", "[config]") {
    CHECK(error_of("listen: 127.0.0.1:65536\n")
          == "t.yaml:1: listen: expected a port number 0..65535, got '127.0.0.1:65536'");
    CHECK(error_of("listen: 127.0.0.1:-1\n")
          == "t.yaml:1: listen: expected a port number 0..65535, got '127.0.0.1:-1'");
    CHECK(error_of("listen: '127.0.0.1:'\n")
          == "t.yaml:1: listen: expected a port number 0..65535, got '127.0.0.1:'");
    CHECK(error_of("listen: 127.0.0.1:smtp\n")
          == "t.yaml:1: listen: expected a port number 0..65535, got '127.0.0.1:smtp'");
    CHECK(listen_texts(parse("listen: 127.0.0.1:65535\n"))
          == std::vector<std::string>{"127.0.0.1 65535"});
}

TEST_CASE("config: listen host must be a numeric address", "[config]") {
    CHECK(error_of("listen: [example.org:25]\n")
          == "t.yaml:1: listen[0]: expected a numeric IPv4 address or [IPv6] address, "
             "got 'example.org:25'");
    CHECK(error_of("listen: '::1:25'\n")
          == "t.yaml:1: listen: IPv6 addresses are written in brackets, like [::]:25, "
             "got '::1:25'");
    CHECK(error_of("listen: '[1.2.3.4]:25'\n")
          == "t.yaml:1: listen: expected an IPv6 address inside [...], got '[1.2.3.4]:25'");
    CHECK(error_of("listen: ['[::1]25']\n")
          == "t.yaml:1: listen[0]: expected ADDR:PORT, got '[::1]25'");
}

TEST_CASE("config: repeated listen address is an error", "[config]") {
    CHECK(error_of("listen:\n  - 0.0.0.0:25\n  - 0.0.0.0:25\n")
          == "t.yaml:3: listen[1]: duplicate address '0.0.0.0:25'");
    CHECK(error_of("listen: []\n") == "t.yaml:1: listen: expected at least one ADDR:PORT");
}

TEST_CASE("config: parse_listen_address names the flag in errors", "[config]") {
    const ListenAddress address = labmta::config::parse_listen_address("127.0.0.1:2525", "x");
    CHECK(address.host == "127.0.0.1");
    CHECK(address.port == 2525);
    const ListenAddress any6 = labmta::config::parse_listen_address("[::]:0", "x");
    CHECK(any6.host == "::");
    CHECK(any6.port == 0);
    try {
        labmta::config::parse_listen_address("2525", "--listen");
        FAIL("no error");
    } catch (const ConfigError& error) {
        CHECK(std::string(error.what()) == "--listen: expected ADDR:PORT, got '2525'");
    }
}

TEST_CASE("config: bad CIDR names the network's index and line", "[config]") {
    const std::string head = "relay:\n  networks:\n    - 10.0.0.0/8\n    - ";
    CHECK(error_of(head + "10.0.0.0/33\n")
          == "t.yaml:4: relay.networks[1]: expected a prefix length 0..32, got '10.0.0.0/33'");
    CHECK(error_of(head + "'::1/129'\n")
          == "t.yaml:4: relay.networks[1]: expected a prefix length 0..128, got '::1/129'");
    CHECK(error_of(head + "10.0.0.0/\n")
          == "t.yaml:4: relay.networks[1]: expected a prefix length 0..32, got '10.0.0.0/'");
    CHECK(error_of(head + "10.0.0/8\n")
          == "t.yaml:4: relay.networks[1]: expected a network like 127.0.0.0/8 or ::1/128, "
             "got '10.0.0/8'");
    CHECK(error_of(head + "localhost\n")
          == "t.yaml:4: relay.networks[1]: expected a network like 127.0.0.0/8 or ::1/128, "
             "got 'localhost'");
}

TEST_CASE("config: CIDR with host bits set suggests the network", "[config]") {
    CHECK(error_of("relay: {networks: [10.0.0.1/8]}\n")
          == "t.yaml:1: relay.networks[0]: host bits are set (did you mean 10.0.0.0/8?), "
             "got '10.0.0.1/8'");
    CHECK(error_of("relay: {networks: ['fe80::1/10']}\n")
          == "t.yaml:1: relay.networks[0]: host bits are set (did you mean fe80::/10?), "
             "got 'fe80::1/10'");
}

TEST_CASE("config: bare network address means /32 or /128", "[config]") {
    CHECK(parse("relay: {networks: [127.0.0.1, '::1', 0.0.0.0/0]}\n").relay.networks
          == std::vector<std::string>{"127.0.0.1/32", "::1/128", "0.0.0.0/0"});
}

TEST_CASE("config: bad local_recipients is an error", "[config]") {
    CHECK(error_of("spool: /x\nlocal_recipients: all\n")
          == "t.yaml:2: local_recipients: expected 'any' or 'users', got 'all'");
    CHECK(parse("local_recipients: users\n").local_recipients == LocalRecipients::Users);
}

TEST_CASE("config: duplicate user is an error, ignoring case", "[config]") {
    CHECK(error_of("users:\n  - {name: bob, password: a}\n  - name: Bob\n    password: b\n")
          == "t.yaml:3: users[1].name: duplicate user 'Bob'");
}

TEST_CASE("config: user with both password and password_hash is an error", "[config]") {
    CHECK(error_of("users:\n  - name: bob\n    password: a\n    password_hash: $y$x\n")
          == "t.yaml:2: users[0]: needs exactly one of password or password_hash");
}

TEST_CASE("config: user with neither password field is an error", "[config]") {
    CHECK(error_of("users:\n  - name: bob\n")
          == "t.yaml:2: users[0]: needs exactly one of password or password_hash");
    CHECK(error_of("users:\n  - name: bob\n    password: ''\n")
          == "t.yaml:3: users[0].password: must not be empty");
}

TEST_CASE("config: bad user name is an error", "[config]") {
    const std::string rule = "a user name may not contain ':', spaces or control characters";
    CHECK(error_of("users: [{name: 'a:b', password: x}]\n")
          == "t.yaml:1: users[0].name: " + rule + ", got 'a:b'");
    CHECK(error_of("users: [{name: 'a b', password: x}]\n")
          == "t.yaml:1: users[0].name: " + rule + ", got 'a b'");
    CHECK(error_of("users: [{name: '', password: x}]\n")
          == "t.yaml:1: users[0].name: expected a non-empty user name, got ''");
    CHECK(error_of("users: [{password: x}]\n") == "t.yaml:1: users[0]: missing name");
    CHECK(error_of("users: [student]\n")
          == "t.yaml:1: users[0]: expected a mapping with name and password");
}

TEST_CASE("config: limits must be positive integers", "[config]") {
    const auto limit_error = [](std::string_view key, std::string_view value) {
        return error_of("limits:\n  " + std::string(key) + ": " + std::string(value) + "\n");
    };
    CHECK(limit_error("message_size", "-1")
          == "t.yaml:2: limits.message_size: expected a positive integer, got '-1'");
    CHECK(limit_error("recipients", "0")
          == "t.yaml:2: limits.recipients: expected a positive integer, got '0'");
    CHECK(limit_error("timeout", "ten")
          == "t.yaml:2: limits.timeout: expected a positive integer, got 'ten'");
    CHECK(limit_error("errors", "1.5")
          == "t.yaml:2: limits.errors: expected a positive integer, got '1.5'");
    CHECK(limit_error("connections", "+5")
          == "t.yaml:2: limits.connections: expected a positive integer, got '+5'");
    CHECK(limit_error("message_size", "10M")
          == "t.yaml:2: limits.message_size: expected a positive integer, got '10M'");
    CHECK(limit_error("connections_per_client", "4294967296")
          == "t.yaml:2: limits.connections_per_client: expected a positive integer up to "
             "4294967295, got '4294967296'");
    CHECK(limit_error("timeout", "[1]")
          == "t.yaml:2: limits.timeout: expected a single value, not a list or mapping");
    CHECK(parse("limits: {timeout: 007}\n").limits.timeout_s == 7);
}

TEST_CASE("config: line_length below 512 is an error", "[config]") {
    CHECK(error_of("limits:\n  line_length: 511\n")
          == "t.yaml:2: limits.line_length: must be at least 512, got '511'");
    CHECK(parse("limits:\n  line_length: 512\n").limits.line_length == 512);
}

TEST_CASE("config: YAML syntax error names the line", "[config]") {
    CHECK(error_of("hostname: a.example\nbanner: x\n  spool: /x\n")
          == "t.yaml:3: invalid YAML: illegal map value (column 8)");
    CHECK(error_of("spool: /x\nlisten: [1.2.3.4:25\n")
          == "t.yaml:3: invalid YAML: end of sequence flow not found (column 1)");
}

TEST_CASE("config: only one YAML document is allowed", "[config]") {
    CHECK(error_of("spool: /a\n---\nspool: /b\n") == "t.yaml:3: only one YAML document is allowed");
}

TEST_CASE("config: wrong value type names the key", "[config]") {
    CHECK(error_of("- a\n- b\n") == "t.yaml:1: expected a mapping of keys to values");
    CHECK(error_of("hostname: [a, b]\n")
          == "t.yaml:1: hostname: expected a single value, not a list or mapping");
    CHECK(error_of("relay: open\n") == "t.yaml:1: relay: expected a mapping of keys to values");
    CHECK(error_of("users: student\n") == "t.yaml:1: users: expected a list");
    CHECK(error_of("listen: {a: b}\n") == "t.yaml:1: listen: expected ADDR:PORT or a list of them");
    CHECK(error_of("local_domains: example.org\n") == "t.yaml:1: local_domains: expected a list");
    CHECK(error_of("spool: ''\n") == "t.yaml:1: spool: must not be empty");
}

TEST_CASE("config: bad hostname or local domain is an error", "[config]") {
    CHECK(error_of("hostname: my host\n")
          == "t.yaml:1: hostname: expected a domain name like mail.example.org, got 'my host'");
    CHECK(error_of("local_domains:\n  - ok.example\n  - bad..example\n")
          == "t.yaml:3: local_domains[1]: expected a domain name like mail.example.org, "
             "got 'bad..example'");
    CHECK(error_of("local_domains: [-x.example]\n")
          == "t.yaml:1: local_domains[0]: expected a domain name like mail.example.org, "
             "got '-x.example'");
    CHECK(error_of("local_domains: [a.example, A.Example]\n")
          == "t.yaml:1: local_domains[1]: duplicate domain 'a.example'");
}

TEST_CASE("config: control characters in a bad value are escaped in the error", "[config]") {
    CHECK(error_of("hostname: \"a\\nb\\x00\"\n")
          == "t.yaml:1: hostname: expected a domain name like mail.example.org, "
             "got 'a\\x0Ab\\x00'");
}

TEST_CASE("config: banner with control characters is an error", "[config]") {
    CHECK(error_of("banner: \"ESMTP\\r\\n250 fake\"\n")
          == "t.yaml:1: banner: must not contain control characters");
}

TEST_CASE("config: relayhost forms", "[config]") {
    const auto relayhost = [](std::string_view value) {
        return parse("relay: {relayhost: '" + std::string(value) + "'}\n").relay.relayhost;
    };
    CHECK(relayhost("[Smtp.Example.org]:587") == "[smtp.example.org]:587");
    CHECK(relayhost("mail.example.org:25") == "mail.example.org:25");
    CHECK(relayhost("mail.example.org") == "mail.example.org");
    CHECK(relayhost("[2001:db8::1]:25") == "[2001:db8::1]:25");
    CHECK(relayhost("").empty());
    const std::string shape = "expected [HOST]:PORT, HOST:PORT or HOST";
    CHECK(error_of("relay: {relayhost: 'mail.example.org:0'}\n")
          == "t.yaml:1: relay.relayhost: expected a port number 1..65535, "
             "got 'mail.example.org:0'");
    CHECK(error_of("relay: {relayhost: '[mail.example.org'}\n")
          == "t.yaml:1: relay.relayhost: " + shape + ", got '[mail.example.org'");
    CHECK(error_of("relay: {relayhost: 'mail example'}\n")
          == "t.yaml:1: relay.relayhost: " + shape + ", got 'mail example'");
    CHECK(error_of("relay: {relayhost: '[mx]x'}\n")
          == "t.yaml:1: relay.relayhost: " + shape + ", got '[mx]x'");
}

TEST_CASE("config: errors are StartupErrors", "[config]") {
    CHECK_THROWS_AS(parse("nope: 1\n"), labmta::StartupError);
}

TEST_CASE("config: load_config reads the shipped labmta.yaml", "[config]") {
    const Config config = labmta::config::load_config(kRepoRoot + "/config/labmta.yaml");
    CHECK(config.hostname == "profbox.domain.local");
    CHECK(config.banner == "ESMTP labmta");
    CHECK(listen_texts(config) == std::vector<std::string>{"0.0.0.0 25"});
    CHECK(config.spool == "/var/spool/labmta");
    CHECK(config.local_domains == std::vector<std::string>{"domain.local"});
    CHECK(config.local_recipients == LocalRecipients::Any);
    REQUIRE(config.users.size() == 1);
    CHECK(config.users[0].name == "student");
    CHECK(config.users[0].password == "hessovs!");
    CHECK(config.users[0].password_hash.empty());
    CHECK(config.relay.networks.empty());
    CHECK(config.relay.relayhost.empty());
    CHECK(config.limits.message_size == 10240000);
    CHECK(config.limits.recipients == 1000);
    CHECK(config.limits.line_length == 2048);
    CHECK(config.limits.timeout_s == 300);
    CHECK(config.limits.errors == 20);
    CHECK(config.limits.connections == 1000);
    CHECK(config.limits.connections_per_client == 50);
    CHECK(config.limits.session_timeout_s == 3600);
    CHECK(config.limits.auth_failure_delay_ms == 1000);
    CHECK(config.limits.auth_failures == 3);
    CHECK(config.limits.auth_failures_per_client == 10);
    CHECK(config.limits.auth_block_time_s == 600);
    CHECK(config.smtpd.greet_pause_ms == 0);
}

TEST_CASE("config: load_config names the path when the file is unreadable", "[config]") {
    try {
        labmta::config::load_config("/nonexistent/labmta.yaml");
        FAIL("no error");
    } catch (const ConfigError& error) {
        CHECK(std::string(error.what())
              == "/nonexistent/labmta.yaml: cannot read config file: No such file or directory");
    }
    try {
        labmta::config::load_config(LABMTA_FIXTURES_DIR);
        FAIL("no error");
    } catch (const ConfigError& error) {
        CHECK(std::string(error.what())
              == LABMTA_FIXTURES_DIR ": cannot read config file: Is a directory");
    }
}

TEST_CASE("config: load_config errors carry the path and line", "[config]") {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path()
        / ("labmta_config_test_" + std::to_string(getpid()) + ".yaml");
    {
        std::ofstream file(path);
        file << "hostname: a.example\nlimits:\n  max_size: 5\n";
    }
    std::string message;
    try {
        labmta::config::load_config(path.string());
    } catch (const ConfigError& error) {
        message = error.what();
    }
    std::filesystem::remove(path);
    CHECK(message == path.string() + ":3: limits.max_size: unknown key");
}

TEST_CASE("config: to_yaml masks passwords and shows hashes", "[config]") {
    const std::string yaml = labmta::config::to_yaml(parse(kFullYaml));
    CHECK(yaml.find("s3cret") == std::string::npos);
    CHECK(yaml.find("{name: alice, password: \"********\"}") != std::string::npos);
    CHECK(yaml.find("password_hash: $y$j9T$abcdefgh$0123456789") != std::string::npos);
}

TEST_CASE("config: to_yaml round trip gives the same config", "[config]") {
    const Config original = parse(kFullYaml);
    const std::string yaml = labmta::config::to_yaml(original);
    INFO(yaml);
    const Config reparsed = parse(yaml);
    Config expected = original;
    expected.users[0].password = "********";  // the only thing to_yaml does not keep
    check_same(reparsed, expected);
    CHECK(labmta::config::to_yaml(reparsed) == yaml);
}

TEST_CASE("config: to_yaml round trip of the defaults", "[config]") {
    const Config original = parse("");
    const std::string yaml = labmta::config::to_yaml(original);
    INFO(yaml);
    check_same(parse(yaml), original);
}

TEST_CASE("config: machine_fqdn gives a usable name", "[config]") {
    const std::string name = labmta::config::machine_fqdn();
    CHECK_FALSE(name.empty());
    CHECK(name.find_first_of(" \t\r\n") == std::string::npos);
    CHECK_FALSE(name.ends_with('.'));
}

TEST_CASE("config: queue retry times and DNS servers", "[config]") {
    const Config defaults = parse("");
    CHECK(defaults.queue.retry_s == 300);
    CHECK(defaults.queue.max_retry_s == 3600);
    CHECK(defaults.queue.lifetime_s == 432000);
    CHECK(defaults.dns.servers.empty());
    const Config config = parse(
        "queue:\n  retry: 1\n  max_retry: 4\n  lifetime: 60\n"
        "dns:\n  servers: [\"127.0.0.1:5353\", \"[::1]:53\"]\n");
    CHECK(config.queue.retry_s == 1);
    CHECK(config.queue.max_retry_s == 4);
    CHECK(config.queue.lifetime_s == 60);
    CHECK(config.dns.servers == std::vector<std::string>{"127.0.0.1:5353", "[::1]:53"});
    const Config reparsed = parse(labmta::config::to_yaml(config));
    check_same(reparsed, config);
}

TEST_CASE("config: bad queue and DNS values name key and line", "[config]") {
    CHECK_THROWS_WITH(parse("queue:\n  retry: 0\n"), Catch::Contains("queue.retry"));
    CHECK_THROWS_WITH(parse("queue:\n  retry: 0\n"), Catch::Contains(":2:"));
    CHECK_THROWS_WITH(parse("queue:\n  retries: 5\n"),
                      Catch::Contains("queue.retries: unknown key"));
    CHECK_THROWS_WITH(parse("dns:\n  servers: [\"dns.example:53\"]\n"),
                      Catch::Contains("dns.servers[0]"));
    CHECK_THROWS_WITH(parse("dns:\n  servers: [\"127.0.0.1:0\"]\n"), Catch::Contains("port 0"));
}

TEST_CASE("config: regression: a stray ',' where a document starts is an error, not a hang",
          "[config]") {
    // Found by fuzzing (tests/fuzz/config_fuzz.cpp): yaml-cpp 0.7's YAML::LoadAll() loops
    // forever, allocating, on a ',' at document level (",\n", "[a]\n,"); `labmta
    // check-config` and a reload hung. Input that once hung must give a ConfigError.
    CHECK(error_of(",\n") == "t.yaml:1: only one YAML document is allowed");
    CHECK(error_of("hostname: a.example\n,\n") != "(no error)");
    CHECK(error_of("[a]\n,") != "(no error)");
    CHECK(error_of(",ostname: [a, b]\nlkmits: {message_size: ten}\n--)\nx: 1\n") != "(no error)");
}

TEST_CASE("config: AUTH failure limits, session_timeout and smtpd.greet_pause", "[config]") {
    const Config config = parse(
        "limits:\n  session_timeout: 900\n  auth_failure_delay: 0.25\n  auth_failures: 5\n"
        "  auth_failures_per_client: 20\n  auth_block_time: 60\nsmtpd:\n  greet_pause: 1500\n");
    CHECK(config.limits.session_timeout_s == 900);
    CHECK(config.limits.auth_failure_delay_ms == 250);
    CHECK(config.limits.auth_failures == 5);
    CHECK(config.limits.auth_failures_per_client == 20);
    CHECK(config.limits.auth_block_time_s == 60);
    CHECK(config.smtpd.greet_pause_ms == 1500);
    check_same(parse(labmta::config::to_yaml(config)), config);
    // Seconds with up to three decimals; 0 turns the delay (and the greet pause) off.
    const auto delay_of = [](std::string_view value) {
        return parse("limits:\n  auth_failure_delay: " + std::string(value) + "\n")
            .limits.auth_failure_delay_ms;
    };
    CHECK(delay_of("0") == 0);
    CHECK(delay_of("2") == 2000);
    CHECK(delay_of("0.1") == 100);
    CHECK(delay_of("1.005") == 1005);
    CHECK(delay_of("60") == 60000);
    CHECK(parse("smtpd:\n  greet_pause: 0\n").smtpd.greet_pause_ms == 0);
    CHECK(parse(labmta::config::to_yaml(parse("limits: {auth_failure_delay: 1.5}\n")))
              .limits.auth_failure_delay_ms
          == 1500);
    CHECK(error_of("limits:\n  auth_failure_delay: 0.0001\n")
          == "t.yaml:2: limits.auth_failure_delay: expected seconds like 1 or 0.25 (at most 3 "
             "decimals), got '0.0001'");
    CHECK(error_of("limits:\n  auth_failure_delay: 1s\n")
          == "t.yaml:2: limits.auth_failure_delay: expected seconds like 1 or 0.25 (at most 3 "
             "decimals), got '1s'");
    CHECK(error_of("limits:\n  auth_failure_delay: .5\n")
          == "t.yaml:2: limits.auth_failure_delay: expected seconds like 1 or 0.25 (at most 3 "
             "decimals), got '.5'");
    CHECK(error_of("limits:\n  auth_failure_delay: 61\n")
          == "t.yaml:2: limits.auth_failure_delay: must be at most 60 seconds, got '61'");
    CHECK(error_of("limits:\n  auth_failures: 0\n")
          == "t.yaml:2: limits.auth_failures: expected a positive integer, got '0'");
    CHECK(error_of("limits:\n  session_timeout: -1\n")
          == "t.yaml:2: limits.session_timeout: expected a positive integer, got '-1'");
    CHECK(error_of("smtpd:\n  greet_pause: 1.5\n")
          == "t.yaml:2: smtpd.greet_pause: expected an integer from 0 to 300000, got '1.5'");
    CHECK(error_of("smtpd:\n  greet_pause: 300001\n")
          == "t.yaml:2: smtpd.greet_pause: expected an integer from 0 to 300000, got '300001'");
}

TEST_CASE("config: smtpd.bare_newline is normalize or reject", "[config]") {
    CHECK(parse("").smtpd.bare_newline == labmta::config::BareNewline::Normalize);
    const Config config = parse("smtpd:\n  bare_newline: reject\n");
    CHECK(config.smtpd.bare_newline == labmta::config::BareNewline::Reject);
    CHECK(parse(labmta::config::to_yaml(config)).smtpd.bare_newline
          == labmta::config::BareNewline::Reject);
    CHECK_THROWS_WITH(parse("smtpd:\n  bare_newline: drop\n"),
                      Catch::Contains(":2: smtpd.bare_newline: expected 'normalize' or 'reject'"));
}

TEST_CASE("config: user is the Unix account to run as, labmta by default", "[config]") {
    CHECK(parse("").user == "labmta");
    const Config config = parse("user: nobody\n");
    CHECK(config.user == "nobody");
    check_same(parse(labmta::config::to_yaml(config)), config);
    CHECK(error_of("user: \"\"\n") == "t.yaml:1: user: must not be empty");
    CHECK(error_of("user: [a]\n")
          == "t.yaml:1: user: expected a single value, not a list or mapping");
}

TEST_CASE("config: queue.min_free is a byte count, 0 by default", "[config]") {
    CHECK(parse("").queue.min_free_bytes == 0);
    const Config config = parse("queue:\n  min_free: 50000000\n");
    CHECK(config.queue.min_free_bytes == 50000000);
    check_same(parse(labmta::config::to_yaml(config)), config);
    CHECK(parse("queue:\n  min_free: 0\n").queue.min_free_bytes == 0);
    CHECK_THROWS_WITH(parse("queue:\n  min_free: 5M\n"), Catch::Contains(":2: queue.min_free"));
}
