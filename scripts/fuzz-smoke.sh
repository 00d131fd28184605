#!/usr/bin/env bash
# A short libFuzzer run of every cargo-fuzz target in fuzz/ (FUZZ_SECONDS each, default 25: under a minute in
# all). Longer runs: FUZZ_SECONDS=3600 scripts/fuzz-smoke.sh, and record the result in SECURITY.md.
#
# Why this works on stable: cargo-fuzz's instrumentation flags are nightly-only, RUSTC_BOOTSTRAP=1 lets the
# stable compiler accept them, and --sanitizer none drops AddressSanitizer (the code is `unsafe`-free Rust;
# what we look for is panics, i.e. crashes, and hangs). libFuzzer itself is built by libfuzzer-sys with the
# system C++ compiler (scripts/setup.sh test installs g++ and cargo-fuzz).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${GESTALT_TOOLS_DIR:-$HOME/.cache/gestalt-live/tools}
export PATH="$tools/bin:$HOME/.cargo/bin:$PATH"
seconds=${FUZZ_SECONDS:-25}
command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz-smoke: cargo-fuzz missing: run scripts/setup.sh test" >&2; exit 1; }
cd "$root/fuzz"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# A separate assignment, so a failing `cargo fuzz list` stops the script (a `for` over it would just run no
# target and report success).
targets=$(cargo fuzz list)
[ -n "$targets" ] || { echo "fuzz-smoke: no fuzz targets in fuzz/" >&2; exit 1; }
for target in $targets; do
  echo "fuzz-smoke: $target for ${seconds}s" >&2
  # -timeout: one input taking over 5 s is a hang, and a failure. cargo fuzz exits non-zero on a crash, a hang
  # or a build failure; the failing input is kept in fuzz/artifacts/<target>/.
  if ! RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" -- \
      -max_total_time="$seconds" -timeout=5 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz-smoke: $target failed; reproduce with: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none $target fuzz/artifacts/$target/<file>" >&2
    exit 1
  fi
  grep -E '^(stat::number_of_executed_units|Done)' "$log" >&2 || true
done
echo "fuzz-smoke: no crash" >&2
