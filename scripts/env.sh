#!/usr/bin/env bash
# Runs a command with the project's tool environment: the tools directory first on PATH and, when the
# Debian wasm fallback is in use, rustup's rust-lld as the wasm linker and RUSTC_BOOTSTRAP=1 for *every*
# cargo call (cargo fingerprints it, so setting it for some builds and not others would rebuild the server
# from scratch each time).
set -euo pipefail
tools=${GESTALT_TOOLS_DIR:-$HOME/.cache/gestalt-live/tools}
export PATH="$tools/bin:$HOME/.cargo/bin:$PATH"
GESTALT_WASM_CHOICE=$(cat "$tools/wasm-toolchain" 2>/dev/null || echo rustup)
[ "${GESTALT_WASM_TOOLCHAIN:-}" = debian ] && GESTALT_WASM_CHOICE=debian
export GESTALT_WASM_CHOICE
if [ "$GESTALT_WASM_CHOICE" = debian ]; then
  export RUSTC_BOOTSTRAP=1
  # Debian's rustc compiles the wasm side; rustup's rust-lld links it (Debian's would need lld-22).
  host=$(rustc -vV | sed -n 's/^host: //p')
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$(rustc --print sysroot)/lib/rustlib/$host/bin/rust-lld"
fi
exec "$@"
