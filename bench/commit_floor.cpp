// The disk's floor for labmta's commit protocol (STYLE.md, spool::Spool::commit_batch): how
// long the system calls alone take, with no SMTP, no cleanup and no delivery, on the folder
// given. bench/bench.py runs it on the bench spool's file system and puts it beside smtp-sink's
// time per message, which gives a ceiling for scenarios A and B on this machine right now.
//
//   commit_floor DIR [COUNT] [GROUP] [deliver]
//
// Each message is a file of kMessageBytes. A group of one is what a lone session pays: create
// tmp/<n>, write, fsync, close, rename into incoming/<n>, fsync incoming/. A bigger group
// writes all its files, makes them durable with one syncfs, renames them all, and fsyncs
// incoming/ once, as the group commit does. With `deliver`, each group is then also delivered
// as labmta's local delivery does it: each queue file read, its copy written to Maildir tmp/,
// the copies made durable together, renamed into new/, new/ fsynced, the queue files removed.
// Prints one line of key=value pairs, with the CPU time (user + system) per message: this
// process's, and the whole machine's (which includes the kernel's writeback threads).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
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

std::string make_dir(const std::string& path) {
    check(::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST, "mkdir " + path);
    return path;
}

int open_dir(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    check(fd >= 0, "open " + path);
    return fd;
}

double cpu_seconds() {
    rusage usage{};
    check(::getrusage(RUSAGE_SELF, &usage) == 0, "getrusage");
    const auto seconds = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// CPU seconds all CPUs spent busy since boot (/proc/stat): with the machine otherwise idle,
// the difference over a run adds the kernel's writeback threads to this process's time.
// Steal (time the hypervisor gave to other guests) is no work of ours: not counted.
double machine_busy_seconds() {
    std::ifstream stat("/proc/stat");
    std::string cpu;
    long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
    stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq;
    check(static_cast<bool>(stat) && cpu == "cpu", "read /proc/stat");
    const long long busy = user + nice + system + irq + softirq;
    return static_cast<double>(busy) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A source folder, a destination folder (fsynced once per group) and its descriptor.
struct Step {
    std::string from;
    std::string to;
    int to_fd;
};

// Makes the written files durable (one fsync for one, one syncfs for several), renames each
// from step.from to step.to, and fsyncs step.to once: the protocol both stages share.
void publish(const Step& step, std::vector<int>& fds, long first) {
    if (fds.size() == 1) {
        check(::fsync(fds.front()) == 0, "fsync");
    } else {
        check(::syncfs(fds.front()) == 0, "syncfs");
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
        const long n = first + static_cast<long>(i);
        check(::close(fds[i]) == 0, "close");
        check(::rename(file_in(step.from, n).c_str(), file_in(step.to, n).c_str()) == 0, "rename");
    }
    check(::fsync(step.to_fd) == 0, "fsync " + step.to);
}

int create_with(const std::string& path, const char* data, std::size_t size) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    check(fd >= 0, "create " + path);
    check(::write(fd, data, size) == static_cast<ssize_t>(size), "write " + path);
    return fd;
}

void commit_group(const Step& step, const std::string& message, long first, long size) {
    std::vector<int> fds;
    for (long n = first; n < first + size; ++n) {
        fds.push_back(create_with(file_in(step.from, n), message.data(), message.size()));
    }
    publish(step, fds, first);
}

// incoming: where the queue files are; step: Maildir tmp/ to new/.
void deliver_group(const std::string& incoming, const Step& step, long first, long size) {
    std::vector<int> fds;
    char buffer[2 * kMessageBytes];
    for (long n = first; n < first + size; ++n) {
        const int queue_fd = ::open(file_in(incoming, n).c_str(), O_RDONLY | O_CLOEXEC);
        check(queue_fd >= 0, "open queue file");
        const ssize_t got = ::read(queue_fd, buffer, sizeof buffer);
        check(got > 0 && ::close(queue_fd) == 0, "read queue file");
        fds.push_back(create_with(file_in(step.from, n), buffer, static_cast<std::size_t>(got)));
    }
    publish(step, fds, first);
    for (long n = first; n < first + size; ++n) {
        check(::unlink(file_in(incoming, n).c_str()) == 0, "unlink queue file");
    }
}

}  // namespace

int main(int argc, char** argv) {
    const bool deliver = argc > 4 && std::strcmp(argv[4], "deliver") == 0;
    if (argc < 2 || argc > 5 || (argc == 5 && !deliver)) {
        std::fprintf(stderr, "usage: commit_floor DIR [COUNT] [GROUP] [deliver]\n");
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
    const std::string incoming = make_dir(root + "/incoming");
    const Step commit{make_dir(root + "/tmp"), incoming, open_dir(incoming)};
    const std::string maildir = make_dir(root + "/maildir");
    const std::string new_dir = make_dir(maildir + "/new");
    const Step delivery{make_dir(maildir + "/tmp"), new_dir, open_dir(new_dir)};
    const std::string message(kMessageBytes, 'x');

    const double cpu_start = cpu_seconds();
    const double machine_start = machine_busy_seconds();
    const auto start = std::chrono::steady_clock::now();
    for (long done = 0; done < count;) {
        const long size = std::min(group, count - done);
        commit_group(commit, message, done, size);
        if (deliver) {
            deliver_group(incoming, delivery, done, size);
        }
        done += size;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double messages = static_cast<double>(count);
    std::printf(
        "messages=%ld group=%ld deliver=%d seconds=%.3f us_per_message=%.1f us_per_group=%.1f "
        "messages_per_second=%.0f cpu_us_per_message=%.1f machine_cpu_us_per_message=%.1f\n",
        count,
        group,
        deliver ? 1 : 0,
        seconds,
        seconds / messages * 1e6,
        seconds / static_cast<double>((count + group - 1) / group) * 1e6,
        messages / seconds,
        (cpu_seconds() - cpu_start) / messages * 1e6,
        (machine_busy_seconds() - machine_start) / messages * 1e6);
    return 0;
}
