#!/usr/bin/env bash
# Two worker processes share one portal limited to 2 requests/s with a bucket of 5 (the
# simulator enforces it like Bitrix24 does) for 30 s. Passes when at most 1% of requests are
# refused with QUERY_LIMIT_EXCEEDED and throughput is at least 90% of the limit.
#
#   scripts/rate-limit-check.sh [seconds]      (DATABASE_URL optional: else a private cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

SECONDS_TO_RUN="${1:-30}"
BUCKET=5
DRAIN=2

install_system_packages
swift build --product b24outbox >/dev/null
BIN="$(swift build --show-bin-path)/b24outbox"

pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${THROWAWAY_DIR:-}" ] && stop_throwaway_postgres
    return $status
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
    start_throwaway_postgres
    DATABASE_URL="$THROWAWAY_DATABASE_URL"
fi
DB=$(python3 -c 'import uuid; print("ratecheck_" + uuid.uuid4().hex[:12])')
psql -q "$DATABASE_URL" -c "CREATE DATABASE $DB"
URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$DATABASE_URL" "$DB")
export DATABASE_URL="$URL"

PORT=$(free_port)
"$BIN" simulate --port "$PORT" --bucket "$BUCKET" --drain "$DRAIN" >/dev/null &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/_sim/state" >/dev/null 2>&1 && break; sleep 0.1; done

"$BIN" migrate >/dev/null
"$BIN" portal add sim --url "http://127.0.0.1:$PORT/rest/1/simulatorwebhookcode/" --allow-http \
    --rate-bucket "$BUCKET" --rate-drain "$DRAIN" >/dev/null
# More than the limit can carry in the run, so the workers always have work.
psql -q "$DATABASE_URL" -c "SELECT count(outbox.enqueue_notification('sim', i % 1000 + 1, 'rate check ' || i, p_key => 'rc-' || i))
                            FROM generate_series(1, $(( (BUCKET + DRAIN * SECONDS_TO_RUN) * 50 + 2000 ))) AS i" >/dev/null

echo "rate-limit-check: 2 worker processes, portal bucket $BUCKET, drain $DRAIN/s, $SECONDS_TO_RUN s"
"$BIN" worker --concurrency 2 >/dev/null 2>&1 &
pids+=($!)
"$BIN" worker --concurrency 2 >/dev/null 2>&1 &
pids+=($!)
sleep "$SECONDS_TO_RUN"
kill -TERM "${pids[1]}" "${pids[2]}"
wait "${pids[1]}" "${pids[2]}" || true

curl -fs "http://127.0.0.1:$PORT/_sim/state" | python3 -c '
import json, sys
state = json.load(sys.stdin)
seconds, bucket, drain = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
requests = state["requests"]
refused = state["rejected"].get("QUERY_LIMIT_EXCEEDED", 0)
accepted = requests - refused
limit = bucket + drain * seconds          # the most a portal accepts in the run
delivered = state["effects"]["notificationsCreated"]
print(f"requests {requests}, refused {refused} ({100 * refused / max(requests, 1):.2f}%), "
      f"accepted {accepted} of at most {limit:.0f} ({100 * accepted / limit:.1f}% of the limit), "
      f"{delivered} notifications ({delivered / seconds:.1f}/s)")
ok = refused <= 0.01 * requests and accepted >= 0.9 * limit
print("rate-limit-check: " + ("ok" if ok else "FAILED"))
sys.exit(0 if ok else 1)
' "$SECONDS_TO_RUN" "$BUCKET" "$DRAIN"
