// The spool's streaming pieces on a real temp directory: commit_batch with write_tail (the rest
// of a big message written straight into the queue file), open_queued (envelope parsed, the
// message left on disk) and the group form of remove.
#include "spool/file_util.h"
#include "spool/spill_file.h"
#include "spool/spool.h"
#include "tests/support/files.h"
#include "tests/support/spool_fixture.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <system_error>
#include <vector>

namespace {

using labmta::spool::CommitRequest;
using labmta::spool::QueueFile;
using labmta::spool::Spool;
using labmta::test::kArrivalUs;
using labmta::test::list_files;
using labmta::test::read_text_file;
using labmta::test::write_text_file;
using Fixture = labmta::test::SpoolFixture;

QueueFile sample_file(std::string message = "Subject: s\n\nbody\n") {
    QueueFile file = labmta::test::make_queue_file({"student@domain.local", "other@example.org"},
                                                   std::move(message));
    file.envelope.protocol = "ESMTP";
    return file;
}

// Bytes [offset, offset + length) of fd, read with pread.
std::string pread_range(int fd, std::uint64_t offset, std::uint64_t length) {
    std::string out(static_cast<std::size_t>(length), '\0');
    std::size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = ::pread(fd, out.data() + got, out.size() - got, offset + got);
        REQUIRE(n > 0);
        got += static_cast<std::size_t>(n);
    }
    return out;
}

std::string big_body(std::size_t size) {
    std::string body;
    for (std::size_t line = 0; body.size() < size; ++line) {
        body += "line " + std::to_string(line) + " " + std::string(line % 97, 'b') + "\n";
    }
    return body;
}

}  // namespace

TEST_CASE("spool: write_tail adds its bytes after the serialized file", "[spool]") {
    Fixture f;
    std::vector<CommitRequest> requests(1);
    int tail_calls = 0;
    requests[0].build = [](const std::string&) { return sample_file("Subject: s\n\n"); };
    requests[0].write_tail = [&](int fd) {
        ++tail_calls;
        return labmta::spool::write_all(fd, "the tail\nof the message\n");
    };
    f.spool.commit_batch(requests, f.ids);
    REQUIRE_FALSE(requests[0].result.error);
    CHECK(tail_calls == 1);
    const std::string id = requests[0].result.queue_id;
    std::error_code error;
    const auto loaded = f.spool.load(id, error);
    REQUIRE(loaded);
    CHECK(loaded->message == "Subject: s\n\nthe tail\nof the message\n");
    CHECK(list_files(f.root + "/tmp").empty());
}

TEST_CASE("spool: build may set write_tail, and it copies a spill file in", "[spool]") {
    Fixture f;
    std::error_code error;
    labmta::spool::SpillFile spill = labmta::spool::SpillFile::create(f.root + "/tmp", error);
    REQUIRE_FALSE(error);
    const std::string body = big_body(500000);
    REQUIRE_FALSE(spill.append(body));
    std::vector<CommitRequest> requests(1);
    CommitRequest& request = requests[0];
    request.build = [&](const std::string& queue_id) {
        request.write_tail = [&](int fd) {
            return labmta::spool::copy_file_part(spill.fd(), 0, spill.size(), fd);
        };
        return sample_file("Received: id " + queue_id + "\nSubject: big\n\n");
    };
    f.spool.commit_batch(requests, f.ids);
    REQUIRE_FALSE(request.result.error);
    const auto loaded = f.spool.load(request.result.queue_id, error);
    REQUIRE(loaded);
    CHECK(loaded->message
          == "Received: id " + request.result.queue_id + "\nSubject: big\n\n" + body);
    CHECK(list_files(f.root + "/tmp").empty());
}

TEST_CASE("spool: a failing write_tail queues nothing and leaves no tmp file, others go on",
          "[spool]") {
    Fixture f;
    std::vector<CommitRequest> requests(3);
    for (CommitRequest& request : requests) {
        request.build = [](const std::string&) { return sample_file(); };
    }
    requests[1].write_tail = [](int fd) {
        // Half written, then the disk fails.
        if (const std::error_code error = labmta::spool::write_all(fd, "partial")) {
            return error;
        }
        return std::make_error_code(std::errc::no_space_on_device);
    };
    f.spool.commit_batch(requests, f.ids);
    CHECK_FALSE(requests[0].result.error);
    CHECK(requests[1].result.error == std::errc::no_space_on_device);
    CHECK(requests[1].result.queue_id.empty());
    CHECK_FALSE(requests[2].result.error);
    CHECK(f.spool.list_queue()
          == std::vector<std::string>{requests[0].result.queue_id, requests[2].result.queue_id});
    CHECK(list_files(f.root + "/tmp").empty());
}

