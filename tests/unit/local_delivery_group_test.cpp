// deliver_local_group on a real temp spool: several queued messages in one run, one report
// each in order; a message whose recipients are all done is removed, one with recipients left
// gets "done" marks; big messages are copied byte for byte from the queue file.
#include "spool/local_delivery.h"
#include "spool/spool.h"
#include "tests/support/files.h"
#include "tests/support/spool_fixture.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using labmta::spool::deliver_local_group;
using labmta::spool::DeliveryStatus;
using labmta::spool::LocalDeliveryReport;
using labmta::spool::QueueFile;
using labmta::spool::Spool;
using labmta::test::kArrivalUs;
using labmta::test::list_files;
using labmta::test::make_queue_file;
using labmta::test::read_text_file;
const std::vector<std::string> kLocalDomains = {"domain.local"};

struct Fixture : labmta::test::SpoolFixture {
    Fixture() : SpoolFixture(3) {}

    std::string queue(std::vector<std::string> recipients,
                      std::string message,
                      std::string sender = "joiakim@domain.local") {
        return commit(
            make_queue_file(std::move(recipients), std::move(message), std::move(sender)));
    }

    std::vector<LocalDeliveryReport> deliver(const std::vector<std::string>& ids_to_deliver) {
        return deliver_local_group(spool, ids_to_deliver, kLocalDomains, "profbox.domain.local");
    }

    std::string new_dir(const std::string& user) const {
        return spool.mailboxes_dir() + "/domain.local/" + user + "/new";
    }

    // The contents of every file in user's new/, sorted.
    std::vector<std::string> delivered_to(const std::string& user) const {
        std::vector<std::string> contents;
        for (const std::string& name : list_files(new_dir(user))) {
            contents.push_back(read_text_file(new_dir(user) + "/" + name));
        }
        std::sort(contents.begin(), contents.end());
        return contents;
    }
};

std::string maildir_copy(const std::string& sender,
                         const std::string& recipient,
                         const std::string& message) {
    return "Return-Path: <" + sender + ">\nDelivered-To: " + recipient + "\n" + message;
}

std::string big_message(std::size_t size, char fill) {
    std::string text = "Subject: big " + std::string(1, fill) + "\n\n";
    for (std::size_t line = 0; text.size() < size; ++line) {
        text += (line % 7 == 0 ? "." : "") + std::string(70 + line % 13, fill) + "\n";
    }
    return text;
}

}  // namespace

TEST_CASE("local_delivery: a group gets one report per message, in order", "[local_delivery]") {
    Fixture f;
    const std::string first = f.queue({"student@domain.local"}, "Subject: one\n\nfirst\n");
    const std::string second =
        f.queue({"prof@domain.local", "student@domain.local"}, "Subject: two\n\nsecond\n", "");
    const std::string third = f.queue({"prof@domain.local"}, "Subject: three\n\nthird\n");
    const auto reports = f.deliver({first, second, third});
    REQUIRE(reports.size() == 3);
    for (const LocalDeliveryReport& report : reports) {
        CHECK_FALSE(report.load_error);
        CHECK(report.removed);
        CHECK(report.arrival_us == kArrivalUs);
        for (const auto& result : report.results) {
            CHECK(result.status == DeliveryStatus::Sent);
            CHECK(result.dsn == "2.0.0");
        }
    }
    CHECK(reports[0].sender == "joiakim@domain.local");
    CHECK(reports[1].sender.empty());
    REQUIRE(reports[0].results.size() == 1);
    REQUIRE(reports[1].results.size() == 2);
    REQUIRE(reports[2].results.size() == 1);
    CHECK(reports[1].results[0].recipient == "prof@domain.local");
    CHECK(reports[1].results[1].recipient == "student@domain.local");
    CHECK(f.spool.list_queue().empty());
    CHECK(
        f.delivered_to("student")
        == std::vector<std::string>{
            maildir_copy("", "student@domain.local", "Subject: two\n\nsecond\n"),
            maildir_copy("joiakim@domain.local", "student@domain.local", "Subject: one\n\nfirst\n"),
        });
    CHECK(
        f.delivered_to("prof")
        == std::vector<std::string>{
            maildir_copy("", "prof@domain.local", "Subject: two\n\nsecond\n"),
            maildir_copy("joiakim@domain.local", "prof@domain.local", "Subject: three\n\nthird\n"),
        });
}

