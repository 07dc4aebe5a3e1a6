// See logging.h.
#include "server/app/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <string>

namespace labmta::app {

void setup_logging(const std::string& hostname) {
    auto logger = spdlog::stderr_logger_mt("labmta");
    // The short host name, as syslog writes it.
    const std::string host = hostname.substr(0, hostname.find('.'));
    // The pid written in, not %P: that would ask the kernel once per log line.
    logger->set_pattern("%b %d %H:%M:%S " + host + " labmta[" + std::to_string(::getpid())
                        + "]: %v");
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace labmta::app
