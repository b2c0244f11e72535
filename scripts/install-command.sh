#!/usr/bin/env bash
# Puts `cove` on PATH: writes BINDIR/cove (default /usr/local/bin), a launcher that runs this
# checkout's CLI with node (scripts/write-launcher.sh says why a launcher), and BINDIR/cove-runtime,
# the runtime's runc-style command line alone. Running setup.sh again
# (from this checkout or a moved one) rewrites it for where the checkout is now. It replaces only a
# cove command it wrote itself; another one (from `npm install -g`) is left.
# Usage: bash scripts/install-command.sh [BINDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd -P)
bindir=${1:-/usr/local/bin}
target=$bindir/cove
rc=0
# cove-runtime: the OCI runtime alone (runc's command line), for containerd, CRI-O and podman,
# which take a runtime's path; without NODE_EXTRA_CA_CERTS (src/cli/runtime-main.ts says why), and
# from its startup snapshot or one-file bundle when the build made them (scripts/build-runtime.js)
bash "$here/scripts/write-launcher.sh" "$bindir/cove-runtime" "$here/dist/src/cli/runtime-main.js" "# cove-runtime command written by cove's scripts/install-command.sh" "cove-runtime" "NODE_EXTRA_CA_CERTS" "$here/dist/runtime" || rc=$?
[ $rc = 0 ] || [ $rc = 3 ] || exit $rc
rc=0
bash "$here/scripts/write-launcher.sh" "$target" "$here/dist/src/cli/main.js" "# cove command written by cove's scripts/install-command.sh" "cove" || rc=$?
[ $rc = 3 ] && exit 0
[ $rc = 0 ] || exit $rc
echo "setup: $target (and $bindir/cove-runtime) run the cove in $here"
