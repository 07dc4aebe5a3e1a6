// Maildir delivery of one file: tmp/<name> (O_EXCL, 0600), write, fsync, close, rename into
// new/<name>, fsync new/. Blocking POSIX I/O; errors come back as std::error_code.
#include "spool/maildir.h"

#include "spool/file_util.h"

#include <fcntl.h>
#include <unistd.h>

namespace labmta::spool {

namespace {

constexpr unsigned kDirMode = 0700;
constexpr unsigned kFileMode = 0600;

bool is_single_component(std::string_view name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos
           && name.find('\0') == std::string_view::npos;
}

std::error_code write_new_file(const std::string& path, std::string_view content) {
    std::error_code error;
    UniqueFd fd = open_file(path, O_WRONLY | O_CREAT | O_EXCL, kFileMode, error);
    if (error) {
        return error;
    }
    if (error = write_all(fd.get(), content); error) {
        return error;
    }
    if (::fsync(fd.get()) != 0) {
        return last_errno_error();
    }
    return fd.close();
}

}  // namespace

std::error_code ensure_maildir(const std::string& dir) {
    for (const char* sub : {"/tmp", "/new", "/cur"}) {
        if (const std::error_code error = make_dirs(dir + sub, kDirMode)) {
            return error;
        }
    }
    return {};
}

std::error_code write_maildir_message(const std::string& dir,
                                      std::string_view unique_name,
                                      std::string_view content) {
    if (!is_single_component(unique_name)) {
        return std::make_error_code(std::errc::invalid_argument);
    }
    const std::string tmp_path = dir + "/tmp/" + std::string(unique_name);
    const std::string new_dir = dir + "/new";
    const std::string new_path = new_dir + "/" + std::string(unique_name);
    std::error_code error = write_new_file(tmp_path, content);
    if (error == std::errc::file_exists) {
        return error;  // not ours: leave whoever owns that tmp file alone
    }
    if (!error && ::rename(tmp_path.c_str(), new_path.c_str()) != 0) {
        error = last_errno_error();
    }
    if (error) {
        ::unlink(tmp_path.c_str());
        return error;
    }
    if (error = fsync_dir(new_dir); error) {
        // Not known to be durable and the recipient stays pending: take the copy back so the
        // retry does not deliver it twice.
        ::unlink(new_path.c_str());
        return error;
    }
    return {};
}

}  // namespace labmta::spool
