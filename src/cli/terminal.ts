// The terminal side of attached containers, as the docker CLI does it (cli/command/container/
// hijack.go, tty.go, signals.go): raw mode on stdin while attached with a TTY (restored on every
// way out), the container's TTY resized to ours at start and on SIGWINCH, the detach key
// sequence (default ctrl-p,ctrl-q) recognised in what the user types, and signal proxying to the
// container for attached runs without a TTY. The key syntax and the scanner are src/docker's.

import type { Readable, Writable } from "node:stream";
import { invalid } from "../common/errors.js";
import { bestEffortSync, ignored, ignoring } from "../common/ignore.js";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "../docker/index.js";

/** The bytes of a detach key sequence; a bad one is printed as the docker CLI prints term.ToBytes' error. */
export function detachKeys(keys: string = DEFAULT_DETACH_KEYS): number[] {
  try {
    return parseDetachKeys(keys);
  } catch (err) {
    throw invalid((err as Error).message, { code: "cli.detach-keys" });
  }
}

type TTYIn = Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
type TTYOut = Writable & { isTTY?: boolean; rows?: number; columns?: number };

/** Raw mode on a TTY stdin; returns the restore function (safe to call twice). */
export function makeRaw(stdin: TTYIn): () => void {
  if (!stdin.isTTY || typeof stdin.setRawMode !== "function") return () => undefined;
  stdin.setRawMode(true);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    // fails only when the terminal is gone: nothing left to restore
    bestEffortSync("restore the terminal's mode", () => stdin.setRawMode?.(false));
  };
  process.once("exit", restore);
  return restore;
}

/** The terminal's size as [height, width], or undefined when stdout is not a TTY. */
export function terminalSize(stdout: TTYOut): [number, number] | undefined {
  if (!stdout.isTTY || !stdout.rows || !stdout.columns) return undefined;
  return [stdout.rows, stdout.columns];
}

/**
 * Resizes the container's TTY to ours now and on every SIGWINCH (docker's MonitorTtySize: the
 * first resize is retried a few times, as the process may not have its TTY yet). Returns stop().
 */
export function monitorTtySize(stdout: TTYOut, resize: (h: number, w: number) => Promise<void>): () => void {
  const size = terminalSize(stdout);
  if (!size) return () => undefined;
  const send = () => {
    const s = terminalSize(stdout);
    if (s) return resize(s[0], s[1]);
    return Promise.resolve();
  };
  void (async () => {
    // the first resize may come before the container's terminal exists: tried a few times
    for (let i = 0; ; i++) {
      try {
        await send();
        return;
      } catch (err) {
        if (i === 4) return ignored("resize the container's terminal to this one", err);
        await new Promise((r) => setTimeout(r, 10 * (i + 1)));
      }
    }
  })();
  const onWinch = () => void send().catch(ignoring("resize the container's terminal to this one"));
  process.on("SIGWINCH", onWinch);
  return () => void process.removeListener("SIGWINCH", onWinch);
}

/** Signals the docker CLI forwards (all but SIGCHLD, SIGPIPE, SIGURG, SIGWINCH); those node can catch. */
const PROXIED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU"];

/** Forwards the signals this process receives to the container (POST /kill?signal=); returns stop(). */
export function proxySignals(kill: (signal: string) => Promise<void>, onError?: (err: unknown) => void): () => void {
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const sig of PROXIED) {
    const h = () => void kill(sig).catch((err: unknown) => onError?.(err));
    handlers.set(sig, h);
    process.on(sig, h);
  }
  return () => {
    for (const [sig, h] of handlers) process.removeListener(sig, h);
  };
}
