// parse_config(): walks the YAML tree into a Config. Every mapping is read through a table of
// known keys, so an unknown or repeated key is an error naming its dotted path and line.
// A key written without a value ("banner:") keeps its default. No file I/O here.
#include "config/config.h"
#include "config/values.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <limits>
#include <span>
#include <sstream>
#include <type_traits>

namespace labmta::config {
namespace {

// RFC 5321 4.5.3.1.4: a command line may be 512 octets, so a smaller limit breaks SMTP.
constexpr std::uint64_t kMinLineLength = 512;

// One YAML node with its dotted key ("limits.timeout", "users[1].name") and the source name,
// so that any error can say where it is.
class Field {
public:
    Field(std::string_view source, std::string key, YAML::Node node)
        : source_(source), key_(std::move(key)), node_(std::move(node)) {}
    Field(const Field&) = default;
    Field& operator=(const Field&) = delete;  // YAML::Node's operator= writes through

    const YAML::Node& node() const { return node_; }

    // "labmta.yaml:7: limits.timeout" (YAML marks are 0-based; people count from 1).
    std::string what() const {
        std::string text(source_);
        if (!node_.Mark().is_null()) {
            text += ":" + std::to_string(node_.Mark().line + 1);
        }
        return key_.empty() ? text : text + ": " + key_;
    }

    [[noreturn]] void fail(std::string_view problem) const {
        throw ConfigError(what() + ": " + std::string(problem));
    }

    std::string scalar() const {
        if (!node_.IsScalar()) {
            fail("expected a single value, not a list or mapping");
        }
        return node_.Scalar();
    }

    Field member(std::string_view name, const YAML::Node& node) const {
        return {source_, key_.empty() ? std::string(name) : key_ + "." + std::string(name), node};
    }

