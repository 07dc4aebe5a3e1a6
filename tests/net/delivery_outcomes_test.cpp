// The shared shape of local and relayed outcomes: which local results are failures, expiry,
// and the Remote-MTA of a bounce. Pure functions, no loop.
#include "server/net/delivery_outcomes.h"

#include <catch2/catch.hpp>

using labmta::net::expire_deferred;
using labmta::net::is_local_failure;
using labmta::net::local_failures;
using labmta::net::relay_host;
using labmta::net::RelayOutcome;
using labmta::protocol::OutcomeStatus;
using labmta::spool::DeliveryStatus;
using labmta::spool::LocalDeliveryReport;
using labmta::spool::RecipientResult;

namespace {

RecipientResult result(const char* recipient, DeliveryStatus status, const char* detail) {
    RecipientResult r;
    r.recipient = recipient;
    r.status = status;
    r.dsn = status == DeliveryStatus::Sent ? "2.0.0" : "4.3.0";
    r.detail = detail;
    return r;
}

}  // namespace

TEST_CASE("outcomes: a copy in the Maildir that the queue could not record is no failure",
          "[outcomes]") {
    LocalDeliveryReport report;
    report.results.push_back(result("a@domain.local", DeliveryStatus::Sent, "delivered"));
    report.results.push_back(result("b@domain.local", DeliveryStatus::Deferred, "Not a directory"));
    RecipientResult unrecorded = result("c@domain.local",
                                        DeliveryStatus::Deferred,
                                        "delivered to maildir, but the queue file update failed");
    unrecorded.copy_in_maildir = true;
    report.results.push_back(unrecorded);

    CHECK_FALSE(is_local_failure(report.results[0]));
    CHECK(is_local_failure(report.results[1]));
    CHECK_FALSE(is_local_failure(report.results[2]));

    const std::vector<RelayOutcome> failed = local_failures(report);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].outcome.recipient == "b@domain.local");
    CHECK(failed[0].outcome.status == OutcomeStatus::Deferred);
    CHECK(failed[0].outcome.dsn == "4.3.0");
    CHECK(failed[0].outcome.reply == "Not a directory");
    CHECK(failed[0].relay == "local");
}

TEST_CASE("outcomes: expiry bounces what is deferred with 5.4.7 and leaves the rest",
          "[outcomes]") {
    std::vector<RelayOutcome> outcomes{
        {{"a@x.test", OutcomeStatus::Sent, "2.0.0", "250 2.0.0 Ok"}, "mx.x.test[192.0.2.1]:25"},
        {{"b@x.test", OutcomeStatus::Deferred, "4.2.0", "451 4.2.0 later"},
         "mx.x.test[192.0.2.1]:25"},
        {{"c@x.test", OutcomeStatus::Bounced, "5.1.1", "550 5.1.1 unknown"},
         "mx.x.test[192.0.2.1]:25"},
        {{"d@domain.local", OutcomeStatus::Deferred, "4.3.0", "Permission denied"}, "local"}};
    expire_deferred(outcomes);
    CHECK(outcomes[0].outcome.status == OutcomeStatus::Sent);
    CHECK(outcomes[0].outcome.dsn == "2.0.0");
    CHECK(outcomes[1].outcome.status == OutcomeStatus::Bounced);
    CHECK(outcomes[1].outcome.dsn == "5.4.7");
    CHECK(outcomes[1].outcome.reply == "message expired in queue: 451 4.2.0 later");
    CHECK(outcomes[2].outcome.dsn == "5.1.1");
    CHECK(outcomes[2].outcome.reply == "550 5.1.1 unknown");
    CHECK(outcomes[3].outcome.status == OutcomeStatus::Bounced);
    CHECK(outcomes[3].outcome.reply == "message expired in queue: Permission denied");
}

TEST_CASE("outcomes: a bounce names the remote host, never one for local or no delivery",
          "[outcomes]") {
    CHECK(relay_host("mx.example.test[127.0.0.1]:25") == "mx.example.test");
    CHECK(relay_host("local").empty());
    CHECK(relay_host("none").empty());
}
