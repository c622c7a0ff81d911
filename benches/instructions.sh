#!/usr/bin/env bash
# Instructions per served request: the same app with and without Passage, each run under
# valgrind's callgrind and loaded over loopback by wrk, as ratios measured in one run.
#
#   benches/instructions.sh                         # axum: none, noop-layer, auth
#   FRAMEWORKS="axum actix" MODES="none auth" benches/instructions.sh
#   BIN=/path/to/other/bench-http benches/instructions.sh   # another build (it must print ADDR=)
#
# Why: on this shared VM requests/s and CPU time move by ±5% between runs (benches/http.sh
# pairs servers to cancel that out, and still reads 0.83–0.93 for the same code). Counted
# instructions do not move: they show whether a change made the request path longer, to within
# a fraction of a percent. They count user space only (the kernel's share of a request — most
# of its cost — is the same for every variant) and say nothing about cache misses or IPC, so
# they complement benches/http.sh, they do not replace it.
#
# Counting starts after a warm-up (the first request registers metrics handles and fills the
# verified-token cache) and covers DURATION of wrk load with CONNECTIONS connections.
set -euo pipefail
cd "$(dirname "$0")/.."

FRAMEWORKS=${FRAMEWORKS:-axum}
MODES=${MODES:-none noop-layer auth}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-4}

command -v curl >/dev/null || { echo "curl is missing (it probes each server before counting)" >&2; exit 1; }
for tool in valgrind wrk; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing $tool (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq "$tool" >/dev/null; fi
  fi
done

if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p bench-http
  . tests/lib.sh
  BIN=$(target_dir)/release/bench-http
fi
work=$(mktemp -d)
server=
cleanup() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

# wrk_ok REPORT WHAT -> exits unless every request of wrk's REPORT was answered 2xx: a non-2xx
# answer, a socket error (connect, read, write) or a timeout fails the run (a refused or broken
# request costs fewer instructions and would make the ratio look better), and so does a report
# without requests.
wrk_ok() {
  if grep -q "Non-2xx" <<<"$1"; then echo "$2: non-2xx responses: $1" >&2; exit 1; fi
  if grep -q "Socket errors" <<<"$1"; then echo "$2: socket errors or timeouts: $1" >&2; exit 1; fi
  if ! [[ "$(awk '/ requests in / {print $1}' <<<"$1")" =~ ^[1-9][0-9]*$ ]]; then
    echo "$2: no requests: $1" >&2; exit 1
  fi
}

# probe ADDRESS AUTHORIZATION STATUS BODY WHAT -> exits unless GET /me with this Authorization
# header ("" for none) answers STATUS with a body containing BODY.
probe() {
  local out="$work/probe" status
  if [ -n "$2" ]; then
    status=$(curl -s -o "$out" -w '%{http_code}' --max-time 60 -H "Authorization: $2" "http://$1/me" || true)
  else
    status=$(curl -s -o "$out" -w '%{http_code}' --max-time 60 "http://$1/me" || true)
  fi
  if [ "$status" != "$3" ] || ! grep -qF "$4" "$out"; then
    echo "probe failed: $5: expected $3 with $4, got $status $(cat "$out")" >&2; exit 1
  fi
}

# count FRAMEWORK MODE -> sets REQUESTS and INSTRUCTIONS (called directly, not in a subshell, so
# the EXIT trap can stop the server whatever fails)
count() {
  local dir="$work/$1.$2" addr token report part
  mkdir -p "$dir"
  TOKIO_WORKER_THREADS=1 ACTIX_WORKERS=1 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$dir/callgrind.out" "$BIN" "$1" "$2" 127.0.0.1:0 >"$dir/stdout" 2>"$dir/stderr" &
  server=$!
  for _ in $(seq 600); do grep -q READY "$dir/stdout" && break; sleep 0.1; done
  grep -q READY "$dir/stdout" || { echo "bench-http $1 $2 did not start under valgrind: $(cat "$dir/stderr")" >&2; exit 1; }
  addr=$(sed -n 's/^ADDR=//p' "$dir/stdout")
  token=$(sed -n 's/^TOKEN=//p' "$dir/stdout")
  [ -n "$addr" ] || { echo "bench-http did not print ADDR= (a build older than this script?)" >&2; exit 1; }
  # Before counting: the server answers the token, and an authenticating one refuses a request
  # without it and one with a forged signature (never count an app that lets everyone in).
  probe "$addr" "Bearer $token" 200 '{"user_id":"bench-user"}' "$1 $2 with its token"
  case "$2" in
    auth|auth-nocache|extractor)
      probe "$addr" "" 401 '"code":"missing_token"' "$1 $2 without a token"
      local at=$(( ${#token} - 10 )) c
      c=${token:$at:1}; [ "$c" = A ] && c=B || c=A
      probe "$addr" "Bearer ${token:0:$at}$c${token:$((at + 1))}" 401 '"code":"invalid_token"' "$1 $2 with a forged signature"
      ;;
  esac
  report=$(wrk -t1 -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $token" "http://$addr/me")
  wrk_ok "$report" "$1 $2 warm-up"
  callgrind_control --instr=on "$server" >/dev/null 2>&1
  report=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: Bearer $token" "http://$addr/me")
  callgrind_control --instr=off "$server" >/dev/null 2>&1
  callgrind_control --dump "$server" >/dev/null 2>&1
  wrk_ok "$report" "$1 $2"
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  REQUESTS=$(awk '/ requests in / {print $1}' <<<"$report")
  INSTRUCTIONS=0
  for part in "$dir"/callgrind.out*; do
    part=$(callgrind_annotate "$part" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); if ($1 ~ /^[0-9]+$/) print $1}')
    INSTRUCTIONS=$((INSTRUCTIONS + ${part:-0}))
  done
  if ! [[ "$REQUESTS" =~ ^[1-9][0-9]*$ ]] || [ "$INSTRUCTIONS" -eq 0 ]; then
    echo "no measurement for $1 $2: requests '$REQUESTS', instructions $INSTRUCTIONS" >&2
    exit 1
  fi
}

printf '%-6s %-13s %10s %14s %8s\n' fw mode requests "instr/request" ratio
for fw in $FRAMEWORKS; do
  base=
  for mode in $MODES; do
    [ "$fw" = actix ] && [ "$mode" = noop-layer ] && continue
    count "$fw" "$mode"
    per=$((INSTRUCTIONS / REQUESTS))
    [ -z "$base" ] && base=$per
    printf '%-6s %-13s %10s %14s %8s\n' "$fw" "$mode" "$REQUESTS" "$per" "$(awk -v a="$per" -v b="$base" 'BEGIN {printf "%.3f", a/b}')"
  done
done
echo "ratio = user-space instructions per request / those of the first mode (${MODES%% *}), same run"
