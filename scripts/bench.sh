#!/usr/bin/env bash
# Benchmarks: each prints its figure beside the same work done by the reference (runc now,
# dockerd as the engine lands), as ratios. Not tests: nothing asserts on time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
for b in dist/bench/*.js; do
  echo "== $(basename "$b" .js)"
  node "$b"
done
