// The DATA reader's streaming side: the message taken in parts at line starts (as the session
// streams a big message to disk) joins up to the message taken whole; buffered_bytes(),
// at_line_start() and the Received: count. Fed through the line framer with the input split
// at every byte offset, as the style guide asks.
#include "common/line_framer.h"
#include "server/protocol/data_reader.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

using labmta::common::LineFramer;
using labmta::protocol::DataReader;

struct StreamResult {
    bool ended = false;
    std::string whole;               // every part joined, then the last take_message()
    std::vector<std::string> parts;  // what was taken before the end
    std::size_t received = 0;
    std::size_t size_bytes = 0;
    bool parts_end_in_lf = true;  // each part taken ended a line
};

// Feeds input in two pieces cut at cut; whenever the reader is at a line start with at least
// stream_bytes buffered, takes a part, as Session::handle_data_line does.
StreamResult stream_data(std::string_view input,
                         std::size_t cut,
                         std::size_t stream_bytes,
                         std::size_t line_limit = 64,
                         std::size_t max_bytes = 1'000'000) {
    LineFramer framer(line_limit);
    DataReader reader(max_bytes);
    StreamResult result;
    for (const std::string_view piece : {input.substr(0, cut), input.substr(cut)}) {
        framer.feed(piece);
        while (!result.ended) {
            const auto line = framer.next();
            if (!line) {
                break;
            }
            result.ended = reader.on_line(*line);
            if (!result.ended && reader.at_line_start()
                && reader.buffered_bytes() >= stream_bytes) {
                std::string part = reader.take_message();
                CHECK(reader.buffered_bytes() == 0);
                result.parts_end_in_lf = result.parts_end_in_lf && part.ends_with('\n');
                result.whole += part;
                result.parts.push_back(std::move(part));
            }
        }
    }
    result.received = reader.received_headers();
    result.size_bytes = reader.size_bytes();
    result.whole += reader.take_message();
    return result;
}

std::string whole_message(std::string_view input, std::size_t line_limit = 64) {
    return stream_data(input, input.size(), static_cast<std::size_t>(-1), line_limit).whole;
}

// "Subject: ...", long lines, dot-stuffed lines, bare CRs before line ends, a line of "..".
std::string sample_input() {
    std::string input = "Received: from a\r\nreceived: from b\r\nSubject: streamed\r\n\r\n";
    for (int i = 0; i < 12; ++i) {
        input += "body " + std::to_string(i) + "\r\n";
        input += "..dot stuffed " + std::to_string(i) + "\r\n";
        input += std::string(150, static_cast<char>('a' + i)) + "\r\n";  // over the line limit
        input += "...\r\n";                                              // ".." in the message
        input += "cr before end\r\r\n";
    }
    input += "Received: in the body does not count\r\n.\r\n";
    return input;
}

}  // namespace

TEST_CASE("data_reader: the message taken in parts joins up to the whole message",
          "[data_reader]") {
    const std::string input = sample_input();
    const std::string expected = whole_message(input);
    REQUIRE(expected.find("\n..\n") != std::string::npos);
    REQUIRE(expected.find('\r') == std::string::npos);
    for (const std::size_t stream_bytes : {1u, 50u, 200u, 1000u}) {
        for (std::size_t cut = 0; cut <= input.size(); ++cut) {
            INFO("stream_bytes " << stream_bytes << ", cut at " << cut);
            const StreamResult got = stream_data(input, cut, stream_bytes);
            CHECK(got.ended);
            CHECK(got.whole == expected);
            CHECK(got.parts_end_in_lf);
            CHECK_FALSE(got.parts.empty());
            CHECK(got.received == 2);
        }
    }
}

