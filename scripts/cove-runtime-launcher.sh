#!/usr/bin/env bash
# cove-runtime as the npm package installs it (package.json "bin"; a checkout's is written by
# scripts/install-command.sh): the runtime's runc-style command line, without NODE_EXTRA_CA_CERTS
# (src/cli/runtime-main.ts says why), started from the fastest form the package has: the startup
# snapshot its install step built (scripts/install-native.sh) when the node on PATH made it, else
# the one-file bundle, else the compiled modules (scripts/build-runtime.js says what each is).
self=$0
# npm links the command to this file: the package is the directory above the link's end
if [ -L "$self" ]; then self=$(readlink -f -- "$self"); fi
pkg=${self%/*}/..
# node as PATH finds it, without a subshell (hash fills BASH_CMDS)
hash node 2>/dev/null || { echo "cove-runtime: node is not on PATH" >&2; exit 127; }
node=${BASH_CMDS[node]}
unset NODE_EXTRA_CA_CERTS
fast=$pkg/dist/runtime
# a blob starts only the node that made it: its stamp has that node's modification time
if [ -f "$fast/cove-runtime.blob" ] && [ -f "$fast/cove-runtime.blob.node" ] && ! [ "$node" -nt "$fast/cove-runtime.blob.node" ] && ! [ "$node" -ot "$fast/cove-runtime.blob.node" ]; then
  exec "$node" --snapshot-blob "$fast/cove-runtime.blob" -- "$@"
fi
if [ -f "$fast/cove-runtime.cjs" ]; then
  exec "$node" "$fast/cove-runtime.cjs" "$@"
fi
exec "$node" "$pkg/dist/src/cli/runtime-main.js" "$@"
