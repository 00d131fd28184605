#!/usr/bin/env bash
# Benchmarks of the simulated cluster: `sim/examples/bench.rs` in release, on `scale:10000` (populate, list all
# pods over HTTP) and `scale:1000` (churn as fast as it goes, without and with 20 watchers of every pod).
# Prints only `name value unit` lines on stdout (medians; see BENCHMARKS.md); cargo and progress go to stderr.
# Honours CARGO_TARGET_DIR. About 1.5 minutes once built; the first release build of the example (it pulls the
# kube dev-dependencies) takes several minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench-sim: building and running sim/examples/bench.rs (release)" >&2
cargo run --locked --release -q -p sim --example bench -- 10000
