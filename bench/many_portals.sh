#!/usr/bin/env bash
# Many rate-limited portals at once: PORTALS portals (default 3) with a backlog of EACH
# notifications (default 6,000) and one more portal with SMALL (default 10) enqueued after the
# backlogs, each a simulated portal of its own at its own loopback address with Bitrix24's
# bucket (50 requests, draining 2 per second), delivered by one worker pool. Prints when each
# portal's deliveries began and ended (seconds from the worker's start, from the log), how many
# QUERY_LIMIT_EXCEEDED answers each portal gave, and the whole run's time. With the limits
# binding, one portal takes about (EACH - 2,500) / 100 + 1 s alone, and the portals run side by side.
#
#   bench/many_portals.sh                        # PORTALS=3 EACH=6000 SMALL=10 LATENCY_MS=0
#
# DATABASE_URL: the server to use (a database b24outbox_many_portals is made and dropped there);
# unset, a throw-away cluster is started as scripts/test.sh does. B24OUTBOX: the binary
# (default .build/release/b24outbox, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

PORTALS=${PORTALS:-3} EACH=${EACH:-6000} SMALL=${SMALL:-10} LATENCY_MS=${LATENCY_MS:-0}
CONCURRENCY=${CONCURRENCY:-4}
B24=${B24OUTBOX:-.build/release/b24outbox}
[ -x "$B24" ] || swift build -c release --product b24outbox

WORK=$(mktemp -d /tmp/b24outbox-many-portals.XXXXXX)
SIMULATOR_PID=
cleanup() {
    local status=$?
    [ -n "$SIMULATOR_PID" ] && kill "$SIMULATOR_PID" 2>/dev/null && wait "$SIMULATOR_PID" 2>/dev/null
    [ -n "${DB_URL:-}" ] && psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS b24outbox_many_portals" >/dev/null 2>&1
    rm -rf "$WORK"
    stop_throwaway_postgres
    return $status
}
trap cleanup EXIT
if [ -z "${DATABASE_URL:-}" ]; then
    start_throwaway_postgres
    export DATABASE_URL="$THROWAWAY_DATABASE_URL"
fi
psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS b24outbox_many_portals" -c "CREATE DATABASE b24outbox_many_portals"
DB_URL=$(python3 - "$DATABASE_URL" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(u._replace(path="/b24outbox_many_portals")))
EOF
)
"$B24" migrate --database-url "$DB_URL" >/dev/null

TOTAL=$((PORTALS + 1))
"$B24" simulate --portals "$TOTAL" --json --port 0 --bucket 50 --drain 2 --latency-ms "$LATENCY_MS" > "$WORK/portals.json" &
SIMULATOR_PID=$!
for _ in $(seq 1 100); do
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/portals.json" 2>/dev/null && break
    sleep 0.1
done
# Webhook URLs hold the portals' codes: they go to portal add through the environment, never argv.
python3 - "$WORK/portals.json" > "$WORK/urls" <<'EOF'
import json, sys
for p in json.load(open(sys.argv[1])):
    print(p["webhook_url"])
EOF
index=0
while read -r url; do
    PORTAL_URL="$url" "$B24" portal add "p$index" --url env:PORTAL_URL --allow-http \
        --rate-bucket 50 --rate-drain 2 --database-url "$DB_URL" >/dev/null
    index=$((index + 1))
done < "$WORK/urls"

for index in $(seq 0 $((PORTALS - 1))); do
    psql "$DB_URL" -qAtc "SELECT count(*) FROM outbox.enqueue_many(
        array_fill('p$index'::text, ARRAY[$EACH]), array_fill('notify.personal'::text, ARRAY[$EACH]),
        ARRAY(SELECT jsonb_build_object('USER_ID', g % 1000 + 1, 'MESSAGE', 'backlog ' || g) FROM generate_series(1, $EACH) g),
        ARRAY(SELECT 'p$index-' || g FROM generate_series(1, $EACH) g), array_fill(NULL::timestamptz, ARRAY[$EACH]))" >/dev/null
done
psql "$DB_URL" -qAtc "SELECT count(*) FROM outbox.enqueue_many(
    array_fill('p$PORTALS'::text, ARRAY[$SMALL]), array_fill('notify.personal'::text, ARRAY[$SMALL]),
    ARRAY(SELECT jsonb_build_object('USER_ID', g, 'MESSAGE', 'small ' || g) FROM generate_series(1, $SMALL) g),
    ARRAY(SELECT 'small-' || g FROM generate_series(1, $SMALL) g), array_fill(NULL::timestamptz, ARRAY[$SMALL]))" >/dev/null

started=$(psql "$DB_URL" -qAtc "SELECT extract(epoch FROM clock_timestamp())")
"$B24" worker --until-idle --concurrency "$CONCURRENCY" --batch 50 --database-url "$DB_URL" 2>"$WORK/worker.log" || {
    cat "$WORK/worker.log" >&2; exit 1; }
ended=$(psql "$DB_URL" -qAtc "SELECT extract(epoch FROM clock_timestamp())")

echo "portal  delivered  first (s)  last (s)  QUERY_LIMIT_EXCEEDED"
python3 - "$WORK/portals.json" "$DB_URL" "$started" <<'EOF'
import json, subprocess, sys, urllib.request
portals, url, started = json.load(open(sys.argv[1])), sys.argv[2], float(sys.argv[3])
rows = subprocess.run(["psql", url, "-qAtF", "\t", "-c", f"""
    SELECT p.name, count(*), extract(epoch FROM min(l.recorded_at)) - {started}, extract(epoch FROM max(l.recorded_at)) - {started}
      FROM outbox.log l JOIN outbox.portals p ON p.id = l.portal_id
     WHERE l.type = 'delivery.succeeded' GROUP BY p.id, p.name ORDER BY p.id"""],
    check=True, capture_output=True, text=True).stdout.split("\n")
for row in (r for r in rows if r):
    name, count, first, last = row.split("\t")
    state = json.load(urllib.request.urlopen(portals[int(name[1:])]["base_url"] + "/_sim/state"))
    refused = state.get("rejected", {}).get("QUERY_LIMIT_EXCEEDED", 0)
    print(f"{name:<7} {int(count):>9}  {float(first):>9.1f}  {float(last):>8.1f}  {refused:>20}")
EOF
python3 -c "import sys; print(f'all delivered in {float(sys.argv[2]) - float(sys.argv[1]):.1f} s')" "$started" "$ended"
