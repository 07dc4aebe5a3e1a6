// See root_support.h.
#include "tests/root/root_support.h"

#include "tests/support/temp_dir.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace labmta::test {
namespace {

std::string size_option(std::uint64_t size_bytes) {
    return "size=" + std::to_string(size_bytes) + ",mode=0755";
}

}  // namespace

std::string why_root_tests_cannot_run() {
    if (::geteuid() != 0) {
        return "needs root: these tests start labmta as root to check that it drops to user: "
               "(run ctest as root, as CI does)";
    }
    return "";
}

std::string why_tmpfs_tests_cannot_run() {
    if (std::string why = why_root_tests_cannot_run(); !why.empty()) {
        return why;
    }
    const TempDir dir("labmta-tmpfs-probe");
    if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, size_option(1 << 20).c_str()) != 0) {
        return std::string("cannot mount a tmpfs here (") + std::strerror(errno)
               + "): a container without CAP_SYS_ADMIN?";
    }
    ::umount2(dir.path().c_str(), MNT_DETACH);
    return "";
}

TmpfsMount::TmpfsMount(std::string dir, std::uint64_t size_bytes)
    : dir_(std::move(dir)), size_bytes_(size_bytes) {
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, size_option(size_bytes_).c_str()) != 0) {
        throw std::runtime_error("mount tmpfs on " + dir_ + ": " + std::strerror(errno));
    }
}

TmpfsMount::~TmpfsMount() {
    ::umount2(dir_.c_str(), MNT_DETACH);
}

void TmpfsMount::set_read_only(bool read_only) {
    unsigned long flags = MS_REMOUNT;
    if (read_only) {
        flags |= MS_RDONLY;
    }
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", flags, size_option(size_bytes_).c_str()) != 0) {
        throw std::runtime_error("remount " + dir_ + ": " + std::strerror(errno));
    }
}

unsigned owner_uid(const std::string& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) {
        throw std::runtime_error(path + ": " + std::strerror(errno));
    }
    return info.st_uid;
}

}  // namespace labmta::test
