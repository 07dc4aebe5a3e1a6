// libFuzzer target: the DATA reader behind the line framer. Whatever the bytes and wherever
// TCP splits them, the result is the same, and the stored message has LF line ends only.
#include "common/line_framer.h"
#include "server/protocol/data_reader.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using labmta::common::LineFramer;
using labmta::protocol::DataReader;

constexpr std::size_t kLineLimit = 64;
constexpr std::size_t kMaxMessageBytes = 1024;

struct ReadResult {
    bool ended = false;
    bool too_big = false;
    std::size_t size_bytes = 0;
    std::string message;
    std::string rest;  // the lines after the end of data, each followed by "\n"
    bool operator==(const ReadResult&) const = default;
};

// Feeds `input` in two parts, cut at `cut`, as the session does after "354".
ReadResult read_data(std::string_view input, std::size_t cut) {
    LineFramer framer(kLineLimit);
    DataReader reader(kMaxMessageBytes);
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
    while (const auto line = framer.next()) {
        result.rest += std::string(line->text) + "\n";
    }
    result.too_big = reader.is_too_big();
    result.size_bytes = reader.size_bytes();
    result.message = reader.take_message();
    return result;
}

[[noreturn]] void fail(const char* what, std::string_view input, std::size_t cut) {
    std::fprintf(stderr,
                 "data_reader_fuzz: %s (cut at %zu): '%.*s'\n",
                 what,
                 cut,
                 static_cast<int>(input.size()),
                 input.data());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
    const std::size_t cut = (std::size_t{data[0]} << 8 | data[1]) % (input.size() + 1);

    const ReadResult whole = read_data(input, input.size());
    const ReadResult split = read_data(input, cut);
    if (!(whole == split)) {
        fail("result depends on where the input is split", input, cut);
    }
    if (whole.message.find("\r\n") != std::string::npos) {
        fail("message contains CRLF", input, cut);
    }
    if (whole.too_big != (whole.size_bytes > kMaxMessageBytes)) {
        fail("too_big disagrees with size_bytes", input, cut);
    }
    if (whole.too_big ? !whole.message.empty() : whole.message.size() > kMaxMessageBytes) {
        fail("message kept beyond the size limit", input, cut);
    }
    return 0;
}
