#!/usr/bin/env bash
# Chaos: worker crashes, a PostgreSQL restart, a fault storm, and events during an outage.
# After each scenario: no intent lost, none stuck, exactly one effect per intent in the
# simulator, and `b24outbox verify` ok. Exits non-zero on the first scenario that fails.
#
#   scripts/chaos.sh [kills|restart|storm|events|all]     (default: all; about 3 minutes)
#
# Owns its PostgreSQL cluster (it restarts and stops it) and its simulators; builds the debug
# binary if needed. Not run by CI: it is a long, load-bound run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

SCENARIO="${1:-all}"
install_system_packages
swift build --product b24outbox >/dev/null 2>&1 || swift build --product b24outbox
BIN="$(swift build --show-bin-path)/b24outbox"

pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${THROWAWAY_DIR:-}" ] && stop_throwaway_postgres
    return $status
}
trap cleanup EXIT
start_throwaway_postgres
ADMIN_URL="$THROWAWAY_DATABASE_URL"
PG_PORT=$THROWAWAY_PORT
PG_OPTIONS="-p $PG_PORT -k $THROWAWAY_DIR/socket -c listen_addresses= -c unix_socket_permissions=0700 -c fsync=off -c max_connections=200"
APP_TOKEN=51856fefc120afa4b628cc82d3935cce   # the simulator's default application token

pg_ctl_cluster() { "${THROWAWAY_RUN_AS[@]}" "$(pg_bin_dir)/pg_ctl" -D "$THROWAWAY_DIR/data" -l "$THROWAWAY_DIR/server.log" "$@" >/dev/null; }
say() { echo "chaos: $*"; }
fail() { echo "chaos: FAILED: $*" >&2; exit 1; }

# A database and a simulator of the scenario's own: sets DATABASE_URL, PORT.
new_world() {
    local name=$1; shift
    psql -q "$ADMIN_URL" -c "CREATE DATABASE chaos_$name"
    export DATABASE_URL
    DATABASE_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADMIN_URL" "chaos_$name")
    PORT=$(free_port)
    "$BIN" simulate --port "$PORT" --no-rate-limit --users 1-100000 "$@" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/_sim/state" >/dev/null 2>&1 && break; sleep 0.1; done
    "$BIN" migrate >/dev/null
    "$BIN" portal add sim --url "http://127.0.0.1:$PORT/rest/1/simulatorwebhookcode/" --allow-http \
        --app-token "$APP_TOKEN" --member-id a223c6b3710f85df22e9377d6c4f7553 \
        --rate-bucket 1000000 --rate-drain 1000000 >/dev/null
}

# N notifications to distinct users and tags, and M chats with distinct entity pairs; numbering
# starts after FROM (default 0), so later calls add new intents.
enqueue() {
    local from=${3:-0}
    psql -q "$DATABASE_URL" -c "
        SELECT count(outbox.enqueue_notification('sim', i, 'chaos ' || i, p_key => 'n-' || i))
          FROM generate_series($from + 1, $from + $1) i;
        SELECT count(outbox.enqueue_chat('sim', jsonb_build_object('TITLE', 'chaos chat ' || i, 'USERS', jsonb_build_array(1, 2)), 'c-' || i))
          FROM generate_series($from + 1, $from + $2) i;" >/dev/null
}

# Chaos workers: short leases, so a killed worker's claims come back quickly.
WORKER=("$BIN" worker --concurrency 2 --batch 20 --lease 6 --request-timeout 3 --max-attempts 60 --max-backoff 2)

# Everything delivered, nothing claimed or dead, one visible effect per intent, verify ok.
check() {
    local notifications=$1 chats=$2
    "$BIN" verify >/dev/null || fail "verify found mismatches"
    "$BIN" stats --json | python3 -c '
import json, sys
stats = json.load(sys.stdin)
by_status = {}
for row in stats["intents"]:
    by_status[row["status"]] = by_status.get(row["status"], 0) + row["count"]
want = int(sys.argv[1]) + int(sys.argv[2])
if by_status != {"delivered": want}:
    sys.exit(f"intents by status {by_status}, expected {want} delivered")
' "$notifications" "$chats" || fail "not every intent was delivered"
    curl -fs "http://127.0.0.1:$PORT/_sim/state" | python3 -c '
import json, sys
state = json.load(sys.stdin)
notifications, chats = int(sys.argv[1]), int(sys.argv[2])
visible = state["visibleNotifications"]
per_user = [len(v) for v in state["notificationsByUser"].values()]
entities = state["chatsByEntity"]
duplicated = [e for e in entities if len(e["chatIds"]) != 1]
replaced = state["effects"]["notificationsReplaced"]
faults = state["faults"]
problems = []
if visible != notifications or any(n != 1 for n in per_user):
    problems.append(f"{visible} visible notifications for {notifications} intents")
if len(entities) != chats or duplicated:
    problems.append(f"{len(entities)} entity pairs for {chats} chats, duplicated: {duplicated[:3]}")
print(f"chaos:   simulator: {visible} visible notifications, {len(entities)} chats, "
      f"{replaced} replaced by a retry, faults {faults}")
sys.exit("; ".join(problems) if problems else 0)
' "$notifications" "$chats" || fail "the simulator does not hold exactly one effect per intent"
    say "  ok: $((notifications + chats)) intents delivered once each, verify ok"
}

