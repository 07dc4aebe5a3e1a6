// The inputs of the cleanup tests (cleanup_message, cleanup_head): the lab session's envelope,
// queue ID, host name, arrival time (kArrivalUs) and new Message-ID, and the header lines that
// cleanup adds for them. Header-only; test code only.
#pragma once

#include "common/envelope.h"
#include "common/ids.h"
#include "spool/cleanup.h"
#include "tests/support/fakes.h"

#include <string>
#include <string_view>

namespace labmta::test {

inline constexpr std::string_view kNewId = "<MIB8K4Q0.3W5E11264SGSG@profbox.domain.local>";

// joiakim@domain.local to student@domain.local, HELO Joiakim over SMTP from unknown[127.0.0.1].
inline common::Envelope lab_envelope() {
    common::Envelope envelope;
    envelope.sender = "joiakim@domain.local";
    envelope.recipients = {"student@domain.local"};
    envelope.helo = "Joiakim";
    envelope.protocol = "SMTP";
    envelope.client_host = "unknown";
    envelope.client_ip = "127.0.0.1";
    return envelope;
}

// Queue ID 0193A5C2F10A on profbox.domain.local at kArrivalUs; envelope must outlive it.
inline spool::CleanupInput lab_cleanup_input(const common::Envelope& envelope) {
    return spool::CleanupInput{
        envelope, "0193A5C2F10A", "profbox.domain.local", kArrivalUs, kNewId};
}

// kArrivalUs as an RFC 5322 date.
inline std::string arrival_date() {
    return common::format_rfc5322_date(kArrivalUs);
}

// The Received: line cleanup adds for lab_envelope().
inline std::string received_one_rcpt() {
    return "Received: from Joiakim (unknown [127.0.0.1])\n"
           "\tby profbox.domain.local (labmta) with SMTP id 0193A5C2F10A\n"
           "\tfor <student@domain.local>; "
           + arrival_date() + "\n";
}

// The Date: and Message-ID: lines cleanup adds when the message has neither.
inline std::string date_and_id() {
    return "Date: " + arrival_date() + "\nMessage-ID: " + std::string(kNewId) + "\n";
}

}  // namespace labmta::test
