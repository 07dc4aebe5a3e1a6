#!/usr/bin/env bash
# Starts the lab server in the foreground on 127.0.0.1:2525 with the lab config, the spool
# under ./var/spool, and logs on the terminal. Installs missing build packages and builds
# first. Extra arguments go to `labmta serve` (e.g. --listen 0.0.0.0:2525). Ctrl-C stops it.
# Run as root, the server drops to the config's `user: labmta` after binding, like Postfix's
# mail_owner; this script then creates that system account when it is missing, as the postfix
# package does for its user.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build-release --target labmta
mkdir -p var/spool
if [ "$(id -u)" -eq 0 ] && ! getent passwd labmta >/dev/null; then
    echo "lab-server: creating the system user labmta (the server runs as it)" >&2
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin labmta
fi
exec ./build-release/labmta serve --config config/labmta.yaml --listen 127.0.0.1:2525 \
    --spool ./var/spool "$@"
