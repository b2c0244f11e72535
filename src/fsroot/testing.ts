// For the tests of everything that walks a container's tree: a separate process that keeps
// swapping a directory and a symlink (renameat2 RENAME_EXCHANGE), as a hostile container can.

import { spawn } from "node:child_process";
import path from "node:path";
import { packageRoot } from "../native/addon.js";

export interface Swapper {
  /** How many exchanges succeeded so far (read when stopped). */
  stop(): Promise<number>;
}

/**
 * Starts a process exchanging each pair of paths in turn, as fast as it can, until stopped (or
 * for at most a minute). Exchanges that fail (a path missing for now) are retried.
 */
export async function startSwapper(pairs: [string, string][]): Promise<Swapper> {
  const addonPath = path.join(packageRoot(), "build", "cove.node");
  const script =
    `const a=require(${JSON.stringify(addonPath)});const x=a.at.RENAME_EXCHANGE;const p=${JSON.stringify(pairs)};` +
    `let n=0;const end=Date.now()+60000;process.on("SIGTERM",()=>{process.stdout.write(n+"\\n",()=>process.exit(0))});process.stdout.write("go\\n");` +
    `(function loop(){for(let i=0;i<20000&&Date.now()<end;i++){for(const [s,d] of p){try{a.renameat2(a.at.AT_FDCWD,s,a.at.AT_FDCWD,d,x);n++}catch{}}}if(Date.now()<end)setImmediate(loop)})();`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8");
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (c: string) => {
      out += c;
      if (out.startsWith("go\n")) resolve();
    });
    child.once("exit", () => reject(new Error("the swapper did not start")));
  });
  return {
    stop: () =>
      new Promise<number>((resolve) => {
        if (child.exitCode !== null) return resolve(Number(out.slice(3)) || 0);
        child.once("exit", () => resolve(Number(out.slice(3).trim()) || 0));
        child.kill("SIGTERM");
      }),
  };
}
