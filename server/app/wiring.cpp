// See wiring.h.
#include "server/app/wiring.h"

#include "common/address.h"
#include "server/app/accounts.h"
#include "spool/cleanup.h"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace labmta::app {

protocol::SessionPolicy make_session_policy(const config::Config& config) {
    protocol::SessionPolicy policy;
    policy.hostname = config.hostname;
    policy.banner = config.banner;
    policy.max_message_bytes = config.limits.message_size;
    policy.max_recipients = config.limits.recipients;
    policy.max_errors = config.limits.errors;
    policy.local_domains = config.local_domains;
    policy.any_local_recipient = config.local_recipients == config::LocalRecipients::Any;
    policy.auth_enabled = !config.users.empty();
    policy.reject_bare_newline = config.smtpd.bare_newline == config::BareNewline::Reject;
    policy.max_auth_failures = config.limits.auth_failures;
    for (const config::User& user : config.users) {
        policy.local_users.push_back(common::to_lower_ascii(user.name));
    }
    return policy;
}

net::ServerLimits make_server_limits(const config::Config& config) {
    net::ServerLimits limits;
    limits.relay_networks = common::NetworkList(config.relay.networks);
    limits.line_length = config.limits.line_length;
    limits.timeout_s = config.limits.timeout_s;
    limits.connections = config.limits.connections;
    limits.connections_per_client = config.limits.connections_per_client;
    limits.session_timeout_s = config.limits.session_timeout_s;
    limits.auth_failure_delay_ms = config.limits.auth_failure_delay_ms;
    limits.auth_failures_per_client = config.limits.auth_failures_per_client;
    limits.auth_block_time_s = config.limits.auth_block_time_s;
    limits.greet_pause_ms = config.smtpd.greet_pause_ms;
    return limits;
}

std::shared_ptr<const net::SessionSettings> make_session_settings(const config::Config& config) {
    auto settings = std::make_shared<net::SessionSettings>();
    settings->policy = make_session_policy(config);
    settings->limits = make_server_limits(config);
    settings->authenticator = std::make_shared<ConfigAuthenticator>(config.users);
    return settings;
}

net::QueueSettings make_queue_settings(const config::Config& config) {
    net::QueueSettings settings;
    settings.local_domains = config.local_domains;
    settings.hostname = config.hostname;
    // Scan often enough to honour short retry times (tests use seconds), at most each minute.
    settings.scan_interval_s = std::clamp(config.queue.retry_s, 1U, 60U);
    settings.first_retry_s = config.queue.retry_s;
    settings.max_retry_s = config.queue.max_retry_s;
    settings.lifetime_s = config.queue.lifetime_s;
    return settings;
}

net::RelaySettings make_relay_settings(const config::Config& config) {
    net::RelaySettings settings;
    settings.hostname = config.hostname;
    settings.relayhost = config.relay.relayhost;
    return settings;
}

SpoolWriter::SpoolWriter(spool::Spool& spool, std::string hostname, const common::Clock& clock)
    : spool_(spool), hostname_(std::move(hostname)), clock_(clock), ids_(clock, random_) {}

namespace {

// The first bytes of a streamed message (spilled part, then rest), up to the header size
// limit and one byte more: what cleanup looks at. The extra byte shows a blank line that
// starts right at the limit, so the header section is not cut there.
std::string read_message_start(const net::QueueRequest& request, std::error_code& error) {
    constexpr std::size_t kStartBytes = spool::kHeaderSizeLimit + 1;
    const std::uint64_t from_file = std::min<std::uint64_t>(request.spilled.size(), kStartBytes);
    std::string start(static_cast<std::size_t>(from_file), '\0');
    std::size_t got = 0;
    while (got < start.size()) {
        const ssize_t n = ::pread(
            request.spilled.fd(), start.data() + got, start.size() - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error = n < 0 ? spool::last_errno_error() : std::make_error_code(std::errc::io_error);
            return {};
        }
        got += static_cast<std::size_t>(n);
    }
    start.append(std::string_view(request.rest).substr(0, kStartBytes - start.size()));
    return start;
}

}  // namespace

void SpoolWriter::write_group(std::vector<net::QueueRequest>& group) {
    std::vector<spool::CommitRequest> commits(group.size());
    for (std::size_t i = 0; i < group.size(); ++i) {
        net::QueueRequest& request = group[i];
        spool::CommitRequest& commit = commits[i];
        commit.build = [this, &request, &commit](const std::string& queue_id) {
            const std::int64_t arrival_us = clock_.now_us();
            const std::string new_message_id = common::make_message_id(clock_, random_, hostname_);
            const spool::CleanupInput input{
                request.envelope, queue_id, hostname_, arrival_us, new_message_id};
            spool::QueueFile file;
            if (!request.spilled.is_open()) {
                spool::CleanupResult cleaned = spool::cleanup_message(request.rest, input);
                request.rest = std::string();  // the cleaned copy replaces it: one in memory
                file.message = std::move(cleaned.message);
                request.result.message_id = std::move(cleaned.message_id);
            } else {
                // A big message: its start is cleaned up here, the rest copied from the
                // spill file by the kernel, never read into memory.
                std::error_code error;
                const std::string start = read_message_start(request, error);
                const bool complete = start.size() == request.spilled.size() + request.rest.size();
                spool::CleanupHead head = spool::cleanup_head(start, complete, input);
                file.message = std::move(head.head);
                request.result.message_id = std::move(head.message_id);
                commit.write_tail = [&request, error, from = head.raw_consumed](int fd) {
                    if (error) {
                        return error;
                    }
                    const std::uint64_t spilled = request.spilled.size();
                    if (from < spilled) {
                        if (const std::error_code copy_error = spool::copy_file_part(
                                request.spilled.fd(), from, spilled - from, fd)) {
                            return copy_error;
                        }
                    }
                    const std::size_t rest_from =
                        from > spilled ? static_cast<std::size_t>(from - spilled) : 0;
                    return spool::write_all(fd, std::string_view(request.rest).substr(rest_from));
                };
            }
            file.queue_id = queue_id;
            file.arrival_us = arrival_us;
            file.envelope = std::move(request.envelope);
            file.delivered.assign(file.envelope.recipients.size(), false);
            return file;
        };
    }
    spool_.commit_batch(commits, ids_);
    for (std::size_t i = 0; i < group.size(); ++i) {
        const spool::CommitResult& result = commits[i].result;
        if (result.error) {
            spdlog::error("NOQUEUE: queue file write error: {}", result.error.message());
            group[i].result = {};
            continue;
        }
        group[i].result.ok = true;
        group[i].result.queue_id = result.queue_id;
    }
}

bool spool_has_room(const spool::Spool& spool,
                    std::uint64_t min_free_bytes,
                    std::size_t message_bytes) {
    std::error_code error;
    const std::uint64_t free_bytes = spool.free_bytes(error);
    if (error) {
        // Unknown: let the client go on; a write that fails at DATA is still a 451.
        spdlog::warn("warning: cannot get the free space of {}: {}", spool.root(), error.message());
        return true;
    }
    if (spool::has_room(free_bytes, min_free_bytes, message_bytes)) {
        return true;
    }
    spdlog::warn(
        "warning: not enough free space in mail queue: {} bytes free, queue.min_free={}, "
        "SIZE={}",
        free_bytes,
        min_free_bytes,
        message_bytes);
    return false;
}

}  // namespace labmta::app
