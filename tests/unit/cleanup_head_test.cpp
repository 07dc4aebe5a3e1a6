// cleanup_head: the cleaned-up start of a message known only by its first bytes (a big message
// streamed to disk). With complete == true it must agree with cleanup_message; otherwise only
// whole lines count, and a header section that goes on past them is ended there.
#include "spool/cleanup.h"
#include "tests/support/cleanup_fixture.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

using labmta::common::Envelope;
using labmta::spool::cleanup_head;
using labmta::spool::cleanup_message;
using labmta::spool::CleanupHead;
using labmta::spool::CleanupInput;

using labmta::test::arrival_date;
using labmta::test::date_and_id;
using labmta::test::kNewId;
using labmta::test::lab_cleanup_input;
using labmta::test::lab_envelope;
using labmta::test::received_one_rcpt;

CleanupHead head_of(std::string_view raw_start, bool complete) {
    const Envelope envelope = lab_envelope();
    const CleanupInput input = lab_cleanup_input(envelope);
    return cleanup_head(raw_start, complete, input);
}

std::string cleaned_whole(std::string_view raw) {
    const Envelope envelope = lab_envelope();
    const CleanupInput input = lab_cleanup_input(envelope);
    return cleanup_message(raw, input).message;
}

// The messages cleanup_test.cpp covers, and a few more shapes.
const std::vector<std::string> kSamples = {
    "",
    "\n",
    "Hello\n",
    "Subject: s\n\nbody\n",
    "Subject: s\n\nno newline",
    "Subject: only headers",
    "Subject: only headers\n",
    "Message-ID: <x@y>\nThis is the body message !\n",
    "Date: Mon, 1 Jan 2024 00:00:00 +0000\nSubject: s\n\nbody\n",
    "Message-ID:\n <folded@example.org>\nSubject: s\n\nbody\n",
    "Subject: s\n\nDate: not a header\nMessage-ID: <body@x>\n",
    "Subject: s\r\nX-Odd:\n\tcontinued\n\nFrom the start\n.\n..\n\n\n",
    " indented: x\n",
};

}  // namespace

TEST_CASE("cleanup_head: the header size limit is Postfix's 102400", "[cleanup]") {
    STATIC_REQUIRE(labmta::spool::kHeaderSizeLimit == 102400);
}

TEST_CASE("cleanup_head: complete, head + the rest is exactly cleanup_message", "[cleanup]") {
    for (const std::string& raw : kSamples) {
        INFO("raw: " << raw);
        const CleanupHead head = head_of(raw, true);
        REQUIRE(head.raw_consumed <= raw.size());
        std::string joined = head.head + raw.substr(head.raw_consumed);
        if (joined.back() != '\n') {
            joined.push_back('\n');
        }
        CHECK(joined == cleaned_whole(raw));
        CHECK(cleaned_whole(raw).starts_with(head.head));
        const Envelope envelope = lab_envelope();
        const CleanupInput input = lab_cleanup_input(envelope);
        CHECK(head.message_id == cleanup_message(raw, input).message_id);
    }
}

TEST_CASE("cleanup_head: complete, the head of the lab message", "[cleanup]") {
    const std::string raw = "SUBJECT: Test msg\n\nHello,\nDasek Joiakim\n";
    const CleanupHead head = head_of(raw, true);
    CHECK(head.head == received_one_rcpt() + "SUBJECT: Test msg\n" + date_and_id());
    CHECK(head.raw_consumed == std::string("SUBJECT: Test msg\n").size());
    CHECK(raw.substr(head.raw_consumed) == "\nHello,\nDasek Joiakim\n");
    CHECK(head.message_id == kNewId);
}

TEST_CASE("cleanup_head: a prefix that holds the blank line gives the same head at every cut",
          "[cleanup]") {
    const std::string raw =
        "From: a@b\nMessage-ID: <own@example.org>\nSubject: s\n\n"
        "body line one\nbody line two\n.\n..\nlast\n";
    const CleanupHead whole = head_of(raw, true);
    const std::size_t blank = raw.find("\n\n") + 1;
    for (std::size_t cut = blank + 1; cut <= raw.size(); ++cut) {
        INFO("cut at " << cut);
        const CleanupHead head = head_of(std::string_view(raw).substr(0, cut), false);
        CHECK(head.head == whole.head);
        CHECK(head.raw_consumed == whole.raw_consumed);
        CHECK(head.message_id == "<own@example.org>");
    }
}