TEST_CASE("spool: open_queued parses the envelope and leaves the message on disk", "[spool]") {
    Fixture f;
    QueueFile file = sample_file("Subject: s\n\n" + big_body(300000));
    file.delivered = {false, true};
    const std::string id = f.commit(file);
    std::error_code error;
    const auto opened = f.spool.open_queued(id, error);
    REQUIRE(opened);
    CHECK_FALSE(error);
    CHECK(opened->fd.is_open());
    CHECK(opened->file.queue_id == id);
    CHECK(opened->file.arrival_us == kArrivalUs);
    CHECK(opened->file.envelope.sender == file.envelope.sender);
    CHECK(opened->file.envelope.recipients == file.envelope.recipients);
    CHECK(opened->file.envelope.helo == "Joiakim");
    CHECK(opened->file.delivered == std::vector<bool>{false, true});
    CHECK(opened->file.message.empty());
    CHECK(opened->message_size == file.message.size());
    const std::string on_disk = read_text_file(f.queue_path(id));
    CHECK(opened->message_offset + opened->message_size == on_disk.size());
    CHECK(on_disk.substr(opened->message_offset) == file.message);
    CHECK(pread_range(opened->fd.get(), opened->message_offset, opened->message_size)
          == file.message);
}

TEST_CASE("spool: open_queued finds the message whatever it starts with", "[spool]") {
    // A message with no header section starts with its own blank line: the envelope still
    // ends at the first one. An empty message has size 0.
    for (const std::string message : {"\nbody only\n", "\n\n\n", "", "x"}) {
        INFO("message: " << message);
        Fixture f;
        const std::string id = f.commit(sample_file(message));
        std::error_code error;
        const auto opened = f.spool.open_queued(id, error);
        REQUIRE(opened);
        CHECK(opened->message_size == message.size());
        if (!message.empty()) {
            CHECK(pread_range(opened->fd.get(), opened->message_offset, opened->message_size)
                  == message);
        }
    }
}

TEST_CASE("spool: open_queued with the blank line around the 64 KiB read chunk", "[spool]") {
    for (const std::size_t blank_at : {65534u, 65535u, 65536u, 65537u}) {
        INFO(blank_at);
        Fixture f;
        QueueFile file = sample_file("Subject: s\n\n" + big_body(100000));
        const std::string probe = f.commit(file);
        const std::size_t base = read_text_file(f.queue_path(probe)).find("\n\n");
        REQUIRE(base < blank_at);
        file.envelope.helo += std::string(blank_at - base, 'h');
        const std::string id = f.commit(file);
        REQUIRE(read_text_file(f.queue_path(id)).find("\n\n") == blank_at);
        std::error_code error;
        const auto opened = f.spool.open_queued(id, error);
        REQUIRE(opened);
        CHECK(opened->message_offset == blank_at + 2);
        CHECK(opened->message_size == file.message.size());
        CHECK(opened->file.envelope.helo == file.envelope.helo);
        CHECK(pread_range(opened->fd.get(), opened->message_offset, opened->message_size)
              == file.message);
    }
}

TEST_CASE("spool: open_queued refuses bad IDs, missing and corrupt files", "[spool]") {
    Fixture f;
    std::error_code error;
    CHECK_FALSE(f.spool.open_queued("../../etc/passwd", error));
    CHECK(error == std::errc::invalid_argument);

    error.clear();
    CHECK_FALSE(f.spool.open_queued("0193A5C2F10A", error));
    CHECK(error == std::errc::no_such_file_or_directory);

    write_text_file(f.queue_path("0193A5C2F10A"), "version: 1\ngarbage\n\nbody\n");
    error.clear();
    CHECK_FALSE(f.spool.open_queued("0193A5C2F10A", error));
    CHECK(error == std::errc::bad_message);

    write_text_file(f.queue_path("0193A5C2F10D"), "version: 1\nno blank line at all\n");
    error.clear();
    CHECK_FALSE(f.spool.open_queued("0193A5C2F10D", error));
    CHECK(error == std::errc::bad_message);

    QueueFile other = sample_file();
    other.queue_id = "0193A5C2F10B";
    write_text_file(f.queue_path("0193A5C2F10C"), labmta::spool::serialize_queue_file(other));
    error.clear();
    CHECK_FALSE(f.spool.open_queued("0193A5C2F10C", error));
    CHECK(error == std::errc::bad_message);
}

TEST_CASE("spool: remove of a group unlinks each and reports each", "[spool]") {
    Fixture f;
    const std::string first = f.commit(sample_file());
    const std::string second = f.commit(sample_file());
    const std::string kept = f.commit(sample_file());
    const std::vector<std::error_code> errors =
        f.spool.remove(std::vector<std::string>{first, "../escape", "0193A5C2F10A", second});
    REQUIRE(errors.size() == 4);
    CHECK_FALSE(errors[0]);
    CHECK(errors[1] == std::errc::invalid_argument);
    CHECK(errors[2] == std::errc::no_such_file_or_directory);
    CHECK_FALSE(errors[3]);
    CHECK(f.spool.list_queue() == std::vector<std::string>{kept});
    CHECK_FALSE(f.spool.is_queued(first));
    CHECK_FALSE(f.spool.is_queued(second));
    CHECK(f.spool.is_queued(kept));
}

TEST_CASE("spool: remove of an empty group does nothing", "[spool]") {
    Fixture f;
    const std::string kept = f.commit(sample_file());
    CHECK(f.spool.remove(std::vector<std::string>{}).empty());
    CHECK(f.spool.list_queue() == std::vector<std::string>{kept});
}