    // The elements of a list, keyed "key[0]", "key[1]", ...
    std::vector<Field> items() const {
        if (!node_.IsSequence()) {
            fail("expected a list");
        }
        std::vector<Field> result;
        for (std::size_t i = 0; i < node_.size(); ++i) {
            result.emplace_back(source_, key_ + "[" + std::to_string(i) + "]", node_[i]);
        }
        return result;
    }

private:
    std::string_view source_;
    std::string key_;
    YAML::Node node_;
};

template <typename Target>
struct KeyHandler {
    std::string_view name;
    void (*apply)(const Field& value, Target& target);
};

// Applies each entry of the mapping `map` through `table`.
template <typename Target>
void apply_map(const Field& map, std::span<const KeyHandler<Target>> table, Target& target) {
    if (!map.node().IsMap()) {
        map.fail("expected a mapping of keys to values");
    }
    std::vector<std::string> seen;
    for (const auto& entry : map.node()) {
        const std::string name = entry.first.IsScalar() ? entry.first.Scalar() : "?";
        const Field key = map.member(name, entry.first);
        const auto handler = std::find_if(
            table.begin(), table.end(), [&](const auto& known) { return known.name == name; });
        if (handler == table.end()) {
            key.fail("unknown key");
        }
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
            key.fail("duplicate key");
        }
        seen.push_back(name);
        if (!entry.second.IsNull()) {
            handler->apply(map.member(name, entry.second), target);
        }
    }
}

std::vector<std::string> read_domains(const Field& field) {
    std::vector<std::string> domains;
    for (const Field& item : field.items()) {
        std::string domain = parse_domain(item.scalar(), item.what());
        if (std::find(domains.begin(), domains.end(), domain) != domains.end()) {
            item.fail("duplicate domain '" + domain + "'");
        }
        domains.push_back(std::move(domain));
    }
    return domains;
}

void apply_listen(const Field& field, Config& config) {
    std::vector<Field> items;
    if (field.node().IsScalar()) {
        items.push_back(field);  // a single "addr:port" instead of a list
    } else if (field.node().IsSequence()) {
        items = field.items();
    } else {
        field.fail("expected ADDR:PORT or a list of them");
    }
    if (items.empty()) {
        field.fail("expected at least one ADDR:PORT");
    }
    config.listen.clear();
    for (const Field& item : items) {
        const ListenAddress address = parse_listen_address(item.scalar(), item.what());
        // Port 0 twice is fine: each gets its own free port.
        const bool repeated = std::any_of(
            config.listen.begin(), config.listen.end(), [&](const ListenAddress& known) {
                return address.port != 0 && known.host == address.host
                       && known.port == address.port;
            });
        if (repeated) {
            item.fail("duplicate address '" + item.scalar() + "'");
        }
        config.listen.push_back(address);
    }
}

void apply_local_recipients(const Field& field, Config& config) {
    const std::string value = field.scalar();
    if (value == "any") {
        config.local_recipients = LocalRecipients::Any;
    } else if (value == "users") {
        config.local_recipients = LocalRecipients::Users;
    } else {
        field.fail("expected 'any' or 'users', got '" + value + "'");
    }
}

std::string non_empty(const Field& field) {
    std::string value = field.scalar();
    if (value.empty()) {
        field.fail("must not be empty");
    }
    return value;
}

constexpr KeyHandler<User> kUserKeys[] = {
    {"name", [](const Field& f, User& u) { u.name = parse_user_name(f.scalar(), f.what()); }},
    {"password", [](const Field& f, User& u) { u.password = non_empty(f); }},
    {"password_hash", [](const Field& f, User& u) { u.password_hash = non_empty(f); }},
};

User read_user(const Field& item) {
    if (!item.node().IsMap()) {
        item.fail("expected a mapping with name and password");
    }
    User user;
    apply_map<User>(item, kUserKeys, user);
    if (user.name.empty()) {
        item.fail("missing name");
    }
    if (user.password.empty() == user.password_hash.empty()) {
        item.fail("needs exactly one of password or password_hash");
    }
    return user;
}

void apply_users(const Field& field, Config& config) {
    config.users.clear();
    for (const Field& item : field.items()) {
        User user = read_user(item);
        // Mailbox folders are lower-cased, so names differing only in case would share one.
        const bool repeated =
            std::any_of(config.users.begin(), config.users.end(), [&](const User& known) {
                return lower_ascii(known.name) == lower_ascii(user.name);
            });
        if (repeated) {
            item.member("name", item.node()["name"]).fail("duplicate user '" + user.name + "'");
        }
        config.users.push_back(std::move(user));
    }
}

void apply_networks(const Field& field, Relay& relay) {
    relay.networks.clear();
    for (const Field& item : field.items()) {
        relay.networks.push_back(parse_cidr(item.scalar(), item.what()));
    }
}

constexpr KeyHandler<Relay> kRelayKeys[] = {
    {"networks", apply_networks},
    {"relayhost",
     [](const Field& f, Relay& r) { r.relayhost = parse_relayhost(f.scalar(), f.what()); }},
};

// One handler per numeric limit: a positive integer that fits the member's type.
template <auto Member, std::uint64_t Min = 1>
void apply_limit(const Field& field, Limits& limits) {
    using Value = std::remove_reference_t<decltype(limits.*Member)>;
    const std::uint64_t max = std::numeric_limits<Value>::max();
    limits.*Member = static_cast<Value>(parse_count(field.scalar(), Min, max, field.what()));
}

// At most a minute: a longer delay only ties up the connection.
constexpr std::uint64_t kMaxAuthFailureDelayMs = 60000;
// At most five minutes: the greeting must come well within the client's 5-minute timeout
// (RFC 5321 4.5.3.2.1).
constexpr std::uint64_t kMaxGreetPauseMs = 300000;

void apply_auth_failure_delay(const Field& field, Limits& limits) {
    limits.auth_failure_delay_ms = static_cast<unsigned>(
        parse_seconds_ms(field.scalar(), kMaxAuthFailureDelayMs, field.what()));
}

constexpr KeyHandler<Limits> kLimitKeys[] = {
    {"message_size", apply_limit<&Limits::message_size>},
    {"recipients", apply_limit<&Limits::recipients>},
    {"line_length", apply_limit<&Limits::line_length, kMinLineLength>},
    {"timeout", apply_limit<&Limits::timeout_s>},
    {"errors", apply_limit<&Limits::errors>},
    {"connections", apply_limit<&Limits::connections>},
    {"connections_per_client", apply_limit<&Limits::connections_per_client>},
    {"session_timeout", apply_limit<&Limits::session_timeout_s>},
    {"auth_failure_delay", apply_auth_failure_delay},
    {"auth_failures", apply_limit<&Limits::auth_failures>},
    {"auth_failures_per_client", apply_limit<&Limits::auth_failures_per_client>},
    {"auth_block_time", apply_limit<&Limits::auth_block_time_s>},
};

template <auto Member>
void apply_seconds(const Field& field, Queue& queue) {
    queue.*Member = static_cast<unsigned>(
        parse_count(field.scalar(), 1, std::numeric_limits<unsigned>::max(), field.what()));
}

// Bytes; 0 (the default, as Postfix's queue_minfree) is allowed: only the SIZE rule applies.
void apply_min_free(const Field& field, Queue& queue) {
    const std::string text = field.scalar();
    queue.min_free_bytes =
        text == "0" ? 0
                    : parse_count(text, 1, std::numeric_limits<std::uint64_t>::max(), field.what());
}

constexpr KeyHandler<Queue> kQueueKeys[] = {
    {"retry", apply_seconds<&Queue::retry_s>},
    {"max_retry", apply_seconds<&Queue::max_retry_s>},
    {"lifetime", apply_seconds<&Queue::lifetime_s>},
    {"min_free", apply_min_free},
};

// DNS servers are numeric ADDR:PORT like listen addresses; kept in their text form.
void apply_dns_servers(const Field& field, Dns& dns) {
    dns.servers.clear();
    for (const Field& item : field.items()) {
        const ListenAddress server = parse_listen_address(item.scalar(), item.what());
        if (server.port == 0) {
            item.fail("port 0 is not a DNS server port");
        }
        dns.servers.push_back(format_listen_address(server));
    }
}

void apply_bare_newline(const Field& field, Smtpd& smtpd) {
    const std::string value = field.scalar();
    if (value == "normalize") {
        smtpd.bare_newline = BareNewline::Normalize;
    } else if (value == "reject") {
        smtpd.bare_newline = BareNewline::Reject;
    } else {
        field.fail("expected 'normalize' or 'reject', got '" + value + "'");
    }
}

void apply_greet_pause(const Field& field, Smtpd& smtpd) {
    smtpd.greet_pause_ms =
        static_cast<unsigned>(parse_count_or_zero(field.scalar(), kMaxGreetPauseMs, field.what()));
}

constexpr KeyHandler<Smtpd> kSmtpdKeys[] = {
    {"bare_newline", apply_bare_newline},
    {"greet_pause", apply_greet_pause},
};

constexpr KeyHandler<Dns> kDnsKeys[] = {
    {"servers", apply_dns_servers},
};

void apply_banner(const Field& field, Config& config) {
    config.banner = field.scalar();
    // The banner goes into the 220 line as is: a CR or LF would break the reply.
    const bool has_control = std::any_of(config.banner.begin(), config.banner.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
    });
    if (has_control) {
        field.fail("must not contain control characters");
    }
}

