// See accounts.h. No logging here: the session reports the outcome, and the password must
// not reach any log line.
#include "server/app/accounts.h"

#include "common/address.h"
#include "common/password.h"

#include <string.h>

#include <algorithm>
#include <istream>
#include <ostream>

namespace labmta::app {
namespace {

// Compared against when the name is unknown and no account has a hash; its length is that of
// a typical password so the work done resembles a real comparison.
constexpr std::string_view kDummyPassword = "labmta-no-such-account-password";

// Clears a string that held a password before its memory goes back to the allocator.
void wipe(std::string& secret) {
    explicit_bzero(secret.data(), secret.size());
    secret.clear();
}

}  // namespace

ConfigAuthenticator::ConfigAuthenticator(const std::vector<config::User>& users) : users_(users) {
    const auto hashed = std::find_if(users_.begin(), users_.end(), [](const config::User& user) {
        return !user.password_hash.empty();
    });
    if (hashed != users_.end()) {
        dummy_hash_ = hashed->password_hash;
    }
}

bool ConfigAuthenticator::authenticate(std::string_view user, std::string_view password) {
    const config::User* account = find_user(user);
    if (account == nullptr) {
        // Same kind of work as for a real account, and always a failure, even if the
        // password happens to be the one behind dummy_hash_.
        if (!dummy_hash_.empty()) {
            static_cast<void>(common::verify_password_hash(password, dummy_hash_));
        } else {
            static_cast<void>(common::verify_plain_password(password, kDummyPassword));
        }
        return false;
    }
    if (!account->password_hash.empty()) {
        return common::verify_password_hash(password, account->password_hash);
    }
    // An account with neither is refused by the config; never let it in with "".
    if (account->password.empty()) {
        return false;
    }
    return common::verify_plain_password(password, account->password);
}

const config::User* ConfigAuthenticator::find_user(std::string_view name) const {
    const auto found = std::find_if(users_.begin(), users_.end(), [&](const config::User& user) {
        return common::iequals_ascii(user.name, name);
    });
    return found == users_.end() ? nullptr : &*found;
}

int run_hash_password(std::istream& in, std::ostream& out, std::ostream& err) {
    std::string password;
    std::getline(in, password);
    if (!password.empty() && password.back() == '\r') {
        password.pop_back();
    }
    if (password.empty()) {
        err << "labmta: hash-password: empty password (give it as one line on stdin)\n";
        return 1;
    }
    if (password.find('\0') != std::string::npos) {
        wipe(password);
        err << "labmta: hash-password: the password contains a NUL byte\n";
        return 1;
    }
    const std::string hash = common::hash_password(password);
    wipe(password);
    if (hash.empty()) {
        err << "labmta: hash-password: could not hash the password (too long, or no random "
               "source)\n";
        return 1;
    }
    out << hash << '\n';
    return out.good() ? 0 : 1;
}

}  // namespace labmta::app
