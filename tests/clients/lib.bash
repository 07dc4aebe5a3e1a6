# Shared plumbing of the real-client checks (sourced, not run; CTest runs only *.sh):
# a temporary work folder cleaned on exit, `fail`, bounded waits, and starting/stopping
# labmta on a free port of 127.0.0.1. Only loopback traffic.
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
#   client_setup NAME /path/to/labmta TOOL...   # exits 77 (skipped) when a TOOL is missing

lab_config="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/config/labmta.yaml"
work=""
server_pid=""
extra_pids=()

client_setup() {
    local name=$1
    labmta=${2:?usage: $0 /path/to/labmta}
    shift 2
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed: skipped"; exit 77; }
    done
    work=$(mktemp -d "${TMPDIR:-/tmp}/labmta-$name-XXXXXX")
    # As root the server drops to --user nobody, which must reach the spool in here.
    chmod 755 "$work"
    trap client_cleanup EXIT
}

stop_pid() {  # kill -KILL and reap one process we started, if it still runs
    local pid=$1
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}

client_cleanup() {
    stop_pid "$server_pid"
    local pid
    for pid in "${extra_pids[@]}"; do
        stop_pid "$pid"
    done
    rm -rf "$work"
}

fail() {
    echo "FAIL: $*" >&2
    local log
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

server_ready() {
    kill -0 "$server_pid" 2>/dev/null || fail "labmta exited before it was ready"
    test -s "$work/ready"
}

# start_labmta [CONFIG]: serves CONFIG (default: the lab config) with a temp spool; sets $port.
start_labmta() {
    "$labmta" serve --config "${1:-$lab_config}" --listen 127.0.0.1:0 --spool "$work/spool" \
        --user nobody --ready-file "$work/ready" >"$work/labmta.log" 2>&1 &
    server_pid=$!
    wait_for "labmta's ready file" server_ready
    local listener
    listener=$(head -n 1 "$work/ready")
    port=${listener##*:}
}

server_stopped() { ! kill -0 "$server_pid" 2>/dev/null; }

# stop_labmta: SIGTERM; the server must exit 0 within 10 s.
stop_labmta() {
    kill -TERM "$server_pid"
    wait_for "labmta to exit after SIGTERM" server_stopped
    local status=0
    wait "$server_pid" || status=$?
    server_pid=""
    [[ $status -eq 0 ]] || fail "labmta exited with status $status after SIGTERM"
}

# wait_for_delivery TEXT [USER]: waits for a file containing TEXT in USER's Maildir (default
# student@domain.local); sets $delivered to its path.
wait_for_delivery() {
    local maildir="$work/spool/mailboxes/domain.local/${2:-student}/new"
    wait_for "a message with '$1' in $maildir" grep -s -q -r -F -- "$1" "$maildir"
    delivered=$(grep -l -r -F -- "$1" "$maildir" | head -n 1)
}