delivered() { psql -Atq "$DATABASE_URL" -c "SELECT count(*) FROM outbox.intents WHERE status = 'delivered'"; }

scenario_kills() {
    say "20 SIGKILLs of worker processes during a 10,000-intent run"
    new_world kills --latency-ms 5
    enqueue 9900 100
    local running=()
    for _ in 1 2; do "${WORKER[@]}" >/dev/null 2>&1 & running+=($!); pids+=($!); done
    for kill in $(seq 20); do
        sleep "0.$(( RANDOM % 4 + 2 ))"
        local i=$(( RANDOM % ${#running[@]} ))
        kill -9 "${running[$i]}" 2>/dev/null || true
        wait "${running[$i]}" 2>/dev/null || true   # reaped quietly: the kill is the point
        "${WORKER[@]}" >/dev/null 2>&1 & running[$i]=$!; pids+=($!)
    done
    say "  20 workers killed; $(delivered) of 10000 delivered at the last kill"
    for pid in "${running[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait "${running[@]}" 2>/dev/null || true
    timeout 300 "${WORKER[@]}" --until-idle >/dev/null 2>&1 || fail "the last worker did not finish"
    check 9900 100
}

scenario_restart() {
    say "PostgreSQL restarted in the middle of a run (workers and serve reconnect)"
    new_world restart --latency-ms 200
    enqueue 4950 50
    local serve_port; serve_port=$(free_port)
    "$BIN" serve --port "$serve_port" >/dev/null 2>&1 & pids+=($!)
    local running=()
    for _ in 1 2; do "${WORKER[@]}" --until-idle >/dev/null 2>&1 & running+=($!); pids+=($!); done
    sleep 2
    say "  restarting PostgreSQL with $(delivered) of 5000 delivered"
    pg_ctl_cluster -m fast -w restart -o "$PG_OPTIONS"
    for pid in "${running[@]}"; do
        timeout 300 tail --pid="$pid" -f /dev/null || fail "a worker did not finish after the restart"
    done
    local ready=""
    for _ in $(seq 100); do
        ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$serve_port/readyz" || true)
        [ "$ready" = 200 ] && break; sleep 0.1
    done
    [ "$ready" = 200 ] || fail "serve is not ready after the restart (readyz $ready)"
    check 4950 50
}

scenario_storm() {
    say "a storm: 30% faults of every kind for a minute, with intents arriving all along"
    new_world storm --fail-before 0.08 --fail-after 0.08 --drop-after 0.07 --html-502 0.05 --slow 0.02 \
        --latency-ms 20 --seed "$RANDOM"
    local running=()
    for _ in 1 2; do "${WORKER[@]}" --batch 5 >/dev/null 2>&1 & running+=($!); pids+=($!); done
    for round in $(seq 0 11); do
        enqueue 250 4 $(( round * 250 ))
        sleep 5
    done
    say "  after a minute: $(delivered) of 3048 delivered"
    for pid in "${running[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait "${running[@]}" 2>/dev/null || true
    timeout 300 "${WORKER[@]}" --until-idle >/dev/null 2>&1 || fail "the last worker did not finish"
    check 3000 48
}

scenario_events() {
    say "events while the database is down: 503, never 200; stored once it is back"
    new_world events
    local serve_port; serve_port=$(free_port)
    "$BIN" serve --port "$serve_port" >/dev/null 2>&1 & pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$serve_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    local url="http://127.0.0.1:$serve_port/bitrix24/events"
    pg_ctl_cluster -m fast -w stop
    local down; down=$("$BIN" simulate fire dialog-finish --to "$url" --app-token "$APP_TOKEN" --count 20 --concurrency 5 || true)
    local readyz; readyz=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$serve_port/readyz" || true)
    pg_ctl_cluster -w start -o "$PG_OPTIONS"
    echo "$down" | grep -q ": 503: 20$" || fail "events during the outage were not all answered 503: $down"
    [ "$readyz" = 503 ] || fail "readyz answered $readyz during the outage"
    "$BIN" simulate fire dialog-finish --to "$url" --app-token "$APP_TOKEN" --count 20 --session-id 9000 >/dev/null \
        || fail "events after the outage were not all stored"
    local stored; stored=$(psql -Atq "$DATABASE_URL" -c "SELECT count(*) FROM outbox.log WHERE type = 'bitrix.event'")
    [ "$stored" = 20 ] || fail "$stored events stored, expected the 20 answered 200"
    say "  ok: 20 answered 503 while down (readyz 503), 20 stored after"
}

case "$SCENARIO" in
    kills) scenario_kills ;;
    restart) scenario_restart ;;
    storm) scenario_storm ;;
    events) scenario_events ;;
    all) scenario_kills; scenario_restart; scenario_storm; scenario_events ;;
    *) echo "usage: scripts/chaos.sh [kills|restart|storm|events|all]" >&2; exit 2 ;;
esac
say "all passed"
