// The durable queue on disk: <root>/tmp for files being written, <root>/incoming for queued
// messages, <root>/mailboxes for local delivery. A message is committed by writing
// tmp/<ID> (O_CREAT|O_EXCL, mode 0600), fsync, close, rename into incoming/<ID>, fsync of
// incoming/; any failure unlinks the tmp file, so incoming/ only ever holds whole messages.
// Blocking file I/O: callers run it off the event loop or accept the cost knowingly.
#pragma once

#include "common/ids.h"
#include "spool/file_util.h"
#include "spool/queue_file.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labmta::spool {

struct CommitResult {
    std::string queue_id;   // set on success
    std::error_code error;  // set on failure; nothing was queued
};

// Postfix's smtpd_check_queue rule for MAIL FROM: room for a message of message_bytes (0 when
// no SIZE was declared) when the free space is above min_free_bytes (queue_minfree), the
// message fits above that, and it needs less than half of the free space. Pure.
bool has_room(std::uint64_t free_bytes, std::uint64_t min_free_bytes, std::uint64_t message_bytes);

// One message of a group commit (Spool::commit_batch).
struct CommitRequest {
    std::function<QueueFile(const std::string& queue_id)> build;
    // When set (build may set it), called after the serialized file was written, to write
    // the rest of the message into fd: how a big message is copied in without memory.
    std::function<std::error_code(int fd)> write_tail;
    CommitResult result;  // filled in by commit_batch
};

class Spool {
public:
    // Creates the root and its folders (mode 0700) when missing; throws StartupError when the
    // spool cannot be used (not a directory, not writable).
    explicit Spool(std::string root);

    // Writes file (its queue_id is chosen here with ids, retrying on EEXIST) durably into
    // incoming/. On success the message survives a crash from then on.
    CommitResult commit(QueueFile file, common::QueueIdGenerator& ids);

    // The same, but the file is built by build, called once with the ID already claimed, so
    // text that names the ID (the Received: line of cleanup_message()) always matches the
    // queue file's name even after a retry. The returned file's queue_id is set to that ID.
    CommitResult commit(common::QueueIdGenerator& ids,
                        const std::function<QueueFile(const std::string& queue_id)>& build);

    // Group commit: each request's build is called once with its claimed ID, and every
    // request gets its own result, as from commit(), but the group shares the fsync rounds.
    void commit_batch(std::vector<CommitRequest>& requests, common::QueueIdGenerator& ids);

    // Queue IDs present in incoming/, oldest first. Names that are not valid queue IDs are
    // skipped.
    std::vector<std::string> list_queue() const;

    std::optional<QueueFile> load(std::string_view queue_id, std::error_code& error) const;

    // A queued message opened for delivery: the envelope parsed (file.message left empty), the
    // message itself left on disk at [message_offset, +message_size) of fd, to be copied in
    // the kernel: delivering a big message costs no memory.
    struct Opened {
        QueueFile file;
        UniqueFd fd;
        std::uint64_t message_offset = 0;
        std::uint64_t message_size = 0;
    };
    std::optional<Opened> open_queued(std::string_view queue_id, std::error_code& error) const;

    // Marks one recipient of a queued message delivered (in place, then fsync).
    std::error_code mark_delivered(std::string_view queue_id, std::size_t recipient_index);

    // Removes a fully handled message from incoming/. Not fsynced, as Postfix does not: if a
    // crash loses the unlink, the message is delivered again (at least once), never lost.
    std::error_code remove(std::string_view queue_id);
    // The same for a group; one result each.
    std::vector<std::error_code> remove(const std::vector<std::string>& queue_ids);

    // True while incoming/<ID> exists (`labmta delete` may remove it at any time).
    bool is_queued(std::string_view queue_id) const;

    // Bytes an unprivileged writer may still use on the spool's file system (statvfs f_bavail).
    std::uint64_t free_bytes(std::error_code& error) const;

    const std::string& root() const { return root_; }
    std::string mailboxes_dir() const { return root_ + "/mailboxes"; }

    // Takes <root>/labmta.lock for as long as this Spool lives, so that no second server
    // delivers the same queue (as Postfix's master.lock). Throws StartupError when another
    // process holds it. Then removes what a crashed server left in tmp/: files that were
    // never committed (their clients got no 250), which nobody else can be writing now.
    void lock_for_server();

private:
    void remove_stale_tmp_files() const;
    // Creates tmp/<ID> exclusively for a fresh ID that is not queued yet; sets id.
    UniqueFd claim_tmp_file(common::QueueIdGenerator& ids,
                            std::string& id,
                            std::error_code& error) const;
    std::string tmp_path(std::string_view queue_id) const;
    std::string queue_path(std::string_view queue_id) const;
    std::string root_;
    UniqueFd lock_;
};

}  // namespace labmta::spool
