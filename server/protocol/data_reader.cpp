// See data_reader.h.
#include "server/protocol/data_reader.h"

#include "common/address.h"

namespace labmta::protocol {

using common::LineEnding;

DataReader::DataReader(std::size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

bool DataReader::on_line(const common::Line& line) {
    const bool ends_line = line.ending != LineEnding::Partial;
    if (at_line_start_ && line.ending == LineEnding::Crlf && previous_line_crlf_
        && line.text == ".") {
        return true;
    }
    std::string_view text = line.text;
    if (at_line_start_ && !text.empty() && text.front() == '.') {
        text.remove_prefix(1);
    }
    if (in_headers_ && at_line_start_) {
        constexpr std::string_view kReceived = "received:";
        // An empty line as stored: bare CRs before the line end are dropped.
        if (ends_line && text.find_first_not_of('\r') == std::string_view::npos) {
            in_headers_ = false;
        } else if (text.size() >= kReceived.size()
                   && common::iequals_ascii(text.substr(0, kReceived.size()), kReceived)) {
            ++received_headers_;
        }
    }
    size_bytes_ += text.size() + (ends_line ? 2 : 0);
    if (size_bytes_ > max_message_bytes_ && !too_big_) {
        too_big_ = true;
        message_.clear();
        message_.shrink_to_fit();
    }
    if (!too_big_) {
        message_.append(text);
        if (ends_line) {
            // Bare CRs just before the line end are dropped, as Postfix's smtp_get() does, so
            // the stored message never holds "\r\n". They may come from an earlier Partial
            // piece of this line; the previous line's "\n" stops the loop.
            while (!message_.empty() && message_.back() == '\r') {
                message_.pop_back();
            }
            message_.push_back('\n');
        }
    }
    at_line_start_ = ends_line;
    if (ends_line) {
        previous_line_crlf_ = line.ending == LineEnding::Crlf;
        has_bare_newline_ = has_bare_newline_ || line.ending == LineEnding::BareLf;
    }
    return false;
}

}  // namespace labmta::protocol
