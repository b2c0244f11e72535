// How Go sees plain JS values: type names for error messages, truth, fmt's %v printing
// (integers without ".0", floats as %g, slices as [a b], maps as map[k:v] with sorted keys),
// fmt.Sprintf, and encoding/json's Marshal.

const MAP_MARK = Symbol.for("cove.format.map");
/** Objects carrying this method marshal themselves to JSON, like Go's json.Marshaler. */
export const MARSHAL_JSON = Symbol.for("cove.format.marshalJSON");
/** Objects may name their Go type for error messages ("can't evaluate field X in type T"). */
export const GO_TYPE = Symbol.for("cove.format.goType");

/** Marks a plain object as a Go map: a missing key prints "<no value>" instead of failing. */
export function goMap<T extends object>(obj: T): T {
  Object.defineProperty(obj, MAP_MARK, { value: true, enumerable: false });
  return obj;
}

export interface EvalOptions {
  /** Treat every plain object as a map (docker inspect's raw-JSON fallback). */
  objectsAsMaps?: boolean;
}

export function isRecord(v: unknown): v is Record<string | symbol, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Date);
}

export function isGoMap(v: unknown, opts: EvalOptions): boolean {
  if (v instanceof Map) return true;
  if (!isRecord(v)) return false;
  return opts.objectsAsMaps === true || v[MAP_MARK] === true;
}

/** Entries of a map-like value, keys sorted as Go sorts map keys. */
export function mapEntries(v: unknown): [string, unknown][] {
  const entries: [string, unknown][] =
    v instanceof Map ? [...v.entries()].map(([k, val]) => [String(k), val]) : Object.entries(v as object);
  return entries.sort(([a], [b]) => compareKeys(a, b));
}

function compareKeys(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== "" && b !== "" && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A Go-ish name for the value's type. */
export function typeName(v: unknown, opts: EvalOptions = {}): string {
  if (v === undefined || v === null) return "<nil>";
  switch (typeof v) {
    case "string":
      return "string";
    case "boolean":
      return "bool";
    case "number":
      return Number.isInteger(v) ? "int" : "float64";
    case "bigint":
      return "int64";
    case "function":
      return "func";
  }
  if (Array.isArray(v)) return "[]interface {}";
  if (v instanceof Date) return "time.Time";
  if (isGoMap(v, opts)) return "map[string]interface {}";
  const named = (v as Record<symbol, unknown>)[GO_TYPE];
  if (typeof named === "string") return named;
  const ctor = (v as object).constructor?.name;
  return ctor && ctor !== "Object" ? `*${ctor}` : "struct";
}

/** Go's truth: false, 0, nil and empty strings, slices and maps are false; structs are true. */
export function isTrue(v: unknown, opts: EvalOptions = {}): boolean {
  if (v === undefined || v === null) return false;
  switch (typeof v) {
    case "boolean":
      return v;
    case "number":
      return v !== 0;
    case "bigint":
      return v !== 0n;
    case "string":
      return v.length > 0;
    case "function":
      return true;
  }
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (isGoMap(v, opts)) return Object.keys(v as object).length > 0;
  return true;
}

/** fmt's %v of a float64 (strconv 'g' with the shortest precision). */
export function formatFloat(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  if (n === 0) return Object.is(n, -0) ? "-0" : "0";
  const [mant, expText] = n.toExponential().split("e") as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    const e = Math.abs(exp);
    return `${mant}e${exp < 0 ? "-" : "+"}${e < 10 ? "0" + e : e}`;
  }
  return String(n);
}

/** fmt's %v of a number: integers print as %d, others as %g. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return BigInt(n).toString();
  return formatFloat(n);
}

function formatTime(d: Date): string {
  const pad = (x: number, w = 2) => String(x).padStart(w, "0");
  const base = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const ms = d.getUTCMilliseconds();
  const frac = ms === 0 ? "" : "." + pad(ms, 3).replace(/0+$/, "");
  return `${base}${frac} +0000 UTC`;
}

/** fmt's %v. Top-level undefined is "<no value>" (a missing map key); nested nil is "<nil>". */
export function formatValue(v: unknown, opts: EvalOptions = {}, top = true): string {
  if (v === undefined) return top ? "<no value>" : "<nil>";
  if (v === null) return "<nil>";
  switch (typeof v) {
    case "string":
      return v;
    case "boolean":
      return v ? "true" : "false";
    case "number":
      return formatNumber(v);
    case "bigint":
      return v.toString();
    case "function":
      return "0x" + "func";
    case "symbol":
      return v.toString();
  }
  if (Array.isArray(v)) return `[${v.map((e) => formatValue(e, opts, false)).join(" ")}]`;
  if (v instanceof Date) return formatTime(v);
  if (v instanceof Uint8Array) return `[${[...v].join(" ")}]`;
  if (isGoMap(v, opts)) {
    return `map[${mapEntries(v)
      .map(([k, val]) => `${k}:${formatValue(val, opts, false)}`)
      .join(" ")}]`;
  }
  // A struct: {v1 v2 ...}, or the object's own string form when it has one.
  const own = (v as { toString?: unknown }).toString;
  if (typeof own === "function" && own !== Object.prototype.toString) return String(v);
  return `{${Object.values(v as object)
    .map((e) => formatValue(e, opts, false))
    .join(" ")}}`;
}

