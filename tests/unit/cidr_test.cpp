// Unit tests for common/cidr: the relay.networks match on both families, at every prefix
// boundary, and garbage client addresses that must simply not match.
#include "common/cidr.h"

#include "common/startup_error.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using labmta::common::NetworkList;
using namespace std::string_literals;

TEST_CASE("cidr: an empty list contains nothing", "[cidr]") {
    const NetworkList list;
    CHECK(list.empty());
    CHECK_FALSE(list.contains("127.0.0.1"));
    CHECK_FALSE(list.contains("::1"));
}

TEST_CASE("cidr: the default loopback networks", "[cidr]") {
    const NetworkList list({"127.0.0.0/8", "::1/128"});
    CHECK_FALSE(list.empty());
    CHECK(list.contains("127.0.0.1"));
    CHECK(list.contains("127.255.255.255"));
    CHECK(list.contains("::1"));
    CHECK(list.contains("0:0:0:0:0:0:0:1"));
    CHECK_FALSE(list.contains("128.0.0.1"));
    CHECK_FALSE(list.contains("126.255.255.255"));
    CHECK_FALSE(list.contains("::2"));
    CHECK_FALSE(list.contains("10.0.0.1"));
}

TEST_CASE("cidr: /0 contains its whole family and nothing of the other", "[cidr]") {
    const NetworkList ipv4({"0.0.0.0/0"});
    CHECK(ipv4.contains("0.0.0.0"));
    CHECK(ipv4.contains("203.0.113.9"));
    CHECK(ipv4.contains("255.255.255.255"));
    CHECK_FALSE(ipv4.contains("::1"));
    CHECK_FALSE(ipv4.contains("2001:db8::1"));

    const NetworkList ipv6({"::/0"});
    CHECK(ipv6.contains("::"));
    CHECK(ipv6.contains("2001:db8::1"));
    CHECK(ipv6.contains("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK_FALSE(ipv6.contains("127.0.0.1"));
}

TEST_CASE("cidr: /32 and a bare IPv4 address are one host", "[cidr]") {
    for (const std::string& entry : {"10.1.2.3/32"s, "10.1.2.3"s}) {
        const NetworkList list({entry});
        CHECK(list.contains("10.1.2.3"));
        CHECK_FALSE(list.contains("10.1.2.2"));
        CHECK_FALSE(list.contains("10.1.2.4"));
        CHECK_FALSE(list.contains("11.1.2.3"));
    }
}

TEST_CASE("cidr: /31 holds exactly two addresses", "[cidr]") {
    const NetworkList list({"192.0.2.4/31"});
    CHECK_FALSE(list.contains("192.0.2.3"));
    CHECK(list.contains("192.0.2.4"));
    CHECK(list.contains("192.0.2.5"));
    CHECK_FALSE(list.contains("192.0.2.6"));
}

TEST_CASE("cidr: /128 and a bare IPv6 address are one host", "[cidr]") {
    for (const std::string& entry : {"2001:db8::7/128"s, "2001:db8::7"s}) {
        const NetworkList list({entry});
        CHECK(list.contains("2001:db8::7"));
        CHECK(list.contains("2001:DB8:0:0:0:0:0:7"));
        CHECK_FALSE(list.contains("2001:db8::6"));
        CHECK_FALSE(list.contains("2001:db8::8"));
    }
}

TEST_CASE("cidr: IPv4 prefixes that end inside a byte", "[cidr]") {
    const NetworkList list({"172.16.0.0/12", "198.51.100.64/26"});
    CHECK(list.contains("172.16.0.0"));
    CHECK(list.contains("172.31.255.255"));
    CHECK_FALSE(list.contains("172.15.255.255"));
    CHECK_FALSE(list.contains("172.32.0.0"));
    CHECK(list.contains("198.51.100.64"));
    CHECK(list.contains("198.51.100.127"));
    CHECK_FALSE(list.contains("198.51.100.63"));
    CHECK_FALSE(list.contains("198.51.100.128"));
}

TEST_CASE("cidr: IPv6 prefixes on and off byte boundaries", "[cidr]") {
    const NetworkList list({"2001:db8::/32", "fe80::/10", "fd00:1:2:3::/64"});
    CHECK(list.contains("2001:db8::"));
    CHECK(list.contains("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK_FALSE(list.contains("2001:db9::"));
    CHECK_FALSE(list.contains("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK(list.contains("fe80::1"));
    CHECK(list.contains("febf:ffff::1"));
    CHECK_FALSE(list.contains("fec0::1"));
    CHECK_FALSE(list.contains("fe7f:ffff::1"));
    CHECK(list.contains("fd00:1:2:3:ffff:ffff:ffff:ffff"));
    CHECK_FALSE(list.contains("fd00:1:2:4::"));
}

TEST_CASE("cidr: an IPv4-mapped client matches the IPv4 networks", "[cidr]") {
    const NetworkList list({"127.0.0.0/8", "::/0"});
    CHECK(list.contains("::ffff:127.0.0.1"));
    CHECK(list.contains("::FFFF:7f00:1"));

    // As in Postfix, the mapped form is the IPv4 client: an IPv6-only list does not hold it.
    const NetworkList only_ipv6({"::/0"});
    CHECK_FALSE(only_ipv6.contains("::ffff:127.0.0.1"));
    const NetworkList other_ipv4({"10.0.0.0/8"});
    CHECK_FALSE(other_ipv4.contains("::ffff:127.0.0.1"));
    CHECK(other_ipv4.contains("::ffff:10.9.8.7"));
}

TEST_CASE("cidr: a network written in IPv4-mapped form holds IPv4 clients", "[cidr]") {
    const NetworkList list({"::ffff:10.0.0.0/104"});
    CHECK(list.contains("10.1.2.3"));
    CHECK(list.contains("::ffff:10.1.2.3"));
    CHECK_FALSE(list.contains("11.0.0.1"));

    const NetworkList host({"::ffff:192.0.2.1"});
    CHECK(host.contains("192.0.2.1"));
    CHECK_FALSE(host.contains("192.0.2.2"));
}

TEST_CASE("cidr: IPv4-compatible and other IPv6 forms are not IPv4", "[cidr]") {
    const NetworkList list({"127.0.0.0/8"});
    CHECK_FALSE(list.contains("::127.0.0.1"));
    CHECK_FALSE(list.contains("::ffff:0:127.0.0.1"));
    CHECK_FALSE(list.contains("64:ff9b::127.0.0.1"));
}

TEST_CASE("cidr: garbage client addresses are never inside", "[cidr]") {
    const NetworkList list({"0.0.0.0/0", "::/0"});
    CHECK_FALSE(list.contains(""));
    CHECK_FALSE(list.contains("localhost"));
    CHECK_FALSE(list.contains("unknown"));
    CHECK_FALSE(list.contains("127.0.0"));
    CHECK_FALSE(list.contains("127.0.0.1.1"));
    CHECK_FALSE(list.contains("256.0.0.1"));
    CHECK_FALSE(list.contains("127.0.0.01"));
    CHECK_FALSE(list.contains(" 127.0.0.1"));
    CHECK_FALSE(list.contains("127.0.0.1 "));
    CHECK_FALSE(list.contains("127.0.0.1/8"));
    CHECK_FALSE(list.contains("[::1]"));
    CHECK_FALSE(list.contains("fe80::1%eth0"));
    CHECK_FALSE(list.contains(":::1"));
    CHECK_FALSE(list.contains("1:2:3:4:5:6:7:8:9"));
    CHECK_FALSE(list.contains("127.0.0.1\0garbage"s));
    CHECK_FALSE(list.contains(std::string(1000, '1')));
}

TEST_CASE("cidr: an invalid network is a startup error", "[cidr]") {
    using labmta::StartupError;
    CHECK_THROWS_AS(NetworkList({""}), StartupError);
    CHECK_THROWS_AS(NetworkList({"/8"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"localhost/8"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"127.0.0.0/"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"127.0.0.0/33"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"127.0.0.0/-1"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"127.0.0.0/+8"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"127.0.0.0/8x"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"127.0.0.0/8/8"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"::/129"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"127.0.0.1/8"}), StartupError);  // host bits set
    CHECK_THROWS_AS(NetworkList({"2001:db8::1/64"}), StartupError);
    CHECK_THROWS_AS(NetworkList({"127.0.0.0/8", "garbage"}), StartupError);
    CHECK_THROWS_WITH(NetworkList({"10.0.0.1/8"}), Catch::Contains("10.0.0.1/8"));
}
