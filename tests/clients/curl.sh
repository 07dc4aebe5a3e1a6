#!/usr/bin/env bash
# Real client check: curl (smtp://) uploads one message to labmta (lab config, free port on
# 127.0.0.1, temporary spool) and the message must land in student's Maildir.
# Usage: curl.sh /path/to/labmta. Exit 77 (skipped in CTest) when curl is not installed.
set -euo pipefail

labmta=${1:?usage: $0 /path/to/labmta}
command -v curl >/dev/null 2>&1 || { echo "curl is not installed: skipped"; exit 77; }
curl --version | grep -q -w smtp || { echo "this curl has no smtp support: skipped"; exit 77; }
config="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/config/labmta.yaml"

work=$(mktemp -d "${TMPDIR:-/tmp}/labmta-curl-XXXXXX")
server_pid=""
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for log in "$work"/client.log "$work"/labmta.log; do
        [[ -f $log ]] && { echo "---- $log" >&2; tail -n 40 "$log" >&2; }
    done
    exit 1
}

# Start the server and wait (at most 10 s) for the ready file with the bound port.
"$labmta" serve --config "$config" --listen 127.0.0.1:0 --spool "$work/spool" \
    --ready-file "$work/ready" >"$work/labmta.log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do
    [[ -s $work/ready ]] && break
    kill -0 "$server_pid" 2>/dev/null || fail "labmta exited before it was ready"
    sleep 0.05
done
[[ -s $work/ready ]] || fail "no ready file after 10 s"
listener=$(head -n 1 "$work/ready")
port=${listener##*:}

# curl sends the file as it is: write it with CRLF line endings, and a line starting with "."
# to check that curl's dot-stuffing is undone.
marker="curl-$$-$RANDOM$RANDOM"
printf 'From: x@domain.local\r\nTo: student@domain.local\r\nSubject: %s\r\n\r\nSent by curl: %s\r\n.dot line\r\n' \
    "$marker" "$marker" >"$work/message.txt"
curl --silent --show-error --noproxy '*' --max-time 30 \
    "smtp://127.0.0.1:$port/curl.example" \
    --mail-from x@domain.local --mail-rcpt student@domain.local \
    --upload-file "$work/message.txt" >"$work/client.log" 2>&1 || fail "curl failed"

# Wait (at most 10 s) for the delivered file.
maildir="$work/spool/mailboxes/domain.local/student/new"
delivered=""
for _ in $(seq 200); do
    delivered=$(grep -l -r -F -- "Sent by curl: $marker" "$maildir" 2>/dev/null | head -n 1 || true)
    [[ -n $delivered ]] && break
    sleep 0.05
done
[[ -n $delivered ]] || fail "no message with $marker in $maildir after 10 s"
grep -q -F -- "Subject: $marker" "$delivered" || fail "delivered file lacks the Subject"
grep -q -x -F -- ".dot line" "$delivered" || fail "the dot line was not unstuffed in $delivered"
if grep -q $'\r' "$delivered"; then fail "delivered file has CR characters"; fi

# Stop with SIGTERM; the server must exit 0 within 10 s.
kill -TERM "$server_pid"
for _ in $(seq 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$server_pid" 2>/dev/null && fail "labmta still running 10 s after SIGTERM"
status=0
wait "$server_pid" || status=$?
server_pid=""
[[ $status -eq 0 ]] || fail "labmta exited with status $status after SIGTERM"
echo "curl: message $marker delivered to $delivered"
