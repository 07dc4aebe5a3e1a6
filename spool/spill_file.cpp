// See spill_file.h.
#include "spool/spill_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>

namespace labmta::spool {

SpillFile SpillFile::create(const std::string& dir, std::error_code& error) {
    SpillFile file;
    error.clear();
    file.fd_ = open_file(dir, O_TMPFILE | O_RDWR, 0600, error);
    if (!error) {
        return file;
    }
    // No O_TMPFILE on this file system: a fresh name, unlinked at once.
    static std::atomic<unsigned> counter{0};
    const std::string path =
        dir + "/spill." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
    error.clear();
    file.fd_ = open_file(path, O_CREAT | O_EXCL | O_RDWR, 0600, error);
    if (!error) {
        ::unlink(path.c_str());
    }
    return file;
}

std::error_code SpillFile::append(std::string_view text) {
    if (const std::error_code error = write_all(fd_.get(), text)) {
        return error;
    }
    size_ += text.size();
    return {};
}

std::error_code copy_file_part(int in_fd, std::uint64_t offset, std::uint64_t length, int out_fd) {
    auto in_offset = static_cast<off_t>(offset);
    bool kernel_copy = true;
    constexpr std::size_t kBufferBytes = 65536;
    std::unique_ptr<char[]> buffer;  // only for the fallback, and not zeroed: it is written first
    while (length > 0) {
        if (kernel_copy) {
            const ssize_t copied = ::copy_file_range(in_fd, &in_offset, out_fd, nullptr, length, 0);
            if (copied > 0) {
                length -= static_cast<std::uint64_t>(copied);
                continue;
            }
            if (copied == 0) {
                return std::make_error_code(std::errc::io_error);  // the file is shorter
            }
            if (errno == EINTR) {
                continue;
            }
            if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL) {
                return last_errno_error();
            }
            kernel_copy = false;  // across file systems, or not supported: copy by hand
        }
        if (!buffer) {
            buffer = std::make_unique_for_overwrite<char[]>(kBufferBytes);
        }
        const std::size_t want =
            length < kBufferBytes ? static_cast<std::size_t>(length) : kBufferBytes;
        const ssize_t got = ::pread(in_fd, buffer.get(), want, in_offset);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return got < 0 ? last_errno_error() : std::make_error_code(std::errc::io_error);
        }
        if (const std::error_code error =
                write_all(out_fd, std::string_view(buffer.get(), static_cast<std::size_t>(got)))) {
            return error;
        }
        in_offset += got;
        length -= static_cast<std::uint64_t>(got);
    }
    return {};
}

}  // namespace labmta::spool
