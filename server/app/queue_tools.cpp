// mailq, postcat -q, postsuper -d and postqueue -f for labmta's spool (see queue_tools.h).
// Reads queue and defer files with the spool module, writes only to the given streams, and
// never logs. Spool text is made printable before it reaches a terminal.
#include "server/app/queue_tools.h"

#include "common/ids.h"
#include "common/startup_error.h"
#include "common/text.h"
#include "spool/defer_file.h"
#include "spool/file_util.h"
#include "spool/spool.h"

#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <charconv>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace labmta::app {

namespace {

constexpr std::string_view kAll = "ALL";
constexpr std::size_t kIdWidth = 10;          // "-Queue ID-"
constexpr std::size_t kSizeWidth = 8;         // "--Size--"
constexpr std::size_t kRecipientIndent = 41;  // mailq puts recipients at this column
constexpr std::int64_t kMicrosPerSecond = 1'000'000;

struct QueueEntry {
    spool::QueueFile file;
    std::optional<spool::DeferInfo> defer;
};

std::string pad_right(std::string text, std::size_t width) {
    if (text.size() < width) {
        text.append(width - text.size(), ' ');
    }
    return text;
}

std::string pad_left(std::string text, std::size_t width) {
    if (text.size() < width) {
        text.insert(0, width - text.size(), ' ');
    }
    return text;
}

// strftime in the local time zone, as mailq and postcat show times.
std::string local_time(std::int64_t unix_us, const char* format) {
    const auto seconds = static_cast<time_t>(unix_us / kMicrosPerSecond);
    tm local{};
    if (localtime_r(&seconds, &local) == nullptr) {
        return "?";
    }
    char buffer[64];
    const std::size_t size = std::strftime(buffer, sizeof buffer, format, &local);
    return std::string(buffer, size);
}

std::string sender_text(const std::string& sender) {
    return sender.empty() ? std::string("MAILER-DAEMON") : common::replace_control_chars(sender);
}

const spool::DeferredRecipient* find_deferred(const std::optional<spool::DeferInfo>& defer,
                                              std::string_view address) {
    if (!defer) {
        return nullptr;
    }
    for (const spool::DeferredRecipient& recipient : defer->recipients) {
        if (recipient.address == address) {
            return &recipient;
        }
    }
    return nullptr;
}

std::string reason_text(const spool::DeferredRecipient& deferred) {
    return deferred.reason.empty() ? "deferred, dsn=" + deferred.dsn : deferred.reason;
}

bool is_delivered(const spool::QueueFile& file, std::size_t index) {
    return index < file.delivered.size() && file.delivered[index];
}

// A Spool for an existing queue only: a mistyped --spool must be an error, not a new spool.
std::optional<spool::Spool> open_spool(const std::string& root, std::ostream& err) {
    const std::string incoming = root + "/incoming";
    struct stat info {};
    std::string why;
    if (::stat(incoming.c_str(), &info) != 0) {
        why = spool::last_errno_error().message();
    } else if (!S_ISDIR(info.st_mode)) {
        why = "not a directory";
    }
    if (!why.empty()) {
        err << "labmta: fatal: no mail queue in " << root << " (" << incoming << ": " << why
            << ")\n";
        return std::nullopt;
    }
    try {
        std::optional<spool::Spool> queue;
        queue.emplace(root);
        return queue;
    } catch (const StartupError& error) {
        err << "labmta: fatal: " << error.what() << '\n';
        return std::nullopt;
    }
}

// Every readable queued message, oldest first. A file removed since the listing was delivered
// or deleted meanwhile and is skipped silently.
std::vector<QueueEntry> load_queue(const spool::Spool& queue, std::ostream& err) {
    std::vector<QueueEntry> entries;
    for (const std::string& id : queue.list_queue()) {
        std::error_code error;
        auto file = queue.load(id, error);
        if (!file) {
            if (error != std::errc::no_such_file_or_directory) {
                err << "labmta: warning: " << id << ": cannot read queue file: " << error.message()
                    << '\n';
            }
            continue;
        }
        entries.push_back({std::move(*file), spool::read_defer_info(queue.root(), id)});
    }
    return entries;
}

// One mailq entry: the message line, then each pending recipient, each group of recipients
// with the same deferral reason preceded by "(reason)".
void print_mailq_entry(const QueueEntry& entry, std::ostream& out) {
    const spool::QueueFile& file = entry.file;
    out << pad_right(file.queue_id, kIdWidth) << "  "
        << pad_left(std::to_string(file.message.size()), kSizeWidth) << ' '
        << local_time(file.arrival_us, "%a %b %e %H:%M:%S") << "  "
        << sender_text(file.envelope.sender) << '\n';
    std::optional<std::string> previous_reason;
    for (std::size_t i = 0; i < file.envelope.recipients.size(); ++i) {
        const std::string& address = file.envelope.recipients[i];
        if (is_delivered(file, i)) {
            continue;
        }
        const spool::DeferredRecipient* deferred = find_deferred(entry.defer, address);
        std::optional<std::string> reason;
        if (deferred != nullptr) {
            reason = reason_text(*deferred);
        }
        if (reason && reason != previous_reason) {
            out << '(' << common::replace_control_chars(*reason) << ")\n";
        }
        previous_reason = reason;
        out << std::string(kRecipientIndent, ' ') << common::replace_control_chars(address) << '\n';
    }
    out << '\n';
}

void print_mailq(const std::vector<QueueEntry>& entries, std::ostream& out) {
    if (entries.empty()) {
        out << "Mail queue is empty\n";
        return;
    }
    out << "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n";
    std::uint64_t total_bytes = 0;
    for (const QueueEntry& entry : entries) {
        print_mailq_entry(entry, out);
        total_bytes += entry.file.message.size();
    }
    out << "-- " << (total_bytes + 1023) / 1024 << " Kbytes in " << entries.size() << " Request"
        << (entries.size() == 1 ? "" : "s") << ".\n";
}

nlohmann::json to_json(const QueueEntry& entry) {
    const spool::QueueFile& file = entry.file;
    nlohmann::json recipients = nlohmann::json::array();
    for (std::size_t i = 0; i < file.envelope.recipients.size(); ++i) {
        const std::string& address = file.envelope.recipients[i];
        nlohmann::json recipient = {{"address", address}, {"delivered", is_delivered(file, i)}};
        const spool::DeferredRecipient* deferred = find_deferred(entry.defer, address);
        if (!is_delivered(file, i) && deferred != nullptr) {
            recipient["delay_reason"] = reason_text(*deferred);
        }
        recipients.push_back(std::move(recipient));
    }
    return {{"queue_id", file.queue_id},
            {"arrival_time", file.arrival_us / kMicrosPerSecond},
            {"message_size", file.message.size()},
            {"sender", file.envelope.sender},
            {"recipients", std::move(recipients)}};
}

void print_json(const std::vector<QueueEntry>& entries, std::ostream& out) {
    nlohmann::json list = nlohmann::json::array();
    for (const QueueEntry& entry : entries) {
        list.push_back(to_json(entry));
    }
    // Addresses and replies are not always UTF-8: replace bad bytes rather than throw.
    out << list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

std::string recipient_status(const QueueEntry& entry, std::size_t index) {
    if (is_delivered(entry.file, index)) {
        return "delivered";
    }
    const auto* deferred = find_deferred(entry.defer, entry.file.envelope.recipients[index]);
    if (deferred == nullptr) {
        return "pending";
    }
    return "deferred: " + deferred->dsn + " " + reason_text(*deferred);
}

void print_envelope(const QueueEntry& entry, std::ostream& out) {
    const spool::QueueFile& file = entry.file;
    const common::Envelope& envelope = file.envelope;
    out << "*** ENVELOPE RECORDS " << file.queue_id << " ***\n";
    out << "message_size: " << file.message.size() << '\n';
    out << "message_arrival_time: " << local_time(file.arrival_us, "%a %b %e %H:%M:%S %Y") << '\n';
    out << "sender: " << common::replace_control_chars(envelope.sender) << '\n';
    out << "helo_name: " << common::replace_control_chars(envelope.helo) << '\n';
    out << "protocol: " << common::replace_control_chars(envelope.protocol) << '\n';
    out << "client: " << common::replace_control_chars(envelope.client_host) << '['
        << common::replace_control_chars(envelope.client_ip) << "]\n";
    if (!envelope.auth_user.empty()) {
        out << "sasl_username: " << common::replace_control_chars(envelope.auth_user) << '\n';
    }
    for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
        out << "recipient: " << common::replace_control_chars(envelope.recipients[i]) << " ("
            << common::replace_control_chars(recipient_status(entry, i)) << ")\n";
    }
    if (entry.defer) {
        out << "delivery_attempts: " << entry.defer->attempts << '\n';
        out << "next_attempt_time: "
            << local_time(entry.defer->next_attempt_us, "%a %b %e %H:%M:%S %Y") << '\n';
    }
}

enum class Removal { Removed, NotFound, Failed };

// The queue file goes first: once it is gone the message is deleted, whatever happens to the
// defer file.
Removal remove_message(spool::Spool& queue, const std::string& id, std::ostream& err) {
    const std::error_code error = queue.remove(id);
    if (error == std::errc::no_such_file_or_directory) {
        return Removal::NotFound;
    }
    if (error) {
        err << "labmta: " << id << ": cannot remove: " << error.message() << '\n';
        return Removal::Failed;
    }
    if (const std::error_code defer_error = spool::remove_defer_info(queue.root(), id)) {
        err << "labmta: warning: " << id << ": cannot remove defer file: " << defer_error.message()
            << '\n';
    }
    return Removal::Removed;
}

// Defer files whose message is gone: a server that was writing one while its message was
// deleted may have put it back.
void remove_orphan_defer_files(const spool::Spool& queue) {
    std::error_code error;
    for (const auto& item :
         std::filesystem::directory_iterator(spool::defer_dir(queue.root()), error)) {
        const std::string id = item.path().filename().string();
        std::error_code ignored;
        if (common::is_valid_queue_id(id)
            && !std::filesystem::exists(queue.root() + "/incoming/" + id, ignored)) {
            (void)spool::remove_defer_info(queue.root(), id);
        }
    }
}

void print_deleted(std::size_t count, std::ostream& out) {
    out << "labmta: Deleted: " << count << (count == 1 ? " message" : " messages") << '\n';
}

int delete_all(spool::Spool& queue, std::ostream& out, std::ostream& err) {
    std::size_t deleted = 0;
    bool failed = false;
    for (const std::string& id : queue.list_queue()) {
        const Removal removal = remove_message(queue, id, err);
        if (removal == Removal::Removed) {
            out << "labmta: " << id << ": removed\n";
            ++deleted;
        }
        failed = failed || removal == Removal::Failed;
    }
    remove_orphan_defer_files(queue);
    print_deleted(deleted, out);
    return failed ? 1 : 0;
}

std::optional<pid_t> parse_pid(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    pid_t pid = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), pid);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size() || pid <= 0) {
        return std::nullopt;  // 0 or a negative pid would make kill() signal a process group
    }
    return pid;
}

