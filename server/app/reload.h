// What a SIGHUP reload may change. Accounts, limits and SMTP policy apply to sessions accepted
// after the reload; settings that other long-lived parts were built from (listen sockets,
// spool, user, queue, relayhost, DNS, hostname and local domains) need a restart and are kept.
// Pure: no I/O, no logging.
#pragma once

#include "config/config.h"

#include <string>
#include <vector>

namespace labmta::app {

struct ReloadPlan {
    config::Config effective;          // the new config with every restart-only key kept
    std::vector<std::string> ignored;  // restart-only keys that the new file changed
};

ReloadPlan plan_reload(const config::Config& active, config::Config next);

}  // namespace labmta::app
