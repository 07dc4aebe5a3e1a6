// plan_reload(): which keys a SIGHUP reload applies and which need a restart.
#include "server/app/reload.h"

#include "config/config.h"

#include <catch2/catch.hpp>

namespace {

using labmta::app::plan_reload;
using labmta::config::Config;
using labmta::config::parse_config;

const Config kActive = parse_config(
    "hostname: profbox.domain.local\nlisten: [\"127.0.0.1:25\"]\nspool: /var/spool/labmta\n"
    "user: labmta\nlocal_domains: [domain.local]\n"
    "users:\n  - name: student\n    password: pw\n");

}  // namespace

TEST_CASE("reload: an unchanged config ignores nothing", "[reload]") {
    const auto plan = plan_reload(kActive, kActive);
    CHECK(plan.ignored.empty());
    CHECK(plan.effective.hostname == "profbox.domain.local");
}

TEST_CASE("reload: accounts, limits, banner, relay networks and smtpd apply", "[reload]") {
    const Config next = parse_config(
        "hostname: profbox.domain.local\nlisten: [\"127.0.0.1:25\"]\nspool: /var/spool/labmta\n"
        "user: labmta\nlocal_domains: [domain.local]\nbanner: ESMTP reloaded\n"
        "local_recipients: users\n"
        "users:\n  - name: student\n    password: pw\n  - name: bob\n    password: b\n"
        "relay:\n  networks: [10.0.0.0/8]\nlimits:\n  message_size: 1000\n  timeout: 5\n"
        "smtpd:\n  bare_newline: reject\n");
    const auto plan = plan_reload(kActive, next);
    CHECK(plan.ignored.empty());
    REQUIRE(plan.effective.users.size() == 2);
    CHECK(plan.effective.users[1].name == "bob");
    CHECK(plan.effective.banner == "ESMTP reloaded");
    CHECK(plan.effective.local_recipients == labmta::config::LocalRecipients::Users);
    CHECK(plan.effective.relay.networks == std::vector<std::string>{"10.0.0.0/8"});
    CHECK(plan.effective.limits.message_size == 1000);
    CHECK(plan.effective.limits.timeout_s == 5);
    CHECK(plan.effective.smtpd.bare_newline == labmta::config::BareNewline::Reject);
}

TEST_CASE("reload: restart-only keys keep their old values and are reported", "[reload]") {
    const Config next = parse_config(
        "hostname: other.example\nlisten: [\"0.0.0.0:2525\"]\nspool: /tmp/elsewhere\n"
        "user: nobody\nlocal_domains: [other.example]\nqueue:\n  retry: 7\n  min_free: 100\n"
        "relay:\n  relayhost: \"[smtp.example.org]:587\"\ndns:\n  servers: [\"127.0.0.1:53\"]\n"
        "users:\n  - name: carol\n    password: c\n");
    const auto plan = plan_reload(kActive, next);
    CHECK(plan.ignored
          == std::vector<std::string>{"listen",
                                      "spool",
                                      "user",
                                      "hostname",
                                      "local_domains",
                                      "queue",
                                      "relay.relayhost",
                                      "dns.servers"});
    CHECK(labmta::config::to_yaml(plan.effective).find("other.example") == std::string::npos);
    CHECK(plan.effective.listen.size() == 1);
    CHECK(plan.effective.listen[0].port == 25);
    CHECK(plan.effective.spool == "/var/spool/labmta");
    CHECK(plan.effective.user == "labmta");
    CHECK(plan.effective.queue.retry_s == 300);
    CHECK(plan.effective.queue.min_free_bytes == 0);
    CHECK(plan.effective.relay.relayhost.empty());
    CHECK(plan.effective.dns.servers.empty());
    // The reloadable part of the same file still applies.
    REQUIRE(plan.effective.users.size() == 1);
    CHECK(plan.effective.users[0].name == "carol");
}
