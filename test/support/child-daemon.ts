// A cove daemon in its own process (test/daemon/restart-daemon.ts), for the tests that SIGKILL it:
// its output kept line by line, and a wait for a line bounded so a daemon that never prints it
// fails the test with what it did print.

import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("../daemon/restart-daemon.js", import.meta.url));
const LINE_TIMEOUT_MS = 60_000;

export interface ChildDaemon {
  proc: ChildProcessWithoutNullStreams;
  /** Every line it printed (its log lines start with "log: "). */
  out: string[];
  /** Resolves with the first line that matches, printed already or to come. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
}

/** Starts the daemon: flags are restart-daemon.ts's ("import", "hold"). */
export function startChildDaemon(root: string, socket: string, runtimeRoot: string, flags: string[] = []): ChildDaemon {
  const proc = spawn(process.execPath, [CHILD, root, socket, runtimeRoot, ...flags], { stdio: ["pipe", "pipe", "pipe"] });
  return { proc, ...watchLines(proc) };
}

/**
 * The lines a daemon process prints (stdout and stderr), kept as they come, and line(re): the
 * first line that matches, printed already or to come. A line that never comes fails the caller
 * after a generous bound, with the last lines the daemon did print, instead of hanging it.
 */
export function watchLines(proc: ChildProcess, defaultTimeoutMs = LINE_TIMEOUT_MS): { out: string[]; line(re: RegExp, timeoutMs?: number): Promise<string> } {
  const out: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let partial = "";
  const feed = (text: string) => {
    partial += text;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) {
      out.push(l);
      for (const w of [...waiters]) {
        if (w.re.test(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
    }
  };
  proc.stdout?.on("data", (d: Buffer) => feed(d.toString()));
  proc.stderr?.on("data", (d: Buffer) => feed(d.toString()));
  return {
    out,
    line(re, timeoutMs = defaultTimeoutMs) {
      const seen = out.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the daemon did not print ${re} within ${timeoutMs} ms:\n${out.slice(-30).join("\n")}`)), timeoutMs);
        const onExit = (code: number | null) => {
          clearTimeout(timer);
          reject(new Error(`the daemon exited (${code}) before printing ${re}:\n${out.slice(-30).join("\n")}`));
        };
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            proc.off("exit", onExit);
            resolve(l);
          },
        });
        proc.once("exit", onExit);
      });
    },
  };
}

/** SIGKILLs the daemon and waits for it to be gone (nothing if it already is). */
export async function kill9(c: ChildDaemon | undefined): Promise<void> {
  if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const gone = new Promise((r) => c.proc.once("exit", r));
  c.proc.kill("SIGKILL");
  await gone;
}

/** Stops the daemon with SIGTERM (a clean close) and waits for it. */
export async function stopChildDaemon(c: ChildDaemon | undefined): Promise<void> {
  if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const gone = new Promise((r) => c.proc.once("exit", r));
  c.proc.kill("SIGTERM");
  await gone;
}
