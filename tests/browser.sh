#!/usr/bin/env bash
# Real-browser check of example-axum's demo page, run by .ci/run: headless Chromium follows the
# page's "Sign in as demo user" link, runs the page's JavaScript, and must show the demo user's id
# (/me) and email (/profile); after "Sign out" it must show 401. Screenshots go to target/browser/
# (failure.png on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null; then
  echo "installing chromium (Debian package)"
  for attempt in 1 2 3; do
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; then
      break
    fi
    echo "apt-get failed (attempt $attempt); retrying" >&2
    sleep $((attempt * 10))
  done
  command -v chromium >/dev/null || { echo "could not install chromium" >&2; exit 1; }
fi

cargo build -q -p example-axum
out=target/browser
mkdir -p "$out"
port=${PORT:-39917}
BIND=127.0.0.1:$port RUST_LOG=warn target/debug/example-axum >"$out/server.log" 2>&1 &
server=$!
profile=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$profile"' EXIT
for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=5000 "$@" 2>/dev/null
}
link() {
  curl -sf "http://127.0.0.1:$port/" | grep -o "id=\"$1\" href=\"[^\"]*\"" | sed 's/.*href="//; s/"$//; s/&amp;/\&/g'
}
fail() {
  echo "browser check failed: $1"
  chrome --window-size=900,700 --screenshot="$out/failure.png" "http://127.0.0.1:$port/" || true
  echo "screenshot: $out/failure.png; server log: $out/server.log"
  exit 1
}

sign_in=$(link sign-in) || fail "the page has no sign-in link"
signed_in=$(chrome --dump-dom "$sign_in") || fail "chromium could not load $sign_in"
grep -q '200 {"user_id":"demo-user"}' <<<"$signed_in" || fail "after sign-in, /me did not show the demo user"
grep -q 'demo@example.com' <<<"$signed_in" || fail "after sign-in, /profile did not show the demo email"
chrome --window-size=900,700 --screenshot="$out/signed-in.png" "http://127.0.0.1:$port/" || true

signed_out=$(chrome --dump-dom "$(link sign-out)") || fail "chromium could not sign out"
grep -q '401 {"code":"missing_token"' <<<"$signed_out" || fail "after sign-out, /me was not 401"
echo "browser check ok: signed in as demo-user (demo@example.com), signed out, saw 401"
