// What the server adds to a message before it is queued (Postfix cleanup(8)'s job): a
// Received: line on top, Date: and Message-ID: when missing, a blank line where the headers
// end when the client sent none. The client's bytes are copied unchanged. Pure, no I/O.
//
// The Received: line is folded as Postfix folds it. With exactly one recipient:
//   Received: from <helo> (<client-host> [<client-ip>])
//   <TAB>by <hostname> (labmta) with <SMTP|ESMTP> id <queue-id>
//   <TAB>for <rcpt@domain>; <date>
// With several recipients the "for" clause would leak the other recipients' addresses into
// each copy, so it is left out and the date goes on its own line:
//   <TAB>by <hostname> (labmta) with ESMTP id <queue-id>;
//   <TAB><date>
#include "spool/cleanup.h"

#include "common/address.h"
#include "common/ids.h"

#include <optional>

namespace labmta::spool {

namespace {

// What we learned about the client's header section.
struct HeaderScan {
    std::size_t end = 0;          // offset of the blank line, the first body line, or the size
    bool has_blank_line = false;  // raw[end] is the empty line that ends the headers
    bool has_date = false;
    std::optional<std::string> message_id;  // first Message-ID: value, unfolded, not trimmed
};

// RFC 5322 2.2: a field name is one or more printable ASCII characters except ":" (and space,
// which RFC 5322 3.6.8 ftext excludes too). Returns the name, or nullopt when line is no field.
std::optional<std::string_view> field_name(std::string_view line) {
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return std::nullopt;
    }
    for (std::size_t i = 0; i < colon; ++i) {
        const auto c = static_cast<unsigned char>(line[i]);
        if (c < 33 || c > 126) {
            return std::nullopt;
        }
    }
    return line.substr(0, colon);
}

// RFC 5322 2.2.3: a line starting with white space continues the previous field.
bool is_continuation(std::string_view line) {
    return !line.empty() && (line.front() == ' ' || line.front() == '\t');
}

HeaderScan scan_headers(std::string_view raw) {
    HeaderScan scan;
    bool in_message_id = false;
    bool seen_field = false;
    std::size_t pos = 0;
    while (pos < raw.size()) {
        const std::size_t eol = raw.find('\n', pos);
        const std::size_t line_end = eol == std::string_view::npos ? raw.size() : eol;
        const std::string_view line = raw.substr(pos, line_end - pos);
        if (line.empty()) {
            scan.end = pos;
            scan.has_blank_line = true;
            return scan;
        }
        if (seen_field && is_continuation(line)) {
            if (in_message_id) {
                scan.message_id->append(line);
            }
        } else if (const auto name = field_name(line)) {
            seen_field = true;
            in_message_id = !scan.message_id && common::iequals_ascii(*name, "Message-ID");
            if (in_message_id) {
                scan.message_id = std::string(line.substr(name->size() + 1));
            }
            scan.has_date = scan.has_date || common::iequals_ascii(*name, "Date");
        } else {
            scan.end = pos;  // the first body line: the client sent no blank line
            return scan;
        }
        pos = line_end == raw.size() ? raw.size() : line_end + 1;
    }
    scan.end = raw.size();  // headers only, no body
    return scan;
}

std::string trim_white(std::string_view text) {
    const std::size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) {
        return {};
    }
    const std::size_t last = text.find_last_not_of(" \t\r");
    return std::string(text.substr(first, last - first + 1));
}

// Envelope fields come from SMTP command lines; a control character in one must not be able
// to end our header line early or forge another header.
std::string header_safe(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
            c = '?';
        }
    }
    return out;
}

std::string received_header(const CleanupInput& input, std::string_view date) {
    const common::Envelope& envelope = input.envelope;
    const std::string host = header_safe(envelope.client_host);
    const std::string helo = envelope.helo.empty() ? host : header_safe(envelope.helo);
    const std::string protocol = envelope.protocol.empty() ? "SMTP" : envelope.protocol;
    std::string out = "Received: from " + helo + " (" + host + " ["
                      + header_safe(envelope.client_ip) + "])\n\tby " + header_safe(input.hostname)
                      + " (labmta) with " + header_safe(protocol) + " id "
                      + header_safe(input.queue_id);
    if (envelope.recipients.size() == 1) {
        out += "\n\tfor <" + header_safe(envelope.recipients.front()) + ">; ";
    } else {
        out += ";\n\t";
    }
    out.append(date);
    out.push_back('\n');
    return out;
}

}  // namespace

CleanupHead cleanup_head(std::string_view raw_start, bool complete, const CleanupInput& input) {
    std::string_view raw = raw_start;
    if (!complete) {
        const std::size_t last_lf = raw.rfind('\n');
        raw = last_lf == std::string_view::npos ? std::string_view{} : raw.substr(0, last_lf + 1);
    }
    const HeaderScan scan = scan_headers(raw);
    const std::string date = common::format_rfc5322_date(input.arrival_us);
    CleanupHead result;
    std::string& out = result.head;
    out.reserve(scan.end + 512);
    out += received_header(input, date);
    out.append(raw.substr(0, scan.end));
    if (scan.end > 0 && out.back() != '\n') {
        out.push_back('\n');  // a header-only message whose last line had no LF
    }
    if (!scan.has_date) {
        out += "Date: " + date + "\n";
    }
    if (scan.message_id) {
        result.message_id = trim_white(*scan.message_id);
    } else {
        result.message_id = header_safe(input.new_message_id);
        out += "Message-ID: " + result.message_id + "\n";
    }
    const bool body_follows = scan.end < raw.size() || !complete;
    if (body_follows && !scan.has_blank_line) {
        out.push_back('\n');  // the blank line the client left out (RFC 5322 2.1)
    }
    result.raw_consumed = scan.end;
    return result;
}

CleanupResult cleanup_message(std::string_view raw, const CleanupInput& input) {
    CleanupHead head = cleanup_head(raw, true, input);
    CleanupResult result;
    result.message = std::move(head.head);
    result.message.append(raw.substr(head.raw_consumed));
    if (result.message.back() != '\n') {
        result.message.push_back('\n');
    }
    result.message_id = std::move(head.message_id);
    return result;
}

}  // namespace labmta::spool
