// The pieces the planner reads Kubernetes objects with: checked field readers that report into a
// per-object Report, label selectors, the file's objects, and ConfigMap/Secret data.

import { createHash } from "node:crypto";
import { parseAllDocuments } from "yaml";
import type { Json } from "./plan-types.js";

// ------------------------------------------------------------------ helpers

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
export const LABEL_NAME = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
export const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
export const goMap = (m: Record<string, string>) => `map[string]string{${Object.entries(m).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(", ")}}`;

/** Errors and warnings of one object, each prefixed with the object. */
export class Report {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  constructor(readonly what: string) {}
  error(field: string, msg: string): void {
    this.errors.push(`${this.what}: ${field}: ${msg}`);
  }
  warn(field: string, msg: string): void {
    this.warnings.push(`${this.what}: ${field}: ${msg}`);
  }
  /** Warns about each key of `o` that is not handled (nor quietly accepted). */
  unknown(o: Json, at: string, handled: readonly string[], quiet: readonly string[] = []): void {
    for (const k of Object.keys(o)) if (!handled.includes(k) && !quiet.includes(k)) this.warn(`${at}${at ? "." : ""}${k}`, "not supported by cove kube play: ignored");
  }
}

export function str(r: Report, v: unknown, field: string, required = false): string | undefined {
  if (v === undefined || v === null || v === "") {
    if (required) r.error(field, "Required value");
    return undefined;
  }
  if (typeof v !== "string") {
    r.error(field, `Invalid value: ${JSON.stringify(v)}: must be a string`);
    return undefined;
  }
  return v;
}

export function int(r: Report, v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    r.error(field, `Invalid value: ${JSON.stringify(v)}: must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` between ${min} and ${max}, inclusive` : ` of ${min} or more`}`);
    return undefined;
  }
  return v;
}

export function bool(r: Report, v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") {
    r.error(field, `Invalid value: ${JSON.stringify(v)}: must be true or false`);
    return undefined;
  }
  return v;
}

export function strList(r: Report, v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    r.error(field, "Invalid value: must be a list of strings");
    return undefined;
  }
  return v as string[];
}

export function list(r: Report, v: unknown, field: string): Json[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    r.error(field, "Invalid value: must be a list");
    return [];
  }
  return v.map((x, i) => {
    if (!isObj(x)) {
      r.error(`${field}[${i}]`, "Invalid value: must be an object");
      return {};
    }
    return x;
  });
}

export function obj(r: Report, v: unknown, field: string): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) {
    r.error(field, "Invalid value: must be an object");
    return undefined;
  }
  return v;
}

export function stringMap(r: Report, v: unknown, field: string, labels: boolean): Record<string, string> {
  const o = obj(r, v, field);
  if (!o) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(o)) {
    if (typeof x !== "string") {
      r.error(`${field}.${k}`, `Invalid value: ${JSON.stringify(x)}: must be a string`);
      continue;
    }
    if (labels) {
      if (!LABEL_NAME.test(k) || k.length > 316) r.error(`${field}`, `Invalid value: ${JSON.stringify(k)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
      if (!LABEL_VALUE.test(x)) r.error(`${field}`, `Invalid value: ${JSON.stringify(x)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
    }
    out[k] = x;
  }
  return out;
}

export function sha(v: unknown): string {
  return createHash("sha256").update(JSON.stringify(v)).digest("hex");
}

/** Kubernetes' $(VAR) expansion in command, args and env values: $$ escapes, unknown names stay. */
export function expandVars(s: string, vars: Map<string, string>): string {
  return s.replace(/\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)/g, (m, name: string | undefined) => {
    if (m === "$$") return "$";
    return vars.has(name!) ? vars.get(name!)! : m;
  });
}

