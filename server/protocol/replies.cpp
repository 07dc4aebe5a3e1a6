// Reply texts that carry a host name, an address or an ID; see replies.h.
#include "server/protocol/replies.h"

#include "common/text.h"

#include <initializer_list>

namespace labmta::protocol::replies {
namespace {

std::string concat(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (const std::string_view part : parts) {
        out.append(part);
    }
    return out;
}

}  // namespace

std::string queued_as(std::string_view queue_id) {
    return concat({"250 2.0.0 Ok: queued as ", queue_id});
}
std::string greeting(std::string_view host, std::string_view banner) {
    return concat({"220 ", host, " ", banner});
}
std::string helo_ok(std::string_view host) {
    return concat({"250 ", host});
}
std::string vrfy_cannot_verify(std::string_view argument) {
    return concat({"252 2.0.0 ", common::replace_control_chars(argument)});
}
std::string unsupported_option(std::string_view keyword) {
    return concat({"555 5.5.4 Unsupported option: ", keyword});
}
std::string relay_denied(std::string_view recipient) {
    return concat({"554 5.7.1 <", recipient, ">: Relay access denied"});
}
std::string user_unknown(std::string_view recipient) {
    return concat({"550 5.1.1 <",
                   recipient,
                   ">: Recipient address rejected: User unknown in local recipient table"});
}
std::string bare_newline(std::string_view host) {
    return concat({"550 5.5.2 ", host, " Error: bare <LF> received"});
}
std::string command_too_long(std::string_view host) {
    return concat({"500 5.5.2 ", host, " Error: command too long"});
}
std::string too_many_errors(std::string_view host) {
    return concat({"421 4.7.0 ", host, " Error: too many errors"});
}
std::string too_many_auth_failures(std::string_view host) {
    return concat({"421 4.7.0 ", host, " Error: too many AUTH failures"});
}
std::string timeout_exceeded(std::string_view host) {
    return concat({"421 4.4.2 ", host, " Error: timeout exceeded"});
}
std::string shutting_down(std::string_view host) {
    return concat({"421 4.3.2 ", host, " Service shutting down"});
}

std::string too_many_connections(std::string_view host) {
    return concat({"421 4.7.0 ", host, " Error: too many connections"});
}
std::string too_many_connections_from(std::string_view host, std::string_view ip) {
    return concat({"421 4.7.0 ", host, " Error: too many connections from ", ip});
}

}  // namespace labmta::protocol::replies
