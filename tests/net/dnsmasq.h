// A real DNS server for the resolver tests: Debian's dnsmasq (package dnsmasq-base) on
// 127.0.0.1 and a free port, answering only from the records the test gives it, with no
// upstream server, so that no query ever leaves the machine. Test code only.
#pragma once

#include "tests/support/temp_dir.h"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace labmta::test {

class DnsmasqError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The dnsmasq executable (sbin directories, then PATH), or nullopt when it is not installed.
std::optional<std::string> find_dnsmasq();

class Dnsmasq {
public:
    // Starts dnsmasq with these extra options ("--mx-host=...", "--host-record=...") and waits
    // until it answers a query. Everything under the zones in local_zones ("test") is answered
    // locally: names without records get NXDOMAIN. Throws DnsmasqError with its log on failure.
    Dnsmasq(const std::string& binary,
            const std::vector<std::string>& options,
            const std::vector<std::string>& local_zones = {"test"});
    // SIGTERM, then SIGKILL if it has not ended within a few seconds; always reaped.
    ~Dnsmasq();
    Dnsmasq(const Dnsmasq&) = delete;
    Dnsmasq& operator=(const Dnsmasq&) = delete;

    std::uint16_t port() const { return port_; }
    // "127.0.0.1:<port>", for the resolver's server list.
    std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string log() const;

private:
    bool start(const std::string& binary, const std::vector<std::string>& arguments);
    void stop();

    TempDir dir_{"labmta-dnsmasq"};
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace labmta::test
