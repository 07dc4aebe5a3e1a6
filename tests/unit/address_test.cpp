// Unit tests for common/address: MAIL FROM / RCPT TO arguments, mailbox validation with its
// length limits, safe folder names (no path traversal) and the ASCII case helpers.
#include "common/address.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using labmta::common::iequals_ascii;
using labmta::common::Mailbox;
using labmta::common::mailbox_folder;
using labmta::common::parse_mailbox;
using labmta::common::parse_path_argument;
using labmta::common::PathError;
using labmta::common::to_lower_ascii;
using namespace std::string_literals;

namespace {

PathError error_of(std::string_view text) {
    return parse_path_argument(text).error;
}

std::string address_of(std::string_view text) {
    const auto parsed = parse_path_argument(text);
    REQUIRE(parsed.error == PathError::None);
    return parsed.address;
}

bool is_mailbox(std::string_view address) {
    return parse_mailbox(address).has_value();
}

std::optional<std::string> folder_of(std::string local_part, std::string domain) {
    return mailbox_folder(Mailbox{std::move(local_part), std::move(domain)});
}

}  // namespace

// ---- parse_path_argument: accepted forms

TEST_CASE("address: bracketed path is parsed", "[address]") {
    const auto parsed = parse_path_argument("<student@example.org>");
    CHECK(parsed.error == PathError::None);
    CHECK(parsed.address == "student@example.org");
    CHECK(parsed.params.empty());
}

TEST_CASE("address: spaces before the path are skipped", "[address]") {
    CHECK(address_of(" <a@b.example>") == "a@b.example");
    CHECK(address_of("   <a@b.example>") == "a@b.example");
    CHECK(address_of("\t<a@b.example>") == "a@b.example");
}

TEST_CASE("address: path without brackets is accepted", "[address]") {
    CHECK(address_of("a@b.example") == "a@b.example");
    CHECK(address_of(" a@b.example") == "a@b.example");
    CHECK(address_of(" a@b.example  ") == "a@b.example");
}

TEST_CASE("address: null path is an empty address without error", "[address]") {
    CHECK(address_of("<>").empty());
    CHECK(address_of(" <>").empty());
}

TEST_CASE("address: source route is dropped", "[address]") {
    CHECK(address_of("<@r1.example,@r2.example:a@b.example>") == "a@b.example");
    CHECK(address_of("<@relay.example:a@b.example>") == "a@b.example");
    CHECK(address_of("<@[10.0.0.1]:a@b.example>") == "a@b.example");
}

TEST_CASE("address: address without @ is returned as it is", "[address]") {
    CHECK(address_of("<student>") == "student");
    CHECK(address_of("postmaster") == "postmaster");
    CHECK(address_of(" <Postmaster>") == "Postmaster");
    CHECK(address_of("<first.last>") == "first.last");
}

TEST_CASE("address: ESMTP parameters follow the path", "[address]") {
    const auto parsed = parse_path_argument("<a@b.example> SIZE=1000 BODY=8BITMIME");
    REQUIRE(parsed.error == PathError::None);
    CHECK(parsed.address == "a@b.example");
    REQUIRE(parsed.params.size() == 2);
    CHECK(parsed.params[0].keyword == "SIZE");
    CHECK(parsed.params[0].value == "1000");
    CHECK(parsed.params[1].keyword == "BODY");
    CHECK(parsed.params[1].value == "8BITMIME");
}

TEST_CASE("address: parameter keyword is upper-cased and value kept as given", "[address]") {
    const auto parsed = parse_path_argument("<a@b.example> body=8bitMime x-Foo=Bar");
    REQUIRE(parsed.error == PathError::None);
    REQUIRE(parsed.params.size() == 2);
    CHECK(parsed.params[0].keyword == "BODY");
    CHECK(parsed.params[0].value == "8bitMime");
    CHECK(parsed.params[1].keyword == "X-FOO");
    CHECK(parsed.params[1].value == "Bar");
}

