// A temporary directory for one test: created with mkdtemp under /tmp, removed with everything
// in it when the object goes out of scope. Header-only; test code only.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace labmta::test {

class TempDir {
public:
    explicit TempDir(const std::string& prefix = "labmta-test") {
        std::string pattern = "/tmp/" + prefix + ".XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed for " + pattern);
        }
        path_ = pattern;
        // mkdtemp makes it 0700; a server started as root drops to an unprivileged user
        // (ServeOptions::user) that must still reach the spool and config inside.
        std::filesystem::permissions(
            path_,
            std::filesystem::perms::owner_all | std::filesystem::perms::group_read
                | std::filesystem::perms::group_exec | std::filesystem::perms::others_read
                | std::filesystem::perms::others_exec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    const std::string& path() const { return path_; }
    // path() + "/" + relative
    std::string operator/(const std::string& relative) const { return path_ + "/" + relative; }

private:
    std::string path_;
};

}  // namespace labmta::test
