// The error a broken Dockerfile (or .dockerignore) raises: where (file, line, column) and the
// offending source line, so a person can find and fix it. Printed as
//
//   Dockerfile:3:1: unknown instruction: FORM (did you mean FROM?)
//      3 | FORM busybox
//        | ^
//
// `message` is the first line alone (what the API sends); describe() adds the excerpt.

import { CoveError } from "../../common/errors.js";

export interface SourcePosition {
  /** The file's name as the user knows it, e.g. "Dockerfile" or "app/Dockerfile.dev". */
  file: string;
  /** 1-based line where the offending instruction starts. */
  line: number;
  /** 1-based column on that line. */
  column: number;
  /** The text of that line, without its line ending. */
  lineText: string;
  /** 1-based line where the instruction ends (continuations, heredocs). */
  endLine?: number;
}

export class DockerfileError extends CoveError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly lineText: string;
  readonly endLine: number;
  /** The message without the position prefix. */
  readonly reason: string;

  constructor(reason: string, pos: SourcePosition) {
    super("invalid", `${pos.file}:${pos.line}:${pos.column}: ${reason}`, { code: "dockerfile.invalid" });
    this.name = "DockerfileError";
    this.reason = reason;
    this.file = pos.file;
    this.line = pos.line;
    this.column = pos.column;
    this.lineText = pos.lineText;
    this.endLine = pos.endLine ?? pos.line;
  }

  /** The offending line with a caret under the column. */
  excerpt(): string {
    const num = String(this.line);
    const pad = " ".repeat(num.length);
    // tabs before the column stay tabs so the caret lines up in a terminal
    const lead = Array.from(this.lineText.slice(0, Math.max(0, this.column - 1)), (c) => (c === "\t" ? "\t" : " ")).join("");
    return `   ${num} | ${this.lineText}\n   ${pad} | ${lead}^`;
  }

  override describe(): string {
    return `${this.message}\n${this.excerpt()}`;
  }
}

/** Levenshtein distance between two short strings. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest of `names` to `word` (case-insensitive) when it is a likely typo, else undefined. */
export function suggest(word: string, names: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDist = Infinity;
  for (const n of names) {
    const d = distance(w, n.toLowerCase());
    if (d < bestDist) {
      best = n;
      bestDist = d;
    }
  }
  // BuildKit's rule (util/suggest): at most two edits away
  return best !== undefined && bestDist > 0 && bestDist <= 2 ? best : undefined;
}
