// The SMTP verbs the session understands, mapped to their handlers through one static table.
// Pure lookup; the handlers themselves are Session members.
#pragma once

#include "server/protocol/session.h"

#include <string_view>

namespace labmta::protocol {

struct CommandTable {
    using Handler = void (Session::*)(std::string_view argument);
    struct Command {
        std::string_view verb;  // upper-case
        Handler handler;
    };
    // The command for this verb (compared case-insensitively), or nullptr.
    static const Command* find(std::string_view verb);
};

}  // namespace labmta::protocol