TEST_CASE("address: parameter without a value has an empty value", "[address]") {
    const auto parsed = parse_path_argument("<a@b.example> SMTPUTF8");
    REQUIRE(parsed.error == PathError::None);
    REQUIRE(parsed.params.size() == 1);
    CHECK(parsed.params[0].keyword == "SMTPUTF8");
    CHECK(parsed.params[0].value.empty());
}

TEST_CASE("address: extra spaces between parameters are skipped", "[address]") {
    const auto parsed = parse_path_argument("  <a@b.example>   SIZE=1   AUTH=<>  ");
    REQUIRE(parsed.error == PathError::None);
    REQUIRE(parsed.params.size() == 2);
    CHECK(parsed.params[0].keyword == "SIZE");
    CHECK(parsed.params[1].keyword == "AUTH");
    CHECK(parsed.params[1].value == "<>");
}

TEST_CASE("address: parameters after a null path or a bare address", "[address]") {
    const auto null_path = parse_path_argument("<> SIZE=0");
    REQUIRE(null_path.error == PathError::None);
    CHECK(null_path.address.empty());
    REQUIRE(null_path.params.size() == 1);
    CHECK(null_path.params[0].value == "0");

    const auto bare = parse_path_argument("a@b.example SIZE=12");
    REQUIRE(bare.error == PathError::None);
    CHECK(bare.address == "a@b.example");
    REQUIRE(bare.params.size() == 1);
    CHECK(bare.params[0].keyword == "SIZE");
}

// ---- parse_path_argument: Syntax errors

TEST_CASE("address: empty argument is a syntax error", "[address]") {
    CHECK(error_of("") == PathError::Syntax);
    CHECK(error_of(" ") == PathError::Syntax);
    CHECK(error_of("    ") == PathError::Syntax);
    CHECK(error_of(" \t ") == PathError::Syntax);
}

TEST_CASE("address: unbalanced bracket is a syntax error", "[address]") {
    CHECK(error_of("<a@b.example") == PathError::Syntax);
    CHECK(error_of("<") == PathError::Syntax);
    CHECK(error_of(" <a@b.example SIZE=10") == PathError::Syntax);
    CHECK(error_of("<\"a>") == PathError::Syntax);  // the ">" is inside an unclosed quote
}

TEST_CASE("address: junk glued after the path is a syntax error", "[address]") {
    CHECK(error_of("<a@b.example>x") == PathError::Syntax);
    CHECK(error_of("<a@b.example><c@d.example>") == PathError::Syntax);
    CHECK(error_of("<>x") == PathError::Syntax);
    CHECK(error_of("<a@b.example>SIZE=10") == PathError::Syntax);
}

TEST_CASE("address: bad parameter keyword is a syntax error", "[address]") {
    CHECK(error_of("<a@b.example> =1") == PathError::Syntax);
    CHECK(error_of("<a@b.example> -SIZE=1") == PathError::Syntax);
    CHECK(error_of("<a@b.example> SI_ZE=1") == PathError::Syntax);
    CHECK(error_of("<a@b.example> SIZE=1 B\xc3\x84"
                   "D")
          == PathError::Syntax);
    CHECK(error_of("<a@b.example> <c@d.example>") == PathError::Syntax);
}

TEST_CASE("address: bad parameter value is a syntax error", "[address]") {
    CHECK(error_of("<a@b.example> SIZE=") == PathError::Syntax);       // esmtp-value is 1*char
    CHECK(error_of("<a@b.example> SIZE=1=2") == PathError::Syntax);    // "=" not allowed
    CHECK(error_of("<a@b.example> X=a\x01") == PathError::Syntax);     // control character
    CHECK(error_of("<a@b.example> X=\xc3\xa9") == PathError::Syntax);  // 8-bit
}

TEST_CASE("address: a syntax error returns no address and no parameters", "[address]") {
    const auto parsed = parse_path_argument("<a@b.example> SIZE=1 -BAD");
    CHECK(parsed.error == PathError::Syntax);
    CHECK(parsed.address.empty());
    CHECK(parsed.params.empty());
}

