// Runs OCI hooks in the runtime namespace: the state on stdin, args[0] as argv[0], a timeout.

import { spawn } from "node:child_process";
import { CoveError } from "../common/errors.js";
import type { Hook, State } from "./spec.js";

export async function runHook(hook: Hook, state: State, phase: string): Promise<void> {
  const [argv0, ...rest] = hook.args && hook.args.length ? hook.args : [hook.path];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(hook.path, rest, {
      argv0,
      env: Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])),
      stdio: ["pipe", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-2000)));
    const timer = hook.timeout
      ? setTimeout(() => {
          child.kill("SIGKILL");
          reject(new CoveError("system", `${phase} hook ${hook.path} timed out after ${hook.timeout}s`, { code: "hook.timeout" }));
        }, hook.timeout * 1000)
      : undefined;
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(JSON.stringify(state));
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new CoveError("system", `${phase} hook ${hook.path} could not run: ${err.message}`, { code: "hook.failed", cause: err }));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new CoveError("system", `${phase} hook ${hook.path} failed (${signal ? `signal ${signal}` : `exit status ${code}`})${stderr ? `: ${stderr.trim()}` : ""}`, {
            code: "hook.failed",
          }),
        );
    });
  });
}

export async function runHooks(hooks: Hook[] | undefined, state: State, phase: string): Promise<void> {
  for (const h of hooks ?? []) await runHook(h, state, phase);
}
