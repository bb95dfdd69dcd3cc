#!/usr/bin/env bash
# Run a command (the test suite) with a throw-away PostgreSQL server when one can be started,
# exporting JIQUN_TEST_PG_URL for the store tests; the server is removed afterwards.
# Without PostgreSQL installed the command runs anyway and the PostgreSQL tests report a skip
# naming what is missing (`bash scripts/install-system-deps.sh` installs it).
set -uo pipefail
initdb=$(compgen -G "/usr/lib/postgresql/*/bin/initdb" | sort -V | tail -n 1 || true)
if [ -z "${JIQUN_TEST_PG_URL:-}" ] && [ -n "$initdb" ]; then
  bindir=$(dirname "$initdb")
  dir=$(mktemp -d /tmp/jiqun-pg-XXXXXX)
  port=$(( 20000 + RANDOM % 20000 ))
  as=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; as=(runuser -u postgres --); fi
  "${as[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U jiqun -E UTF8 --locale=C.UTF-8 >/dev/null
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-k $dir -p $port -c listen_addresses='' -c fsync=off -c max_connections=200" start >/dev/null
  trap '"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$dir"' EXIT
  export JIQUN_TEST_PG_URL="postgresql+psycopg://jiqun@/postgres?host=$dir&port=$port"
  echo "PostgreSQL for tests: $JIQUN_TEST_PG_URL"
fi
"$@"
