#!/usr/bin/env bash
# Runs a real container on a fresh machine through cove's CLI and daemon: sets up cove (Debian
# packages, npm dependencies, native parts, TypeScript), makes a busybox image offline from
# Debian's busybox-static (a rootfs tar given to `cove import`), then `cove run --rm busybox ...`.
# The CLI starts the daemon on first use (socket /run/cove/cove.sock, state /var/lib/cove, log in
# /var/lib/cove/daemon.log) and leaves it running for the next command. Safe to run again: the
# image is made once.
# Usage: bash scripts/try.sh [COMMAND...]   (as root; otherwise: sudo bash scripts/try.sh)
#        (default COMMAND: sh -c 'echo hello from $(hostname)')
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "try: containers need root: run it as root, or with sudo (sudo bash scripts/try.sh)" >&2
  exit 1
fi
bash scripts/setup.sh >/dev/null

cove() { node dist/src/cli/main.js "$@"; }

if ! cove image inspect --format '{{.Id}}' busybox:latest >/dev/null 2>&1; then
  # the static binary from Debian's busybox-static (setup.sh installs it): it runs in an empty rootfs
  busybox=$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' | head -n 1 || true)
  if [ -z "$busybox" ] || [ ! -x "$busybox" ]; then
    echo "try: no static busybox found; install Debian's busybox-static (apt-get install busybox-static)" >&2
    exit 1
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  rootfs=$work/rootfs
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,proc,sys,dev,tmp}
  chmod 1777 "$rootfs/tmp"
  cp "$busybox" "$rootfs/bin/busybox"
  chroot "$rootfs" /bin/busybox --install -s
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
  tar -C "$rootfs" --numeric-owner -c . | cove import -c 'CMD ["sh"]' -m "busybox-static from Debian" - busybox:latest >/dev/null
fi

if [ $# -eq 0 ]; then
  set -- sh -c 'echo hello from $(hostname)'
fi
terminal=()
if [ -t 0 ] && [ -t 1 ]; then terminal=(-it); fi
exec node dist/src/cli/main.js run --rm "${terminal[@]}" busybox "$@"
