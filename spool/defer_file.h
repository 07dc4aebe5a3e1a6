// Per-message delivery state of deferred recipients, as Postfix keeps it in defer/:
// <spool>/defer/<ID> is a small text file
//
//   attempts: 3
//   next-attempt: 1795877531000000            (microseconds since the epoch)
//   recipient: 4.4.1 jowadev@gmail.com connect to gmail-smtp-in.l.google.com[...]: refused
//
// one "recipient: <dsn> <address> <reason>" line per deferred recipient; the reason is the rest
// of the line. It is replaced as a whole (tmp file, fsync, rename), never edited in place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labmta::spool {

struct DeferredRecipient {
    std::string address;
    std::string dsn;     // "4.4.1"
    std::string reason;  // what went wrong, e.g. the remote server's reply; one line
};

struct DeferInfo {
    unsigned attempts = 0;             // failed delivery attempts so far
    std::int64_t next_attempt_us = 0;  // when the queue manager tries again
    std::vector<DeferredRecipient> recipients;
};

// Pure. The address and dsn are written with "%XX" for space, control bytes and "%", so a
// quoted local part with a space cannot shift the fields; CR and LF in the reason become spaces.
std::string serialize_defer_info(const DeferInfo& info);

// nullopt unless text is exactly what serialize_defer_info writes: "attempts" then
// "next-attempt" (each once), then recipient lines, every line ending in LF.
std::optional<DeferInfo> parse_defer_info(std::string_view text);

// Replaces <spool_root>/defer/<queue_id> atomically: written to a tmp file in <spool_root>/tmp,
// fsynced, renamed over the old file, and defer/ fsynced (created mode 0700 when missing). On
// failure the previous file, if any, is left as it was and no tmp file remains.
std::error_code write_defer_info(const std::string& spool_root,
                                 std::string_view queue_id,
                                 const DeferInfo& info);

// nullopt when there is no such file, it cannot be read, or it does not parse.
std::optional<DeferInfo> read_defer_info(const std::string& spool_root, std::string_view queue_id);

// Removes the file and makes that durable; a file that is already gone is not an error.
std::error_code remove_defer_info(const std::string& spool_root, std::string_view queue_id);

// "<spool_root>/defer".
std::string defer_dir(const std::string& spool_root);

}  // namespace labmta::spool
