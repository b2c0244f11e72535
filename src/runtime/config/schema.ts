// JSON-schema validation of OCI documents (config.json, the features document, state) against the
// runtime spec's own schemas, compiled ahead of time by ajv into validators.generated.ts
// (gen-validators.ts, from the schemas embedded in schema-data.ts). Errors come back as problems
// naming the JSON path of the field in the style `linux.namespaces[2].type`, all of them, not
// just the first.
//
// Nothing is compiled at run time: ajv and the schemas would cost `cove runtime create` more to
// load than a container takes to start, and a top-level await to load them on demand would keep
// cove-runtime from being bundled as the CommonJS script its startup snapshot is built from.

import type { ErrorObject, ValidateFunction } from "ajv";
import { ROOTFS_PROPAGATIONS } from "./constants.js";
import { ENTRY } from "./schema-options.js";
import * as precompiled from "./validators.generated.js";

/** One thing wrong with a document: the field it is about and what is wrong with it. */
export interface Problem {
  /** JSON path in dotted form, e.g. `linux.namespaces[2].type`; "" for the whole document. */
  field: string;
  message: string;
  hint?: string;
}

export type SchemaName = "config" | "features" | "state";

/** The ahead-of-time compiled validators (validators.generated.ts), one per entry schema. */
const PRECOMPILED = precompiled as unknown as Record<SchemaName, ValidateFunction | undefined>;

function validator(name: SchemaName): ValidateFunction {
  const fn = PRECOMPILED[name];
  if (!fn) {
    throw new Error(`validators.generated.ts has no validator for ${ENTRY[name]}: regenerate it (npx tsc -p . && node dist/src/runtime/config/gen-validators.js) and rebuild`);
  }
  return fn;
}

/** `/linux/namespaces/2/type` → `linux.namespaces[2].type`; keys that are not identifiers are quoted. */
export function pointerToPath(pointer: string): string {
  if (pointer === "") return "";
  let out = "";
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out += joinSegment(out, seg);
  }
  return out;
}

/** Appends one key or index to a dotted path. */
export function joinSegment(base: string, seg: string | number): string {
  if (typeof seg === "number" || /^\d+$/.test(seg)) return `[${seg}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(seg)) return base === "" ? seg : `.${seg}`;
  return `[${JSON.stringify(seg)}]`;
}

/** `path` + key, e.g. child("linux", "sysctl") = "linux.sysctl", child("x", 2) = "x[2]". */
export function child(path: string, seg: string | number): string {
  return path + joinSegment(path, seg);
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return String(v);
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

function describe(e: ErrorObject): Problem {
  const field = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "enum": {
      const allowed = (p.allowedValues as unknown[]).map((v) => String(v)).join(", ");
      return { field, message: `must be one of ${allowed} (got ${show(e.data)})` };
    }
    case "type": {
      const want = String(p.type).split(",").map(article).join(" or ");
      const got = typeof e.data === "object" ? typeName(e.data) : `${typeName(e.data)} ${show(e.data)}`;
      return { field, message: `must be ${want} (got ${got})` };
    }
    case "required":
      return { field: child(field, String(p.missingProperty)), message: "is required" };
    case "additionalProperties":
      return { field: child(field, String(p.additionalProperty)), message: "is not a known field here" };
    case "pattern":
      return { field, message: `must match ${String(p.pattern)} (got ${show(e.data)})` };
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return { field, message: `must be ${String(p.comparison)} ${String(p.limit)} (got ${show(e.data)})` };
    case "minItems":
      return { field, message: `must have at least ${String(p.limit)} item${p.limit === 1 ? "" : "s"}` };
    case "minLength":
      return { field, message: `must be at least ${String(p.limit)} character${p.limit === 1 ? "" : "s"} long` };
    default:
      return { field, message: `${e.message ?? `fails the schema's "${e.keyword}" rule`}` };
  }
}

/**
 * The schema's RootfsPropagation lists only private/shared/slave/unbindable, but runc (and Docker,
 * which writes "rshared" or "rslave") accept the recursive forms too. Returns the problem to report
 * instead of the schema's, or null when the value is fine.
 */
function rootfsPropagation(e: ErrorObject): Problem | null {
  if (ROOTFS_PROPAGATIONS.includes(e.data as string)) return null;
  return {
    field: "linux.rootfsPropagation",
    message: `must be one of ${ROOTFS_PROPAGATIONS.join(", ")} (got ${show(e.data)})`,
  };
}

const WRAPPERS = ["anyOf", "oneOf", "allOf", "if"];

/**
 * Validates `doc` against the named OCI schema. Returns every problem, each once; empty when the
 * document is valid.
 */
export function schemaProblems(name: SchemaName, doc: unknown): Problem[] {
  const fn = validator(name);
  if (fn(doc)) return [];
  const errors = fn.errors ?? [];
  // anyOf/oneOf wrappers only repeat what their branches said: drop one when a specific error
  // lies at or below its path.
  const specific = errors.filter((e) => !WRAPPERS.includes(e.keyword));
  const kept = errors.filter(
    (e) =>
      !WRAPPERS.includes(e.keyword) ||
      !specific.some((s) => s.instancePath === e.instancePath || s.instancePath.startsWith(`${e.instancePath}/`)),
  );
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const e of kept) {
    const p =
      name === "config" && e.instancePath === "/linux/rootfsPropagation" && e.keyword === "enum" ? rootfsPropagation(e) : describe(e);
    if (!p) continue;
    const key = `${p.field}\u0000${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}
