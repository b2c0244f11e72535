// The fuzzer's inputs, all drawn from one seeded PRNG so a finding replays from its seed:
// values per schema type (and wrong types, huge and negative numbers, NaN-ish strings, deep
// nesting, unicode, long strings, nulls, extra fields), mutations of valid requests (flipped
// types, dropped and duplicated fields, truncated JSON, invalid UTF-8), query strings and path
// parameters (real ids and names, prefixes, absent ones, traversal-like strings, NUL).

import type { Schema } from "./spec.js";

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

/** Strings that have broken parsers before: numbers in disguise, paths, escapes, odd unicode. */
const NASTY_STRINGS = [
  "",
  " ",
  "0",
  "-1",
  "NaN",
  "Infinity",
  "-Infinity",
  "1e309",
  "0x10",
  "99999999999999999999999",
  "-9223372036854775809",
  "null",
  "true",
  "undefined",
  "[]",
  "{}",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "../../../../etc/passwd",
  "..",
  ".",
  "/",
  "//",
  "%2e%2e",
  "%00",
  "a\u0000b",
  "\u0000",
  "C:\\\\windows",
  "$(id)",
  "`id`",
  "${HOME}",
  "a=b",
  "=",
  "a:b:c:d",
  ":",
  "@",
  "sha256:",
  "sha256:zz",
  "busybox:latest",
  "localhost:1/x/y:tag",
  "UPPER/Case",
  "\uFEFF",
  "\u202Ereversed",
  "\uD800",
  "😀🐳",
  "ä".repeat(3),
  "\r\nX-Injected: 1",
  "%s%n%x",
  "1.5",
  "-0",
  "1g",
  "64m",
  "tcp",
  "bridge",
  "host",
  "none",
  "container:x",
  "default",
  "SIGKILL",
  "SIGNOPE",
  "999",
];

export function randomString(rng: Rng): string {
  const r = rng.next();
  if (r < 0.45) return rng.pick(NASTY_STRINGS);
  if (r < 0.75) {
    const len = rng.int(24);
    let s = "";
    for (let i = 0; i < len; i++) s += String.fromCharCode(rng.chance(0.9) ? 32 + rng.int(95) : rng.int(0x3000));
    return s;
  }
  if (r < 0.85) return "x".repeat(rng.pick([255, 256, 4096, 70_000]));
  if (r < 0.95) return rng.pick(["a", "ab", "b0", "z9"]) + rng.int(1000).toString(16);
  return rng.pick(NASTY_STRINGS) + rng.pick(NASTY_STRINGS);
}

export function randomNumber(rng: Rng, integer: boolean): number {
  const special = [0, -1, 1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER, 1e20, 1e300, -1e300, 4096, 65535, 65536, 100, 512];
  if (rng.chance(0.5)) return rng.pick(special);
  if (!integer && rng.chance(0.5)) return rng.next() * 1000 - 500;
  return rng.int(2000) - 1000;
}

/** Any JSON value, nested at most `depth` levels. */
export function randomJSON(rng: Rng, depth = 3): unknown {
  const r = rng.int(depth > 0 ? 8 : 6);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return randomNumber(rng, rng.chance(0.5));
    case 3:
    case 4:
    case 5:
      return randomString(rng);
    case 6:
      return Array.from({ length: rng.int(4) }, () => randomJSON(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) o[randomString(rng)] = randomJSON(rng, depth - 1);
      return o;
    }
  }
}

/** An array or object nested n deep: "[[[...]]]" (as text: a parser's stack is the target). */
export function deepNesting(rng: Rng, n: number): string {
  return rng.chance(0.5) ? "[".repeat(n) + "]".repeat(n) : '{"a":'.repeat(n) + "1" + "}".repeat(n);
}

export class SchemaValues {
  constructor(
    private readonly rng: Rng,
    private readonly definitions: Record<string, Schema>,
  ) {}

