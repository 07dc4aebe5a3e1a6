#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in build-fuzz/, then runs
# each for SECONDS_PER_TARGET seconds (default 600) on a copy of its seed corpus in
# build-fuzz/corpus/<target>, so the repo's tests/fuzz/corpus is never written to. Prints each
# target's executions and any crash file; exits non-zero when a target found a crash.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (FUZZ_JOBS=2: two at a time)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-600}
shift || true
all_targets=(session address data_reader config smtp_client)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
parallel=${FUZZ_JOBS:-1}

if ! command -v clang++ >/dev/null 2>&1; then
    echo "fuzz: clang++ not found (scripts/install-deps.sh installs it)" >&2
    exit 1
fi

CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLABMTA_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz --target "${targets[@]/#/fuzz_}"

# libFuzzer stops at the first crash, leak, UBSan report or 10 s input; the input is saved
# under build-fuzz/crashes/<target>/ (crash-*, leak-*, timeout-*, oom-*).
run_target() {
    local target=$1
    local corpus=build-fuzz/corpus/$target
    local crashes=build-fuzz/crashes/$target
    mkdir -p "$corpus" "$crashes" build-fuzz/logs
    cp -n tests/fuzz/corpus/"$target"/* "$corpus"/
    local start=$SECONDS status=0
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        build-fuzz/tests/fuzz/fuzz_"$target" -max_total_time="$seconds" -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$crashes"/ "$corpus" \
        >build-fuzz/logs/"$target".log 2>&1 || status=$?
    echo $((SECONDS - start)) >build-fuzz/logs/"$target".seconds
    return "$status"
}

report_target() {
    local target=$1 status=$2
    local log=build-fuzz/logs/$target.log
    local executions
    executions=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -n 1)
    printf 'fuzz: %-12s %ss, executions: %s, corpus: %s files\n' "$target" \
        "$(cat build-fuzz/logs/"$target".seconds)" \
        "${executions:-?}" "$(find build-fuzz/corpus/"$target" -type f | wc -l)"
    if [[ $status -ne 0 ]]; then
        echo "fuzz: $target FAILED (exit $status), log: $log"
        grep -E 'ERROR: |runtime error|_fuzz: ' "$log" | head -n 5 | sed 's/^/    /'
        grep -o 'Test unit written to .*' "$log" | sed 's/^/    crash file: /;s/Test unit written to //'
    fi
}

failed=0
for ((first = 0; first < ${#targets[@]}; first += parallel)); do
    batch=("${targets[@]:first:parallel}")
    pids=()
    for target in "${batch[@]}"; do
        run_target "$target" &
        pids+=($!)
    done
    for i in "${!batch[@]}"; do
        status=0
        wait "${pids[$i]}" || status=$?
        report_target "${batch[$i]}" "$status"
        [[ $status -eq 0 ]] || failed=1
    done
done
exit "$failed"
