// See reply_parser.h. No I/O here.
#include "server/protocol/reply_parser.h"

#include "common/address.h"

#include <charconv>
#include <utility>

namespace labmta::protocol {
namespace {

// What we keep of one reply: enough for any real server's EHLO list and error texts, while a
// server that sends endless or enormous lines cannot make us hold more.
constexpr std::size_t kMaxStoredLineBytes = 1000;
constexpr std::size_t kMaxStoredReplyBytes = 64 * 1024;

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39. Returns 0 when the line has none.
int parse_code(std::string_view line) {
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5'
        || !is_digit(line[2])) {
        return 0;
    }
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

// Length of a run of 1 to 3 digits at the start of text, 0 when there is none.
std::size_t digit_run(std::string_view text) {
    std::size_t length = 0;
    while (length < text.size() && length < 4 && is_digit(text[length])) {
        ++length;
    }
    return length <= 3 ? length : 0;
}

// RFC 3463: class "." subject "." detail, subject and detail 1 to 3 digits, followed by a
// space or the end. The class must be the reply code's (RFC 2034), else the code is ignored.
std::string enhanced_status(std::string_view text, char code_class) {
    if (text.size() < 5 || text[0] != code_class || text[1] != '.') {
        return {};
    }
    const std::size_t subject = digit_run(text.substr(2));
    if (subject == 0 || 2 + subject >= text.size() || text[2 + subject] != '.') {
        return {};
    }
    const std::size_t detail_start = 3 + subject;
    const std::size_t detail = digit_run(text.substr(detail_start));
    const std::size_t end = detail_start + detail;
    if (detail == 0 || (end < text.size() && text[end] != ' ')) {
        return {};
    }
    return std::string(text.substr(0, end));
}

// The text after "250-" / "250 " ("" for a bare "250").
std::string_view reply_text(std::string_view line) {
    return line.size() > 4 ? line.substr(4) : std::string_view{};
}

std::optional<std::size_t> parse_size_limit(std::string_view parameter) {
    std::size_t value = 0;
    const char* end = parameter.data() + parameter.size();
    const auto [ptr, error] = std::from_chars(parameter.data(), end, value);
    // RFC 1870 6: no parameter, or 0, means no fixed limit.
    if (error != std::errc{} || ptr != end || value == 0) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::string ServerReply::text() const {
    std::string joined;
    for (const std::string& line : lines) {
        if (!joined.empty()) {
            joined.push_back(' ');
        }
        joined.append(line);
    }
    return joined;
}

std::string ServerReply::dsn() const {
    const char first_digit = static_cast<char>('0' + code_class());
    if (!lines.empty()) {
        std::string status = enhanced_status(reply_text(lines.front()), first_digit);
        if (!status.empty()) {
            return status;
        }
    }
    return std::string(1, first_digit) + ".0.0";
}

EhloExtensions parse_ehlo_extensions(const ServerReply& reply) {
    EhloExtensions extensions;
    for (std::size_t i = 1; i < reply.lines.size(); ++i) {
        const std::string_view text = reply_text(reply.lines[i]);
        const std::size_t space = text.find(' ');
        const std::string_view keyword = text.substr(0, space);
        const std::string_view parameter =
            space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
        if (common::iequals_ascii(keyword, "PIPELINING")) {
            extensions.pipelining = true;
        } else if (common::iequals_ascii(keyword, "SIZE")) {
            extensions.size = true;
            extensions.max_bytes = parse_size_limit(parameter);
        } else if (common::iequals_ascii(keyword, "8BITMIME")) {
            extensions.eight_bit_mime = true;
        }
    }
    return extensions;
}

std::string sanitize_reply_text(std::string_view text, std::size_t max_bytes) {
    std::string clean(text.substr(0, max_bytes));
    for (char& c : clean) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            c = '?';
        }
    }
    return clean;
}

ReplyParser::Status ReplyParser::feed(std::string_view line) {
    const int code = parse_code(line);
    const bool is_last = line.size() == 3 || (line.size() > 3 && line[3] == ' ');
    const bool is_continued = line.size() > 3 && line[3] == '-';
    if (code == 0 || (!is_last && !is_continued)
        || (!pending_.lines.empty() && code != pending_.code)) {
        pending_ = ServerReply{};
        stored_bytes_ = 0;
        return Status::Malformed;
    }
    pending_.code = code;
    if (stored_bytes_ < kMaxStoredReplyBytes) {
        pending_.lines.push_back(sanitize_reply_text(line, kMaxStoredLineBytes));
        stored_bytes_ += pending_.lines.back().size();
    }
    return is_last ? Status::Complete : Status::NeedMore;
}

ServerReply ReplyParser::take_reply() {
    stored_bytes_ = 0;
    return std::exchange(pending_, ServerReply{});
}

}  // namespace labmta::protocol
