// The durable queue: crash-safe commit (tmp file, fsync, rename, directory fsync), listing,
// loading, in-place "done" marks and removal. Blocking POSIX I/O; errors are returned as
// std::error_code (only the constructor throws, at startup). An ID is validated before it
// becomes part of a path.
#include "spool/spool.h"

#include "common/startup_error.h"
#include "spool/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>

namespace labmta::spool {

namespace {

constexpr unsigned kDirMode = 0700;
constexpr unsigned kFileMode = 0600;
// IDs collide only by rare accident; a generator that keeps colliding is broken.
constexpr int kMaxCommitAttempts = 100;

std::error_code invalid_id_error() {
    return std::make_error_code(std::errc::invalid_argument);
}

// Makes dir (mkdir -p) and checks that we can create files in it.
void prepare_dir(const std::string& dir) {
    if (const std::error_code error = make_dirs(dir, kDirMode)) {
        throw StartupError("spool directory " + dir + ": " + error.message());
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
        throw StartupError("spool directory " + dir
                           + " is not writable: " + last_errno_error().message());
    }
}

bool path_exists(const std::string& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0;
}

// IDs of the same length sort by time; a longer ID is a later one.
bool queue_id_less(const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
}

}  // namespace

bool has_room(std::uint64_t free_bytes, std::uint64_t min_free_bytes, std::uint64_t message_bytes) {
    return free_bytes > min_free_bytes && message_bytes < free_bytes - min_free_bytes
           && message_bytes < free_bytes / 2;
}

Spool::Spool(std::string root) : root_(std::move(root)) {
    if (root_.empty()) {
        throw StartupError("spool directory is not set");
    }
    prepare_dir(root_);
    prepare_dir(root_ + "/tmp");
    prepare_dir(root_ + "/incoming");
    prepare_dir(mailboxes_dir());
}

CommitResult Spool::commit(QueueFile file, common::QueueIdGenerator& ids) {
    // build runs once, so the file can be moved out.
    return commit(ids, [&file](const std::string&) { return std::move(file); });
}

CommitResult Spool::commit(common::QueueIdGenerator& ids,
                           const std::function<QueueFile(const std::string& queue_id)>& build) {
    std::vector<CommitRequest> requests(1);
    requests.front().build = build;
    commit_batch(requests, ids);
    return std::move(requests.front().result);
}

UniqueFd Spool::claim_tmp_file(common::QueueIdGenerator& ids,
                               std::string& id,
                               std::error_code& error) const {
    for (int attempt = 0; attempt < kMaxCommitAttempts; ++attempt) {
        id = ids.next();
        if (!common::is_valid_queue_id(id)) {
            error = invalid_id_error();
            return {};
        }
        const std::string path = tmp_path(id);
        error.clear();
        UniqueFd fd = open_file(path, O_WRONLY | O_CREAT | O_EXCL, kFileMode, error);
        if (error == std::errc::file_exists) {
            continue;  // another writer holds this ID right now
        }
        if (error) {
            return {};
        }
        // Checked after taking tmp/<ID>, so a writer that already renamed its file is seen.
        if (path_exists(queue_path(id))) {
            fd = UniqueFd();
            ::unlink(path.c_str());
            continue;
        }
        return fd;
    }
    error = std::make_error_code(std::errc::file_exists);
    return {};
}

// Three rounds over the group, so that its messages share the expensive steps: write every
// tmp file; make them all durable (one syncfs for a group, an fsync for a lone file); rename
// each into incoming/ and fsync incoming/ once for all. A request that fails at any step is
// unlinked and gets its own error; a failed sync or directory fsync fails them all.
void Spool::commit_batch(std::vector<CommitRequest>& requests, common::QueueIdGenerator& ids) {
    struct Staged {
        CommitRequest* request;
        std::string id;
        UniqueFd fd;
    };
    std::vector<Staged> staged;
    staged.reserve(requests.size());
    const auto fail = [this](Staged& item, std::error_code error) {
        item.fd = UniqueFd();
        ::unlink(tmp_path(item.id).c_str());
        item.request->result = {{}, error};
        item.request = nullptr;
    };
    try {
        for (CommitRequest& request : requests) {
            std::error_code error;
            std::string id;
            UniqueFd fd = claim_tmp_file(ids, id, error);
            if (error) {
                request.result = {{}, error};
                continue;
            }
            staged.push_back({&request, std::move(id), std::move(fd)});
            QueueFile file = request.build(staged.back().id);
            file.queue_id = staged.back().id;
            error = write_all(staged.back().fd.get(), serialize_queue_file(file));
            if (!error && request.write_tail) {
                error = request.write_tail(staged.back().fd.get());
            }
            if (error) {
                fail(staged.back(), error);
            }
        }
    } catch (...) {
        // Whatever build throws (memory), no tmp file of this group is left behind.
        for (Staged& item : staged) {
            if (item.request != nullptr) {
                fail(item, std::make_error_code(std::errc::not_enough_memory));
            }
        }
        throw;
    }
    const auto live = [](const Staged& item) { return item.request != nullptr; };
    if (std::any_of(staged.begin(), staged.end(), live)) {
        std::vector<int> fds;
        for (const Staged& item : staged) {
            if (live(item)) {
                fds.push_back(item.fd.get());
            }
        }
        const std::error_code sync_error = sync_files(fds);
        for (Staged& item : staged) {
            if (item.request == nullptr) {
                continue;
            }
            std::error_code error = sync_error ? sync_error : item.fd.close();
            if (!error && ::rename(tmp_path(item.id).c_str(), queue_path(item.id).c_str()) != 0) {
                error = last_errno_error();
            }
            if (error) {
                fail(item, error);
            }
        }
    }
    const bool any_renamed = std::any_of(staged.begin(), staged.end(), live);
    if (!any_renamed) {
        return;
    }
    const std::error_code dir_error = fsync_dir(root_ + "/incoming");
    for (Staged& item : staged) {
        if (item.request == nullptr) {
            continue;
        }
        if (dir_error) {
            // Not known to be durable, and the client will be told 4xx and send again: take
            // it back.
            ::unlink(queue_path(item.id).c_str());
            item.request->result = {{}, dir_error};
        } else {
            item.request->result = {std::move(item.id), {}};
        }
    }
}

std::vector<std::string> Spool::list_queue() const {
    std::vector<std::string> ids;
    const std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir((root_ + "/incoming").c_str()),
                                                  &::closedir);
    if (!dir) {
        return ids;
    }
    while (const dirent* entry = ::readdir(dir.get())) {
        const std::string_view name = entry->d_name;
        if (common::is_valid_queue_id(name) && entry->d_type != DT_DIR) {
            ids.emplace_back(name);
        }
    }
    std::sort(ids.begin(), ids.end(), queue_id_less);
    return ids;
}

