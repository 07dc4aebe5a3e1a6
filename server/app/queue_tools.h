// The queue tools Postfix users reach for, as functions main.cpp runs as subcommands:
// `labmta queue [--json]` (mailq), `labmta show <ID>` (postcat -q), `labmta delete <ID>|ALL`
// (postsuper -d) and `labmta flush` (postqueue -f). They read the spool directly and are safe
// while the server runs; they never log, they write to the streams they are given.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>

namespace labmta::app {

// "<spool_root>/labmta.pid": the running server's pid, written at start and removed at stop.
std::string pid_file_path(const std::string& spool_root);

// Lists the queue like mailq: "Mail queue is empty", or a header line, one entry per message
// (ID, message size, arrival time, sender or MAILER-DAEMON, then each recipient not yet
// delivered, after a "(reason)" line when it was deferred) and "-- N Kbytes in M Requests.".
// With json, one JSON array of {queue_id, arrival_time (epoch s), message_size, sender
// ("" for the null sender), recipients: [{address, delivered, delay_reason?}]}.
// Returns 0, or 1 (with a message on err) when the spool has no queue. Queue files that
// cannot be read are reported on err and left out.
int run_queue_list(const std::string& spool_root, bool json, std::ostream& out, std::ostream& err);
// The same with err = std::cerr.
int run_queue_list(const std::string& spool_root, bool json, std::ostream& out);

// Prints one message like postcat -q: "*** ENVELOPE RECORDS <ID> ***" (size, arrival time,
// sender, helo, protocol, client, auth user, each recipient with its status, the retry state),
// "*** MESSAGE CONTENTS <ID> ***", the message, "*** MESSAGE FILE END <ID> ***". Returns 1
// with a message on err for an invalid or unknown ID.
int run_show(const std::string& spool_root,
             std::string_view id,
             std::ostream& out,
             std::ostream& err);

// Removes queued mail like postsuper -d: incoming/<ID> and defer/<ID>, one
// "labmta: <ID>: removed" line each, then "labmta: Deleted: N messages". "ALL" removes every
// queued message (and any defer file left without one). Returns 1 when a single ID was invalid
// or not queued.
//
// While the server runs: a message that the server is delivering at this moment may still
// reach the recipients of that attempt, since the server already holds its content; after the
// delete, the server finds the queue file gone and drops the message instead of retrying.
int run_delete(const std::string& spool_root,
               std::string_view id_or_all,
               std::ostream& out,
               std::ostream& err);

// Asks the running server to retry all deferred mail now: sends SIGUSR1 to the pid in
// pid_file_path(spool_root). Returns 1 with a message on err when no server runs (no pid file,
// no such process) or the pid file names a process that is not labmta (a stale file whose pid
// was reused: it must not receive a signal whose default action is to terminate).
int run_flush(const std::string& spool_root, std::ostream& out, std::ostream& err);

}  // namespace labmta::app
