// Tests of the dialog fixture helper (tests/support/dialog.h): parsing, grouping into turns,
// placeholder matching, and that every shipped fixture parses.
#include "tests/support/dialog.h"

#include <catch2/catch.hpp>

#include <filesystem>

using labmta::test::describe_reply_mismatch;
using labmta::test::DialogError;
using labmta::test::DialogSide;
using labmta::test::group_exchanges;
using labmta::test::load_dialog;
using labmta::test::parse_dialog;
using labmta::test::reply_line_matches;
using labmta::test::split_reply_lines;

TEST_CASE("dialog: C: and S: lines become steps, comments and blank lines are skipped",
          "[dialog]") {
    const auto steps = parse_dialog(
        "# a comment\n"
        "S: 220 host ESMTP\r\n"
        "\n"
        "C: HELO x\n"
        "C: \n"
        "C:\n"
        "S: 250 host\n",
        "inline");
    REQUIRE(steps.size() == 5);
    CHECK(steps[0].side == DialogSide::Server);
    CHECK(steps[0].text == "220 host ESMTP");
    CHECK(steps[0].line_number == 2);
    CHECK(steps[1].side == DialogSide::Client);
    CHECK(steps[1].text == "HELO x");
    CHECK(steps[2].text.empty());
    CHECK(steps[3].text.empty());
    CHECK(steps[4].line_number == 7);
}

TEST_CASE("dialog: client text keeps leading dots and inner spaces", "[dialog]") {
    const auto steps = parse_dialog("C: ..hidden line\nC:  two spaces\n", "inline");
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].text == "..hidden line");
    CHECK(steps[1].text == " two spaces");
}

TEST_CASE("dialog: a line that is not C:, S: or a comment is an error naming its line",
          "[dialog]") {
    CHECK_THROWS_AS(parse_dialog("S: 220 x\nX: what\n", "f.txt"), DialogError);
    CHECK_THROWS_WITH(parse_dialog("S: 220 x\nX: what\n", "f.txt"),
                      Catch::Matchers::StartsWith("f.txt:2:"));
    CHECK_THROWS_AS(parse_dialog("S: \n", "f.txt"), DialogError);
    CHECK_THROWS_AS(parse_dialog("C:HELO\n", "f.txt"), DialogError);
}

TEST_CASE("dialog: a missing fixture file is an error", "[dialog]") {
    CHECK_THROWS_AS(load_dialog("/nonexistent/labmta/fixture.txt"), DialogError);
}

TEST_CASE("dialog: steps group into turns of client lines then expected replies", "[dialog]") {
    const auto exchanges =
        group_exchanges(parse_dialog("S: 220 greeting\n"
                                     "C: EHLO x\n"
                                     "S: 250-host\n"
                                     "S: 250 8BITMIME\n"
                                     "C: DATA\n"
                                     "S: 354 go\n"
                                     "C: line\n"
                                     "C: .\n"
                                     "S: 250 ok\n"
                                     "C: QUIT\n",
                                     "inline"));
    REQUIRE(exchanges.size() == 5);
    CHECK(exchanges[0].client_lines.empty());
    CHECK(exchanges[0].expected_lines.size() == 1);
    CHECK(exchanges[1].client_lines.size() == 1);
    CHECK(exchanges[1].expected_lines.size() == 2);
    CHECK(exchanges[3].client_lines.size() == 2);
    CHECK(exchanges[3].expected_lines.size() == 1);
    CHECK(exchanges[4].client_lines.size() == 1);
    CHECK(exchanges[4].expected_lines.empty());
}

TEST_CASE("dialog: literal patterns match byte for byte", "[dialog]") {
    CHECK(reply_line_matches("250 2.1.0 Ok", "250 2.1.0 Ok"));
    CHECK_FALSE(reply_line_matches("250 2.1.0 Ok", "250 2.1.0 OK"));
    CHECK_FALSE(reply_line_matches("250 2.1.0 Ok", "250 2.1.0 Ok "));
    CHECK_FALSE(reply_line_matches("250 2.1.0 Ok", "250 2.1.0 O"));
    CHECK(reply_line_matches("", ""));
}

