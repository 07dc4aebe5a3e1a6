// labmta's configuration: the only place that reads YAML. parse_config() turns YAML text into
// a plain Config with every default filled in; anything it does not understand is an error
// that names the key and the line, so a typo never silently changes behaviour.
#pragma once

#include "common/startup_error.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::config {

// Thrown by parse_config/load_config; what() reads like
// "labmta.yaml:12: limits.message_size: expected a positive integer, got 'ten'".
class ConfigError : public labmta::StartupError {
public:
    using StartupError::StartupError;
};

struct ListenAddress {
    std::string host;  // "0.0.0.0", "127.0.0.1", "::" (written "[::]:25" in YAML)
    std::uint16_t port = 25;
};

struct User {
    std::string name;
    std::string password;       // plaintext (lab use), or empty when password_hash is set
    std::string password_hash;  // crypt(3) form, e.g. "$y$..." (checked by a later issue)
};

enum class LocalRecipients {
    Any,    // every local part of a local domain has a mailbox
    Users,  // only the configured users; others are rejected with 550 5.1.1
};

struct Limits {                            // Postfix defaults
    std::size_t message_size = 10240000;   // message_size_limit
    std::size_t recipients = 1000;         // smtpd_recipient_limit
    std::size_t line_length = 2048;        // line_length_limit
    unsigned timeout_s = 300;              // smtpd_timeout (YAML key "timeout")
    unsigned errors = 20;                  // smtpd_hard_error_limit
    unsigned connections = 1000;           // simultaneous sessions, all clients
    unsigned connections_per_client = 50;  // smtpd_client_connection_count_limit

    // Abuse limits (no Postfix default to copy, except smtpd_error_sleep_time's 1 s).
    // The whole session, however active (YAML "session_timeout").
    unsigned session_timeout_s = 3600;
    // Before each 535; YAML "auth_failure_delay" in seconds, decimals allowed ("0.1").
    unsigned auth_failure_delay_ms = 1000;
    // 535s in one session before 421 and close.
    unsigned auth_failures = 3;
    // 535s from one IP within auth_block_time_s that block it for auth_block_time_s.
    unsigned auth_failures_per_client = 10;
    unsigned auth_block_time_s = 600;  // YAML "auth_block_time"
};

struct Relay {
    std::vector<std::string> networks;  // CIDR, validated: "127.0.0.0/8", "::1/128"
    std::string relayhost;              // "[host]:port" or "host:port" or ""; used by relay
};

struct Queue {                     // retries of deferred mail, Postfix's backoff defaults rounded
    unsigned retry_s = 300;        // minimal_backoff_time: first retry after this
    unsigned max_retry_s = 3600;   // maximal_backoff_time: the doubling stops here
    unsigned lifetime_s = 432000;  // maximal_queue_lifetime (5 days): then it bounces
    // queue_minfree: MAIL FROM gets 452 4.3.1 unless the spool's file system has more free
    // bytes than this, and room for 2x the declared SIZE (Postfix's rule). 0: any free space.
    std::uint64_t min_free_bytes = 0;
};

// What a bare LF in message text does, as Postfix 3.9's smtpd_forbid_bare_newline.
enum class BareNewline {
    Normalize,  // stored as a normal line end; only <CRLF>.<CRLF> ends DATA anyway
    Reject,     // the message is refused with 550 5.5.2 and the client disconnected
};

struct Smtpd {
    BareNewline bare_newline = BareNewline::Normalize;
    unsigned greet_pause_ms = 0;  // wait before the 220; talking meanwhile: 554, close. 0: off
};

struct Dns {
    std::vector<std::string> servers;  // "127.0.0.1:53" list; empty: /etc/resolv.conf
};

struct Config {
    std::string hostname;  // default: the machine's FQDN
    std::string banner = "ESMTP labmta";
    std::vector<ListenAddress> listen{{"0.0.0.0", 25}};
    std::string spool = "/var/spool/labmta";
    // The Unix account `labmta serve` switches to after binding its ports, when started as
    // root (Postfix's mail_owner). Ignored when started as any other user.
    std::string user = "labmta";
    std::vector<std::string> local_domains;  // lower-cased; default: [hostname]
    LocalRecipients local_recipients = LocalRecipients::Any;
    std::vector<User> users;
    Relay relay;
    Limits limits;
    Queue queue;
    Dns dns;
    Smtpd smtpd;
};

// source_name is used in error messages ("labmta.yaml:12: ...").
Config parse_config(std::string_view yaml, std::string_view source_name = "config");
Config load_config(const std::string& path);

// "127.0.0.1:2525" / "[::1]:25" -> ListenAddress; throws ConfigError naming `what`.
ListenAddress parse_listen_address(std::string_view text, std::string_view what);

// "127.0.0.1:2525", "[::1]:25": the form parse_listen_address reads.
std::string format_listen_address(const ListenAddress& address);

// The effective config as YAML, for `labmta check-config`; passwords are shown as "********".
std::string to_yaml(const Config& config);

// The machine's fully qualified name (gethostname + canonical name lookup), or its plain
// host name when no FQDN is known.
std::string machine_fqdn();

}  // namespace labmta::config
