// The queue file format: a versioned text envelope header, a blank line, then the message.
//
//   version: 1
//   queue-id: 0193A5C2F10A
//   arrival: 1795876331000000            (microseconds since the epoch)
//   sender: joiakim@domain.local         (empty for the null sender)
//   helo: Joiakim
//   protocol: SMTP
//   client: unknown[127.0.0.1]
//   auth-user:                           (empty when not authenticated)
//   recipient: todo student@domain.local (one line per recipient; "todo" becomes "done"
//   recipient: done other@domain.local    in place, one 4-byte write, when delivered)
//   <blank line>
//   <message, LF line endings>
//
// Pure formatting and parsing here; the file operations are in spool.h.
#pragma once

#include "common/envelope.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::spool {

struct QueueFile {
    std::string queue_id;
    std::int64_t arrival_us = 0;
    common::Envelope envelope;
    std::vector<bool> delivered;  // one per envelope.recipients entry
    std::string message;
};

std::string serialize_queue_file(const QueueFile& file);

// nullopt when the text is not a version-1 queue file (unknown version, missing field,
// recipient count mismatch, no blank line).
std::optional<QueueFile> parse_queue_file(std::string_view text);

// Byte offset, within a serialized queue file, of the status word ("todo"/"done") of the
// recipient with this index; nullopt when there is no such recipient.
std::optional<std::size_t> recipient_status_offset(std::string_view text, std::size_t index);

}  // namespace labmta::spool
