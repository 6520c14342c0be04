#!/usr/bin/env bash
# Set up, then run the checks and the whole test suite against SQLite and, when a PostgreSQL
# server can be started here (Debian's postgresql package), against PostgreSQL too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${GPUFLEET_TEST_POSTGRES_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  eval "$(bash scripts/start-postgres.sh)"
fi
if [ -z "${GPUFLEET_TEST_POSTGRES_URL:-}" ]; then
  echo "note: no PostgreSQL here; its tests are skipped (apt-get install postgresql to run them)"
fi
make check
.venv/bin/python -m pytest -q -n 2 "$@"
