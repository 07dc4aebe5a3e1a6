// Runs the built labmta binary for end-to-end tests: `labmta serve` as a child process that is
// waited for through its --ready-file and always reaped (SIGKILL when a test fails midway), and
// one-shot commands such as `labmta check-config` with their output captured.
// Every wait here is a bounded poll, never a fixed sleep.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::test {

inline constexpr std::chrono::milliseconds kDefaultWait{10000};
inline constexpr std::string_view kTestUser = "nobody";  // exists on every Debian

class ProcessError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Calls predicate every few milliseconds until it returns true or timeout passes; returns its
// last result.
bool wait_until(const std::function<bool()>& predicate, std::chrono::milliseconds timeout);

// "exited with status 0", "killed by signal 9", ... (a waitpid status).
std::string describe_wait_status(int status);
inline constexpr const char* kCleanExit = "exited with status 0";

struct ServeOptions {
    std::string binary;       // path of labmta
    std::string config_path;  // --config; empty: none
    std::string spool_dir;    // --spool; empty: none
    std::string work_dir;     // receives the ready file and the log (stderr + stdout)
    std::vector<std::string> listen{"127.0.0.1:0"};  // one --listen each
    // --user: the account the server drops to when the tests run as root (as in CI); the lab
    // config's labmta may not exist here. Ignored by the server when not root. Empty: none.
    std::string user = std::string(kTestUser);
    std::chrono::milliseconds start_timeout = kDefaultWait;
    // "NAME=value" entries added to the server's environment, replacing inherited ones.
    std::vector<std::string> environment{};
};

// `labmta serve ...` running in the background.
class ServerProcess {
public:
    // Starts the server and waits until its ready file appears; throws ProcessError (with the
    // server's log) when it exits or does not get ready in time.
    explicit ServerProcess(ServeOptions options);
    // Kills (SIGKILL) and reaps the server if it is still running.
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    // The first listener's port, and every "addr:port" line of the ready file.
    std::uint16_t port() const { return port_; }
    const std::vector<std::string>& listeners() const { return listeners_; }
    pid_t pid() const { return pid_; }
    bool is_running();

    void send_signal(int signal_number);
    // Waits for the process to end; describe_wait_status() of how it ended (also when it had
    // already ended), or "still running after N ms" (then it is killed with SIGKILL and reaped).
    std::string wait_for_exit(std::chrono::milliseconds timeout = kDefaultWait);
    // SIGTERM, then wait_for_exit().
    std::string stop(std::chrono::milliseconds timeout = kDefaultWait);

    // What the server wrote to stderr and stdout so far, and its last lines.
    std::string log() const;
    std::string log_tail(std::size_t max_lines = 40) const;

private:
    void wait_until_ready(std::chrono::milliseconds timeout);
    void kill_and_reap();

    ServeOptions options_;
    std::string ready_path_;
    std::string log_path_;
    pid_t pid_ = -1;
    bool reaped_ = false;
    std::string exit_status_;  // describe_wait_status() once reaped
    std::uint16_t port_ = 0;
    std::vector<std::string> listeners_;
};

struct CommandResult {
    int exit_code = -1;  // -1 when killed by a signal or timed out
    std::string output;  // stdout and stderr, interleaved as written
};

// Runs argv[0] with argv, stdin from /dev/null, and waits at most timeout (then SIGKILL).
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = kDefaultWait);

}  // namespace labmta::test
