#!/usr/bin/env bash
# Writes TARGET: a small bash script that runs ENTRY (a .js file of this checkout) with node,
# marked with MARKER so that only a launcher this checkout's scripts wrote is ever replaced (another
# file there, from `npm install -g` or another tool, is left as it is). A script, not a symlink
# into the checkout nor a copy: it runs whatever the checkout last built, and if the checkout
# moves away it says so and what to run instead of failing obscurely.
# Usage: bash scripts/write-launcher.sh TARGET ENTRY MARKER WHAT [UNSET] [FAST]
#   WHAT names the launcher in its messages ("cove", "cove compose plugin").
#   UNSET names environment variables (space-separated) the command runs without.
#   FAST is a directory of the one-file forms scripts/build-runtime.js makes of ENTRY's command
#   (cove-runtime.cjs, a bundle, and cove-runtime.blob, its startup snapshot): when the bundle
#   was built after the last TypeScript build (dist/.tsbuildinfo; an older one would run old
#   code; a blob never outlives its bundle), the launcher runs the snapshot if the node it runs
#   made it, else the bundle; otherwise ENTRY.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd -P)
target=$1
entry=$2
marker=$3
what=$4
unset_vars=${5:-}
fast=${6:-}
if { [ -e "$target" ] || [ -L "$target" ]; } && ! grep -qxF "$marker" "$target" 2>/dev/null; then
  echo "setup: $target is another $what (not written by cove's scripts): left as it is; remove it to use this checkout's" >&2
  exit 3
fi
mkdir -p "$(dirname "$target")"
qentry=$(printf '%q' "$entry")
node=$(printf '%q' "$(command -v node)")
unset_line=""
[ -z "$unset_vars" ] || unset_line="unset $unset_vars"$'\n'
fast_lines=""
if [ -n "$fast" ]; then
  qfast=$(printf '%q' "$fast")
  qbuilt=$(printf '%q' "$here/dist/.tsbuildinfo")
  # bash's own tests only, no program run: each costs a stat(2). The blob's stamp has the
  # modification time of the node that made it: -nt and -ot compare to the nanosecond, and
  # neither holds when the times are equal; a node found on PATH (not a path) never matches, as
  # -ot holds when its first file does not exist
  fast_lines="fast=$qfast
built=$qbuilt
if [ \"\$fast/cove-runtime.cjs\" -nt \"\$built\" ]; then
  if [ -f \"\$fast/cove-runtime.blob\" ] && [ -f \"\$fast/cove-runtime.blob.node\" ] && ! [ \"\$node\" -nt \"\$fast/cove-runtime.blob.node\" ] && ! [ \"\$node\" -ot \"\$fast/cove-runtime.blob.node\" ]; then
    exec \"\$node\" --snapshot-blob \"\$fast/cove-runtime.blob\" -- \"\$@\"
  fi
  exec \"\$node\" \"\$fast/cove-runtime.cjs\" \"\$@\"
fi
"
fi
tmp=$(mktemp "$(dirname "$target")/.launcher.XXXXXX")
cat > "$tmp" <<SCRIPT
#!/usr/bin/env bash
$marker
# It runs the cove checkout in $(printf '%q' "$here"); after moving that checkout, run its
# scripts/setup.sh again.
node=$node
[ -x "\$node" ] || node=node
${unset_line}${fast_lines}entry=$qentry
if [ ! -f "\$entry" ]; then
  echo "$what: \$entry is missing: the checkout moved or is not built; run scripts/setup.sh in it" >&2
  exit 127
fi
exec "\$node" "\$entry" "\$@"
SCRIPT
chmod 755 "$tmp"
mv -f "$tmp" "$target"
