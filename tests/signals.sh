#!/usr/bin/env bash
# Graceful stops, run by `cargo xtask test`: passage-server, passage-emulator and every example
# server stop on SIGTERM (what docker stop, systemd and Kubernetes send) and on SIGINT (Ctrl-C),
# finish the request in flight, and exit 0. The request in flight is made slow on purpose (a
# development-mode fault on the Management API: 1.5 s) and the signal is sent while it waits.
# Logs go to <target dir>/signals/.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh

need curl "curl"
need python3 "Python 3"
cargo build -q -p passage-server -p passage-emulator -p example-axum -p example-tower \
  -p example-actix -p example-tonic
target=$(target_dir)
bin=$target/debug
out=$target/signals
mkdir -p "$out"
pids=()
trap 'for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done' EXIT

fail() {
  echo "signals check failed: $1" >&2
  [ -n "${2:-}" ] && { echo "--- log ($2)" >&2; tail -n 20 "$2" >&2; }
  exit 1
}

# Waits until the log $2 of process $1 contains $3.
wait_log() {
  for _ in $(seq 300); do
    grep -q "$3" "$2" 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || fail "the process exited before printing '$3'" "$2"
    sleep 0.1
  done
  fail "no '$3' in the log" "$2"
}

# Sends $2 to process $1 (log $3) and waits (at most 20 s) for it to exit; fails unless with 0.
stop_with() {
  local pid=$1 signal=$2 log=$3
  kill "-$signal" "$pid"
  for _ in $(seq 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local status=0
      wait "$pid" || status=$?
      [ "$status" = 0 ] || fail "SIG$signal: exited with status $status" "$log"
      return 0
    fi
    sleep 0.1
  done
  fail "SIG$signal: still running 20 s later" "$log"
}

# Makes the next Management API request of the development server at $1 take 1.5 s.
slow_api() {
  curl -sf -X POST "$1/__emulator/faults" -H 'content-type: application/json' \
    -d '{"target":"api","fault":"slow:1500","times":1}' >/dev/null || fail "could not set the fault at $1"
}

# A request in flight: `GET $1` (header $2) in the background, its status written to $3; its
# process id in $request.
in_flight() {
  curl -s -o /dev/null -w '%{http_code}' -H "$2" "$1" >"$3" &
  request=$!
}

# --- passage-server and passage-emulator ----------------------------------------------------
for signal in TERM INT; do
  log=$out/passage-server-$signal.log
  auth=$(free_port)
  api=$(free_port)
  "$bin/passage-server" serve --dev --auth-bind "127.0.0.1:$auth" --api-bind "127.0.0.1:$api" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_log "$pid" "$log" "Management API on http://127.0.0.1:$api"
  slow_api "http://127.0.0.1:$api"
  in_flight "http://127.0.0.1:$api/v1/apps/passage_app/users" \
    "authorization: Bearer passage_dev_api_key" "$out/status"
  sleep 0.3
  stop_with "$pid" "$signal" "$log"
  wait "$request" || true
  [ "$(cat "$out/status")" = 200 ] || fail "SIG$signal: the request in flight got '$(cat "$out/status")', not 200" "$log"
  grep -q "shutting down" "$log" || fail "SIG$signal: no shutdown step in the log" "$log"
  echo "ok   passage-server: SIG$signal finished the request in flight (200) and exited 0"
done

log=$out/passage-emulator.log
port=$(free_port)
"$bin/passage-emulator" --bind "127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
pids+=("$pid")
wait_log "$pid" "$log" "listening on http://127.0.0.1:$port"
slow_api "http://127.0.0.1:$port"
in_flight "http://127.0.0.1:$port/v1/apps/emulator_app/users" \
  "authorization: Bearer emulator_api_key" "$out/status"
sleep 0.3
stop_with "$pid" TERM "$log"
wait "$request" || true
[ "$(cat "$out/status")" = 200 ] || fail "the emulator's request in flight got '$(cat "$out/status")', not 200" "$log"
echo "ok   passage-emulator: SIGTERM finished the request in flight (200) and exited 0"

# --- the example servers --------------------------------------------------------------------
# Each runs on its embedded development server: /profile calls its Management API, made slow.
for example in axum tower actix; do
  for signal in TERM INT; do
    log=$out/example-$example-$signal.log
    port=$(free_port)
    BIND=127.0.0.1:$port RUST_LOG=warn "$bin/example-$example" >"$log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_log "$pid" "$log" "Ctrl-C to stop"
    api=$(grep -o 'PASSAGE_API_URL=[^ ]*' "$log" | head -1 | cut -d= -f2)
    token=$(grep -o "Bearer [^']*" "$log" | head -1 | cut -d' ' -f2)
    [ -n "$api" ] && [ -n "$token" ] || fail "no API URL or demo token in the banner" "$log"
    slow_api "$api"
    in_flight "http://127.0.0.1:$port/profile" "authorization: Bearer $token" "$out/status"
    sleep 0.3
    stop_with "$pid" "$signal" "$log"
    wait "$request" || true
    [ "$(cat "$out/status")" = 200 ] || fail "example-$example, SIG$signal: the request in flight got '$(cat "$out/status")', not 200" "$log"
    echo "ok   example-$example: SIG$signal finished the request in flight (200) and exited 0"
  done
done

for signal in TERM INT; do
  log=$out/example-tonic-$signal.log
  port=$(free_port)
  BIND=127.0.0.1:$port RUST_LOG=warn "$bin/example-tonic" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_log "$pid" "$log" "Ctrl-C to stop"
  stop_with "$pid" "$signal" "$log"
  echo "ok   example-tonic: SIG$signal exited 0"
done
echo "signals check ok: every server stops gracefully on SIGTERM and SIGINT"
