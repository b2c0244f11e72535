// Variable interpolation as the Compose Specification defines it ($VAR, ${VAR}, ${VAR:-default},
// ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}, $$ for a literal $), and
// .env files (KEY=VALUE lines, `export` prefixes, quotes, comments) as Docker Compose reads them.
// Values are interpolated, keys never; a default or alternative may itself hold variables.

import { readFileSync } from "node:fs";
import { invalid, isErrno, notFound } from "../common/errors.js";

export type Env = Record<string, string | undefined>;

/** Where a string came from, for error messages: "services.web.image in compose.yaml". */
export interface Origin {
  path: string;
  file: string;
}

/** Interpolates one string; `warn` hears of each unset variable given no default. */
export function interpolate(text: string, env: Env, origin: Origin, warn: (msg: string) => void = () => undefined): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== "$") {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (next === "{") {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw invalid(`${where(origin)}: invalid interpolation format "${text}": no closing brace`, { field: origin.path });
      out += substitute(text.slice(i + 2, end), env, origin, warn, text);
      i = end + 1;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!m) {
      // a lone $ (before a space, a digit, the end) stays as it is, as in Docker Compose
      out += "$";
      i++;
      continue;
    }
    out += lookup(m[0], env, origin, warn);
    i += 1 + m[0].length;
  }
  return out;
}

function where(o: Origin): string {
  return o.path ? `${o.path} in ${o.file}` : o.file;
}

/** The index of the brace closing the one opened before `from`, counting nested ${...}. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let j = from; j < text.length; j++) {
    if (text[j] === "$" && text[j + 1] === "$") {
      j++;
      continue;
    }
    if (text[j] === "$" && text[j + 1] === "{") {
      depth++;
      j++;
    } else if (text[j] === "}") {
      if (--depth === 0) return j;
    }
  }
  return -1;
}

function lookup(name: string, env: Env, origin: Origin, warn: (msg: string) => void): string {
  const v = env[name];
  if (v === undefined) {
    warn(`The "${name}" variable is not set. Defaulting to a blank string (${where(origin)}).`);
    return "";
  }
  return v;
}

function substitute(inner: string, env: Env, origin: Origin, warn: (msg: string) => void, whole: string): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(inner);
  if (!m) throw invalid(`${where(origin)}: invalid interpolation format "${whole}": "\${${inner}}" is not a variable reference`, { field: origin.path });
  const [, name, op, rest] = m as unknown as [string, string, string | undefined, string | undefined];
  if (op === undefined) return lookup(name, env, origin, warn);
  const value = env[name];
  const colon = op.startsWith(":");
  const missing = colon ? value === undefined || value === "" : value === undefined;
  const arg = () => interpolate(rest ?? "", env, origin, warn);
  switch (op.slice(-1)) {
    case "-":
      return missing ? arg() : value!;
    case "+":
      return missing ? "" : arg();
    default: {
      if (!missing) return value!;
      const msg = arg();
      throw invalid(`required variable ${name} is missing a value${msg ? `: ${msg}` : ""} (${where(origin)})`, { field: origin.path, code: "compose.variable-required" });
    }
  }
}

/** Interpolates every string value of a YAML tree (keys untouched); `path` names each value for errors. */
export function interpolateTree(value: unknown, env: Env, file: string, warn: (msg: string) => void, path = ""): unknown {
  if (typeof value === "string") return interpolate(value, env, { path, file }, warn);
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, env, file, warn, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateTree(v, env, file, warn, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}

/**
 * Parses a .env file's text. Lines are KEY=VALUE (an `export ` prefix allowed); `#` starts a
 * comment at a line's start or, in an unquoted value, after a space; single quotes are literal,
 * double quotes take \n, \t, \\ and \" escapes and may span lines; unquoted and double-quoted values
 * are interpolated against the variables defined above them and `base`. A line KEY alone (no =)
 * takes KEY from `base` when set there.
 */
export function parseEnvFile(text: string, file: string, base: Env = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const lookupEnv: Env = new Proxy({}, { get: (_t, k: string) => out[k] ?? base[k] });
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("export ")) line = line.slice(7).trimStart();
    const eq = line.indexOf("=");
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) throw invalid(`${file}:${n + 1}: invalid variable name "${key}"`, { code: "compose.env-file" });
    if (eq < 0) {
      if (base[key] !== undefined) out[key] = base[key]!;
      continue;
    }
    let raw = line.slice(eq + 1).trimStart();
    const origin = { path: key, file: `${file}:${n + 1}` };
    if (raw.startsWith("'")) {
      const end = raw.indexOf("'", 1);
      if (end < 0) throw invalid(`${file}:${n + 1}: unterminated single-quoted value of ${key}`, { code: "compose.env-file" });
      out[key] = raw.slice(1, end);
    } else if (raw.startsWith('"')) {
      let body = raw.slice(1);
      let end = unescapedQuote(body);
      while (end < 0 && n + 1 < lines.length) {
        body += "\n" + lines[++n]!;
        end = unescapedQuote(body);
      }
      if (end < 0) throw invalid(`${file}:${n + 1}: unterminated double-quoted value of ${key}`, { code: "compose.env-file" });
      const unescaped = body.slice(0, end).replace(/\\([nrt"\\$])/g, (_m, ch: string) => ({ n: "\n", r: "\r", t: "\t" })[ch] ?? (ch === "$" ? "$$" : ch));
      out[key] = interpolate(unescaped, lookupEnv, origin);
    } else {
      const hash = raw.search(/\s#/);
      if (hash >= 0) raw = raw.slice(0, hash);
      out[key] = interpolate(raw.trim(), lookupEnv, origin);
    }
  }
  return out;
}

function unescapedQuote(s: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === '"') return i;
  }
  return -1;
}

/** Reads and parses an env file; undefined when `optional` and the file does not exist. */
export function readEnvFile(file: string, base: Env = {}, optional = false): Record<string, string> | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) {
      if (optional) return undefined;
      throw notFound(`env file ${file} not found`, { code: "compose.env-file" });
    }
    throw err;
  }
  return parseEnvFile(text, file, base);
}
