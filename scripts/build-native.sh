#!/usr/bin/env bash
# Builds cove's native parts into build/:
#   build/cove-shim  the container init and per-container monitor (static, so it needs no
#                    loader or libraries once inside a container's mount namespace)
#   build/cove-pause a pod's infra process (static; see src/native/pause)
#   build/cove.node  the N-API addon for the few syscalls the engine makes in process
# Only gcc and Node's headers are needed (both on a fresh machine of this kind), and the
# typescript package to regenerate src/native/shim/protocol.h (without it the committed header
# is used). Rebuilds only what changed, so it is cheap to call before every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build

CFLAGS=(-O2 -g -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -fno-strict-aliasing)

stale() { # stale TARGET SOURCES...: true when TARGET is missing or older than any source
  local target=$1; shift
  [ -e "$target" ] || return 0
  for s in "$@"; do [ "$s" -nt "$target" ] && return 0; done
  return 1
}

# protocol.h, the shim's contract with the TypeScript side (op numbers, report lines, attach
# frames, state files), is generated from src/native/protocol.ts: that file is its only source.
protocol_sources=(src/native/protocol.ts src/native/protocol-header.ts scripts/gen-native-protocol.js)
if stale build/protocol.stamp "${protocol_sources[@]}" src/native/shim/protocol.h; then
  node scripts/gen-native-protocol.js
  touch build/protocol.stamp
fi

# The shim is linked statically against musl when musl-gcc is there (Debian's musl-tools): a
# ~120 KB binary instead of glibc's ~1 MB, which matters because every container start copies
# it into a sealed memfd and executes it. glibc's static build works the same, only larger.
if command -v musl-gcc >/dev/null; then
  SHIM_CC=(musl-gcc -idirafter /usr/include -idirafter "/usr/include/$(gcc -print-multiarch)")
else
  SHIM_CC=(gcc)
fi
shim_sources=(src/native/shim/*.c src/native/shim/*.h)
if stale build/cove-shim "${shim_sources[@]}" scripts/build-native.sh; then
  "${SHIM_CC[@]}" "${CFLAGS[@]}" -static -o build/cove-shim.tmp src/native/shim/*.c
  mv build/cove-shim.tmp build/cove-shim
  echo "built build/cove-shim"
fi

# cove-init: the minimal init `run --init` puts at PID 1 (reaps zombies, forwards signals)
if stale build/cove-init src/native/init/init.c scripts/build-native.sh; then
  "${SHIM_CC[@]}" "${CFLAGS[@]}" -static -o build/cove-init.tmp src/native/init/init.c
  mv build/cove-init.tmp build/cove-init
  echo "built build/cove-init"
fi

# cove-pause: the process of a pod's infra container (holds the namespaces, reaps orphans)
if stale build/cove-pause src/native/pause/pause.c scripts/build-native.sh; then
  "${SHIM_CC[@]}" "${CFLAGS[@]}" -static -o build/cove-pause.tmp src/native/pause/pause.c
  mv build/cove-pause.tmp build/cove-pause
  echo "built build/cove-pause"
fi

if [ -d src/native/addon ]; then
  node_include=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
  [ -f "$node_include/node_api.h" ] || node_include=/usr/include/node
  addon_sources=(src/native/addon/*.c)
  if stale build/cove.node "${addon_sources[@]}" src/native/addon/*.h; then
    gcc "${CFLAGS[@]}" -shared -fPIC -I"$node_include" -o build/cove.node.tmp "${addon_sources[@]}"
    mv build/cove.node.tmp build/cove.node
    echo "built build/cove.node"
  fi
fi
