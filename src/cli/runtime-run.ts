// Runs one cove-runtime command to its end and sets the process's exit code: the part shared by
// the module entry (runtime-main.ts) and the one-file bundle and startup snapshot
// (runtime-bundle.ts).

import { CoveError } from "../common/errors.js";
import { runtimeMain } from "./runtime.js";

export function runRuntimeCommand(args: string[]): void {
  runtimeMain(args).then(
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
}
