#!/usr/bin/env bash
# Puts `cove` on PATH: writes BINDIR/cove (default /usr/local/bin), a launcher that runs this
# checkout's CLI with node (scripts/write-launcher.sh says why a launcher). Running setup.sh again
# (from this checkout or a moved one) rewrites it for where the checkout is now. It replaces only a
# cove command it wrote itself; another one (from `npm install -g`) is left.
# Usage: bash scripts/install-command.sh [BINDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd -P)
target=${1:-/usr/local/bin}/cove
rc=0
bash "$here/scripts/write-launcher.sh" "$target" "$here/dist/src/cli/main.js" "# cove command written by cove's scripts/install-command.sh" "cove" || rc=$?
[ $rc = 3 ] && exit 0
[ $rc = 0 ] || exit $rc
echo "setup: $target runs the cove in $here"
