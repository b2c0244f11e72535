// Generates body-schema.generated.ts: the JSON schemas of the request bodies the daemon accepts,
// derived from the Engine API's swagger definition (../shared/specs/engine-api-v1.47.yaml) and
// rewritten to check what dockerd's Go JSON decoder checks, and nothing more:
//
// - types: a string where the struct has a bool, an array where it has a string, ... are errors;
// - every struct field may be null (Go leaves the zero value); an array item or a map value may
//   be null only where the swagger says so (x-nullable) or where Go's type is the empty struct of
//   a set ({"80/tcp": {}}): Go would accept a null there too, but no client sends one, and
//   cove's services read those entries as the type they are (stricter than dockerd on purpose);
// - unknown fields are ignored (no additionalProperties: false); maps are typed by their values;
// - integers are JSON numbers without a fraction; enums, required fields, ranges, lengths and
//   formats are not the decoder's business (the services check values, with Docker's messages);
// - the few fields whose Go type decodes more than the swagger says (strslice.StrSlice takes a
//   string or an array of strings) get that wider type and the "goStrSlice" keyword, which turns
//   a string into a one-element array as Go does.
//
// Definitions are emitted without a type ("shapes"); each place that refers to one carries the
// type and whether null is allowed there, so one definition serves nullable and non-nullable uses.
//
// The schemas are then compiled by ajv ahead of time (standalone code, as the OCI config
// validators are), so the daemon neither loads ajv nor compiles at its first request.
//
// Run: npx tsc -p tsconfig.json && node dist/src/daemon/gen-body-schema.js [path/to/engine-api.yaml]
// It rewrites src/daemon/body-schema.generated.ts (the schemas) and body-validators.generated.ts
// (the compiled code); commit both. The unit test body-schema.test.ts regenerates them in memory
// and fails when a committed file differs.

import { Ajv, _, type KeywordCxt } from "ajv";
import standalone from "ajv/dist/standalone/index.js";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The operations (swagger operationId) whose JSON bodies cove's routes read. */
export const OPERATIONS = [
  "ContainerCreate",
  "ContainerUpdate",
  "ImageCommit",
  "ContainerExec",
  "ExecStart",
  "VolumeCreate",
  "NetworkCreate",
  "NetworkConnect",
  "NetworkDisconnect",
] as const;

/**
 * Fields whose Go type is strslice.StrSlice (moby api/types/container: Config.Cmd, Entrypoint,
 * Shell; HostConfig.CapAdd and CapDrop up to Docker 27, the API version cove serves): JSON gives
 * either an array of strings or one string, which Go turns into a one-element slice.
 */
export const STR_SLICE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ContainerConfig: ["Cmd", "Entrypoint", "Shell"],
  HostConfig: ["CapAdd", "CapDrop"],
};

type Swagger = Record<string, unknown>;
type Schema = Record<string, unknown>;

