// MaildirBatch and write_maildir_message on a real temp directory: a copy is head + a byte range
// of another file, lands in new/ only at commit(), and each copy has its own result; a failed
// copy leaves nothing in tmp/ or new/.
#include "spool/maildir.h"

#include "spool/file_util.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <string>
#include <system_error>
#include <vector>

namespace {

using labmta::spool::ensure_maildir;
using labmta::spool::MaildirBatch;
using labmta::spool::open_file;
using labmta::spool::UniqueFd;
using labmta::spool::write_maildir_message;
using labmta::test::list_files;
using labmta::test::read_text_file;
using labmta::test::TempDir;
using labmta::test::write_text_file;

// A file that looks like a queue file: envelope, blank line, message.
struct Source {
    std::string envelope = "version: 1\nqueue-id: X\n\n";
    std::string message;
    UniqueFd fd;

    Source(const std::string& path, std::string text) : message(std::move(text)) {
        write_text_file(path, envelope + message);
        std::error_code error;
        fd = open_file(path, O_RDONLY, 0, error);
        REQUIRE_FALSE(error);
    }
    std::uint64_t offset() const { return envelope.size(); }
    std::uint64_t size() const { return message.size(); }
};

std::string big_message(std::size_t size) {
    std::string text = "Subject: big\n\n";
    for (std::size_t line = 0; text.size() < size; ++line) {
        text += (line % 10 == 0 ? "." : "") + std::to_string(line) + std::string(60, 'x') + "\n";
    }
    return text;
}

}  // namespace

TEST_CASE("maildir: a copy is head + the body range, only in new/ after commit", "[maildir]") {
    TempDir temp;
    const std::string dir = temp / "student";
    REQUIRE_FALSE(ensure_maildir(dir));
    const Source source(temp / "queued", big_message(2'000'000));
    MaildirBatch batch;
    const std::size_t index = batch.add(dir,
                                        "1.M1P1Q1.host",
                                        "Return-Path: <a@b>\n",
                                        source.fd.get(),
                                        source.offset(),
                                        source.size());
    const auto tmp_files = list_files(dir + "/tmp");
    REQUIRE(tmp_files.size() == 1);
    CHECK(tmp_files.front().starts_with("1.M1P1Q1.host."));  // this attempt's own tmp/ name
    CHECK(list_files(dir + "/new").empty());
    batch.commit();
    CHECK_FALSE(batch.error(index));
    CHECK(list_files(dir + "/tmp").empty());
    REQUIRE(list_files(dir + "/new") == std::vector<std::string>{"1.M1P1Q1.host"});
    CHECK(read_text_file(dir + "/new/1.M1P1Q1.host") == "Return-Path: <a@b>\n" + source.message);
}

