#!/usr/bin/env bash
# Writes TARGET: a small bash script that runs ENTRY (a .js file of this checkout) with node,
# marked with MARKER so that only a launcher this checkout's scripts wrote is ever replaced (another
# file there, from `npm install -g` or another tool, is left as it is). A script, not a symlink
# into the checkout nor a copy: it runs whatever the checkout last built, and if the checkout
# moves away it says so and what to run instead of failing obscurely.
# Usage: bash scripts/write-launcher.sh TARGET ENTRY MARKER WHAT [UNSET]
#   WHAT names the launcher in its messages ("cove", "cove compose plugin").
#   UNSET names environment variables (space-separated) the command runs without.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd -P)
target=$1
entry=$2
marker=$3
what=$4
unset_vars=${5:-}
if { [ -e "$target" ] || [ -L "$target" ]; } && ! grep -qxF "$marker" "$target" 2>/dev/null; then
  echo "setup: $target is another $what (not written by cove's scripts): left as it is; remove it to use this checkout's" >&2
  exit 3
fi
mkdir -p "$(dirname "$target")"
qentry=$(printf '%q' "$entry")
node=$(printf '%q' "$(command -v node)")
unset_line=""
[ -z "$unset_vars" ] || unset_line="unset $unset_vars"$'\n'
tmp=$(mktemp "$(dirname "$target")/.launcher.XXXXXX")
cat > "$tmp" <<SCRIPT
#!/usr/bin/env bash
$marker
# It runs the cove checkout in $(printf '%q' "$here"); after moving that checkout, run its
# scripts/setup.sh again.
entry=$qentry
if [ ! -f "\$entry" ]; then
  echo "$what: \$entry is missing: the checkout moved or is not built; run scripts/setup.sh in it" >&2
  exit 127
fi
node=$node
[ -x "\$node" ] || node=node
${unset_line}exec "\$node" "\$entry" "\$@"
SCRIPT
chmod 755 "$tmp"
mv -f "$tmp" "$target"
