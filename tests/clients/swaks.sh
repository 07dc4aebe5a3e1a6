#!/usr/bin/env bash
# Real client check: swaks sends one message to labmta (lab config, free port on 127.0.0.1,
# temporary spool) and the message must land in student's Maildir.
# Usage: swaks.sh /path/to/labmta. Exit 77 (skipped in CTest) when swaks is not installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
client_setup swaks "${1:-}" swaks
start_labmta

marker="swaks-$$-$RANDOM$RANDOM"
swaks --server 127.0.0.1 --port "$port" --helo swaks.example \
    --from x@domain.local --to student@domain.local \
    --header "Subject: $marker" --body "Sent by swaks: $marker" \
    >"$work/client.log" 2>&1 || fail "swaks failed"

wait_for_delivery "Sent by swaks: $marker"
grep -q -F -- "Subject: $marker" "$delivered" || fail "delivered file lacks the Subject"
grep -q '^Return-Path: <x@domain.local>$' "$delivered" || fail "no Return-Path in $delivered"

stop_labmta
echo "swaks: message $marker delivered to $delivered"
