// Line splitting for the SMTP byte stream; see line_framer.h. No I/O here.
#include "common/line_framer.h"

#include <algorithm>

namespace labmta::common {

LineFramer::LineFramer(std::size_t max_line_bytes)
    : max_line_bytes_(std::max<std::size_t>(max_line_bytes, 2)) {}

void LineFramer::feed(std::string_view bytes) {
    // Drop what next() already handed out before growing, so the buffer holds at most one
    // partial line plus the bytes of this read.
    if (consumed_ > 0) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
    }
    buffer_.append(bytes);
}

std::optional<Line> LineFramer::next() {
    const std::string_view pending = std::string_view(buffer_).substr(consumed_);
    const std::size_t limit = std::min(pending.size(), max_line_bytes_ + 2);  // line + CRLF
    const std::size_t lf = pending.substr(0, limit).find('\n', scanned_);
    if (lf != std::string_view::npos) {
        const bool has_cr = lf > 0 && pending[lf - 1] == '\r';
        Line line{pending.substr(0, has_cr ? lf - 1 : lf),
                  has_cr ? LineEnding::Crlf : LineEnding::BareLf};
        if (line.text.size() <= max_line_bytes_) {
            consumed_ += lf + 1;
            scanned_ = 0;
            return line;
        }
    }
    // Not enough bytes yet to know whether the line fits: wait for more. (A line of exactly
    // max_line_bytes whose CR has arrived but whose LF has not still fits.)
    const bool may_still_fit = pending.size() <= max_line_bytes_
                               || (pending.size() == max_line_bytes_ + 1 && pending.back() == '\r');
    if (may_still_fit) {
        scanned_ = pending.size();
        return std::nullopt;
    }
    // Over-long line: hand out a piece. Keep a trailing CR back, because it may be the first
    // half of the CRLF that ends the line.
    std::size_t piece = max_line_bytes_;
    if (pending[piece - 1] == '\r') {
        --piece;
    }
    consumed_ += piece;
    scanned_ = 0;
    return Line{pending.substr(0, piece), LineEnding::Partial};
}

}  // namespace labmta::common
