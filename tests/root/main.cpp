// Catch2 main of the tests that need root: `labmta serve` started as root drops to `user:`, and
// a spool on a small tmpfs (mount) fills up. When not root, or when mount(2) is not permitted
// for the [tmpfs] tests, a run of only such tests (CTest runs one test case per process) exits
// 77 so that CTest reports it as skipped, with the reason printed; in a mixed run each test
// skips itself with a warning (see root_support.h).
#define CATCH_CONFIG_RUNNER
#include "tests/root/root_support.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <iostream>
#include <vector>

namespace {

constexpr int kSkipped = 77;  // CTest's SKIP_RETURN_CODE for these tests

// True when tests are selected and every one of them has tag.
bool only_tagged_tests_selected(Catch::Session& session, const std::string& tag) {
    const Catch::Config& config = session.config();
    if (config.listTests() || config.listTestNamesOnly() || config.listTags()) {
        return false;
    }
    const std::vector<Catch::TestCase> selected =
        Catch::filterTests(Catch::getAllTestCasesSorted(config), config.testSpec(), config);
    return !selected.empty()
           && std::all_of(selected.begin(), selected.end(), [&](const Catch::TestCase& test) {
                  const auto& tags = test.getTestCaseInfo().lcaseTags;
                  return std::find(tags.begin(), tags.end(), tag) != tags.end();
              });
}

}  // namespace

int main(int argc, char* argv[]) {
    Catch::Session session;
    const int rc = session.applyCommandLine(argc, argv);
    if (rc != 0) {
        return rc;
    }
    const std::string why_not = labmta::test::why_root_tests_cannot_run();
    if (!why_not.empty() && only_tagged_tests_selected(session, "root")) {
        std::cout << "skipped: " << why_not << '\n';
        return kSkipped;
    }
    const std::string why_no_tmpfs = labmta::test::why_tmpfs_tests_cannot_run();
    if (!why_no_tmpfs.empty() && only_tagged_tests_selected(session, "tmpfs")) {
        std::cout << "skipped: " << why_no_tmpfs << '\n';
        return kSkipped;
    }
    return session.run();
}
