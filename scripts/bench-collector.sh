#!/usr/bin/env bash
# Benchmarks of the collector against the simulated cluster at scale:10000 (release build): start to ready,
# a pod change to the published topology (p50/p99), and the RSS of `gestalt-live serve` once ready. Prints only
# `name value unit` lines on stdout; cargo output and progress go to stderr. Honours CARGO_TARGET_DIR (default:
# target). See BENCHMARKS.md for how to read the figures (a noisy 2-core VM: run it a few times).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
export CARGO_TARGET_DIR="$target"

echo "bench-collector: building gestalt-live and the collector bench (release)" >&2
cargo build --locked --release -p server --bin gestalt-live --example collector_bench >&2
echo "bench-collector: scale:10000, 300 pod changes" >&2
"$target/release/examples/collector_bench" "$target/release/gestalt-live" 10000 300
