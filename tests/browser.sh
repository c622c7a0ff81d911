#!/usr/bin/env bash
# Real-browser checks of example-axum's demo page, run by `cargo xtask test`. Screenshots and
# logs go to <target dir>/browser/.
#
# 1. The development shortcut of the embedded server: headless Chromium follows the page's
#    "Sign in as demo user" link, runs the page's JavaScript, and must show the demo user's id
#    (/me) and email (/profile); after the development sign-out it must show 401.
# 2. Passkeys and magic links through the real <passage-auth> element
#    (@passageidentity/passage-elements, from npm): tests/browser/passkey.mjs drives Chromium
#    with a virtual WebAuthn authenticator against example-axum's embedded passage-server
#    (development mode): registers a user with a passkey, signs out, signs in with the passkey
#    (by email, then discoverable), signs in the demo user with a magic link from the dev
#    mailbox and adds a passkey.
# 3. The same page against a deployed server: a production-mode `passage-server serve` (SQLite,
#    an API key, no development routes) and example-axum pointed at it with PASSAGE_* — no
#    development shortcut, the element from the server's /elements/, sign-out stays on the app.
# 4. One-time passcodes by mail and by text message (a signed SMS webhook), the app's user
#    fields and <passage-profile> (fields, passkeys, an email change by link), through the real
#    elements on pages tests/browser/flows.mjs serves, against passage-servers it starts.
# Every run blocks requests that leave the machine and fails if the page made one.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh

need chromium "Chromium"
need node "Node.js 20 or later"
need npm "npm"
need curl "curl"
need python3 "Python 3"
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "node $(node --version) is too old: playwright-core (tests/browser) needs Node.js 20 or later" >&2
  exit 1
fi

cargo build -q -p example-axum -p passage-server
target=$(target_dir)
bin=$target/debug
out=$target/browser
mkdir -p "$out"
servers=()
scratch=$(mktemp -d)
trap 'for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$scratch"' EXIT

# Waits until http://127.0.0.1:$1$2 answers, from the process $3 (its log in $4) — not from
# another program that happens to hold the port.
wait_for() {
  local port=$1 path=$2 pid=$3 log=$4
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || { echo "the server (log $log) exited:" >&2; tail -n 30 "$log" >&2; exit 1; }
    if curl -sf "http://127.0.0.1:$port$path" >/dev/null; then
      grep -q ":$port" "$log" || { echo "port $port answers, but not from the server we started (log $log)" >&2; exit 1; }
      return 0
    fi
    sleep 0.1
  done
  echo "no answer on port $port$path; the log ($log):" >&2
  tail -n 30 "$log" >&2
  exit 1
}

# Starts example-axum on a free port (log in $1, extra environment after); sets $app_port.
start_example() {
  local log=$1
  shift
  app_port=$(free_port)
  env "$@" BIND=127.0.0.1:$app_port RUST_LOG=warn "$bin/example-axum" >"$log" 2>&1 &
  servers+=($!)
  wait_for "$app_port" /healthz "$!" "$log"
}

# --- 1. the development shortcut ------------------------------------------------------------
start_example "$out/server.log" PASSAGE_ELEMENTS_DIR=
port=$app_port
profile=$scratch/chromium
chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=5000 "$@" 2>/dev/null
}
page=$(curl -sf "http://127.0.0.1:$port/") || { echo "GET / failed" >&2; exit 1; }
link() {
  grep -o "id=\"$1\" href=\"[^\"]*\"" <<<"$page" | sed 's/.*href="//; s/"$//; s/&amp;/\&/g'
}
fail() {
  echo "browser check failed: $1"
  chrome --window-size=900,700 --screenshot="$out/failure.png" "http://127.0.0.1:$port/" || true
  echo "screenshot: $out/failure.png; server log: $out/server.log"
  exit 1
}
sign_in=$(link sign-in) || fail "the embedded development server's page has no development shortcut (id=\"sign-in\")"
# The shortcut's cookie is set by the development server on 127.0.0.1, so the page is opened
# there too (passkeys, below, need http://localhost instead).
signed_in=$(chrome --dump-dom "$sign_in") || fail "chromium could not load $sign_in"
grep -q '200 {"user_id":"demo-user"}' <<<"$signed_in" || fail "after sign-in, /me did not show the demo user"
grep -q 'demo@example.com' <<<"$signed_in" || fail "after sign-in, /profile did not show the demo email"
chrome --window-size=900,700 --screenshot="$out/signed-in-shortcut.png" "http://127.0.0.1:$port/" || true
sign_out=$(grep -o '"devSignOut":"[^"]*"' <<<"$page" | sed 's/^"devSignOut":"//; s/"$//' | grep .) \
  || fail "the page has a sign-in shortcut but no development sign-out"
