// Reads the message after DATA, one framed line at a time. Pure: no I/O.
// - Only <CRLF>.<CRLF> ends the message: a "." line counts only when it ends in CRLF and the
//   line before it did too (RFC 5321 4.1.1.4). A bare LF ends a line of text and is stored
//   as a normal line end, as Postfix 3.9's smtpd_forbid_bare_newline=normalize does, but can
//   never end the message: that is what defeats SMTP smuggling.
// - Dot-stuffing is undone (RFC 5321 4.5.2).
// - Bare CRs just before a line end are dropped, as Postfix's smtp_get() does: the stored
//   message has no "\r\n".
// - Past max_message_bytes the text is dropped but reading goes on to the end of data, so
//   the dialog stays in step and the client gets its 552 at the right moment.
// - "Received:" header fields are counted as they pass, for loop detection.
// The message comes out with LF line endings, the form queue files and Maildir use; every line
// of it ends in LF (the end marker needs a CRLF before it), so it is empty or ends in LF.
#pragma once

#include "common/line_framer.h"

#include <cstddef>
#include <string>
#include <utility>

namespace labmta::protocol {

class DataReader {
public:
    explicit DataReader(std::size_t max_message_bytes);

    // True when this line was the end-of-data marker.
    bool on_line(const common::Line& line);

    bool is_too_big() const { return too_big_; }
    // Some line of the message ended in a bare LF (smtpd.bare_newline: reject refuses it).
    bool has_bare_newline() const { return has_bare_newline_; }
    // Size as counted on the wire after unstuffing, with CRLF line ends.
    std::size_t size_bytes() const { return size_bytes_; }
    // "Received:" fields in the header section so far: the hop count (Postfix hopcount_limit).
    std::size_t received_headers() const { return received_headers_; }
    // The text read since the last take_message(): a big message is taken in parts, at line
    // starts, and streamed to the spool; what the last take_message() returns ends the message.
    std::size_t buffered_bytes() const { return message_.size(); }
    bool at_line_start() const { return at_line_start_; }
    std::string take_message() { return std::exchange(message_, {}); }

private:
    std::size_t max_message_bytes_;
    std::string message_;
    std::size_t size_bytes_ = 0;
    bool too_big_ = false;
    bool has_bare_newline_ = false;
    bool at_line_start_ = true;
    bool previous_line_crlf_ = true;  // the DATA command itself counts as the line before
    bool in_headers_ = true;          // until the first empty line
    std::size_t received_headers_ = 0;
};

}  // namespace labmta::protocol
