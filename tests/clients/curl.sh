#!/usr/bin/env bash
# Real client check: curl (smtp://) uploads one message to labmta (lab config, free port on
# 127.0.0.1, temporary spool) and the message must land in student's Maildir.
# Usage: curl.sh /path/to/labmta. Exit 77 (skipped in CTest) when curl is not installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
client_setup curl "${1:-}" curl
curl --version | grep -q -w smtp || { echo "this curl has no smtp support: skipped"; exit 77; }
start_labmta

# curl sends the file as it is: write it with CRLF line endings, and a line starting with "."
# to check that curl's dot-stuffing is undone.
marker="curl-$$-$RANDOM$RANDOM"
printf 'From: x@domain.local\r\nTo: student@domain.local\r\nSubject: %s\r\n\r\nSent by curl: %s\r\n.dot line\r\n' \
    "$marker" "$marker" >"$work/message.txt"
curl --silent --show-error --noproxy '*' --max-time 30 \
    "smtp://127.0.0.1:$port/curl.example" \
    --mail-from x@domain.local --mail-rcpt student@domain.local \
    --upload-file "$work/message.txt" >"$work/client.log" 2>&1 || fail "curl failed"

wait_for_delivery "Sent by curl: $marker"
grep -q -F -- "Subject: $marker" "$delivered" || fail "delivered file lacks the Subject"
grep -q -x -F -- ".dot line" "$delivered" || fail "the dot line was not unstuffed in $delivered"
if grep -q $'\r' "$delivered"; then fail "delivered file has CR characters"; fi

stop_labmta
echo "curl: message $marker delivered to $delivered"
