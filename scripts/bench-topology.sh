#!/usr/bin/env bash
# Benchmarks of the `topology` crate: criterion with quick settings, then the wire sizes. Prints only
# `name value unit` lines on stdout (medians; see BENCHMARKS.md); cargo and criterion
# output goes to stderr. Honours CARGO_TARGET_DIR (default: target). About 1.5 minutes on 2 cores once built.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
export CARGO_TARGET_DIR="$target"

echo "bench-topology: building and running criterion benches (results in $target/criterion)" >&2
cargo bench --locked -p topology --bench topology -- \
  --noplot --warm-up-time 0.3 --measurement-time 1 >&2

echo "bench-topology: measuring wire sizes" >&2
cargo run --locked --release -q -p topology --example wire_sizes

python3 - "$target/criterion" <<'PY'
import json, os, sys

root = sys.argv[1]
# (criterion group, figure name stem, unit, nanoseconds per unit)
groups = [
    ("layout_incremental", "layout_incremental", "ms", 1e6),
    ("layout_incremental_patch", "layout_incremental_patch", "us", 1e3),
    ("layout_full", "layout_full", "ms", 1e6),
    ("snapshot_encode", "snapshot_encode", "ms", 1e6),
    ("snapshot_decode", "snapshot_decode", "ms", 1e6),
    ("transaction_pod_status", "transaction_pod_status", "us", 1e3),
    ("apply_pod_status", "apply_pod_status", "us", 1e3),
    ("diff_full_scan", "diff_full_scan", "ms", 1e6),
    ("diff_encode", "diff_encode", "ns", 1.0),
    ("diff_decode", "diff_decode", "ns", 1.0),
    ("findings_detect", "findings_detect", "ms", 1e6),
]
missing = 0
for group, stem, unit, scale in groups:
    for size in ("1k", "10k", "25k", "100k"):
        path = os.path.join(root, group, size, "new", "estimates.json")
        try:
            with open(path) as f:
                median = json.load(f)["median"]["point_estimate"]
        except (OSError, KeyError, ValueError) as err:
            print(f"bench-topology: no result for {group}/{size}: {err}", file=sys.stderr)
            missing += 1
            continue
        print(f"topology.{stem}_{size}_{unit} {median / scale:.4g} {unit}")
sys.exit(1 if missing else 0)
PY
