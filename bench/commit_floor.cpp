// The disk's floor for labmta's commit protocol (STYLE.md, spool::Spool::commit_batch): how
// long the system calls alone take, with no SMTP, no cleanup and no delivery, on the folder
// given. bench/bench.py runs it on the bench spool's file system and puts it beside smtp-sink's
// time per message, which gives a ceiling for scenarios A and B on this machine right now.
//
//   commit_floor DIR [COUNT] [GROUP]
//
// Each message is a file of kMessageBytes. A group of one is what a lone session pays: create
// tmp/<n>, write, fsync, close, rename into incoming/<n>, fsync incoming/. A bigger group
// writes all its files, makes them durable with one syncfs, renames them all, and fsyncs
// incoming/ once, as the group commit does. Prints one line of key=value pairs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// A 1 KB message as smtp-source sends it, with its headers and the queue file's envelope.
constexpr std::size_t kMessageBytes = 1500;

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "commit_floor: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

void check(bool ok, const std::string& what) {
    if (!ok) {
        die(what);
    }
}

// dir + "/" + n, built step by step (GCC 12 warns falsely, -Wrestrict, on "/" + to_string).
std::string file_in(const std::string& dir, long n) {
    std::string path = dir;
    path += '/';
    path += std::to_string(n);
    return path;
}

void make_dir(const std::string& path) {
    check(::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST, "mkdir " + path);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: commit_floor DIR [COUNT] [GROUP]\n");
        return 2;
    }
    const std::string root = argv[1];
    const long count = argc > 2 ? std::atol(argv[2]) : 1000;
    const long group = argc > 3 ? std::atol(argv[3]) : 1;
    if (count < 1 || group < 1) {
        std::fprintf(stderr, "commit_floor: COUNT and GROUP must be positive\n");
        return 2;
    }
    make_dir(root);
    const std::string tmp = root + "/tmp";
    const std::string incoming = root + "/incoming";
    make_dir(tmp);
    make_dir(incoming);
    const int incoming_fd = ::open(incoming.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    check(incoming_fd >= 0, "open " + incoming);
    const std::string message(kMessageBytes, 'x');

    const auto start = std::chrono::steady_clock::now();
    long done = 0;
    while (done < count) {
        const long size = std::min(group, count - done);
        std::vector<int> fds;
        for (long i = 0; i < size; ++i) {
            const std::string path = file_in(tmp, done + i);
            const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            check(fd >= 0, "create " + path);
            check(
                ::write(fd, message.data(), message.size()) == static_cast<ssize_t>(message.size()),
                "write " + path);
            fds.push_back(fd);
        }
        if (size == 1) {
            check(::fsync(fds.front()) == 0, "fsync");
        } else {
            check(::syncfs(fds.front()) == 0, "syncfs");
        }
        for (long i = 0; i < size; ++i) {
            check(::close(fds[static_cast<std::size_t>(i)]) == 0, "close");
            check(
                ::rename(file_in(tmp, done + i).c_str(), file_in(incoming, done + i).c_str()) == 0,
                "rename");
        }
        check(::fsync(incoming_fd) == 0, "fsync " + incoming);
        done += size;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "messages=%ld group=%ld seconds=%.3f us_per_message=%.1f us_per_group=%.1f "
        "messages_per_second=%.0f\n",
        count,
        group,
        seconds,
        seconds / static_cast<double>(count) * 1e6,
        seconds / static_cast<double>((count + group - 1) / group) * 1e6,
        static_cast<double>(count) / seconds);
    return 0;
}
