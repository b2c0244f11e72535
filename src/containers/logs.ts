// Reads Docker's json-file log that the monitor writes (one {"log","stream","time"} object per
// line, rotated as <file>, <file>.1, ... <file>.N, oldest last): tail from the end without reading
// the whole file, since/until by the entry time, and follow across growth and rotation.

import { watch, type FSWatcher } from "node:fs";
import { open, readdir, stat, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import type { LogEntry, LogsOptions } from "./types.js";

interface RawEntry {
  log?: string;
  /** An exec log's output that is not UTF-8, base64 (the monitor's binary-safe log). */
  bytes?: string;
  stream?: string;
  time?: string;
}

/** Unix nanoseconds of an RFC 3339 time with up to 9 fraction digits. */
export function timeNanos(t: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return 0n;
  const secs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secs)) return 0n;
  const frac = (m[2] ?? "").padEnd(9, "0").slice(0, 9);
  return BigInt(secs) * 1_000_000n + BigInt(frac);
}

/** Unix seconds (fractions allowed) → nanoseconds. */
export function secondsToNanos(s: number): bigint {
  const whole = Math.floor(s);
  return BigInt(whole) * 1_000_000_000n + BigInt(Math.round((s - whole) * 1e9));
}

function parseLine(line: string): LogEntry | undefined {
  if (!line) return undefined;
  try {
    const e = JSON.parse(line) as RawEntry;
    // "bytes": an exec's private log keeps output that is not UTF-8 as base64 (json-file's "log" cannot)
    const bytes = typeof e.log === "string" ? Buffer.from(e.log, "utf8") : typeof e.bytes === "string" ? Buffer.from(e.bytes, "base64") : undefined;
    if (!bytes) return undefined;
    return { stream: e.stream === "stderr" ? "stderr" : "stdout", line: bytes, time: e.time ?? "" };
  } catch (err) {
    if (err instanceof SyntaxError) return undefined; // a torn last line while the monitor writes it
    throw err;
  }
}

/** The log files, oldest first: file.N ... file.1, file. */
export async function logFiles(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return []; // the container is gone: no logs
    throw err;
  }
  const rotated = names
    .map((n) => (n.startsWith(`${base}.`) ? Number(n.slice(base.length + 1)) : NaN))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a)
    .map((n) => path.join(dir, `${base}.${n}`));
  return names.includes(base) ? [...rotated, file] : rotated;
}

