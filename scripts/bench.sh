#!/usr/bin/env bash
# Benchmarks: each prints its figure beside the same work done by the reference (runc, dockerd,
# containerd's CRI for bench/cri.ts), as ratios. Every dist/bench/*.js runs, in name order. Not
# tests: nothing asserts on time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
for b in dist/bench/*.js; do
  echo "== $(basename "$b" .js)"
  node "$b"
done
