#!/usr/bin/env bash
# Benchmarks of the live page in headless Chromium (end2end/bench/scene.mjs): time to first frame at ~1k and ~10k
# entities, frame time at ~10k while the cluster churns, and the page's heap over a long churning run
# (SCENE_HEAP_MINUTES, default 10). Prints only `name value unit` lines on stdout. Needs the release build and its
# site (`make build`, done here when missing) and Chromium with playwright-core (`make setup-test`).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
export GESTALT_BIN=${GESTALT_BIN:-$target/release/gestalt-live}
export GESTALT_SITE_ROOT=${GESTALT_SITE_ROOT:-$target/site}
if [ ! -x "$GESTALT_BIN" ] || [ ! -d "$GESTALT_SITE_ROOT/pkg" ]; then
  echo "bench-scene: building the release binary and its site" >&2
  make -s build >&2
fi
make -s setup-test >&2
# The churn the issue's live figures use: 200 changes a minute.
GESTALT_CHURN=${GESTALT_CHURN:-200} node end2end/bench/scene.mjs
