// The verb table; see commands.h. Each handler checks ordering (503), then syntax (501),
// then does the work.
#include "server/protocol/commands.h"

#include "common/address.h"

#include <array>

namespace labmta::protocol {

const CommandTable::Command* CommandTable::find(std::string_view verb) {
    static const std::array<Command, 14> kCommands{{
        {"HELO", &Session::handle_helo},
        {"EHLO", &Session::handle_ehlo},
        {"AUTH", &Session::handle_auth},
        {"MAIL", &Session::handle_mail},
        {"RCPT", &Session::handle_rcpt},
        {"DATA", &Session::handle_data},
        {"RSET", &Session::handle_rset},
        {"NOOP", &Session::handle_noop},
        {"QUIT", &Session::handle_quit},
        {"VRFY", &Session::handle_vrfy},
        {"HELP", &Session::handle_help},
        // Web and proxy requests sent to port 25 (Postfix's smtpd_forbidden_commands).
        {"GET", &Session::handle_non_smtp},
        {"POST", &Session::handle_non_smtp},
        {"CONNECT", &Session::handle_non_smtp},
    }};
    for (const Command& command : kCommands) {
        if (common::iequals_ascii(command.verb, verb)) {
            return &command;
        }
    }
    return nullptr;
}

}  // namespace labmta::protocol
