# Helpers the test and bench scripts share (source it: `. tests/lib.sh`).

# Where cargo puts its builds: CARGO_TARGET_DIR, build.target-dir, or ./target.
target_dir() {
  cargo metadata --format-version 1 --no-deps 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Stops with one message when a program is missing: `need PROGRAM WHAT`.
need() {
  command -v "$1" >/dev/null && return 0
  echo "$(basename "$0"): $2 is missing (\`$1\`): run \`cargo xtask provision\` (it installs what the tests need, as root on Debian/Ubuntu) or install it yourself" >&2
  exit 1
}
