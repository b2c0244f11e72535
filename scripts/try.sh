#!/usr/bin/env bash
# Runs a real container end to end on a fresh machine: sets up cove, makes an OCI bundle from
# Debian's busybox-static, and runs it with cove's runtime (`cove runtime run`, runc's CLI).
# Usage: bash scripts/try.sh [COMMAND...]   (default: a short tour of the container)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null

bundle=${COVE_DEMO_BUNDLE:-/var/lib/cove/demo-bundle}
if [ ! -x "$bundle/rootfs/bin/sh" ]; then
  mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,etc,tmp,root}
  cp /bin/busybox "$bundle/rootfs/bin/busybox"
  chroot "$bundle/rootfs" /bin/busybox --install -s /bin
  echo "root:x:0:0:root:/root:/bin/sh" > "$bundle/rootfs/etc/passwd"
  echo "root:x:0:" > "$bundle/rootfs/etc/group"
fi
if [ $# -eq 0 ]; then
  set -- sh -c 'echo "hello from a cove container: $(hostname), pid $$"; id; ps; ls /'
fi
rm -f "$bundle/config.json"
node dist/src/cli/main.js runtime spec --bundle "$bundle"
# a non-interactive process running the given command
node -e '
  const fs = require("fs"); const file = process.argv[1];
  const spec = JSON.parse(fs.readFileSync(file, "utf8"));
  spec.process.terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
  spec.process.args = process.argv.slice(2);
  fs.writeFileSync(file, JSON.stringify(spec, null, 2));
' "$bundle/config.json" "$@"
exec node dist/src/cli/main.js runtime run --bundle "$bundle" "cove-demo-$$"