TEST_CASE("address: a syntax error wins over a bad address", "[address]") {
    CHECK(error_of("<a b@c.example> -BAD") == PathError::Syntax);
    CHECK(error_of("<a@-b.example>junk") == PathError::Syntax);
}

// ---- parse_path_argument: BadAddress errors

TEST_CASE("address: spaces inside the brackets are a bad address", "[address]") {
    CHECK(error_of("<a b@c.example>") == PathError::BadAddress);
    CHECK(error_of("< a@c.example>") == PathError::BadAddress);
    CHECK(error_of("<a@c.example >") == PathError::BadAddress);
    CHECK(error_of("< >") == PathError::BadAddress);
}

TEST_CASE("address: control characters are a bad address", "[address]") {
    CHECK(error_of("<a\x01@b.example>") == PathError::BadAddress);
    CHECK(error_of("<a@b.example\x7f>") == PathError::BadAddress);
    CHECK(error_of("<a\tb@c.example>") == PathError::BadAddress);
    CHECK(error_of("<a\0@b.example>"s) == PathError::BadAddress);
    CHECK(error_of("a\0@b.example"s) == PathError::BadAddress);
    CHECK(error_of("<student\r>") == PathError::BadAddress);
}

TEST_CASE("address: invalid mailbox is a bad address", "[address]") {
    CHECK(error_of("<a@>") == PathError::BadAddress);
    CHECK(error_of("<a@b..example>") == PathError::BadAddress);
    CHECK(error_of("<a..b@c.example>") == PathError::BadAddress);
    CHECK(error_of("<a@-b.example>") == PathError::BadAddress);
    CHECK(error_of("<a@b@c.example>") == PathError::BadAddress);
    CHECK(error_of("a@b.example>") == PathError::BadAddress);
    CHECK(error_of("<a@b.example:25>") == PathError::BadAddress);
}

TEST_CASE("address: a bad address returns no address and no parameters", "[address]") {
    const auto parsed = parse_path_argument("<a@-b.example> SIZE=1");
    CHECK(parsed.error == PathError::BadAddress);
    CHECK(parsed.address.empty());
    CHECK(parsed.params.empty());
}

TEST_CASE("address: invalid local part without @ is a bad address", "[address]") {
    CHECK(error_of("<.student>") == PathError::BadAddress);
    CHECK(error_of("<student.>") == PathError::BadAddress);
    CHECK(error_of("<stu..dent>") == PathError::BadAddress);
    CHECK(error_of("<stu(dent)>") == PathError::BadAddress);
    CHECK(error_of("<" + std::string(65, 'a') + ">") == PathError::BadAddress);
    CHECK(address_of("<" + std::string(64, 'a') + ">") == std::string(64, 'a'));
}

TEST_CASE("address: malformed source route is a bad address", "[address]") {
    CHECK(error_of("<@:a@b.example>") == PathError::BadAddress);
    CHECK(error_of("<@r1.example,r2.example:a@b.example>") == PathError::BadAddress);
    CHECK(error_of("<@r1.example,:a@b.example>") == PathError::BadAddress);
    CHECK(error_of("<@r1.example>") == PathError::BadAddress);
    CHECK(error_of("<@r1.example:>") == PathError::BadAddress);
    CHECK(error_of("<@-r1.example:a@b.example>") == PathError::BadAddress);
    CHECK(error_of("<@r1.example:a@-b.example>") == PathError::BadAddress);
}

TEST_CASE("address: quoted local part is a bad address", "[address]") {
    CHECK(error_of("<\"a b\"@x.example>") == PathError::BadAddress);
    CHECK(error_of("\"a b\"@x.example") == PathError::BadAddress);
    CHECK(error_of("<\"ab\"@x.example>") == PathError::BadAddress);
    CHECK(error_of("<\"a>b\"@x.example>") == PathError::BadAddress);
    CHECK(error_of("<\"a\\\"b\"@x.example>") == PathError::BadAddress);
}

