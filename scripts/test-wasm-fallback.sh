#!/usr/bin/env bash
# Proves the Debian fallback (rustc-web + rust-web-src + -Zbuild-std + rustup's rust-lld) still builds the
# whole site through cargo-leptos, exactly as `make build` does on a machine where rustup cannot download
# the wasm32 target, and that the resulting wasm hydrates and draws in Chromium (the end2end suite runs
# against it). A fresh machine depends on this path, so it must not rot where rustup happens to work.
#
# Debug profile and its own target directory, so it never invalidates the normal build. Skipped (loudly)
# where Debian's packages are not installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
  echo "wasm-fallback: SKIPPED: Debian's rustc-web/rust-web-src are not installed (not a Debian machine?)" >&2
  exit 0
fi
base=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR="$base/wasm-fallback"
export GESTALT_WASM_TOOLCHAIN=debian
unset GESTALT_WASM_CHOICE
echo "wasm-fallback: cargo leptos build with $(/usr/bin/rustc --version) and -Zbuild-std" >&2
"$root/scripts/cargo-leptos.sh" build >&2
wasm="$CARGO_TARGET_DIR/site/pkg/gestalt-live.wasm"
[ -s "$wasm" ] || { echo "wasm-fallback: no $wasm produced" >&2; exit 1; }
echo "wasm-fallback: built $(du -h "$wasm" | cut -f1) debug wasm; running the end2end suite against it" >&2
cd "$root/end2end"
GESTALT_BIN="$CARGO_TARGET_DIR/debug/gestalt-live" GESTALT_SITE_ROOT="$CARGO_TARGET_DIR/site" \
  GESTALT_SCREENSHOTS=0 npm test
