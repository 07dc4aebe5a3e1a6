// Builds the non-delivery report of bounce.h. Pure: no clock, no randomness, no I/O; the dates,
// the host name and the seed come in through BounceInput. Everything that came from a client or
// a remote server is sanitised before it goes into a header-like line.
#include "spool/bounce.h"

#include "common/address.h"
#include "common/ids.h"

namespace labmta::spool {

namespace {

constexpr std::size_t kWrapWidth = 78;  // RFC 5322 2.1.1: lines SHOULD stay within 78
constexpr std::string_view kFoldIndent = "    ";

// Injects the report's fixed time and seed into common::make_message_id, so the Message-ID is
// built exactly like every other one the server makes.
class FixedClock final : public common::Clock {
public:
    explicit FixedClock(std::int64_t now_us) : now_us_(now_us) {}
    std::int64_t now_us() const override { return now_us_; }

private:
    std::int64_t now_us_;
};

class FixedRandom final : public common::Random {
public:
    explicit FixedRandom(std::uint64_t value) : value_(value) {}
    std::uint64_t next_u64() override { return value_; }

private:
    std::uint64_t value_;
};

// One header-safe line: line breaks and tabs become spaces, other control bytes and anything
// outside US-ASCII become "?" (RFC 3464 fields and our text/plain part are US-ASCII).
std::string sanitize(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\r' || c == '\n' || c == '\t') {
            out.push_back(' ');
        } else if (byte < 0x20 || byte >= 0x7f) {
            out.push_back('?');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

// Breaks line at spaces so each piece fits in kWrapWidth; continuation lines start with
// white space, which also makes them valid folded fields (RFC 5322 2.2.3). A word longer than a
// line is kept whole.
std::string fold(std::string_view line) {
    std::string out;
    bool first = true;
    for (;;) {
        const std::size_t room = kWrapWidth - (first ? 0 : kFoldIndent.size());
        if (line.size() <= room) {
            break;
        }
        std::size_t cut = line.rfind(' ', room);
        if (cut == std::string_view::npos || cut == 0) {
            cut = line.find(' ', room);
        }
        if (cut == std::string_view::npos) {
            break;
        }
        out.append(line.substr(0, cut)).append("\n").append(kFoldIndent);
        line.remove_prefix(cut + 1);
        first = false;
    }
    out.append(line).push_back('\n');
    return out;
}

std::string status_of(const BouncedRecipient& recipient) {
    return recipient.dsn.empty() ? std::string("5.0.0") : sanitize(recipient.dsn);
}

// "<rcpt>: host <mx> said: <reply>" for a remote failure, "<rcpt>: <reason>" for a local one.
std::string human_line(const BouncedRecipient& recipient) {
    std::string line = "<" + sanitize(recipient.address) + ">: ";
    const std::string host = sanitize(recipient.remote_mta);
    const std::string diagnostic = sanitize(recipient.diagnostic);
    if (diagnostic.empty()) {
        return line + (host.empty() ? "delivery failed" : "delivery to host " + host + " failed");
    }
    return line + (host.empty() ? "" : "host " + host + " said: ") + diagnostic;
}

std::string human_part(const BounceInput& input) {
    const std::string host = sanitize(input.hostname);
    std::string text = "This is the mail system at host " + host + ".\n\n";
    text += "Your message could not be delivered to one or more recipients, for the\n";
    text += "reasons given below. The headers of your message are attached.\n\n";
    text += "For further assistance, please send mail to postmaster@" + host + "\n";
    text += "and include this report.\n\n";
    text += "                   The mail system\n";
    for (const BouncedRecipient& recipient : input.recipients) {
        text += "\n" + fold(human_line(recipient));
    }
    return text;
}

// RFC 3464 2.3: per-recipient fields. Diagnostic-Code is typed "smtp" only when the text is
// a remote server's reply; a local failure's reason is our own text.
std::string recipient_fields(const BouncedRecipient& recipient) {
    std::string fields = "\n";
    fields += fold("Final-Recipient: rfc822; " + sanitize(recipient.address));
    fields += "Action: failed\n";
    fields += "Status: " + status_of(recipient) + "\n";
    if (!recipient.remote_mta.empty()) {
        fields += fold("Remote-MTA: dns; " + sanitize(recipient.remote_mta));
    }
    if (!recipient.diagnostic.empty()) {
        const std::string_view type = recipient.remote_mta.empty() ? "X-Labmta" : "smtp";
        fields +=
            fold("Diagnostic-Code: " + std::string(type) + "; " + sanitize(recipient.diagnostic));
    }
    return fields;
}

// RFC 3464 2.2: per-message fields, then one block per recipient.
std::string status_part(const BounceInput& input) {
    std::string text = fold("Reporting-MTA: dns; " + sanitize(input.hostname));
    text += fold("X-Labmta-Queue-ID: " + sanitize(input.queue_id));
    text += fold("X-Labmta-Sender: rfc822; " + sanitize(input.envelope.sender));
    text += "Arrival-Date: " + common::format_rfc5322_date(input.arrival_us) + "\n";
    for (const BouncedRecipient& recipient : input.recipients) {
        text += recipient_fields(recipient);
    }
    return text;
}

// The original's header section: everything before the first empty line, with its last LF.
std::string header_section(std::string_view message) {
    if (message.starts_with("\n")) {
        return {};
    }
    const std::size_t end = message.find("\n\n");
    std::string headers(
        message.substr(0, end == std::string_view::npos ? message.size() : end + 1));
    if (!headers.empty() && headers.back() != '\n') {
        headers.push_back('\n');
    }
    return headers;
}

bool has_8bit(std::string_view text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return true;
        }
    }
    return false;
}

// RFC 2046 5.1.1: the boundary must not occur in any part. It is derived from the queue ID and
// the seed, so it is not guessable; should the content still contain it, the next one is tried.
std::string pick_boundary(const BounceInput& input, const std::vector<std::string_view>& parts) {
    std::string id;
    for (const char c : input.queue_id) {
        if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
            id.push_back(c);
        }
    }
    for (std::uint64_t n = 0;; ++n) {
        const std::string boundary = id + "." + common::to_base36(input.seed + n) + "/labmta";
        bool clash = false;
        for (const std::string_view part : parts) {
            clash = clash || part.find(boundary) != std::string_view::npos;
        }
        if (!clash) {
            return boundary;
        }
    }
}

