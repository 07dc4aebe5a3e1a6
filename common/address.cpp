// Parsing of MAIL FROM / RCPT TO arguments and validation of mailboxes (RFC 5321 4.1.2,
// RFC 5322 3.4.1), and the mapping of a mailbox to a safe folder name. Pure: no I/O, no
// exceptions, linear in the input whatever a client sends.
#include "common/address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstddef>
#include <utility>

namespace labmta::common {
namespace {

constexpr std::size_t kMaxLocalPartOctets = 64;  // RFC 5321 4.5.3.1.1
constexpr std::size_t kMaxDomainOctets = 255;    // RFC 5321 4.5.3.1.2
constexpr std::size_t kMaxAddressOctets = 254;   // RFC 5321 4.5.3.1.3: 256 minus "<" ">"
constexpr std::size_t kMaxLabelOctets = 63;      // RFC 1035 2.3.4

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_alnum(char c) {
    return is_alpha(c) || is_digit(c);
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

bool is_control(char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

char lower_ascii(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

char upper_ascii(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

// RFC 5322 3.2.3 atext; bytes >= 0x80 are not atext (no SMTPUTF8 yet).
bool is_atext(char c) {
    constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
    return is_alnum(c) || kSpecials.find(c) != std::string_view::npos;
}

// RFC 5321 4.1.2 esmtp-value: printable US-ASCII except "=".
bool is_esmtp_value_char(char c) {
    return c >= 33 && c <= 126 && c != '=';
}

bool is_dot_atom(std::string_view text) {
    if (text.empty() || text.front() == '.' || text.back() == '.') {
        return false;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '.') {
            if (text[i + 1] == '.') {  // i + 1 exists: the text does not end with "."
                return false;
            }
        } else if (!is_atext(text[i])) {
            return false;
        }
    }
    return true;
}

bool is_valid_local_part(std::string_view local) {
    return local.size() <= kMaxLocalPartOctets && is_dot_atom(local);
}

// RFC 1035 2.3.1: letters, digits and hyphens, not starting or ending with a hyphen.
bool is_ldh_label(std::string_view label) {
    if (label.empty() || label.size() > kMaxLabelOctets || label.front() == '-'
        || label.back() == '-') {
        return false;
    }
    return std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

bool is_domain_name(std::string_view domain) {
    if (domain.empty() || domain.size() > kMaxDomainOctets) {
        return false;
    }
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = domain.find('.', start);
        const std::string_view label = domain.substr(start, dot - start);
        if (!is_ldh_label(label)) {
            return false;  // also catches "a..b", ".a" and the trailing dot of "a."
        }
        if (dot == std::string_view::npos) {
            return true;
        }
        start = dot + 1;
    }
}

// "[1.2.3.4]" (RFC 5321 4.1.3). IPv6 and general literals are not accepted.
bool is_ipv4_literal(std::string_view domain) {
    if (domain.size() < 2 || domain.front() != '[' || domain.back() != ']') {
        return false;
    }
    const std::string_view inner = domain.substr(1, domain.size() - 2);
    // Checked first so that an embedded NUL cannot end the string early for inet_pton.
    if (!std::all_of(inner.begin(), inner.end(), [](char c) { return is_digit(c) || c == '.'; })) {
        return false;
    }
    const std::string text(inner);
    in_addr parsed{};
    return inet_pton(AF_INET, text.c_str(), &parsed) == 1;
}

// "@a,@b:" before the mailbox, without the final ":"; each hop must be "@" and a domain.
bool is_valid_source_route(std::string_view route) {
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = route.find(',', start);
        const std::string_view hop = route.substr(start, comma - start);
        if (hop.size() < 2 || hop.front() != '@') {
            return false;
        }
        const std::string_view domain = hop.substr(1);
        if (!is_domain_name(domain) && !is_ipv4_literal(domain)) {
            return false;
        }
        if (comma == std::string_view::npos) {
            return true;
        }
        start = comma + 1;
    }
}

std::size_t skip_spaces(std::string_view text, std::size_t pos) {
    while (pos < text.size() && is_space(text[pos])) {
        ++pos;
    }
    return pos;
}

// Where the path that starts text ends, skipping quoted strings so that <"a>b"@c> and
// "a b"@c are one path each: the ">" closing a "<" at text[0] (npos when unbalanced), or for a
// bare address the first space (or the end of the text).
std::size_t find_path_end(std::string_view text) {
    const bool bracketed = text.front() == '<';
    bool quoted = false;
    for (std::size_t i = bracketed ? 1 : 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted && c == '\\') {
            ++i;  // quoted-pair: the next byte is literal
        } else if (c == '"') {
            quoted = !quoted;
        } else if (!quoted && (bracketed ? c == '>' : is_space(c))) {
            return i;
        }
    }
    return bracketed ? std::string_view::npos : text.size();
}

// RFC 5321 4.1.2 esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
bool is_esmtp_keyword(std::string_view keyword) {
    return !keyword.empty() && is_alnum(keyword.front())
           && std::all_of(
               keyword.begin(), keyword.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

// One "KEYWORD[=value]" (RFC 5321 4.1.2 esmtp-param); nullopt on bad syntax.
std::optional<EsmtpParam> parse_param(std::string_view token) {
    const std::size_t equals = token.find('=');
    const std::string_view keyword = token.substr(0, equals);
    if (!is_esmtp_keyword(keyword)) {
        return std::nullopt;
    }
    EsmtpParam param{std::string(keyword), ""};
    std::transform(param.keyword.begin(), param.keyword.end(), param.keyword.begin(), upper_ascii);
    if (equals != std::string_view::npos) {
        const std::string_view value = token.substr(equals + 1);
        if (value.empty() || !std::all_of(value.begin(), value.end(), is_esmtp_value_char)) {
            return std::nullopt;
        }
        param.value = std::string(value);
    }
    return param;
}

// The parameters after the path: tokens separated by spaces. false on bad syntax.
bool parse_params(std::string_view text, std::vector<EsmtpParam>& params) {
    std::size_t pos = skip_spaces(text, 0);
    while (pos < text.size()) {
        std::size_t end = pos;
        while (end < text.size() && !is_space(text[end])) {
            ++end;
        }
        auto param = parse_param(text.substr(pos, end - pos));
        if (!param) {
            return false;
        }
        params.push_back(std::move(*param));
        pos = skip_spaces(text, end);
    }
    return true;
}

// What a path argument splits into before validation: the address as written (with any
// source route), and the rest of the line holding the parameters.
struct RawPath {
    std::string_view address;
    std::string_view rest;
    bool bracketed = false;
};

std::optional<RawPath> split_path(std::string_view text) {
    const std::size_t end = find_path_end(text);
    if (text.front() != '<') {
        // Postfix with strict_rfc821_envelopes=no also takes an address without brackets.
        return RawPath{text.substr(0, end), text.substr(end), false};
    }
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view rest = text.substr(end + 1);
    if (!rest.empty() && !is_space(rest.front())) {
        return std::nullopt;  // "<a@b>x": junk glued to the path
    }
    return RawPath{text.substr(1, end - 1), rest, true};
}

// Drops "@a,@b:" (RFC 5321 3.6.1: routes must be accepted and may be ignored). nullopt when
// the route is malformed.
std::optional<std::string_view> strip_source_route(std::string_view address) {
    if (address.empty() || address.front() != '@') {
        return address;
    }
    const std::size_t colon = address.find(':');
    if (colon == std::string_view::npos || !is_valid_source_route(address.substr(0, colon))) {
        return std::nullopt;
    }
    const std::string_view mailbox = address.substr(colon + 1);
    if (mailbox.empty()) {
        return std::nullopt;  // "<@a:>" is not the null path
    }
    return mailbox;
}

// An address with "@" must be a valid mailbox; one without must be a valid local part.
bool is_acceptable_address(std::string_view address) {
    if (address.find('@') == std::string_view::npos) {
        return is_valid_local_part(address);
    }
    return parse_mailbox(address).has_value();
}

// A folder name component: see mailbox_folder() in the header.
bool is_safe_path_component(std::string_view part) {
    if (part.empty() || part.front() == '.') {  // also refuses "." and ".."
        return false;
    }
    return std::none_of(part.begin(), part.end(), [](char c) {
        return c == '/' || c == '\\' || is_control(c);  // NUL is a control character
    });
}

}  // namespace

// The shape of the line (brackets, parameters) is checked before the address, so a line
// with both kinds of fault is a Syntax error.
PathArgument parse_path_argument(std::string_view text) {
    PathArgument result;
    const std::size_t start = skip_spaces(text, 0);
    if (start == text.size()) {
        result.error = PathError::Syntax;
        return result;
    }
    const auto raw = split_path(text.substr(start));
    if (!raw || !parse_params(raw->rest, result.params)) {
        result.params.clear();
        result.error = PathError::Syntax;
        return result;
    }
    if (raw->bracketed && raw->address.empty()) {
        return result;  // the null path "<>"
    }
    const auto address = strip_source_route(raw->address);
    if (!address || !is_acceptable_address(*address)) {
        result.params.clear();
        result.error = PathError::BadAddress;
        return result;
    }
    result.address = std::string(*address);
    return result;
}

std::optional<Mailbox> parse_mailbox(std::string_view address) {
    const std::size_t at = address.rfind('@');
    if (at == std::string_view::npos || address.size() > kMaxAddressOctets) {
        return std::nullopt;
    }
    const std::string_view local = address.substr(0, at);
    const std::string_view domain = address.substr(at + 1);
    // A quoted local part fails is_dot_atom: '"' and spaces are not atext.
    if (!is_valid_local_part(local) || !(is_domain_name(domain) || is_ipv4_literal(domain))) {
        return std::nullopt;
    }
    return Mailbox{std::string(local), std::string(domain)};
}

std::optional<std::string> mailbox_folder(const Mailbox& mailbox) {
    const std::string domain = to_lower_ascii(mailbox.domain);
    const std::string local = to_lower_ascii(mailbox.local_part);
    if (!is_safe_path_component(domain) || !is_safe_path_component(local)) {
        return std::nullopt;
    }
    return domain + "/" + local;
}

std::string to_lower_ascii(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), lower_ascii);
    return lower;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return lower_ascii(x) == lower_ascii(y);
    });
}

}  // namespace labmta::common
