#!/usr/bin/env bash
# The whole test suite: set-up, typecheck, lint, unit and integration tests, one summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# setup.sh ran tsc, so the build typechecked; lint next
npx eslint src test bench
mapfile -t files < <(find dist/src dist/test -name '*.test.js' 2>/dev/null | sort)
if [ ${#files[@]} -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
tap=$(mktemp /tmp/cove-tap.XXXXXX)
trap 'rm -f "$tap"' EXIT
status=0
node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "${files[@]}" || status=$?
count() { grep -E "^# $1 [0-9]+$" "$tap" | tail -1 | awk '{print $3}'; }
echo "$(count pass) passed, $(count fail) failed, $(count skipped) skipped"
exit $status
