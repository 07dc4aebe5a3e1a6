// Maildir writing (the tmp/ → new/ protocol): one message file per call, written to tmp/,
// fsynced, renamed into new/, then new/ fsynced. Knows nothing of queue files or addresses;
// the caller has already made the folder path safe.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

namespace labmta::spool {

// Creates <dir>/tmp, <dir>/new and <dir>/cur (mode 0700, with any missing parents).
std::error_code ensure_maildir(const std::string& dir);

// Stores content as <dir>/new/<unique_name>. On failure neither tmp/ nor new/ keeps the file.
// unique_name must be a single path component (no "/", not "." or "..").
std::error_code write_maildir_message(const std::string& dir,
                                      std::string_view unique_name,
                                      std::string_view content);

}  // namespace labmta::spool