// ------------------------------------------------------------------ selectors

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether labels match a selector as Kubernetes matches them (every term ANDed). */
export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const v = labels[e.key];
    switch (e.operator) {
      case "In":
        if (!has || !(e.values ?? []).includes(v!)) return false;
        break;
      case "NotIn":
        if (has && (e.values ?? []).includes(v!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

export function checkSelector(r: Report, v: unknown, field: string): LabelSelector | undefined {
  const o = obj(r, v, field);
  if (!o) return undefined;
  r.unknown(o, field, ["matchLabels", "matchExpressions"]);
  const sel: LabelSelector = {};
  if (o.matchLabels !== undefined) sel.matchLabels = stringMap(r, o.matchLabels, `${field}.matchLabels`, true);
  const exprs = list(r, o.matchExpressions, `${field}.matchExpressions`);
  if (exprs.length) sel.matchExpressions = [];
  exprs.forEach((e, i) => {
    const at = `${field}.matchExpressions[${i}]`;
    const key = str(r, e.key, `${at}.key`, true) ?? "";
    const op = str(r, e.operator, `${at}.operator`, true) ?? "";
    const values = strList(r, e.values, `${at}.values`);
    if (op && !["In", "NotIn", "Exists", "DoesNotExist"].includes(op)) r.error(`${at}.operator`, `Invalid value: ${JSON.stringify(op)}: not a valid selector operator`);
    if ((op === "In" || op === "NotIn") && !values?.length) r.error(`${at}.values`, "Required value: must be specified when `operator` is 'In' or 'NotIn'");
    if ((op === "Exists" || op === "DoesNotExist") && values?.length) r.error(`${at}.values`, "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    sel.matchExpressions!.push({ key, operator: op, ...(values ? { values } : {}) });
  });
  return sel;
}

// ------------------------------------------------------------------ the file's objects

export interface KubeObject {
  kind: string;
  apiVersion: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  raw: Json;
  report: Report;
}

export const API_VERSIONS: Record<string, string[]> = {
  Pod: ["v1"],
  ConfigMap: ["v1"],
  Secret: ["v1"],
  PersistentVolumeClaim: ["v1"],
  Namespace: ["v1"],
  Service: ["v1"],
  Deployment: ["apps/v1"],
  ReplicaSet: ["apps/v1"],
  DaemonSet: ["apps/v1"],
  StatefulSet: ["apps/v1"],
  Job: ["batch/v1"],
  CronJob: ["batch/v1"],
};

/** The objects of a YAML text (List items flattened), each checked for kind, apiVersion and metadata. */
export function objectsOf(text: string, errors: string[]): KubeObject[] {
  const docs = parseAllDocuments(text, { version: "1.1" });
  const raws: { raw: unknown; where: string }[] = [];
  const all = Array.isArray(docs) ? docs : [docs];
  all.forEach((d, i) => {
    if (d.errors.length) {
      errors.push(`document ${i + 1}: invalid YAML: ${d.errors[0]!.message}`);
      return;
    }
    const v = d.toJS({ maxAliasCount: 100 }) as unknown;
    if (v === null || v === undefined) return;
    if (isObj(v) && v.kind === "List" && Array.isArray(v.items)) v.items.forEach((it, j) => raws.push({ raw: it, where: `document ${i + 1}: items[${j}]` }));
    else raws.push({ raw: v, where: `document ${i + 1}` });
  });
  const out: KubeObject[] = [];
  const seen = new Set<string>();
  for (const { raw, where } of raws) {
    if (!isObj(raw)) {
      errors.push(`${where}: not a Kubernetes object (a mapping with apiVersion, kind and metadata)`);
      continue;
    }
    const kind = typeof raw.kind === "string" ? raw.kind : "";
    const apiVersion = typeof raw.apiVersion === "string" ? raw.apiVersion : "";
    const meta = isObj(raw.metadata) ? raw.metadata : {};
    const name = typeof meta.name === "string" ? meta.name : "";
    const r = new Report(`${kind || where} ${name || "(unnamed)"}`);
    if (!kind) r.error("kind", "Required value");
    else if (!API_VERSIONS[kind]) r.error("kind", `Unsupported value: ${JSON.stringify(kind)}: cove kube play supports ${Object.keys(API_VERSIONS).join(", ")}`);
    else if (!API_VERSIONS[kind]!.includes(apiVersion)) r.error("apiVersion", `Unsupported value: ${JSON.stringify(apiVersion)}: supported values: ${API_VERSIONS[kind]!.map((x) => JSON.stringify(x)).join(", ")}`);
    if (!isObj(raw.metadata)) r.error("metadata", "Required value");
    if (!name) r.error("metadata.name", "Required value: name or generateName is required");
    else if (kind !== "Namespace" && !DNS_SUBDOMAIN.test(name)) r.error("metadata.name", `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`);
    else if (kind === "Namespace" && !DNS_LABEL.test(name)) r.error("metadata.name", `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`);
    const namespace = kind === "Namespace" ? name : (str(r, meta.namespace, "metadata.namespace") ?? "default");
    if (!DNS_LABEL.test(namespace)) r.error("metadata.namespace", `Invalid value: ${JSON.stringify(namespace)}: a lowercase RFC 1123 label`);
    if (isObj(raw.metadata)) r.unknown(meta, "metadata", ["name", "namespace", "labels", "annotations"], ["creationTimestamp", "uid", "resourceVersion", "generation"]);
    const labels = stringMap(r, meta.labels, "metadata.labels", true);
    const annotations = stringMap(r, meta.annotations, "metadata.annotations", false);
    const key = `${kind}/${namespace}/${name}`;
    if (seen.has(key) && name) r.error("metadata.name", `Duplicate value: ${JSON.stringify(name)}: the file has two ${kind}s of this name in namespace ${namespace}`);
    seen.add(key);
    out.push({ kind, apiVersion, name, namespace, labels, annotations, raw, report: r });
  }
  return out;
}

// ------------------------------------------------------------------ config maps and secrets

export interface DataSource {
  kind: "ConfigMap" | "Secret";
  data: Map<string, Buffer>;
}

export function dataOf(o: KubeObject): DataSource {
  const r = o.report;
  const data = new Map<string, Buffer>();
  const keyOk = (k: string, field: string) => {
    if (!/^[-._a-zA-Z0-9]+$/.test(k) || k.length > 253) r.error(field, `Invalid value: ${JSON.stringify(k)}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'`);
  };
  if (o.kind === "ConfigMap") {
    r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "data", "binaryData"], ["immutable"]);
    for (const [k, v] of Object.entries(stringMap(r, o.raw.data, "data", false))) {
      keyOk(k, `data[${k}]`);
      data.set(k, Buffer.from(v));
    }
    for (const [k, v] of Object.entries(stringMap(r, o.raw.binaryData, "binaryData", false))) {
      keyOk(k, `binaryData[${k}]`);
      if (data.has(k)) r.error(`binaryData[${k}]`, "Invalid value: duplicate of key present in data");
      data.set(k, Buffer.from(v, "base64"));
    }
  } else {
    r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "data", "stringData", "type"], ["immutable"]);
    for (const [k, v] of Object.entries(stringMap(r, o.raw.data, "data", false))) {
      keyOk(k, `data[${k}]`);
      if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v)) r.error(`data[${k}]`, "Invalid value: illegal base64 data");
      data.set(k, Buffer.from(v, "base64"));
    }
    for (const [k, v] of Object.entries(stringMap(r, o.raw.stringData, "stringData", false))) {
      keyOk(k, `stringData[${k}]`);
      data.set(k, Buffer.from(v));
    }
  }
  return { kind: o.kind as "ConfigMap" | "Secret", data };
}