signed_out=$(chrome --dump-dom "$sign_out") || fail "chromium could not sign out"
grep -q '401 {"code":"missing_token"' <<<"$signed_out" || fail "after sign-out, /me was not 401"
echo "browser check ok: signed in as demo-user (demo@example.com) with the development shortcut, signed out, saw 401"
kill "${servers[0]}" 2>/dev/null || true

# --- 2. passkeys and magic links through <passage-auth> -------------------------------------
# npm ci when node_modules is missing or was installed from another package-lock.json.
lock_sum=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
stamp=tests/browser/node_modules/.installed-from-lock
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "installing tests/browser (npm ci)"
  for attempt in 1 2 3; do
    if (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error); then
      break
    fi
    [ "$attempt" = 3 ] && { echo "npm ci failed" >&2; exit 1; }
    echo "npm ci failed (attempt $attempt); retrying" >&2
    sleep $((attempt * 10))
  done
  echo "$lock_sum" >"$stamp"
fi

elements=$PWD/tests/browser/node_modules/@passageidentity/passage-elements/dist/package
run_passkey_check() {
  local log=$1
  shift
  local started
  started=$(date +%s%N)
  if ! BROWSER_OUT="$out" CHROMIUM=$(command -v chromium) node tests/browser/passkey.mjs "$@"; then
    echo "server log: $log (last lines below)"
    tail -n 20 "$log"
    exit 1
  fi
  echo "browser passkey step took $(( ($(date +%s%N) - started) / 1000000 )) ms"
}
start_example "$out/server-passkey.log" PASSAGE_ELEMENTS_DIR="$elements"
run_passkey_check "$out/server-passkey.log" "http://localhost:$app_port"

# --- 3. the demo page against a deployed (production-mode) passage-server --------------------
app_port=$(free_port)
auth_port=$(free_port)
api_port=$(free_port)
api_key=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
"$bin/passage-server" serve --database "$scratch/passage.db" --app-id deployed_app \
  --api-key "$api_key" --auth-origin "http://localhost:$app_port" \
  --auth-bind "127.0.0.1:$auth_port" --api-bind "127.0.0.1:$api_port" \
  --elements-dir "$elements" >"$out/passage-server.log" 2>&1 &
servers+=($!)
wait_for "$auth_port" /v1/apps/deployed_app "$!" "$out/passage-server.log"
env PASSAGE_APP_ID=deployed_app PASSAGE_API_KEY="$api_key" \
  PASSAGE_AUTH_URL="http://localhost:$auth_port" PASSAGE_API_URL="http://127.0.0.1:$api_port" \
  BIND=127.0.0.1:$app_port RUST_LOG=warn "$bin/example-axum" >"$out/server-deployed.log" 2>&1 &
servers+=($!)
wait_for "$app_port" /healthz "$!" "$out/server-deployed.log"
run_passkey_check "$out/server-deployed.log" "http://localhost:$app_port" --deployed

# --- 4. one-time passcodes, phone numbers (the signed SMS webhook), … on pages of its own ------
# tests/browser/flows.mjs starts its own passage-server (this build), its pages and an SMS
# webhook receiver that verifies every request's signature.
started=$(date +%s%N)
if ! PASSAGE_SERVER="$bin/passage-server" ELEMENTS_DIR="$elements" BROWSER_OUT="$out" \
  CHROMIUM=$(command -v chromium) node tests/browser/flows.mjs; then
  echo "server log: $out/flows-server.log (last lines below)"
  tail -n 20 "$out/flows-server.log"
  exit 1
fi
echo "browser flows step took $(( ($(date +%s%N) - started) / 1000000 )) ms"
