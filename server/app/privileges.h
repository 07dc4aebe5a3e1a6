// Leaving root after startup, as Postfix's daemons run as mail_owner: `labmta serve` started as
// root binds its ports and opens the spool, gives the spool tree to `user:`, then becomes that
// user for good before it serves any client. Nothing here is used when not started as root.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace labmta::app {

struct RunAsUser {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
};

// When this process runs as root: the account named by `user:`. Throws StartupError when it
// does not exist or is root itself (uid 0). When not root: nullopt, the name is ignored.
std::optional<RunAsUser> resolve_run_as_user(const std::string& name);

// chown -R of the spool tree to user (symlinks themselves, never their targets), like
// `postfix set-permissions` does for the queue. Throws StartupError.
void give_spool_to(const std::string& spool_root, const RunAsUser& user);

// initgroups, setgid, setuid; then checks that root cannot be regained. Throws StartupError.
void drop_privileges(const RunAsUser& user);

// Before the drop, as user (effective IDs only, for the check): the spool folders must be
// writable by it (a parent directory that only root may search, such as a 0700 home, would stop
// every delivery). Checked before the ready file is written, so a server that announced itself
// ready does not exit afterwards. Throws StartupError.
void check_spool_access(const std::string& spool_root, const RunAsUser& user);

}  // namespace labmta::app
