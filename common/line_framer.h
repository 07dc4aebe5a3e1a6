// Splits a TCP byte stream into lines. Pure: bytes in, lines out, no I/O.
// A line ends at LF; we report whether CR preceded it (CRLF) or not (bare LF), because
// commands accept both but only <CRLF>.<CRLF> may end DATA (RFC 5321 4.1.1.4, and the
// 2023 SMTP smuggling attacks). A line longer than the limit comes out in pieces of at most
// max_line_bytes with ending Partial, so memory stays bounded whatever the client sends.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace labmta::common {

enum class LineEnding {
    Crlf,     // "...\r\n"
    BareLf,   // "...\n" without CR before it
    Partial,  // a piece of an over-long line; more of the same line follows
};

struct Line {
    std::string_view text;  // without the line ending; valid until the next feed()/next()
    LineEnding ending = LineEnding::Crlf;
};

class LineFramer {
public:
    explicit LineFramer(std::size_t max_line_bytes);

    // Appends bytes received from the peer.
    void feed(std::string_view bytes);

    // The next complete line (or Partial piece), if the buffered bytes hold one.
    std::optional<Line> next();

    // Bytes received but not yet returned as a line.
    std::size_t buffered_bytes() const { return buffer_.size() - consumed_; }

private:
    std::size_t max_line_bytes_;
    std::string buffer_;
    std::size_t consumed_ = 0;  // bytes of buffer_ already returned by next()
    std::size_t scanned_ = 0;   // bytes after consumed_ known to hold no LF
};

}  // namespace labmta::common
