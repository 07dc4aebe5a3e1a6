#!/usr/bin/env bash
# The benchmark of issue 5: labmta against Postfix's smtp-sink, driven by Postfix's
# smtp-source (see bench/README.md). Builds labmta in Release (build-release/) unless --labmta
# is given, fetches smtp-source/smtp-sink from the postfix .deb without installing postfix
# (apt-get download + dpkg -x into build-bench/postfix/), then runs bench/bench.py, which takes
# the options: [--smoke] [--write-results] [--only A,B,...] [--labmta PATH].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

labmta=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    if [[ ${args[i]} == --labmta ]]; then
        labmta=${args[i + 1]:-}
    elif [[ ${args[i]} == --labmta=* ]]; then
        labmta=${args[i]#--labmta=}
    fi
done

if [[ -z $labmta ]]; then
    echo "bench: building labmta (Release, build-release/)"
    cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build build-release --target labmta commit_floor
    args+=(--labmta build-release/labmta)
fi

# smtp-source and smtp-sink come from the distribution's postfix package, unpacked but not
# installed: installing postfix would start a real MTA on port 25 and change the machine.
tools=build-bench/postfix
if [[ ! -x $tools/usr/sbin/smtp-source || ! -x $tools/usr/sbin/smtp-sink ]]; then
    echo "bench: fetching smtp-source/smtp-sink (apt-get download postfix)"
    mkdir -p build-bench/deb
    download() { (cd build-bench/deb && apt-get download postfix); }
    if ! download; then
        # No package lists yet (a fresh container): fetch them, as install-deps.sh would.
        as_root=()
        [[ $(id -u) -eq 0 ]] || as_root=(sudo)
        "${as_root[@]}" apt-get update
        download
    fi
    rm -rf "$tools"
    dpkg -x "$(ls -t build-bench/deb/postfix_*.deb | head -n 1)" "$tools"
fi

exec python3 bench/bench.py --tools "$tools" "${args[@]}"
