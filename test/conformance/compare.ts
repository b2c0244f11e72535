// What the differential suite compares between two answers to the same request, and what it
// leaves out because it legitimately differs between two daemons (ids, digests, times, sizes,
// pids, addresses, ports, the order of lists Docker leaves unordered).
//
// A JSON body is reduced to its shape: objects keep their keys (except maps whose keys are data,
// such as labels or ids, which become "<key>"), arrays become the set of their elements' shapes,
// leaves become their JSON type ("string", "number", "boolean", "null"). Two shapes are compared
// key by key, and every difference is one line naming the JSON path, so a case's expected
// differences can be matched line by line.
//
// Error messages are compared as text, first line only (cove may add a hint line after Docker's
// message), with ids and digests replaced by placeholders.
//
// Streams are compared by framing: a multiplexed stream (8-byte headers) gives its frames' stream
// numbers and the text each stream carried; a JSON message stream gives the union of its messages'
// shapes.

/** Keys whose objects are maps with data as keys (their keys become "<key>"). */
export const MAP_KEYS = new Set(["Labels", "Options", "Containers", "Ports", "ExposedPorts", "Volumes", "Attributes", "DriverOpts", "Status", "Data", "Tmpfs", "StorageOpt", "Sysctls", "LogConfig.Config", "memory_stats.stats", "Runtimes"]);

/**
 * A JSON value's shape (see the header). `mapKeys` forces this level's keys to "<key>". An array's
 * shape is one element shape, the union of all its elements' (keys merged; differing leaf types
 * joined as "a|b"), so lists compare whatever their order and length; an empty list is "[]" and an
 * empty object "{}".
 */
export function shape(v: unknown, key = "", mapKeys = false, parent = ""): unknown {
  if (v === null) return "null";
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return [v.map((x) => shape(x, "", false, key)).reduce((a, b) => mergeShapes(a, b))];
  }
  if (typeof v === "object") {
    const isMap = mapKeys || MAP_KEYS.has(key) || MAP_KEYS.has(`${parent}.${key}`);
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return "{}";
    const out: Record<string, unknown> = {};
    for (const [k, x] of entries) {
      const name = isMap ? "<key>" : normaliseKey(k);
      const s = shape(x, k, false, key);
      out[name] = name in out ? mergeShapes(out[name], s) : s;
    }
    return out;
  }
  return typeof v;
}

const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === "object" && !Array.isArray(x);

/** The union of two shapes: objects merge their keys, lists their elements, leaves join their types ("null|string"). */
export function mergeShapes(a: unknown, b: unknown): unknown {
  if (JSON.stringify(a) === JSON.stringify(b)) return a;
  if (isObject(a) && isObject(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, x] of Object.entries(b)) out[k] = k in out ? mergeShapes(out[k], x) : x;
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) return [mergeShapes(a[0], b[0])];
  // an empty list or object adds nothing to a list or object of the same kind
  if (a === "[]" && Array.isArray(b)) return b;
  if (b === "[]" && Array.isArray(a)) return a;
  if (a === "{}" && isObject(b)) return b;
  if (b === "{}" && isObject(a)) return a;
  if (isEmpty(a) && isEmpty(b)) return "null";
  if (typeof a === "string" && typeof b === "string") return [...new Set([...a.split("|"), ...b.split("|")])].sort().join("|");
  return `${JSON.stringify(a)}|${JSON.stringify(b)}`;
}

/**
 * Whether two leaf shapes are the same for a client: null and an empty list or object are (Go's
 * encoding/json writes a nil slice or map as null and an empty one as [] or {}, and which one a
 * dockerd sends for "nothing" varies between its versions and code paths; Docker's clients
 * treat them alike).
 */
function sameEmpty(a: unknown, b: unknown): boolean {
  return isEmpty(a) && isEmpty(b);
}

function isEmpty(x: unknown): boolean {
  return x === "null" || x === "[]" || x === "{}";
}

/** Ids as object keys (network inspect's Containers, a 64-hex key anywhere) become "<id>". */
function normaliseKey(k: string): string {
  if (/^[0-9a-f]{64}$/.test(k)) return "<id>";
  return k;
}

