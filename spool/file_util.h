// Small POSIX file helpers for the spool and local delivery: an owning fd, write-all and
// read-all loops that retry on EINTR, mkdir -p, directory fsync and errno-to-error_code.
// Every function reports failure as std::error_code; nothing here throws or logs.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labmta::spool {

// The current errno as an error_code (generic category, so `ec == std::errc::x` works).
std::error_code last_errno_error();

// Owns one file descriptor. close() reports the error that ::close() returned, because on
// some file systems a failed write only shows up there; the destructor closes silently.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    ~UniqueFd();

    int get() const { return fd_; }
    bool is_open() const { return fd_ >= 0; }
    int release();
    std::error_code close();

private:
    int fd_ = -1;
};

// open(2) with O_CLOEXEC added, retrying on EINTR; the returned fd is not open on failure.
UniqueFd open_file(const std::string& path, int flags, unsigned mode, std::error_code& error);

// Writes every byte of data at the current offset (short writes and EINTR are continued).
std::error_code write_all(int fd, std::string_view data);

// Writes every byte of data at offset (pwrite), continuing short writes and EINTR.
std::error_code pwrite_all(int fd, std::string_view data, long long offset);

// Reads from the current offset to end of file.
std::error_code read_all(int fd, std::string& out);

// Reads from the current offset until out contains marker (or end of file), in chunks; out may
// hold bytes past the marker.
std::error_code read_until(int fd, std::string_view marker, std::string& out);

// Reads a whole file.
std::error_code read_file(const std::string& path, std::string& out);

// fsync(2) on a directory, so that a rename or unlink inside it survives a crash.
std::error_code fsync_dir(const std::string& path);

// Makes the data of every file in fds durable: an fsync for a lone file; for a group, one
// syncfs(2) per file system, which writes back all that is dirty there at the cost of one
// journal commit, where an fsync per file costs one commit each. A group commit's rounds.
std::error_code sync_files(const std::vector<int>& fds);

// mkdir -p with this mode for each created component. Each directory it creates has its parent
// fsynced, so the new path itself survives a crash. An existing non-directory is ENOTDIR.
std::error_code make_dirs(const std::string& path, unsigned mode);

}  // namespace labmta::spool
