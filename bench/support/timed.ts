// A command timed from spawn to exit, for the benches that compare CLIs.

import { spawn } from "node:child_process";

/** Runs a command; resolves with its time in ms, throws on failure (with the end of its stderr). */
export function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: ${err}`))));
  });
}