const SCALARS = new Set(["string", "boolean", "integer", "number"]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The package root: the nearest folder up from this module with a package.json. */
export function packageRoot(): string {
  for (let up = dirname(fileURLToPath(import.meta.url)); up !== dirname(up); up = dirname(up)) {
    if (existsSync(join(up, "package.json"))) return up;
  }
  throw new Error("gen-body-schema: cannot find the package root");
}

/** Where the swagger file lives: ../shared/specs next to the package (the project's spec folder). */
export function defaultSpecPath(): string {
  return resolve(packageRoot(), "..", "shared", "specs", "engine-api-v1.47.yaml");
}

class Converter {
  /** Converted definitions (shapes), by name. */
  readonly defs = new Map<string, Schema>();
  private readonly pending: string[] = [];

  constructor(private readonly doc: Swagger) {}

  private definition(name: string): Schema {
    const defs = this.doc.definitions;
    const def = isObject(defs) ? defs[name] : undefined;
    if (!isObject(def)) throw new Error(`gen-body-schema: #/definitions/${name} is missing`);
    return def;
  }

  /** `#/definitions/X` → X, queued for conversion. */
  private ref(s: Schema): string {
    const ref = s.$ref;
    if (typeof ref !== "string" || !ref.startsWith("#/definitions/")) throw new Error(`gen-body-schema: unsupported $ref ${String(ref)}`);
    const name = ref.slice("#/definitions/".length);
    if (!this.defs.has(name) && !this.pending.includes(name)) this.pending.push(name);
    return name;
  }

  /** The swagger type of a schema, following $refs and allOf ("object" when it has properties). */
  private kind(s: Schema): string {
    if (s.$ref !== undefined) return this.kind(this.definition(this.ref(s)));
    if (typeof s.type === "string") return s.type;
    if (s.type !== undefined) throw new Error(`gen-body-schema: unsupported type ${JSON.stringify(s.type)}`);
    if (Array.isArray(s.allOf) || s.properties !== undefined || s.additionalProperties !== undefined) return "object";
    throw new Error(`gen-body-schema: a schema without a type: ${JSON.stringify(s).slice(0, 200)}`);
  }

  /** The schema at a place: its type (with null when allowed) and its shape. */
  convert(s: Schema, nullable: boolean, strSlice = false): Schema {
    const type = this.kind(s);
    const types = strSlice ? ["array", "string"] : [type];
    if (nullable) types.push("null");
    const out: Schema = { type: types.length === 1 ? types[0] : types };
    if (strSlice) {
      if (type !== "array") throw new Error("gen-body-schema: a StrSlice field must be an array of strings in the swagger");
      Object.assign(out, { items: { type: "string" }, goStrSlice: true });
      return out;
    }
    if (s.$ref !== undefined) out.$ref = `#/definitions/${this.ref(s)}`;
    else Object.assign(out, this.shape(s, type));
    return out;
  }

  /** What a schema says beyond its type: properties, map values, items, allOf parts. */
  private shape(s: Schema, type: string, owner?: string): Schema {
    const out: Schema = {};
    if (SCALARS.has(type)) return out;
    if (type === "array") {
      if (!isObject(s.items)) throw new Error(`gen-body-schema: an array without items: ${JSON.stringify(s).slice(0, 200)}`);
      out.items = this.convert(s.items, s.items["x-nullable"] === true);
      return out;
    }
    if (type !== "object") throw new Error(`gen-body-schema: unsupported type ${type}`);
    if (Array.isArray(s.allOf)) {
      out.allOf = s.allOf.map((part: unknown) => {
        if (!isObject(part)) throw new Error("gen-body-schema: an allOf part is not a schema");
        if (this.kind(part) !== "object") throw new Error("gen-body-schema: an allOf part is not an object");
        return part.$ref !== undefined ? { $ref: `#/definitions/${this.ref(part)}` } : this.shape(part, "object", owner);
      });
    }
    if (isObject(s.properties)) {
      const props: Schema = {};
      const slices = owner !== undefined ? (STR_SLICE_FIELDS[owner] ?? []) : [];
      for (const [key, value] of Object.entries(s.properties)) {
        if (!isObject(value)) throw new Error(`gen-body-schema: property ${key} is not a schema`);
        props[key] = this.convert(value, true, slices.includes(key));
      }
      out.properties = props;
    }
    if (isObject(s.additionalProperties)) {
      const v = s.additionalProperties;
      // Go's map[K]struct{} (a set such as ExposedPorts): the swagger writes its values as {} only
      const emptyStruct = Array.isArray(v.enum) && v.enum.length === 1 && isObject(v.enum[0]) && Object.keys(v.enum[0]).length === 0;
      out.additionalProperties = this.convert(v, v["x-nullable"] === true || emptyStruct);
    }
    return out;
  }

  /** Converts every definition referred to so far (and those they refer to). */
  drain(): void {
    for (let name = this.pending.shift(); name !== undefined; name = this.pending.shift()) {
      const def = this.definition(name);
      const type = this.kind(def);
      if (type !== "object") throw new Error(`gen-body-schema: #/definitions/${name} is a ${type}, not an object`);
      this.defs.set(name, {}); // claimed before its parts, so a cycle ends
      this.defs.set(name, this.shape(def, type, name));
    }
    for (const [owner, fields] of Object.entries(STR_SLICE_FIELDS)) {
      const props = this.defs.get(owner)?.properties;
      const parts = (this.defs.get(owner)?.allOf as Schema[] | undefined) ?? [];
      for (const f of fields) {
        const found = [props, ...parts.map((p) => p.properties)].some((p) => isObject(p) && isObject(p[f]) && p[f].goStrSlice === true);
        if (!found) throw new Error(`gen-body-schema: ${owner}.${f} is not in the swagger any more: update STR_SLICE_FIELDS`);
      }
    }
  }
}

/** The body parameter's schema of each operation in OPERATIONS. */
function bodySchemas(doc: Swagger): Map<string, Schema> {
  const found = new Map<string, Schema>();
  const paths = isObject(doc.paths) ? doc.paths : {};
  for (const [p, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const [method, op] of Object.entries(item)) {
      if (!isObject(op) || typeof op.operationId !== "string" || !(OPERATIONS as readonly string[]).includes(op.operationId)) continue;
      const params = Array.isArray(op.parameters) ? op.parameters : [];
      const body = params.find((x: unknown) => isObject(x) && x.in === "body") as Schema | undefined;
      if (!body || !isObject(body.schema)) throw new Error(`gen-body-schema: ${method.toUpperCase()} ${p} (${op.operationId}) has no body schema`);
      found.set(op.operationId, body.schema);
    }
  }
  for (const op of OPERATIONS) if (!found.has(op)) throw new Error(`gen-body-schema: operation ${op} is not in the swagger`);
  return found;
}

/** JSON with two-space indents, arrays of scalars on one line (["string", "null"]). */
function format(v: unknown, indent = ""): string {
  if (Array.isArray(v) && v.every((x) => !isObject(x) && !Array.isArray(x))) return `[${v.map((x) => JSON.stringify(x)).join(", ")}]`;
  const inner = `${indent}  `;
  if (Array.isArray(v)) return v.length === 0 ? "[]" : `[\n${v.map((x) => inner + format(x, inner)).join(",\n")}\n${indent}]`;
  if (isObject(v)) {
    const entries = Object.entries(v);
    if (entries.length === 0) return "{}";
    return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${format(x, inner)}`).join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(v);
}

function sortKeys<T extends Schema>(o: T): T {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as T;
}

export interface GeneratedBodySchemas {
  /** The text of body-schema.generated.ts: the schemas, for people and tests to read. */
  schemas: string;
  /** The text of body-validators.generated.ts: the schemas compiled by ajv (standalone code). */
  validators: string;
}

/**
 * The ajv options of the compiled validators: every problem reported, with the data at fault
 * (verbose); swagger's own keywords (x-nullable, example, ...) never reach the schemas, and the
 * one extra keyword, goStrSlice, is defined below.
 */
const AJV_OPTIONS = { allErrors: true, verbose: true, strict: false, validateSchema: false, validateFormats: false } as const;

/**
 * goStrSlice: a string where Go's strslice.StrSlice is found becomes a one-element array, as
 * StrSlice.UnmarshalJSON makes it. The schema's type has already allowed array, string or null.
 */
function addGoStrSlice(ajv: Ajv): void {
  ajv.addKeyword({
    keyword: "goStrSlice",
    schemaType: "boolean",
    code(cxt: KeywordCxt) {
      const { gen, data, it } = cxt;
      gen.if(_`typeof ${data} == "string"`, () => gen.assign(_`${it.parentData}[${it.parentDataProperty}]`, _`[${data}]`));
    },
  });
}

/** The texts of both generated modules for the swagger document's text (YAML). */
export function generateBodySchemas(yamlText: string, specName = "engine-api-v1.47.yaml"): GeneratedBodySchemas {
  const { load } = createRequire(import.meta.url)("js-yaml") as { load(text: string): unknown };
  const doc = load(yamlText);
  if (!isObject(doc) || doc.swagger !== "2.0") throw new Error("gen-body-schema: not a Swagger 2.0 document");
  const info = isObject(doc.info) ? doc.info : {};
  const version = String(info.version ?? "");
  const conv = new Converter(doc);
  const found = bodySchemas(doc);
  const bodies: Schema = {};
  for (const op of [...found.keys()].sort()) bodies[op] = conv.convert(found.get(op) as Schema, true);
  conv.drain();
  const defs = sortKeys(Object.fromEntries(conv.defs));
  const sha = createHash("sha256").update(yamlText).digest("hex");
  const names = Object.keys(bodies);
  const header = [
    `// GENERATED by gen-body-schema.ts from ${specName} (the Docker Engine API ${version},`,
    "// Apache-2.0, moby/moby api/swagger.yaml). Do not edit by hand; re-run the generator.",
    `// sha256 of the swagger file: ${sha}`,
  ];
  const schemas = [
    ...header,
    "",
    `/** The Engine API version the schemas come from. */`,
    `export const BODY_SCHEMA_API_VERSION = ${JSON.stringify(version)};`,
    "",
    "/** The operations (swagger operationId) whose request bodies have a schema here. */",
    `export type BodyName = ${names.map((k) => JSON.stringify(k)).join(" | ")};`,
    "",
    "/** The request body of each operation, as Go's JSON decoder checks it. */",
    `export const BODY_SCHEMAS: Readonly<Record<BodyName, Readonly<Record<string, unknown>>>> = ${format(bodies)};`,
    "",
    "/** The definitions the bodies refer to (#/definitions/Name), without their own type. */",
    `export const BODY_DEFINITIONS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = ${format(defs)};`,
    "",
  ].join("\n");

  // One document holds the definitions and the bodies, so the bodies share one compiled function
  // per definition; each body is exported under its operation's name.
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true, esm: true } });
  addGoStrSlice(ajv);
  const all: Schema = { ...defs };
  const entries: Record<string, string> = {};
  for (const op of names) {
    all[`body.${op}`] = bodies[op];
    entries[op] = `engine-api#/definitions/body.${op}`;
  }
  ajv.addSchema({ $id: "engine-api", definitions: all });
  // the package is CommonJS: its function is the default export's default
  const standaloneCode = ((standalone as unknown as { default?: unknown }).default ?? standalone) as (a: Ajv, refs: Record<string, string>) => string;
  const validators = [
    ...header,
    "// The ajv standalone code of the schemas in body-schema.generated.ts, one export per operation.",
    "/* eslint-disable */",
    "// @ts-nocheck",
    standaloneCode(ajv, entries),
    "",
  ].join("\n");
  return { schemas, validators };
}

/** Where the generated modules are written (in src/, whether this runs from src/ or dist/src/). */
export function generatedPaths(): { schemas: string; validators: string } {
  const dir = join(packageRoot(), "src", "daemon");
  return { schemas: join(dir, "body-schema.generated.ts"), validators: join(dir, "body-validators.generated.ts") };
}

function main(): void {
  const spec = process.argv[2] ? resolve(process.argv[2]) : defaultSpecPath();
  const out = generateBodySchemas(readFileSync(spec, "utf8"));
  const target = generatedPaths();
  writeFileSync(target.schemas, out.schemas);
  writeFileSync(target.validators, out.validators);
  process.stdout.write(`wrote ${target.schemas} and ${target.validators} from ${spec}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) main();
