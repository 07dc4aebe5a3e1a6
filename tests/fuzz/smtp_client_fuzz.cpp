// libFuzzer target: the SMTP client state machine fed arbitrary server replies. Whatever the
// server says, the client ends with exactly one outcome per recipient, in order, and says
// nothing more once it is done.
#include "server/protocol/smtp_client.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using labmta::protocol::ClientJob;
using labmta::protocol::SmtpClientSession;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "smtp_client_fuzz: %s\n", what);
    std::abort();
}

// The first byte: how many recipients (1..4) and whether the message has 8-bit text or
// a line starting with ".".
ClientJob make_job(std::uint8_t byte) {
    ClientJob job{"profbox.domain.local", "joiakim@domain.local", {}, "Subject: x\n\nhello\n"};
    const std::size_t recipients = 1 + (byte & 0x03);
    for (std::size_t i = 0; i < recipients; ++i) {
        job.recipients.push_back("user" + std::to_string(i) + "@example.test");
    }
    if ((byte & 0x04) != 0) {
        job.message += "caf\xc3\xa9\n";
    }
    if ((byte & 0x08) != 0) {
        job.message += ".\n..dots\nno final newline";
    }
    if ((byte & 0x10) != 0) {
        job.sender.clear();
    }
    return job;
}

void check_output(std::string_view output) {
    if (!output.empty() && !output.ends_with("\r\n")) {
        fail("output does not end in CRLF");
    }
}

void check_outcomes(const SmtpClientSession& client, const ClientJob& job) {
    const auto& outcomes = client.outcomes();
    if (outcomes.size() != job.recipients.size()) {
        fail("not one outcome per recipient after is_done()");
    }
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (outcomes[i].recipient != job.recipients[i]) {
            fail("outcomes not in the order of the recipients");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const ClientJob job = make_job(data[0]);
    SmtpClientSession client(job);
    check_output(client.take_output());

    // The rest: reply lines separated by LF, a CR before the LF removed as the framer would.
    std::string_view replies(reinterpret_cast<const char*>(data + 1), size - 1);
    while (!replies.empty()) {
        const std::size_t lf = replies.find('\n');
        std::string_view line = replies.substr(0, lf);
        replies = lf == std::string_view::npos ? std::string_view() : replies.substr(lf + 1);
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        const bool was_done = client.is_done();
        const std::vector outcomes_before = client.outcomes();
        client.on_reply_line(line);
        const std::string output = client.take_output();
        check_output(output);
        if (was_done && !output.empty()) {
            fail("output after is_done()");
        }
        if (was_done && client.outcomes().size() != outcomes_before.size()) {
            fail("outcomes changed after is_done()");
        }
        if (client.is_done()) {
            check_outcomes(client, job);
        }
    }
    if (!client.is_done()) {
        client.on_failure("lost connection with mx.example.test while fuzzing");
        check_output(client.take_output());
        if (!client.is_done()) {
            fail("on_failure() did not end the dialog");
        }
    }
    check_outcomes(client, job);
    return 0;
}
