#!/usr/bin/env bash
# Installs what Gestalt Live needs to build and test, and only what is missing.
#
# Why a script and not a list in the README: the machines this project is built on reach only the package
# registries (crates.io, Debian, npm, PyPI), so every tool has to come from one of them, and later runs must
# reuse what earlier ones installed. Everything lands outside the clone, under $GESTALT_TOOLS_DIR.
#
# Usage: scripts/setup.sh [run|test]      (test also installs Chromium and the end2end npm packages)
# Env:   GESTALT_TOOLS_DIR               where tools go (default ~/.cache/gestalt-live/tools)
#        GESTALT_WASM_TOOLCHAIN=debian   force the Debian rustc-web fallback for the wasm side
#        GESTALT_RUSTUP_TIMEOUT=120      seconds to let `rustup target add` try
# Prints one line saying which wasm toolchain it chose; otherwise quiet unless it installs something.
set -euo pipefail

purpose=${1:-run}
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${GESTALT_TOOLS_DIR:-$HOME/.cache/gestalt-live/tools}
mkdir -p "$tools/bin"
export PATH="$tools/bin:$HOME/.cargo/bin:$PATH"

# Pinned tool versions. cargo-leptos 0.3.11 needs rustc >= 1.96 to install; 0.3.10 installs with
# `--locked` on stable 1.95 and does everything we use.
CARGO_LEPTOS_VERSION=0.3.10
BINARYEN_VERSION=132.0.0
# cargo-fuzz runs on stable with RUSTC_BOOTSTRAP=1 and --sanitizer none (scripts/fuzz-smoke.sh).
CARGO_FUZZ_VERSION=0.13.2

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install it yourself or run as root)"; fi
}

apt_updated=
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "missing $*, and this is not a Debian-like system: install $* yourself"
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
  say "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust with rustup (https://rustup.rs) first"

# --- wasm toolchain -------------------------------------------------------------------------------------
# Prefer rustup's wasm32 target; fall back to Debian's rustc-web (+ its std sources, built with -Zbuild-std)
# when rustup cannot download it. The choice is written to $tools/wasm-toolchain for scripts/cargo-leptos.sh.
debian_wasm_ready() { [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ] \
  && /usr/bin/rustc --print target-list 2>/dev/null | grep -qx wasm32-unknown-unknown; }
ensure_debian_wasm() {
  debian_wasm_ready || apt_install rustc-web rust-web-src
  debian_wasm_ready || die "Debian's rustc-web / rust-web-src did not provide a wasm32 compiler and std sources"
  local lld
  lld="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/rust-lld"
  [ -x "$lld" ] || die "rustup's rust-lld not found at $lld (needed to link wasm with Debian's rustc)"
}

wasm_choice=
if [ "${GESTALT_WASM_TOOLCHAIN:-}" = debian ]; then
  ensure_debian_wasm; wasm_choice=debian
  say "wasm toolchain: Debian rustc-web with -Zbuild-std (forced by GESTALT_WASM_TOOLCHAIN=debian)"
elif rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  wasm_choice=rustup
  say "wasm toolchain: rustup target wasm32-unknown-unknown"
elif command -v rustup >/dev/null 2>&1 \
  && timeout "${GESTALT_RUSTUP_TIMEOUT:-120}" rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
  wasm_choice=rustup
  say "wasm toolchain: rustup target wasm32-unknown-unknown (just added)"
else
  ensure_debian_wasm; wasm_choice=debian
  say "wasm toolchain: Debian rustc-web with -Zbuild-std (rustup could not add wasm32-unknown-unknown)"
fi
echo "$wasm_choice" > "$tools/wasm-toolchain"

# --- wasm-bindgen-cli: exactly the wasm-bindgen version in Cargo.lock ---------------------------------
lock="$root/Cargo.lock"
[ -f "$lock" ] || (cd "$root" && cargo generate-lockfile >/dev/null 2>&1) || die "could not create Cargo.lock"
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$lock")
[ -n "$wb_version" ] || die "wasm-bindgen not found in Cargo.lock"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  say "installing wasm-bindgen-cli $wb_version into $tools (a few minutes, once)"
  # Not --locked: one of its locked dependencies is no longer on crates.io.
  cargo install -q wasm-bindgen-cli --version "$wb_version" --root "$tools" --force \
    || die "cargo install wasm-bindgen-cli $wb_version failed"
fi

# --- cargo-leptos ---------------------------------------------------------------------------------------
if [ "$(cargo-leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION into $tools (about 20 minutes on 2 cores, once)"
  # no_downloads: fail loudly instead of fetching sass/tailwind/wasm-opt binaries from the internet.
  cargo install -q --locked cargo-leptos --version "$CARGO_LEPTOS_VERSION" --features no_downloads \
    --root "$tools" --force || die "cargo install cargo-leptos $CARGO_LEPTOS_VERSION failed"
fi

# --- wasm-opt from npm's binaryen (Debian's binaryen 108 silently breaks the wasm) -----------------------
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
if [ "$("$tools/bin/wasm-opt" --version 2>/dev/null | awk '{print $3}')" != "${BINARYEN_VERSION%%.*}" ]; then
  say "installing wasm-opt (npm binaryen@$BINARYEN_VERSION) into $tools"
  npm install --silent --no-audit --no-fund --prefix "$tools/npm" "binaryen@$BINARYEN_VERSION" >/dev/null \
    || die "npm install binaryen@$BINARYEN_VERSION failed"
  ln -sf "$tools/npm/node_modules/.bin/wasm-opt" "$tools/bin/wasm-opt"
fi
if command -v -a wasm-opt 2>/dev/null | grep -qv "^$tools/bin/"; then
  say "note: another wasm-opt is on PATH ($(command -v -a wasm-opt | grep -v "^$tools/bin/" | head -1)); ours comes first"
fi

# --- browser tests --------------------------------------------------------------------------------------
if [ "$purpose" = test ]; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || apt_install chromium
  # kubectl drives the control-plane and simulated-cluster tests; Debian's own is 1.20, like the control plane.
  command -v kubectl >/dev/null 2>&1 || apt_install kubernetes-client
  # The fuzz smoke run (scripts/fuzz-smoke.sh): cargo-fuzz, and a C++ compiler for libFuzzer.
  command -v c++ >/dev/null 2>&1 || apt_install g++
  if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION"; then
    say "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install -q --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$tools" --force \
      || die "cargo install cargo-fuzz $CARGO_FUZZ_VERSION failed"
  fi
  # The Debian fallback is tested on every run where apt exists (scripts/test-wasm-fallback.sh).
  if command -v apt-get >/dev/null 2>&1; then ensure_debian_wasm; fi
  if [ ! -d "$root/end2end/node_modules/playwright-core" ] \
    || [ "$root/end2end/package-lock.json" -nt "$root/end2end/node_modules/.package-lock.json" ]; then
    say "npm ci in end2end/"
    (cd "$root/end2end" && npm ci --silent --no-audit --no-fund >/dev/null) || die "npm ci in end2end/ failed"
  fi
fi