TEST_CASE("address: 8-bit bytes are a bad address", "[address]") {
    CHECK(error_of("<j\xc3\xb6rg@x.example>") == PathError::BadAddress);
    CHECK(error_of("<a@b\xc3\xbc\x63her.example>") == PathError::BadAddress);
    CHECK(error_of("<\xff>") == PathError::BadAddress);
}

TEST_CASE("address: hostile input never throws and never yields an unchecked address",
          "[address]") {
    std::vector<std::string> inputs = {
        std::string(1'000'000, '<'),
        std::string(1'000'000, 'a'),
        "<" + std::string(1'000'000, 'a') + "@b.example>",
        "<a@b.example>" + std::string(1'000'000, ' '),
        "<a@b.example> " + std::string(1'000'000, 'X'),
        "<" + std::string(500'000, '"') + ">",
        std::string(1'000'000, '\0'),
        "<\"\\",
        "\"",
        "<@",
        "<@:",
        "@",
    };
    std::mt19937 engine(12345);  // fixed seed: the same "random" inputs on every run
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> length(0, 40);
    constexpr std::string_view kInteresting = "<>@.:,\" \\=[]";
    for (int i = 0; i < 20'000; ++i) {
        std::string text;
        const int size = length(engine);
        for (int j = 0; j < size; ++j) {
            const int b = byte(engine);
            text += b < 128 ? kInteresting[static_cast<std::size_t>(b) % kInteresting.size()]
                            : static_cast<char>(b);
        }
        inputs.push_back(text);
    }
    for (const auto& text : inputs) {
        const auto parsed = parse_path_argument(text);
        if (parsed.error != PathError::None) {
            REQUIRE(parsed.address.empty());
            REQUIRE(parsed.params.empty());
        } else if (parsed.address.find('@') != std::string::npos) {
            REQUIRE(parse_mailbox(parsed.address).has_value());
        } else if (!parsed.address.empty()) {
            REQUIRE(parse_mailbox(parsed.address + "@x.example").has_value());
        }
    }
}

// ---- parse_mailbox

TEST_CASE("address: mailbox splits into local part and domain", "[address]") {
    const auto mailbox = parse_mailbox("First.Last@Mail.Example.ORG");
    REQUIRE(mailbox.has_value());
    CHECK(mailbox->local_part == "First.Last");
    CHECK(mailbox->domain == "Mail.Example.ORG");
}

TEST_CASE("address: mailbox splits at the last @ and refuses @ in the local part", "[address]") {
    CHECK_FALSE(is_mailbox("a@b@c.example"));
    CHECK_FALSE(is_mailbox("\"a@b\"@c.example"));
}

TEST_CASE("address: mailbox needs both parts", "[address]") {
    CHECK_FALSE(is_mailbox(""));
    CHECK_FALSE(is_mailbox("@"));
    CHECK_FALSE(is_mailbox("student"));
    CHECK_FALSE(is_mailbox("@example.org"));
    CHECK_FALSE(is_mailbox("student@"));
}

TEST_CASE("address: local part accepts every atext character", "[address]") {
    CHECK(is_mailbox("a.b!#$%&'*+-/=?^_`{|}~@x.example"));
    CHECK(is_mailbox("AZaz09@x.example"));
}

TEST_CASE("address: local part refuses non-atext characters", "[address]") {
    for (const char c : "()<>[]:;@\\,\" ") {
        if (c == '\0') {
            continue;  // the string literal's terminator
        }
        INFO("character: " << c);
        CHECK_FALSE(is_mailbox("a"s + c + "b@x.example"));
    }
}

TEST_CASE("address: local part dots may not lead, trail or double", "[address]") {
    CHECK(is_mailbox("a.b.c@x.example"));
    CHECK_FALSE(is_mailbox(".a@x.example"));
    CHECK_FALSE(is_mailbox("a.@x.example"));
    CHECK_FALSE(is_mailbox("a..b@x.example"));
    CHECK_FALSE(is_mailbox(".@x.example"));
    CHECK_FALSE(is_mailbox("..@x.example"));
}

TEST_CASE("address: local part of 64 octets is accepted, 65 refused", "[address]") {
    CHECK(is_mailbox(std::string(64, 'a') + "@x.example"));
    CHECK_FALSE(is_mailbox(std::string(65, 'a') + "@x.example"));
}

TEST_CASE("address: domain labels are LDH without leading or trailing hyphen", "[address]") {
    CHECK(is_mailbox("a@localhost"));
    CHECK(is_mailbox("a@x-y.example"));
    CHECK(is_mailbox("a@123.example"));
    CHECK(is_mailbox("a@X1.EXAMPLE"));
    CHECK_FALSE(is_mailbox("a@-x.example"));
    CHECK_FALSE(is_mailbox("a@x-.example"));
    CHECK_FALSE(is_mailbox("a@x_y.example"));
    CHECK_FALSE(is_mailbox("a@x y.example"));
    CHECK_FALSE(is_mailbox("a@x/y.example"));
}

TEST_CASE("address: domain dots may not lead, double or trail", "[address]") {
    CHECK_FALSE(is_mailbox("a@.x.example"));
    CHECK_FALSE(is_mailbox("a@x..example"));
    CHECK_FALSE(is_mailbox("a@x.example."));
    CHECK_FALSE(is_mailbox("a@."));
}

TEST_CASE("address: domain label of 63 octets is accepted, 64 refused", "[address]") {
    CHECK(is_mailbox("a@" + std::string(63, 'l') + ".example"));
    CHECK_FALSE(is_mailbox("a@" + std::string(64, 'l') + ".example"));
}

namespace {

// A domain name of exactly `octets` octets made of 63-octet labels (and a shorter last one).
std::string domain_of_length(std::size_t octets) {
    std::string domain;
    while (domain.size() < octets) {
        if (!domain.empty()) {
            domain += '.';
        }
        domain += std::string(std::min<std::size_t>(63, octets - domain.size()), 'd');
    }
    if (domain.back() == '.') {  // the dot filled the length: move one octet to a last label
        domain.erase(0, 1);
        domain += 'd';
    }
    return domain;
}

}  // namespace

TEST_CASE("address: whole address of 254 octets is accepted, 255 refused", "[address]") {
    const std::string longest = "a@" + domain_of_length(252);
    REQUIRE(longest.size() == 254);
    CHECK(is_mailbox(longest));
    const std::string too_long = "ab@" + domain_of_length(252);
    REQUIRE(too_long.size() == 255);
    CHECK_FALSE(is_mailbox(too_long));
}

TEST_CASE("address: domain of 255 or 256 octets is refused (address over 254)", "[address]") {
    const std::string domain255 = domain_of_length(255);
    const std::string domain256 = domain_of_length(256);
    REQUIRE(domain255.size() == 255);
    REQUIRE(domain256.size() == 256);
    REQUIRE(domain255.back() != '.');
    REQUIRE(domain256.back() != '.');
    CHECK_FALSE(is_mailbox("a@" + domain255));
    CHECK_FALSE(is_mailbox("a@" + domain256));
}

TEST_CASE("address: IPv4 address literal is a domain", "[address]") {
    const auto mailbox = parse_mailbox("postmaster@[127.0.0.1]");
    REQUIRE(mailbox.has_value());
    CHECK(mailbox->domain == "[127.0.0.1]");
    CHECK(is_mailbox("a@[255.255.255.255]"));
}

TEST_CASE("address: malformed address literals are refused", "[address]") {
    CHECK_FALSE(is_mailbox("a@[]"));
    CHECK_FALSE(is_mailbox("a@[1.2.3]"));
    CHECK_FALSE(is_mailbox("a@[1.2.3.4.5]"));
    CHECK_FALSE(is_mailbox("a@[256.0.0.1]"));
    CHECK_FALSE(is_mailbox("a@[1.2.3.4"));
    CHECK_FALSE(is_mailbox("a@1.2.3.4]"));
    CHECK_FALSE(is_mailbox("a@[ 1.2.3.4]"));
    CHECK_FALSE(is_mailbox("a@[1.2.3.4\0]"s));
    CHECK_FALSE(is_mailbox("a@[IPv6:::1]"));
    CHECK_FALSE(is_mailbox("a@[example.org]"));
}

TEST_CASE("address: 8-bit bytes are refused in the mailbox", "[address]") {
    CHECK_FALSE(is_mailbox("j\xc3\xb6rg@x.example"));
    CHECK_FALSE(is_mailbox("a@b\xc3\xbc\x63her.example"));
}

// ---- mailbox_folder

TEST_CASE("address: mailbox folder is domain/local lower-cased", "[address]") {
    CHECK(folder_of("Student", "Example.ORG") == std::optional<std::string>("example.org/student"));
    CHECK(folder_of("first.last", "x.example")
          == std::optional<std::string>("x.example/first.last"));
}

TEST_CASE("address: address literal is a valid folder name", "[address]") {
    CHECK(folder_of("a", "[127.0.0.1]") == std::optional<std::string>("[127.0.0.1]/a"));
}

TEST_CASE("address: folder is refused for dot-dot and leading-dot parts", "[address]") {
    CHECK_FALSE(is_mailbox("..@x.example"));
    CHECK_FALSE(is_mailbox(".a@x.example"));
    CHECK_FALSE(folder_of("..", "x.example").has_value());
    CHECK_FALSE(folder_of(".", "x.example").has_value());
    CHECK_FALSE(folder_of(".a", "x.example").has_value());
    CHECK_FALSE(folder_of("a", "..").has_value());
    CHECK_FALSE(folder_of("a", ".").has_value());
    CHECK_FALSE(folder_of("a", ".x.example").has_value());
}

TEST_CASE("address: folder is refused for a slash even though it is atext", "[address]") {
    const auto mailbox = parse_mailbox("a/b@x.example");
    REQUIRE(mailbox.has_value());  // RFC 5322 allows "/" in a local part
    CHECK_FALSE(mailbox_folder(*mailbox).has_value());
    CHECK_FALSE(folder_of("../../etc", "x.example").has_value());
    CHECK_FALSE(folder_of("a", "x/y").has_value());
}

TEST_CASE("address: folder is refused for backslash and control characters", "[address]") {
    CHECK_FALSE(folder_of("a\\b", "x.example").has_value());
    CHECK_FALSE(folder_of("a\0b"s, "x.example").has_value());
    CHECK_FALSE(folder_of("a", "x\0.example"s).has_value());
    CHECK_FALSE(folder_of("a\nb", "x.example").has_value());
    CHECK_FALSE(folder_of("a\x1f", "x.example").has_value());
    CHECK_FALSE(folder_of("a\x7f", "x.example").has_value());
}

TEST_CASE("address: folder is refused for empty parts", "[address]") {
    CHECK_FALSE(folder_of("", "x.example").has_value());
    CHECK_FALSE(folder_of("a", "").has_value());
}

// ---- ASCII case helpers

TEST_CASE("address: to_lower_ascii lowers only ASCII letters", "[address]") {
    CHECK(to_lower_ascii("MiXeD-123@Example.ORG") == "mixed-123@example.org");
    CHECK(to_lower_ascii("[\\]^_@`{|}~") == "[\\]^_@`{|}~");
    CHECK(to_lower_ascii("\xc3\x89\xc9") == "\xc3\x89\xc9");
    CHECK(to_lower_ascii("") == "");
}

TEST_CASE("address: iequals_ascii ignores only ASCII case", "[address]") {
    CHECK(iequals_ascii("MAIL", "mail"));
    CHECK(iequals_ascii("PostMaster", "postmaster"));
    CHECK(iequals_ascii("", ""));
    CHECK_FALSE(iequals_ascii("mail", "mai"));
    CHECK_FALSE(iequals_ascii("rcpt", "rcps"));
    CHECK_FALSE(iequals_ascii("[", "{"));  // differ by 0x20 but are not letters
    CHECK_FALSE(iequals_ascii("@", "`"));
    CHECK_FALSE(iequals_ascii("\xc9", "\xe9"));  // Latin-1 E acute: not ASCII
}
