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

import { CoveError } from "../common/errors.js";
import { runtimeMain } from "./runtime.js";

runtimeMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // a finished foreground run or exec must not keep the command alive
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`cove-runtime: ${err instanceof CoveError ? err.describe() : ((err as Error).stack ?? String(err))}\n`);
    process.exitCode = 1;
  },
);
