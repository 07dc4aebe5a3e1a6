// Dialog fixture parsing and reply matching (see dialog.h). Pure: the only I/O is reading the
// fixture file in load_dialog().
#include "tests/support/dialog.h"

#include <fstream>
#include <sstream>
#include <utility>

namespace labmta::test {
namespace {

constexpr std::string_view kAny = "{ANY}";
constexpr std::string_view kQueueId = "{QUEUE_ID}";
constexpr std::size_t kQueueIdMin = 10;
constexpr std::size_t kQueueIdMax = 20;

bool is_upper_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

std::string located(std::string_view source_name, int line_number, std::string_view what) {
    std::ostringstream out;
    out << source_name << ":" << line_number << ": " << what;
    return out.str();
}

// Matches pattern against actual from the start; placeholders may match several lengths, so
// they try each one (lines are short, so the backtracking stays cheap).
bool matches_from(std::string_view pattern, std::string_view actual) {
    while (!pattern.empty()) {
        if (pattern.starts_with(kAny)) {
            const std::string_view rest = pattern.substr(kAny.size());
            for (std::size_t skip = 0; skip <= actual.size(); ++skip) {
                if (matches_from(rest, actual.substr(skip))) {
                    return true;
                }
            }
            return false;
        }
        if (pattern.starts_with(kQueueId)) {
            const std::string_view rest = pattern.substr(kQueueId.size());
            std::size_t hex = 0;
            while (hex < actual.size() && hex < kQueueIdMax && is_upper_hex(actual[hex])) {
                ++hex;
            }
            for (std::size_t length = kQueueIdMin; length <= hex; ++length) {
                if (matches_from(rest, actual.substr(length))) {
                    return true;
                }
            }
            return false;
        }
        if (actual.empty() || pattern.front() != actual.front()) {
            return false;
        }
        pattern.remove_prefix(1);
        actual.remove_prefix(1);
    }
    return actual.empty();
}

}  // namespace

std::vector<DialogStep> parse_dialog(std::string_view text, std::string_view source_name) {
    std::vector<DialogStep> steps;
    int line_number = 0;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        ++line_number;
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        if (line.empty() || line.starts_with('#')) {
            continue;
        }
        if (line == "C:" || line.starts_with("C: ")) {
            const std::string_view body = line.size() > 3 ? line.substr(3) : std::string_view{};
            steps.push_back({DialogSide::Client, std::string(body), line_number});
        } else if (line.starts_with("S: ") && line.size() > 3) {
            steps.push_back({DialogSide::Server, std::string(line.substr(3)), line_number});
        } else {
            throw DialogError(located(source_name,
                                      line_number,
                                      "expected \"C: text\", \"S: text\", \"#\" or a blank line"));
        }
    }
    return steps;
}

std::vector<DialogStep> load_dialog(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw DialogError("cannot read dialog fixture " + path);
    }
    std::ostringstream content;
    content << in.rdbuf();
    return parse_dialog(content.str(), path);
}

std::vector<DialogExchange> group_exchanges(const std::vector<DialogStep>& steps) {
    std::vector<DialogExchange> exchanges;
    for (const DialogStep& step : steps) {
        const bool client = step.side == DialogSide::Client;
        // A client line after replies starts the next turn; so does anything at the start.
        if (exchanges.empty() || (client && !exchanges.back().expected_lines.empty())) {
            exchanges.emplace_back();
        }
        if (client) {
            exchanges.back().client_lines.push_back(step);
        } else {
            exchanges.back().expected_lines.push_back(step);
        }
    }
    return exchanges;
}

bool reply_line_matches(std::string_view pattern, std::string_view actual) {
    return matches_from(pattern, actual);
}

std::vector<std::string> split_reply_lines(std::string_view bytes) {
    std::vector<std::string> lines;
    while (!bytes.empty()) {
        const std::size_t end = bytes.find('\n');
        if (end == std::string_view::npos) {
            lines.push_back(std::string(bytes) + " <no line end>");
            break;
        }
        std::string line(bytes.substr(0, end));
        bytes.remove_prefix(end + 1);
        if (line.ends_with('\r')) {
            line.pop_back();
        } else {
            line += " <bare LF>";
        }
        lines.push_back(std::move(line));
    }
    return lines;
}

std::string describe_reply_mismatch(const std::vector<DialogStep>& expected,
                                    const std::vector<std::string>& actual) {
    std::ostringstream out;
    for (std::size_t i = 0; i < expected.size() || i < actual.size(); ++i) {
        if (i >= actual.size()) {
            out << "line " << expected[i].line_number << ": expected \"" << expected[i].text
                << "\", got no more reply lines";
            return out.str();
        }
        if (i >= expected.size()) {
            out << "unexpected extra reply line \"" << actual[i] << "\"";
            return out.str();
        }
        if (!reply_line_matches(expected[i].text, actual[i])) {
            out << "line " << expected[i].line_number << ": expected \"" << expected[i].text
                << "\", got \"" << actual[i] << "\"";
            return out.str();
        }
    }
    return "";
}

}  // namespace labmta::test
