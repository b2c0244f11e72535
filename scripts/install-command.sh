#!/usr/bin/env bash
# Puts `cove` on PATH: writes BINDIR/cove (default /usr/local/bin), a small script that runs this
# checkout's CLI with node. A script, not a symlink into the checkout nor an installed copy of the
# package: it runs whatever this checkout last built (no re-install after each change), running
# setup.sh again (from this checkout or a moved one) rewrites it for where the checkout is now,
# and if the checkout moves away it says so and what to run instead of failing obscurely.
# It replaces only a cove command it wrote itself; another one (from `npm install -g`) is left.
# Usage: bash scripts/install-command.sh [BINDIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd -P)
bindir=${1:-/usr/local/bin}
target=$bindir/cove
marker="# cove command written by cove's scripts/install-command.sh"
if { [ -e "$target" ] || [ -L "$target" ]; } && ! grep -qxF "$marker" "$target" 2>/dev/null; then
  echo "setup: $target is another cove (not written by this script): left as it is; remove it to run this checkout's cove as \`cove\`" >&2
  exit 0
fi
mkdir -p "$bindir"
main=$(printf '%q' "$here/dist/src/cli/main.js")
node=$(printf '%q' "$(command -v node)")
tmp=$(mktemp "$bindir/.cove.XXXXXX")
cat > "$tmp" <<SCRIPT
#!/usr/bin/env bash
$marker
# It runs the cove checkout in $(printf '%q' "$here"); after moving that checkout, run its
# scripts/setup.sh (or scripts/install-command.sh) again.
main=$main
if [ ! -f "\$main" ]; then
  echo "cove: \$main is missing: the checkout moved or is not built; run scripts/setup.sh in it" >&2
  exit 127
fi
node=$node
[ -x "\$node" ] || node=node
exec "\$node" "\$main" "\$@"
SCRIPT
chmod 755 "$tmp"
mv -f "$tmp" "$target"
echo "setup: $target runs the cove in $here"
