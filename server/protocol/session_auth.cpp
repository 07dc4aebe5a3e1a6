// AUTH for the session (RFC 4954) with the LOGIN and PLAIN mechanisms (RFC 4616). Each
// prompt is a state of the session, never a nested read; replies are Postfix's. No I/O, and
// the password never leaves this file except to the injected Authenticator.
#include "common/address.h"
#include "common/base64.h"
#include "server/protocol/replies.h"
#include "server/protocol/session.h"

#include <optional>
#include <utility>

namespace labmta::protocol {
namespace {

struct PlainCredentials {
    std::string user;
    std::string password;
};

// RFC 4616: [authzid] NUL authcid NUL passwd. An authzid other than the user is refused:
// nobody may act for someone else here.
std::optional<PlainCredentials> parse_plain(std::string_view decoded) {
    const std::size_t first = decoded.find('\0');
    if (first == std::string_view::npos) {
        return std::nullopt;
    }
    const std::size_t second = decoded.find('\0', first + 1);
    if (second == std::string_view::npos
        || decoded.find('\0', second + 1) != std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view authzid = decoded.substr(0, first);
    PlainCredentials credentials{std::string(decoded.substr(first + 1, second - first - 1)),
                                 std::string(decoded.substr(second + 1))};
    if (credentials.user.empty() || (!authzid.empty() && authzid != credentials.user)) {
        return std::nullopt;
    }
    return credentials;
}

}  // namespace

void Session::handle_auth(std::string_view arg) {
    std::string_view error;
    if (!policy_.auth_enabled) {
        error = replies::kAuthNotEnabled;
    } else if (helo_.empty()) {
        error = replies::kAuthNeedHelo;
    } else if (!auth_user_.empty()) {
        error = replies::kAuthAlready;
    } else if (transaction_) {
        error = replies::kAuthInTransaction;
    } else if (arg.empty()) {
        error = replies::kAuthSyntax;
    }
    if (!error.empty()) {
        count("auth", false);
        reply_error(error);
        return;
    }
    const std::size_t space = arg.find(' ');
    const std::string_view mechanism = arg.substr(0, space);
    const std::string_view initial =
        space == std::string_view::npos ? std::string_view{} : arg.substr(space + 1);
    if (common::iequals_ascii(mechanism, "LOGIN")) {
        start_auth_login(initial);
    } else if (common::iequals_ascii(mechanism, "PLAIN")) {
        start_auth_plain(initial);
    } else {
        count("auth", false);
        reply_error(replies::kAuthUnsupported);
    }
}

void Session::start_auth_login(std::string_view initial_response) {
    auth_method_ = "LOGIN";
    if (initial_response.empty()) {
        state_ = State::AuthUsername;
        reply(replies::kAuthUsernamePrompt);
        return;
    }
    const std::optional<std::string> user = common::base64_decode(initial_response);
    if (!user) {
        fail_auth(replies::kAuthBadInitialBase64);
        return;
    }
    auth_login_user_ = *user;
    state_ = State::AuthPassword;
    reply(replies::kAuthPasswordPrompt);
}

void Session::start_auth_plain(std::string_view initial_response) {
    auth_method_ = "PLAIN";
    if (initial_response.empty()) {
        state_ = State::AuthPlain;
        reply(replies::kAuthPlainPrompt);
        return;
    }
    // "=" is RFC 4954's way to send an empty initial response.
    const std::optional<std::string> decoded = initial_response == "="
                                                   ? std::optional<std::string>("")
                                                   : common::base64_decode(initial_response);
    if (!decoded) {
        fail_auth(replies::kAuthBadInitialBase64);
        return;
    }
    const std::optional<PlainCredentials> credentials = parse_plain(*decoded);
    if (!credentials) {
        reject_credentials();
        return;
    }
    finish_auth(credentials->user, credentials->password);
}

void Session::handle_auth_line(const common::Line& line) {
    // An over-long response arrives in pieces: drop them, then fail once at its end.
    if (line.ending == common::LineEnding::Partial) {
        auth_response_too_long_ = true;
        return;
    }
    const State prompt = state_;
    state_ = State::Ready;
    if (std::exchange(auth_response_too_long_, false)) {
        fail_auth(replies::kAuthBadContinuedBase64);
        return;
    }
    if (line.text == "*") {
        fail_auth(replies::kAuthAborted);
        return;
    }
    const std::optional<std::string> decoded = common::base64_decode(line.text);
    if (!decoded) {
        fail_auth(replies::kAuthBadContinuedBase64);
        return;
    }
    switch (prompt) {
        case State::AuthUsername:
            auth_login_user_ = *decoded;
            state_ = State::AuthPassword;
            reply(replies::kAuthPasswordPrompt);
            return;
        case State::AuthPassword:
            finish_auth(auth_login_user_, *decoded);
            return;
        case State::AuthPlain: {
            const std::optional<PlainCredentials> credentials = parse_plain(*decoded);
            if (!credentials) {
                reject_credentials();
                return;
            }
            finish_auth(credentials->user, credentials->password);
            return;
        }
        default:
            return;  // not reached: only the AUTH states come here
    }
}

// Hands the credentials to the authenticator and waits (State::Authenticating) for its answer,
// which may come at once.
void Session::finish_auth(std::string_view user, std::string_view password) {
    if (user.empty()) {
        reject_credentials();
        return;
    }
    // user may point into auth_login_user_: copied before that is cleared.
    std::string name(user);
    auth_login_user_.clear();
    state_ = State::Authenticating;
    authenticator_.authenticate_later(
        name, std::string(password), [this, name](bool ok) { on_authenticated(name, ok); });
}

void Session::on_authenticated(const std::string& user, bool ok) {
    if (state_ != State::Authenticating) {
        return;  // closed meanwhile (timeout, shutdown): nobody to answer
    }
    state_ = State::Ready;
    if (!ok) {
        reject_credentials();
        return;
    }
    auth_user_ = user;
    count("auth", true);
    SessionEvent event;
    event.kind = SessionEvent::Kind::Authenticated;
    event.sasl_method = auth_method_;
    event.sasl_username = auth_user_;
    events_.push_back(std::move(event));
    reply(replies::kAuthOk);
}

void Session::fail_auth(std::string_view line) {
    state_ = State::Ready;
    auth_login_user_.clear();
    count("auth", false);
    SessionEvent event;
    event.kind = SessionEvent::Kind::AuthFailed;
    event.sasl_method = auth_method_;
    event.reply = line;
    events_.push_back(std::move(event));
    auth_method_.clear();
    reply_error(line);
}

// A 535: the answer to a password guess. After limits.auth_failures of them the session ends,
// as Postfix's smtpd_hard_error_limit would, but sooner: guessing is the one error that pays.
void Session::reject_credentials() {
    ++auth_failures_;
    fail_auth(replies::kAuthFailed);
    if (auth_failures_ >= policy_.max_auth_failures) {
        close_for_auth_failures();
    }
}

void Session::on_auth_blocked() {
    close_for_auth_failures();
}

void Session::close_for_auth_failures() {
    if (state_ == State::Closing) {
        return;  // the error limit ended the session first
    }
    SessionEvent event;
    event.kind = SessionEvent::Kind::TooManyAuthFailures;
    events_.push_back(std::move(event));
    close_with(replies::too_many_auth_failures(policy_.hostname));
}

}  // namespace labmta::protocol
