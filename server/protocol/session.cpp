// The SMTP server session state machine; see session.h. No I/O here.
#include "server/protocol/session.h"

#include "common/address.h"
#include "common/reply_format.h"
#include "common/utf8.h"
#include "server/protocol/commands.h"
#include "server/protocol/replies.h"

#include <algorithm>
#include <charconv>

namespace labmta::protocol {
namespace {

std::string_view trim(std::string_view text) {
    const auto is_space = [](char c) { return c == ' ' || c == '\t'; };
    while (!text.empty() && is_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

// Strips "FROM:" / "TO:" (any case); nullopt when the argument does not start with it.
std::optional<std::string_view> strip_keyword(std::string_view arg, std::string_view keyword) {
    if (arg.size() < keyword.size()
        || !common::iequals_ascii(arg.substr(0, keyword.size()), keyword)) {
        return std::nullopt;
    }
    return arg.substr(keyword.size());
}

bool contains_ascii_nocase(const std::vector<std::string>& list, std::string_view value) {
    return std::any_of(list.begin(), list.end(), [&](const std::string& item) {
        return common::iequals_ascii(item, value);
    });
}

}  // namespace

Session::Session(const SessionPolicy& policy,
                 ClientInfo client,
                 MessageSink& sink,
                 Authenticator& authenticator)
    : policy_(policy), client_(std::move(client)), sink_(sink), authenticator_(authenticator) {}

void Session::start() {
    state_ = State::Ready;
    reply(replies::greeting(policy_.hostname, policy_.banner));
}

void Session::on_line(const common::Line& line) {
    switch (state_) {
        case State::Greeting:
        case State::Authenticating:
        case State::Queueing:
        case State::Closing:
            return;
        case State::Data:
            handle_data_line(line);
            return;
        case State::AuthUsername:
        case State::AuthPassword:
        case State::AuthPlain:
            handle_auth_line(line);
            return;
        case State::Ready:
            break;
    }
    // A command longer than the line limit arrives in pieces: drop them all, then answer
    // once, when its line ends.
    if (line.ending == common::LineEnding::Partial) {
        discarding_long_command_ = true;
        return;
    }
    if (discarding_long_command_) {
        discarding_long_command_ = false;
        reply_error(replies::command_too_long(policy_.hostname));
        return;
    }
    // Checked before parsing, so no handler ever sees them: a NUL would cut the command short
    // in any C string API downstream, and Postfix (smtputf8_enable) refuses invalid UTF-8.
    if (line.text.find('\0') != std::string_view::npos) {
        reply_error(replies::kBadSyntax);
        return;
    }
    if (!common::is_valid_utf8(line.text)) {
        reply_error(replies::kBadUtf8);
        return;
    }
    handle_command(line.text);
}

void Session::handle_command(std::string_view line) {
    line = trim(line);
    if (line.empty()) {
        reply_error(replies::kBadSyntax);
        return;
    }
    const std::size_t space = line.find_first_of(" \t");
    const std::string_view verb = line.substr(0, space);
    const std::string_view arg =
        space == std::string_view::npos ? std::string_view{} : trim(line.substr(space));
    const CommandTable::Command* command = CommandTable::find(verb);
    if (command == nullptr) {
        count("unknown", false);
        reply_error(replies::kNotRecognized);
        return;
    }
    (this->*(command->handler))(arg);
}

void Session::handle_helo(std::string_view arg) {
    if (arg.empty()) {
        count("helo", false);
        reply_error(replies::kHeloSyntax);
        return;
    }
    helo_ = arg;
    esmtp_ = false;
    transaction_.reset();
    count("helo", true);
    reply(replies::helo_ok(policy_.hostname));
}

void Session::handle_ehlo(std::string_view arg) {
    if (arg.empty()) {
        count("ehlo", false);
        reply_error(replies::kEhloSyntax);
        return;
    }
    helo_ = arg;
    esmtp_ = true;
    transaction_.reset();
    count("ehlo", true);
    std::vector<std::string> lines{policy_.hostname,
                                   "PIPELINING",
                                   "SIZE " + std::to_string(policy_.max_message_bytes),
                                   "VRFY"};
    if (policy_.auth_enabled) {
        lines.push_back("AUTH PLAIN LOGIN");
        lines.push_back("AUTH=PLAIN LOGIN");  // for clients written before RFC 4954
    }
    lines.push_back("ENHANCEDSTATUSCODES");
    lines.push_back("8BITMIME");
    common::append_multiline_reply(output_, "250", lines);
}

void Session::handle_mail(std::string_view arg) {
    if (transaction_) {
        count("mail", false);
        reply_error(replies::kNestedMail);
        return;
    }
    const auto path_text = strip_keyword(arg, "FROM:");
    const common::PathArgument path =
        path_text ? common::parse_path_argument(*path_text) : common::PathArgument{};
    if (!path_text || path.error == common::PathError::Syntax) {
        count("mail", false);
        reply_error(replies::kMailSyntax);
        return;
    }
    if (path.error == common::PathError::BadAddress) {
        count("mail", false);
        reply_error(replies::kBadSender);
        return;
    }
    std::size_t declared = 0;
    for (const common::EsmtpParam& param : path.params) {
        std::string error;
        if (param.keyword == "SIZE") {
            const auto* end = param.value.data() + param.value.size();
            const auto [ptr, ec] = std::from_chars(param.value.data(), end, declared);
            if (param.value.empty() || ec != std::errc{} || ptr != end) {
                error = replies::kBadSizeSyntax;
            } else if (declared > policy_.max_message_bytes) {
                error = replies::kSizeExceedsLimit;
            }
        } else if (param.keyword == "AUTH" && policy_.auth_enabled) {
            // RFC 4954 5: a server that offers AUTH accepts AUTH=<mailbox> and, trusting no
            // other MTA's word, treats it as AUTH=<>: nothing to record.
        } else if (param.keyword == "BODY") {
            if (!common::iequals_ascii(param.value, "7BIT")
                && !common::iequals_ascii(param.value, "8BITMIME")) {
                error = replies::kBadBodySyntax;
            }
        } else {
            error = replies::unsupported_option(param.keyword);
        }
        if (!error.empty()) {
            count("mail", false);
            reply_error(error);
            return;
        }
    }
    // Postfix's smtpd_check_queue: the queue's free space, asked of the sink (no I/O here).
    if (!sink_.has_room_for(declared)) {
        count("mail", false);
        reject("MAIL", replies::kInsufficientStorage, "");
        return;
    }
    transaction_.emplace();
    transaction_->sender = qualify(path.address);
    count("mail", true);
    reply(replies::kMailOk);
}

void Session::handle_rcpt(std::string_view arg) {
    if (!transaction_) {
        count("rcpt", false);
        reply_error(replies::kNeedMail);
        return;
    }
    const auto path_text = strip_keyword(arg, "TO:");
    const common::PathArgument path =
        path_text ? common::parse_path_argument(*path_text) : common::PathArgument{};
    if (!path_text || path.error == common::PathError::Syntax) {
        count("rcpt", false);
        reply_error(replies::kRcptSyntax);
        return;
    }
    if (path.error == common::PathError::BadAddress || path.address.empty()) {
        count("rcpt", false);
        reply_error(replies::kBadRecipient);
        return;
    }
    if (!path.params.empty()) {
        count("rcpt", false);
        reply_error(replies::unsupported_option(path.params.front().keyword));
        return;
    }
    if (transaction_->recipients.size() >= policy_.max_recipients) {
        // Not counted as an error: the client is expected to send the rest in another
        // transaction (RFC 5321 4.5.3.1.8).
        count("rcpt", false);
        reply(replies::kTooManyRecipients);
        return;
    }
    const std::string address = qualify(path.address);
    const std::string error = check_recipient(address);
    if (!error.empty()) {
        count("rcpt", false);
        reject("RCPT", error, address);
        return;
    }
    // A recipient given twice gets one copy, as Postfix's duplicate filter does.
    if (!contains_ascii_nocase(transaction_->recipients, address)) {
        transaction_->recipients.push_back(address);
    }
    count("rcpt", true);
    reply(replies::kRcptOk);
}

std::string Session::check_recipient(std::string_view address) const {
    const std::optional<common::Mailbox> mailbox = common::parse_mailbox(address);
    if (!mailbox) {
        return std::string(replies::kBadRecipient);
    }
    if (!contains_ascii_nocase(policy_.local_domains, mailbox->domain)) {
        const bool may_relay = client_.may_relay || !auth_user_.empty();
        return may_relay ? std::string{} : replies::relay_denied(address);
    }
    if (!common::mailbox_folder(*mailbox)) {
        return std::string(replies::kBadRecipient);
    }
    if (!policy_.any_local_recipient
        && !contains_ascii_nocase(policy_.local_users, mailbox->local_part)) {
        return replies::user_unknown(address);
    }
    return {};
}

// An address typed without a domain ("student") belongs to the first local domain, as
// Postfix appends $myorigin (append_at_myorigin).
std::string Session::qualify(std::string_view address) const {
    if (address.empty() || address.find('@') != std::string_view::npos) {
        return std::string(address);
    }
    const std::string& domain =
        policy_.local_domains.empty() ? policy_.hostname : policy_.local_domains.front();
    return std::string(address) + "@" + domain;
}

void Session::handle_data(std::string_view arg) {
    if (!arg.empty()) {
        count("data", false);
        reply_error(replies::kDataSyntax);
        return;
    }
    if (!transaction_ || transaction_->recipients.empty()) {
        // As Postfix: inside a mail transaction the recipients are missing or were all
        // refused; outside one, the client skipped MAIL and RCPT.
        count("data", false);
        reply_error(transaction_ ? replies::kNoValidRecipients : replies::kNeedRcpt);
        return;
    }
    state_ = State::Data;
    data_.emplace(policy_.max_message_bytes);
    reply(replies::kStartData);
}

void Session::handle_data_line(const common::Line& line) {
    const bool ended = data_->on_line(line);
    if (data_->is_too_big()) {
        discard_streamed();  // nothing more is kept; the 552 comes at the end
    } else if (!ended && data_->at_line_start()
               && data_->buffered_bytes() >= policy_.stream_bytes) {
        // A big message goes to the sink in parts, never whole into memory. Only at a line
        // start: the reader may still drop a CR at the end of an unfinished line.
        sink_.append(data_->take_message());
        streamed_ = true;
    }
    if (ended) {
        finish_data();
    }
}

void Session::discard_streamed() {
    if (streamed_) {
        streamed_ = false;
        sink_.discard();
    }
}

void Session::finish_data() {
    state_ = State::Ready;
    const bool too_big = data_->is_too_big();
    const bool bare_newline = data_->has_bare_newline();
    const std::size_t size = data_->size_bytes();
    const std::size_t hops = data_->received_headers();
    std::string message = data_->take_message();
    data_.reset();
    Transaction transaction = std::move(*transaction_);
    transaction_.reset();
    if (bare_newline && policy_.reject_bare_newline) {
        // As Postfix's smtpd_forbid_bare_newline=reject: refuse, and hang up, because a client
        // that ends lines with a bare LF may also disagree with us on where DATA ended.
        count("data", false);
        discard_streamed();
        close_with(replies::bare_newline(policy_.hostname));
        return;
    }
    if (too_big) {
        count("data", false);
        discard_streamed();
        reply(replies::kMessageTooBig);
        return;
    }
    // RFC 5321 6.3: a message that went through this many MTAs is looping.
    if (hops > policy_.max_hops) {
        count("data", false);
        discard_streamed();
        reply(replies::kTooManyHops);
        return;
    }
    common::Envelope envelope{transaction.sender,
                              std::move(transaction.recipients),
                              helo_,
                              protocol_name(),
                              client_.host,
                              client_.ip,
                              auth_user_};
    SessionEvent event;
    event.sender = envelope.sender;
    event.size = size;
    event.nrcpt = envelope.recipients.size();
    event.sasl_method = auth_method_;
    event.sasl_username = auth_user_;
    // Last: a sink that answers at once calls on_queued() before queue() returns.
    state_ = State::Queueing;
    streamed_ = false;
    sink_.queue(std::move(envelope),
                std::move(message),
                [this, event = std::move(event)](QueueResult result) mutable {
                    on_queued(result, std::move(event));
                });
}

void Session::on_queued(const QueueResult& result, SessionEvent event) {
    // Closing (timeout, shutdown): the client is gone or told 421; the event is still logged.
    const bool answer = state_ == State::Queueing;
    if (answer) {
        state_ = State::Ready;
    }
    if (!result.ok) {
        count("data", false);
        event.kind = SessionEvent::Kind::QueueFailed;
        event.sasl_method.clear();
        event.sasl_username.clear();
        events_.push_back(std::move(event));
        if (answer) {
            reply(replies::kQueueWriteError);
        }
        return;
    }
    count("data", true);
    event.kind = SessionEvent::Kind::Queued;
    event.queue_id = result.queue_id;
    event.message_id = result.message_id;
    events_.push_back(std::move(event));
    if (answer) {
        reply(replies::queued_as(result.queue_id));
    }
}

void Session::handle_rset(std::string_view arg) {
    if (!arg.empty()) {
        count("rset", false);
        reply_error(replies::kRsetSyntax);
        return;
    }
    transaction_.reset();
    count("rset", true);
    reply(replies::kOk);
}

void Session::handle_noop(std::string_view /*arg: ignored, RFC 5321 4.1.1.9*/) {
    count("noop", true);
    reply(replies::kOk);
}

void Session::handle_quit(std::string_view /*arg*/) {
    count("quit", true);
    close_with(replies::kBye);
}

void Session::handle_vrfy(std::string_view arg) {
    if (arg.empty()) {
        count("vrfy", false);
        reply_error(replies::kVrfySyntax);
        return;
    }
    count("vrfy", true);
    reply(replies::vrfy_cannot_verify(arg));
}

void Session::handle_help(std::string_view /*arg*/) {
    count("help", true);
    reply(replies::kHelp);
}

void Session::handle_non_smtp(std::string_view /*arg*/) {
    count("unknown", false);
    close_with(replies::kNonSmtpCommand);
}

void Session::on_timeout() {
    if (state_ == State::Closing) {
        return;
    }
    SessionEvent event;
    event.kind = SessionEvent::Kind::Timeout;
    events_.push_back(std::move(event));
    close_with(replies::timeout_exceeded(policy_.hostname));
}

void Session::on_shutdown() {
    if (state_ != State::Closing) {
        close_with(replies::shutting_down(policy_.hostname));
    }
}

// RFC 3848: "ESMTPA" once authenticated over EHLO.
std::string Session::protocol_name() const {
    if (!esmtp_) {
        return "SMTP";
    }
    return auth_user_.empty() ? "ESMTP" : "ESMTPA";
}

void Session::reply(std::string_view line) {
    common::append_reply(output_, line);
}

// Every 4xx/5xx reply to a command counts; at the limit the session ends, as Postfix's
// smtpd_hard_error_limit does.
void Session::reply_error(std::string_view line) {
    reply(line);
    ++error_count_;
    if (error_count_ >= policy_.max_errors) {
        SessionEvent event;
        event.kind = SessionEvent::Kind::TooManyErrors;
        events_.push_back(std::move(event));
        close_with(replies::too_many_errors(policy_.hostname));
    }
}

void Session::reject(std::string_view stage, std::string_view line, std::string_view recipient) {
    SessionEvent event;
    event.kind = SessionEvent::Kind::Rejected;
    event.stage = stage;
    event.reply = line;
    event.sender = transaction_ ? transaction_->sender : std::string{};
    event.recipient = recipient;
    event.helo = helo_;
    event.protocol = protocol_name();
    events_.push_back(std::move(event));
    reply_error(line);
}

void Session::count(std::string_view verb, bool ok) {
    auto it = std::find_if(
        counts_.begin(), counts_.end(), [&](const CommandCount& c) { return c.verb == verb; });
    if (it == counts_.end()) {
        it = counts_.insert(counts_.end(), CommandCount{std::string(verb), 0, 0});
    }
    ++it->total;
    if (ok) {
        ++it->ok;
    }
}

std::string Session::command_summary() const {
    std::string out;
    unsigned ok = 0;
    unsigned total = 0;
    const auto append_count = [&out](std::string_view name, unsigned good, unsigned all) {
        out.append(name).append("=").append(std::to_string(good));
        if (good != all) {
            out.append("/").append(std::to_string(all));
        }
    };
    for (const CommandCount& c : counts_) {
        append_count(c.verb, c.ok, c.total);
        out.push_back(' ');
        ok += c.ok;
        total += c.total;
    }
    append_count("commands", ok, total);
    return out;
}

void Session::close_with(std::string_view line) {
    reply(line);
    state_ = State::Closing;
    transaction_.reset();
    data_.reset();
}

}  // namespace labmta::protocol
