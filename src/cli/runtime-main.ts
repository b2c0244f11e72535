#!/usr/bin/env node
// cove-runtime: the OCI runtime alone, with runc's command line (`cove-runtime create ...` is
// `cove runtime create ...`), for software that takes a runtime's path and calls it once per
// operation: containerd's runc shim (BinaryName), CRI-O, podman (--runtime), the OCI test
// suites. It loads the runtime's command line and nothing of the engine.
//
// The launcher scripts/install-command.sh writes runs it without NODE_EXTRA_CA_CERTS: node 20
// reads and parses that certificate file at every start, before any script runs (about 35 ms of
// CPU for Debian's bundle, more than the runtime's own work for most commands), and the runtime
// makes no TLS connection. Nothing it starts inherits its environment: a container's process and
// hooks get the config's. (The #! line stays plain: `env -S` is not in every env(1).)

// scripts/build-runtime.js bundles the same command into one file (runtime-bundle.ts) and
// builds a startup snapshot from it; the launcher runs the fastest of the three this build has.

import { runRuntimeCommand } from "./runtime-run.js";

runRuntimeCommand(process.argv.slice(2));
