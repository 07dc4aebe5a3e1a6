// See privileges.h. Startup only: every failure is a StartupError naming what to fix.
#include "server/app/privileges.h"

#include "common/startup_error.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace labmta::app {
namespace {

void chown_one(const std::string& path, const RunAsUser& user) {
    if (::lchown(path.c_str(), user.uid, user.gid) != 0) {
        throw StartupError("cannot give the spool to user \"" + user.name + "\": " + path + ": "
                           + std::strerror(errno));
    }
}

}  // namespace

std::optional<RunAsUser> resolve_run_as_user(const std::string& name) {
    if (::geteuid() != 0) {
        spdlog::debug("not started as root: user: {} ignored", name);
        return std::nullopt;
    }
    const passwd* entry = ::getpwnam(name.c_str());
    if (entry == nullptr) {
        throw StartupError("user \"" + name
                           + "\" from config does not exist; create it (useradd --system " + name
                           + ") or set user:");
    }
    if (entry->pw_uid == 0) {
        throw StartupError("user \"" + name
                           + "\" has uid 0: refusing to run the SMTP protocol as root; set "
                             "user: to an unprivileged account");
    }
    return RunAsUser{name, entry->pw_uid, entry->pw_gid};
}

void give_spool_to(const std::string& spool_root, const RunAsUser& user) {
    chown_one(spool_root, user);
    std::error_code error;
    // Symlinks are not followed (the default): a link in the spool never gives away its target.
    std::filesystem::recursive_directory_iterator it(spool_root, error);
    for (; !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
        chown_one(it->path().string(), user);
    }
    if (error) {
        throw StartupError("cannot give the spool " + spool_root + " to user \"" + user.name
                           + "\": " + error.message());
    }
}

void drop_privileges(const RunAsUser& user) {
    if (::initgroups(user.name.c_str(), user.gid) != 0) {
        throw StartupError("initgroups(" + user.name + "): " + std::strerror(errno));
    }
    if (::setgid(user.gid) != 0) {
        throw StartupError("setgid(" + std::to_string(user.gid) + "): " + std::strerror(errno));
    }
    if (::setuid(user.uid) != 0) {
        throw StartupError("setuid(" + std::to_string(user.uid) + "): " + std::strerror(errno));
    }
    // setuid() as root sets the real, effective and saved IDs; prove that none is left at 0.
    const bool regained = ::setuid(0) == 0 || ::seteuid(0) == 0;
    if (regained || ::getuid() != user.uid || ::geteuid() != user.uid || ::getgid() != user.gid
        || ::getegid() != user.gid) {
        throw StartupError("could not drop root privileges for user \"" + user.name + "\"");
    }
    spdlog::info("running as user {} (uid={}, gid={})", user.name, user.uid, user.gid);
}

void check_spool_access(const std::string& spool_root, const RunAsUser& user) {
    // As the user, but only for this check: the effective IDs are switched and switched back
    // (the saved IDs stay root), so the answer is known before readiness is announced.
    if (::setegid(user.gid) != 0 || ::seteuid(user.uid) != 0) {
        const int error = errno;
        (void)::seteuid(0);
        (void)::setegid(0);
        throw StartupError("cannot check the spool as user \"" + user.name
                           + "\": " + std::strerror(error));
    }
    const std::array<std::string, 4> dirs{
        spool_root, spool_root + "/tmp", spool_root + "/incoming", spool_root + "/mailboxes"};
    std::string refused;
    int error = 0;
    for (const std::string& dir : dirs) {
        if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
            refused = dir;
            error = errno;
            break;
        }
    }
    if (::seteuid(0) != 0 || ::setegid(0) != 0) {
        throw StartupError("cannot return to root after checking the spool");
    }
    if (!refused.empty()) {
        throw StartupError("spool directory " + refused + " is not writable by user \"" + user.name
                           + "\": " + std::strerror(error)
                           + " (may it search every parent directory?)");
    }
}

}  // namespace labmta::app
