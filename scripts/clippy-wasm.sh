#!/usr/bin/env bash
# Lints the browser side (topology, scene, app with `hydrate`, frontend) for wasm32.
#
# With rustup's wasm32 target this is clippy with -D warnings. With the Debian fallback there is no clippy
# for Debian's rustc and no wasm std for rustup's, so the wasm side is only type-checked (said loudly);
# the same crates are still linted natively by `make clippy`.
set -euo pipefail
if [ -z "${GESTALT_WASM_CHOICE:-}" ]; then exec "$(dirname "$0")/env.sh" "$0" "$@"; fi
crates=(-p topology -p scene -p frontend)
if [ "$GESTALT_WASM_CHOICE" = rustup ]; then
  exec cargo clippy --locked "${crates[@]}" --target wasm32-unknown-unknown -- -D warnings
fi
echo "clippy-wasm: Debian fallback toolchain: type-checking the wasm side only (no clippy for rustc-web)" >&2
exec cargo check --locked "${crates[@]}" --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort \
  --config 'build.rustc="/usr/bin/rustc"'