TEST_CASE("dialog: {QUEUE_ID} matches 10 to 20 upper-case hex digits", "[dialog]") {
    const std::string_view pattern = "250 2.0.0 Ok: queued as {QUEUE_ID}";
    CHECK(reply_line_matches(pattern, "250 2.0.0 Ok: queued as 0193A5C2F10A"));
    CHECK(reply_line_matches(pattern, "250 2.0.0 Ok: queued as 0123456789"));
    CHECK(reply_line_matches(pattern, "250 2.0.0 Ok: queued as 0123456789ABCDEF0123"));
    CHECK_FALSE(reply_line_matches(pattern, "250 2.0.0 Ok: queued as 00DBFCCDA"));
    CHECK_FALSE(reply_line_matches(pattern, "250 2.0.0 Ok: queued as 0123456789ABCDEF01234"));
    CHECK_FALSE(reply_line_matches(pattern, "250 2.0.0 Ok: queued as 0193a5c2f10a"));
    CHECK_FALSE(reply_line_matches(pattern, "250 2.0.0 Ok: queued as 0193A5C2F10G"));
    CHECK(reply_line_matches("id {QUEUE_ID} done", "id 0193A5C2F10A done"));
    CHECK_FALSE(reply_line_matches("id {QUEUE_ID} done", "id 0193A5C2F10A  done"));
}

TEST_CASE("dialog: {ANY} matches any rest of the line, including nothing", "[dialog]") {
    CHECK(reply_line_matches("214 2.0.0 Commands: {ANY}", "214 2.0.0 Commands: HELO EHLO"));
    CHECK(reply_line_matches("214 2.0.0 Commands: {ANY}", "214 2.0.0 Commands: "));
    CHECK_FALSE(reply_line_matches("214 2.0.0 Commands: {ANY}", "214 2.0.0 Command"));
    CHECK(reply_line_matches("{ANY} Bye", "221 2.0.0 Bye"));
}

TEST_CASE("dialog: server output splits into lines at CRLF, flagging bad endings", "[dialog]") {
    using Lines = std::vector<std::string>;
    CHECK(split_reply_lines("") == Lines{});
    CHECK(split_reply_lines("250-a\r\n250 b\r\n") == Lines{"250-a", "250 b"});
    CHECK(split_reply_lines("250 a\n") == Lines{"250 a <bare LF>"});
    CHECK(split_reply_lines("250 a\r\n250 b") == Lines{"250 a", "250 b <no line end>"});
}

TEST_CASE("dialog: mismatches are described with the fixture line", "[dialog]") {
    const auto expected = parse_dialog("S: 250-host\nS: 250 8BITMIME\n", "inline");
    CHECK(describe_reply_mismatch(expected, {"250-host", "250 8BITMIME"}).empty());
    CHECK(describe_reply_mismatch(expected, {"250-host", "250 SIZE"})
          == "line 2: expected \"250 8BITMIME\", got \"250 SIZE\"");
    CHECK(describe_reply_mismatch(expected, {"250-host"})
          == "line 2: expected \"250 8BITMIME\", got no more reply lines");
    CHECK(describe_reply_mismatch(expected, {"250-host", "250 8BITMIME", "250 more"})
          == "unexpected extra reply line \"250 more\"");
}

TEST_CASE("dialog: every shipped fixture parses and starts with the greeting", "[dialog]") {
    namespace fs = std::filesystem;
    int count = 0;
    for (const auto& entry : fs::directory_iterator(LABMTA_FIXTURES_DIR)) {
        if (entry.path().extension() != ".txt") {
            continue;
        }
        INFO(entry.path().string());
        const auto steps = load_dialog(entry.path().string());
        REQUIRE_FALSE(steps.empty());
        CHECK(steps.front().side == DialogSide::Server);
        CHECK(steps.front().text == "220 profbox.domain.local ESMTP labmta");
        ++count;
    }
    CHECK(count > 0);
}
