// See privileges.h. Startup only: every failure is a StartupError naming what to fix.
#include "server/app/privileges.h"

#include "common/startup_error.h"

#include <spdlog/spdlog.h>

#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace labmta::app {
namespace {

constexpr int kMaxOpenDirs = 32;  // nftw: directories held open at once

// nftw's callback takes no user pointer; the one chown -R in progress.
thread_local const RunAsUser* g_chown_user = nullptr;
thread_local int g_chown_errno = 0;
thread_local std::string* g_chown_failed_path = nullptr;

int chown_entry(const char* path, const struct stat*, int, struct FTW*) {
    if (::lchown(path, g_chown_user->uid, g_chown_user->gid) != 0) {
        g_chown_errno = errno;
        *g_chown_failed_path = path;
        return 1;  // stops the walk
    }
    return 0;
}

}  // namespace

std::optional<RunAsUser> resolve_run_as_user(const std::string& name) {
    if (::geteuid() != 0) {
        spdlog::debug("not started as root: user: {} ignored", name);
        return std::nullopt;
    }
    errno = 0;
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
    std::string failed_path;
    g_chown_user = &user;
    g_chown_errno = 0;
    g_chown_failed_path = &failed_path;
    const int rc = ::nftw(spool_root.c_str(), &chown_entry, kMaxOpenDirs, FTW_PHYS);
    const int error = rc < 0 ? errno : g_chown_errno;
    g_chown_user = nullptr;
    g_chown_failed_path = nullptr;
    if (rc != 0) {
        throw StartupError("cannot give the spool to user \"" + user.name + "\": "
                           + (failed_path.empty() ? spool_root : failed_path) + ": "
                           + std::strerror(error));
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

void check_spool_access(const std::string& spool_root, const std::string& user_name) {
    const std::array<std::string, 4> dirs{
        spool_root, spool_root + "/tmp", spool_root + "/incoming", spool_root + "/mailboxes"};
    for (const std::string& dir : dirs) {
        if (::access(dir.c_str(), W_OK | X_OK) != 0) {
            throw StartupError("spool directory " + dir + " is not writable by user \""
                               + user_name + "\": " + std::strerror(errno)
                               + " (can that user search every parent directory?)");
        }
    }
}

}  // namespace labmta::app
