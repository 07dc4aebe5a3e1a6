#!/usr/bin/env bash
# Real client check for AUTH (issue 3): swaks logs in with AUTH LOGIN and AUTH PLAIN as the lab
# user (student / hessovs!) and sends one message to a local recipient (it must land in the
# Maildir) and one to an outside recipient, which labmta relays to its relayhost: a tiny SMTP
# sink in Python started here on 127.0.0.1 (no traffic leaves 127.0.0.0/8; the outside
# domain is never looked up since the relayhost is in brackets). A wrong password is refused.
# Usage: swaks_auth.sh /path/to/labmta. Exit 77 (skipped in CTest) when swaks or python3 is
# not installed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/lib.bash"
client_setup swaks-auth "${1:-}" swaks python3

mkdir -p "$work/sink"
python3 "$here/sink.py" "$work/sink" "$work/sink.ready" >"$work/sink.log" 2>&1 &
extra_pids+=($!)
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

start_labmta "$work/labmta.yaml"

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
wait_for_delivery "Sent by swaks: $marker_login"
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

stop_labmta
echo "swaks_auth: AUTH LOGIN delivered $marker_login locally, AUTH PLAIN relayed $marker_plain"
