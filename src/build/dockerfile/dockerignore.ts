// .dockerignore: reading the file (moby/patternmatcher's ignorefile.ReadAll) and matching
// context paths against its patterns (patternmatcher's MatchesOrParentMatches). Patterns use
// Go's filepath.Match syntax (`*`, `?`, `[a-z]`, `\` escapes) plus `**` for any number of
// directories; a leading `!` re-includes what earlier patterns excluded, the last matching
// pattern wins, and a path is excluded when it or any of its parent directories matches.
// Leading `/` and `./` are dropped (patterns are relative to the context root), lines starting
// with `#` are comments.
//
// The Dockerfile and .dockerignore are always sent with the context, even when excluded, since
// the builder needs them; COPY and ADD still do not copy them (Docker's documented behaviour):
// see sentWithContext and copiedByAddCopy.

import { DockerfileError } from "./errors.js";

/** Go's path.Clean: lexical, slash-separated. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out.at(-1) !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (rooted) return "/" + joined;
  return joined === "" ? "." : joined;
}

/** Go's path.Dir: the path without its last element, cleaned. */
function dirName(p: string): string {
  return cleanPath(p.slice(0, p.lastIndexOf("/") + 1));
}

/** Go's strings.TrimSpace for the ASCII and Latin-1 spaces a text file holds. */
const trimSpace = (s: string) => s.replace(/^[\t\n\v\f\r \u0085\u00a0]+|[\t\n\v\f\r \u0085\u00a0]+$/g, "");

/** One pattern of a .dockerignore file with the line it came from. */
export interface IgnoreLine {
  pattern: string;
  line: number;
  text: string;
}

/** The patterns of a .dockerignore file with their lines (see readDockerignore). */
export function readDockerignoreLines(text: string): IgnoreLine[] {
  const out: IgnoreLine[] = [];
  const lines = text.split("\n");
  if (lines[0]?.startsWith("\uFEFF")) lines[0] = lines[0].slice(1);
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.startsWith("#")) return;
    let pattern = trimSpace(line);
    if (pattern === "") return;
    const invert = pattern.startsWith("!");
    if (invert) pattern = trimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    out.push({ pattern: invert ? "!" + pattern : pattern, line: i + 1, text: line });
  });
  return out;
}

/**
 * The patterns of a .dockerignore file, normalised as Docker does: comments and blank lines
 * dropped, spaces trimmed, paths cleaned, a leading `/` removed, `!` kept in front.
 */
export function readDockerignore(text: string): string[] {
  return readDockerignoreLines(text).map((l) => l.pattern);
}

type MatchType = "exact" | "prefix" | "suffix" | "regexp";

interface Pattern {
  text: string;
  exclusion: boolean;
  type: MatchType;
  regexp?: RegExp;
}

const ESCAPE = new Set([".", "+", "(", ")", "|", "{", "}", "$"]);

/** Whether a Go filepath.Match pattern is well formed (classes closed and not empty, ranges ordered, no trailing escape). */
function wellFormed(p: string): boolean {
  const chars = Array.from(p);
  let i = 0;
  /** One class character (escape allowed), or undefined when malformed; advances i. */
  const classChar = (): string | undefined => {
    let c = chars[i];
    if (c === undefined || c === "-" || c === "]") return undefined;
    if (c === "\\") {
      i++;
      c = chars[i];
      if (c === undefined) return undefined;
    }
    i++;
    return i < chars.length ? c : undefined;
  };
  for (; i < chars.length; i++) {
    const c = chars[i];
    if (c === "\\") {
      if (i + 1 >= chars.length) return false;
      i++;
    } else if (c === "[") {
      i++;
      if (chars[i] === "^") i++;
      for (let n = 0; ; n++) {
        if (i >= chars.length) return false;
        if (chars[i] === "]" && n > 0) break;
        const lo = classChar();
        if (lo === undefined) return false;
        if (chars[i] === "-") {
          i++;
          const hi = classChar();
          if (hi === undefined || hi.codePointAt(0)! < lo.codePointAt(0)!) return false;
        }
      }
    }
  }
  return true;
}

/** Go's regexp escapes that patternmatcher passes through (`\d`, `\s`, `\t`...), in JavaScript. */
const GO_ESCAPES: Record<string, [outside: string, inClass: string | undefined]> = {
  d: ["\\d", "\\d"],
  D: ["\\D", "\\D"],
  w: ["\\w", "\\w"],
  W: ["\\W", "\\W"],
  s: ["[\\t\\n\\f\\r ]", "\\t\\n\\f\\r "],
  S: ["[^\\t\\n\\f\\r ]", undefined],
  b: ["\\b", undefined],
  B: ["\\B", undefined],
  A: ["^", undefined],
  z: ["$", undefined],
  a: ["\\x07", "\\x07"],
  f: ["\\f", "\\f"],
  t: ["\\t", "\\t"],
  n: ["\\n", "\\n"],
  r: ["\\r", "\\r"],
  v: ["\\v", "\\v"],
};

/**
 * `\c` in a pattern as patternmatcher compiles it (into a Go regexp): punctuation is itself, a
 * few letters are Go's escapes, anything else makes the pattern invalid.
 */