TEST_CASE("local_delivery: in a group, a partly remote message gets done marks and stays",
          "[local_delivery]") {
    Fixture f;
    const std::string local = f.queue({"student@domain.local"}, "Subject: local\n\nx\n");
    const std::string mixed =
        f.queue({"someone@example.org", "prof@domain.local", "student@domain.local"},
                "Subject: mixed\n\ny\n");
    const auto reports = f.deliver({local, mixed});
    REQUIRE(reports.size() == 2);
    CHECK(reports[0].removed);
    CHECK_FALSE(reports[1].removed);
    REQUIRE(reports[1].results.size() == 2);
    CHECK(reports[1].results[0].recipient == "prof@domain.local");
    CHECK(reports[1].results[1].recipient == "student@domain.local");
    CHECK(f.spool.list_queue() == std::vector<std::string>{mixed});
    std::error_code error;
    const auto file = f.spool.load(mixed, error);
    REQUIRE(file);
    CHECK(file->delivered == std::vector<bool>{false, true, true});
    CHECK(file->message == "Subject: mixed\n\ny\n");
    CHECK(f.delivered_to("student").size() == 2);
    CHECK(f.delivered_to("prof").size() == 1);

    // The next run delivers nothing twice and leaves the remote recipient pending.
    const auto again = f.deliver({mixed});
    REQUIRE(again.size() == 1);
    CHECK(again[0].results.empty());
    CHECK_FALSE(again[0].removed);
    CHECK(f.delivered_to("student").size() == 2);
}

TEST_CASE("local_delivery: in a group, a missing message does not stop the others",
          "[local_delivery]") {
    Fixture f;
    const std::string first = f.queue({"student@domain.local"}, "Subject: a\n\na\n");
    const std::string last = f.queue({"student@domain.local"}, "Subject: b\n\nb\n");
    const auto reports = f.deliver({first, "0193A5C2F10A", "../x", last});
    REQUIRE(reports.size() == 4);
    CHECK(reports[0].removed);
    CHECK(reports[1].load_error == std::errc::no_such_file_or_directory);
    CHECK(reports[1].results.empty());
    CHECK_FALSE(reports[1].removed);
    CHECK(reports[2].load_error == std::errc::invalid_argument);
    CHECK_FALSE(reports[2].removed);
    CHECK(reports[3].removed);
    CHECK(f.spool.list_queue().empty());
    CHECK(f.delivered_to("student").size() == 2);
}

TEST_CASE("local_delivery: in a group, a mailbox that cannot be made fails each of its copies",
          "[local_delivery]") {
    // A group checks each Maildir once (not once per copy): a mailbox that cannot be made
    // still fails every copy for it, in every message of the group, and the others arrive.
    Fixture f;
    std::filesystem::create_directories(f.spool.mailboxes_dir() + "/domain.local");
    labmta::test::write_text_file(f.spool.mailboxes_dir() + "/domain.local/prof", "not a folder");
    const std::string first =
        f.queue({"prof@domain.local", "student@domain.local"}, "Subject: a\n\na\n");
    const std::string second = f.queue({"prof@domain.local"}, "Subject: b\n\nb\n");
    const auto reports = f.deliver({first, second});
    REQUIRE(reports.size() == 2);
    for (const LocalDeliveryReport& report : reports) {
        CHECK_FALSE(report.removed);
        const auto prof =
            std::find_if(report.results.begin(), report.results.end(), [](const auto& r) {
                return r.recipient == "prof@domain.local";
            });
        REQUIRE(prof != report.results.end());
        CHECK(prof->status == DeliveryStatus::Deferred);
        CHECK(prof->dsn == "4.3.0");
    }
    CHECK(f.delivered_to("student").size() == 1);
    CHECK(f.spool.list_queue().size() == 2);
}

TEST_CASE("local_delivery: big messages in a group are copied byte for byte", "[local_delivery]") {
    Fixture f;
    const std::string big_a = big_message(3'000'000, 'a');
    const std::string big_b = big_message(1'500'001, 'b');
    const std::string a = f.queue({"student@domain.local", "prof@domain.local"}, big_a);
    const std::string b = f.queue({"student@domain.local"}, big_b);
    const auto reports = f.deliver({a, b});
    REQUIRE(reports.size() == 2);
    CHECK(reports[0].removed);
    CHECK(reports[1].removed);
    CHECK(f.delivered_to("student")
          == std::vector<std::string>{
              maildir_copy("joiakim@domain.local", "student@domain.local", big_a),
              maildir_copy("joiakim@domain.local", "student@domain.local", big_b),
          });
    CHECK(f.delivered_to("prof")
          == std::vector<std::string>{
              maildir_copy("joiakim@domain.local", "prof@domain.local", big_a)});
    CHECK(list_files(f.spool.mailboxes_dir() + "/domain.local/student/tmp").empty());
}

TEST_CASE("local_delivery: a group with an empty message still delivers it", "[local_delivery]") {
    Fixture f;
    const std::string empty = f.queue({"student@domain.local"}, "");
    const auto reports = f.deliver({empty});
    REQUIRE(reports.size() == 1);
    CHECK(reports[0].removed);
    CHECK(f.delivered_to("student")
          == std::vector<std::string>{
              maildir_copy("joiakim@domain.local", "student@domain.local", "")});
}

TEST_CASE("local_delivery: an empty group does nothing", "[local_delivery]") {
    Fixture f;
    const std::string kept = f.queue({"student@domain.local"}, "Subject: s\n\nx\n");
    CHECK(f.deliver({}).empty());
    CHECK(f.spool.list_queue() == std::vector<std::string>{kept});
}