TEST_CASE("cleanup_head: a header section past the prefix is ended at the last whole line",
          "[cleanup]") {
    const std::string prefix = "Subject: s\nX-A: 1\nX-B: cut in the mid";
    const CleanupHead head = head_of(prefix, false);
    CHECK(head.head == received_one_rcpt() + "Subject: s\nX-A: 1\n" + date_and_id() + "\n");
    CHECK(head.raw_consumed == std::string("Subject: s\nX-A: 1\n").size());
    CHECK(head.message_id == kNewId);
    // The unfinished line is body from here on: it is what follows head in the queue file.
    CHECK(prefix.substr(head.raw_consumed) == "X-B: cut in the mid");
}

TEST_CASE("cleanup_head: a prefix that ends with a whole header line gets the blank line",
          "[cleanup]") {
    const std::string prefix = "Subject: s\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n";
    const CleanupHead head = head_of(prefix, false);
    CHECK(head.head
          == received_one_rcpt() + prefix + "Message-ID: " + std::string(kNewId) + "\n\n");
    CHECK(head.raw_consumed == prefix.size());
}

TEST_CASE("cleanup_head: a Message-ID only in the unfinished line is not seen", "[cleanup]") {
    const std::string prefix = "Subject: s\nMessage-ID: <late@example.org>";
    const CleanupHead head = head_of(prefix, false);
    CHECK(head.message_id == kNewId);
    CHECK(head.head == received_one_rcpt() + "Subject: s\n" + date_and_id() + "\n");
    CHECK(head.raw_consumed == std::string("Subject: s\n").size());
}

TEST_CASE("cleanup_head: a Message-ID in a whole line of the prefix is kept", "[cleanup]") {
    const std::string prefix = "Message-ID: <early@example.org>\nX-Long: aaaa";
    const CleanupHead head = head_of(prefix, false);
    CHECK(head.message_id == "<early@example.org>");
    CHECK(head.head
          == received_one_rcpt() + "Message-ID: <early@example.org>\nDate: " + arrival_date()
                 + "\n\n");
    CHECK(head.raw_consumed == prefix.find('\n') + 1);
}

TEST_CASE("cleanup_head: a prefix with no LF at all is all body", "[cleanup]") {
    for (const std::string prefix : {"Subject: one very long first line", "", "x"}) {
        INFO("prefix: " << prefix);
        const CleanupHead head = head_of(prefix, false);
        CHECK(head.head == received_one_rcpt() + date_and_id() + "\n");
        CHECK(head.raw_consumed == 0);
        CHECK(head.message_id == kNewId);
    }
}

TEST_CASE("cleanup_head: a body line in the prefix ends the headers as in a whole message",
          "[cleanup]") {
    const std::string prefix = "Subject: s\nnot a header line\nmore bo";
    const CleanupHead head = head_of(prefix, false);
    CHECK(head.head == received_one_rcpt() + "Subject: s\n" + date_and_id() + "\n");
    CHECK(head.raw_consumed == std::string("Subject: s\n").size());
}

TEST_CASE("cleanup_head: incomplete, head + the rest of the message is a well-formed message",
          "[cleanup]") {
    // A header section longer than the prefix: what the queue file holds is head followed by
    // the raw bytes from raw_consumed on, and the client's bytes all survive, in order.
    std::string raw;
    for (int i = 0; i < 200; ++i) {
        raw += "X-Header-" + std::to_string(i) + ": " + std::string(40, 'h') + "\n";
    }
    raw += "\nbody\n";
    const std::size_t prefix_size = 5000;
    const CleanupHead head = head_of(std::string_view(raw).substr(0, prefix_size), false);
    REQUIRE(head.raw_consumed <= prefix_size);
    REQUIRE(head.raw_consumed > 0);
    CHECK(raw[head.raw_consumed - 1] == '\n');
    const std::string stored = head.head + raw.substr(head.raw_consumed);
    CHECK(stored.starts_with(received_one_rcpt() + raw.substr(0, head.raw_consumed) + date_and_id()
                             + "\n"));
    CHECK(stored.ends_with(raw.substr(head.raw_consumed)));
    CHECK(stored.size() == head.head.size() + raw.size() - head.raw_consumed);
}
