#!/usr/bin/env node
// The cove command. Subcommands load lazily so `cove runtime state` does not pay for the
// engine's modules.

import { CoveError } from "../common/errors.js";

const USAGE = `usage: cove COMMAND [OPTIONS]

Commands:
  runtime    the OCI runtime, with runc's command line (cove runtime --help)
  version    print cove's version`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "runtime": {
      const { runtimeMain } = await import("./runtime.js");
      return runtimeMain(rest);
    }
    case "version":
    case "--version":
      process.stdout.write("cove version 0.1.0\n");
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE + "\n");
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`cove: unknown command "${command}"\n${USAGE}\n`);
      return 125;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cove: ${err instanceof CoveError ? err.describe() : (err as Error).stack ?? String(err)}\n`);
    process.exitCode = 125;
  },
);
