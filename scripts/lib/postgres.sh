# Shared by scripts/test.sh and the demo: install prerequisites and run a private PostgreSQL.
# Source it; functions only, nothing runs on load.

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

pg_bin_dir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
    dirname "$(command -v initdb)"
}

pg_major_version() {
    "$(pg_bin_dir)/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/'
}

# postgresql (server), libpq-dev and pkg-config (to build against libpq), python3-venv.
install_system_packages() {
    local missing=()
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
        missing+=(postgresql)
    fi
    [ -f /usr/include/postgresql/libpq-fe.h ] || missing+=(libpq-dev)
    command -v pkg-config >/dev/null || missing+=(pkg-config)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "Installing ${missing[*]}…"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $(( 20000 + RANDOM % 20000 ))
}

# Starts a cluster in a new temporary directory; sets THROWAWAY_DIR, THROWAWAY_PORT and
# THROWAWAY_DATABASE_URL. As root, the cluster runs as the postgres user, which PostgreSQL
# requires. It listens on no TCP address, only on a socket in a directory (0700) that only
# its owner can enter, and refuses every host connection: trust would otherwise make any
# local user its superuser, able to run programs as the user who started it.
# THROWAWAY_PG_SETTINGS adds server settings (e.g. "-c shared_buffers=1GB").
start_throwaway_postgres() {
    local bin port run_as=()
    bin=$(pg_bin_dir)
    THROWAWAY_DIR=$(mktemp -d /tmp/b24outbox-pg.XXXXXX)
    mkdir -p "$THROWAWAY_DIR/data" "$THROWAWAY_DIR/socket"
    chmod 0700 "$THROWAWAY_DIR" "$THROWAWAY_DIR/socket"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$THROWAWAY_DIR" postgres
        chown -R postgres "$THROWAWAY_DIR"
        run_as=(runuser -u postgres --)
    fi
    THROWAWAY_RUN_AS=("${run_as[@]}")
    "${run_as[@]}" "$bin/initdb" -D "$THROWAWAY_DIR/data" -U postgres --auth-local=trust --auth-host=reject -E UTF8 --no-sync >/dev/null
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        if "${run_as[@]}" "$bin/pg_ctl" -D "$THROWAWAY_DIR/data" -l "$THROWAWAY_DIR/server.log" -w -t 30 start \
            -o "-p $port -k $THROWAWAY_DIR/socket -c listen_addresses= -c unix_socket_permissions=0700 -c fsync=off -c max_connections=200 ${THROWAWAY_PG_SETTINGS:-}" \
            >/dev/null; then
            THROWAWAY_PORT=$port
            THROWAWAY_DATABASE_URL="postgresql://postgres@/postgres?host=$THROWAWAY_DIR/socket&port=$port"
            return 0
        fi
    done
    echo "could not start PostgreSQL; its log:" >&2
    cat "$THROWAWAY_DIR/server.log" >&2
    return 1
}

stop_throwaway_postgres() {
    local status=$?
    if [ -n "${THROWAWAY_DIR:-}" ] && [ -d "$THROWAWAY_DIR/data" ]; then
        "${THROWAWAY_RUN_AS[@]}" "$(pg_bin_dir)/pg_ctl" -D "$THROWAWAY_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$THROWAWAY_DIR"
    fi
    return $status
}

# A virtualenv with fast_bitrix24 from PyPI, kept in .venv/ between runs.
FAST_BITRIX24_VENV="${FAST_BITRIX24_VENV:-$PWD/.venv/fast_bitrix24}"
setup_fast_bitrix24_venv() {
    if [ -x "$FAST_BITRIX24_VENV/bin/python" ] && "$FAST_BITRIX24_VENV/bin/python" -c 'import fast_bitrix24' 2>/dev/null; then
        return 0
    fi
    if ! python3 -m venv "$FAST_BITRIX24_VENV" >/dev/null 2>&1; then
        install_python_venv && python3 -m venv "$FAST_BITRIX24_VENV"
    fi
    "$FAST_BITRIX24_VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-fast-bitrix24.txt
}

install_python_venv() {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3 python3-venv >/dev/null
}
