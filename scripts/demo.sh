#!/usr/bin/env bash
# The one-command demo: simulator, worker pool and event handler against a private PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "b24outbox demo: not yet available."
echo "The demo needs the worker pool and the event handler, which are still being built."
echo "What works today: 'swift run b24outbox migrate' against a database, and scripts/test.sh."
exit 2
