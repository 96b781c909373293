#!/usr/bin/env bash
# The peers of b24outbox on the same simulator and the same PostgreSQL as `b24outbox bench`:
# PgQueuer and procrastinate doing W1 (drain) and W3 (latency), fast_bitrix24 doing W2
# (rate-limited portal); and, as the ceiling of the queues' W1, the same calls with no queue.
# Writes one JSON report (default bench/results/peers.json).
#
#   bench/peers/run.sh [--out FILE] [--ours OURS.json]
#
# With --ours (a report of `b24outbox bench --json`), bench/compare.py prints it beside the peers.
# DATABASE_URL: a PostgreSQL where the databases bench_pgqueuer and bench_procrastinate may be
# created and dropped (unset: a throw-away cluster). B24OUTBOX: the binary whose `simulate` runs
# the portal (default .build/release/b24outbox, built when missing).
# Sizes: PGQUEUER_JOBS (10000), PROCRASTINATE_JOBS (2000), W1_RUNS (5: each queue drains that
# many times and its fastest run counts), W3_SAMPLES (200), W2_CALLS (6000), W2_TIMEOUT (180 s).
# Settings: PGQUEUER_ARGS, PROCRASTINATE_ARGS (options of the peer scripts, see their --help).
set -euo pipefail

OUT=
OURS=
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT="$2"; shift 2 ;;
        --out=*) OUT="${1#--out=}"; shift ;;
        --ours) OURS="$2"; shift 2 ;;
        --ours=*) OURS="${1#--ours=}"; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
[ -n "$OUT" ] && OUT=$(realpath -m "$OUT")
[ -n "$OURS" ] && OURS=$(realpath -m "$OURS")
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/bench/results/peers.json}"
source scripts/lib/postgres.sh

PGQUEUER_JOBS="${PGQUEUER_JOBS:-10000}"
PROCRASTINATE_JOBS="${PROCRASTINATE_JOBS:-2000}"
W3_SAMPLES="${W3_SAMPLES:-200}"
W2_CALLS="${W2_CALLS:-6000}"
W2_TIMEOUT="${W2_TIMEOUT:-180}"
W1_RUNS="${W1_RUNS:-5}"
# The best settings found on a 2-core machine (bench/peers/README.md says what was tried).
PGQUEUER_ARGS="${PGQUEUER_ARGS:---batch-size 50}"
PROCRASTINATE_ARGS="${PROCRASTINATE_ARGS:---concurrency 20 --pool-size 25}"
PEERS=bench/peers
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

install_system_packages

# A virtualenv per peer, reinstalled only when its requirements change.
setup_venv() {
    local venv="$PEERS/.venv-$1" requirements="$PEERS/requirements-$1.txt" stamp
    stamp=$(cat "$requirements" scripts/requirements-fast-bitrix24.txt | sha256sum | cut -d' ' -f1)
    if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then return 0; fi
    echo "setting up $venv from PyPI…"
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        install_python_venv && python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    echo "$stamp" > "$venv/.stamp"
}
setup_venv pgqueuer
setup_venv procrastinate
setup_venv fast-bitrix24

BIN="${B24OUTBOX:-.build/release/b24outbox}"
if [ ! -x "$BIN" ]; then
    echo "building $BIN…"
    swift build -c release --product b24outbox
fi

pids=()
WORK=$(mktemp -d /tmp/b24outbox-peers.XXXXXX)
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${ADMIN_URL:-}" ]; then
        for db in bench_pgqueuer bench_procrastinate; do
            admin_psql -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
        done
    fi
    [ -n "${THROWAWAY_DIR:-}" ] && stop_throwaway_postgres
    rm -rf "$WORK"
    return $status
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
    start_throwaway_postgres
    DATABASE_URL="$THROWAWAY_DATABASE_URL"
fi
ADMIN_URL="$DATABASE_URL"
admin_psql() { PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 "$ADMIN_URL" "$@"; }
database_url() {  # DATABASE_URL with another database name
    python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$DATABASE_URL" "$1"
}
for db in bench_pgqueuer bench_procrastinate; do
    admin_psql -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
