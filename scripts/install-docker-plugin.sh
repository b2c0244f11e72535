#!/usr/bin/env bash
# Makes `docker compose` run cove's compose: writes DIR/docker-compose (default
# /usr/local/lib/docker/cli-plugins, where the docker CLI looks for plugins), a small script that
# runs this checkout's plugin entry (dist/src/cli/docker-plugin.js) with node. The docker CLI then
# lists it in `docker info` and runs it for `docker compose ...`, against whatever engine the
# docker CLI is pointed at (-H, DOCKER_HOST, its context): dockerd or cove.
# It replaces only a plugin it wrote itself; another docker-compose plugin is left as it is.
# Usage: bash scripts/install-docker-plugin.sh [DIR]   (DIR=~/.docker/cli-plugins for one user)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd -P)
dir=${1:-/usr/local/lib/docker/cli-plugins}
target=$dir/docker-compose
marker="# docker compose plugin written by cove's scripts/install-docker-plugin.sh"
if { [ -e "$target" ] || [ -L "$target" ]; } && ! grep -qxF "$marker" "$target" 2>/dev/null; then
  echo "setup: $target is another compose plugin (not written by this script): left as it is" >&2
  exit 0
fi
mkdir -p "$dir"
entry=$(printf '%q' "$here/dist/src/cli/docker-plugin.js")
node=$(printf '%q' "$(command -v node)")
tmp=$(mktemp "$dir/.docker-compose.XXXXXX")
cat > "$tmp" <<SCRIPT
#!/usr/bin/env bash
$marker
# It runs the cove checkout in $(printf '%q' "$here"); after moving that checkout, run its
# scripts/setup.sh (or scripts/install-docker-plugin.sh) again.
entry=$entry
if [ ! -f "\$entry" ]; then
  echo "cove compose plugin: \$entry is missing: the checkout moved or is not built; run scripts/setup.sh in it" >&2
  exit 127
fi
node=$node
[ -x "\$node" ] || node=node
exec "\$node" "\$entry" "\$@"
SCRIPT
chmod 755 "$tmp"
mv -f "$tmp" "$target"
echo "setup: $target makes \`docker compose\` run the cove compose in $here"
