#!/usr/bin/env bash
# Runs the whole test suite against a throw-away PostgreSQL cluster that this script owns.
#
#   scripts/test.sh [swift test arguments…]
#
# On a fresh Debian machine it first installs what is missing (PostgreSQL, libpq-dev,
# pkg-config, a Python venv for the third-party wire-format check). The cluster lives in a
# temporary directory, listens only on a socket in a directory no other user can enter (no
# TCP), and is stopped and removed on exit, also when tests fail.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/postgres.sh

install_system_packages
start_throwaway_postgres
trap stop_throwaway_postgres EXIT

export DATABASE_URL="$THROWAWAY_DATABASE_URL"
echo "test.sh: PostgreSQL $(pg_major_version) at $DATABASE_URL"

# fast_bitrix24 (PyPI) talks to our Bitrix24 simulator in one test, proving the wire format.
if setup_fast_bitrix24_venv; then
    export FAST_BITRIX24_PYTHON="$FAST_BITRIX24_VENV/bin/python"
fi

swift build --build-tests
swift test --skip-build "$@"
