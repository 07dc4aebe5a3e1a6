// A message on its way in: DATA text beyond the session's buffer is appended here as it
// arrives, so a big message never sits whole in memory. The file has no name (O_TMPFILE in
// <spool>/tmp, or a name unlinked at once where O_TMPFILE is missing): nothing is left behind
// by a dropped session or a crash. The queue file is built from it at the end of DATA.
#pragma once

#include "spool/file_util.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace labmta::spool {

class SpillFile {
public:
    // An open, empty file in dir; is_open() is false and error set when it cannot be made.
    static SpillFile create(const std::string& dir, std::error_code& error);

    std::error_code append(std::string_view text);
    bool is_open() const { return fd_.is_open(); }
    int fd() const { return fd_.get(); }
    std::uint64_t size() const { return size_; }

private:
    UniqueFd fd_;
    std::uint64_t size_ = 0;
};

// Copies length bytes of in_fd from offset to out_fd's current offset, in the kernel where it
// can (copy_file_range), so that big messages are not read into memory.
std::error_code copy_file_part(int in_fd, std::uint64_t offset, std::uint64_t length, int out_fd);

}  // namespace labmta::spool
