#!/usr/bin/env bash
# One run on one machine: b24outbox's workloads (W1–W5 and the worker's memory), then its peers'
# on the same PostgreSQL and the same simulator binary, then both side by side with the targets.
#
#   bench/run.sh [options of b24outbox bench…]
#
# DATABASE_URL: the PostgreSQL server to use (the bench creates and drops its own databases
# there); unset, a throw-away cluster is started and removed, as scripts/test.sh does, with the
# memory and WAL room a production server would have (W5's 5 million log entries do not fit in
# the default 128 MB of shared buffers, and the default 1 GB of WAL checkpoints mid-run).
# Reports: bench/results/ours.json, bench/results/peers.json, and the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

install_system_packages
if [ -z "${DATABASE_URL:-}" ]; then
    THROWAWAY_PG_SETTINGS="-c shared_buffers=1GB -c max_wal_size=8GB" start_throwaway_postgres
    trap stop_throwaway_postgres EXIT
    export DATABASE_URL="$THROWAWAY_DATABASE_URL"
fi

swift build -c release --product b24outbox
mkdir -p bench/results
.build/release/b24outbox bench --json bench/results/ours.json "$@"
B24OUTBOX=.build/release/b24outbox bench/peers/run.sh --out bench/results/peers.json
python3 bench/compare.py bench/results/ours.json bench/results/peers.json
