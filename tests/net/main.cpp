// Catch2 main of the libuv-side tests (resolver, outbound connection). Tests tagged [dns] need
// dnsmasq: when it is missing and every selected test is a [dns] test (as when CTest runs one
// test case per process), the run exits 77 so that CTest reports it as skipped; in a mixed run
// the [dns] tests skip themselves with a warning.
#define CATCH_CONFIG_RUNNER
#include "tests/net/dnsmasq.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <iostream>

namespace {

constexpr int kSkipped = 77;  // CTest's SKIP_RETURN_CODE for these tests

bool only_dns_tests_selected(Catch::Session& session) {
    const Catch::Config& config = session.config();
    if (config.listTests() || config.listTestNamesOnly() || config.listTags()) {
        return false;
    }
    const std::vector<Catch::TestCase> selected =
        Catch::filterTests(Catch::getAllTestCasesSorted(config), config.testSpec(), config);
    return !selected.empty()
           && std::all_of(selected.begin(), selected.end(), [](const Catch::TestCase& test) {
                  const auto& tags = test.getTestCaseInfo().lcaseTags;
                  return std::find(tags.begin(), tags.end(), "dns") != tags.end();
              });
}

}  // namespace

int main(int argc, char* argv[]) {
    Catch::Session session;
    const int rc = session.applyCommandLine(argc, argv);
    if (rc != 0) {
        return rc;
    }
    if (!labmta::test::find_dnsmasq() && only_dns_tests_selected(session)) {
        std::cout << "dnsmasq is not installed (Debian: dnsmasq-base): skipped\n";
        return kSkipped;
    }
    return session.run();
}
