#!/usr/bin/env bash
# Real client check: Python's smtplib (tests/clients/smtplib_send.py) sends one message to
# labmta (lab config, free port on 127.0.0.1, temporary spool) and it must land in student's
# Maildir. Usage: smtplib.sh /path/to/labmta. Exit 77 (skipped) when python3 is missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.bash"
client_setup smtplib "${1:-}" python3
start_labmta

marker="smtplib-$$-$RANDOM$RANDOM"
python3 "$here/smtplib_send.py" "$port" "$marker" >"$work/client.log" 2>&1 \
    || fail "smtplib_send.py failed"

wait_for_delivery "Sent by smtplib: $marker"
grep -q -F -- "Subject: $marker" "$delivered" || fail "delivered file lacks the Subject"
grep -q -x -F -- ".line starting with a dot" "$delivered" \
    || fail "the dot line was not unstuffed in $delivered"
if grep -q $'\r' "$delivered"; then fail "delivered file has CR characters"; fi

stop_labmta
echo "smtplib: message $marker delivered to $delivered"
