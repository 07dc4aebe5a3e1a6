// Unit tests for server/app/accounts: ConfigAuthenticator over plain and hashed accounts
// (names case-insensitive, passwords exact), and the hash-password tool's input handling.
#include "server/app/accounts.h"

#include "common/password.h"
#include "config/config.h"

#include <catch2/catch.hpp>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

using labmta::app::ConfigAuthenticator;
using labmta::app::run_hash_password;
using labmta::common::verify_password_hash;
using labmta::config::User;
using namespace std::string_literals;

namespace {

// SHA-512 crypt of "Hello world!" (Drepper's specification, vector 1).
constexpr const char* kHelloWorldHash =
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfa"
    "S35inz1";
// yescrypt of "hessovs!".
constexpr const char* kHessovsHash =
    "$y$j9T$Wq1P0Dj5gVXPKADZgu5my0$eXknoqI1mSbdmyCw8K6kP7hqLi.Fa9giGm2IlkHUHt8";

std::vector<User> lab_users() {
    return {
        {"student", "hessovs!", ""},
        {"Prof.Dasek", "", kHelloWorldHash},
        {"assistant", "", kHessovsHash},
    };
}

struct HashRun {
    int status = 0;
    std::string out;
    std::string err;
};

HashRun hash_from(const std::string& input) {
    std::istringstream in(input);
    std::ostringstream out;
    std::ostringstream err;
    HashRun run;
    run.status = run_hash_password(in, out, err);
    run.out = out.str();
    run.err = err.str();
    return run;
}

}  // namespace

TEST_CASE("accounts: a plain password account logs in", "[accounts]") {
    ConfigAuthenticator accounts(lab_users());
    CHECK(accounts.authenticate("student", "hessovs!"));
    CHECK_FALSE(accounts.authenticate("student", "hessovs"));
    CHECK_FALSE(accounts.authenticate("student", "Hessovs!"));
    CHECK_FALSE(accounts.authenticate("student", ""));
}

TEST_CASE("accounts: hashed accounts are checked with crypt", "[accounts]") {
    ConfigAuthenticator accounts(lab_users());
    CHECK(accounts.authenticate("Prof.Dasek", "Hello world!"));
    CHECK_FALSE(accounts.authenticate("Prof.Dasek", "hessovs!"));
    CHECK(accounts.authenticate("assistant", "hessovs!"));
    CHECK_FALSE(accounts.authenticate("assistant", "Hello world!"));
}

TEST_CASE("accounts: user names match case-insensitively and only whole", "[accounts]") {
    ConfigAuthenticator accounts(lab_users());
    CHECK(accounts.authenticate("STUDENT", "hessovs!"));
    CHECK(accounts.authenticate("prof.dasek", "Hello world!"));
    CHECK_FALSE(accounts.authenticate("studen", "hessovs!"));
    CHECK_FALSE(accounts.authenticate("students", "hessovs!"));
    CHECK_FALSE(accounts.authenticate("student ", "hessovs!"));
    CHECK_FALSE(accounts.authenticate("student\0"s, "hessovs!"));
    CHECK_FALSE(accounts.authenticate("", "hessovs!"));
}

TEST_CASE("accounts: an unknown user fails, even with a configured password", "[accounts]") {
    ConfigAuthenticator accounts(lab_users());
    // The unknown-name path checks against the first hashed account; it must still refuse.
    CHECK_FALSE(accounts.authenticate("mallory", "Hello world!"));
    CHECK_FALSE(accounts.authenticate("mallory", "hessovs!"));
    CHECK_FALSE(accounts.authenticate("mallory", ""));

    ConfigAuthenticator plain_only(std::vector<User>{{"student", "hessovs!", ""}});
    CHECK_FALSE(plain_only.authenticate("mallory", "hessovs!"));
    CHECK_FALSE(plain_only.authenticate("mallory", "labmta-no-such-account-password"));
}

TEST_CASE("accounts: no accounts means no login", "[accounts]") {
    ConfigAuthenticator accounts(std::vector<User>{});
    CHECK_FALSE(accounts.authenticate("student", "hessovs!"));
    CHECK_FALSE(accounts.authenticate("", ""));
}

TEST_CASE("accounts: an account without any password never logs in", "[accounts]") {
    ConfigAuthenticator accounts(std::vector<User>{{"ghost", "", ""}});
    CHECK_FALSE(accounts.authenticate("ghost", ""));
    CHECK_FALSE(accounts.authenticate("ghost", "anything"));
}

TEST_CASE("accounts: the authenticator keeps its own copy of the accounts", "[accounts]") {
    auto users = std::make_unique<std::vector<User>>(lab_users());
    ConfigAuthenticator accounts(*users);
    users.reset();
    CHECK(accounts.authenticate("student", "hessovs!"));
    CHECK(accounts.authenticate("assistant", "hessovs!"));
}

TEST_CASE("accounts: hash-password prints one yescrypt hash of the line", "[accounts]") {
    const HashRun run = hash_from("hessovs!\n");
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    REQUIRE(run.out.size() > 4);
    CHECK(run.out.rfind("$y$", 0) == 0);
    CHECK(run.out.back() == '\n');
    CHECK(run.out.find('\n') == run.out.size() - 1);
    const std::string hash = run.out.substr(0, run.out.size() - 1);
    CHECK(verify_password_hash("hessovs!", hash));
    CHECK_FALSE(verify_password_hash("hessovs!\n", hash));
}

TEST_CASE("accounts: hash-password takes a last line without newline, or with CRLF", "[accounts]") {
    const HashRun no_newline = hash_from("hessovs!");
    REQUIRE(no_newline.status == 0);
    CHECK(verify_password_hash("hessovs!", no_newline.out.substr(0, no_newline.out.size() - 1)));

    const HashRun crlf = hash_from("hessovs!\r\n");
    REQUIRE(crlf.status == 0);
    CHECK(verify_password_hash("hessovs!", crlf.out.substr(0, crlf.out.size() - 1)));
}

TEST_CASE("accounts: hash-password reads only the first line", "[accounts]") {
    const HashRun run = hash_from("first\nsecond\n");
    REQUIRE(run.status == 0);
    const std::string hash = run.out.substr(0, run.out.size() - 1);
    CHECK(verify_password_hash("first", hash));
    CHECK_FALSE(verify_password_hash("first\nsecond", hash));
}

TEST_CASE("accounts: hash-password refuses an empty password", "[accounts]") {
    for (const std::string& input : {""s, "\n"s, "\r\n"s}) {
        const HashRun run = hash_from(input);
        CHECK(run.status == 1);
        CHECK(run.out.empty());
        CHECK_THAT(run.err, Catch::Contains("empty password"));
    }
}

TEST_CASE("accounts: hash-password refuses what crypt cannot hash", "[accounts]") {
    const HashRun nul = hash_from("pass\0word\n"s);
    CHECK(nul.status == 1);
    CHECK(nul.out.empty());
    CHECK_THAT(nul.err, Catch::Contains("NUL"));

    const HashRun too_long = hash_from(std::string(4096, 'x') + "\n");
    CHECK(too_long.status == 1);
    CHECK(too_long.out.empty());
    CHECK_FALSE(too_long.err.empty());
}
