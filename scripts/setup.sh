#!/usr/bin/env bash
# Prepares a fresh machine (Debian, root) to build and test cove, and is cheap to run again:
# Debian packages the tests use as peers and fixtures, npm dependencies, the native parts and
# the TypeScript build, and (as root) `cove` on PATH: /usr/local/bin/cove runs this checkout
# (scripts/install-command.sh says why a script and not a link or a copy).
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v gcc >/dev/null || need_pkgs+=(gcc libc6-dev)
command -v musl-gcc >/dev/null || need_pkgs+=(musl-tools)
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
command -v runc >/dev/null || need_pkgs+=(runc)
command -v ip >/dev/null || need_pkgs+=(iproute2)
# networking: the firewall for bridge networks, and the CNI plugins macvlan/ipvlan networks run
command -v iptables-restore >/dev/null || need_pkgs+=(iptables)
[ -x /usr/lib/cni/macvlan ] || [ -x /opt/cni/bin/macvlan ] || need_pkgs+=(containernetworking-plugins)
# the cgroup v2 tests boot Debian's kernel under QEMU (../shared/tools/cgroup2-vm)
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
command -v cpio >/dev/null || need_pkgs+=(cpio)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need_pkgs+=(linux-image-amd64)
# peers the image tests compare with
command -v skopeo >/dev/null || need_pkgs+=(skopeo)
# the build tests compare BuildKit-only Dockerfile features (RUN mounts) with buildah's builds
command -v buildah >/dev/null || need_pkgs+=(buildah)
# the hostile-archive tests send zstd layers
command -v zstd >/dev/null || need_pkgs+=(zstd)
# large gzip layers (pull, load) inflate through ISA-L's igzip, about twice zlib's speed
command -v igzip >/dev/null || need_pkgs+=(isal)
# the registry tests pull from and push to Debian's docker-registry (distribution 2.8)
[ -x /usr/bin/docker-registry ] || need_pkgs+=(docker-registry)
command -v umoci >/dev/null || need_pkgs+=(umoci)
command -v mmdebstrap >/dev/null || need_pkgs+=(mmdebstrap)
# Debian's dockerd: the differential tests and the benchmarks run it side by side (on private
# sockets and roots; the package's own service is never used)
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
# Debian's docker-compose 1.29: the compose tests run it against cove's socket
command -v docker-compose >/dev/null || need_pkgs+=(docker-compose)
# dig: the DNS tests ask the embedded server with it too
command -v dig >/dev/null || need_pkgs+=(bind9-dnsutils)
# rootless cove: newuidmap/newgidmap map a user's subordinate ids, pasta (passt) or slirp4netns
# gives the user's daemon its way out of its network namespace
command -v newuidmap >/dev/null || need_pkgs+=(uidmap)
command -v pasta >/dev/null || need_pkgs+=(passt)
command -v slirp4netns >/dev/null || need_pkgs+=(slirp4netns)
# rootless cove mounts image layers with fuse-overlayfs where the kernel refuses overlayfs in a
# user namespace (the cgroup v2 guest's tmpfs has no user.* xattrs); the rootless test forces it
command -v fuse-overlayfs >/dev/null || need_pkgs+=(fuse-overlayfs)
# headless Chromium: the dashboard test loads the page in it (over the DevTools protocol)
command -v chromium >/dev/null || need_pkgs+=(chromium)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages ${need_pkgs[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # packages must not start services (dockerd, containerd) while installing: tests run their own
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1; fi
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  [ "$made_policy" = 1 ] && rm -f "$policy"
fi

# npm dependencies: install when missing or when package.json changed since the last install
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi

bash scripts/build-native.sh
# a clean build: a test whose source is gone must not run from a stale dist/
rm -rf dist
npx tsc -p tsconfig.json
# cove-runtime's one-file bundle and its startup snapshot, for this machine's node
node scripts/build-runtime.js
# `cove` on PATH (root only: /usr/local/bin is the machine's)
if [ "$(id -u)" = 0 ]; then
  bash scripts/install-command.sh /usr/local/bin
  # `docker compose` runs cove's compose (a docker CLI plugin), against whatever engine docker targets
  bash scripts/install-docker-plugin.sh /usr/local/lib/docker/cli-plugins
else
  echo "setup: not root, so no /usr/local/bin/cove; run: bash scripts/install-command.sh ~/.local/bin (a directory on your PATH)" >&2
fi
