// Local delivery (Postfix local(8)'s job for Maildir): one copy per pending local recipient,
// with Return-Path: and Delivered-To: on top, marked done in the queue file only after the
// copy is durable in new/. Blocking I/O; no logging here, the report says what happened.
// A recipient whose address cannot name a safe mailbox is marked done as bounced; sending the
// bounce message to the sender is left to the issue that adds outbound mail.
#include "spool/local_delivery.h"

#include "common/address.h"
#include "spool/maildir.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>

namespace labmta::spool {

namespace {

// Process-wide, so two deliveries in the same microsecond (any thread) get different names.
std::uint64_t next_delivery_counter() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed);
}

// Envelope fields came from SMTP command lines; keep any control byte out of our headers.
std::string header_safe(std::string_view text) {
    std::string out(text);
    std::replace_if(
        out.begin(),
        out.end(),
        [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == '\x7f'; },
        '?');
    return out;
}

RecipientResult make_result(std::string recipient,
                            DeliveryStatus status,
                            std::string dsn,
                            std::string detail) {
    return {std::move(recipient), status, std::move(dsn), std::move(detail)};
}

struct DeliveryContext {
    Spool& spool;
    const QueueFile& file;
    std::string_view queue_id;
    std::string_view hostname;
    std::int64_t now_us;
};

// Writes recipient index's copy and marks it done; the result says how it went.
RecipientResult deliver_one(const DeliveryContext& context, std::size_t index) {
    const std::string& recipient = context.file.envelope.recipients[index];
    const auto mailbox = common::parse_mailbox(recipient);
    const auto folder = mailbox ? common::mailbox_folder(*mailbox) : std::nullopt;
    if (!folder) {
        // Never a path from an address we cannot vouch for; a retry would not help either.
        const std::error_code error = context.spool.mark_delivered(context.queue_id, index);
        return make_result(recipient,
                           DeliveryStatus::Bounced,
                           "5.1.3",
                           error
                               ? "bad address syntax; queue file update failed: " + error.message()
                               : "bad address syntax");
    }
    const std::string maildir = context.spool.mailboxes_dir() + "/" + *folder;
    const std::string content =
        "Return-Path: <" + header_safe(context.file.envelope.sender) + ">\nDelivered-To: "
        + header_safe(common::to_lower_ascii(recipient)) + "\n" + context.file.message;
    const std::string name = maildir_unique_name(
        context.now_us, static_cast<long>(::getpid()), next_delivery_counter(), context.hostname);
    std::error_code error = ensure_maildir(maildir);
    if (!error) {
        error = write_maildir_message(maildir, name, content);
    }
    if (error) {
        return make_result(recipient, DeliveryStatus::Deferred, "4.3.0", error.message());
    }
    if (error = context.spool.mark_delivered(context.queue_id, index); error) {
        // The copy is in new/, but the queue still says "todo": the retry will deliver again,
        // which is better than losing mail.
        return make_result(
            recipient,
            DeliveryStatus::Deferred,
            "4.3.0",
            "delivered to maildir, but the queue file update failed: " + error.message());
    }
    return make_result(recipient, DeliveryStatus::Sent, "2.0.0", "delivered to maildir");
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

std::string maildir_unique_name(std::int64_t now_us,
                                long pid,
                                std::uint64_t counter,
                                std::string_view hostname) {
    const std::int64_t us = std::max<std::int64_t>(now_us, 0);
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
    return std::to_string(us / 1'000'000) + ".M" + std::to_string(us % 1'000'000) + "P"
           + std::to_string(pid) + "Q" + std::to_string(counter) + "." + host;
}

LocalDeliveryReport deliver_local(Spool& spool,
                                  std::string_view queue_id,
                                  const std::vector<std::string>& local_domains,
                                  std::string_view hostname,
                                  std::int64_t now_us) {
    LocalDeliveryReport report;
    auto file = spool.load(queue_id, report.load_error);
    if (!file) {
        return report;
    }
    report.arrival_us = file->arrival_us;
    report.sender = file->envelope.sender;
    const DeliveryContext context{spool, *file, queue_id, hostname, now_us};
    std::vector<bool> done = file->delivered;
    for (std::size_t i = 0; i < file->envelope.recipients.size(); ++i) {
        if (done[i] || !is_local_recipient(file->envelope.recipients[i], local_domains)) {
            continue;  // already handled, or the relay agent's
        }
        RecipientResult result = deliver_one(context, i);
        done[i] = result.status != DeliveryStatus::Deferred;
        report.results.push_back(std::move(result));
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) {
        // If this fails, the next run finds every recipient done and removes it then.
        report.removed = !spool.remove(queue_id);
    }
    return report;
}

}  // namespace labmta::spool