std::optional<QueueFile> Spool::load(std::string_view queue_id, std::error_code& error) const {
    if (!common::is_valid_queue_id(queue_id)) {
        error = invalid_id_error();
        return std::nullopt;
    }
    std::string text;
    error = read_file(queue_path(queue_id), text);
    if (error) {
        return std::nullopt;
    }
    auto file = parse_queue_file(text);
    // A file whose content names another ID was not written by commit() for this name.
    if (!file || file->queue_id != queue_id) {
        error = std::make_error_code(std::errc::bad_message);
        return std::nullopt;
    }
    return file;
}

std::optional<Spool::Opened> Spool::open_queued(std::string_view queue_id,
                                                std::error_code& error) const {
    if (!common::is_valid_queue_id(queue_id)) {
        error = invalid_id_error();
        return std::nullopt;
    }
    Opened opened;
    opened.fd = open_file(queue_path(queue_id), O_RDONLY, 0, error);
    if (error) {
        return std::nullopt;
    }
    std::string text;
    if (error = read_until(opened.fd.get(), "\n\n", text); error) {
        return std::nullopt;
    }
    const std::size_t blank = text.find("\n\n");
    struct stat info {};
    if (blank == std::string::npos || ::fstat(opened.fd.get(), &info) != 0) {
        error = std::make_error_code(std::errc::bad_message);
        return std::nullopt;
    }
    text.resize(blank + 2);
    auto file = parse_queue_file(text);
    // A file whose content names another ID was not written by commit() for this name.
    if (!file || file->queue_id != queue_id) {
        error = std::make_error_code(std::errc::bad_message);
        return std::nullopt;
    }
    opened.file = std::move(*file);
    opened.message_offset = blank + 2;
    opened.message_size = static_cast<std::uint64_t>(info.st_size) - opened.message_offset;
    return opened;
}

