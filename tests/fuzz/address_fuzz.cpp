// libFuzzer target: the MAIL FROM / RCPT TO argument parser, the mailbox validator and the
// mailbox folder mapping. The folder is what becomes a path under <spool>/mailboxes, so it
// must never be able to leave its parent, whatever the bytes.
#include "common/address.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace {

using labmta::common::Mailbox;
using labmta::common::mailbox_folder;
using labmta::common::parse_mailbox;
using labmta::common::parse_path_argument;
using labmta::common::PathError;

[[noreturn]] void fail(const char* what, std::string_view text) {
    std::fprintf(
        stderr, "address_fuzz: %s: '%.*s'\n", what, static_cast<int>(text.size()), text.data());
    std::abort();
}

bool is_control(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
}

// A folder is "domain/local-part": two safe single path components, lower-cased.
void check_component(std::string_view component, std::string_view folder) {
    if (component.empty()) {
        fail("empty folder component", folder);
    }
    if (component.front() == '.') {
        fail("folder component starts with '.'", folder);
    }
    for (const char c : component) {
        if (is_control(c)) {
            fail("control character in folder", folder);
        }
        if (c >= 'A' && c <= 'Z') {
            fail("upper case in folder", folder);
        }
    }
}

void check_folder(const Mailbox& mailbox) {
    const std::optional<std::string> folder = mailbox_folder(mailbox);
    if (!folder) {
        return;
    }
    const std::size_t slash = folder->find('/');
    if (slash == std::string::npos || folder->find('/', slash + 1) != std::string::npos) {
        fail("folder does not have exactly one '/'", *folder);
    }
    if (folder->find("/..") != std::string::npos || folder->find("..") == 0) {
        fail("folder contains '..'", *folder);
    }
    check_component(std::string_view(*folder).substr(0, slash), *folder);
    check_component(std::string_view(*folder).substr(slash + 1), *folder);
}

void check_mailbox(std::string_view address) {
    const std::optional<Mailbox> mailbox = parse_mailbox(address);
    if (!mailbox) {
        return;
    }
    // The limits parse_mailbox documents (RFC 5321 4.5.3.1).
    if (mailbox->local_part.empty() || mailbox->local_part.size() > 64) {
        fail("local part length out of 1..64", address);
    }
    if (mailbox->domain.empty() || mailbox->domain.size() > 255 || address.size() > 254) {
        fail("domain or address too long", address);
    }
    check_folder(*mailbox);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    const auto path = parse_path_argument(text);
    if (path.error == PathError::None) {
        for (const auto& param : path.params) {
            for (const char c : param.keyword) {
                if (c >= 'a' && c <= 'z') {
                    fail("parameter keyword not upper-cased", param.keyword);
                }
            }
        }
        check_mailbox(path.address);
    }
    check_mailbox(text);

    // mailbox_folder validates on its own, whatever it is given: split the bytes at the first
    // '@' (or not at all) into a raw local part and domain.
    const std::size_t at = text.find('@');
    const Mailbox raw = at == std::string_view::npos ? Mailbox{std::string(text), "domain.local"}
                                                     : Mailbox{std::string(text.substr(0, at)),
                                                               std::string(text.substr(at + 1))};
    check_folder(raw);
    return 0;
}
