#!/usr/bin/env bash
# The one-command demo: installs what a fresh Debian machine lacks, builds, and runs
# `b24outbox demo` (a simulated Bitrix24 portal with faults and rate limit, serve, a worker pool,
# the audit trail, a replay). Arguments are passed on, e.g. scripts/demo.sh --fault-rate 0.3
#
# Without DATABASE_URL the demo starts its own PostgreSQL in a temporary folder and deletes it
# at the end; with DATABASE_URL it uses that database (see `b24outbox demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

if ! command -v swift >/dev/null; then
    echo "demo.sh: Swift 6 is not installed; get it from https://www.swift.org/install/ and run this again." >&2
    exit 1
fi
install_system_packages

echo "Building b24outbox (the first build takes a few minutes)…"
if ! swift build --quiet --product b24outbox; then
    echo "demo.sh: the build failed (its errors are above)." >&2
    exit 1
fi
binary="$(swift build --show-bin-path)/b24outbox"

exec "$binary" demo "$@"
