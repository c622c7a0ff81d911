#!/usr/bin/env bash
# HTTP load: the same app with and without Passage, loaded on loopback by wrk, as ratios
# measured in one run (absolute numbers on a shared 2-core machine mean little).
#
#   benches/http.sh                      # axum and actix
#   DURATION=20s CONNECTIONS=64 benches/http.sh
#
# Target (DESIGN.md): with the layer >= 0.90x the requests/s without it.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-2s}
ROUNDS=${ROUNDS:-9}
CONNECTIONS=${CONNECTIONS:-32}
FRAMEWORKS=${FRAMEWORKS:-axum actix}
PORT=${PORT:-39871}
# Server on core 0 with one worker thread, wrk on core 1: the two never steal each other's CPU,
# which is most of the noise on a 2-core machine.
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
fi

cargo build --release -q -p bench-http
BIN=target/release/bench-http

MODES="none auth auth-nocache"
EXTRA_AXUM_MODE=noop-layer

# start FRAMEWORK MODE PORT -> starts a server pinned to SERVER_CPU, prints "pid token"
start() {
  local out; out=$(mktemp)
  TOKIO_WORKER_THREADS=1 ACTIX_WORKERS=1 taskset -c "$SERVER_CPU" "$BIN" "$1" "$2" "127.0.0.1:$3" >"$out" 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do grep -q READY "$out" && break; sleep 0.1; done
  echo "$pid $(sed -n 's/^TOKEN=//p' "$out")"
  rm -f "$out"
}

# load PORT TOKEN -> prints "rps p99_ms"
load() {
  local report; report=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -H "Authorization: Bearer $2" "http://127.0.0.1:$1/me")
  if echo "$report" | grep -q "Non-2xx"; then echo "non-2xx responses on port $1" >&2; exit 1; fi
  local rps p99
  rps=$(echo "$report" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$report" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}')
  echo "$rps $p99"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

printf '%-8s %-6s %-14s %12s %10s %8s\n' framework round mode "requests/s" "p99 ms" ratio
for fw in $FRAMEWORKS; do
  # All three servers run side by side (idle ones cost nothing); wrk alternates between them,
  # so each round's three measurements see the same background load.
  declare -A pid=() token=() port=()
  p=$PORT
  modes=$MODES
  [ "$fw" = axum ] && modes="$MODES $EXTRA_AXUM_MODE"
  for mode in $modes; do
    read -r pid[$mode] token[$mode] < <(start "$fw" "$mode" "$p")
    port[$mode]=$p; p=$((p + 1))
    taskset -c "$LOAD_CPU" wrk -t1 -c8 -d1s -H "Authorization: Bearer ${token[$mode]}" "http://127.0.0.1:${port[$mode]}/me" >/dev/null
  done
  auth_ratios=(); nocache_ratios=(); noop_ratios=()
  for round in $(seq "$ROUNDS"); do
    read -r base_rps base_p99 < <(load "${port[none]}" "${token[none]}")
    printf '%-8s %-6s %-14s %12.0f %10.2f %8s\n' "$fw" "$round" none "$base_rps" "$base_p99" "1.00"
    for mode in ${modes#none }; do
      read -r rps p99 < <(load "${port[$mode]}" "${token[$mode]}")
      ratio=$(awk -v a="$rps" -v b="$base_rps" 'BEGIN {printf "%.3f", a/b}')
      printf '%-8s %-6s %-14s %12.0f %10.2f %8s\n' "$fw" "$round" "$mode" "$rps" "$p99" "$ratio"
      case "$mode" in
        auth) auth_ratios+=("$ratio") ;;
        auth-nocache) nocache_ratios+=("$ratio") ;;
        noop-layer) noop_ratios+=("$ratio") ;;
      esac
    done
  done
  for mode in $modes; do kill "${pid[$mode]}"; wait "${pid[$mode]}" 2>/dev/null || true; done
  if [ ${#noop_ratios[@]} -gt 0 ]; then
    printf '%s median ratio of an identity layer (plumbing only): %.2f\n' "$fw" "$(printf '%s\n' "${noop_ratios[@]}" | median)"
  fi
  printf '%s median ratio over %s rounds: auth %.2f (target >= 0.90), auth without token cache %.2f\n' \
    "$fw" "$ROUNDS" "$(printf '%s\n' "${auth_ratios[@]}" | median)" "$(printf '%s\n' "${nocache_ratios[@]}" | median)"
done
echo "ratio = requests/s / requests/s of the same app without authentication, same round"
