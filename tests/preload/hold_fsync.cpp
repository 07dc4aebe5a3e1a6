// A disk that stalls on demand, for end-to-end tests: LD_PRELOADed into labmta, it replaces
// fsync(). An fsync of a file whose path contains $LABMTA_TEST_HOLD_FSYNC_MATCH waits while the
// file $LABMTA_TEST_HOLD_FSYNC_DIR/hold exists, after creating $LABMTA_TEST_HOLD_FSYNC_DIR/held
// to say so. A test can then check what the server still does while one of its threads is
// stuck in the disk, without depending on how slow the disk really is. Without those
// variables it only calls the real fsync().
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

bool should_hold(int fd, const char* match) {
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    char target[4096];
    const ssize_t length = ::readlink(link, target, sizeof target - 1);
    if (length <= 0) {
        return false;
    }
    target[length] = '\0';
    return std::strstr(target, match) != nullptr;
}

void hold_while_asked(const std::string& dir) {
    const std::string hold = dir + "/hold";
    if (::access(hold.c_str(), F_OK) != 0) {
        return;
    }
    const int held = ::open((dir + "/held").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (held >= 0) {
        ::close(held);
    }
    while (::access(hold.c_str(), F_OK) == 0) {
        ::usleep(10'000);
    }
}

}  // namespace

extern "C" int fsync(int fd) {
    using Fsync = int (*)(int);
    static const auto real = reinterpret_cast<Fsync>(::dlsym(RTLD_NEXT, "fsync"));
    const char* match = std::getenv("LABMTA_TEST_HOLD_FSYNC_MATCH");
    const char* dir = std::getenv("LABMTA_TEST_HOLD_FSYNC_DIR");
    if (match != nullptr && dir != nullptr && should_hold(fd, match)) {
        hold_while_asked(dir);
    }
    return real(fd);
}