// ---- encoding/json ----------------------------------------------------------------------------

export interface MarshalOptions {
  /** Escape <, > and & as \u003c, \u003e, \u0026 (json.Marshal does; docker's `json` function does not). */
  escapeHTML?: boolean;
  /** Sort object keys, as Go sorts map keys. */
  sortKeys?: boolean;
  /** Indent, as json.MarshalIndent. */
  indent?: string;
}

function quoteJSON(s: string, escapeHTML: boolean): string {
  let q = JSON.stringify(s).replace(/[\u2028\u2029]/g, (c) => (c === "\u2028" ? "\\u2028" : "\\u2029"));
  if (escapeHTML) q = q.replace(/[<>&]/g, (c) => (c === "<" ? "\\u003c" : c === ">" ? "\\u003e" : "\\u0026"));
  return q;
}

function jsonNumber(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`json: unsupported value: ${formatFloat(n)}`);
  return JSON.stringify(n);
}

/** Go's json.Marshal (or MarshalIndent with opts.indent) of a plain JS value. */
export function marshalJSON(v: unknown, opts: MarshalOptions = {}, depth = 0): string {
  const escapeHTML = opts.escapeHTML ?? true;
  const nl = opts.indent !== undefined ? "\n" + opts.indent.repeat(depth + 1) : "";
  const close = opts.indent !== undefined ? "\n" + opts.indent.repeat(depth) : "";
  const colon = opts.indent !== undefined ? ": " : ":";
  if (v === undefined || v === null) return "null";
  switch (typeof v) {
    case "string":
      return quoteJSON(v, escapeHTML);
    case "boolean":
      return v ? "true" : "false";
    case "number":
      return jsonNumber(v);
    case "bigint":
      return v.toString();
    case "function":
    case "symbol":
      throw new Error(`json: unsupported type: ${typeName(v)}`);
  }
  const custom = (v as Record<symbol, unknown>)[MARSHAL_JSON];
  if (typeof custom === "function") return String((custom as () => string).call(v));
  if (v instanceof Date) return quoteJSON(v.toISOString(), escapeHTML);
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return `[${v.map((e) => nl + marshalJSON(e, opts, depth + 1)).join(",")}${close}]`;
  }
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return marshalJSON((toJSON as () => unknown).call(v), opts, depth);
  let entries: [string, unknown][] = v instanceof Map ? [...v.entries()].map(([k, val]) => [String(k), val]) : Object.entries(v);
  entries = entries.filter(([, val]) => val !== undefined && typeof val !== "function");
  if (opts.sortKeys || v instanceof Map || (v as Record<symbol, unknown>)[MAP_MARK] === true) {
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
  if (entries.length === 0) return "{}";
  return `{${entries.map(([k, val]) => `${nl}${quoteJSON(k, escapeHTML)}${colon}${marshalJSON(val, opts, depth + 1)}`).join(",")}${close}}`;
}

// ---- fmt.Sprintf ------------------------------------------------------------------------------

function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\x07") out += "\\a";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (ch === "\v") out += "\\v";
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + cp.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out + '"';
}

interface Spec {
  minus: boolean;
  plus: boolean;
  space: boolean;
  zero: boolean;
  sharp: boolean;
  width?: number;
  prec?: number;
}

function pad(s: string, spec: Spec, numeric: boolean): string {
  if (spec.width === undefined || s.length >= spec.width) return s;
  const n = spec.width - s.length;
  if (spec.minus) return s + " ".repeat(n);
  if (spec.zero && numeric) {
    const sign = /^[+\- ]/.test(s) ? s[0] : "";
    return sign + "0".repeat(n) + s.slice(sign!.length);
  }
  return " ".repeat(n) + s;
}

function signed(s: string, negative: boolean, spec: Spec): string {
  if (negative) return "-" + s;
  if (spec.plus) return "+" + s;
  if (spec.space) return " " + s;
  return s;
}

function badVerb(verb: string, arg: unknown): string {
  return `%!${verb}(${typeName(arg)}=${formatValue(arg, {}, false)})`;
}

