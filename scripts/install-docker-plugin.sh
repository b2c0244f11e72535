#!/usr/bin/env bash
# Makes `docker compose` run cove's compose: writes DIR/docker-compose (default
# /usr/local/lib/docker/cli-plugins, where the docker CLI looks for plugins), a launcher of this
# checkout's plugin entry (dist/src/cli/docker-plugin.js; scripts/write-launcher.sh says why a
# launcher). The docker CLI then lists it in `docker info` and runs it for `docker compose ...`,
# against whatever engine the docker CLI is pointed at (-H, DOCKER_HOST, its context): dockerd or
# cove. It replaces only a plugin it wrote itself; another docker-compose plugin is left as it is.
# Usage: bash scripts/install-docker-plugin.sh [DIR]   (DIR=~/.docker/cli-plugins for one user)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd -P)
target=${1:-/usr/local/lib/docker/cli-plugins}/docker-compose
rc=0
bash "$here/scripts/write-launcher.sh" "$target" "$here/dist/src/cli/docker-plugin.js" "# docker compose plugin written by cove's scripts/install-docker-plugin.sh" "compose plugin" || rc=$?
[ $rc = 3 ] && exit 0
[ $rc = 0 ] || exit $rc
echo "setup: $target makes \`docker compose\` run the cove compose in $here"
