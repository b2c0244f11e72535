#!/usr/bin/env bash
# The cove package's install step (npm runs it on `npm install -g cove-*.tgz`): the package
# carries the native parts prebuilt for Linux x86-64 (build/cove-shim, build/cove-init, build/cove-pause, static;
# build/cove.node, N-API); they are kept when they load on this machine, and otherwise built
# here with gcc from the C sources the package carries (scripts/build-native.sh).
# COVE_BUILD_NATIVE=1 builds them even when the prebuilt ones fit. Then it builds cove-runtime's
# startup snapshot with the node installing it (scripts/build-runtime.js; a blob is tied to the
# node that made it, so it cannot ship prebuilt).
set -euo pipefail
cd "$(dirname "$0")/.."

# the snapshot only speeds cove-runtime's start: without it the launcher runs the bundle
runtime_snapshot() {
  # a checkout builds its snapshot with the rest of its build (npm run build, scripts/setup.sh)
  { [ ! -e .git ] && [ -f dist/runtime/cove-runtime.cjs ]; } || return 0
  if node scripts/build-runtime.js snapshot >/dev/null; then
    echo "cove: built cove-runtime's startup snapshot for node $(node --version)"
  else
    echo "cove: could not build cove-runtime's startup snapshot (above); cove-runtime starts from its bundle instead" >&2
  fi
}

prebuilt_fits() {
  [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || return 1
  [ -x build/cove-shim ] && [ -x build/cove-init ] && [ -x build/cove-pause ] && [ -f build/cove.node ] || return 1
  # the addon links against the C library: it must load here
  node -e 'require(process.argv[1])' "$PWD/build/cove.node" 2>/dev/null
}

if [ "${COVE_BUILD_NATIVE:-}" != 1 ] && prebuilt_fits; then
  echo "cove: using the prebuilt native parts (linux-x64)"
  runtime_snapshot
  exit 0
fi
if ! command -v gcc >/dev/null; then
  echo "cove: no prebuilt native parts fit this machine ($(uname -s) $(uname -m)) and gcc is missing to build them." >&2
  echo "cove: install a C compiler and the C library's headers (Debian: apt-get install gcc libc6-dev), then install cove again." >&2
  exit 1
fi
echo "cove: building the native parts with gcc"
rm -f build/cove-shim build/cove-init build/cove-pause build/cove.node
bash scripts/build-native.sh
runtime_snapshot
