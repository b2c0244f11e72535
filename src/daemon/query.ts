// Query-string parsing with the Docker Engine API's quirks, as moby's api/server/httputils reads
// them: booleans are true unless empty, "0", "no", "false" or "none" (so "1", "true", "True" all
// work); integers may be negative (`t=-1` means "no timeout"); `filters` is JSON in either the
// current map form {"dangling":{"true":true}} or the legacy list form {"dangling":["true"]}.

import { invalid } from "../common/errors.js";
import { boolValue } from "../docker/index.js";

/** Docker's filters: key → values, e.g. {"dangling": ["true"], "label": ["a=b"]}. */
export type Filters = Record<string, string[]>;

/** Parses a `filters` query value (either JSON form); "" gives no filters. */
export function parseFilters(text: string | null | undefined): Filters {
  if (text === null || text === undefined || text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(`invalid filter: ${(err as Error).message}`, {
      code: "filter.invalid",
      field: "filters",
      hint: 'filters are JSON, e.g. {"dangling":["true"]}',
    });
  }
  if (parsed === null) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    throw invalid("invalid filter: expected a JSON object of filter names", { code: "filter.invalid", field: "filters", hint: 'e.g. {"dangling":["true"]}' });
  }
  const out: Filters = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(value)) {
      // legacy form: {"key": ["v1", "v2"]}
      out[key] = value.map((v) => {
        if (typeof v !== "string") throw invalid(`invalid filter '${key}': values must be strings`, { code: "filter.invalid", field: `filters.${key}` });
        return v;
      });
    } else if (value !== null && typeof value === "object") {
      // current form: {"key": {"v1": true, "v2": true}}
      out[key] = Object.entries(value as Record<string, unknown>)
        .filter(([, on]) => on === true)
        .map(([v]) => v);
    } else if (value === null) {
      out[key] = [];
    } else {
      throw invalid(`invalid filter '${key}': expected a list or a map of values`, { code: "filter.invalid", field: `filters.${key}` });
    }
  }
  return out;
}

/** The request's query string with Docker's accessors. */
export class Query {
  readonly params: URLSearchParams;

  constructor(params: URLSearchParams | string) {
    this.params = typeof params === "string" ? new URLSearchParams(params) : params;
  }

  has(key: string): boolean {
    return this.params.has(key);
  }

  /** The first value, or undefined when absent. */
  get(key: string): string | undefined {
    return this.params.get(key) ?? undefined;
  }

  /** Every value of a repeated key (`names=a&names=b`). */
  all(key: string): string[] {
    return this.params.getAll(key);
  }

  /** BoolValueOrDefault: def when the key is absent, else moby's BoolValue. */
  bool(key: string, def = false): boolean {
    if (!this.params.has(key)) return def;
    return boolValue(this.params.get(key));
  }

  /** An integer (negative allowed, e.g. t=-1); def when absent or empty; a 400 when malformed. */
  int(key: string, def: number): number;
  int(key: string): number | undefined;
  int(key: string, def?: number): number | undefined {
    const v = this.params.get(key);
    if (v === null || v.trim() === "") return def;
    if (!/^[+-]?\d+$/.test(v.trim())) {
      throw invalid(`invalid value for ${key}: "${v}" is not an integer`, { code: "query.invalid", field: key });
    }
    const n = Number(v.trim());
    if (!Number.isSafeInteger(n)) throw invalid(`invalid value for ${key}: ${v} is out of range`, { code: "query.invalid", field: key });
    return n;
  }

  /** The `filters` parameter (or another key holding filters JSON). */
  filters(key = "filters"): Filters {
    return parseFilters(this.params.get(key));
  }
}
