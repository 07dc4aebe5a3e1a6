// The SMTP envelope of one message: who sent it, to whom, and from where.
// A plain value shared by the protocol, the spool and delivery; no behaviour here.
#pragma once

#include <string>
#include <vector>

namespace labmta::common {

struct Envelope {
    std::string sender;                   // "" is the null sender <>
    std::vector<std::string> recipients;  // in RCPT order, as given (no angle brackets)
    std::string helo;                     // HELO/EHLO argument
    std::string protocol;                 // "SMTP" (HELO) or "ESMTP" (EHLO)
    std::string client_host;              // client's host name, "unknown" when not known
    std::string client_ip;
    std::string auth_user;  // empty when the session did not authenticate
};

}  // namespace labmta::common
