// The config module's edges: reading the config file, finding the machine's name, and writing
// the effective config back as YAML. Parsing itself is in config_yaml.cpp; no passwords are
// ever written out.
#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

namespace labmta::config {
namespace {

constexpr std::string_view kMaskedPassword = "********";

class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    int get() const { return fd_; }

private:
    int fd_;
};

[[noreturn]] void fail_read(const std::string& path, int error) {
    throw ConfigError(path + ": cannot read config file: " + std::strerror(error));
}

std::string read_file(const std::string& path) {
    const FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
        fail_read(path, errno);
    }
    std::string text;
    std::array<char, 4096> buffer{};
    for (;;) {
        const ssize_t count = ::read(file.get(), buffer.data(), buffer.size());
        if (count == 0) {
            return text;
        }
        if (count < 0 && errno != EINTR) {
            fail_read(path, errno);  // EISDIR lands here, for instance
        }
        if (count > 0) {
            text.append(buffer.data(), static_cast<std::size_t>(count));
        }
    }
}

void emit_list(YAML::Emitter& out, std::string_view key, const std::vector<std::string>& items) {
    out << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const std::string& item : items) {
        out << item;
    }
    out << YAML::EndSeq;
}

void emit_users(YAML::Emitter& out, const std::vector<User>& users) {
    out << YAML::Key << "users" << YAML::Value << YAML::BeginSeq;
    for (const User& user : users) {
        out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << user.name;
        if (user.password_hash.empty()) {
            out << YAML::Key << "password" << YAML::Value << std::string(kMaskedPassword);
        } else {
            out << YAML::Key << "password_hash" << YAML::Value << user.password_hash;
        }
        out << YAML::EndMap;
    }
    out << YAML::EndSeq;
}

// 1000 -> "1", 100 -> "0.1", 1250 -> "1.25": the form parse_seconds_ms reads.
std::string format_seconds(unsigned millis) {
    std::string text = std::to_string(millis / 1000);
    if (millis % 1000 != 0) {
        std::string fraction = std::to_string(1000 + millis % 1000).substr(1);
        while (fraction.back() == '0') {
            fraction.pop_back();
        }
        text += "." + fraction;
    }
    return text;
}

void emit_limits(YAML::Emitter& out, const Limits& limits) {
    out << YAML::Key << "limits" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "message_size" << YAML::Value << limits.message_size;
    out << YAML::Key << "recipients" << YAML::Value << limits.recipients;
    out << YAML::Key << "line_length" << YAML::Value << limits.line_length;
    out << YAML::Key << "timeout" << YAML::Value << limits.timeout_s;
    out << YAML::Key << "errors" << YAML::Value << limits.errors;
    out << YAML::Key << "connections" << YAML::Value << limits.connections;
    out << YAML::Key << "connections_per_client" << YAML::Value << limits.connections_per_client;
    out << YAML::Key << "session_timeout" << YAML::Value << limits.session_timeout_s;
    out << YAML::Key << "auth_failure_delay" << YAML::Value
        << format_seconds(limits.auth_failure_delay_ms);
    out << YAML::Key << "auth_failures" << YAML::Value << limits.auth_failures;
    out << YAML::Key << "auth_failures_per_client" << YAML::Value
        << limits.auth_failures_per_client;
    out << YAML::Key << "auth_block_time" << YAML::Value << limits.auth_block_time_s;
    out << YAML::EndMap;
}

std::string_view local_recipients_text(LocalRecipients value) {
    switch (value) {
        case LocalRecipients::Any:
            return "any";
        case LocalRecipients::Users:
            return "users";
    }
    return "any";
}

struct AddrInfoDeleter {
    void operator()(addrinfo* info) const { freeaddrinfo(info); }
};

}  // namespace

std::string format_listen_address(const ListenAddress& address) {
    const bool is_ipv6 = address.host.find(':') != std::string::npos;
    const std::string host = is_ipv6 ? "[" + address.host + "]" : address.host;
    return host + ":" + std::to_string(address.port);
}

Config load_config(const std::string& path) {
    return parse_config(read_file(path), path);
}

std::string to_yaml(const Config& config) {
    std::vector<std::string> listen;
    for (const ListenAddress& address : config.listen) {
        listen.push_back(format_listen_address(address));
    }
    YAML::Emitter out;
    out << YAML::BeginMap;
    out << YAML::Key << "hostname" << YAML::Value << config.hostname;
    out << YAML::Key << "banner" << YAML::Value << config.banner;
    emit_list(out, "listen", listen);
    out << YAML::Key << "spool" << YAML::Value << config.spool;
    out << YAML::Key << "user" << YAML::Value << config.user;
    emit_list(out, "local_domains", config.local_domains);
    out << YAML::Key << "local_recipients" << YAML::Value
        << std::string(local_recipients_text(config.local_recipients));
    emit_users(out, config.users);
    out << YAML::Key << "relay" << YAML::Value << YAML::BeginMap;
    emit_list(out, "networks", config.relay.networks);
    out << YAML::Key << "relayhost" << YAML::Value << config.relay.relayhost;
    out << YAML::EndMap;
    emit_limits(out, config.limits);
    out << YAML::Key << "queue" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "retry" << YAML::Value << config.queue.retry_s;
    out << YAML::Key << "max_retry" << YAML::Value << config.queue.max_retry_s;
    out << YAML::Key << "lifetime" << YAML::Value << config.queue.lifetime_s;
    out << YAML::Key << "min_free" << YAML::Value << config.queue.min_free_bytes;
    out << YAML::EndMap;
    out << YAML::Key << "smtpd" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "bare_newline" << YAML::Value
        << (config.smtpd.bare_newline == BareNewline::Reject ? "reject" : "normalize");
    out << YAML::Key << "greet_pause" << YAML::Value << config.smtpd.greet_pause_ms;
    out << YAML::EndMap;
    out << YAML::Key << "dns" << YAML::Value << YAML::BeginMap;
    emit_list(out, "servers", config.dns.servers);
    out << YAML::EndMap;
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

std::string machine_fqdn() {
    try {
        std::array<char, HOST_NAME_MAX + 1> name{};
        if (gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') {
            return "localhost";
        }
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_flags = AI_CANONNAME;
        addrinfo* found = nullptr;
        if (getaddrinfo(name.data(), nullptr, &hints, &found) == 0) {
            const std::unique_ptr<addrinfo, AddrInfoDeleter> owner(found);
            std::string canonical = found->ai_canonname ? found->ai_canonname : "";
            if (canonical.ends_with('.')) {
                canonical.pop_back();  // an absolute name from DNS; we write names without
            }
            if (canonical.find('.') != std::string::npos) {
                return canonical;
            }
        }
        return name.data();
    } catch (...) {
        return "localhost";  // "never throws": only allocation can fail above
    }
}

}  // namespace labmta::config
