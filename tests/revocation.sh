#!/usr/bin/env bash
# End to end across processes, run by `cargo xtask test`, on a real redis-server (a free
# loopback port):
# 1. example-axum runs with REDIS_URL; the demo token it prints works; then the admin CLI,
#    `example-manage-users users deactivate demo-user`, with the same REDIS_URL, makes the
#    running server refuse that token — no restart.
# 2. passage-server runs with --redis-url, and example-axum against it (PASSAGE_* and the same
#    REDIS_URL); a user is deactivated through the server's Management API directly (curl: the
#    app hears nothing of it) and the app refuses that user's token at once — the server
#    published the revocation.
# Logs go to <target dir>/revocation/.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh

redis_server=${REDIS_SERVER:-redis-server}
need "$redis_server" "Redis"
need python3 "Python 3"
need curl "curl"
# example-axum's REDIS_URL support is its `redis` feature.
cargo build -q -p example-axum --features redis -p example-manage-users -p passage-server
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
pids=()
trap 'kill "$server" "$redis" "${pids[@]}" 2>/dev/null || true; rm -rf "$data"' EXIT
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

# --- 2. passage-server publishes its own revocations ------------------------------------------
kill "$server" 2>/dev/null || true
auth_port=$(free_port)
api_port=$(free_port)
app_port=$(free_port)
"$target/debug/passage-server" serve --dev --app-id redis_app --redis-url "$REDIS_URL" \
  --auth-bind "127.0.0.1:$auth_port" --api-bind "127.0.0.1:$api_port" \
  --auth-origin "http://localhost:$app_port" >"$out/passage-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$api_port/v1/apps/redis_app" >/dev/null && break; sleep 0.1; done
api="http://127.0.0.1:$api_port"
curl -sf "$api/v1/apps/redis_app" >/dev/null || fail "passage-server did not start: $(tail -5 "$out/passage-server.log")"
curl -sf -X POST "$api/__emulator/users" -H 'content-type: application/json' \
  -d '{"id":"grace","email":"grace@example.com"}' >/dev/null || fail "could not seed grace"
token=$(curl -sf -X POST "$api/__emulator/token" -H 'content-type: application/json' -d '{"user_id":"grace"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])') || fail "could not mint a token"
PASSAGE_APP_ID=redis_app PASSAGE_API_KEY=passage_dev_api_key PASSAGE_AUTH_URL="http://localhost:$auth_port" \
  PASSAGE_API_URL="$api" BIND=127.0.0.1:$app_port RUST_LOG=warn \
  "$target/debug/example-axum" >"$out/server-2.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$app_port/healthz" >/dev/null && break; sleep 0.1; done
me2() { curl -s -o "$out/me2.json" -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$app_port/me"; }
[[ "$(me2)" == 200 ]] || fail "grace's token was refused before any revocation: $(cat "$out/me2.json")"
# Straight to the server's Management API: the app makes no call and learns only through Redis.
status=$(curl -s -o "$out/deactivate.json" -w '%{http_code}' -X PATCH \
  -H 'Authorization: Bearer passage_dev_api_key' "$api/v1/apps/redis_app/users/grace/deactivate")
[[ "$status" == 200 ]] || fail "deactivate answered $status: $(cat "$out/deactivate.json")"
done_at=$(date +%s%N)
for _ in $(seq 1000); do [[ "$(me2)" == 401 ]] && break; sleep 0.01; done
seen_ms=$(( ($(date +%s%N) - done_at) / 1000000 ))
[[ "$(me2)" == 401 ]] || fail "the app still admits grace after passage-server deactivated her: $(cat "$out/me2.json")"
grep -q '"invalid_token"' "$out/me2.json" || fail "expected invalid_token, got $(cat "$out/me2.json")"
echo "revocation check ok: passage-server published its deactivation of grace through Redis; example-axum refuses her token (401 invalid_token), seen ${seen_ms} ms after the server answered"
