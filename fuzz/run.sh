#!/usr/bin/env bash
# Short AFL++ runs of every fuzz target (stable Rust, cargo-afl).
#   fuzz/run.sh            # 60 s per target
#   SECONDS_PER_TARGET=600 fuzz/run.sh
# A crash lands in fuzz/out/<target>/default/crashes/: turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-afl >/dev/null || cargo install cargo-afl --locked
cargo afl config --build >/dev/null 2>&1 || true
cargo afl build --release
# Where cargo put the targets (CARGO_TARGET_DIR, or fuzz/target: fuzz is its own workspace).
built=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
mkdir -p out
for target in extract check oracle; do
  rm -rf "out/$target"
  cargo afl fuzz -i "corpus/$target" -o "out/$target" -V "${SECONDS_PER_TARGET:-60}" "$built/release/fuzz_$target" >/dev/null
  echo "== $target"
  grep -E "run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs" "out/$target/default/fuzzer_stats"
done
