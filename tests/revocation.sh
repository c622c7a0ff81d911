#!/usr/bin/env bash
# End to end across processes, run by `cargo xtask test`: example-axum runs with REDIS_URL (a real
# redis-server on a free loopback port); the demo token it prints works; then the admin CLI,
# `example-manage-users users deactivate demo-user`, with the same REDIS_URL, makes the running
# server refuse that token — no restart. Logs go to target/revocation/.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh

redis_server=${REDIS_SERVER:-redis-server}
need "$redis_server" "Redis"
need python3 "Python 3"
need curl "curl"
# example-axum's REDIS_URL support is its `redis` feature.
cargo build -q -p example-axum --features redis -p example-manage-users
target=$(target_dir)
out=$target/revocation
mkdir -p "$out"
redis_port=$(free_port)
port=$(free_port)
data=$(mktemp -d)
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --save "" --dir "$data" >"$out/redis.log" 2>&1 &
redis=$!
export REDIS_URL="redis://127.0.0.1:$redis_port/"
BIND=127.0.0.1:$port RUST_LOG=warn "$target/debug/example-axum" >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" "$redis" 2>/dev/null || true; rm -rf "$data"' EXIT
fail() {
  echo "revocation check failed: $1"
  echo "--- server log (tail)"; tail -20 "$out/server.log"
  exit 1
}
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || fail "example-axum did not start"

token=$(grep -o "Bearer [^']*" "$out/server.log" | head -1 | cut -d' ' -f2)
[[ -n "$token" ]] || fail "no demo token in the banner"
read -r -a vars <<<"$(grep -o 'PASSAGE_APP_ID=[^ ]* PASSAGE_API_KEY=[^ ]* PASSAGE_AUTH_URL=[^ ]* PASSAGE_API_URL=[^ ]*' "$out/server.log" | head -1)"
[[ ${#vars[@]} -eq 4 ]] || fail "no PASSAGE_* variables in the banner"
me() { curl -s -o "$out/me.json" -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/me"; }
[[ "$(me)" == 200 ]] || fail "the demo token was refused before any revocation: $(cat "$out/me.json")"

env "${vars[@]}" "$target/debug/example-manage-users" users deactivate demo-user >"$out/cli.json" 2>"$out/cli.err" \
  || fail "the CLI failed: $(cat "$out/cli.err")"
# Poll for up to 10 s and report how long the server took to see it (a measurement, not a test).
done_at=$(date +%s%N)
for _ in $(seq 1000); do [[ "$(me)" == 401 ]] && break; sleep 0.01; done
seen_ms=$(( ($(date +%s%N) - done_at) / 1000000 ))
[[ "$(me)" == 401 ]] || fail "the running server still admits the deactivated user's token: $(cat "$out/me.json")"
grep -q '"invalid_token"' "$out/me.json" || fail "expected invalid_token, got $(cat "$out/me.json")"
kill -0 "$server" || fail "the server is not the one that started"
echo "revocation check ok: the CLI deactivated demo-user through the Management API and Redis; the running server refuses its token (401 invalid_token), seen ${seen_ms} ms after the CLI exited"
