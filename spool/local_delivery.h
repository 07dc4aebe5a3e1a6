// Local delivery: writes each local recipient's copy of a queued message into its Maildir at
// <spool>/mailboxes/<domain>/<local-part>/{tmp,new,cur}/, adding Return-Path: and
// Delivered-To: as Postfix's local(8) does. Each copy is written to tmp/, fsynced, renamed
// into new/, and new/ is fsynced before the recipient is marked delivered in the queue file.
#pragma once

#include "spool/spool.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labmta::spool {

enum class DeliveryStatus { Sent, Deferred, Bounced };

struct RecipientResult {
    std::string recipient;
    DeliveryStatus status = DeliveryStatus::Deferred;
    std::string dsn;     // "2.0.0", "4.3.0", "5.1.1"
    std::string detail;  // "delivered to maildir", or what went wrong
    // Deferred only because the queue could not record a copy that is in new/: the retry
    // finds that copy and settles it, so this is no failure to report or expire.
    bool copy_in_maildir = false;
};

struct LocalDeliveryReport {
    std::error_code load_error;            // the queue file could not be read
    std::vector<RecipientResult> results;  // one per recipient handled in this run
    bool removed = false;                  // every recipient done, queue file removed
    std::int64_t arrival_us = 0;
    std::string sender;
};

// True when the address's domain is one of local_domains (case-insensitive): local delivery
// handles it, and the relay agent never does.
bool is_local_recipient(std::string_view address, const std::vector<std::string>& local_domains);

// The Maildir file name of one recipient's copy of a queued message:
// "<sec>.M<usec>Q<queue-id>R<index>.<hostname>" from the message's arrival time (any "/" or
// ":" in hostname escaped). Unique, since a queue ID is never reused within the same
// microsecond, and the same on every attempt: a copy that a crashed run already put into new/
// is found there (the rename into new/ never replaces), so a retry never delivers it twice.
std::string maildir_unique_name(std::int64_t arrival_us,
                                std::string_view queue_id,
                                std::size_t recipient_index,
                                std::string_view hostname);

// True for the names maildir_unique_name() makes.
bool is_maildir_unique_name(std::string_view name);

// Removes what a crashed (kill -9) delivery left in the mailboxes' tmp/ folders: copies that
// were written but never renamed into new/. They are recognized by their names (a
// maildir_unique_name() with MaildirBatch's suffix), so a mail reader's own tmp/ files are
// left alone. For the server's start, with the spool locked: no delivery is running. Returns
// how many were removed.
std::size_t remove_crashed_maildir_copies(const Spool& spool);

// deliver_local() for a group of queued messages, one report each, sharing the fsync rounds
// (spool::MaildirBatch, Spool::remove of a group): what the queue manager calls.
std::vector<LocalDeliveryReport> deliver_local_group(Spool& spool,
                                                     const std::vector<std::string>& queue_ids,
                                                     const std::vector<std::string>& local_domains,
                                                     std::string_view hostname);

// Delivers every pending recipient of queued message queue_id whose domain is in
// local_domains (compared case-insensitively); others stay pending for the relay agent.
// Removes the queue file when no recipient is left pending.
LocalDeliveryReport deliver_local(Spool& spool,
                                  std::string_view queue_id,
                                  const std::vector<std::string>& local_domains,
                                  std::string_view hostname);

}  // namespace labmta::spool
