// The operations the fuzzer drives: every path and method of the Engine API's swagger definition
// (../shared/specs/engine-api-v1.47.yaml) with its path, query and header parameters and its body
// schema, joined with every route the daemon registers (its router's list), so cove-only routes
// and routes the swagger lacks are fuzzed too (with no schema: their query and body are generic).

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export type Schema = Record<string, unknown>;

export interface Param {
  name: string;
  in: "path" | "query" | "header";
  type: string;
  enum?: unknown[];
  items?: Schema;
}

export interface Operation {
  method: string;
  /** The path template with {name} parameters, as the swagger writes it. */
  path: string;
  /** The swagger's operationId, or "cove:METHOD path" for a route only the daemon has. */
  id: string;
  params: Param[];
  /** The JSON body's schema; "binary" for a tar or other byte stream; undefined when none. */
  body?: Schema | "binary";
  /** False when the daemon has no route for it (it must then answer 404 with a message). */
  served: boolean;
}

/** The swagger file: ../shared/specs next to the repository. */
export function specPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/test/fuzz -> repository root
  return path.resolve(here, "..", "..", "..", "..", "shared", "specs", "engine-api-v1.47.yaml");
}

interface SwaggerParam {
  name: string;
  in: string;
  type?: string;
  enum?: unknown[];
  items?: Schema;
  schema?: Schema;
}

export interface Spec {
  operations: Operation[];
  definitions: Record<string, Schema>;
}

/** A route pattern with its parameters made anonymous: "/containers/{}/json". */
export function shape(p: string): string {
  return p.replace(/\{[^}]*\}/g, "{}");
}

/** Reads the swagger and joins it with the daemon's routes ("METHOD pattern", from Router.list()). */
export function loadSpec(routes: string[], file = specPath()): Spec {
  const { load } = createRequire(import.meta.url)("js-yaml") as { load(text: string): unknown };
  const doc = load(readFileSync(file, "utf8")) as { paths: Record<string, Record<string, { operationId?: string; parameters?: SwaggerParam[] }>>; definitions: Record<string, Schema> };
  const served = new Set(routes.map((r) => {
    const [method, pattern] = r.split(" ") as [string, string];
    return `${method} ${shape(pattern)}`;
  }));
  const operations: Operation[] = [];
  const known = new Set<string>();
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(ops)) {
      const method = m.toUpperCase();
      const params: Param[] = [];
      let body: Operation["body"];
      for (const q of op.parameters ?? []) {
        if (q.in === "body") {
          const s = q.schema ?? {};
          body = s.type === "string" && s.format === "binary" ? "binary" : s;
        } else if (q.in === "path" || q.in === "query" || q.in === "header") {
          params.push({ name: q.name, in: q.in, type: q.type ?? "string", ...(q.enum ? { enum: q.enum } : {}), ...(q.items ? { items: q.items } : {}) });
        }
      }
      // the archive upload and the image load take a tar though the swagger gives no schema type
      if (p === "/containers/{id}/archive" && method === "PUT") body = "binary";
      const key = `${method} ${shape(p)}`;
      known.add(key);
      operations.push({ method, path: p, id: op.operationId ?? key, params, ...(body !== undefined ? { body } : {}), served: served.has(key) });
    }
  }
  for (const r of routes) {
    const [method, pattern] = r.split(" ") as [string, string];
    if (known.has(`${method} ${shape(pattern)}`)) continue;
    known.add(`${method} ${shape(pattern)}`);
    // a route the swagger lacks: its parameters from its pattern, "{name:.*}" as "{name}"
    const p = pattern.replace(/\{([A-Za-z_][A-Za-z0-9_]*):[^}]*\}/g, "{$1}");
    const params: Param[] = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1] as string, in: "path", type: "string" }));
    operations.push({ method, path: p, id: `cove:${method} ${pattern}`, params, ...(method === "GET" || method === "HEAD" ? {} : { body: {} }), served: true });
  }
  return { operations, definitions: doc.definitions };
}
