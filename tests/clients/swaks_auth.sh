#!/usr/bin/env bash
# Real client check for AUTH (issue 3): swaks logs in with AUTH LOGIN and AUTH PLAIN as the lab
# user (student / hessovs!) and sends one message to a local recipient (it must land in the
# Maildir) and one to an outside recipient, which labmta relays to its relayhost: a tiny SMTP
# sink in Python started here on 127.0.0.1 (no traffic leaves 127.0.0.0/8; the outside
# domain is never looked up since the relayhost is in brackets). A wrong password is refused.
# Usage: swaks_auth.sh /path/to/labmta. Exit 77 (skipped in CTest) when swaks or python3 is
# not installed.
set -euo pipefail

labmta=${1:?usage: $0 /path/to/labmta}
command -v swaks >/dev/null 2>&1 || { echo "swaks is not installed: skipped"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "python3 is not installed: skipped"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/labmta-swaks-auth-XXXXXX")
server_pid=""
sink_pid=""
stop_pid() {  # kill -KILL and reap one process we started, if it still runs
    local pid=$1
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
cleanup() {
    stop_pid "$server_pid"
    stop_pid "$sink_pid"
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for log in "$work"/client*.log "$work"/labmta.log "$work"/sink.log; do
        [[ -f $log ]] && { echo "---- $log" >&2; tail -n 40 "$log" >&2; }
    done
    exit 1
}
# wait_for <what> <command...>: runs the command every 50 ms, at most 10 s, until it succeeds.
wait_for() {
    local what=$1
    shift
    for _ in $(seq 200); do
        "$@" && return 0
        sleep 0.05
    done
    fail "$what: not within 10 s"
}

# The relayhost: accepts everything, writes each message to $work/sink/<n>.eml with the
# envelope on top ("MAIL FROM:<...>", one "RCPT TO:<...>" each, a blank line), dot-stuffing
# undone. Writes its port to the ready file once listening.
mkdir -p "$work/sink"
cat >"$work/sink.py" <<'PYTHON'
import os, socket, sys, threading

out_dir, ready_path = sys.argv[1], sys.argv[2]
counter = [0]
lock = threading.Lock()

def serve(conn):
    conn.settimeout(60)
    reader = conn.makefile("rb")
    def send(line):
        conn.sendall(line.encode() + b"\r\n")
    send("220 sink.test ESMTP")
    envelope = []
    while True:
        line = reader.readline()
        if not line:
            return
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        verb = text[:4].upper()
        if verb == "EHLO":
            send("250-sink.test"); send("250-PIPELINING"); send("250 8BITMIME")
        elif verb == "HELO":
            send("250 sink.test")
        elif verb == "MAIL":
            envelope = [text]; send("250 2.1.0 Ok")
        elif verb == "RCPT":
            envelope.append(text); send("250 2.1.5 Ok")
        elif verb == "DATA":
            send("354 End data with <CR><LF>.<CR><LF>")
            body = []
            while True:
                data_line = reader.readline()
                if not data_line:
                    return
                if data_line in (b".\r\n", b".\n"):
                    break
                body.append(data_line[1:] if data_line.startswith(b".") else data_line)
            with lock:
                counter[0] += 1
                number = counter[0]
            path = os.path.join(out_dir, "%d.eml" % number)
            with open(path + ".tmp", "wb") as f:
                f.write("\n".join(envelope).encode() + b"\n\n" + b"".join(body))
            os.rename(path + ".tmp", path)
            send("250 2.0.0 Ok: queued as SINK%d" % number)
        elif verb in ("RSET", "NOOP"):
            send("250 2.0.0 Ok")
        elif verb == "QUIT":
            send("221 2.0.0 Bye"); return
        else:
            send("502 5.5.2 Error: command not recognized")

def handle(conn):
    try:
        serve(conn)
    except OSError:
        pass
    finally:
        conn.close()

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(16)
with open(ready_path + ".tmp", "w") as f:
    f.write("%d\n" % listener.getsockname()[1])
os.rename(ready_path + ".tmp", ready_path)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
PYTHON
python3 "$work/sink.py" "$work/sink" "$work/sink.ready" >"$work/sink.log" 2>&1 &
sink_pid=$!
wait_for "the sink's ready file" test -s "$work/sink.ready"
sink_port=$(head -n 1 "$work/sink.ready")

cat >"$work/labmta.yaml" <<YAML
hostname: profbox.domain.local
banner: ESMTP labmta
listen:
  - "127.0.0.1:0"
local_domains:
  - domain.local
local_recipients: any
users:
  - name: student
    password: "hessovs!"
relay:
  networks: []
  relayhost: "[127.0.0.1]:$sink_port"
queue:
  retry: 1
  max_retry: 2
YAML

"$labmta" serve --config "$work/labmta.yaml" --listen 127.0.0.1:0 --spool "$work/spool" \
    --ready-file "$work/ready" >"$work/labmta.log" 2>&1 &
server_pid=$!
server_ready() {
    kill -0 "$server_pid" 2>/dev/null || fail "labmta exited before it was ready"
    test -s "$work/ready"
}
wait_for "labmta's ready file" server_ready
listener=$(head -n 1 "$work/ready")
port=${listener##*:}

send() {  # send <log> <auth> <password> <to> <marker>: swaks, its output to <log>
    swaks --server 127.0.0.1 --port "$port" --helo swaks.example \
        --auth "$2" --auth-user student --auth-password "$3" \
        --from joiakim@domain.local --to "$4" \
        --header "Subject: $5" --body "Sent by swaks: $5" >"$work/$1" 2>&1
}

# AUTH LOGIN, local recipient: lands in student's Maildir.
marker_login="swaks-login-$$-$RANDOM$RANDOM"
send client-login.log LOGIN 'hessovs!' student@domain.local "$marker_login" \
    || fail "swaks --auth LOGIN failed"
grep -q -F "235 2.7.0 Authentication successful" "$work/client-login.log" \
    || fail "no 235 after AUTH LOGIN"
grep -q -F "334 VXNlcm5hbWU6" "$work/client-login.log" || fail "no Username: prompt"
maildir="$work/spool/mailboxes/domain.local/student/new"
wait_for "a message with $marker_login in $maildir" \
    grep -s -q -r -F -- "Sent by swaks: $marker_login" "$maildir"
delivered=$(grep -l -r -F -- "Sent by swaks: $marker_login" "$maildir" | head -n 1)
grep -q -E "with ESMTPA id" "$delivered" || fail "the Received line does not say ESMTPA"

# AUTH PLAIN, outside recipient: relayed to the sink.
marker_plain="swaks-plain-$$-$RANDOM$RANDOM"
send client-plain.log PLAIN 'hessovs!' jowadev@gmail.com "$marker_plain" \
    || fail "swaks --auth PLAIN failed"
grep -q -F "235 2.7.0 Authentication successful" "$work/client-plain.log" \
    || fail "no 235 after AUTH PLAIN"
wait_for "a message with $marker_plain at the sink" \
    grep -s -q -r -F -- "Sent by swaks: $marker_plain" "$work/sink"
relayed=$(grep -l -r -F -- "Sent by swaks: $marker_plain" "$work/sink" | head -n 1)
grep -q -i '^MAIL FROM:<joiakim@domain.local>' "$relayed" || fail "wrong MAIL FROM at the sink"
grep -q -i '^RCPT TO:<jowadev@gmail.com>' "$relayed" || fail "wrong RCPT TO at the sink"
wait_for "the sent log line" grep -q -E \
    "to=<jowadev@gmail.com>, relay=127.0.0.1\[127.0.0.1\]:$sink_port, .*status=sent \(250 " \
    "$work/labmta.log"

# A wrong password: 535, and swaks reports the failure.
if send client-wrong.log LOGIN 'not-the-password' student@domain.local "wrong-$$"; then
    fail "swaks succeeded with a wrong password"
fi
grep -q -F "535 5.7.8 Error: authentication failed: authentication failure" \
    "$work/client-wrong.log" || fail "no 535 5.7.8 for a wrong password"

# No password in the log, in clear or in base64.
for secret in 'hessovs!' 'aGVzc292cyE=' 'not-the-password' 'bm90LXRoZS1wYXNzd29yZA=='; do
    grep -q -F -- "$secret" "$work/labmta.log" && fail "the log contains a password ($secret)"
done
grep -q -F "sasl_method=LOGIN, sasl_username=student" "$work/labmta.log" \
    || fail "no sasl_method=LOGIN line in the log"
grep -q -F "sasl_method=PLAIN, sasl_username=student" "$work/labmta.log" \
    || fail "no sasl_method=PLAIN line in the log"

# Stop with SIGTERM; the server must exit 0 within 10 s.
kill -TERM "$server_pid"
server_stopped() { ! kill -0 "$server_pid" 2>/dev/null; }
wait_for "labmta to exit after SIGTERM" server_stopped
status=0
wait "$server_pid" || status=$?
server_pid=""
[[ $status -eq 0 ]] || fail "labmta exited with status $status after SIGTERM"
echo "swaks_auth: AUTH LOGIN delivered $marker_login locally, AUTH PLAIN relayed $marker_plain"
