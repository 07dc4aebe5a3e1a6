// Every SMTP reply text labmta sends, in one catalogue, copied from Postfix's smtpd with the
// enhanced status codes of RFC 3463. Lines are without CRLF; reply_format adds it.
#pragma once

#include <string>
#include <string_view>

namespace labmta::protocol::replies {

inline constexpr std::string_view kOk = "250 2.0.0 Ok";
inline constexpr std::string_view kMailOk = "250 2.1.0 Ok";
inline constexpr std::string_view kRcptOk = "250 2.1.5 Ok";
inline constexpr std::string_view kStartData = "354 End data with <CR><LF>.<CR><LF>";
inline constexpr std::string_view kBye = "221 2.0.0 Bye";
inline constexpr std::string_view kHelp =
    "214 2.0.0 Commands: HELO EHLO AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY HELP";

inline constexpr std::string_view kNotRecognized = "500 5.5.2 Error: command not recognized";
inline constexpr std::string_view kBadSyntax = "500 5.5.2 Error: bad syntax";
inline constexpr std::string_view kBadUtf8 = "500 5.5.2 Error: bad UTF-8 syntax";
// Sent by net/ when a client talks before the greeting (smtpd.greet_pause).
inline constexpr std::string_view kProtocolSynchronization =
    "554 5.5.0 Error: SMTP protocol synchronization";
inline constexpr std::string_view kHeloSyntax = "501 5.5.4 Syntax: HELO hostname";
inline constexpr std::string_view kEhloSyntax = "501 5.5.4 Syntax: EHLO hostname";
inline constexpr std::string_view kMailSyntax = "501 5.5.4 Syntax: MAIL FROM:<address>";
inline constexpr std::string_view kRcptSyntax = "501 5.5.4 Syntax: RCPT TO:<address>";
inline constexpr std::string_view kDataSyntax = "501 5.5.4 Syntax: DATA";
inline constexpr std::string_view kRsetSyntax = "501 5.5.4 Syntax: RSET";
inline constexpr std::string_view kQuitSyntax = "501 5.5.4 Syntax: QUIT";
inline constexpr std::string_view kVrfySyntax = "501 5.5.4 Syntax: VRFY address";
inline constexpr std::string_view kBadSender = "501 5.1.7 Bad sender address syntax";
inline constexpr std::string_view kBadRecipient = "501 5.1.3 Bad recipient address syntax";
inline constexpr std::string_view kBadSizeSyntax = "501 5.5.4 Bad message size syntax";
inline constexpr std::string_view kBadBodySyntax = "501 5.5.4 Bad BODY keyword value";
inline constexpr std::string_view kNestedMail = "503 5.5.1 Error: nested MAIL command";
inline constexpr std::string_view kNeedMail = "503 5.5.1 Error: need MAIL command";
inline constexpr std::string_view kNeedRcpt = "503 5.5.1 Error: need RCPT command";
inline constexpr std::string_view kNoValidRecipients = "554 5.5.1 Error: no valid recipients";
inline constexpr std::string_view kTooManyRecipients = "452 4.5.3 Error: too many recipients";
inline constexpr std::string_view kSizeExceedsLimit = "552 5.3.4 Message size exceeds fixed limit";
inline constexpr std::string_view kMessageTooBig = "552 5.3.4 Error: message file too big";
inline constexpr std::string_view kTooManyHops = "554 5.4.6 Error: too many hops";
inline constexpr std::string_view kQueueWriteError = "451 4.3.0 Error: queue file write error";
inline constexpr std::string_view kInsufficientStorage = "452 4.3.1 Insufficient system storage";
inline constexpr std::string_view kAuthOk = "235 2.7.0 Authentication successful";
inline constexpr std::string_view kAuthFailed =
    "535 5.7.8 Error: authentication failed: authentication failure";
inline constexpr std::string_view kAuthAborted = "501 5.7.0 Authentication aborted";
inline constexpr std::string_view kAuthBadInitialBase64 =
    "501 5.5.2 Invalid base64 data in initial response";
inline constexpr std::string_view kAuthBadContinuedBase64 =
    "501 5.5.2 Invalid base64 data in continued response";
inline constexpr std::string_view kAuthUnsupported =
    "504 5.5.4 Unsupported authentication mechanism";
inline constexpr std::string_view kAuthAlready = "503 5.5.1 Error: already authenticated";
inline constexpr std::string_view kAuthInTransaction =
    "503 5.5.1 Error: MAIL transaction in progress";
inline constexpr std::string_view kAuthNeedHelo = "503 5.5.1 Error: send HELO/EHLO first";
inline constexpr std::string_view kAuthNotEnabled = "503 5.5.1 Error: authentication not enabled";
inline constexpr std::string_view kAuthSyntax = "501 5.5.4 Syntax: AUTH mechanism";
inline constexpr std::string_view kAuthUsernamePrompt = "334 VXNlcm5hbWU6";  // "Username:"
inline constexpr std::string_view kAuthPasswordPrompt = "334 UGFzc3dvcmQ6";  // "Password:"
inline constexpr std::string_view kAuthPlainPrompt = "334 ";                 // empty challenge
inline constexpr std::string_view kNonSmtpCommand =
    "221 2.7.0 Error: I can break rules, too. Goodbye.";

std::string queued_as(std::string_view queue_id);  // 250 2.0.0 Ok: queued as <ID>
std::string greeting(std::string_view host, std::string_view banner);  // 220 <host> <banner>
std::string helo_ok(std::string_view host);                            // 250 <host>
std::string vrfy_cannot_verify(std::string_view argument);             // 252 2.0.0 <argument>
std::string unsupported_option(std::string_view keyword);  // 555 5.5.4 Unsupported option
std::string relay_denied(std::string_view recipient);      // 554 5.7.1 <r>: Relay ...
std::string user_unknown(std::string_view recipient);      // 550 5.1.1 <r>: Recipient ...
std::string bare_newline(std::string_view host);           // 550 5.5.2 <host> Error: ...
std::string command_too_long(std::string_view host);       // 500 5.5.2 <host> Error: ...
std::string too_many_errors(std::string_view host);        // 421 4.7.0 <host> Error: ...
std::string timeout_exceeded(std::string_view host);       // 421 4.4.2 <host> Error: ...
std::string shutting_down(std::string_view host);          // 421 4.3.2 <host> Service ...
std::string too_many_connections(std::string_view host);   // 421 4.7.0 <host> Error: ...
std::string too_many_connections_from(std::string_view host, std::string_view ip);
// 421 4.7.0 <host> Error: too many AUTH failures
std::string too_many_auth_failures(std::string_view host);

}  // namespace labmta::protocol::replies
