#!/usr/bin/env bash
# Real-browser checks of example-axum's demo page, run by .ci/run. Screenshots and logs go to
# target/browser/.
#
# 1. The development shortcut (when the page offers one): headless Chromium follows the page's
#    "Sign in as demo user" link, runs the page's JavaScript, and must show the demo user's id
#    (/me) and email (/profile); after the development sign-out it must show 401.
# 2. Passkeys and magic links through the real <passage-auth> element
#    (@passageidentity/passage-elements, from npm): tests/browser/passkey.mjs drives Chromium over
#    the DevTools protocol with a virtual WebAuthn authenticator against a fresh example-axum (its
#    embedded passage-server in development mode): registers a user with a passkey, signs out,
#    signs in with the passkey (by email, then discoverable), signs in the demo user with a magic
#    link from the dev mailbox.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  for attempt in 1 2 3; do
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >/dev/null 2>&1; then
      return 0
    fi
    echo "apt-get failed (attempt $attempt); retrying" >&2
    sleep $((attempt * 10))
  done
  return 1
}

if ! command -v chromium >/dev/null; then
  echo "installing chromium (Debian package)"
  apt_install chromium || true
  command -v chromium >/dev/null || { echo "could not install chromium" >&2; exit 1; }
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing node and npm (Debian packages)"
  apt_install nodejs npm || true
  command -v node >/dev/null && command -v npm >/dev/null || { echo "could not install node and npm" >&2; exit 1; }
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "node $(node --version) is too old: playwright-core (tests/browser) needs Node.js 20 or later" >&2
  exit 1
fi

cargo build -q -p example-axum
out=target/browser
mkdir -p "$out"
port=${PORT:-39917}
servers=()
profile=$(mktemp -d)
trap 'for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$profile"' EXIT

# Starts example-axum on 127.0.0.1:$1 (log in $2, extra environment after) and waits for /healthz.
start_example() {
  local bind_port=$1 log=$2
  shift 2
  env "$@" BIND=127.0.0.1:$bind_port RUST_LOG=warn target/debug/example-axum >"$log" 2>&1 &
  servers+=($!)
  for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$bind_port/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "example-axum did not answer /healthz on port $bind_port; its log ($log):" >&2
  tail -n 30 "$log" >&2
  exit 1
}

# --- 1. the development shortcut ------------------------------------------------------------
start_example "$port" "$out/server.log"

chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=5000 "$@" 2>/dev/null
}
page=$(curl -sf "http://127.0.0.1:$port/") || { echo "GET / failed" >&2; exit 1; }
link() {
  grep -o "id=\"$1\" href=\"[^\"]*\"" <<<"$page" | sed 's/.*href="//; s/"$//; s/&amp;/\&/g'
}
# The development sign-out: a link (older pages), or the URL the page's #sign-out button visits.
dev_sign_out() {
  link sign-out || grep -o '"devSignOut":"[^"]*"' <<<"$page" | sed 's/^"devSignOut":"//; s/"$//' | grep .
}
fail() {
  echo "browser check failed: $1"
  chrome --window-size=900,700 --screenshot="$out/failure.png" "http://127.0.0.1:$port/" || true
  echo "screenshot: $out/failure.png; server log: $out/server.log"
  exit 1
}

if sign_in=$(link sign-in); then
  # The shortcut's cookie is set by the development server on 127.0.0.1, so the page is opened
  # there too (passkeys, below, need http://localhost instead).
  signed_in=$(chrome --dump-dom "$sign_in") || fail "chromium could not load $sign_in"
  grep -q '200 {"user_id":"demo-user"}' <<<"$signed_in" || fail "after sign-in, /me did not show the demo user"
  grep -q 'demo@example.com' <<<"$signed_in" || fail "after sign-in, /profile did not show the demo email"
  chrome --window-size=900,700 --screenshot="$out/signed-in-shortcut.png" "http://127.0.0.1:$port/" || true
  sign_out=$(dev_sign_out) || fail "the page has a sign-in shortcut but no development sign-out"
  signed_out=$(chrome --dump-dom "$sign_out") || fail "chromium could not sign out"
  grep -q '401 {"code":"missing_token"' <<<"$signed_out" || fail "after sign-out, /me was not 401"
  echo "browser check ok: signed in as demo-user (demo@example.com) with the development shortcut, signed out, saw 401"
else
  echo "browser check: the page has no development sign-in shortcut (id=\"sign-in\"); skipped"
fi
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
passkey_port=$((port + 1))
start_example "$passkey_port" "$out/server-passkey.log" PASSAGE_ELEMENTS_DIR="$elements"
started=$(date +%s%N)
if ! CHROMIUM=$(command -v chromium) node tests/browser/passkey.mjs "http://localhost:$passkey_port"; then
  echo "server log: $out/server-passkey.log (last lines below)"
  tail -n 20 "$out/server-passkey.log"
  exit 1
fi
echo "browser passkey step took $(( ($(date +%s%N) - started) / 1000000 )) ms (plus the build and npm ci above)"