std::error_code Spool::mark_delivered(std::string_view queue_id, std::size_t recipient_index) {
    if (!common::is_valid_queue_id(queue_id)) {
        return invalid_id_error();
    }
    std::error_code error;
    UniqueFd fd = open_file(queue_path(queue_id), O_RDWR, 0, error);
    if (error) {
        return error;
    }
    // The envelope header is enough: no need to read a large message once per recipient.
    std::string text;
    if (error = read_until(fd.get(), "\n\n", text); error) {
        return error;
    }
    const auto offset = recipient_status_offset(text, recipient_index);
    if (!offset) {
        return std::make_error_code(std::errc::invalid_argument);
    }
    // One small write in place: the rest of the file, the message included, is never rewritten.
    if (error = pwrite_all(fd.get(), "done", static_cast<long long>(*offset)); error) {
        return error;
    }
    if (::fsync(fd.get()) != 0) {
        return last_errno_error();
    }
    return fd.close();
}

std::error_code Spool::remove(std::string_view queue_id) {
    return remove(std::vector<std::string>{std::string(queue_id)}).front();
}

std::vector<std::error_code> Spool::remove(const std::vector<std::string>& queue_ids) {
    std::vector<std::error_code> errors(queue_ids.size());
    for (std::size_t i = 0; i < queue_ids.size(); ++i) {
        if (!common::is_valid_queue_id(queue_ids[i])) {
            errors[i] = invalid_id_error();
        } else if (::unlink(queue_path(queue_ids[i]).c_str()) != 0) {
            errors[i] = last_errno_error();
        }
    }
    return errors;
}

void Spool::lock_for_server() {
    const std::string path = root_ + "/labmta.lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.is_open()) {
        throw StartupError("cannot open " + path + ": " + std::strerror(errno));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        throw StartupError("spool " + root_ + " is in use by another labmta (" + path + ")");
    }
    lock_ = std::move(fd);
    remove_stale_tmp_files();
}

void Spool::remove_stale_tmp_files() const {
    const std::string tmp = root_ + "/tmp";
    const std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(tmp.c_str()), &::closedir);
    if (!dir) {
        return;
    }
    while (const dirent* entry = ::readdir(dir.get())) {
        if (entry->d_type != DT_DIR) {
            ::unlink((tmp + "/" + entry->d_name).c_str());
        }
    }
}

std::uint64_t Spool::free_bytes(std::error_code& error) const {
    struct statvfs info {};
    if (::statvfs(root_.c_str(), &info) != 0) {
        error = last_errno_error();
        return 0;
    }
    error.clear();
    return std::uint64_t{info.f_bavail} * info.f_frsize;
}

bool Spool::is_queued(std::string_view queue_id) const {
    struct stat info {};
    return common::is_valid_queue_id(queue_id) && ::stat(queue_path(queue_id).c_str(), &info) == 0;
}

std::string Spool::tmp_path(std::string_view queue_id) const {
    return root_ + "/tmp/" + std::string(queue_id);
}

std::string Spool::queue_path(std::string_view queue_id) const {
    return root_ + "/incoming/" + std::string(queue_id);
}

}  // namespace labmta::spool
