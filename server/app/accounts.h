// The config's accounts as the session's Authenticator, and the `labmta hash-password` tool
// that makes a password_hash for them. Passwords are never logged, printed or kept beyond
// the configuration itself.
#pragma once

#include "config/config.h"
#include "server/protocol/session_types.h"

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::app {

// Checks AUTH credentials against config.users: names match case-insensitively (the config
// forbids two names that differ only in case), a `password` is compared in constant time, a
// `password_hash` is checked with crypt. An unknown name still costs one comparison of the
// same kind, so that the time taken does not tell which names exist.
class ConfigAuthenticator final : public protocol::Authenticator {
public:
    explicit ConfigAuthenticator(const std::vector<config::User>& users);

    bool authenticate(std::string_view user, std::string_view password) override;

private:
    const config::User* find_user(std::string_view name) const;

    std::vector<config::User> users_;
    // What an unknown name is checked against: a real account's hash (same algorithm and
    // cost; the result is thrown away), or "" when every account has a plain password.
    std::string dummy_hash_;
};

// `labmta hash-password`: reads one line (the password) from `in`, writes its yescrypt hash
// and a newline to `out`, returns 0. An empty password or a failure: a message on `err`, 1.
int run_hash_password(std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace labmta::app
