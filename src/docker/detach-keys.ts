// The detach key sequence of attached sessions (default ctrl-p,ctrl-q): its syntax (moby's
// term.ToBytes, shared by the docker CLI and dockerd) and the scanner both sides run over what
// the user types, holding back a partial match and ending the session on a full one.

import { invalid } from "../common/errors.js";

export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

/**
 * term.ToBytes: "ctrl-p,ctrl-q" → [0x10, 0x11]; "a" → [0x61]; ctrl-@, ctrl-[, ctrl-\, ctrl-],
 * ctrl-^, ctrl-_ → 0, 27..31. Throws its "Invalid escape keys (...) provided".
 */
export function parseDetachKeys(keys: string): number[] {
  const out: number[] = [];
  const bad = () => invalid(`Invalid escape keys (${keys}) provided`, { code: "detach-keys.invalid" });
  for (const part of keys.split(",")) {
    const k = part.trim();
    if (k.length === 1) {
      out.push(k.charCodeAt(0));
      continue;
    }
    if (!k.startsWith("ctrl-") || k.length !== 6) throw bad();
    const c = k.slice(5).toLowerCase();
    if (c >= "a" && c <= "z") out.push(c.charCodeAt(0) - 96);
    else if (c === "@") out.push(0);
    else if (c === "[") out.push(27);
    else if (c === "\\") out.push(28);
    else if (c === "]") out.push(29);
    else if (c === "^") out.push(30);
    else if (c === "_") out.push(31);
    else throw bad();
  }
  return out;
}

/** Scans input for the detach sequence: the bytes to forward, and whether the sequence completed. */
export class DetachScanner {
  private matched = 0;

  constructor(private readonly keys: readonly number[]) {}

  push(chunk: Buffer): { data: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) {
          this.matched = 0;
          return { data: Buffer.from(out), detach: true };
        }
        continue;
      }
      // a partial match that broke off: the held bytes are ordinary input, and this byte may start a new match
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]!);
      this.matched = 0;
      if (b === this.keys[0]) this.matched = 1;
      else out.push(b);
    }
    return { data: Buffer.from(out), detach: false };
  }
}