TEST_CASE("data_reader: buffered_bytes is what take_message would return", "[data_reader]") {
    LineFramer framer(64);
    DataReader reader(1000);
    CHECK(reader.buffered_bytes() == 0);
    CHECK(reader.at_line_start());
    framer.feed("Subject: x\r\n\r\n..body\r\n");
    std::size_t lines = 0;
    while (auto line = framer.next()) {
        CHECK_FALSE(reader.on_line(*line));
        ++lines;
    }
    CHECK(lines == 3);
    CHECK(reader.buffered_bytes() == std::string("Subject: x\n\n.body\n").size());
    CHECK(reader.take_message() == "Subject: x\n\n.body\n");
    CHECK(reader.buffered_bytes() == 0);
    CHECK(reader.take_message().empty());
    // Taking does not reset the size count: the limit is for the whole message.
    CHECK(reader.size_bytes() == std::string("Subject: x\r\n\r\n.body\r\n").size());
}

TEST_CASE("data_reader: at_line_start is false in the middle of an over-long line",
          "[data_reader]") {
    LineFramer framer(16);
    DataReader reader(1000);
    framer.feed(std::string(40, 'x') + "\r\n");
    std::vector<bool> starts;
    while (auto line = framer.next()) {
        CHECK_FALSE(reader.on_line(*line));
        starts.push_back(reader.at_line_start());
    }
    REQUIRE(starts.size() >= 2);
    CHECK(starts.back());
    starts.pop_back();
    for (const bool start : starts) {
        CHECK_FALSE(start);
    }
    CHECK(reader.take_message() == std::string(40, 'x') + "\n");
}

TEST_CASE("data_reader: parts past the size limit are dropped and it reads on to the end",
          "[data_reader]") {
    std::string input;
    for (int i = 0; i < 40; ++i) {
        input += std::string(30, 'z') + "\r\n";
    }
    input += ".\r\nNOOP\r\n";
    for (std::size_t cut = 0; cut <= input.size(); cut += 7) {
        INFO("cut at " << cut);
        LineFramer framer(64);
        DataReader reader(500);
        framer.feed(input.substr(0, cut));
        framer.feed(input.substr(cut));
        bool ended = false;
        std::size_t taken_after_too_big = 0;
        while (!ended) {
            const auto line = framer.next();
            REQUIRE(line);
            ended = reader.on_line(*line);
            if (reader.is_too_big()) {
                taken_after_too_big += reader.take_message().size();
            }
        }
        CHECK(reader.is_too_big());
        CHECK(taken_after_too_big == 0);
        CHECK(reader.buffered_bytes() == 0);
        const auto rest = framer.next();
        REQUIRE(rest);
        CHECK(rest->text == "NOOP");
    }
}

TEST_CASE("data_reader: Received: fields are counted in the header section only", "[data_reader]") {
    const std::string headers =
        "Received: 1\r\nRECEIVED: 2\r\nX-Received: no\r\n"
        " Received: folded, no\r\n.Received: 3 (dot-stuffed)\r\n"
        "ReceivedX: no\r\n";
    const std::string input = headers + "\r\nReceived: body\r\n.\r\n";
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        INFO("cut at " << cut);
        CHECK(stream_data(input, cut, 8).received == 3);
    }
    // No blank line: every line counts, as the old count over the stored message did.
    CHECK(stream_data("Received: a\r\nbody\r\nReceived: b\r\n.\r\n", 0, 1000).received == 2);
    // A bare LF line ends the headers too: it is stored as an empty line.
    CHECK(stream_data("Received: a\r\n\nReceived: b\r\n.\r\n", 0, 1000).received == 1);
}

TEST_CASE("data_reader: the hop count stops where the stored header section ends",
          "[data_reader]") {
    // "\r\r\n" is stored as an empty line (bare CRs before a line end are dropped), so the
    // header section of the stored message ends there, and the Received: lines after it are
    // body text: cleanup treats them as body, and so must the hop count.
    const std::string input =
        "Subject: x\r\n\r\r\nReceived: in the body\r\nReceived: again\r\n.\r\n";
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        INFO("cut at " << cut);
        const StreamResult got = stream_data(input, cut, 1000);
        REQUIRE(got.whole == "Subject: x\n\nReceived: in the body\nReceived: again\n");
        CHECK(got.received == 0);
    }
}
