#!/usr/bin/env bash
# Load bench of passage-server: passkey sign-ins, token refreshes, latency at a fixed
# concurrency, memory and list latency at 100 000 users, CPU per sign-in against the crypto
# floor — for SQLite and, when PostgreSQL is installed, for PostgreSQL. Release builds, loopback
# only, every phase bounded in time (about two minutes per database at the defaults).
#
#   benches/load.sh                                   # the README's table
#   SECONDS_PER_PHASE=5 USERS=20000 benches/load.sh   # quicker
#   SMOKE=1 benches/load.sh                           # seconds, debug build: the bench works
#   NO_POSTGRES=1 benches/load.sh                     # SQLite only
#
# The load generator (bench-load, with its own software authenticator) runs on the same two
# cores as the server; the server's CPU per sign-in is read from /proc, so that ratio does not
# depend on how the cores were shared.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh

if [ -n "${SMOKE:-}" ]; then
  PROFILE=debug; BUILD=(); ARGS=(--smoke)
else
  PROFILE=release; BUILD=(--release)
  ARGS=(--seconds "${SECONDS_PER_PHASE:-10}" --users "${USERS:-100000}" --concurrency "${CONCURRENCY:-32}")
fi
cargo build "${BUILD[@]}" -q -p passage-server -p bench-load
BIN=$(target_dir)/$PROFILE

WORK=$(mktemp -d)
PG_PID=
cleanup() { [ -n "$PG_PID" ] && kill "$PG_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

DATABASES=(--database "$WORK/passage.db")
if [ -z "${NO_POSTGRES:-}" ]; then
  mkdir "$WORK/pg"
  if start_postgres "$WORK/pg"; then
    DATABASES+=(--database "$PG_URL")
  else
    echo "load.sh: no PostgreSQL (above): measuring SQLite only" >&2
  fi
fi
"$BIN/bench-load" --server "$BIN/passage-server" "${DATABASES[@]}" "${ARGS[@]}"
