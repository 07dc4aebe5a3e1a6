// The DATA reader: end-of-data detection, dot-unstuffing and the size limit, fed through the
// line framer with the input split at every byte offset.
#include "server/protocol/data_reader.h"

#include "common/line_framer.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>

namespace {

using labmta::common::LineFramer;
using labmta::protocol::DataReader;

struct ReadResult {
    bool ended = false;
    bool too_big = false;
    std::string message;
    std::string rest;  // bytes left after the end of data
    bool operator==(const ReadResult&) const = default;
};

ReadResult read_data(std::string_view input,
                     std::size_t cut,
                     std::size_t max_bytes = 1000,
                     std::size_t line_limit = 64) {
    LineFramer framer(line_limit);
    DataReader reader(max_bytes);
    ReadResult result;
    for (const std::string_view part : {input.substr(0, cut), input.substr(cut)}) {
        framer.feed(part);
        while (!result.ended) {
            const auto line = framer.next();
            if (!line) {
                break;
            }
            result.ended = reader.on_line(*line);
        }
    }
    while (auto line = framer.next()) {
        result.rest += std::string(line->text) + "\n";
    }
    result.too_big = reader.is_too_big();
    result.message = reader.take_message();
    return result;
}

void check_every_split(std::string_view input,
                       const ReadResult& expected,
                       std::size_t max_bytes = 1000) {
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        INFO("cut at " << cut);
        const ReadResult got = read_data(input, cut, max_bytes);
        CHECK(got.ended == expected.ended);
        CHECK(got.too_big == expected.too_big);
        CHECK(got.message == expected.message);
        CHECK(got.rest == expected.rest);
    }
}

}  // namespace

TEST_CASE("data_reader: ends at CRLF.CRLF, LF line ends", "[data_reader]") {
    check_every_split("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
                      {true, false, "Subject: x\n\nbody\n", "QUIT\n"});
}

TEST_CASE("data_reader: an immediate end gives an empty message", "[data_reader]") {
    check_every_split(".\r\n", {true, false, "", ""});
}

TEST_CASE("data_reader: dot-stuffing is undone", "[data_reader]") {
    check_every_split("..a\r\n.\r\n", {true, false, ".a\n", ""});
    check_every_split("...\r\n.\r\n", {true, false, "..\n", ""});
}

TEST_CASE("data_reader: smuggling sequences never end the message", "[data_reader]") {
    // \n.\n, \n.\r\n, \r\n.\n, \r.\r\n: none of them ends DATA.
    check_every_split("a\n.\nb\n.\r\nc\r\n.\nd\r.\r\ne\r\n.\r\n",
                      {true, false, "a\n\nb\n\nc\n\nd\r.\ne\n", ""});
}

TEST_CASE("data_reader: a long line comes through whole", "[data_reader]") {
    const std::string line(200, 'x');  // over the 64-byte framer limit of the helper
    check_every_split(line + "\r\n.\r\n", {true, false, line + "\n", ""});
}

TEST_CASE("data_reader: past the size limit it reads on to the end", "[data_reader]") {
    check_every_split("0123456789\r\n0123456789\r\n.\r\nNOOP\r\n", {true, true, "", "NOOP\n"}, 20);
    check_every_split("0123456789\r\n.\r\n", {true, false, "0123456789\n", ""}, 12);
}

TEST_CASE("data_reader: regression: a bare CR before the line end is not stored as CRLF",
          "[data_reader]") {
    // Found by fuzzing (tests/fuzz/data_reader_fuzz.cpp): "y\r\r\n" was stored as "y\r\n".
    // Postfix's smtp_get() removes bare CRs received before the line end; so do we, also
    // when the framer cut the line into pieces just before the CRs.
    check_every_split("a\r\r\nb\r\r\r\nc\r\nd\r\n.\r\n", {true, false, "a\nb\nc\nd\n", ""});
    check_every_split("a\r\n.\r\r\n.\r\n", {true, false, "a\n\n", ""});
    const std::string line(62, 'y');  // the 64-byte framer limit falls between the CRs
    check_every_split(line + "\r\r\r\n.\r\n", {true, false, line + "\n", ""});
}
