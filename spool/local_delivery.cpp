// Local delivery (Postfix local(8)'s job for Maildir): one copy per pending local recipient,
// with Return-Path: and Delivered-To: on top, marked done in the queue file only after the
// copy is durable in new/. Blocking I/O; no logging here, the report says what happened.
// A recipient whose address cannot name a safe mailbox is marked done as bounced; sending the
// bounce message to the sender is left to the issue that adds outbound mail.
#include "spool/local_delivery.h"

#include "common/address.h"
#include "common/ids.h"
#include "common/text.h"
#include "spool/maildir.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <unordered_set>

namespace labmta::spool {

namespace {

RecipientResult make_result(std::string recipient,
                            DeliveryStatus status,
                            std::string dsn,
                            std::string detail) {
    return {std::move(recipient), status, std::move(dsn), std::move(detail)};
}

// One queued message of a group: what was loaded, and where each local copy went.
struct GroupMessage {
    std::optional<Spool::Opened> opened;  // the message stays on disk
    std::vector<bool> done;               // as file->delivered, updated as copies succeed
    struct Copy {
        std::size_t recipient_index;
        std::size_t batch_index;   // in the MaildirBatch
        std::size_t result_index;  // in the report
    };
    std::vector<Copy> copies;
    struct Settled {
        std::size_t recipient_index;
        std::size_t result_index;
    };
    std::vector<Settled> newly_done;  // to mark "done" unless the whole message is done
};

// Round 1 for one message: every pending local recipient's copy written into its Maildir's
// tmp/ (or settled at once when its address cannot name a mailbox). ready_maildirs holds the
// Maildirs this group has already made sure of: a busy mailbox is checked once per group, not
// once per copy (three stat calls each).
void stage_copies(Spool& spool,
                  GroupMessage& message,
                  LocalDeliveryReport& report,
                  MaildirBatch& batch,
                  std::unordered_set<std::string>& ready_maildirs,
                  const std::vector<std::string>& local_domains,
                  std::string_view hostname) {
    const QueueFile& file = message.opened->file;
    for (std::size_t i = 0; i < file.envelope.recipients.size(); ++i) {
        const std::string& recipient = file.envelope.recipients[i];
        if (message.done[i] || !is_local_recipient(recipient, local_domains)) {
            continue;  // already handled, or the relay agent's
        }
        const auto mailbox = common::parse_mailbox(recipient);
        const auto folder = mailbox ? common::mailbox_folder(*mailbox) : std::nullopt;
        if (!folder) {
            // Never a path from an address we cannot vouch for; a retry would not help either.
            message.done[i] = true;
            message.newly_done.push_back({i, report.results.size()});
            report.results.push_back(
                make_result(recipient, DeliveryStatus::Bounced, "5.1.3", "bad address syntax"));
            continue;
        }
        const std::string maildir = spool.mailboxes_dir() + "/" + *folder;
        if (ready_maildirs.count(maildir) == 0) {
            if (const std::error_code error = ensure_maildir(maildir)) {
                report.results.push_back(
                    make_result(recipient, DeliveryStatus::Deferred, "4.3.0", error.message()));
                continue;
            }
            ready_maildirs.insert(maildir);
        }
        const std::string head =
            "Return-Path: <" + common::replace_control_chars(file.envelope.sender)
            + ">\nDelivered-To: " + common::replace_control_chars(common::to_lower_ascii(recipient))
            + "\n";
        const std::string name = maildir_unique_name(file.arrival_us, file.queue_id, i, hostname);
        const std::size_t batch_index = batch.add(maildir,
                                                  name,
                                                  head,
                                                  message.opened->fd.get(),
                                                  message.opened->message_offset,
                                                  message.opened->message_size);
        message.copies.push_back({i, batch_index, report.results.size()});
        report.results.push_back(
            make_result(recipient, DeliveryStatus::Sent, "2.0.0", "delivered to maildir"));
    }
}

}  // namespace

bool is_local_recipient(std::string_view address, const std::vector<std::string>& local_domains) {
    // The domain is what follows the last "@", even when the address as a whole is not valid.
    const std::size_t at = address.rfind('@');
    const std::string_view domain =
        at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
    return std::any_of(local_domains.begin(), local_domains.end(), [&](const std::string& local) {
        return common::iequals_ascii(domain, local);
    });
}

std::string maildir_unique_name(std::int64_t arrival_us,
                                std::string_view queue_id,
                                std::size_t recipient_index,
                                std::string_view hostname) {
    const std::int64_t us = std::max<std::int64_t>(arrival_us, 0);
    std::string host;
    for (const char c : hostname) {
        // The Maildir convention: "/" and ":" are written as octal escapes.
        if (c == '/') {
            host += "\\057";
        } else if (c == ':') {
            host += "\\072";
        } else {
            host.push_back(c);
        }
    }
    return std::to_string(us / 1'000'000) + ".M" + std::to_string(us % 1'000'000) + "Q"
           + std::string(queue_id) + "R" + std::to_string(recipient_index) + "." + host;
}

// "<sec>.M<usec>Q<queue-id>R<index>.<hostname>"
bool is_maildir_unique_name(std::string_view name) {
    const std::size_t m = name.find(".M");
    const std::size_t q = name.find('Q', m == std::string_view::npos ? 0 : m);
    const std::size_t r = name.find('R', q == std::string_view::npos ? 0 : q);
    const std::size_t host = name.find('.', r == std::string_view::npos ? 0 : r);
    if (m == std::string_view::npos || q == std::string_view::npos || r == std::string_view::npos
        || host == std::string_view::npos || host + 1 >= name.size()) {
        return false;
    }
    return common::is_digits(name.substr(0, m)) && common::is_digits(name.substr(m + 2, q - m - 2))
           && common::is_valid_queue_id(name.substr(q + 1, r - q - 1))
           && common::is_digits(name.substr(r + 1, host - r - 1));
}

std::size_t remove_crashed_maildir_copies(const Spool& spool) {
    namespace fs = std::filesystem;
    std::size_t removed = 0;
    std::error_code error;
    // mailboxes/<domain>/<local-part>/tmp/<file>; symlinks are not followed.
    const auto subfolders = [&error](const fs::path& folder) {
        std::vector<fs::path> found;
        for (fs::directory_iterator it(folder, error), end; !error && it != end;
             it.increment(error)) {
            if (it->symlink_status(error).type() == fs::file_type::directory) {
                found.push_back(it->path());
            }
        }
        error.clear();
        return found;
    };
    for (const fs::path& domain : subfolders(spool.mailboxes_dir())) {
        for (const fs::path& mailbox : subfolders(domain)) {
            const fs::path tmp = mailbox / "tmp";
            if (fs::symlink_status(tmp, error).type() != fs::file_type::directory) {
                error.clear();
                continue;
            }
            for (fs::directory_iterator it(tmp, error), end; !error && it != end;
                 it.increment(error)) {
                const std::string name = it->path().filename().string();
                const std::string_view unique = unique_name_of_batch_tmp(name);
                if (!unique.empty() && is_maildir_unique_name(unique)
                    && it->symlink_status(error).type() == fs::file_type::regular
                    && ::unlink(it->path().c_str()) == 0) {
                    ++removed;
                }
            }
            error.clear();
        }
    }
    return removed;
}

LocalDeliveryReport deliver_local(Spool& spool,
                                  std::string_view queue_id,
                                  const std::vector<std::string>& local_domains,
                                  std::string_view hostname) {
    return std::move(
        deliver_local_group(spool, {std::string(queue_id)}, local_domains, hostname).front());
}

std::vector<LocalDeliveryReport> deliver_local_group(Spool& spool,
                                                     const std::vector<std::string>& queue_ids,
                                                     const std::vector<std::string>& local_domains,
                                                     std::string_view hostname) {
    std::vector<LocalDeliveryReport> reports(queue_ids.size());
    std::vector<GroupMessage> messages(queue_ids.size());
    MaildirBatch batch;
    std::unordered_set<std::string> ready_maildirs;
    for (std::size_t m = 0; m < queue_ids.size(); ++m) {
        GroupMessage& message = messages[m];
        message.opened = spool.open_queued(queue_ids[m], reports[m].load_error);
        if (!message.opened) {
            continue;
        }
        const QueueFile& file = message.opened->file;
        reports[m].arrival_us = file.arrival_us;
        reports[m].sender = file.envelope.sender;
        message.done = file.delivered;
        stage_copies(spool, message, reports[m], batch, ready_maildirs, local_domains, hostname);
    }
    // Round 2: all copies durable together, then in new/.
    batch.commit();
    // Round 3: the queue. A message with every recipient done is removed (no "done" marks
    // needed); otherwise what was delivered now is marked. A crash before this round ends
    // means a second copy later, never a lost one.
    std::vector<std::string> finished;
    for (std::size_t m = 0; m < queue_ids.size(); ++m) {
        GroupMessage& message = messages[m];
        if (!message.opened) {
            continue;
        }
        message.opened->fd = UniqueFd();  // copied: not needed any more
        for (const GroupMessage::Copy& copy : message.copies) {
            if (const std::error_code error = batch.error(copy.batch_index)) {
                reports[m].results[copy.result_index] =
                    make_result(message.opened->file.envelope.recipients[copy.recipient_index],
                                DeliveryStatus::Deferred,
                                "4.3.0",
                                error.message());
                continue;
            }
            message.done[copy.recipient_index] = true;
            message.newly_done.push_back({copy.recipient_index, copy.result_index});
        }
        if (std::all_of(message.done.begin(), message.done.end(), [](bool d) { return d; })) {
            finished.push_back(queue_ids[m]);
            reports[m].removed = true;
            continue;
        }
        for (const GroupMessage::Settled& settled : message.newly_done) {
            const std::error_code error =
                spool.mark_delivered(queue_ids[m], settled.recipient_index);
            RecipientResult& result = reports[m].results[settled.result_index];
            if (error && result.status == DeliveryStatus::Sent) {
                // The copy is in new/, but the queue still says "todo": the retry will
                // deliver again, which is better than losing mail.
                result = make_result(
                    result.recipient,
                    DeliveryStatus::Deferred,
                    "4.3.0",
                    "delivered to maildir, but the queue file update failed: " + error.message());
                result.copy_in_maildir = true;
            } else if (error) {
                result.detail += "; queue file update failed: " + error.message();
            }
        }
    }
    // If this fails, the next run finds every recipient delivered again: at least once.
    const std::vector<std::error_code> removed = spool.remove(finished);
    for (std::size_t f = 0, m = 0; m < queue_ids.size(); ++m) {
        if (reports[m].removed) {
            reports[m].removed = !removed[f++];
        }
    }
    return reports;
}

}  // namespace labmta::spool
