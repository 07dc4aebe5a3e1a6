// libFuzzer target: the SMTP server session fed arbitrary bytes through the line framer, as
// server/net/connection does. Checks what must hold whatever a client sends: only complete,
// well-formed reply lines, nothing after the close, and output bounded by the input.
// Pure harness: fakes for the spool and the accounts, no sockets or files.
#include "common/envelope.h"
#include "common/line_framer.h"
#include "server/protocol/session.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace {

using labmta::common::Envelope;
using labmta::common::Line;
using labmta::common::LineFramer;
using labmta::protocol::Authenticator;
using labmta::protocol::ClientInfo;
using labmta::protocol::MessageSink;
using labmta::protocol::QueueResult;
using labmta::protocol::Session;
using labmta::protocol::SessionPolicy;

constexpr std::size_t kLineLimit = 512;
// The longest reply to one line: a fixed text plus, at most, an echo of the line (the
// address in "554 5.7.1 <rcpt>: Relay access denied"), plus a 421 after too many errors.
constexpr std::size_t kMaxFixedReplyBytes = 1024;

// The first input byte: which client, which spool result and which end.
struct Control {
    bool may_relay = false;
    bool sink_fails = false;
    bool timeout_at_end = false;
    bool shutdown_at_end = false;
    std::size_t chunk_bytes = 0;  // how the stream is cut into feeds; 0: all at once
    bool answers_late = false;    // the spool and the accounts answer only before the next feed
};

Control read_control(std::uint8_t byte) {
    constexpr std::size_t kChunkSizes[] = {0, 1, 3, 7, 64, 511, 513, 4096};
    return Control{(byte & 0x01) != 0,
                   (byte & 0x02) != 0,
                   (byte & 0x04) != 0,
                   (byte & 0x08) != 0,
                   kChunkSizes[(byte >> 4) & 0x07],
                   (byte & 0x80) != 0};
}

// An answer given at once, or (late) kept until the harness calls answer(), as the server's
// thread pool gives the group commit's and the accounts' answers.
template <typename Result>
struct LateAnswer {
    bool late = false;
    std::function<void(Result)> pending;
    Result result{};

    void give(std::function<void(Result)> done, Result value) {
        pending = std::move(done);
        result = std::move(value);
        if (!late) {
            answer();
        }
    }
    void answer() {
        if (pending) {
            std::exchange(pending, nullptr)(std::move(result));
        }
    }
};

struct FuzzSink final : MessageSink {
    bool fail = false;
    LateAnswer<QueueResult> answers;
    void append(std::string_view) override {}
    void discard() override {}
    void queue(Envelope, std::string, labmta::protocol::QueueDone done) override {
        answers.give(
            std::move(done),
            fail ? QueueResult{} : QueueResult{true, "0123456789AB", "<id@profbox.domain.local>"});
    }
};

struct FuzzAuthenticator final : Authenticator {
    LateAnswer<bool> answers;
    bool authenticate(std::string_view user, std::string_view password) override {
        return user == "student" && password == "hessovs!";
    }
    void authenticate_later(std::string user,
                            std::string password,
                            labmta::protocol::AuthDone done) override {
        answers.give(std::move(done), authenticate(user, password));
    }
};

SessionPolicy lab_policy() {
    SessionPolicy policy;
    policy.hostname = "profbox.domain.local";
    policy.banner = "ESMTP labmta";
    policy.local_domains = {"domain.local"};
    policy.local_users = {"student"};
    policy.auth_enabled = true;
    policy.max_message_bytes = 4096;  // small, so that the 552 path is reached
    policy.max_recipients = 5;
    policy.stream_bytes = 256;  // small, so that streamed parts are exercised too
    return policy;
}

[[noreturn]] void fail(const char* what, std::string_view output) {
    std::fprintf(stderr,
                 "session_fuzz: %s\noutput: %.*s\n",
                 what,
                 static_cast<int>(output.size()),
                 output.data());
    std::abort();
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Checks that `output` is whole reply lines "NNN text\r\n" / "NNN-text\r\n", without CR or LF
// inside a line, and that a "NNN-" line is followed by another of the same code.
void check_reply_lines(std::string_view output) {
    std::string_view pending_code;
    std::size_t start = 0;
    while (start < output.size()) {
        const std::size_t end = output.find("\r\n", start);
        if (end == std::string_view::npos) {
            fail("output does not end in CRLF", output);
        }
        const std::string_view line = output.substr(start, end - start);
        if (line.size() < 4 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2])
            || (line[3] != ' ' && line[3] != '-')) {
            fail("reply line is not 'NNN ' or 'NNN-'", output);
        }
        if (line.find_first_of("\r\n") != std::string_view::npos) {
            fail("bare CR or LF inside a reply line", output);
        }
        if (!pending_code.empty() && line.substr(0, 3) != pending_code) {
            fail("multi-line reply changes its code", output);
        }
        pending_code = line[3] == '-' ? line.substr(0, 3) : std::string_view();
        start = end + 2;
    }
    if (!pending_code.empty()) {
        fail("multi-line reply without its last line", output);
    }
}

// Runs one session step, then checks its output: well-formed, bounded, none after the close.
template <typename Step>
void step(Session& session, std::size_t input_bytes, Step&& run) {
    const bool was_closing = session.close_after_flush();
    run();
    const std::string output = session.take_output();
    session.take_events();
    if (was_closing && !output.empty()) {
        fail("output after close_after_flush()", output);
    }
    if (output.size() > kMaxFixedReplyBytes + 2 * input_bytes) {
        fail("output larger than the bound for this input", output);
    }
    check_reply_lines(output);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const Control control = read_control(data[0]);
    const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

    const SessionPolicy policy = lab_policy();
    FuzzSink sink;
    sink.fail = control.sink_fails;
    sink.answers.late = control.answers_late;
    FuzzAuthenticator authenticator;
    authenticator.answers.late = control.answers_late;
    Session session(
        policy, ClientInfo{"unknown", "192.0.2.1", control.may_relay}, sink, authenticator);
    LineFramer framer(kLineLimit);
    step(session, 0, [&] { session.start(); });

    const std::size_t chunk = control.chunk_bytes == 0 ? stream.size() : control.chunk_bytes;
    for (std::size_t offset = 0; offset < stream.size(); offset += chunk) {
        framer.feed(stream.substr(offset, chunk));
        // As server/net does: no line while the session waits for the spool's or the
        // accounts' answer.
        step(session, 0, [&] {
            sink.answers.answer();
            authenticator.answers.answer();
        });
        // Lines keep coming after the close too: the session must ignore them.
        while (!session.is_waiting()) {
            const auto line = framer.next();
            if (!line) {
                break;
            }
            const Line current = *line;
            step(session, current.text.size(), [&] { session.on_line(current); });
        }
    }
    // As server/net does: a shutdown waits for the end of DATA and for an answer, a timeout
    // does not.
    const bool shuts_down =
        control.shutdown_at_end && !session.is_in_data() && !session.is_waiting();
    if (shuts_down) {
        step(session, 0, [&] { session.on_shutdown(); });
    }
    if (control.timeout_at_end) {
        step(session, 0, [&] { session.on_timeout(); });
    }
    if (shuts_down || control.timeout_at_end) {
        if (!session.close_after_flush()) {
            fail("timeout or shutdown did not close the session", "");
        }
        step(session, 0, [&] { session.on_timeout(); });
        step(session, 0, [&] { session.on_shutdown(); });
    }
    // An answer after the close is logged, never sent.
    step(session, 0, [&] {
        sink.answers.answer();
        authenticator.answers.answer();
    });
    session.command_summary();
    return 0;
}
