#!/usr/bin/env bash
# Benchmarks of the live stream: the release `gestalt-live demo` on the simulated cluster scale:10000, pod
# status writes at 200/s through its API, 1 then 200 WebSocket clients (server/benches/live.rs). Prints only
# `name value unit` lines on stdout; cargo output goes to stderr. About 1.5 minutes once built.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench-live: building (release) and running server/benches/live.rs" >&2
cargo bench --locked -p server --bench live 2>&2
