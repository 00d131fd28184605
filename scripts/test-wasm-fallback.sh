#!/usr/bin/env bash
# Proves the Debian fallback (rustc-web + rust-web-src + -Zbuild-std + rustup's rust-lld) still builds
# and links the whole wasm side, even on machines where rustup's wasm32 target is there. A fresh machine
# without rustup downloads depends on this path, so it must not rot unnoticed.
#
# Uses its own target directory so it never invalidates the normal build. Skipped (loudly) where apt
# and Debian's packages are not available.
set -euo pipefail
if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
  echo "wasm-fallback: SKIPPED: Debian's rustc-web/rust-web-src are not installed (not a Debian machine?)" >&2
  exit 0
fi
export GESTALT_WASM_TOOLCHAIN=debian
if [ -z "${GESTALT_WASM_CHOICE:-}" ] || [ "$GESTALT_WASM_CHOICE" != debian ]; then
  exec "$(dirname "$0")/env.sh" "$0" "$@"
fi
base=${CARGO_TARGET_DIR:-target}
export CARGO_TARGET_DIR="$base/wasm-fallback"
host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$(rustc --print sysroot)/lib/rustlib/$host/bin/rust-lld"
echo "wasm-fallback: building frontend for wasm32 with $(/usr/bin/rustc --version) and -Zbuild-std" >&2
cargo build --locked -q -p frontend --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort \
  --config 'build.rustc="/usr/bin/rustc"'
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/debug/frontend.wasm"
[ -s "$wasm" ] || { echo "wasm-fallback: no $wasm produced" >&2; exit 1; }
# The bindgen step is what the browser actually loads; run it to prove the module is well-formed.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$out" "$wasm"
[ -s "$out/frontend_bg.wasm" ] || { echo "wasm-fallback: wasm-bindgen produced nothing" >&2; exit 1; }
echo "wasm-fallback: ok ($(du -h "$out/frontend_bg.wasm" | cut -f1) debug wasm)" >&2
