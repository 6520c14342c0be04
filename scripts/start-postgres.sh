#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for tests and benchmarks, and print its URL.
# Usage: eval "$(scripts/start-postgres.sh)"   → exports GPUFLEET_TEST_POSTGRES_URL
set -euo pipefail
PGDIR=${PGDIR:-/tmp/gpufleet-pg}
PORT=${PGPORT:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
RUN_AS=()
if [ "$(id -u)" = 0 ]; then RUN_AS=(runuser -u postgres --); fi

if ! "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
  rm -rf "$PGDIR"
  mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
  "${RUN_AS[@]}" "$BIN/initdb" -D "$PGDIR/data" -U postgres -A trust >/dev/null
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
    -o "-p $PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
fi
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='gpufleet_test'" \
  | grep -q 1 || "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres gpufleet_test
echo "export GPUFLEET_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/gpufleet_test"
