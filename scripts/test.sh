#!/usr/bin/env bash
# The whole test suite: set-up, typecheck, lint, unit and integration tests, one summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# setup.sh ran tsc, so the build typechecked; lint next
npx eslint src test bench
mapfile -t files < <(find dist/src dist/test -name '*.test.js' 2>/dev/null | sort)
if [ ${#files[@]} -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