constexpr KeyHandler<Config> kTopKeys[] = {
    {"hostname",
     [](const Field& f, Config& c) { c.hostname = parse_domain(f.scalar(), f.what()); }},
    {"banner", apply_banner},
    {"listen", apply_listen},
    {"spool", [](const Field& f, Config& c) { c.spool = non_empty(f); }},
    {"user", [](const Field& f, Config& c) { c.user = non_empty(f); }},
    {"local_domains", [](const Field& f, Config& c) { c.local_domains = read_domains(f); }},
    {"local_recipients", apply_local_recipients},
    {"users", apply_users},
    {"relay", [](const Field& f, Config& c) { apply_map<Relay>(f, kRelayKeys, c.relay); }},
    {"limits", [](const Field& f, Config& c) { apply_map<Limits>(f, kLimitKeys, c.limits); }},
    {"queue", [](const Field& f, Config& c) { apply_map<Queue>(f, kQueueKeys, c.queue); }},
    {"dns", [](const Field& f, Config& c) { apply_map<Dns>(f, kDnsKeys, c.dns); }},
    {"smtpd", [](const Field& f, Config& c) { apply_map<Smtpd>(f, kSmtpdKeys, c.smtpd); }},
};

// Finds where the second YAML document starts, if there is one: the parse events are ignored
// except for the first position seen after a document start.
class DocumentCounter final : public YAML::EventHandler {
public:
    std::size_t documents = 0;
    YAML::Mark second_start = YAML::Mark::null_mark();

    void OnDocumentStart(const YAML::Mark&) override { ++documents; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
    void OnScalar(const YAML::Mark& mark,
                  const std::string&,
                  YAML::anchor_t,
                  const std::string&) override {
        note(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark,
                         const std::string&,
                         YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        note(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark,
                    const std::string&,
                    YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
        note(mark);
    }
    void OnMapEnd() override {}

private:
    void note(const YAML::Mark& mark) {
        if (documents == 2 && second_start.is_null()) {
            second_start = mark;
        }
    }
};

[[noreturn]] void fail_yaml(std::string_view source, const YAML::Exception& error) {
    if (error.mark.is_null()) {
        throw ConfigError(std::string(source) + ": invalid YAML: " + error.msg);
    }
    throw ConfigError(std::string(source) + ":" + std::to_string(error.mark.line + 1)
                      + ": invalid YAML: " + error.msg + " (column "
                      + std::to_string(error.mark.column + 1) + ")");
}

// The one document in `yaml`, or a null node when there is none (empty or only comments).
// Not YAML::LoadAll(): yaml-cpp 0.7 loops forever in it on a ',' where a document starts
// (",\n"); the documents are counted here with a bound instead.
YAML::Node load_document(std::string_view yaml, std::string_view source) {
    const std::string text(yaml);
    YAML::Node document;
    DocumentCounter counter;
    try {
        document = YAML::Load(text);
        std::istringstream in(text);
        YAML::Parser parser(in);
        while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
        }
    } catch (const YAML::Exception& error) {  // ParserException, DeepRecursion, ...
        fail_yaml(source, error);
    }
    if (counter.documents > 1) {
        std::string where(source);
        if (!counter.second_start.is_null()) {
            where += ":" + std::to_string(counter.second_start.line + 1);
        }
        throw ConfigError(where + ": only one YAML document is allowed");
    }
    return document;
}

}  // namespace

Config parse_config(std::string_view yaml, std::string_view source_name) {
    const Field root(source_name, "", load_document(yaml, source_name));
    Config config;
    bool has_local_domains = false;
    if (!root.node().IsNull()) {
        apply_map<Config>(root, kTopKeys, config);
        has_local_domains = root.node()["local_domains"] && !root.node()["local_domains"].IsNull();
    }
    if (config.hostname.empty()) {
        config.hostname = lower_ascii(machine_fqdn());
    }
    if (!has_local_domains) {
        config.local_domains = {config.hostname};
    }
    return config;
}

}  // namespace labmta::config
