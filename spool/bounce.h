// Non-delivery reports, as Postfix's bounce(8) writes them: a multipart/report (RFC 6522) with
// a human-readable explanation, a message/delivery-status part (RFC 3464) and the returned
// message's header section (text/rfc822-headers). Pure: the caller supplies the times, the
// host name and a random seed, and queues the result itself with the null sender.
#pragma once

#include "common/envelope.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::spool {

struct BouncedRecipient {
    std::string address;
    std::string dsn;         // "5.1.1"; "5.0.0" when empty
    std::string remote_mta;  // "mx.example.test", or "" when local delivery failed
    std::string diagnostic;  // "550 5.1.1 <x@y>: Recipient address rejected", or a local reason
};

struct BounceInput {
    std::string hostname;         // our host name: MAILER-DAEMON@<hostname>, Reporting-MTA
    std::string queue_id;         // of the original message
    common::Envelope envelope;    // of the original message (sender, helo, client)
    std::int64_t arrival_us = 0;  // of the original message
    std::int64_t now_us = 0;      // the report's Date: and Message-ID:
    std::vector<BouncedRecipient> recipients;
    std::string original_message;  // LF line endings; only its header section is returned
    std::uint64_t seed = 0;        // random bits for the Message-ID and the MIME boundary
};

// The complete report, LF line endings, addressed (To:) to the original sender. Text that came
// from the envelope or a remote server is made safe for a header line: line breaks become
// spaces, other control and non-ASCII bytes become "?".
std::string make_bounce_message(const BounceInput& input);

// False for the null sender and for MAILER-DAEMON (with or without a domain, any case): a
// bounce is never bounced, or two servers could send reports to each other forever.
bool should_bounce(std::string_view sender);

}  // namespace labmta::spool
