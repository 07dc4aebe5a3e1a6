// Maildir writing (the tmp/ → new/ protocol). Knows nothing of queue files or addresses; the
// caller has already made the folder path safe. Copies are written in groups that share the
// expensive steps, as the queue's group commit does: add() writes each copy into its
// Maildir's tmp/; commit() makes them all durable at once (spool::sync_files), renames each
// into new/ (never over an existing file: names are the same on every attempt, see
// maildir_unique_name) and fsyncs each new/ folder once. Every copy gets its own result.
#pragma once

#include "spool/file_util.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labmta::spool {

// Creates <dir>/tmp, <dir>/new and <dir>/cur (mode 0700, with any missing parents).
std::error_code ensure_maildir(const std::string& dir);

class MaildirBatch {
public:
    // Writes head, then body_length bytes of body_fd from body_offset (copied in the kernel),
    // as <dir>/tmp/<unique_name>; returns the copy's index for error(). unique_name must be a
    // single path component (no "/", not "." or "..").
    std::size_t add(const std::string& dir,
                    std::string_view unique_name,
                    std::string_view head,
                    int body_fd,
                    std::uint64_t body_offset,
                    std::uint64_t body_length);
    // Publishes every copy written so far into new/. On failure neither tmp/ nor new/ keeps
    // the copy.
    void commit();
    // After commit(): how copy index went (empty: it is durable in new/).
    std::error_code error(std::size_t index) const { return copies_[index].error; }
    // After commit(): new/ already held this copy (from an attempt that crashed before the
    // queue was updated); it counts as delivered and was not written twice.
    bool already_delivered(std::size_t index) const { return copies_[index].already_delivered; }

private:
    struct Copy {
        std::string tmp_path;
        std::string new_path;
        std::string new_dir;
        UniqueFd fd;  // open from add() to commit()
        std::error_code error;
        bool already_delivered = false;
    };
    void fail(Copy& copy, std::error_code error);
    std::vector<Copy> copies_;
};

// The unique name inside a tmp/ file name that MaildirBatch::add made
// ("<unique_name>.<pid>.<attempt>"), or "" for any other name: a file that a crash left
// behind can be told from a mail reader's own tmp/ files.
std::string_view unique_name_of_batch_tmp(std::string_view tmp_name);

// A group of one: stores content as <dir>/new/<unique_name>.
std::error_code write_maildir_message(const std::string& dir,
                                      std::string_view unique_name,
                                      std::string_view content);

}  // namespace labmta::spool
