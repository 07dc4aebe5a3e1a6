// What the server adds to a message before queueing it, as Postfix's cleanup does: a Received:
// line on top, Date: and Message-ID: when missing, and a blank line where the headers end
// when the client sent none. Existing headers and the body are kept byte for byte. Pure.
#pragma once

#include "common/envelope.h"

#include <cstddef>
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

// The same for a message known by its first bytes only (a big one, streamed to disk): head
// replaces raw_start's first raw_consumed bytes; the rest of the message follows unchanged.
// complete: raw_start is the whole message. Otherwise only its whole lines are looked at, and
// a header section that goes on past them is ended there, the rest counting as body (as
// Postfix's header_size_limit does).
struct CleanupHead {
    std::string head;
    std::size_t raw_consumed = 0;
    std::string message_id;
};
CleanupHead cleanup_head(std::string_view raw_start, bool complete, const CleanupInput& input);

// How much of a message the header section may take before the rest counts as body
// (Postfix's header_size_limit default).
inline constexpr std::size_t kHeaderSizeLimit = 102400;

}  // namespace labmta::spool