done
POSTGRES_VERSION=$(admin_psql -At -c "SHOW server_version" | cut -d' ' -f1)

# Two portals: W1/W3 without rate limit or latency, W2 with Bitrix24's bucket and 20 ms latency.
start_simulator() {  # NAME ARGS…: sets SIM_<NAME> to http://127.0.0.1:PORT
    local name="$1" port; shift
    port=$(free_port)
    "$BIN" simulate --port "$port" "$@" >"$WORK/sim-$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/_sim/state" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fs "http://127.0.0.1:$port/_sim/state" >/dev/null || { cat "$WORK/sim-$name.log" >&2; exit 1; }
    printf -v "SIM_$name" '%s' "http://127.0.0.1:$port"
}
start_simulator FREE --no-rate-limit --latency-ms 0
start_simulator LIMITED --bucket 50 --drain 2 --latency-ms 20
WEBHOOK_PATH=$(sed -n 's|.*webhook URL: *http://[^/]*\(/rest/[^ ]*\).*|\1|p' "$WORK/sim-FREE.log")
[ -n "$WEBHOOK_PATH" ] || { echo "no webhook URL in the simulator's banner" >&2; exit 1; }

# Each peer runs in its own process; its last stdout line is its JSON. A failure is recorded
# as that peer's error and the others still run.
run_peer() {  # NAME SECONDS COMMAND…
    local name="$1" limit="$2"; shift 2
    echo "running $name…"
    timeout --kill-after=10 "$limit" "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" \
        || { echo "$name failed (exit $?); its last lines:" >&2; tail -n 5 "$WORK/$name.err" >&2; tail -n 3 "$WORK/$name.err" >>"$WORK/$name.json"; }
}
cd "$PEERS"
run_peer baseline 300 .venv-pgqueuer/bin/python http_baseline.py \
    --webhook "$SIM_FREE$WEBHOOK_PATH" --simulator "$SIM_FREE" --calls "$PGQUEUER_JOBS"
run_peer pgqueuer 900 .venv-pgqueuer/bin/python pgqueuer_bench.py \
    --dsn "$(database_url bench_pgqueuer)" --webhook "$SIM_FREE$WEBHOOK_PATH" --simulator "$SIM_FREE" \
    --jobs "$PGQUEUER_JOBS" --repeat "$W1_RUNS" --samples "$W3_SAMPLES" $PGQUEUER_ARGS
run_peer procrastinate 900 .venv-procrastinate/bin/python procrastinate_bench.py \
    --dsn "$(database_url bench_procrastinate)" --webhook "$SIM_FREE$WEBHOOK_PATH" --simulator "$SIM_FREE" \
    --jobs "$PROCRASTINATE_JOBS" --repeat "$W1_RUNS" --samples "$W3_SAMPLES" $PROCRASTINATE_ARGS
run_peer fast_bitrix24 "$((W2_TIMEOUT + 60))" .venv-fast-bitrix24/bin/python fast_bitrix24_w2.py \
    --webhook "$SIM_LIMITED$WEBHOOK_PATH" --simulator "$SIM_LIMITED" --calls "$W2_CALLS" --timeout "$W2_TIMEOUT"
cd - >/dev/null

python3 "$PEERS/assemble.py" "$OUT" --postgres "PostgreSQL $POSTGRES_VERSION" --load "$LOAD_AT_START" \
    --command "bench/peers/run.sh (PGQUEUER_JOBS=$PGQUEUER_JOBS PROCRASTINATE_JOBS=$PROCRASTINATE_JOBS W1_RUNS=$W1_RUNS W3_SAMPLES=$W3_SAMPLES W2_CALLS=$W2_CALLS)" \
    baseline="$WORK/baseline.json" pgqueuer="$WORK/pgqueuer.json" procrastinate="$WORK/procrastinate.json" fast_bitrix24="$WORK/fast_bitrix24.json"
if [ -n "$OURS" ]; then
    echo
    python3 bench/compare.py "$OURS" "$OUT"
fi
