#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that building and testing labmta need, and only those
# that are missing: with nothing missing it changes nothing and needs no network. The one list
# of build and test packages; .ci/run and scripts/test.sh both call this.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config          # toolchain
    libuv1-dev libspdlog-dev libfmt-dev libyaml-cpp-dev   # libraries labmta links
    libc-ares-dev libcrypt-dev                            # DNS on the loop, crypt(3) hashes
    libcli11-dev nlohmann-json3-dev catch2                # header-only: options, JSON, tests
    swaks curl python3 ca-certificates                    # real clients in tests/clients
    dnsmasq-base                                          # a DNS server for the MX tests
    clang libclang-rt-14-dev                              # libFuzzer + sanitizers: fuzz.sh
)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: not a Debian/Ubuntu system; make sure these are installed:" >&2
    echo "  ${packages[*]}" >&2
    exit 0
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$package")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#packages[@]} packages are installed"
    exit 0
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    }
    as_root=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