// The process name from /proc, or nullopt when /proc cannot tell (then kill() decides).
std::optional<std::string> process_name(pid_t pid) {
    std::string name;
    if (spool::read_file("/proc/" + std::to_string(pid) + "/comm", name)) {
        return std::nullopt;
    }
    while (!name.empty() && name.back() == '\n') {
        name.pop_back();
    }
    return name;
}

// Reads the pid file; on failure says why on err.
std::optional<pid_t> read_server_pid(const std::string& path, std::ostream& err) {
    std::string text;
    if (const std::error_code error = spool::read_file(path, text)) {
        if (error == std::errc::no_such_file_or_directory) {
            err << "labmta: fatal: the mail server is not running (no " << path << ")\n";
        } else {
            err << "labmta: fatal: cannot read " << path << ": " << error.message() << '\n';
        }
        return std::nullopt;
    }
    const auto pid = parse_pid(text);
    if (!pid) {
        err << "labmta: fatal: " << path << " does not hold a process ID\n";
    }
    return pid;
}

}  // namespace

std::string pid_file_path(const std::string& spool_root) {
    return spool_root + "/labmta.pid";
}

int run_queue_list(const std::string& spool_root, bool json, std::ostream& out, std::ostream& err) {
    const auto queue = open_spool(spool_root, err);
    if (!queue) {
        return 1;
    }
    const std::vector<QueueEntry> entries = load_queue(*queue, err);
    if (json) {
        print_json(entries, out);
    } else {
        print_mailq(entries, out);
    }
    return 0;
}

