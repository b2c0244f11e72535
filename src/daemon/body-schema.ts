// The daemon's JSON request bodies are checked here before any service sees them, so a body that
// dockerd would refuse gets a 400 naming the field and changes nothing:
//
// 1. parseJSONBody bounds the nesting depth on the raw bytes (MAX_JSON_DEPTH) before JSON.parse,
//    so no body can carry nesting into a stored record that JSON.stringify or structuredClone
//    later overflows the stack on, even through fields the schema leaves free (free-form objects,
//    unknown fields, which Go's decoder ignores and cove keeps).
// 2. validateBody checks the parsed body against the route's schema, generated from the Engine
//    API's swagger (body-schema.generated.ts, see gen-body-schema.ts for what it enforces: the
//    types Go's decoder enforces, null for any field, unknown fields ignored), compiled ahead of
//    time (body-validators.generated.ts). It also turns a string in a StrSlice field (Cmd,
//    Entrypoint, Shell, CapAdd, CapDrop) into a one-element array, as Go does.
//
// Messages read `invalid body: HostConfig.Memory: expected an integer, got a string ("1g")`.

import type { ErrorObject, ValidateFunction } from "ajv";
import { invalid } from "../common/errors.js";
import { jsonTooDeepAt, MAX_JSON_DEPTH } from "../common/json.js";
import { pointerToPath } from "../runtime/config/schema.js";
import type { BodyName } from "./body-schema.generated.js";
import * as validators from "./body-validators.generated.js";

export type { BodyName } from "./body-schema.generated.js";
export { MAX_JSON_DEPTH } from "../common/json.js";

/** At most this many problems are listed in one message. */
const MAX_PROBLEMS = 5;

/**
 * Throws a 400 when a request body nests arrays and objects deeper than MAX_JSON_DEPTH. The
 * deepest body a client sends legitimately has about 7 levels
 * (HostConfig.Mounts[].VolumeOptions.DriverConfig.Options); Go's decoder stops at 10000, deep
 * enough to overflow cove's JSON.stringify of the stored record.
 */
export function checkJSONDepth(bytes: Uint8Array, max = MAX_JSON_DEPTH): void {
  const at = jsonTooDeepAt(bytes, max);
  if (at === undefined) return;
  throw invalid(`invalid body: JSON nested deeper than ${max} levels (at byte ${at})`, { code: "request.too-deep" });
}

/** Parses a JSON request body after checking its depth; a syntax error is a 400. */
export function parseJSONBody(body: Uint8Array): unknown {
  checkJSONDepth(body);
  try {
    return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
  } catch (err) {
    throw invalid(`invalid JSON in the request body: ${(err as Error).message}`, { code: "request.invalid" });
  }
}

/** The compiled validators (body-validators.generated.ts), one per operation. */
const VALIDATORS = validators as unknown as Record<BodyName, ValidateFunction | undefined>;

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** "a string", "an array of strings or a string", "a JSON object" (the body itself). */
function expected(types: string[], items: unknown, root: boolean): string {
  return types
    .filter((t) => t !== "null")
    .map((t) => {
      if (t === "object" && root) return "a JSON object";
      if (t === "array" && typeof items === "object" && items !== null && typeof (items as { type?: unknown }).type === "string") {
        const item = (items as { type: string }).type;
        if (item === "string" || item === "integer") return `an array of ${item}s`;
      }
      return article(t);
    })
    .join(" or ");
}

/** What the body had instead: "an array", `a string ("1g")`, "a number (1.5)", "null". */
function got(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") {
    const s = v.length > 40 ? `${v.slice(0, 40)}...` : v;
    return `a string (${JSON.stringify(s)})`;
  }
  return `${article(typeof v)} (${String(v)})`;
}

/** One line per field: `Labels.a: expected a string, got an array`. */
function describe(e: ErrorObject): string | undefined {
  const field = pointerToPath(e.instancePath);
  const at = field === "" ? "" : `${field}: `;
  if (e.keyword === "type") {
    const p = e.params as { type: string | string[] };
    const types = Array.isArray(p.type) ? p.type : String(p.type).split(",");
    const items = (e.parentSchema as { items?: unknown } | undefined)?.items;
    return `${at}expected ${expected(types, items, field === "")}, got ${got(e.data)}`;
  }
  if (e.keyword === "allOf" || e.keyword === "if") return undefined; // their parts say what is wrong
  return `${at}${e.message ?? `fails the schema's "${e.keyword}" rule`}`;
}

/**
 * Checks a parsed request body against the schema of the operation (swagger operationId). Returns
 * the body, with StrSlice strings turned into arrays; throws a 400 naming every field at fault
 * (code "request.invalid", field set to the first). An absent body passes: the route decides.
 */
export function validateBody(name: BodyName, body: unknown): unknown {
  if (body === undefined) return body;
  const fn = VALIDATORS[name];
  if (!fn) throw new Error(`no compiled validator for ${name}: re-run gen-body-schema`);
  if (fn(body)) return body;
  const lines: string[] = [];
  let field: string | undefined;
  for (const e of fn.errors ?? []) {
    const line = describe(e);
    if (line === undefined || lines.includes(line)) continue;
    field ??= pointerToPath(e.instancePath);
    lines.push(line);
  }
  if (lines.length === 0) lines.push("does not match the Engine API's schema");
  const shown = lines.slice(0, MAX_PROBLEMS).join("; ");
  const more = lines.length > MAX_PROBLEMS ? ` (and ${lines.length - MAX_PROBLEMS} more)` : "";
  throw invalid(`invalid body: ${shown}${more}`, { code: "request.invalid", ...(field ? { field } : {}) });
}
