// See maildir.h. Blocking POSIX I/O; errors come back as std::error_code.
#include "spool/maildir.h"

#include "common/text.h"
#include "spool/spill_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace labmta::spool {

namespace {

constexpr unsigned kDirMode = 0700;
constexpr unsigned kFileMode = 0600;

bool is_single_component(std::string_view name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos
           && name.find('\0') == std::string_view::npos;
}

long process_id() {
    static const long pid = static_cast<long>(::getpid());
    return pid;
}

// Process-wide, so that two attempts never share a tmp/ name.
std::uint64_t next_attempt() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed);
}

// rename(2) that never replaces: EEXIST when to exists (renameat2 RENAME_NOREPLACE, or link
// and unlink where the file system lacks it).
std::error_code publish_no_replace(const std::string& from, const std::string& to) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
        return {};
    }
    if (errno != EINVAL && errno != ENOSYS) {
        return last_errno_error();
    }
    if (::link(from.c_str(), to.c_str()) != 0) {
        return last_errno_error();
    }
    ::unlink(from.c_str());
    return {};
}

}  // namespace

std::string_view unique_name_of_batch_tmp(std::string_view tmp_name) {
    const std::size_t attempt_dot = tmp_name.rfind('.');
    if (attempt_dot == std::string_view::npos || attempt_dot == 0) {
        return {};
    }
    const std::size_t pid_dot = tmp_name.rfind('.', attempt_dot - 1);
    if (pid_dot == std::string_view::npos || pid_dot == 0) {
        return {};
    }
    if (!common::is_digits(tmp_name.substr(attempt_dot + 1))
        || !common::is_digits(tmp_name.substr(pid_dot + 1, attempt_dot - pid_dot - 1))) {
        return {};
    }
    return tmp_name.substr(0, pid_dot);
}

std::error_code ensure_maildir(const std::string& dir) {
    for (const char* sub : {"/tmp", "/new", "/cur"}) {
        if (const std::error_code error = make_dirs(dir + sub, kDirMode)) {
            return error;
        }
    }
    return {};
}

std::size_t MaildirBatch::add(const std::string& dir,
                              std::string_view unique_name,
                              std::string_view head,
                              int body_fd,
                              std::uint64_t body_offset,
                              std::uint64_t body_length) {
    Copy& copy = copies_.emplace_back();
    if (!is_single_component(unique_name)) {
        copy.error = std::make_error_code(std::errc::invalid_argument);
        return copies_.size() - 1;
    }
    // The tmp/ name has this attempt's own suffix: a crashed attempt may have left its file.
    copy.tmp_path = dir + "/tmp/" + std::string(unique_name) + "." + std::to_string(process_id())
                    + "." + std::to_string(next_attempt());
    copy.new_dir = dir + "/new";
    copy.new_path = copy.new_dir + "/" + std::string(unique_name);
    copy.fd = open_file(copy.tmp_path, O_WRONLY | O_CREAT | O_EXCL, kFileMode, copy.error);
    if (copy.error) {
        // EEXIST: not ours, so whoever owns that tmp file is left alone.
        copy.tmp_path.clear();
        return copies_.size() - 1;
    }
    std::error_code error = write_all(copy.fd.get(), head);
    if (!error && body_length > 0) {
        error = copy_file_part(body_fd, body_offset, body_length, copy.fd.get());
    }
    if (error) {
        fail(copy, error);
    }
    return copies_.size() - 1;
}

void MaildirBatch::fail(Copy& copy, std::error_code error) {
    copy.fd = UniqueFd();
    if (!copy.tmp_path.empty()) {
        ::unlink(copy.tmp_path.c_str());
    }
    copy.error = error;
}

void MaildirBatch::commit() {
    std::vector<int> fds;
    for (const Copy& copy : copies_) {
        if (!copy.error && copy.fd.is_open()) {
            fds.push_back(copy.fd.get());
        }
    }
    if (fds.empty()) {
        return;
    }
    const std::error_code sync_error = sync_files(fds);
    std::vector<std::string> new_dirs;
    for (Copy& copy : copies_) {
        if (copy.error || !copy.fd.is_open()) {
            continue;
        }
        std::error_code error = sync_error ? sync_error : copy.fd.close();
        if (!error) {
            error = publish_no_replace(copy.tmp_path, copy.new_path);
        }
        if (error == std::errc::file_exists) {
            // An earlier attempt put this very copy into new/ and crashed before the queue
            // knew: it is delivered, and delivering it again would duplicate it.
            ::unlink(copy.tmp_path.c_str());
            copy.tmp_path.clear();
            copy.already_delivered = true;
            continue;
        }
        if (error) {
            fail(copy, error);
            continue;
        }
        copy.tmp_path.clear();  // renamed: no longer ours to unlink
        if (std::find(new_dirs.begin(), new_dirs.end(), copy.new_dir) == new_dirs.end()) {
            new_dirs.push_back(copy.new_dir);
        }
    }
    for (const std::string& new_dir : new_dirs) {
        const std::error_code error = fsync_dir(new_dir);
        if (!error) {
            continue;
        }
        // Not known to be durable and the recipients stay pending: take the copies back so
        // the retry does not deliver them twice.
        for (Copy& copy : copies_) {
            if (!copy.error && copy.new_dir == new_dir) {
                ::unlink(copy.new_path.c_str());
                copy.error = error;
            }
        }
    }
}

std::error_code write_maildir_message(const std::string& dir,
                                      std::string_view unique_name,
                                      std::string_view content) {
    MaildirBatch batch;
    const std::size_t index = batch.add(dir, unique_name, content, -1, 0, 0);
    batch.commit();
    return batch.error(index);
}

}  // namespace labmta::spool
