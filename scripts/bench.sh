#!/usr/bin/env bash
# `make bench`: runs every benchmark that exists and prints one `name value unit` line per figure on
# stdout. Progress and tool output go to stderr. See BENCHMARKS.md for what each figure means.
set -euo pipefail
cd "$(dirname "$0")/.."
for bench in scripts/bench-*.sh; do
  [ -x "$bench" ] || continue
  scripts/env.sh "$bench"
done