function goEscape(c: string, inClass: boolean): string {
  if (/^[!-/:-@[-`{-~]$/.test(c)) return "\\" + c;
  const e = Object.prototype.hasOwnProperty.call(GO_ESCAPES, c) ? GO_ESCAPES[c]![inClass ? 1 : 0] : undefined;
  if (e === undefined) throw new Error(`invalid escape \\${c}`);
  return e;
}

function compile(text: string, exclusion: boolean): Pattern {
  let re = "^";
  let type: MatchType = "exact";
  const chars = Array.from(text);
  let inClass = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        const first = i === 0;
        i++;
        if (chars[i + 1] === "/") i++;
        if (i + 1 >= chars.length) {
          if (type === "exact") type = "prefix";
          else {
            re += ".*";
            type = "regexp";
          }
        } else {
          re += "(.*/)?";
          type = "regexp";
        }
        if (first) type = "suffix";
      } else {
        re += "[^/]*";
        type = "regexp";
      }
    } else if (ch === "?") {
      re += "[^/]";
      type = "regexp";
    } else if (ESCAPE.has(ch)) re += "\\" + ch;
    else if (ch === "\\") {
      if (i + 1 < chars.length) {
        const n = chars[++i]!;
        re += goEscape(n, inClass);
        type = "regexp";
      } else re += "\\\\";
    } else if (ch === "[" || ch === "]") {
      re += ch;
      inClass = ch === "[";
      type = "regexp";
    } else if (ch === "^" && !(inClass && chars[i - 1] === "[")) re += "\\^";
    else re += ch;
  }
  const p: Pattern = { text, exclusion, type };
  if (type === "regexp") p.regexp = new RegExp(re + "$", "s");
  return p;
}

function matchOne(p: Pattern, path: string): boolean {
  switch (p.type) {
    case "exact":
      return path === p.text;
    case "prefix":
      return path.startsWith(p.text.slice(0, -2));
    case "suffix": {
      const suffix = p.text.slice(2);
      if (path.endsWith(suffix)) return true;
      return suffix.startsWith("/") && path === suffix.slice(1);
    }
    case "regexp":
      return p.regexp!.test(path);
  }
}

export class DockerIgnore {
  private readonly patterns: Pattern[];

  /** Compiles patterns (as readDockerignore returns them); throws DockerfileError for a malformed one. */
  constructor(
    readonly source: readonly string[],
    file = ".dockerignore",
  ) {
    this.patterns = [];
    for (const raw of source) {
      let p = trimSpace(raw);
      if (p === "") continue;
      p = cleanPath(p);
      let exclusion = false;
      if (p.startsWith("!")) {
        if (p.length === 1) throw new DockerfileError(`illegal exclusion pattern: "!"`, { file, line: 1, column: 1, lineText: raw });
        exclusion = true;
        p = p.slice(1);
      }
      let compiled: Pattern | undefined;
      try {
        compiled = wellFormed(p) ? compile(p, exclusion) : undefined;
      } catch {
        // a pattern Go's regexp would also refuse, reported below
        compiled = undefined;
      }
      if (!compiled) throw new DockerfileError(`syntax error in pattern: ${JSON.stringify(raw)}`, { file, line: 1, column: 1, lineText: raw });
      this.patterns.push(compiled);
    }
  }

  /** Reads a .dockerignore file's text; a malformed pattern is reported at its line. */
  static parse(text: string, file = ".dockerignore"): DockerIgnore {
    const lines = readDockerignoreLines(text);
    for (const l of lines) {
      try {
        new DockerIgnore([l.pattern], file);
      } catch (err) {
        if (err instanceof DockerfileError) throw new DockerfileError(err.reason, { file, line: l.line, column: 1, lineText: l.text });
        throw err;
      }
    }
    return new DockerIgnore(
      lines.map((l) => l.pattern),
      file,
    );
  }

  /**
   * Whether a context path (relative to the context root, slash-separated, as a walker yields
   * it) is excluded: it or one of its parent directories matches, and the last pattern that
   * matches decides.
   */
  excludes(path: string): boolean {
    if (path === "" || path === ".") return false;
    const parent = dirName(path);
    const dirs = parent.split("/");
    let matched = false;
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let match = matchOne(p, path);
      if (!match && parent !== ".") {
        for (let i = 0; i < dirs.length && !match; i++) match = matchOne(p, dirs.slice(0, i + 1).join("/"));
      }
      if (match) matched = !p.exclusion;
    }
    return matched;
  }

  /** Whether there are `!` patterns (a walker may not skip an excluded directory then). */
  hasExclusions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** Whether the path goes to the builder with the context: the Dockerfile and .dockerignore always do. */
  sentWithContext(path: string, dockerfile = "Dockerfile"): boolean {
    const file = cleanPath(path);
    if (file === cleanPath(dockerfile) || file === ".dockerignore") return true;
    return !this.excludes(file);
  }

  /** Whether COPY and ADD see the path: excluded ones never, the Dockerfile and .dockerignore only when not excluded. */
  copiedByAddCopy(path: string): boolean {
    return !this.excludes(cleanPath(path));
  }
}
