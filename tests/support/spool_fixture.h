// A spool on a fresh temp directory with a queue ID generator on fake time and randomness, and
// the queue file a plain SMTP client leaves behind: the "queue a test message" setup of the
// spool and local delivery tests. Header-only (like temp_dir.h): only the test binaries that
// include it link the spool library. Uses Catch assertions; test threads only.
#pragma once

#include "common/ids.h"
#include "spool/spool.h"
#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace labmta::test {

// A queue file from sender to recipients (none delivered yet), HELO Joiakim over SMTP from
// unknown[127.0.0.1], arrived at kArrivalUs.
inline spool::QueueFile make_queue_file(std::vector<std::string> recipients,
                                        std::string message,
                                        std::string sender = "joiakim@domain.local") {
    spool::QueueFile file;
    file.arrival_us = kArrivalUs;
    file.envelope.sender = std::move(sender);
    file.envelope.recipients = std::move(recipients);
    file.envelope.helo = "Joiakim";
    file.envelope.protocol = "SMTP";
    file.envelope.client_host = "unknown";
    file.envelope.client_ip = "127.0.0.1";
    file.delivered.assign(file.envelope.recipients.size(), false);
    file.message = std::move(message);
    return file;
}

// <temp>/spool, and IDs from a FakeClock at kArrivalUs and a FixedRandom of random_value.
struct SpoolFixture {
    explicit SpoolFixture(std::uint64_t random_value = 7) : random(random_value) {}

    TempDir temp;
    std::string root = temp / "spool";
    spool::Spool spool{root};
    FakeClock clock{kArrivalUs};
    FixedRandom random;
    common::QueueIdGenerator ids{clock, random};

    // Commits file (REQUIREs success) and returns its queue ID.
    std::string commit(const spool::QueueFile& file) {
        const auto result = spool.commit(file, ids);
        REQUIRE_FALSE(result.error);
        return result.queue_id;
    }
    // <root>/incoming/<id>
    std::string queue_path(const std::string& id) const { return root + "/incoming/" + id; }
};

}  // namespace labmta::test