/** The last n complete lines of a file, read backwards in chunks. */
async function lastLines(file: string, n: number, limit?: number): Promise<string[]> {
  let fh: FileHandle;
  try {
    fh = await open(file, "r");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return []; // rotated away or not written yet
    throw err;
  }
  try {
    const size = limit ?? (await fh.stat()).size;
    let pos = size;
    let tail = Buffer.alloc(0);
    const chunk = 64 * 1024;
    let newlines = 0;
    while (pos > 0 && newlines <= n) {
      const len = Math.min(chunk, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      for (const b of buf) if (b === 10) newlines++;
      tail = Buffer.concat([buf, tail]);
    }
    const lines = tail.toString("utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-n);
  } finally {
    await fh.close();
  }
}

/** Reads complete lines from `fh` starting at `offset`; returns them and the new offset. */
async function readFrom(fh: FileHandle, offset: number): Promise<{ lines: string[]; offset: number }> {
  const lines: string[] = [];
  let carry = Buffer.alloc(0);
  let pos = offset;
  const buf = Buffer.alloc(256 * 1024);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    let data = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
    let nl: number;
    while ((nl = data.indexOf(10)) >= 0) {
      lines.push(data.subarray(0, nl).toString("utf8"));
      data = data.subarray(nl + 1);
    }
    carry = Buffer.from(data);
  }
  // an incomplete last line is read again next time
  return { lines, offset: pos - carry.length };
}

export interface FollowControl {
  /** True while more output may come (the container runs). */
  running: () => boolean;
  /** Resolves when the container stops (to end follow promptly). */
  stopped?: Promise<void>;
}

/** The entries of the log at `file`, filtered as Docker's `logs` does. */
export async function* readLogs(file: string, opts: LogsOptions, control?: FollowControl): AsyncGenerator<LogEntry> {
  const wantOut = opts.stdout !== false;
  const wantErr = opts.stderr !== false;
  const since = opts.since !== undefined && opts.since > 0 ? secondsToNanos(opts.since) : undefined;
  const until = opts.until !== undefined && opts.until > 0 ? secondsToNanos(opts.until) : undefined;
  const keep = (e: LogEntry) => {
    if (e.stream === "stdout" ? !wantOut : !wantErr) return false;
    if (since !== undefined || until !== undefined) {
      const t = timeNanos(e.time);
      if (since !== undefined && t < since) return false;
      if (until !== undefined && t > until) return false;
    }
    return true;
  };
  const tail = opts.tail === undefined || opts.tail === "all" || opts.tail < 0 ? undefined : opts.tail;
  const files = await logFiles(file);
  // the position in the current file where following begins
  let startOffset = 0;
  try {
    startOffset = (await stat(file)).size;
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
    startOffset = 0; // not written yet: following starts at its beginning
  }
  if (tail !== undefined) {
    startOffset = await currentOffset(file, startOffset);
    if (tail > 0) {
      // newest file first until enough lines are found (filtering by stream counts, as Docker's does not: tail counts lines)
      const chunks: string[][] = [];
      let need = tail;
      for (const f of [...files].reverse()) {
        const lines = await lastLines(f, need, f === file ? startOffset : undefined);
        chunks.unshift(lines);
        need -= lines.length;
        if (need <= 0) break;
      }
      for (const lines of chunks) {
        for (const l of lines) {
          const e = parseLine(l);
          if (e && keep(e)) yield e;
        }
      }
    }
  } else {
    for (const f of files) {
      let fh: FileHandle;
      try {
        fh = await open(f, "r");
      } catch (err) {
        if (isErrno(err, "ENOENT")) continue; // rotated away meanwhile
        throw err;
      }
      try {
        const { lines, offset } = await readFrom(fh, 0);
        if (f === file) startOffset = offset;
        for (const l of lines) {
          const e = parseLine(l);
          if (e && keep(e)) yield e;
        }
      } finally {
        await fh.close();
      }
    }
  }
  if (!opts.follow || !control) return;
  yield* follow(file, startOffset, keep, control, opts.signal, until);
}

async function currentOffset(file: string, fallback: number): Promise<number> {
  // tail reads whole lines up to the end as it was; follow from the last complete line
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, "r");
    const size = (await fh.stat()).size;
    if (size === 0) return 0;
    const buf = Buffer.alloc(Math.min(size, 64 * 1024));
    await fh.read(buf, 0, buf.length, size - buf.length);
    const nl = buf.lastIndexOf(10);
    return nl < 0 ? size - buf.length : size - buf.length + nl + 1;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return fallback; // not written yet, or rotated away meanwhile
    throw err;
  } finally {
    await fh?.close();
  }
}

async function* follow(file: string, offset: number, keep: (e: LogEntry) => boolean, control: FollowControl, signal: AbortSignal | undefined, until: bigint | undefined): AsyncGenerator<LogEntry> {
  let fh: FileHandle | undefined;
  let ino = -1;
  let pos = offset;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  try {
    watcher = watch(path.dirname(file), () => poke());
    // the timer below looks at the file anyway: without a watcher following only wakes up later
    watcher.on("error", (err) => ignored(`watch ${path.dirname(file)} to follow the log`, err));
  } catch (err) {
    ignored(`watch ${path.dirname(file)} to follow the log`, err);
    watcher = undefined;
  }
  const timer = setInterval(poke, 250);
  signal?.addEventListener("abort", poke);
  void control.stopped?.then(poke);
  try {
    for (;;) {
      if (signal?.aborted) return;
      const wasRunning = control.running();
      // reopen when the file was rotated (new inode) or appeared
      let st;
      try {
        st = await stat(file);
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
        st = undefined; // rotated, the new file not there yet
      }
      if (st && st.ino !== ino) {
        if (fh) {
          // drain what the old file still holds, then switch
          const rest = await readFrom(fh, pos);
          for (const l of rest.lines) {
            const e = parseLine(l);
            if (e && keep(e)) yield e;
          }
          await fh.close();
          fh = undefined;
          if (ino !== -1) pos = 0;
        }
        try {
          fh = await open(file, "r");
          ino = (await fh.stat()).ino;
        } catch (err) {
          if (!isErrno(err, "ENOENT")) throw err;
          fh = undefined; // rotated away again: looked at next round
        }
      } else if (st && fh && st.size < pos) {
        pos = 0; // truncated (max-file 1 rotation)
      }
      if (fh) {
        const r = await readFrom(fh, pos);
        pos = r.offset;
        for (const l of r.lines) {
          const e = parseLine(l);
          if (!e) continue;
          if (until !== undefined && timeNanos(e.time) > until) return;
          if (keep(e)) yield e;
        }
      }
      if (!wasRunning) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    clearInterval(timer);
    watcher?.close();
    signal?.removeEventListener("abort", poke);
    await fh?.close();
  }
}