std::string top_headers(const BounceInput& input, std::string_view boundary, bool eight_bit) {
    FixedClock clock(input.now_us);
    FixedRandom random(input.seed);
    const std::string host = sanitize(input.hostname);
    std::string text = "From: MAILER-DAEMON@" + host + " (Mail Delivery System)\n";
    text += fold("To: " + sanitize(input.envelope.sender));
    text += "Subject: Undelivered Mail Returned to Sender\n";
    text += "Date: " + common::format_rfc5322_date(input.now_us) + "\n";
    text += "Message-ID: " + common::make_message_id(clock, random, host) + "\n";
    text += "Auto-Submitted: auto-replied\n";  // RFC 3834: keeps auto-responders quiet
    text += "MIME-Version: 1.0\n";
    text += "Content-Type: multipart/report; report-type=delivery-status; boundary=\""
            + std::string(boundary) + "\"\n";
    text += std::string("Content-Transfer-Encoding: ") + (eight_bit ? "8bit" : "7bit") + "\n";
    return text;
}

}  // namespace

std::string make_bounce_message(const BounceInput& input) {
    const std::string human = human_part(input);
    const std::string status = status_part(input);
    const std::string headers = header_section(input.original_message);
    const bool eight_bit = has_8bit(headers);
    const std::string boundary = pick_boundary(input, {human, status, headers});
    const std::string delimiter = "\n--" + boundary + "\n";

    std::string message = top_headers(input, boundary, eight_bit);
    message += "\nThis is a MIME-encapsulated message.\n";
    message += delimiter;
    message += "Content-Description: Notification\n";
    message += "Content-Type: text/plain; charset=us-ascii\n\n";
    message += human;
    message += delimiter;
    message += "Content-Description: Delivery report\n";
    message += "Content-Type: message/delivery-status\n\n";
    message += status;
    message += delimiter;
    message += "Content-Description: Undelivered Message Headers\n";
    message += "Content-Type: text/rfc822-headers\n";
    message += std::string("Content-Transfer-Encoding: ") + (eight_bit ? "8bit" : "7bit") + "\n\n";
    message += headers;
    message += "\n--" + boundary + "--\n";
    return message;
}

bool should_bounce(std::string_view sender) {
    if (sender.empty()) {
        return false;
    }
    const std::size_t at = sender.rfind('@');
    const std::string_view local_part =
        at == std::string_view::npos ? sender : sender.substr(0, at);
    return !common::iequals_ascii(local_part, "MAILER-DAEMON");
}

}  // namespace labmta::spool
