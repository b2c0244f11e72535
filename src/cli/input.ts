// Small pieces the commands share: the docker CLI's [y/N] prompt, and its sort order.

import type { Readable, Writable } from "node:stream";

/** One line from stdin ("" at its end), leaving the rest unread. */
export function readLine(stdin: Readable): Promise<string> {
  return new Promise((resolve) => {
    let buf = "";
    const finish = (line: string) => {
      stdin.removeListener("data", onData);
      stdin.removeListener("end", onEnd);
      stdin.removeListener("error", onEnd);
      stdin.pause();
      resolve(line);
    };
    const onData = (chunk: Buffer | string) => {
      buf += chunk.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) finish(buf.slice(0, nl));
    };
    const onEnd = () => finish(buf);
    stdin.on("data", onData);
    stdin.once("end", onEnd);
    stdin.once("error", onEnd);
    stdin.resume();
  });
}

/**
 * The docker CLI's prompt: the message, " [y/N] ", and yes only for y or yes (any case); like
 * docker it reads the answer from stdin even when stdin is not a terminal.
 */
export async function confirm(io: { stdout: Writable; stdin: Readable }, message: string): Promise<boolean> {
  io.stdout.write(`${message} [y/N] `);
  return /^y(es)?$/i.test((await readLine(io.stdin)).trim());
}

/** The docker CLI's natural order: runs of digits compare as numbers, the rest byte by byte. */
export function naturalLess(a: string, b: string): number {
  const chunks = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const [ca, cb] = [chunks(a), chunks(b)];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const [x, y] = [ca[i]!, cb[i]!];
    if (x === y) continue;
    const [nx, ny] = [/^\d/.test(x), /^\d/.test(y)];
    if (nx && ny && Number(x) !== Number(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return ca.length - cb.length;
}
