// The SMTP client side as a pure state machine, for relaying queued mail to another server:
// it is fed the server's reply lines and produces the commands to send, then reports one
// outcome per recipient. No sockets, DNS, clocks or logging here; server/net drives it.
// RFC 5321 4.1, 4.2 (multi-line replies), 4.5.2 (dot-stuffing), RFC 2920 (PIPELINING).
#pragma once

#include "server/protocol/reply_parser.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::protocol {

struct ClientJob {
    std::string helo_name;                // our host name, for EHLO/HELO
    std::string sender;                   // "" for the null sender
    std::vector<std::string> recipients;  // all for this destination
    std::string message;                  // LF line endings, as queued
};

enum class OutcomeStatus { Sent, Deferred, Bounced };

struct RecipientOutcome {
    std::string recipient;
    OutcomeStatus status = OutcomeStatus::Deferred;
    std::string dsn;    // enhanced status code, from the reply or derived from its code
    std::string reply;  // the server's reply, lines joined by a space ("250 2.0.0 Ok: ...")
};

class SmtpClientSession {
public:
    explicit SmtpClientSession(ClientJob job);

    // One reply line from the server, without its CRLF.
    void on_reply_line(std::string_view line);
    // The connection failed or closed, or a timeout expired, before the end: every recipient
    // without an outcome yet is deferred with this reason ("lost connection with ...").
    void on_failure(std::string_view reason);
    // No connection could be made to any address ("connect to ...: Connection refused"): every
    // recipient is deferred with 4.4.1, Postfix's code for it (4.4.2 is for a lost one).
    void on_connect_failure(std::string_view reason);

    // Bytes to write to the server; take_output() empties the buffer.
    std::string take_output();
    // True when the dialog is over (after QUIT was sent, or after a failure): close then.
    bool is_done() const;
    // The server greeted with 4xx or 5xx. As Postfix (smtp_skip_5xx_greeting = yes), such a
    // server is skipped, not believed: every recipient is deferred, never bounced, and the
    // connection may try the job's next address after start_over().
    bool greeting_refused() const { return greeting_refused_; }
    // The same job for another server: the dialog starts again at the greeting, every
    // recipient without an outcome.
    void start_over();
    // One outcome per recipient of the job once is_done().
    const std::vector<RecipientOutcome>& outcomes() const;

private:
    enum class State {
        Greeting,  // waiting for the 220
        Ehlo,
        Helo,  // EHLO was refused with 5xx: the RFC 821 fallback
        Mail,
        Rcpt,     // rcpt_index_ is the recipient whose reply comes next
        Data,     // waiting for the 354
        Message,  // the message was sent: waiting for the final reply
        EndOnly,  // a 354 came with no recipient accepted: only "." was sent
        Done,
    };
    // Which recipients an outcome applies to.
    enum class Scope { Unsettled, Accepted };

    void on_reply(const ServerReply& reply);
    void handle_greeting(const ServerReply& reply);
    void handle_ehlo(const ServerReply& reply);
    void handle_helo(const ServerReply& reply);
    void handle_mail(const ServerReply& reply);
    void handle_rcpt(const ServerReply& reply);
    void handle_data(const ServerReply& reply);
    void handle_final(const ServerReply& reply);
    void handle_malformed(std::string_view line);

    void begin_transaction();
    std::string mail_command() const;
    void send(std::string_view command);
    void quit();
    bool has_accepted() const;
    void settle(Scope scope, OutcomeStatus status, std::string_view dsn, std::string_view reply);
    void fail_with(std::string_view dsn, std::string_view reason);
    void settle_with(Scope scope, const ServerReply& reply);
    void settle_one(std::size_t index, const ServerReply& reply);

    ClientJob job_;
    std::string wire_message_;       // dot-stuffed, CRLF, ending in ".\r\n"
    std::size_t message_bytes_ = 0;  // for SIZE: wire_message_ without the final ".\r\n"
    bool has_8bit_ = false;
    ReplyParser parser_;
    State state_ = State::Greeting;
    EhloExtensions extensions_;
    std::size_t rcpt_index_ = 0;
    std::vector<bool> accepted_;  // RCPT got a 2xx, no final outcome yet
    std::vector<bool> settled_;   // outcomes_[i] is final
    std::vector<RecipientOutcome> outcomes_;
    std::string output_;
    bool greeting_refused_ = false;
};

}  // namespace labmta::protocol
