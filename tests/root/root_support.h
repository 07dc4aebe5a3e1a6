// Helpers of the root-only end-to-end tests: whether they can run here, and a tmpfs mounted
// for one test (unmounted at the end). Test code only.
#pragma once

#include <cstdint>
#include <string>

namespace labmta::test {

// "" when running as root; otherwise why the [root] tests cannot run.
std::string why_root_tests_cannot_run();

// "" when a tmpfs can be mounted here; otherwise why the [tmpfs] tests cannot run.
std::string why_tmpfs_tests_cannot_run();

// A tmpfs of size_bytes mounted on dir (which must exist) for the object's lifetime.
class TmpfsMount {
public:
    TmpfsMount(std::string dir, std::uint64_t size_bytes);
    ~TmpfsMount();
    TmpfsMount(const TmpfsMount&) = delete;
    TmpfsMount& operator=(const TmpfsMount&) = delete;

    const std::string& dir() const { return dir_; }
    // Remounts read-only (true) or read-write (false); throws std::runtime_error on failure.
    void set_read_only(bool read_only);

private:
    std::string dir_;
    std::uint64_t size_bytes_;
};

// Owner uid of path (lstat); throws std::runtime_error when it does not exist.
unsigned owner_uid(const std::string& path);

}  // namespace labmta::test
