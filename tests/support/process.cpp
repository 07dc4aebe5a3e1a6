// Child processes for end-to-end tests (see process.h). posix_spawn rather than fork, so the
// tests may start servers while client threads of an earlier test section are alive.
#include "tests/support/process.h"

#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <thread>

extern char** environ;

namespace labmta::test {
namespace {

constexpr std::chrono::milliseconds kPollInterval{5};

// Owns a posix_spawn_file_actions_t: stdin from /dev/null, stdout and stderr to log_path.
class SpawnActions {
public:
    explicit SpawnActions(const std::string& log_path) {
        posix_spawn_file_actions_init(&actions_);
        posix_spawn_file_actions_addopen(&actions_, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(
            &actions_, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        posix_spawn_file_actions_adddup2(&actions_, STDOUT_FILENO, STDERR_FILENO);
    }
    ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
    const posix_spawn_file_actions_t* get() const { return &actions_; }

private:
    posix_spawn_file_actions_t actions_{};
};

// Our environment, with each "NAME=value" of extra replacing the inherited NAME.
std::vector<char*> environment_with(const std::vector<std::string>& extra) {
    const auto name_of = [](std::string_view entry) { return entry.substr(0, entry.find('=')); };
    std::vector<char*> entries;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& e) {
            return name_of(e) == name_of(*entry);
        });
        if (!replaced) {
            entries.push_back(*entry);
        }
    }
    for (const std::string& entry : extra) {
        entries.push_back(const_cast<char*>(entry.c_str()));
    }
    entries.push_back(nullptr);
    return entries;
}

pid_t spawn(const std::vector<std::string>& argv,
            const std::string& log_path,
            const std::vector<std::string>& extra_environment = {}) {
    std::vector<char*> args;
    for (const std::string& arg : argv) {
        args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);
    const SpawnActions actions(log_path);
    std::vector<char*> environment = environment_with(extra_environment);
    pid_t pid = -1;
    const int error =
        posix_spawn(&pid, args[0], actions.get(), nullptr, args.data(), environment.data());
    if (error != 0) {
        throw ProcessError("cannot start " + argv[0] + ": " + std::strerror(error));
    }
    return pid;
}

// Waits up to timeout for pid to end; true and *status set when it did.
bool reap_within(pid_t pid, std::chrono::milliseconds timeout, int* status) {
    return wait_until(
        [&] {
            const pid_t done = waitpid(pid, status, WNOHANG);
            return done == pid || (done < 0 && errno == ECHILD);
        },
        timeout);
}

std::uint16_t parse_port(const std::string& listener) {
    const std::size_t colon = listener.rfind(':');
    if (colon == std::string::npos) {
        throw ProcessError("ready file line without a port: " + listener);
    }
    const unsigned long port = std::stoul(listener.substr(colon + 1));
    if (port == 0 || port > 65535) {
        throw ProcessError("ready file line with a bad port: " + listener);
    }
    return static_cast<std::uint16_t>(port);
}

}  // namespace

bool wait_until(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!predicate()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return predicate();
        }
        std::this_thread::sleep_for(kPollInterval);
    }
    return true;
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) {
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return "killed by signal " + std::to_string(WTERMSIG(status));
    }
    return "ended with wait status " + std::to_string(status);
}

ServerProcess::ServerProcess(ServeOptions options) : options_(std::move(options)) {
    ready_path_ = options_.work_dir + "/labmta.ready";
    log_path_ = options_.work_dir + "/labmta.log";
    std::filesystem::remove(ready_path_);
    std::vector<std::string> argv{options_.binary, "serve"};
    if (!options_.config_path.empty()) {
        argv.insert(argv.end(), {"--config", options_.config_path});
    }
    for (const std::string& listen : options_.listen) {
        argv.insert(argv.end(), {"--listen", listen});
    }
    if (!options_.spool_dir.empty()) {
        argv.insert(argv.end(), {"--spool", options_.spool_dir});
    }
    if (!options_.user.empty()) {
        argv.insert(argv.end(), {"--user", options_.user});
    }
    argv.insert(argv.end(), {"--ready-file", ready_path_});
    pid_ = spawn(argv, log_path_, options_.environment);
    try {
        wait_until_ready(options_.start_timeout);
    } catch (...) {
        kill_and_reap();
        throw;
    }
}

ServerProcess::~ServerProcess() {
    kill_and_reap();
}

void ServerProcess::wait_until_ready(std::chrono::milliseconds timeout) {
    std::string exit_status;
    const bool ready = wait_until(
        [&] {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                reaped_ = true;
                exit_status = describe_wait_status(status);
                exit_status_ = exit_status;
                return true;
            }
            std::error_code error;
            // The server renames the ready file into place, so existing means complete.
            return std::filesystem::exists(ready_path_, error);
        },
        timeout);
    if (!exit_status.empty()) {
        throw ProcessError("labmta " + exit_status + " before it was ready; log:\n" + log());
    }
    if (!ready) {
        throw ProcessError("labmta wrote no ready file within " + std::to_string(timeout.count())
                           + " ms; log:\n" + log());
    }
    const std::string content = read_text_file(ready_path_);
    std::size_t start = 0;
    while (start < content.size()) {
        std::size_t end = content.find('\n', start);
        end = end == std::string::npos ? content.size() : end;
        if (end > start) {
            listeners_.push_back(content.substr(start, end - start));
        }
        start = end + 1;
    }
    if (listeners_.empty()) {
        throw ProcessError("labmta's ready file is empty");
    }
    port_ = parse_port(listeners_.front());
}

bool ServerProcess::is_running() {
    if (reaped_) {
        return false;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        exit_status_ = describe_wait_status(status);
    }
    return !reaped_;
}

void ServerProcess::send_signal(int signal_number) {
    if (!reaped_) {
        ::kill(pid_, signal_number);
    }
}

std::string ServerProcess::wait_for_exit(std::chrono::milliseconds timeout) {
    if (reaped_) {
        return exit_status_;
    }
    int status = 0;
    if (reap_within(pid_, timeout, &status)) {
        reaped_ = true;
        exit_status_ = describe_wait_status(status);
        return exit_status_;
    }
    kill_and_reap();
    return "still running after " + std::to_string(timeout.count()) + " ms";
}

std::string ServerProcess::stop(std::chrono::milliseconds timeout) {
    send_signal(SIGTERM);
    return wait_for_exit(timeout);
}

void ServerProcess::kill_and_reap() {
    if (reaped_ || pid_ <= 0) {
        return;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    exit_status_ = describe_wait_status(status);
}

std::string ServerProcess::log() const {
    try {
        return read_text_file(log_path_);
    } catch (const std::exception&) {
        return "";
    }
}

std::string ServerProcess::log_tail(std::size_t max_lines) const {
    const std::string text = log();
    std::size_t start = text.size();
    for (std::size_t lines = 0; start > 0 && lines <= max_lines;) {
        --start;
        if (text[start] == '\n') {
            ++lines;
        }
    }
    return text.substr(start);
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    const TempDir dir;
    const std::string output_path = dir / "output";
    const pid_t pid = spawn(argv, output_path);
    CommandResult result;
    int status = 0;
    if (!reap_within(pid, timeout, &status)) {
        ::kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        result.output = "(killed after " + std::to_string(timeout.count()) + " ms)\n";
    } else if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    }
    result.output += read_text_file(output_path);
    return result;
}

}  // namespace labmta::test