function formatOne(verb: string, arg: unknown, spec: Spec): string {
  switch (verb) {
    case "v": {
      if (typeof arg === "number") return pad(signed(formatNumber(Math.abs(arg)), arg < 0 || Object.is(arg, -0), spec), spec, true);
      let s = formatValue(arg, {}, false);
      if (spec.sharp && typeof arg === "string") s = goQuote(arg);
      return pad(s, spec, false);
    }
    case "s": {
      if (typeof arg === "number" || typeof arg === "boolean" || arg === null || arg === undefined) return badVerb(verb, arg);
      let s = Array.isArray(arg) ? `[${arg.map((e) => formatValue(e, {}, false)).join(" ")}]` : formatValue(arg, {}, false);
      if (spec.prec !== undefined) s = [...s].slice(0, spec.prec).join("");
      return pad(s, spec, false);
    }
    case "q":
      if (typeof arg === "string") return pad(goQuote(arg), spec, false);
      if (typeof arg === "number" && Number.isInteger(arg)) return pad(`'${String.fromCodePoint(arg)}'`, spec, false);
      return badVerb(verb, arg);
    case "t":
      if (typeof arg !== "boolean") return badVerb(verb, arg);
      return pad(String(arg), spec, false);
    case "d":
    case "b":
    case "o":
    case "x":
    case "X":
    case "c":
    case "U": {
      if (typeof arg === "string" && (verb === "x" || verb === "X")) {
        const hex = Buffer.from(arg, "utf8").toString("hex");
        return pad(verb === "X" ? hex.toUpperCase() : hex, spec, false);
      }
      if (typeof arg === "bigint") arg = Number(arg);
      if (typeof arg !== "number" || !Number.isInteger(arg)) {
        if (typeof arg === "number" && (verb === "x" || verb === "X")) return badVerb(verb, arg);
        return badVerb(verb, arg);
      }
      if (verb === "c") return pad(String.fromCodePoint(arg), spec, false);
      if (verb === "U") return pad("U+" + arg.toString(16).toUpperCase().padStart(4, "0"), spec, false);
      const radix = verb === "d" ? 10 : verb === "b" ? 2 : verb === "o" ? 8 : 16;
      let digits = BigInt(Math.abs(arg)).toString(radix);
      if (verb === "X") digits = digits.toUpperCase();
      if (spec.prec !== undefined) digits = digits.padStart(spec.prec, "0");
      if (spec.sharp) digits = (verb === "x" ? "0x" : verb === "X" ? "0X" : verb === "o" ? "0" : verb === "b" ? "0b" : "") + digits;
      return pad(signed(digits, arg < 0, spec), spec, spec.prec === undefined);
    }
    case "f":
    case "F":
    case "e":
    case "E":
    case "g":
    case "G": {
      if (typeof arg !== "number") return badVerb(verb, arg);
      const abs = Math.abs(arg);
      let s: string;
      if (verb === "f" || verb === "F") s = abs.toFixed(spec.prec ?? 6);
      else if (verb === "e" || verb === "E") {
        s = abs.toExponential(spec.prec ?? 6).replace(/e([+-])(\d)$/, "e$10$2");
        if (verb === "E") s = s.toUpperCase();
      } else {
        s = spec.prec === undefined ? formatFloat(abs) : goG(abs, spec.prec);
        if (verb === "G") s = s.toUpperCase();
      }
      return pad(signed(s, arg < 0, spec), spec, true);
    }
    default:
      return `%!${verb}(${typeName(arg)}=${formatValue(arg, {}, false)})`;
  }
}

function goG(n: number, prec: number): string {
  const p = prec === 0 ? 1 : prec;
  const [mant, expText] = n.toExponential(p - 1).split("e") as [string, string];
  const exp = Number(expText);
  const trimmed = mant.includes(".") ? mant.replace(/\.?0+$/, "") : mant;
  if (exp < -4 || exp >= p) return `${trimmed}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return String(Number(n.toPrecision(p)));
}

/** Go's fmt.Sprintf for the verbs templates use, with Go's %!verb(...) error forms. */
export function sprintf(format: string, args: unknown[]): string {
  let out = "";
  let argi = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== "%") {
      out += c;
      continue;
    }
    i++;
    const spec: Spec = { minus: false, plus: false, space: false, zero: false, sharp: false };
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === "-") spec.minus = true;
      else if (f === "+") spec.plus = true;
      else if (f === " ") spec.space = true;
      else if (f === "0") spec.zero = !spec.minus;
      else if (f === "#") spec.sharp = true;
      else break;
    }
    const num = () => {
      if (format[i] === "*") {
        i++;
        const a = args[argi++];
        return typeof a === "number" ? a : undefined;
      }
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      i += m[0].length;
      return Number(m[0]);
    };
    spec.width = num();
    if (format[i] === ".") {
      i++;
      spec.prec = num() ?? 0;
    }
    const verb = format[i];
    if (verb === undefined) {
      out += "%!(NOVERB)";
      break;
    }
    if (verb === "%") {
      out += "%";
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatOne(verb, args[argi++], spec);
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args
      .slice(argi)
      .map((a) => `${typeName(a)}=${formatValue(a, {}, false)}`)
      .join(", ")})`;
  }
  return out;
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function sprint(args: unknown[], opts: EvalOptions = {}): string {
  let out = "";
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += formatValue(a, opts, false);
  });
  return out;
}

/** fmt.Sprintln: spaces always, and a newline. */
export function sprintln(args: unknown[], opts: EvalOptions = {}): string {
  return args.map((a) => formatValue(a, opts, false)).join(" ") + "\n";
}
