// Unit tests for common/destination: every relayhost form, address literal recipients, the MX
// order (preference, then name), implicit MX and the RFC 7505 null MX.
#include "common/destination.h"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

using labmta::common::choose_destination;
using labmta::common::Destination;
using labmta::common::direct_hops;
using labmta::common::Hop;
using labmta::common::HopList;
using labmta::common::mx_hops;
using labmta::common::MxRecord;
using labmta::common::parse_relayhost;

namespace {

std::vector<Hop> hops_of(const HopList& list) {
    REQUIRE_FALSE(list.failure);
    return list.hops;
}

const Destination kExample{"example.com", 25, true};

}  // namespace

TEST_CASE("destination: empty relayhost looks up the recipient domain's MX", "[destination]") {
    CHECK(choose_destination("example.com", "") == Destination{"example.com", 25, true});
}

TEST_CASE("destination: [host]:port is that host and port, without MX lookup", "[destination]") {
    CHECK(choose_destination("example.com", "[smtp.relay.test]:2525")
          == Destination{"smtp.relay.test", 2525, false});
    CHECK(choose_destination("example.com", "[127.0.0.1]:2525")
          == Destination{"127.0.0.1", 2525, false});
}

TEST_CASE("destination: [host] is that host on port 25", "[destination]") {
    CHECK(choose_destination("example.com", "[smtp.relay.test]")
          == Destination{"smtp.relay.test", 25, false});
    CHECK(choose_destination("example.com", "[127.0.0.1]") == Destination{"127.0.0.1", 25, false});
}

TEST_CASE("destination: [IPv6 address] relayhost, with or without the IPv6: tag", "[destination]") {
    CHECK(choose_destination("example.com", "[::1]:2525") == Destination{"::1", 2525, false});
    CHECK(choose_destination("example.com", "[IPv6:::1]") == Destination{"::1", 25, false});
}

TEST_CASE("destination: host:port and host look up the host's MX", "[destination]") {
    CHECK(choose_destination("example.com", "relay.test:587")
          == Destination{"relay.test", 587, true});
    CHECK(choose_destination("example.com", "relay.test") == Destination{"relay.test", 25, true});
}

TEST_CASE("destination: an unbracketed IPv4 relayhost needs no MX lookup", "[destination]") {
    CHECK(choose_destination("example.com", "127.0.0.1:2525")
          == Destination{"127.0.0.1", 2525, false});
}

TEST_CASE("destination: malformed relayhosts are refused", "[destination]") {
    for (const char* bad : {"[relay.test",
                            "[]",
                            "[relay.test]:",
                            "[relay.test]:0",
                            "[relay.test]:65536",
                            "[relay.test]:25x",
                            "[relay.test]25",
                            "relay.test:",
                            "relay.test:port",
                            "::1",
                            "-bad.test",
                            "bad..test",
                            "bad_name.test",
                            "[IPv6:127.0.0.1]",
                            ":25"}) {
        INFO(bad);
        CHECK_FALSE(parse_relayhost(bad));
        CHECK_FALSE(choose_destination("example.com", bad));
    }
}

TEST_CASE("destination: an address literal recipient goes to that address", "[destination]") {
    CHECK(choose_destination("[127.0.0.1]", "") == Destination{"127.0.0.1", 25, false});
    CHECK(choose_destination("[IPv6:::1]", "") == Destination{"::1", 25, false});
    CHECK_FALSE(choose_destination("[127.0.0.1", ""));
    CHECK_FALSE(choose_destination("[not.an.address]", ""));
    CHECK_FALSE(choose_destination("", ""));
}

TEST_CASE("destination: the relayhost takes address literal recipients too", "[destination]") {
    CHECK(choose_destination("[127.0.0.1]", "[relay.test]:2525")
          == Destination{"relay.test", 2525, false});
}

TEST_CASE("destination: a destination without MX lookup is its own single hop", "[destination]") {
    CHECK(hops_of(direct_hops(Destination{"127.0.0.1", 2525, false}))
          == std::vector<Hop>{{"127.0.0.1", 2525}});
}

TEST_CASE("destination: MX records are tried by preference, then by name", "[destination]") {
    const std::vector<MxRecord> records{{"mx3.example.com", 20},
                                        {"mx2.example.com", 10},
                                        {"MX1.example.com", 10},
                                        {"a.example.com", 30}};
    CHECK(hops_of(mx_hops(kExample, records))
          == std::vector<Hop>{{"MX1.example.com", 25},
                              {"mx2.example.com", 25},
                              {"mx3.example.com", 25},
                              {"a.example.com", 25}});
}

TEST_CASE("destination: MX hops get the destination's port", "[destination]") {
    const Destination relay{"relay.test", 587, true};
    CHECK(hops_of(mx_hops(relay, {{"mx.relay.test", 5}}))
          == std::vector<Hop>{{"mx.relay.test", 587}});
}

TEST_CASE("destination: a host listed twice is tried once, at its best preference",
          "[destination]") {
    const std::vector<MxRecord> records{
        {"mx2.example.com", 5}, {"mx1.example.com", 10}, {"MX2.example.com", 20}};
    CHECK(hops_of(mx_hops(kExample, records))
          == std::vector<Hop>{{"mx2.example.com", 25}, {"mx1.example.com", 25}});
}

TEST_CASE("destination: no MX record means the domain itself (RFC 5321 5.1)", "[destination]") {
    CHECK(hops_of(mx_hops(kExample, {})) == std::vector<Hop>{{"example.com", 25}});
}

TEST_CASE("destination: a null MX is a permanent 5.1.10 failure (RFC 7505)", "[destination]") {
    for (const char* root : {".", ""}) {
        const HopList list = mx_hops(kExample, {{root, 0}});
        REQUIRE(list.failure);
        CHECK(list.failure->dsn == "5.1.10");
        CHECK(list.failure->text == "Domain example.com does not accept mail (nullMX)");
        CHECK(list.hops.empty());
    }
}

TEST_CASE("destination: a \".\" next to real MX hosts is skipped", "[destination]") {
    CHECK(hops_of(mx_hops(kExample, {{".", 0}, {"mx1.example.com", 10}}))
          == std::vector<Hop>{{"mx1.example.com", 25}});
}
