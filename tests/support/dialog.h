// SMTP dialog fixtures (tests/fixtures/*.txt): "C: <text>" is a line the client sends (CRLF is
// added; "C: " alone sends an empty line), "S: <text>" is one expected reply line, "#" starts a
// comment. Parsing and matching only: no sockets and no session here, so the same fixtures are
// replayed against the Session (unit tests) and over a socket (e2e tests).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::test {

enum class DialogSide { Client, Server };

struct DialogStep {
    DialogSide side = DialogSide::Client;
    std::string text;     // without "C: " / "S: " and without a line ending
    int line_number = 0;  // in the fixture file, for failure messages
};

// One turn of a dialog: the client lines sent together, then the reply lines expected after
// them. The first exchange of a dialog has no client lines (the 220 greeting).
struct DialogExchange {
    std::vector<DialogStep> client_lines;
    std::vector<DialogStep> expected_lines;
};

class DialogError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws DialogError naming source_name and the line for anything that is not a C:, S:,
// comment or blank line, and for an S: line with no text.
std::vector<DialogStep> parse_dialog(std::string_view text, std::string_view source_name);

// Reads and parses a fixture file; throws DialogError when it cannot be read.
std::vector<DialogStep> load_dialog(const std::string& path);

// Groups steps into exchanges: client lines up to the next S: line, then the S: lines up to
// the next C: line. Trailing client lines with no reply form a last exchange with no
// expected lines.
std::vector<DialogExchange> group_exchanges(const std::vector<DialogStep>& steps);

// True when actual (one reply line, without CRLF) matches pattern. In a pattern, {QUEUE_ID}
// matches 10 to 20 upper-case hex digits and {ANY} matches any text (usually the rest of the
// line); everything else must be equal byte for byte.
bool reply_line_matches(std::string_view pattern, std::string_view actual);

// Splits bytes a server sent into reply lines without their CRLF. A line ending in a bare LF
// gets " <bare LF>" appended, and an unterminated last piece " <no line end>", so neither can
// match a pattern by accident.
std::vector<std::string> split_reply_lines(std::string_view bytes);

// Compares the reply lines received for one exchange with the expected ones. Returns "" when
// they match, else a readable description of the first difference, with fixture line numbers.
std::string describe_reply_mismatch(const std::vector<DialogStep>& expected,
                                    const std::vector<std::string>& actual);

}  // namespace labmta::test