int run_queue_list(const std::string& spool_root, bool json, std::ostream& out) {
    return run_queue_list(spool_root, json, out, std::cerr);
}

int run_show(const std::string& spool_root,
             std::string_view id,
             std::ostream& out,
             std::ostream& err) {
    if (!common::is_valid_queue_id(id)) {
        err << "labmta: invalid queue ID: " << common::replace_control_chars(id) << '\n';
        return 1;
    }
    const auto queue = open_spool(spool_root, err);
    if (!queue) {
        return 1;
    }
    std::error_code error;
    auto file = queue->load(id, error);
    if (!file) {
        err << "labmta: " << id << ": "
            << (error == std::errc::no_such_file_or_directory
                    ? std::string("no such message in the queue")
                    : "cannot read queue file: " + error.message())
            << '\n';
        return 1;
    }
    const QueueEntry entry{std::move(*file), spool::read_defer_info(spool_root, id)};
    print_envelope(entry, out);
    out << "*** MESSAGE CONTENTS " << id << " ***\n" << entry.file.message;
    if (!entry.file.message.empty() && entry.file.message.back() != '\n') {
        out << '\n';
    }
    out << "*** MESSAGE FILE END " << id << " ***\n";
    return 0;
}

int run_delete(const std::string& spool_root,
               std::string_view id_or_all,
               std::ostream& out,
               std::ostream& err) {
    if (id_or_all != kAll && !common::is_valid_queue_id(id_or_all)) {
        err << "labmta: invalid queue ID: " << common::replace_control_chars(id_or_all) << '\n';
        return 1;
    }
    auto queue = open_spool(spool_root, err);
    if (!queue) {
        return 1;
    }
    if (id_or_all == kAll) {
        return delete_all(*queue, out, err);
    }
    const std::string id(id_or_all);
    switch (remove_message(*queue, id, err)) {
        case Removal::Removed:
            out << "labmta: " << id << ": removed\n";
            print_deleted(1, out);
            return 0;
        case Removal::NotFound:
            err << "labmta: " << id << ": no such message in the queue\n";
            return 1;
        case Removal::Failed:
            return 1;
    }
    return 1;
}

int run_flush(const std::string& spool_root, std::ostream& out, std::ostream& err) {
    const std::string path = pid_file_path(spool_root);
    const auto pid = read_server_pid(path, err);
    if (!pid) {
        return 1;
    }
    // SIGUSR1 terminates a process that does not expect it: a stale pid file whose number was
    // reused must not make us kill an innocent process.
    if (const auto name = process_name(*pid); name && !name->starts_with("labmta")) {
        err << "labmta: fatal: the mail server is not running (" << path << " names process "
            << *pid << ", which is " << common::replace_control_chars(*name) << ")\n";
        return 1;
    }
    if (::kill(*pid, SIGUSR1) != 0) {
        const std::error_code error = spool::last_errno_error();
        if (error == std::errc::no_such_process) {
            err << "labmta: fatal: the mail server is not running (" << path << " names process "
                << *pid << ", which does not exist)\n";
        } else {
            err << "labmta: fatal: cannot signal the mail server (pid " << *pid
                << "): " << error.message() << '\n';
        }
        return 1;
    }
    out << "labmta: asked the mail server (pid " << *pid << ") to retry deferred mail now\n";
    return 0;
}

}  // namespace labmta::app
