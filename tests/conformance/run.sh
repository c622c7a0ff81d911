#!/usr/bin/env bash
# Runs the official Python and Node Passage SDKs, unchanged, against the passage-emulator binary
# and against `passage-server serve --dev`.
# Sets up tests/conformance/.venv and node/node_modules when missing, builds the emulator
# (`cargo build -p passage-emulator`, a no-op when up to date), runs both suites, and exits
# non-zero if any run fails. PASSAGE_EMULATOR_BIN / PASSAGE_SERVER_BIN_PATH point at prebuilt binaries.
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

status=0
for target_name in passage-emulator passage-server; do
    if [[ "$target_name" == passage-server ]]; then export PASSAGE_SERVER_BIN="$server_bin"; else unset PASSAGE_SERVER_BIN; fi
    echo "# python: passage-identity 2.6.0 against $target_name"
    "$venv/bin/python" "$here/python/conformance.py" || status=1
    echo "# node: @passageidentity/passage-node 2.12.1 against $target_name"
    node "$node_dir/conformance.js" || status=1
done
exit "$status"