TEST_CASE("maildir: several copies from one source, in several Maildirs", "[maildir]") {
    TempDir temp;
    const Source source(temp / "queued", big_message(300'000));
    const std::vector<std::string> dirs = {temp / "a", temp / "b", temp / "a"};
    MaildirBatch batch;
    std::vector<std::size_t> indexes;
    for (std::size_t i = 0; i < dirs.size(); ++i) {
        REQUIRE_FALSE(ensure_maildir(dirs[i]));
        indexes.push_back(batch.add(dirs[i],
                                    "copy" + std::to_string(i),
                                    "Delivered-To: " + std::to_string(i) + "\n",
                                    source.fd.get(),
                                    source.offset(),
                                    source.size()));
    }
    batch.commit();
    for (std::size_t i = 0; i < dirs.size(); ++i) {
        INFO(i);
        CHECK_FALSE(batch.error(indexes[i]));
        CHECK(read_text_file(dirs[i] + "/new/copy" + std::to_string(i))
              == "Delivered-To: " + std::to_string(i) + "\n" + source.message);
    }
    CHECK(list_files(temp / "a/new") == std::vector<std::string>{"copy0", "copy2"});
}

TEST_CASE("maildir: a part of the source can be copied, and an empty body", "[maildir]") {
    TempDir temp;
    const std::string dir = temp / "m";
    REQUIRE_FALSE(ensure_maildir(dir));
    const Source source(temp / "queued", "0123456789");
    MaildirBatch batch;
    const std::size_t part = batch.add(dir, "part", "H\n", source.fd.get(), source.offset() + 2, 5);
    const std::size_t empty = batch.add(dir, "empty", "only head\n", -1, 0, 0);
    batch.commit();
    CHECK_FALSE(batch.error(part));
    CHECK_FALSE(batch.error(empty));
    CHECK(read_text_file(dir + "/new/part") == "H\n23456");
    CHECK(read_text_file(dir + "/new/empty") == "only head\n");
}

TEST_CASE("maildir: a body range past the source's end fails only that copy", "[maildir]") {
    TempDir temp;
    const std::string dir = temp / "m";
    REQUIRE_FALSE(ensure_maildir(dir));
    const Source source(temp / "queued", "short message\n");
    MaildirBatch batch;
    const std::size_t bad =
        batch.add(dir, "bad", "H\n", source.fd.get(), source.offset(), source.size() + 100);
    const std::size_t good =
        batch.add(dir, "good", "H\n", source.fd.get(), source.offset(), source.size());
    batch.commit();
    CHECK(batch.error(bad));
    CHECK_FALSE(batch.error(good));
    CHECK(list_files(dir + "/tmp").empty());
    CHECK(list_files(dir + "/new") == std::vector<std::string>{"good"});
    CHECK(read_text_file(dir + "/new/good") == "H\nshort message\n");
}

TEST_CASE("maildir: a bad body fd or unsafe name fails only that copy", "[maildir]") {
    TempDir temp;
    const std::string dir = temp / "m";
    REQUIRE_FALSE(ensure_maildir(dir));
    MaildirBatch batch;
    const std::size_t bad_fd = batch.add(dir, "badfd", "H\n", -1, 0, 10);
    const std::size_t slash = batch.add(dir, "../escape", "H\n", -1, 0, 0);
    const std::size_t dots = batch.add(dir, "..", "H\n", -1, 0, 0);
    const std::size_t good = batch.add(dir, "good", "fine\n", -1, 0, 0);
    batch.commit();
    CHECK(batch.error(bad_fd));
    CHECK(batch.error(slash) == std::errc::invalid_argument);
    CHECK(batch.error(dots) == std::errc::invalid_argument);
    CHECK_FALSE(batch.error(good));
    CHECK(list_files(dir + "/tmp").empty());
    CHECK(list_files(dir + "/new") == std::vector<std::string>{"good"});
    CHECK(list_files(temp.path()).empty());  // nothing escaped the Maildir
}

TEST_CASE("maildir: a tmp file left by a crashed attempt is left alone, the copy arrives",
          "[maildir]") {
    TempDir temp;
    const std::string dir = temp / "m";
    REQUIRE_FALSE(ensure_maildir(dir));
    write_text_file(dir + "/tmp/taken", "someone else's");
    MaildirBatch batch;
    const std::size_t index = batch.add(dir, "taken", "mine\n", -1, 0, 0);
    batch.commit();
    CHECK_FALSE(batch.error(index));
    CHECK_FALSE(batch.already_delivered(index));
    CHECK(read_text_file(dir + "/tmp/taken") == "someone else's");
    CHECK(read_text_file(dir + "/new/taken") == "mine\n");
}

TEST_CASE("maildir: a copy already in new/ is never replaced nor written twice", "[maildir]") {
    TempDir temp;
    const std::string dir = temp / "m";
    REQUIRE_FALSE(ensure_maildir(dir));
    write_text_file(dir + "/new/name", "delivered before the crash");
    MaildirBatch batch;
    const std::size_t index = batch.add(dir, "name", "again\n", -1, 0, 0);
    batch.commit();
    CHECK_FALSE(batch.error(index));
    CHECK(batch.already_delivered(index));
    CHECK(read_text_file(dir + "/new/name") == "delivered before the crash");
    CHECK(list_files(dir + "/new").size() == 1);
    CHECK(list_files(dir + "/tmp").empty());
}

TEST_CASE("maildir: write_maildir_message stores content as new/<name>", "[maildir]") {
    TempDir temp;
    const std::string dir = temp / "m";
    REQUIRE_FALSE(ensure_maildir(dir));
    const std::string content = big_message(100'000);
    CHECK_FALSE(write_maildir_message(dir, "one", content));
    CHECK(read_text_file(dir + "/new/one") == content);
    CHECK(list_files(dir + "/tmp").empty());
    CHECK(write_maildir_message(dir, "a/b", content) == std::errc::invalid_argument);
    CHECK(write_maildir_message(temp / "missing", "two", content));
    CHECK(list_files(dir + "/new") == std::vector<std::string>{"one"});
}

TEST_CASE("maildir: unique_name_of_batch_tmp finds the name inside a batch's tmp/ file name",
          "[maildir]") {
    using labmta::spool::unique_name_of_batch_tmp;
    CHECK(unique_name_of_batch_tmp("1.M0QABR0.host.d.42.7") == "1.M0QABR0.host.d");
    CHECK(unique_name_of_batch_tmp("name.1.0") == "name");
    CHECK(unique_name_of_batch_tmp("1.M0QABR0.host.d").empty());  // the final name itself
    CHECK(unique_name_of_batch_tmp("name.x.7").empty());
    CHECK(unique_name_of_batch_tmp("name.42.").empty());
    CHECK(unique_name_of_batch_tmp(".42.7").empty());
    CHECK(unique_name_of_batch_tmp("42.7").empty());
    CHECK(unique_name_of_batch_tmp("").empty());
}