  private resolve(s: Schema): Schema {
    let cur = s;
    for (let i = 0; i < 10 && typeof cur.$ref === "string"; i++) {
      const name = (cur.$ref as string).replace("#/definitions/", "");
      cur = { ...(this.definitions[name] ?? {}), ...Object.fromEntries(Object.entries(cur).filter(([k]) => k !== "$ref")) };
    }
    return cur;
  }

  /** The properties of an object schema, allOf parts merged. */
  private properties(s: Schema): Record<string, Schema> {
    const out: Record<string, Schema> = { ...((s.properties as Record<string, Schema> | undefined) ?? {}) };
    for (const part of (s.allOf as Schema[] | undefined) ?? []) Object.assign(out, this.properties(this.resolve(part)));
    return out;
  }

  /** A value for the schema: mostly well-typed, sometimes wrong-typed, null, or odd. */
  value(schema: Schema, depth = 0): unknown {
    const rng = this.rng;
    const s = this.resolve(schema);
    if (rng.chance(0.06)) return null;
    if (rng.chance(0.06)) return randomJSON(rng, 2); // a wrong type, most of the time
    if (depth > 6) return rng.chance(0.5) ? {} : randomString(rng);
    if (Array.isArray(s.enum) && rng.chance(0.7)) return rng.pick(s.enum);
    const type = s.type ?? (s.properties || s.allOf ? "object" : s.additionalProperties ? "object" : undefined);
    switch (type) {
      case "boolean":
        return rng.chance(0.5);
      case "integer":
        return randomNumber(rng, true);
      case "number":
        return randomNumber(rng, false);
      case "string":
        return randomString(rng);
      case "array": {
        const items = (s.items as Schema | undefined) ?? {};
        return Array.from({ length: rng.pick([0, 1, 1, 2, 3, 40]) }, () => this.value(items, depth + 1));
      }
      case "object": {
        const o: Record<string, unknown> = {};
        const props = this.properties(s);
        for (const [k, v] of Object.entries(props)) if (rng.chance(depth === 0 ? 0.5 : 0.3)) o[k] = this.value(v, depth + 1);
        const extra = s.additionalProperties;
        if (extra && typeof extra === "object") for (let i = rng.int(3); i > 0; i--) o[randomString(rng)] = this.value(extra as Schema, depth + 1);
        if (rng.chance(0.15)) o[randomString(rng)] = randomJSON(rng, 2); // an unknown field
        return o;
      }
      default:
        return randomJSON(rng, 2);
    }
  }
}

/** Every path to a value inside a JSON document (object keys and array indexes). */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (out.length > 400) return out;
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function setAt(doc: unknown, at: (string | number)[], fn: (old: unknown) => unknown | typeof DROP): unknown {
  if (at.length === 0) {
    const r = fn(doc);
    return r === DROP ? undefined : r;
  }
  const [head, ...rest] = at;
  const container = (Array.isArray(doc) ? [...doc] : { ...(doc as Record<string, unknown>) }) as Record<string | number, unknown>;
  const next = setAt(container[head as string], rest, fn);
  if (next === undefined && rest.length === 0) {
    if (Array.isArray(container)) (container as unknown[]).splice(head as number, 1);
    else delete container[head as string];
  } else container[head as string] = next;
  return container;
}

const DROP = Symbol("drop");

