// The line framer, with every input also fed split at every byte offset: TCP may cut the
// stream anywhere, and the lines must come out the same.
#include "common/line_framer.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

using labmta::common::LineEnding;
using labmta::common::LineFramer;

// "text|C" for CRLF, "text|L" for bare LF, "text|P" for a Partial piece.
std::vector<std::string> drain(LineFramer& framer) {
    std::vector<std::string> out;
    while (auto line = framer.next()) {
        const char tag = line->ending == LineEnding::Crlf     ? 'C'
                         : line->ending == LineEnding::BareLf ? 'L'
                                                              : 'P';
        out.push_back(std::string(line->text) + "|" + tag);
    }
    return out;
}

std::vector<std::string> frame_whole(std::string_view input, std::size_t max) {
    LineFramer framer(max);
    framer.feed(input);
    return drain(framer);
}

// Feeds input in two parts cut at `cut`, draining after each.
std::vector<std::string> frame_split(std::string_view input, std::size_t max, std::size_t cut) {
    LineFramer framer(max);
    framer.feed(input.substr(0, cut));
    std::vector<std::string> out = drain(framer);
    framer.feed(input.substr(cut));
    for (std::string& line : drain(framer)) {
        out.push_back(std::move(line));
    }
    return out;
}

// Pieces of one over-long line may be cut differently depending on where reads end, so
// compare the reassembled lines: each line's text and how it ended.
std::vector<std::string> join_pieces(const std::vector<std::string>& framed) {
    std::vector<std::string> lines;
    std::string current;
    for (const std::string& item : framed) {
        current += item.substr(0, item.size() - 2);
        if (item.back() != 'P') {
            lines.push_back(current + "|" + item.back());
            current.clear();
        }
    }
    return lines;
}

void check_every_split(std::string_view input,
                       std::size_t max,
                       const std::vector<std::string>& expected) {
    CHECK(frame_whole(input, max) == expected);
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        INFO("cut at " << cut);
        CHECK(join_pieces(frame_split(input, max, cut)) == join_pieces(expected));
    }
}

}  // namespace

TEST_CASE("line_framer: CRLF and bare LF lines", "[line_framer]") {
    check_every_split(
        "HELO a\r\nMAIL FROM:<x@y>\nNOOP\r\n", 100, {"HELO a|C", "MAIL FROM:<x@y>|L", "NOOP|C"});
}

TEST_CASE("line_framer: empty lines and a lone CR inside a line", "[line_framer]") {
    check_every_split("\r\n\na\rb\r\n", 100, {"|C", "|L", "a\rb|C"});
}

TEST_CASE("line_framer: an incomplete line waits for more bytes", "[line_framer]") {
    LineFramer framer(100);
    framer.feed("HELO a\r");
    CHECK(drain(framer).empty());
    CHECK(framer.buffered_bytes() == 7);
    framer.feed("\n");
    CHECK(drain(framer) == std::vector<std::string>{"HELO a|C"});
    CHECK(framer.buffered_bytes() == 0);
}

TEST_CASE("line_framer: a line of exactly the limit is whole", "[line_framer]") {
    const std::string line(10, 'x');
    check_every_split(line + "\r\n", 10, {line + "|C"});
    check_every_split(line + "\n", 10, {line + "|L"});
}

TEST_CASE("line_framer: a longer line comes in pieces of the limit", "[line_framer]") {
    const std::string input = std::string(25, 'x') + "\r\nNOOP\r\n";
    CHECK(frame_whole(input, 10)
          == std::vector<std::string>{std::string(10, 'x') + "|P",
                                      std::string(10, 'x') + "|P",
                                      std::string(5, 'x') + "|C",
                                      "NOOP|C"});
    check_every_split(input, 10, frame_whole(input, 10));
}

TEST_CASE("line_framer: a CR at a piece boundary is not split from its LF", "[line_framer]") {
    // 11 bytes of text then CRLF, limit 10: the piece must not end in the CR.
    const std::string input = std::string(9, 'x') + "y\r\n";
    CHECK(frame_whole(input, 9) == std::vector<std::string>{std::string(9, 'x') + "|P", "y|C"});
    const std::string cr_at_edge = std::string(9, 'x') + "\rz\r\n";
    for (const std::string& piece : frame_whole(cr_at_edge, 10)) {
        CHECK(piece.find("\r|") == std::string::npos);
    }
    CHECK(join_pieces(frame_whole(cr_at_edge, 10))
          == std::vector<std::string>{std::string(9, 'x') + "\rz|C"});
}

TEST_CASE("line_framer: memory stays bounded without a newline", "[line_framer]") {
    LineFramer framer(2048);
    const std::string chunk(65536, 'a');
    std::size_t pieces = 0;
    for (int i = 0; i < 16; ++i) {  // 1 MiB with no LF
        framer.feed(chunk);
        pieces += drain(framer).size();
        CHECK(framer.buffered_bytes() <= 2048 + 1);
    }
    // All but the last 2048 bytes came out; those may still turn out to be a whole line.
    CHECK(pieces == 1024 * 1024 / 2048 - 1);
    CHECK(framer.buffered_bytes() == 2048);
}
