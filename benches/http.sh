#!/usr/bin/env bash
# HTTP load: the same app with and without Passage, loaded on loopback by wrk, as ratios
# measured in one run (absolute numbers on a shared 2-core machine mean little).
#
#   benches/http.sh                          # axum and actix, paired (default)
#   METHOD=alternate benches/http.sh         # the classic way: one server at a time
#   DURATION=5s ROUNDS=15 FRAMEWORKS=axum benches/http.sh
#   METRICS=1 benches/http.sh                # every server records metrics (Prometheus recorder)
#   REVOKED=10000 benches/http.sh            # 10 000 other users' sessions revoked in every server
#
# Target (ARCHITECTURE.md, "Performance budget"): with the layer >= 0.90x the requests/s
# without it.
#
# Every server runs on core SERVER_CPU with one worker thread; wrk runs on core LOAD_CPU.
# METHOD=paired loads the app without authentication and one variant *at the same time*: the
# two servers share one core, so a slow spell of the machine (this VM's neighbours steal whole
# seconds) slows both alike and cancels out of their ratio; with the core split evenly, the
# ratio of their requests/s is the ratio of their CPU cost per request. A second copy of the
# unauthenticated app ("control") measures how far from 1.00 the method itself strays.
# METHOD=alternate loads one server at a time, alternating, and compares neighbouring runs.
set -euo pipefail
cd "$(dirname "$0")/.."

METHOD=${METHOD:-paired}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-9}
CONNECTIONS=${CONNECTIONS:-32}
FRAMEWORKS=${FRAMEWORKS:-axum actix}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

