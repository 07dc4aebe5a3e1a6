// POSIX file helpers: EINTR and short-write loops, mkdir -p, directory fsync.
// Errors come back as std::error_code; no logging, no exceptions.
#include "spool/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace labmta::spool {

namespace {

std::string parent_dir(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) {
        return ".";
    }
    if (slash == 0) {
        return "/";
    }
    return path.substr(0, slash);
}

// Creates one directory; EEXIST is fine when what exists is a directory.
std::error_code make_one_dir(const std::string& path, unsigned mode, bool& created) {
    created = false;
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) == 0) {
        created = true;
        return {};
    }
    const std::error_code error = last_errno_error();
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) {
        return S_ISDIR(info.st_mode) ? std::error_code{}
                                     : std::make_error_code(std::errc::not_a_directory);
    }
    return error;
}

}  // namespace

std::error_code last_errno_error() {
    return {errno, std::generic_category()};
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
        (void)close();
        fd_ = other.release();
    }
    return *this;
}

UniqueFd::~UniqueFd() {
    (void)close();
}

int UniqueFd::release() {
    return std::exchange(fd_, -1);
}

std::error_code UniqueFd::close() {
    if (fd_ < 0) {
        return {};
    }
    // Linux releases the fd even when close() fails with EINTR, so never retry it.
    const int result = ::close(std::exchange(fd_, -1));
    return result == 0 ? std::error_code{} : last_errno_error();
}

UniqueFd open_file(const std::string& path, int flags, unsigned mode, std::error_code& error) {
    int fd = -1;
    do {
        fd = ::open(path.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode));
    } while (fd < 0 && errno == EINTR);
    error = fd < 0 ? last_errno_error() : std::error_code{};
    return UniqueFd(fd);
}

std::error_code write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t written = ::write(fd, data.data(), data.size());
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return last_errno_error();
        }
        data.remove_prefix(static_cast<std::size_t>(written));
    }
    return {};
}

std::error_code pwrite_all(int fd, std::string_view data, long long offset) {
    while (!data.empty()) {
        const ssize_t written = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return last_errno_error();
        }
        data.remove_prefix(static_cast<std::size_t>(written));
        offset += written;
    }
    return {};
}

std::error_code read_until(int fd, std::string_view marker, std::string& out) {
    out.clear();
    char buffer[65536];
    for (;;) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return last_errno_error();
        }
        if (got == 0) {
            return {};
        }
        // Only the new bytes (and a marker straddling the old end) need searching.
        const std::size_t from = out.size() >= marker.size() ? out.size() - marker.size() + 1 : 0;
        out.append(buffer, static_cast<std::size_t>(got));
        if (!marker.empty() && out.find(marker, from) != std::string::npos) {
            return {};
        }
    }
}

std::error_code read_all(int fd, std::string& out) {
    return read_until(fd, {}, out);
}

std::error_code read_file(const std::string& path, std::string& out) {
    std::error_code error;
    UniqueFd fd = open_file(path, O_RDONLY, 0, error);
    if (error) {
        return error;
    }
    return read_all(fd.get(), out);
}

std::error_code fsync_dir(const std::string& path) {
    std::error_code error;
    UniqueFd fd = open_file(path, O_RDONLY | O_DIRECTORY, 0, error);
    if (error) {
        return error;
    }
    if (::fsync(fd.get()) != 0) {
        return last_errno_error();
    }
    return fd.close();
}

std::error_code sync_files(const std::vector<int>& fds) {
    if (fds.size() == 1) {
        return ::fsync(fds.front()) != 0 ? last_errno_error() : std::error_code{};
    }
    std::vector<dev_t> synced;
    for (const int fd : fds) {
        struct stat info {};
        if (::fstat(fd, &info) != 0) {
            return last_errno_error();
        }
        if (std::find(synced.begin(), synced.end(), info.st_dev) != synced.end()) {
            continue;
        }
        if (::syncfs(fd) != 0) {
            return last_errno_error();
        }
        synced.push_back(info.st_dev);
    }
    return {};
}

std::error_code make_dirs(const std::string& path, unsigned mode) {
    if (path.empty()) {
        return std::make_error_code(std::errc::no_such_file_or_directory);
    }
    // The common case, a folder that exists already, costs one stat.
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
        return {};
    }
    // Walk the components left to right; "a//b" and a trailing "/" are harmless.
    std::size_t end = path.find_first_not_of('/');
    while (end != std::string::npos) {
        end = path.find('/', end);
        const std::string prefix = path.substr(0, end);
        bool created = false;
        if (const std::error_code error = make_one_dir(prefix, mode, created)) {
            return error;
        }
        if (created) {
            if (const std::error_code error = fsync_dir(parent_dir(prefix))) {
                return error;
            }
        }
        if (end != std::string::npos) {
            end = path.find_first_not_of('/', end);
        }
    }
    return {};
}

}  // namespace labmta::spool
