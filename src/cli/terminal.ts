// The terminal side of attached containers, as the docker CLI does it (cli/command/container/
// hijack.go, tty.go, signals.go): raw mode on stdin while attached with a TTY (restored on every
// way out), the container's TTY resized to ours at start and on SIGWINCH, the detach key
// sequence (default ctrl-p,ctrl-q) recognised in what the user types, and signal proxying to the
// container for attached runs without a TTY.

import type { Readable, Writable } from "node:stream";
import { invalid } from "../common/errors.js";

export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

/**
 * docker's term.ToBytes: "ctrl-p,ctrl-q" → [0x10, 0x11]; "a" → 0x61; ctrl-@, ctrl-[ ... ctrl-_
 * map to 0, 27..31.
 */
export function parseDetachKeys(keys: string): Buffer {
  const out: number[] = [];
  for (const part of keys.split(",")) {
    const k = part.trim();
    if (k.length > 1 && k.startsWith("ctrl-")) {
      const c = k.slice(5);
      if (c.length !== 1) throw invalid(`Invalid escape keys (${keys}) provided`, { code: "cli.detach-keys" });
      const ch = c.toLowerCase();
      if (ch >= "a" && ch <= "z") out.push(ch.charCodeAt(0) - 96);
      else if (c === "@") out.push(0);
      else if (c === "[") out.push(27);
      else if (c === "\\") out.push(28);
      else if (c === "]") out.push(29);
      else if (c === "^") out.push(30);
      else if (c === "_") out.push(31);
      else throw invalid(`Invalid escape keys (${keys}) provided`, { code: "cli.detach-keys" });
    } else if (k.length === 1) {
      out.push(k.charCodeAt(0));
    } else {
      throw invalid(`Invalid escape keys (${keys}) provided`, { code: "cli.detach-keys" });
    }
  }
  return Buffer.from(out);
}

/**
 * docker's escapeProxy: passes bytes through, holding back a partial match of the escape
 * sequence; a full match calls onEscape instead of forwarding it.
 */
export class EscapeProxy {
  private held = 0;

  constructor(private readonly keys: Buffer) {}

  /** The bytes to forward for `chunk`, and whether the sequence completed. */
  feed(chunk: Buffer): { forward: Buffer; escaped: boolean } {
    const out: number[] = [];
    if (this.keys.length === 0) return { forward: chunk, escaped: false };
    for (const b of chunk) {
      if (b === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) {
          this.held = 0;
          return { forward: Buffer.from(out), escaped: true };
        }
        continue;
      }
      // mismatch: release what was held, then reconsider this byte as a fresh start
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]!);
      this.held = 0;
      if (b === this.keys[0]) {
        this.held = 1;
        if (this.keys.length === 1) return { forward: Buffer.from(out), escaped: true };
      } else out.push(b);
    }
    return { forward: Buffer.from(out), escaped: false };
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
    try {
      stdin.setRawMode?.(false);
    } catch {
      // the terminal is gone
    }
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
    for (let i = 0; i < 5; i++) {
      try {
        await send();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 10 * (i + 1)));
      }
    }
  })();
  const onWinch = () => void send().catch(() => undefined);
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