command -v curl >/dev/null || { echo "curl is missing (it probes each server before the rounds)" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi
fi

cargo build --release -q -p bench-http
. tests/lib.sh
BIN=$(target_dir)/release/bench-http

declare -a PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start FRAMEWORK MODE -> starts a server pinned to SERVER_CPU, prints "pid token address".
# The server binds port 0 and reports its address: a fixed port could collide with the
# ephemeral port of another server's embedded emulator.
start() {
  local out err; out=$(mktemp); err=$(mktemp)
  TOKIO_WORKER_THREADS=1 ACTIX_WORKERS=1 taskset -c "$SERVER_CPU" "$BIN" "$1" "$2" 127.0.0.1:0 >"$out" 2>"$err" &
  local pid=$!
  for _ in $(seq 100); do grep -q READY "$out" && break; sleep 0.1; done
  grep -q READY "$out" || { echo "bench-http $1 $2 did not start: $(cat "$err")" >&2; kill "$pid" 2>/dev/null; rm -f "$out" "$err"; exit 1; }
  echo "$pid $(sed -n 's/^TOKEN=//p' "$out") $(sed -n 's/^ADDR=//p' "$out")"
  rm -f "$out" "$err"
}

# wrk_run ADDRESS TOKEN OUT -> wrk's report in OUT
wrk_run() {
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
    -H "Authorization: Bearer $2" "http://$1/me" >"$3"
}

# wrk_ok OUT WHAT -> exits unless every request of wrk's report OUT was answered 2xx: a non-2xx
# answer, a socket error (connect, read, write) or a timeout fails the run (errors on the
# baseline would make every ratio look better), and so does a report without requests. Called in
# the script's own shell, not in a subshell, so that `exit` stops the script.
wrk_ok() {
  local requests
  if grep -q "Non-2xx" "$1"; then echo "$2: non-2xx responses: $(cat "$1")" >&2; exit 1; fi
  if grep -q "Socket errors" "$1"; then echo "$2: socket errors or timeouts: $(cat "$1")" >&2; exit 1; fi
  requests=$(awk '/ requests in / {print $1}' "$1")
  if ! [[ "$requests" =~ ^[1-9][0-9]*$ ]]; then echo "$2: no requests: $(cat "$1")" >&2; exit 1; fi
}

# probe ADDRESS AUTHORIZATION STATUS BODY WHAT -> exits unless GET /me with this Authorization
# header ("" for none) answers STATUS with a body containing BODY.
probe() {
  local out status
  out=$(mktemp)
  if [ -n "$2" ]; then
    status=$(curl -s -o "$out" -w '%{http_code}' --max-time 10 -H "Authorization: $2" "http://$1/me" || true)
  else
    status=$(curl -s -o "$out" -w '%{http_code}' --max-time 10 "http://$1/me" || true)
  fi
  if [ "$status" != "$3" ] || ! grep -qF "$4" "$out"; then
    echo "probe failed: $5: expected $3 with $4, got $status $(cat "$out")" >&2; rm -f "$out"; exit 1
  fi
  rm -f "$out"
}

# parse OUT -> prints "rps p99_ms requests" (check it with wrk_ok first)
parse() {
  awk '/Requests\/sec/ {rps=$2}
       / requests in / {n=$1}
       $1=="99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; p99=v}
       END {print rps, p99, n}' "$1"
}

# cpu_ns PID -> CPU time the server has used so far, in ns (all threads, user + kernel)
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{s+=$1} END {printf "%.0f\n", s}'; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

A=$(mktemp); B=$(mktemp)
printf 'method: %s, %s rounds of %s, %s connections per server, metrics recorder %s, %s users revoked\n' "$METHOD" "$ROUNDS" "$DURATION" "$CONNECTIONS" "$([ "${METRICS:-}" = 1 ] && echo on || echo off)" "${REVOKED:-0}"
printf '%-6s %-5s %-13s %10s %7s %8s %10s %7s %8s %7s %7s\n' fw round variant "base req/s" "p99 ms" "CPU us" "req/s" "p99 ms" "CPU us" ratio "CPU r."
for fw in $FRAMEWORKS; do
  variants="auth auth-nocache"
  [ "$fw" = axum ] && variants="noop-layer $variants"
  [ "$METHOD" = paired ] && variants="control $variants"
  declare -A pid=() token=() addr=() ratios=() cpu_ratios=() samples=()
  for v in none $variants; do
    mode=$v; [ "$v" = control ] && mode=none
    read -r pid[$v] token[$v] addr[$v] < <(start "$fw" "$mode")
    PIDS+=("${pid[$v]}")
    # Before any load: each server answers the token, and an authenticating one refuses a
    # request without it and one with a forged signature — so a variant never measures an app
    # that lets everyone in (or answers everything with an error).
    probe "${addr[$v]}" "Bearer ${token[$v]}" 200 '{"user_id":"bench-user"}' "$fw $v with its token"
    case "$mode" in
      auth|auth-nocache|extractor)
        probe "${addr[$v]}" "" 401 '"code":"missing_token"' "$fw $v without a token"
        t=${token[$v]}; at=$(( ${#t} - 10 )); c=${t:$at:1}; [ "$c" = A ] && c=B || c=A
        probe "${addr[$v]}" "Bearer ${t:0:$at}$c${t:$((at + 1))}" 401 '"code":"invalid_token"' "$fw $v with a forged signature"
        ;;
    esac
    taskset -c "$LOAD_CPU" wrk -t1 -c8 -d1s -H "Authorization: Bearer ${token[$v]}" "http://${addr[$v]}/me" >"$A"
    wrk_ok "$A" "$fw $v warm-up"
  done
  for round in $(seq "$ROUNDS"); do
    for v in $variants; do
      ca=$(cpu_ns "${pid[none]}"); cb=$(cpu_ns "${pid[$v]}")
      if [ "$METHOD" = paired ]; then
        wrk_run "${addr[none]}" "${token[none]}" "$A" & w=$!
        wrk_run "${addr[$v]}" "${token[$v]}" "$B"
        wait "$w"
      else
        wrk_run "${addr[none]}" "${token[none]}" "$A"
        wrk_run "${addr[$v]}" "${token[$v]}" "$B"
      fi
      ca=$(( $(cpu_ns "${pid[none]}") - ca )); cb=$(( $(cpu_ns "${pid[$v]}") - cb ))
      wrk_ok "$A" "$fw round $round: none (beside $v)"
      wrk_ok "$B" "$fw round $round: $v"
      read -r base_rps base_p99 base_n < <(parse "$A")
      read -r rps p99 n < <(parse "$B")
      ratio=$(awk -v a="$rps" -v b="$base_rps" 'BEGIN {printf "%.3f", a/b}')
      # CPU per request of the base over that of the variant: the throughput ratio a saturated
      # core would give, whatever else limited this round.
      base_cpu=$(awk -v c="$ca" -v n="$base_n" 'BEGIN {printf "%.2f", c/n/1000}')
      cpu=$(awk -v c="$cb" -v n="$n" 'BEGIN {printf "%.2f", c/n/1000}')
      cpu_ratio=$(awk -v a="$base_cpu" -v b="$cpu" 'BEGIN {printf "%.3f", a/b}')
      ratios[$v]="${ratios[$v]:-} $ratio"
      cpu_ratios[$v]="${cpu_ratios[$v]:-} $cpu_ratio"
      samples[$v]="${samples[$v]:-} $base_cpu:$ratio:$cpu_ratio"
      printf '%-6s %-5s %-13s %10.0f %7.2f %8s %10.0f %7.2f %8s %7s %7s\n' "$fw" "$round" "$v" "$base_rps" "$base_p99" "$base_cpu" "$rps" "$p99" "$cpu" "$ratio" "$cpu_ratio"
    done
  done
  for v in none $variants; do kill "${pid[$v]}"; wait "${pid[$v]}" 2>/dev/null || true; done
  echo "-- $fw, medians over $ROUNDS rounds ($METHOD): requests/s ratio, CPU-per-request ratio"
  for v in $variants; do
    m=$(printf '%s\n' ${ratios[$v]} | median)
    mc=$(printf '%s\n' ${cpu_ratios[$v]} | median)
    case "$v" in
      control) note="another copy of the app without authentication: the method's own error" ;;
      noop-layer) note="an identity layer: what any layer costs in axum" ;;
      auth) note="PassageLayer/PassageAuth + PassageUser (target >= 0.90)" ;;
      auth-nocache) note="the same with the verified-token cache off" ;;
    esac
    printf '   %-14s %.2f  %.2f  %s\n' "$v" "$m" "$mc" "$note"
  done
  # This VM has spells in which a request costs far less CPU (README, "Fast spells"), and what
  # Passage adds is then a larger share. When a run spans both, the medians per spell follow.
  all=$(for v in $variants; do printf '%s\n' ${samples[$v]}; done | cut -d: -f1 | sort -g)
  lo=$(head -1 <<<"$all"); hi=$(tail -1 <<<"$all")
  if awk -v lo="$lo" -v hi="$hi" 'BEGIN {exit !(hi > 1.3 * lo)}'; then
    cut=$(awk -v lo="$lo" -v hi="$hi" 'BEGIN {printf "%.2f", (lo + hi) / 2}')
    echo "-- $fw, the run spans two machine states: a fast spell (base CPU under $cut us per request) and the usual one"
    for v in $variants; do
      for spell in fast usual; do
        picked=$(printf '%s\n' ${samples[$v]} | awk -F: -v c="$cut" -v s="$spell" '(s == "fast") == ($1 < c)')
        [ -z "$picked" ] && continue
        m=$(cut -d: -f2 <<<"$picked" | median)
        mc=$(cut -d: -f3 <<<"$picked" | median)
        printf '   %-14s %-6s %2d rounds  %.2f  %.2f\n' "$v" "$spell" "$(wc -l <<<"$picked")" "$m" "$mc"
      done
    done
  fi
  unset pid token addr ratios cpu_ratios samples
done
rm -f "$A" "$B"
echo "ratio = requests/s of the variant / requests/s of the app without authentication, same round"
echo "CPU r. = server CPU per request without authentication / with the variant, same round"
