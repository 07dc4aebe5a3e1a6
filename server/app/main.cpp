// labmta's command line: `serve` runs the mail server on a libuv loop, `check-config` prints
// the effective configuration. Startup errors are one log line and a non-zero exit.
#include "common/startup_error.h"
#include "config/config.h"
#include "server/app/accounts.h"
#include "server/app/logging.h"
#include "server/app/privileges.h"
#include "server/app/queue_tools.h"
#include "server/app/reload.h"
#include "server/app/wiring.h"
#include "server/net/uv_error.h"
#include "spool/local_delivery.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

namespace {

using namespace labmta;

constexpr const char* kDefaultConfig = "/etc/labmta/labmta.yaml";

struct ServeOptions {
    std::string config_path = kDefaultConfig;
    std::vector<std::string> listen;
    std::string spool;
    std::string ready_file;
    std::string user;
};

// Writes the bound addresses, one a line, atomically: tests and scripts wait for this file
// to learn the port when they asked for port 0.
// Readers (tests, `labmta flush`) see the whole file or none of it.
void write_file_atomically(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text;
        if (!out.flush()) {
            throw StartupError("cannot write " + tmp);
        }
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        throw StartupError("cannot rename " + tmp + " to " + path);
    }
}

void write_ready_file(const std::string& path, const std::vector<net::Endpoint>& bound) {
    std::string text;
    for (const net::Endpoint& endpoint : bound) {
        text += net::to_string(endpoint) + "\n";
    }
    write_file_atomically(path, text);
}

// The signals the server handles: SIGINT/SIGTERM stop it, SIGUSR1 (`labmta flush`) retries
// the queue now, SIGHUP reloads the config for new sessions.
struct SignalHandlers {
    net::SmtpServer& server;
    net::QueueManager& queue;
    net::Resolver& resolver;
    const ServeOptions& options;
    config::Config active;  // the config in force: what a reload compares with
    std::array<uv_signal_t, 4> handles{};
};

config::Config load_serve_config(const ServeOptions& options) {
    config::Config config = config::load_config(options.config_path);
    if (!options.spool.empty()) {
        config.spool = options.spool;
    }
    if (!options.user.empty()) {
        config.user = options.user;
    }
    if (!options.listen.empty()) {
        config.listen.clear();
        for (const std::string& text : options.listen) {
            config.listen.push_back(config::parse_listen_address(text, "--listen"));
        }
    }
    return config;
}

// SIGHUP: reads the config file again (as the running user). A bad file changes nothing;
// restart-only keys keep their old values. Running sessions keep the settings they started
// with (SmtpServer::reload), so no client is dropped or sees its rules change.
void reload_config(SignalHandlers& handlers) {
    try {
        app::ReloadPlan plan =
            app::plan_reload(handlers.active, load_serve_config(handlers.options));
        for (const std::string& key : plan.ignored) {
            spdlog::warn("warning: reload: {} changed: ignored until labmta is restarted", key);
        }
        handlers.server.reload(app::make_session_settings(plan.effective));
        handlers.active = std::move(plan.effective);
        spdlog::info("reload: {} loaded, new sessions use it", handlers.options.config_path);
    } catch (const std::exception& error) {  // no exception may leave a libuv callback
        spdlog::warn("warning: reload failed: {}; keeping the old configuration", error.what());
    }
}

// Stops everything that keeps the loop running, so that uv_run returns.
void stop_all(SignalHandlers& handlers) {
    handlers.server.stop();
    handlers.queue.stop();
    handlers.resolver.close();
    for (uv_signal_t& signal : handlers.handles) {
        uv_close(reinterpret_cast<uv_handle_t*>(&signal), nullptr);
    }
}

void on_signal(uv_signal_t* handle, int signum) {
    auto* handlers = static_cast<SignalHandlers*>(handle->data);
    if (signum == SIGUSR1) {
        handlers->queue.flush();
        return;
    }
    if (signum == SIGHUP) {
        reload_config(*handlers);
        return;
    }
    spdlog::info("stopping on signal {}", signum == SIGINT ? "SIGINT" : "SIGTERM");
    stop_all(*handlers);
}

