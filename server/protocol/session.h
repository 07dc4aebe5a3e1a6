// The SMTP server session as a pure state machine: start() emits the greeting, on_line() takes
// one framed line at a time, and the replies go to an outbox that the I/O layer drains.
// No sockets, files, clocks, logging or globals here: the spool and the account check are
// injected, so every behaviour is testable line by line.
#pragma once

#include "common/envelope.h"
#include "common/line_framer.h"
#include "server/protocol/data_reader.h"
#include "server/protocol/session_types.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labmta::protocol {

class Session {
public:
    Session(const SessionPolicy& policy,
            ClientInfo client,
            MessageSink& sink,
            Authenticator& authenticator);

    // Emits the 220 greeting.
    void start();

    // One line from the framer (commands, or message text during DATA).
    void on_line(const common::Line& line);
    // A whole line that ended in CRLF: the common case, and handy in tests.
    void on_line(std::string_view text) { on_line(common::Line{text, common::LineEnding::Crlf}); }

    // The client was idle for longer than the timeout: 421 4.4.2, then close.
    void on_timeout();
    // The server is stopping: 421 4.3.2, then close (not called while in DATA).
    void on_shutdown();
    // The client's address has too many AUTH failures across sessions (counted in net/):
    // 421 4.7.0 too many AUTH failures, then close.
    void on_auth_blocked();

    // Bytes to send: the replies produced so far. take_output() empties it.
    const std::string& output() const { return output_; }
    std::string take_output() { return std::exchange(output_, {}); }
    // Events for the log, in order. take_events() empties the list.
    std::vector<SessionEvent> take_events() { return std::exchange(events_, {}); }

    // The message is with the sink and its reply not known yet.
    bool is_queueing() const { return state_ == State::Queueing; }
    // The session waits for an answer (the sink's, or the authenticator's): the caller holds
    // further lines (pipelined commands) until this is false again, and does not count the
    // wait as the client's idleness. on_line() must not be called meanwhile.
    bool is_waiting() const { return state_ == State::Queueing || state_ == State::Authenticating; }

    // After the output is written, the connection must be closed (221 or 421 sent).
    bool close_after_flush() const { return state_ == State::Closing; }
    bool is_in_data() const { return state_ == State::Data; }
    // AUTHs refused with 535 so far (wrong credentials; not aborts or bad base64). The I/O
    // layer delays the reply after each one and counts them per client address.
    unsigned auth_failures() const { return auth_failures_; }

    // Postfix's disconnect summary: "ehlo=1 mail=1 rcpt=1/2 data=1 quit=1 commands=5".
    std::string command_summary() const;

private:
    // AuthUsername/AuthPassword: AUTH LOGIN's two prompts; AuthPlain: AUTH PLAIN without an
    // initial response, waiting for it. Each is a state, never a nested read.
    // Authenticating: the credentials are with the authenticator, until it has answered.
    // Queueing: after end of data, until the sink has answered.
    enum class State {
        Greeting,
        Ready,
        AuthUsername,
        AuthPassword,
        AuthPlain,
        Authenticating,
        Data,
        Queueing,
        Closing
    };

    struct Transaction {
        std::string sender;
        std::vector<std::string> recipients;
    };

    friend struct CommandTable;  // the verb handlers live in commands.cpp

    void handle_command(std::string_view line);
    void handle_data_line(const common::Line& line);
    void finish_data();
    void discard_streamed();
    void on_queued(const QueueResult& result, SessionEvent event);

    void handle_helo(std::string_view arg);
    void handle_ehlo(std::string_view arg);
    void handle_mail(std::string_view arg);
    void handle_rcpt(std::string_view arg);
    void handle_data(std::string_view arg);
    void handle_rset(std::string_view arg);
    void handle_noop(std::string_view arg);
    void handle_quit(std::string_view arg);
    void handle_vrfy(std::string_view arg);
    void handle_help(std::string_view arg);
    void handle_non_smtp(std::string_view arg);
    void handle_auth(std::string_view arg);

    // AUTH (session_auth.cpp)
    void handle_auth_line(const common::Line& line);
    void start_auth_login(std::string_view initial_response);
    void start_auth_plain(std::string_view initial_response);
    void finish_auth(std::string_view user, std::string_view password);
    void on_authenticated(const std::string& user, bool ok);
    void fail_auth(std::string_view line);
    void reject_credentials();
    void close_for_auth_failures();

    // Decides whether a recipient may be accepted; returns the error reply, or "" for ok.
    std::string check_recipient(std::string_view address) const;
    std::string qualify(std::string_view address) const;
    std::string protocol_name() const;

    void reply(std::string_view line);
    void reply_error(std::string_view line);
    void reject(std::string_view stage, std::string_view line, std::string_view recipient);
    void count(std::string_view verb, bool ok);
    void close_with(std::string_view line);

    const SessionPolicy& policy_;
    ClientInfo client_;
    MessageSink& sink_;
    Authenticator& authenticator_;

    State state_ = State::Greeting;
    std::string helo_;             // empty until HELO/EHLO
    bool esmtp_ = false;           // EHLO was used
    std::string auth_user_;        // set once AUTH succeeded
    std::string auth_method_;      // "LOGIN" / "PLAIN", during and after AUTH
    std::string auth_login_user_;  // AUTH LOGIN: the user name, between the two prompts
    std::optional<Transaction> transaction_;
    std::optional<DataReader> data_;
    bool streamed_ = false;  // part of the message in progress went to sink_.append()
    bool discarding_long_command_ = false;
    bool auth_response_too_long_ = false;
    unsigned error_count_ = 0;
    unsigned auth_failures_ = 0;

    std::vector<CommandCount> counts_;
    std::string output_;
    std::vector<SessionEvent> events_;
};

}  // namespace labmta::protocol
