# Helpers the test and bench scripts share (source it: `. tests/lib.sh`).

# Where cargo puts its builds: CARGO_TARGET_DIR, build.target-dir, or ./target.
target_dir() {
  cargo metadata --format-version 1 --no-deps 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Stops with one message when a program is missing: `need PROGRAM WHAT`.
need() {
  command -v "$1" >/dev/null && return 0
  echo "$(basename "$0"): $2 is missing (\`$1\`): run \`cargo xtask provision\` (it installs what the tests need, as root on Debian/Ubuntu) or install it yourself" >&2
  exit 1
}

# The directory of PostgreSQL's server programs (initdb, postgres, pg_isready), or nothing:
# PASSAGE_TEST_POSTGRES_BIN, else initdb on PATH, else the newest /usr/lib/postgresql/*/bin.
postgres_bin() {
  if [ -n "${PASSAGE_TEST_POSTGRES_BIN:-}" ]; then echo "$PASSAGE_TEST_POSTGRES_BIN"; return; fi
  if command -v initdb >/dev/null; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

# Starts a PostgreSQL in directory $1 on a free loopback port (as the `postgres` user when run as
# root: PostgreSQL refuses root), with `synchronous_commit=off` (what SQLite's WAL with
# synchronous=NORMAL promises: a crash can lose the last commits, never corrupt). Sets PG_PID and
# PG_URL (database `passage`). Stop it with `kill $PG_PID`.
start_postgres() {
  local dir=$1 bin; bin=$(postgres_bin)
  [ -x "$bin/initdb" ] || { echo "PostgreSQL's initdb was not found (apt-get install postgresql, or PASSAGE_TEST_POSTGRES_BIN)" >&2; return 1; }
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    chmod o+x "$(dirname "$dir")"  # mktemp's 0700 would keep the postgres user out
    run=(setpriv --reuid="$(id -u postgres)" --regid="$(id -g postgres)" --clear-groups --)
  fi
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-instructions >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  local port; port=$(free_port)
  "${run[@]}" "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
    -c synchronous_commit=off -c max_connections=200 >"$dir/postgres.log" 2>&1 &
  PG_PID=$!
  for _ in $(seq 100); do "$bin/pg_isready" -h 127.0.0.1 -p "$port" -U postgres >/dev/null 2>&1 && break; sleep 0.2; done
  "$bin/pg_isready" -h 127.0.0.1 -p "$port" -U postgres >/dev/null 2>&1 || { cat "$dir/postgres.log" >&2; return 1; }
  "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE passage" >/dev/null
  PG_URL="postgres://postgres@127.0.0.1:$port/passage"
}
