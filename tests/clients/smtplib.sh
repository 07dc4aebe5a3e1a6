#!/usr/bin/env bash
# Real client check: Python's smtplib (smtplib_send.py) sends one message to labmta (lab
# config, free port on 127.0.0.1, temporary spool) and it must land in student's Maildir.
# Usage: smtplib.sh /path/to/labmta. Exit 77 (skipped in CTest) when python3 is missing.
set -euo pipefail

labmta=${1:?usage: $0 /path/to/labmta}
command -v python3 >/dev/null 2>&1 || { echo "python3 is not installed: skipped"; exit 77; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
config="$here/../../config/labmta.yaml"

work=$(mktemp -d "${TMPDIR:-/tmp}/labmta-smtplib-XXXXXX")
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

marker="smtplib-$$-$RANDOM$RANDOM"
python3 "$here/smtplib_send.py" "$port" "$marker" >"$work/client.log" 2>&1 \
    || fail "smtplib_send.py failed"

# Wait (at most 10 s) for the delivered file.
maildir="$work/spool/mailboxes/domain.local/student/new"
delivered=""
for _ in $(seq 200); do
    delivered=$(grep -l -r -F -- "Sent by smtplib: $marker" "$maildir" 2>/dev/null | head -n 1 || true)
    [[ -n $delivered ]] && break
    sleep 0.05
done
[[ -n $delivered ]] || fail "no message with $marker in $maildir after 10 s"
grep -q -F -- "Subject: $marker" "$delivered" || fail "delivered file lacks the Subject"
grep -q -x -F -- ".line starting with a dot" "$delivered" \
    || fail "the dot line was not unstuffed in $delivered"
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
echo "smtplib: message $marker delivered to $delivered"
