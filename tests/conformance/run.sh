#!/usr/bin/env bash
# Runs the official Python and Node Passage SDKs, unchanged, against the passage-emulator binary
# and against `passage-server serve --dev`.
# Sets up tests/conformance/.venv and node/node_modules when missing, builds the emulator
# (`cargo build -p passage-emulator`, a no-op when up to date), runs both suites, and exits
# non-zero if any run fails, ends without its summary line, or runs no case. Skipped checks are
# counted apart and printed; each suite fails a skip that is not on its written allowlist.
# PASSAGE_EMULATOR_BIN / PASSAGE_SERVER_BIN_PATH point at prebuilt binaries.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

die() { echo "run.sh: $*" >&2; exit 2; }

# Python: a venv with the pinned SDK (requirements.txt pins it and its dependencies).
venv="$here/.venv"
want_py="passage-identity==2.6.0"
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("passage-identity") != "2.6.0")' 2>/dev/null; then
    python="$(command -v python3.11 || command -v python3)" || die "no python3"
    "$python" -m venv "$venv" || die "could not create $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt" \
        || die "could not install $want_py"
fi

# Node: the pinned SDK from package-lock.json.
node_dir="$here/node"
if ! node -e 'process.exit(require(process.argv[1]).version === "2.12.1" ? 0 : 1)' \
        "$node_dir/node_modules/@passageidentity/passage-node/package.json" 2>/dev/null; then
    (cd "$node_dir" && npm ci --silent --no-audit --no-fund) || die "npm ci failed in $node_dir"
fi

# The emulator and server binaries.
if [[ -z "${PASSAGE_EMULATOR_BIN:-}" || -z "${PASSAGE_SERVER_BIN_PATH:-}" ]]; then
    (cd "$repo" && cargo build --quiet -p passage-emulator -p passage-server) \
        || die "cargo build -p passage-emulator -p passage-server failed"
fi
target="$(cd "$repo" && . tests/lib.sh && target_dir)/debug"
PASSAGE_EMULATOR_BIN="${PASSAGE_EMULATOR_BIN:-$target/passage-emulator}"
server_bin="${PASSAGE_SERVER_BIN_PATH:-$target/passage-server}"
[[ -x "$PASSAGE_EMULATOR_BIN" ]] || die "no emulator binary at $PASSAGE_EMULATOR_BIN"
[[ -x "$server_bin" ]] || die "no passage-server binary at $server_bin"
export PASSAGE_EMULATOR_BIN

# run NAME COMMAND... -> runs one suite, shows its output, and checks it ended as a suite that
# ran: exit 0 and a last line `N passed, 0 failed, K skipped` with N > 0. Skips are counted apart
# (never as passes); the suites themselves fail a case whose skip is not on their allowlist.
status=0
summary=()
skipped_total=0
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
run() {
    local name="$1"; shift
    echo "# $name"
    "$@" 2>&1 | tee "$out"
    local code="${PIPESTATUS[0]}" last passed failed skipped
    last="$(tail -n 1 "$out")"
    if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
        passed="${BASH_REMATCH[1]}" failed="${BASH_REMATCH[2]}" skipped="${BASH_REMATCH[3]}"
    else
        echo "run.sh: $name did not end with 'N passed, M failed, K skipped' (exit $code): '$last'" >&2
        status=1; summary+=("$name: no summary (exit $code)"); return
    fi
    skipped_total=$((skipped_total + skipped))
    summary+=("$name: $passed passed, $failed failed, $skipped skipped")
    if [[ "$code" != 0 || "$failed" != 0 || "$passed" == 0 ]]; then
        echo "run.sh: $name failed (exit $code, $passed passed, $failed failed)" >&2
        status=1
    fi
}
for target_name in passage-emulator passage-server; do
    if [[ "$target_name" == passage-server ]]; then export PASSAGE_SERVER_BIN="$server_bin"; else unset PASSAGE_SERVER_BIN; fi
    run "python: passage-identity 2.6.0 against $target_name" "$venv/bin/python" "$here/python/conformance.py"
    run "node: @passageidentity/passage-node 2.12.1 against $target_name" node "$node_dir/conformance.js"
done
echo "# summary"
printf '  %s\n' "${summary[@]}"
if ((skipped_total > 0)); then
    echo "  $skipped_total check(s) skipped, each allowed with its reason ('# skip' lines above)"
fi
exit "$status"