/** A structural mutation of a valid JSON document: a field's type flipped, dropped, nulled, grown. */
export function mutateJSON(rng: Rng, doc: unknown, values: SchemaValues): unknown {
  let out = doc;
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const all = paths(out);
    const at = rng.pick(all);
    const how = rng.int(9);
    out = setAt(out, at, (old) => {
      switch (how) {
        case 0:
          return DROP;
        case 1:
          return null;
        case 2:
          return randomJSON(rng, 2);
        case 3:
          // the same value in the other type: "1" for 1, [x] for x, {"0": x}
          return typeof old === "number" ? String(old) : typeof old === "string" ? (Number(old) || rng.chance(0.5) ? [old] : 1) : typeof old === "boolean" ? (old ? 1 : "false") : Array.isArray(old) ? (old[0] ?? "") : old === null ? {} : [old];
        case 4:
          return typeof old === "number" ? rng.pick([-old, old * 1e12, old + 0.5, -1, 2 ** 63, NaN]) : randomNumber(rng, true);
        case 5:
          return typeof old === "string" ? old + rng.pick(["\u0000", "/../..", ":", "=", " ", "😀", "x".repeat(5000)]) : randomString(rng);
        case 6:
          return Array.isArray(old) ? [...old, ...old, randomJSON(rng, 1)] : old && typeof old === "object" ? { ...old, [randomString(rng)]: randomJSON(rng, 2) } : old;
        case 7:
          return values.value({}, 0);
        default:
          return Array.isArray(old) ? [] : old && typeof old === "object" ? {} : "";
      }
    });
  }
  return out;
}

/** Damage to a body's bytes: truncated, a duplicated key, invalid UTF-8, a trailing document. */
export function mutateBytes(rng: Rng, body: Buffer): Buffer {
  const text = body.toString("utf8");
  switch (rng.int(9)) {
    case 0:
      return body.subarray(0, rng.int(body.length + 1));
    case 1: {
      // a duplicated key: the same field twice with different values
      const m = /"([A-Za-z]+)":/.exec(text);
      return m ? Buffer.from(text.replace(m[0], `"${m[1]}":${JSON.stringify(randomJSON(rng, 1))},${m[0]}`)) : body;
    }
    case 2: {
      const i = rng.int(body.length + 1);
      return Buffer.concat([body.subarray(0, i), Buffer.from(rng.pick([[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xfe, 0xff], [0x00]])), body.subarray(i)]);
    }
    case 3:
      return Buffer.concat([body, Buffer.from(rng.pick(["{}", "garbage", "\n{}\n", "]", ","]))]);
    case 4: {
      const b = Buffer.from(body);
      for (let n = 1 + rng.int(4); n > 0 && b.length > 0; n--) b[rng.int(b.length)] = rng.int(256);
      return b;
    }
    case 5:
      return Buffer.from(text.replace(/"/g, "'"));
    case 6:
      return Buffer.from(`\uFEFF${text}`);
    case 7:
      return Buffer.from(deepNesting(rng, rng.pick([64, 200, 5000, 100_000])));
    default:
      return Buffer.from(rng.pick(["", "null", "[]", '""', "0", "true", "{", "[{}]", '{"":""}', "{}".repeat(3)]));
  }
}

/** A query value for a parameter of the given swagger type. */
export function queryValue(rng: Rng, type: string, enumValues?: unknown[]): string {
  if (enumValues && rng.chance(0.6)) return String(rng.pick(enumValues));
  if (type === "boolean" && rng.chance(0.7)) return rng.pick(["1", "0", "true", "false", "True", "no", "yes", "", "2", "-1", "on", "none"]);
  if (type === "integer" && rng.chance(0.7)) return rng.pick(["0", "1", "-1", "10", "", "1.5", "1e3", "0x10", "NaN", "99999999999999999999", "-9223372036854775808", String(2 ** 53), " 5", "5 "]);
  if (rng.chance(0.3)) return JSON.stringify(randomJSON(rng, 2)); // filters, buildargs, labels: JSON in a string
  return randomString(rng);
}

/** Percent-encodes a query or path component, now and then leaving malformed or raw escapes. */
export function encodeComponent(rng: Rng, s: string): string {
  let out: string;
  try {
    out = encodeURIComponent(s);
  } catch {
    // a lone surrogate: its bytes as Node would write them
    out = [...Buffer.from(s, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
  }
  const r = rng.next();
  if (r < 0.04) return out + "%zz";
  if (r < 0.07) return out + "%ff%fe";
  if (r < 0.1) return "%c0%ae%c0%ae" + out;
  return out;
}
