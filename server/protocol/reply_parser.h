// Server replies as an SMTP client reads them: assembles multi-line replies (RFC 5321 4.2),
// finds the enhanced status code (RFC 3463, RFC 2034) and the EHLO keywords. Pure: lines in,
// values out; nothing here throws or trusts the server's bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::protocol {

struct ServerReply {
    int code = 0;  // 200..559
    // As received, code included; control bytes made "?", and only the first 64 KiB kept.
    std::vector<std::string> lines;

    int code_class() const { return code / 100; }
    // The lines joined by a space: "550 5.1.1 <x@y>: Recipient address rejected".
    std::string text() const;
    // The enhanced status code of the first line ("2.0.0"), else derived from the reply code:
    // "2.0.0", "4.0.0", "5.0.0" (and "<class>.0.0" for the classes that have none).
    std::string dsn() const;
};

// The service extensions an EHLO reply advertised (RFC 5321 4.1.1.1; the first line is the
// server's name, one keyword with its parameters per following line).
struct EhloExtensions {
    bool pipelining = false;               // RFC 2920
    bool size = false;                     // RFC 1870
    std::optional<std::size_t> max_bytes;  // SIZE's limit; none when absent or 0
    bool eight_bit_mime = false;           // RFC 6152
};

EhloExtensions parse_ehlo_extensions(const ServerReply& reply);

// Printable form of a line the server sent, at most max_bytes long, for error texts.
std::string sanitize_reply_text(std::string_view text, std::size_t max_bytes);

class ReplyParser {
public:
    enum class Status {
        NeedMore,   // a "250-..." line: the reply goes on
        Complete,   // take_reply() has the whole reply
        Malformed,  // no valid code, wrong separator, or the code changed between lines
    };

    // One line from the server, without its CRLF.
    Status feed(std::string_view line);
    // The reply completed by the last feed(); resets the parser.
    ServerReply take_reply();

private:
    ServerReply pending_;
    std::size_t stored_bytes_ = 0;  // bounds memory however long the server goes on
};

}  // namespace labmta::protocol
