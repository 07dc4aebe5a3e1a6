// What the server adds to a message before queueing it, as Postfix's cleanup does: a Received:
// line on top, Date: and Message-ID: when missing, and a blank line where the headers end
// when the client sent none. Existing headers and the body are kept byte for byte. Pure.
#pragma once

#include "common/envelope.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace labmta::spool {

struct CleanupInput {
    const common::Envelope& envelope;
    std::string_view queue_id;
    std::string_view hostname;        // our host name, for "by <host>"
    std::int64_t arrival_us;          // for the Received: and Date: dates
    std::string_view new_message_id;  // "<...@host>", used only when the message has none
};

struct CleanupResult {
    std::string message;     // LF line endings
    std::string message_id;  // the message's Message-ID (its own, or new_message_id)
};

// raw: the message as the DATA reader produced it (LF line endings, dot-stuffing undone).
CleanupResult cleanup_message(std::string_view raw, const CleanupInput& input);

}  // namespace labmta::spool
