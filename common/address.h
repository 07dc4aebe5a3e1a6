// Mail addresses: parsing the argument of MAIL FROM / RCPT TO (RFC 5321 4.1.2), and mapping
// a local mailbox to a folder name that can never leave its parent. Pure, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labmta::common {

struct Mailbox {
    std::string local_part;
    std::string domain;  // a domain name or an address literal such as "[127.0.0.1]"
};

struct EsmtpParam {
    std::string keyword;  // upper-cased, e.g. "SIZE"
    std::string value;    // as given; empty when the parameter has no "="
};

enum class PathError {
    None,
    Syntax,      // nothing usable: empty argument, unbalanced "<", bad parameter syntax
    BadAddress,  // a path was found but the address in it is not valid
};

struct PathArgument {
    PathError error = PathError::None;
    std::string address;  // without angle brackets or source route; "" for the null path <>
    std::vector<EsmtpParam> params;
};

// Parses what follows "MAIL FROM:" or "RCPT TO:". Accepts, as Postfix does for people typing
// by hand: spaces after the colon, an address with or without angle brackets, and a source
// route "<@a,@b:user@d>" (which is dropped, RFC 5321 3.6.1). Parameters follow the path,
// separated by spaces. An address without "@" is returned as it is (the session decides).
PathArgument parse_path_argument(std::string_view text);

// Splits and validates "local@domain": a dot-atom local part of at most 64 octets (quoted
// local parts are refused), a domain of at most 255 octets made of LDH labels (or an IPv4
// address literal), at most 254 octets in all. nullopt when invalid.
std::optional<Mailbox> parse_mailbox(std::string_view address);

// "domain/local-part" lower-cased, for <spool>/mailboxes/. nullopt unless both parts are safe
// as single path components: not empty, no "/", no NUL or control character, no leading dot,
// not "." or "..".
std::optional<std::string> mailbox_folder(const Mailbox& mailbox);

std::string to_lower_ascii(std::string_view text);
bool iequals_ascii(std::string_view a, std::string_view b);

}  // namespace labmta::common
