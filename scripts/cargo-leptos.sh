#!/usr/bin/env bash
# Runs `cargo leptos COMMAND ARGS…` with the wasm toolchain scripts/setup.sh chose (see scripts/env.sh).
#
# With rustup's wasm32 target this is plain `cargo leptos`. With the Debian fallback only the wasm side
# (cargo-leptos builds it in its own target/front directory) is compiled by Debian's rustc-web with
# -Zbuild-std and linked by rustup's rust-lld; the server keeps rustup's compiler.
set -euo pipefail
if [ -z "${GESTALT_WASM_CHOICE:-}" ]; then exec "$(dirname "$0")/env.sh" "$0" "$@"; fi
cmd=${1:?usage: cargo-leptos.sh COMMAND [ARGS…]}; shift
if [ "$GESTALT_WASM_CHOICE" = debian ]; then
  exec cargo leptos "$cmd" --lib-cargo-args=-Zbuild-std=std,panic_abort \
    '--lib-cargo-args=--config=build.rustc="/usr/bin/rustc"' "$@"
fi
exec cargo leptos "$cmd" "$@"