// <spool>/labmta.pid: how `labmta flush` finds the running server.
class PidFile {
public:
    explicit PidFile(std::string path) : path_(std::move(path)) {
        write_file_atomically(path_, std::to_string(::getpid()) + "\n");
    }
    ~PidFile() { std::remove(path_.c_str()); }
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

private:
    std::string path_;
};

// Each client is a file descriptor: the soft limit (often 1024) would cap the server far below
// limits.connections, so it is raised to the hard limit, as far as that goes.
void raise_open_file_limit(unsigned connections) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            limit = raised;
        }
    }
    // Spool files, DNS and listeners need some descriptors besides the clients.
    if (limit.rlim_cur < rlim_t{connections} + 64) {
        spdlog::warn(
            "open-file limit {} is below limits.connections ({}) + 64: raise it "
            "(ulimit -n, LimitNOFILE=) or accepts will fail",
            limit.rlim_cur,
            connections);
    }
}

int serve(const ServeOptions& options) {
    const config::Config config = load_serve_config(options);
    app::setup_logging(config.hostname);
    raise_open_file_limit(config.limits.connections);
    const std::optional<app::RunAsUser> run_as = app::resolve_run_as_user(config.user);
    spool::Spool spool(config.spool);
    spool.lock_for_server();
    if (const std::size_t removed = spool::remove_crashed_maildir_copies(spool); removed > 0) {
        spdlog::info("removed {} unfinished Maildir copies left in tmp/ by a crash", removed);
    }
    if (run_as) {
        app::give_spool_to(config.spool, *run_as);
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    common::SystemClock clock;
    common::SystemRandom random;
    net::Resolver resolver(&loop, config.dns.servers);
    net::RelayAgent relay(&loop, resolver, app::make_relay_settings(config));
    net::QueueManager queue(&loop, spool, app::make_queue_settings(config), clock, random, relay);
    app::SpoolWriter spool_writer(spool, config.hostname, clock);
    net::GroupCommitter committer(
        &loop,
        spool.root() + "/tmp",
        [&spool_writer](std::vector<net::QueueRequest>& group) { spool_writer.write_group(group); },
        [&queue](const std::string& queue_id) { queue.notify(queue_id); });
    net::SmtpServer server(&loop, app::make_session_settings(config), committer);
    server.set_room_check([&spool, min_free = config.queue.min_free_bytes](std::size_t bytes) {
        return app::spool_has_room(spool, min_free, bytes);
    });

    SignalHandlers handlers{server, queue, resolver, options, config};
    const std::array<int, 4> signal_numbers{SIGINT, SIGTERM, SIGUSR1, SIGHUP};
    for (std::size_t i = 0; i < handlers.handles.size(); ++i) {
        uv_signal_init(&loop, &handlers.handles[i]);
        handlers.handles[i].data = &handlers;
        uv_signal_start(&handlers.handles[i], &on_signal, signal_numbers[i]);
    }
    std::optional<PidFile> pid_file;
    try {
        const std::vector<net::Endpoint> bound = server.listen(config.listen);
        // Only now may `labmta flush` find us: SIGUSR1 has its handler.
        pid_file.emplace(app::pid_file_path(config.spool));
        if (run_as) {
            app::check_spool_access(config.spool, *run_as);
        }
        if (!options.ready_file.empty()) {
            write_ready_file(options.ready_file, bound);
        }
        // Before uv_run: no client is served while we are still root.
        if (run_as) {
            app::drop_privileges(*run_as);
        }
    } catch (const StartupError&) {
        // Close every handle (listeners bound so far, resolver, timers) while the objects
        // that own them still exist; main() then reports the error.
        stop_all(handlers);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        throw;
    }

    spdlog::info(
        "labmta {} started, hostname={}, spool={}", LABMTA_VERSION, config.hostname, config.spool);
    queue.start();
    uv_run(&loop, UV_RUN_DEFAULT);
    const int rc = uv_loop_close(&loop);
    if (rc != 0) {
        spdlog::warn("event loop closed with handles open: {}", net::uv_error_text(rc));
    }
    spdlog::info("labmta stopped");
    return 0;
}

// Where the queue tools find the spool: --spool, else the config's spool.
struct SpoolOptions {
    std::string config_path = kDefaultConfig;
    std::string spool;
};

void add_spool_options(CLI::App* command, SpoolOptions& options) {
    command->add_option("--config", options.config_path, "YAML config file")->capture_default_str();
    command->add_option("--spool", options.spool, "Spool directory; overrides the config");
}

std::string spool_root(const SpoolOptions& options) {
    return options.spool.empty() ? config::load_config(options.config_path).spool : options.spool;
}

int check_config(const std::string& path) {
    try {
        std::cout << config::to_yaml(config::load_config(path));
        return 0;
    } catch (const config::ConfigError& error) {
        std::cerr << "labmta: " << error.what() << '\n';
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    // A peer that closes early must give EPIPE on write, not kill the server.
    ::signal(SIGPIPE, SIG_IGN);

    CLI::App cli{"labmta: a small Postfix-like SMTP server for labs"};
    cli.set_version_flag("--version", std::string("labmta ") + LABMTA_VERSION);
    cli.require_subcommand(1);

    ServeOptions serve_options;
    CLI::App* serve_cmd = cli.add_subcommand("serve", "Run the mail server in the foreground");
    serve_cmd->add_option("--config", serve_options.config_path, "YAML config file")
        ->capture_default_str();
    serve_cmd->add_option("--listen",
                          serve_options.listen,
                          "ADDR:PORT to listen on, repeatable; overrides the config (port 0: "
                          "any free port)");
    serve_cmd->add_option("--spool", serve_options.spool, "Spool directory; overrides the config");
    serve_cmd->add_option("--user",
                          serve_options.user,
                          "Account to run as when started as root; overrides the config's user:");
    serve_cmd->add_option("--ready-file",
                          serve_options.ready_file,
                          "Write the bound ADDR:PORT lines to this file once listening");

    std::string check_path = kDefaultConfig;
    CLI::App* check_cmd =
        cli.add_subcommand("check-config", "Print the effective config, or its errors");
    check_cmd->add_option("--config", check_path, "YAML config file")->capture_default_str();

    CLI::App* hash_cmd = cli.add_subcommand(
        "hash-password",
        "Read a password on stdin, print its yescrypt hash for users[].password_hash");

    SpoolOptions spool_options;
    bool json = false;
    CLI::App* queue_cmd = cli.add_subcommand("queue", "List queued mail, like mailq");
    queue_cmd->add_flag("--json", json, "One JSON array instead of the mailq listing");
    std::string queue_id;
    CLI::App* show_cmd = cli.add_subcommand("show", "Print a queued message, like postcat -q");
    show_cmd->add_option("id", queue_id, "Queue ID")->required();
    CLI::App* delete_cmd = cli.add_subcommand("delete", "Delete queued mail, like postsuper -d");
    delete_cmd->add_option("id", queue_id, "Queue ID, or ALL")->required();
    CLI::App* flush_cmd =
        cli.add_subcommand("flush", "Make the running server retry deferred mail now");
    for (CLI::App* command : {queue_cmd, show_cmd, delete_cmd, flush_cmd}) {
        add_spool_options(command, spool_options);
    }

    CLI11_PARSE(cli, argc, argv);

    try {
        if (*queue_cmd) {
            return app::run_queue_list(spool_root(spool_options), json, std::cout, std::cerr);
        }
        if (*show_cmd) {
            return app::run_show(spool_root(spool_options), queue_id, std::cout, std::cerr);
        }
        if (*delete_cmd) {
            return app::run_delete(spool_root(spool_options), queue_id, std::cout, std::cerr);
        }
        if (*flush_cmd) {
            return app::run_flush(spool_root(spool_options), std::cout, std::cerr);
        }
    } catch (const config::ConfigError& error) {
        std::cerr << "labmta: " << error.what() << '\n';
        return 1;
    }

    if (*check_cmd) {
        return check_config(check_path);
    }
    if (*hash_cmd) {
        return app::run_hash_password(std::cin, std::cout, std::cerr);
    }
    try {
        return serve(serve_options);
    } catch (const StartupError& error) {
        spdlog::critical("fatal: {}", error.what());
        return 1;
    }
}