/** The differences between two shapes, one line each ("path: cove X, dockerd Y"). */
export function diffShapes(cove: unknown, dockerd: unknown, path = "$"): string[] {
  if (JSON.stringify(cove) === JSON.stringify(dockerd) || sameEmpty(cove, dockerd)) return [];
  if (isObject(cove) && isObject(dockerd)) {
    const out: string[] = [];
    for (const k of new Set([...Object.keys(cove), ...Object.keys(dockerd)])) {
      if (!(k in dockerd)) out.push(`${path}.${k}: only cove has it (${brief(cove[k])})`);
      else if (!(k in cove)) out.push(`${path}.${k}: only dockerd has it (${brief(dockerd[k])})`);
      else out.push(...diffShapes(cove[k], dockerd[k], `${path}.${k}`));
    }
    return out;
  }
  if (Array.isArray(cove) && Array.isArray(dockerd)) return diffShapes(cove[0], dockerd[0], `${path}[]`);
  return [`${path}: cove ${brief(cove)}, dockerd ${brief(dockerd)}`];
}

function brief(s: unknown): string {
  const t = JSON.stringify(s) ?? "undefined";
  return t.length > 80 ? `${t.slice(0, 77)}...` : t;
}

/** Text with what differs between two daemons replaced: ids, digests, addresses, times. */
export function normaliseText(s: string): string {
  return s
    .replace(/sha256:[0-9a-f]{64}/g, "<digest>")
    .replace(/\b[0-9a-f]{64}\b/g, "<id>")
    .replace(/\b[0-9a-f]{12}\b/g, "<short-id>")
    .replace(/\b\d{1,3}(\.\d{1,3}){3}(\/\d+)?\b/g, "<ip>")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g, "<time>");
}

/** The first line of an error message, normalised (cove may add a hint line after Docker's). */
export function errorLine(message: string): string {
  return normaliseText(message.split("\n")[0] ?? "");
}

export interface Frame {
  stream: number;
  data: Buffer;
}

/** Splits a multiplexed stream (8-byte headers: stream, 0, 0, 0, big-endian length); undefined when it is not one. */
export function demux(raw: Buffer): Frame[] | undefined {
  const frames: Frame[] = [];
  let i = 0;
  while (i < raw.length) {
    if (raw.length - i < 8) return undefined;
    const stream = raw[i]!;
    if (stream > 3 || raw[i + 1] !== 0 || raw[i + 2] !== 0 || raw[i + 3] !== 0) return undefined;
    const len = raw.readUInt32BE(i + 4);
    if (i + 8 + len > raw.length) return undefined;
    frames.push({ stream, data: raw.subarray(i + 8, i + 8 + len) });
    i += 8 + len;
  }
  return frames;
}

/** What a multiplexed stream carried: per stream number, its text (frames joined: frame boundaries may fall anywhere). */
export function muxSummary(raw: Buffer): Record<string, string> | string {
  const frames = demux(raw);
  if (!frames) return `not multiplexed: ${JSON.stringify(raw.subarray(0, 40).toString("latin1"))}`;
  const out: Record<string, string> = {};
  for (const f of frames) out[`stream ${f.stream}`] = (out[`stream ${f.stream}`] ?? "") + f.data.toString("latin1");
  return out;
}

/** A newline-delimited JSON message stream as one shape, the union of its messages' ("[]" when empty). */
export function jsonStreamShapes(raw: Buffer): unknown {
  const shapes: unknown[] = [];
  for (const line of raw.toString("utf8").split(/\r?\n/)) {
    if (!line.trim()) continue;
    try {
      shapes.push(shape(JSON.parse(line)));
    } catch {
      return `not a JSON message stream: ${JSON.stringify(line.slice(0, 60))}`;
    }
  }
  return shapes.length ? [shapes.reduce((a, b) => mergeShapes(a, b))] : "[]";
}

/** The names in a tar archive (ustar headers walked; no extraction), with ids and digests normalised, sorted and deduplicated. */
export function tarNames(raw: Buffer): string[] | string {
  const names = new Set<string>();
  let i = 0;
  let longName: string | undefined;
  while (i + 512 <= raw.length) {
    const h = raw.subarray(i, i + 512);
    if (h.every((b) => b === 0)) break;
    const field = (o: number, n: number) => h.subarray(o, o + n).toString("latin1").replace(/\0.*$/s, "");
    const magic = field(257, 6);
    if (!magic.startsWith("ustar")) return `not a tar at offset ${i}`;
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1);
    const prefix = field(345, 155);
    const body = raw.subarray(i + 512, i + 512 + size);
    let name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    if (type === "L") longName = body.toString("latin1").replace(/\0.*$/s, "");
    else if (type === "x") {
      const m = /\d+ path=([^\n]*)\n/.exec(body.toString("utf8"));
      if (m) longName = m[1];
    } else if (type !== "g") {
      if (longName !== undefined) name = longName;
      longName = undefined;
      names.add(normaliseText(name.replace(/^\.\//, "")));
    }
    i += 512 + Math.ceil(size / 512) * 512;
  }
  return [...names].sort();
}
