// The SMTP client state machine; see smtp_client.h. No I/O here: replies in, commands out.
// Whatever the server sends, nothing here throws: a bad reply only settles the outcomes.
#include "server/protocol/smtp_client.h"

#include <algorithm>
#include <utility>

namespace labmta::protocol {
namespace {

constexpr std::string_view kEndOfData = ".\r\n";
constexpr std::size_t kMaxQuotedLineBytes = 100;

// RFC 5321 4.5.2: LF becomes CRLF and a line starting with "." gets one more. A message that
// does not end in LF gets CRLF so that the terminator stands on its own line. A bare CR is
// data, sent as it is.
std::string encode_message(std::string_view message) {
    std::string wire;
    wire.reserve(message.size() + message.size() / 32 + 8);
    bool at_line_start = true;
    for (const char c : message) {
        if (at_line_start && c == '.') {
            wire.push_back('.');
        }
        if (c == '\n') {
            wire.append("\r\n");
        } else {
            wire.push_back(c);
        }
        at_line_start = c == '\n';
    }
    if (!at_line_start) {
        wire.append("\r\n");
    }
    wire.append(kEndOfData);
    return wire;
}

bool has_8bit_bytes(std::string_view text) {
    return std::any_of(
        text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

char status_class(OutcomeStatus status) {
    switch (status) {
        case OutcomeStatus::Sent:
            return '2';
        case OutcomeStatus::Deferred:
            return '4';
        case OutcomeStatus::Bounced:
            return '5';
    }
    return '4';
}

// 5xx bounces; 4xx, and any reply out of place (a 2xx or 3xx where a refusal came), defers,
// so that a confused server never loses mail for good.
OutcomeStatus failure_status(const ServerReply& reply) {
    return reply.code_class() == 5 ? OutcomeStatus::Bounced : OutcomeStatus::Deferred;
}

// The reply's dsn when its class agrees with the outcome, else "<class>.0.0".
std::string dsn_for(const ServerReply& reply, OutcomeStatus status) {
    const char wanted = status_class(status);
    std::string dsn = reply.dsn();
    if (dsn.front() != wanted) {
        return std::string(1, wanted) + ".0.0";
    }
    return dsn;
}

}  // namespace

SmtpClientSession::SmtpClientSession(ClientJob job)
    : job_(std::move(job)),
      wire_message_(encode_message(job_.message)),
      message_bytes_(wire_message_.size() - kEndOfData.size()),
      has_8bit_(has_8bit_bytes(job_.message)) {
    // Only the wire form is needed from here on; do not hold the message twice.
    job_.message = std::string();
    start_over();
}

void SmtpClientSession::start_over() {
    parser_ = ReplyParser();
    state_ = State::Greeting;
    extensions_ = EhloExtensions{};
    rcpt_index_ = 0;
    accepted_.assign(job_.recipients.size(), false);
    settled_.assign(job_.recipients.size(), false);
    outcomes_.clear();
    for (const std::string& recipient : job_.recipients) {
        outcomes_.push_back(RecipientOutcome{recipient, OutcomeStatus::Deferred, "", ""});
    }
    output_.clear();
    greeting_refused_ = false;
}

void SmtpClientSession::on_reply_line(std::string_view line) {
    if (state_ == State::Done) {
        return;
    }
    switch (parser_.feed(line)) {
        case ReplyParser::Status::NeedMore:
            return;
        case ReplyParser::Status::Malformed:
            handle_malformed(line);
            return;
        case ReplyParser::Status::Complete:
            on_reply(parser_.take_reply());
            return;
    }
}

void SmtpClientSession::on_failure(std::string_view reason) {
    fail_with("4.4.2", reason);
}

void SmtpClientSession::on_connect_failure(std::string_view reason) {
    fail_with("4.4.1", reason);
}

void SmtpClientSession::fail_with(std::string_view dsn, std::string_view reason) {
    if (state_ == State::Done) {
        return;
    }
    settle(Scope::Unsettled, OutcomeStatus::Deferred, dsn, reason);
    // The connection is gone or about to be closed: nothing more is written.
    output_.clear();
    state_ = State::Done;
}

std::string SmtpClientSession::take_output() {
    return std::exchange(output_, {});
}

bool SmtpClientSession::is_done() const {
    return state_ == State::Done;
}

const std::vector<RecipientOutcome>& SmtpClientSession::outcomes() const {
    return outcomes_;
}

void SmtpClientSession::on_reply(const ServerReply& reply) {
    switch (state_) {
        case State::Greeting:
            handle_greeting(reply);
            return;
        case State::Ehlo:
            handle_ehlo(reply);
            return;
        case State::Helo:
            handle_helo(reply);
            return;
        case State::Mail:
            handle_mail(reply);
            return;
        case State::Rcpt:
            handle_rcpt(reply);
            return;
        case State::Data:
            handle_data(reply);
            return;
        case State::Message:
            handle_final(reply);
            return;
        case State::EndOnly:
            // The server took DATA for no recipient; what it says about nothing is irrelevant.
            quit();
            return;
        case State::Done:
            return;
    }
}

void SmtpClientSession::handle_greeting(const ServerReply& reply) {
    if (reply.code_class() != 2) {
        // A 5xx greeting counts as a 4xx one (Postfix's smtp_skip_5xx_greeting): "554 5.7.1"
        // defers with 4.7.1, and the next address is tried when there is one.
        std::string dsn = reply.dsn();
        dsn.front() = '4';
        greeting_refused_ = true;
        settle(Scope::Unsettled, OutcomeStatus::Deferred, dsn, reply.text());
        quit();
        return;
    }
    send("EHLO " + job_.helo_name);
    state_ = State::Ehlo;
}

void SmtpClientSession::handle_ehlo(const ServerReply& reply) {
    if (reply.code_class() == 2) {
        extensions_ = parse_ehlo_extensions(reply);
        begin_transaction();
        return;
    }
    if (reply.code_class() == 5) {
        // 500/502: a server that predates ESMTP (RFC 5321 3.2).
        send("HELO " + job_.helo_name);
        state_ = State::Helo;
        return;
    }
    settle_with(Scope::Unsettled, reply);
    quit();
}

void SmtpClientSession::handle_helo(const ServerReply& reply) {
    if (reply.code_class() == 2) {
        extensions_ = EhloExtensions{};
        begin_transaction();
        return;
    }
    settle_with(Scope::Unsettled, reply);
    quit();
}

void SmtpClientSession::begin_transaction() {
    if (job_.recipients.empty()) {
        quit();
        return;
    }
    if (extensions_.max_bytes && message_bytes_ > *extensions_.max_bytes) {
        // RFC 1870 6.1: do not send a message the server already said it will refuse.
        settle(
            Scope::Unsettled, OutcomeStatus::Bounced, "5.3.4", "message size exceeds server limit");
        quit();
        return;
    }
    send(mail_command());
    state_ = State::Mail;
    rcpt_index_ = 0;
    if (extensions_.pipelining) {
        // RFC 2920 3.1: MAIL, RCPT and DATA may go in one group; the replies come in order.
        for (const std::string& recipient : job_.recipients) {
            send("RCPT TO:<" + recipient + ">");
        }
        send("DATA");
    }
}

std::string SmtpClientSession::mail_command() const {
    std::string command = "MAIL FROM:<" + job_.sender + ">";
    if (extensions_.size) {
        // RFC 1870 counts the message without the terminating ".": we count it as sent,
        // CRLF and stuffed dots included, which can only overestimate.
        command += " SIZE=" + std::to_string(message_bytes_);
    }
    // Without 8BITMIME, 8-bit text is still sent as it is (no conversion to 7 bit), as
    // Postfix does by default: nearly every server takes it, and refusing would lose mail.
    if (extensions_.eight_bit_mime && has_8bit_) {
        command += " BODY=8BITMIME";  // RFC 6152
    }
    return command;
}

void SmtpClientSession::handle_mail(const ServerReply& reply) {
    state_ = State::Rcpt;
    if (reply.code_class() == 2) {
        if (!extensions_.pipelining) {
            send("RCPT TO:<" + job_.recipients.front() + ">");
        }
        return;
    }
    settle_with(Scope::Unsettled, reply);
    if (!extensions_.pipelining) {
        quit();
    }
    // Pipelined: the RCPT and DATA replies of the group are still coming. They are consumed
    // in order and change nothing, since every recipient is settled now.
}

void SmtpClientSession::handle_rcpt(const ServerReply& reply) {
    settle_one(rcpt_index_, reply);
    ++rcpt_index_;
    if (rcpt_index_ < job_.recipients.size()) {
        if (!extensions_.pipelining) {
            send("RCPT TO:<" + job_.recipients[rcpt_index_] + ">");
        }
        return;
    }
    if (extensions_.pipelining) {
        state_ = State::Data;  // DATA was sent with the group
        return;
    }
    if (!has_accepted()) {
        quit();
        return;
    }
    send("DATA");
    state_ = State::Data;
}

void SmtpClientSession::handle_data(const ServerReply& reply) {
    if (reply.code_class() == 3) {
        if (has_accepted()) {
            output_.append(wire_message_);
            state_ = State::Message;
        } else {
            // A broken server took DATA with no valid recipient: end it at once, so that
            // the message is never sent to no-one.
            output_.append(kEndOfData);
            state_ = State::EndOnly;
        }
        return;
    }
    // Refused (in a pipelined group with no recipient accepted, this is the expected 503/554
    // and settles no-one).
    settle_with(Scope::Accepted, reply);
    quit();
}

void SmtpClientSession::handle_final(const ServerReply& reply) {
    if (reply.code_class() == 2) {
        settle(Scope::Accepted, OutcomeStatus::Sent, reply.dsn(), reply.text());
    } else {
        settle_with(Scope::Accepted, reply);
    }
    quit();
}

void SmtpClientSession::handle_malformed(std::string_view line) {
    const std::string reason =
        "malformed reply: \"" + sanitize_reply_text(line, kMaxQuotedLineBytes) + "\"";
    settle(Scope::Unsettled, OutcomeStatus::Deferred, "4.4.0", reason);
    quit();
}

void SmtpClientSession::send(std::string_view command) {
    output_.append(command);
    output_.append("\r\n");
}

// The adapter closes after writing this: the 221 is not awaited (RFC 5321 4.1.1.10 lets the
// client close once QUIT is sent).
void SmtpClientSession::quit() {
    send("QUIT");
    state_ = State::Done;
}

bool SmtpClientSession::has_accepted() const {
    return std::find(accepted_.begin(), accepted_.end(), true) != accepted_.end();
}

void SmtpClientSession::settle(Scope scope,
                               OutcomeStatus status,
                               std::string_view dsn,
                               std::string_view reply) {
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
        if (settled_[i] || (scope == Scope::Accepted && !accepted_[i])) {
            continue;
        }
        outcomes_[i].status = status;
        outcomes_[i].dsn = dsn;
        outcomes_[i].reply = reply;
        settled_[i] = true;
        accepted_[i] = false;
    }
}

void SmtpClientSession::settle_with(Scope scope, const ServerReply& reply) {
    const OutcomeStatus status = failure_status(reply);
    settle(scope, status, dsn_for(reply, status), reply.text());
}

// RCPT: 2xx accepts the recipient (its outcome waits for the end of data); anything else
// settles it alone (RFC 5321 4.1.1.3).
void SmtpClientSession::settle_one(std::size_t index, const ServerReply& reply) {
    if (index >= outcomes_.size() || settled_[index]) {
        return;
    }
    if (reply.code_class() == 2) {
        accepted_[index] = true;
        return;
    }
    const OutcomeStatus status = failure_status(reply);
    outcomes_[index].status = status;
    outcomes_[index].dsn = dsn_for(reply, status);
    outcomes_[index].reply = reply.text();
    settled_[index] = true;
}

}  // namespace labmta::protocol
