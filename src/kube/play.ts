// `kube play`'s planner: Kubernetes YAML (Pod, Deployment, ReplicaSet, DaemonSet, StatefulSet,
// Job, CronJob, Service, ConfigMap, Secret, PersistentVolumeClaim, Namespace, List) parsed,
// validated as a whole and turned into a plan of cove pods, containers and volumes, as podman's
// kube play maps them (pkg/domain/infra/abi/play.go, pkg/specgen/generate/kube): pod name =
// metadata.name, container name = <pod>-<container>, command → the entrypoint, args → the cmd,
// hostPort → a port published on the pod, persistentVolumeClaim → a named volume, liveness probe
// → a healthcheck whose failure restarts the container. A pure function of the text: the CLI
// (src/cli/kube.ts) executes the plan against the daemon. Every error names the object and the
// field path (`Deployment web: spec.template.spec.containers[0].image: Required value`), all of
// them are reported at once, and what cove does not act on is listed in the plan's warnings.

import { createHash } from "node:crypto";
import { parseAllDocuments } from "yaml";
import { invalid } from "../common/errors.js";
import { HEALTH_ON_FAILURE_LABEL } from "../containers/index.js";
import type { CreateBody, HealthConfig, HostConfig, Mount } from "../docker/index.js";
import type { PodPortMapping, PodSpec } from "../pods/index.js";
import { milliCpu, milliCpuToShares, parseQuantity } from "./quantity.js";

type Json = Record<string, unknown>;

/** The labels kube play puts on what it makes: how a re-play and kube down find it. */
export const KUBE_LABEL = {
  /** The object's namespace ("default" when the file gives none). */
  namespace: "io.cove.kube.namespace",
  /** The workload that owns a pod: Kind/name (Pod/web, Deployment/web...). */
  owner: "io.cove.kube.owner",
  /** The hash of the pod's configuration: a re-play keeps the pods whose hash is unchanged. */
  hash: "io.cove.kube.hash",
  /** The replica's index within its workload. */
  replica: "io.cove.kube.replica",
  /** The pod a container or per-pod volume belongs to. */
  pod: "io.cove.kube.pod",
  /** A container's name in the YAML. */
  container: "io.cove.kube.container",
  /** "true" on init containers. */
  init: "io.cove.kube.init",
  /** A container's readiness probe, as JSON (the command run by `kube play --wait`). */
  readiness: "io.cove.kube.readiness",
  /** On a volume: pvc (a claim's, kept unless kube down --force) or pod (a pod's own: emptyDir, configMap, secret). */
  volume: "io.cove.kube.volume",
  /** On the network kube play created. */
  network: "io.cove.kube.network",
} as const;

/** The network kube play puts pods on unless told otherwise (podman's podman-default-kube-network). */
export const DEFAULT_KUBE_NETWORK = "cove-kube";

export interface PlayOptions {
  /** The network the pods join (default cove-kube). */
  network?: string;
}

/** A file put into a configMap or secret volume. */
export interface PlannedFile {
  path: string;
  mode: number;
  data: Buffer;
}

export interface PlannedVolume {
  name: string;
  /** pvc: a claim's named volume (shared, kept by kube down without --force); pod: one pod's own. */
  scope: "pvc" | "pod";
  labels: Record<string, string>;
  driverOpts?: Record<string, string>;
  /** What a configMap or secret volume holds, written before the pod's containers start. */
  files?: PlannedFile[];
}

/** A hostPath volume's path and type, checked (or created) on the host before anything is made. */
export interface HostPathCheck {
  path: string;
  type: string;
  field: string;
}

export interface PlannedContainer {
  /** The container's name in cove: <pod>-<name>. */
  name: string;
  /** Its name in the YAML. */
  kubeName: string;
  init: boolean;
  body: CreateBody;
  /** The readiness probe's test (Docker's healthcheck Test form), run by kube play --wait. */
  readiness?: { test: string[]; periodMs: number };
  /** Env values (NAME=) waiting for the pod's IP (fieldRef status.podIP), set once the pod's network is up. */
  podIpEnv: string[];
}

export interface PlannedPod {
  name: string;
  namespace: string;
  /** Kind/name of the workload. */
  owner: string;
  replica: number;
  hash: string;
  spec: PodSpec;
  init: PlannedContainer[];
  containers: PlannedContainer[];
  /** Volumes of this pod alone (emptyDir, configMap, secret), made with it and removed with it. */
  volumes: PlannedVolume[];
  /** Named volumes of claims the pod mounts. */
  claims: string[];
  hostPaths: HostPathCheck[];
  images: string[];
  /** Whether the pod publishes fixed host ports (its replacement cannot start beside it). */
  fixedPorts: boolean;
}

export interface JobSettings {
  completions: number;
  parallelism: number;
  backoffLimit: number;
  /** The pod's restartPolicy: OnFailure retries in the pod (the container's restart policy), Never with new pods. */
  restartPolicy: "OnFailure" | "Never";
}

export interface PlannedWorkload {
  kind: string;
  name: string;
  namespace: string;
  /** Kind/name, the owner label's value. */
  owner: string;
  /** The pods wanted, in replica order (a Job's: one template, run as its settings say). */
  pods: PlannedPod[];
  /** rolling: new pod up before an old goes (Deployment, ReplicaSet, DaemonSet); ordered: replaced in place, highest first (StatefulSet, Pod). */
  update: "rolling" | "ordered" | "job";
  job?: JobSettings;
}

export interface Plan {
  network: string;
  workloads: PlannedWorkload[];
  /** Named volumes of PersistentVolumeClaims (those of the file and those pods claim without one). */
  volumes: PlannedVolume[];
  /** CronJobs recorded, not scheduled. */
  cronJobs: string[];
  namespaces: string[];
  warnings: string[];
}

// ------------------------------------------------------------------ helpers

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const goMap = (m: Record<string, string>) => `map[string]string{${Object.entries(m).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(", ")}}`;

/** Errors and warnings of one object, each prefixed with the object. */
class Report {
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

function str(r: Report, v: unknown, field: string, required = false): string | undefined {
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

function int(r: Report, v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    r.error(field, `Invalid value: ${JSON.stringify(v)}: must be a whole number${max < Number.MAX_SAFE_INTEGER ? ` between ${min} and ${max}, inclusive` : ` of ${min} or more`}`);
    return undefined;
  }
  return v;
}

function bool(r: Report, v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") {
    r.error(field, `Invalid value: ${JSON.stringify(v)}: must be true or false`);
    return undefined;
  }
  return v;
}

function strList(r: Report, v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    r.error(field, "Invalid value: must be a list of strings");
    return undefined;
  }
  return v as string[];
}

function list(r: Report, v: unknown, field: string): Json[] {
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

function obj(r: Report, v: unknown, field: string): Json | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) {
    r.error(field, "Invalid value: must be an object");
    return undefined;
  }
  return v;
}

function stringMap(r: Report, v: unknown, field: string, labels: boolean): Record<string, string> {
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

function sha(v: unknown): string {
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

function checkSelector(r: Report, v: unknown, field: string): LabelSelector | undefined {
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

interface KubeObject {
  kind: string;
  apiVersion: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  raw: Json;
  report: Report;
}

const API_VERSIONS: Record<string, string[]> = {
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
function objectsOf(text: string, errors: string[]): KubeObject[] {
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

interface DataSource {
  kind: "ConfigMap" | "Secret";
  data: Map<string, Buffer>;
}

function dataOf(o: KubeObject): DataSource {
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

// ------------------------------------------------------------------ pods

interface PodContext {
  /** ConfigMaps and Secrets of the file, by "Kind/namespace/name". */
  sources: Map<string, DataSource>;
  /** Claims of the file by "namespace/name", their volume's name. */
  claims: Map<string, PlannedVolume>;
  /** Claims used without an object in the file: made on first use. */
  implicitClaims: Map<string, PlannedVolume>;
  network: string;
}

/** A non-default namespace prefixes the names of what it makes, so that namespaces do not clash. */
const nsName = (namespace: string, name: string) => (namespace === "default" ? name : `${namespace}-${name}`);

interface TemplateInput {
  r: Report;
  /** The path of the pod's spec in the object ("spec" for a Pod, "spec.template.spec" for the others). */
  at: string;
  spec: Json;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  namespace: string;
  owner: string;
  /** Volumes of the StatefulSet's claim templates: name → the volume of a replica. */
  claimTemplates?: Map<string, (replica: number) => PlannedVolume>;
}

/** A probe as a healthcheck Test, or undefined (and an error) when it cannot be one. */
function probeTest(r: Report, p: Json, at: string, ports: Map<string, number>): string[] | undefined {
  const handlers = ["exec", "httpGet", "tcpSocket", "grpc"].filter((k) => p[k] !== undefined);
  if (handlers.length !== 1) {
    r.error(at, handlers.length ? `Forbidden: may not specify more than 1 handler type` : "Required value: must specify a handler type");
    return undefined;
  }
  const port = (v: unknown, field: string): number | undefined => {
    if (typeof v === "string" && !/^\d+$/.test(v)) {
      const n = ports.get(v);
      if (n === undefined) r.error(field, `Invalid value: ${JSON.stringify(v)}: no container port of this name`);
      return n;
    }
    return int(r, typeof v === "string" ? Number(v) : v, field, 1, 65535);
  };
  if (p.exec !== undefined) {
    const cmd = strList(r, obj(r, p.exec, `${at}.exec`)?.command, `${at}.exec.command`);
    if (!cmd?.length) {
      r.error(`${at}.exec.command`, "Required value");
      return undefined;
    }
    return ["CMD", ...cmd];
  }
  if (p.httpGet !== undefined) {
    const h = obj(r, p.httpGet, `${at}.httpGet`) ?? {};
    r.unknown(h, `${at}.httpGet`, ["path", "port", "host", "scheme", "httpHeaders"]);
    const n = port(h.port, `${at}.httpGet.port`);
    const scheme = (str(r, h.scheme, `${at}.httpGet.scheme`) ?? "HTTP").toLowerCase();
    if (scheme !== "http" && scheme !== "https") r.error(`${at}.httpGet.scheme`, `Unsupported value: ${JSON.stringify(h.scheme)}: supported values: "HTTP", "HTTPS"`);
    const host = str(r, h.host, `${at}.httpGet.host`) ?? "127.0.0.1";
    let path = str(r, h.path, `${at}.httpGet.path`) ?? "/";
    if (!path.startsWith("/")) path = `/${path}`;
    if (n === undefined) return undefined;
    const url = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${n}${path}`.replace(/'/g, "'\\''");
    const headers = list(r, h.httpHeaders, `${at}.httpGet.httpHeaders`).map((x) => `${String(x.name)}: ${String(x.value)}`.replace(/'/g, "'\\''"));
    const wgetH = headers.map((x) => ` --header '${x}'`).join("");
    const curlH = headers.map((x) => ` -H '${x}'`).join("");
    // the kubelet's GET from outside; inside the pod, with the image's wget or curl (as podman does)
    return ["CMD-SHELL", `wget -q${wgetH} -O /dev/null '${url}' || curl -fsS${curlH} -o /dev/null '${url}'`];
  }
  if (p.tcpSocket !== undefined) {
    const t = obj(r, p.tcpSocket, `${at}.tcpSocket`) ?? {};
    const n = port(t.port, `${at}.tcpSocket.port`);
    const host = str(r, t.host, `${at}.tcpSocket.host`) ?? "127.0.0.1";
    if (n === undefined) return undefined;
    return ["CMD-SHELL", `nc -z -w 1 ${host} ${n} </dev/null || nc -w 1 ${host} ${n} </dev/null`];
  }
  r.error(`${at}.grpc`, "Unsupported value: gRPC probes are not supported by cove kube play: use exec, httpGet or tcpSocket");
  return undefined;
}

interface ProbeTiming {
  interval: number;
  timeout: number;
  retries: number;
  initialDelay: number;
}

function probeTiming(r: Report, p: Json, at: string): ProbeTiming {
  r.unknown(p, at, ["exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"], ["terminationGracePeriodSeconds"]);
  return {
    interval: int(r, p.periodSeconds, `${at}.periodSeconds`, 1) ?? 10,
    timeout: int(r, p.timeoutSeconds, `${at}.timeoutSeconds`, 1) ?? 1,
    retries: int(r, p.failureThreshold, `${at}.failureThreshold`, 1) ?? 3,
    initialDelay: int(r, p.initialDelaySeconds, `${at}.initialDelaySeconds`, 0) ?? 0,
  };
}

const NS = 1e9;

const CONTAINER_FIELDS = ["name", "image", "command", "args", "workingDir", "env", "envFrom", "ports", "volumeMounts", "resources", "securityContext", "livenessProbe", "readinessProbe", "startupProbe", "imagePullPolicy", "tty", "stdin", "stdinOnce"];
const CONTAINER_QUIET = ["terminationMessagePath", "terminationMessagePolicy"];
const POD_FIELDS = [
  "containers",
  "initContainers",
  "volumes",
  "restartPolicy",
  "hostNetwork",
  "hostname",
  "dnsConfig",
  "dnsPolicy",
  "securityContext",
  "hostAliases",
  "hostPID",
  "hostIPC",
  "shareProcessNamespace",
  "terminationGracePeriodSeconds",
];
const POD_QUIET = ["enableServiceLinks", "schedulerName", "serviceAccount", "serviceAccountName", "automountServiceAccountToken"];

interface VolumeDef {
  field: string;
  /** How a container mounts it. */
  mount(target: string, readOnly: boolean, replica: number): Mount;
  /** The pod's own volume (emptyDir, configMap, secret), made for each replica. */
  own?: (pod: string) => PlannedVolume;
  claim?: (replica: number) => string;
}

/** The pod plan of a template, for one replica. Errors go to the template's report (once, for replica 0). */
function planPod(t: TemplateInput, ctx: PodContext, podName: string, replica: number, report: Report): PlannedPod {
  const r = report;
  const at = t.at;
  const spec = t.spec;
  if (replica === 0) r.unknown(spec, at, POD_FIELDS, POD_QUIET);
  const restartPolicy = str(r, spec.restartPolicy, `${at}.restartPolicy`) ?? "Always";
  if (!["Always", "OnFailure", "Never"].includes(restartPolicy)) r.error(`${at}.restartPolicy`, `Unsupported value: ${JSON.stringify(restartPolicy)}: supported values: "Always", "OnFailure", "Never"`);
  const hostNetwork = bool(r, spec.hostNetwork, `${at}.hostNetwork`) ?? false;
  const hostnameGiven = str(r, spec.hostname, `${at}.hostname`);
  if (hostnameGiven && !DNS_LABEL.test(hostnameGiven)) r.error(`${at}.hostname`, `Invalid value: ${JSON.stringify(hostnameGiven)}: a lowercase RFC 1123 label`);
  const podSec = obj(r, spec.securityContext, `${at}.securityContext`) ?? {};
  if (replica === 0) r.unknown(podSec, `${at}.securityContext`, ["runAsUser", "runAsGroup", "runAsNonRoot", "supplementalGroups", "sysctls", "seccompProfile"], ["fsGroup", "fsGroupChangePolicy"]);
  const labels: Record<string, string> = {
    ...t.labels,
    [KUBE_LABEL.namespace]: t.namespace,
    [KUBE_LABEL.owner]: t.owner,
    [KUBE_LABEL.replica]: String(replica),
  };
  const podSpec: PodSpec = { name: podName, labels, annotations: { ...t.annotations } };
  podSpec.hostname = hostnameGiven ?? (podName.length <= 63 ? podName : podName.slice(0, 63).replace(/[-.]+$/, ""));
  if (hostNetwork) podSpec.netns = { nsmode: "host" };
  if (bool(r, spec.hostPID, `${at}.hostPID`)) podSpec.pidns = { nsmode: "host" };
  if (bool(r, spec.hostIPC, `${at}.hostIPC`)) podSpec.ipcns = { nsmode: "host" };
  if (bool(r, spec.shareProcessNamespace, `${at}.shareProcessNamespace`)) podSpec.shared_namespaces = ["net", "ipc", "uts", "pid"];
  const dns = obj(r, spec.dnsConfig, `${at}.dnsConfig`);
  if (dns) {
    r.unknown(dns, `${at}.dnsConfig`, ["nameservers", "searches", "options"]);
    const ns = strList(r, dns.nameservers, `${at}.dnsConfig.nameservers`);
    if (ns?.length) podSpec.dns_server = ns;
    const search = strList(r, dns.searches, `${at}.dnsConfig.searches`);
    if (search?.length) podSpec.dns_search = search;
    const opts = list(r, dns.options, `${at}.dnsConfig.options`).map((o) => (o.value === undefined ? String(o.name) : `${String(o.name)}:${String(o.value)}`));
    if (opts.length) podSpec.dns_option = opts;
  }
  const dnsPolicy = str(r, spec.dnsPolicy, `${at}.dnsPolicy`);
  if (dnsPolicy && !["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"].includes(dnsPolicy)) r.error(`${at}.dnsPolicy`, `Unsupported value: ${JSON.stringify(dnsPolicy)}: supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"`);
  if (dnsPolicy === "None" && !dns) r.error(`${at}.dnsConfig`, "Required value: must provide `dnsConfig` when `dnsPolicy` is None");
  const hostAdd: string[] = [];
  list(r, spec.hostAliases, `${at}.hostAliases`).forEach((h, i) => {
    const ip = str(r, h.ip, `${at}.hostAliases[${i}].ip`, true);
    for (const n of strList(r, h.hostnames, `${at}.hostAliases[${i}].hostnames`) ?? []) if (ip) hostAdd.push(`${n}:${ip}`);
  });
  if (hostAdd.length) podSpec.hostadd = hostAdd;
  const sysctls = list(r, podSec.sysctls, `${at}.securityContext.sysctls`);
  if (sysctls.length) podSpec.sysctl = Object.fromEntries(sysctls.map((s) => [String(s.name), String(s.value)]));
  if (!hostNetwork) podSpec.Networks = { [ctx.network]: { aliases: [] } };
  const stopTimeout = int(r, spec.terminationGracePeriodSeconds, `${at}.terminationGracePeriodSeconds`, 0);

  // volumes
  const volumes = new Map<string, VolumeDef>();
  const own: PlannedVolume[] = [];
  const claims = new Set<string>();
  const hostPaths: HostPathCheck[] = [];
  list(r, spec.volumes, `${at}.volumes`).forEach((v, i) => {
    const vat = `${at}.volumes[${i}]`;
    const name = str(r, v.name, `${vat}.name`, true);
    if (!name) return;
    if (!DNS_LABEL.test(name)) r.error(`${vat}.name`, `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 label`);
    if (volumes.has(name)) r.error(`${vat}.name`, `Duplicate value: ${JSON.stringify(name)}`);
    const sources = Object.keys(v).filter((k) => k !== "name");
    if (sources.length !== 1) {
      r.error(vat, sources.length ? "Forbidden: may not specify more than 1 volume type" : "Required value: must specify a volume type");
      return;
    }
    const src = sources[0]!;
    const o = obj(r, v[src], `${vat}.${src}`) ?? {};
    const ownName = (pod: string) => `${pod}-${name}`;
    const ownLabels = (pod: string) => ({ [KUBE_LABEL.namespace]: t.namespace, [KUBE_LABEL.owner]: t.owner, [KUBE_LABEL.pod]: pod, [KUBE_LABEL.volume]: "pod" });
    if (src === "hostPath") {
      if (replica === 0) r.unknown(o, `${vat}.hostPath`, ["path", "type"]);
      const p = str(r, o.path, `${vat}.hostPath.path`, true) ?? "";
      if (p && !p.startsWith("/")) r.error(`${vat}.hostPath.path`, `Invalid value: ${JSON.stringify(p)}: must be an absolute path`);
      const type = str(r, o.type, `${vat}.hostPath.type`) ?? "";
      const TYPES = ["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"];
      if (!TYPES.includes(type)) r.error(`${vat}.hostPath.type`, `Unsupported value: ${JSON.stringify(type)}: supported values: ${TYPES.slice(1).map((x) => JSON.stringify(x)).join(", ")}`);
      hostPaths.push({ path: p, type, field: `${vat}.hostPath` });
      volumes.set(name, { field: vat, mount: (target, ro) => ({ Type: "bind", Source: p, Target: target, ReadOnly: ro }) });
    } else if (src === "emptyDir") {
      if (replica === 0) r.unknown(o, `${vat}.emptyDir`, ["medium", "sizeLimit"]);
      const medium = str(r, o.medium, `${vat}.emptyDir.medium`) ?? "";
      if (medium !== "" && medium !== "Memory") r.error(`${vat}.emptyDir.medium`, `Unsupported value: ${JSON.stringify(medium)}: supported values: "", "Memory"`);
      const size = o.sizeLimit === undefined ? undefined : parseQuantity(o.sizeLimit);
      if (o.sizeLimit !== undefined && size === undefined) r.error(`${vat}.emptyDir.sizeLimit`, `Invalid value: ${JSON.stringify(o.sizeLimit)}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
      else if (size !== undefined && medium !== "Memory" && replica === 0) r.warn(`${vat}.emptyDir.sizeLimit`, "enforced only for medium Memory (a tmpfs): ignored");
      const driverOpts = medium === "Memory" ? { type: "tmpfs", device: "tmpfs", ...(size ? { o: `size=${Math.ceil(size)}` } : {}) } : undefined;
      volumes.set(name, {
        field: vat,
        mount: (target, ro) => ({ Type: "volume", Source: ownName(podName), Target: target, ReadOnly: ro }),
        own: (pod) => ({ name: ownName(pod), scope: "pod", labels: ownLabels(pod), ...(driverOpts ? { driverOpts } : {}) }),
      });
    } else if (src === "configMap" || src === "secret") {
      const kind = src === "configMap" ? "ConfigMap" : "Secret";
      if (replica === 0) r.unknown(o, `${vat}.${src}`, [src === "configMap" ? "name" : "secretName", "items", "defaultMode", "optional"]);
      const ref = str(r, src === "configMap" ? o.name : o.secretName, `${vat}.${src}.${src === "configMap" ? "name" : "secretName"}`, true) ?? "";
      const optional = bool(r, o.optional, `${vat}.${src}.optional`) ?? false;
      const defaultMode = int(r, o.defaultMode, `${vat}.${src}.defaultMode`, 0, 0o777) ?? 0o644;
      const source = ctx.sources.get(`${kind}/${t.namespace}/${ref}`);
      if (!source && ref && !optional) r.error(`${vat}.${src}`, `Not found: ${kind} ${JSON.stringify(ref)} in namespace ${t.namespace}: the file defines no such ${kind}`);
      const files: PlannedFile[] = [];
      const items = list(r, o.items, `${vat}.${src}.items`);
      if (items.length) {
        items.forEach((it, j) => {
          const iat = `${vat}.${src}.items[${j}]`;
          const key = str(r, it.key, `${iat}.key`, true) ?? "";
          const path = str(r, it.path, `${iat}.path`, true) ?? "";
          if (path && (path.startsWith("/") || path.split("/").includes(".."))) r.error(`${iat}.path`, `Invalid value: ${JSON.stringify(path)}: must be a relative path without '..'`);
          const mode = int(r, it.mode, `${iat}.mode`, 0, 0o777) ?? defaultMode;
          const data = source?.data.get(key);
          if (source && data === undefined && !optional) r.error(`${iat}.key`, `Not found: ${JSON.stringify(key)}: ${kind} ${ref} has no such key`);
          if (data !== undefined && path) files.push({ path, mode, data });
        });
      } else for (const [k, data] of source?.data ?? []) files.push({ path: k, mode: defaultMode, data });
      volumes.set(name, {
        field: vat,
        // read-only, as the kubelet mounts them
        mount: (target) => ({ Type: "volume", Source: ownName(podName), Target: target, ReadOnly: true }),
        own: (pod) => ({ name: ownName(pod), scope: "pod", labels: ownLabels(pod), files }),
      });
    } else if (src === "persistentVolumeClaim") {
      if (replica === 0) r.unknown(o, `${vat}.persistentVolumeClaim`, ["claimName", "readOnly"]);
      const claim = str(r, o.claimName, `${vat}.persistentVolumeClaim.claimName`, true) ?? "";
      const ro = bool(r, o.readOnly, `${vat}.persistentVolumeClaim.readOnly`) ?? false;
      const key = `${t.namespace}/${claim}`;
      let vol = ctx.claims.get(key);
      if (!vol && claim) {
        vol = ctx.implicitClaims.get(key) ?? { name: nsName(t.namespace, claim), scope: "pvc", labels: { [KUBE_LABEL.namespace]: t.namespace, [KUBE_LABEL.volume]: "pvc", "io.cove.kube.claim": claim } };
        ctx.implicitClaims.set(key, vol);
      }
      const volName = vol?.name ?? "";
      volumes.set(name, { field: vat, mount: (target, mro) => ({ Type: "volume", Source: volName, Target: target, ReadOnly: ro || mro }), claim: () => volName });
    } else {
      r.error(`${vat}.${src}`, `Unsupported value: volumes of type ${src} are not supported by cove kube play: use hostPath, emptyDir, configMap, secret or persistentVolumeClaim`);
    }
  });
  for (const [name, make] of t.claimTemplates ?? []) {
    if (volumes.has(name)) continue;
    volumes.set(name, { field: `spec.volumeClaimTemplates`, mount: (target, ro, rep) => ({ Type: "volume", Source: make(rep).name, Target: target, ReadOnly: ro }), claim: (rep) => make(rep).name });
  }

  // containers
  const containerNames = new Set<string>();
  const hostPorts = new Set<string>();
  const portmappings: PodPortMapping[] = [];
  const images = new Set<string>();
  const usedVolumes = new Set<string>();
  const containerOf = (c: Json, i: number, init: boolean): PlannedContainer => {
    const cat = `${at}.${init ? "initContainers" : "containers"}[${i}]`;
    if (replica === 0) r.unknown(c, cat, CONTAINER_FIELDS, CONTAINER_QUIET);
    const kubeName = str(r, c.name, `${cat}.name`, true) ?? `container-${i}`;
    if (c.name && !DNS_LABEL.test(kubeName)) r.error(`${cat}.name`, `Invalid value: ${JSON.stringify(kubeName)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`);
    if (containerNames.has(kubeName)) r.error(`${cat}.name`, `Duplicate value: ${JSON.stringify(kubeName)}`);
    containerNames.add(kubeName);
    const image = str(r, c.image, `${cat}.image`, true) ?? "";
    if (image) images.add(image);
    const pull = str(r, c.imagePullPolicy, `${cat}.imagePullPolicy`);
    if (pull && !["Always", "IfNotPresent", "Never"].includes(pull)) r.error(`${cat}.imagePullPolicy`, `Unsupported value: ${JSON.stringify(pull)}: supported values: "Always", "IfNotPresent", "Never"`);

    // environment: envFrom first, then env (env wins), as the kubelet builds it
    const vars = new Map<string, string>();
    const podIpEnv: string[] = [];
    list(r, c.envFrom, `${cat}.envFrom`).forEach((e, j) => {
      const eat = `${cat}.envFrom[${j}]`;
      const prefix = str(r, e.prefix, `${eat}.prefix`) ?? "";
      const kinds = (["configMapRef", "secretRef"] as const).filter((k) => e[k] !== undefined);
      if (kinds.length !== 1) {
        r.error(eat, "Invalid value: must specify one of: `configMapRef` or `secretRef`");
        return;
      }
      const k = kinds[0]!;
      const ref = obj(r, e[k], `${eat}.${k}`) ?? {};
      const name = str(r, ref.name, `${eat}.${k}.name`, true) ?? "";
      const kind = k === "configMapRef" ? "ConfigMap" : "Secret";
      const source = ctx.sources.get(`${kind}/${t.namespace}/${name}`);
      if (!source) {
        if (name && !bool(r, ref.optional, `${eat}.${k}.optional`)) r.error(`${eat}.${k}`, `Not found: ${kind} ${JSON.stringify(name)} in namespace ${t.namespace}: the file defines no such ${kind}`);
        return;
      }
      for (const [key, data] of source.data) {
        // keys that are not valid variable names are skipped, as the kubelet does
        if (ENV_NAME.test(prefix + key)) vars.set(prefix + key, data.toString());
      }
    });
    list(r, c.env, `${cat}.env`).forEach((e, j) => {
      const eat = `${cat}.env[${j}]`;
      const name = str(r, e.name, `${eat}.name`, true) ?? "";
      if (name && !ENV_NAME.test(name)) r.error(`${eat}.name`, `Invalid value: ${JSON.stringify(name)}: a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit`);
      if (e.value !== undefined && e.valueFrom !== undefined) r.error(`${eat}.valueFrom`, "Invalid value: may not be specified when `value` is not empty");
      if (e.valueFrom === undefined) {
        const v = e.value === undefined || e.value === null ? "" : typeof e.value === "string" ? e.value : (r.error(`${eat}.value`, `Invalid value: ${JSON.stringify(e.value)}: must be a string`), "");
        vars.delete(name);
        vars.set(name, expandVars(v, vars));
        return;
      }
      const from = obj(r, e.valueFrom, `${eat}.valueFrom`) ?? {};
      const kinds = ["configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef"].filter((k) => from[k] !== undefined);
      if (kinds.length !== 1) {
        r.error(`${eat}.valueFrom`, "Invalid value: must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`");
        return;
      }
      const k = kinds[0]!;
      const ref = obj(r, from[k], `${eat}.valueFrom.${k}`) ?? {};
      if (k === "configMapKeyRef" || k === "secretKeyRef") {
        const kind = k === "configMapKeyRef" ? "ConfigMap" : "Secret";
        const src = str(r, ref.name, `${eat}.valueFrom.${k}.name`, true) ?? "";
        const key = str(r, ref.key, `${eat}.valueFrom.${k}.key`, true) ?? "";
        const optional = bool(r, ref.optional, `${eat}.valueFrom.${k}.optional`) ?? false;
        const source = ctx.sources.get(`${kind}/${t.namespace}/${src}`);
        const data = source?.data.get(key);
        if (data === undefined) {
          if (!optional && src && key) r.error(`${eat}.valueFrom.${k}`, source ? `Not found: ${kind} ${src} has no key ${JSON.stringify(key)}` : `Not found: ${kind} ${JSON.stringify(src)} in namespace ${t.namespace}: the file defines no such ${kind}`);
          return;
        }
        vars.delete(name);
        vars.set(name, data.toString());
      } else if (k === "fieldRef") {
        const path = str(r, ref.fieldPath, `${eat}.valueFrom.fieldRef.fieldPath`, true) ?? "";
        const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
        let value: string | undefined;
        if (path === "metadata.name") value = podName;
        else if (path === "metadata.namespace") value = t.namespace;
        else if (m) value = (m[1] === "labels" ? t.labels : t.annotations)[m[2]!] ?? "";
        else if (path === "spec.nodeName") value = "localhost";
        else if (path === "status.podIP" || path === "status.podIPs") {
          if (hostNetwork) r.error(`${eat}.valueFrom.fieldRef.fieldPath`, "Unsupported value: status.podIP of a pod on the host's network: the host has many addresses");
          podIpEnv.push(name);
          value = "";
        } else if (path) r.error(`${eat}.valueFrom.fieldRef.fieldPath`, `Unsupported value: ${JSON.stringify(path)}: supported values: "metadata.name", "metadata.namespace", "metadata.labels['KEY']", "metadata.annotations['KEY']", "spec.nodeName", "status.podIP"`);
        if (value !== undefined) {
          vars.delete(name);
          vars.set(name, value);
        }
      } else r.error(`${eat}.valueFrom.resourceFieldRef`, "Unsupported value: resourceFieldRef is not supported by cove kube play");
    });
    const command = strList(r, c.command, `${cat}.command`);
    const args = strList(r, c.args, `${cat}.args`);
    const body: CreateBody = { Image: image };
    // command replaces the image's entrypoint (and drops its cmd unless args are given); args replace the cmd
    if (command) {
      body.Entrypoint = command.map((x) => expandVars(x, vars));
      body.Cmd = args ? args.map((x) => expandVars(x, vars)) : [];
    } else if (args) body.Cmd = args.map((x) => expandVars(x, vars));
    const wd = str(r, c.workingDir, `${cat}.workingDir`);
    if (wd) body.WorkingDir = wd;
    if (vars.size) body.Env = [...vars].map(([k, v]) => `${k}=${v}`);
    if (bool(r, c.tty, `${cat}.tty`)) body.Tty = true;
    if (bool(r, c.stdin, `${cat}.stdin`)) body.OpenStdin = true;
    if (bool(r, c.stdinOnce, `${cat}.stdinOnce`)) body.StdinOnce = true;
    if (stopTimeout !== undefined) body.StopTimeout = stopTimeout;
    const hc: HostConfig = {};

    // ports: those with a hostPort are published on the pod
    const named = new Map<string, number>();
    list(r, c.ports, `${cat}.ports`).forEach((p, j) => {
      const pat = `${cat}.ports[${j}]`;
      if (replica === 0) r.unknown(p, pat, ["containerPort", "hostPort", "hostIP", "protocol", "name"]);
      const cp = int(r, p.containerPort, `${pat}.containerPort`, 1, 65535);
      if (p.containerPort === undefined) r.error(`${pat}.containerPort`, "Required value");
      const hp = int(r, p.hostPort, `${pat}.hostPort`, 0, 65535);
      const proto = str(r, p.protocol, `${pat}.protocol`) ?? "TCP";
      if (!["TCP", "UDP", "SCTP"].includes(proto)) r.error(`${pat}.protocol`, `Unsupported value: ${JSON.stringify(proto)}: supported values: "SCTP", "TCP", "UDP"`);
      const pname = str(r, p.name, `${pat}.name`);
      if (pname && cp) named.set(pname, cp);
      const hostIP = str(r, p.hostIP, `${pat}.hostIP`);
      if (cp && hp) {
        const key = `${hostIP ?? ""}:${hp}/${proto}`;
        if (hostPorts.has(key)) r.error(`${pat}.hostPort`, `Duplicate value: "${hp}/${proto}"`);
        hostPorts.add(key);
        if (!hostNetwork) portmappings.push({ container_port: cp, host_port: hp, protocol: proto.toLowerCase(), ...(hostIP ? { host_ip: hostIP } : {}) });
      }
    });

    // mounts
    const mounts: Mount[] = [];
    const targets = new Set<string>();
    list(r, c.volumeMounts, `${cat}.volumeMounts`).forEach((m, j) => {
      const mat = `${cat}.volumeMounts[${j}]`;
      if (replica === 0) r.unknown(m, mat, ["name", "mountPath", "readOnly"], ["mountPropagation"]);
      if (m.subPath !== undefined || m.subPathExpr !== undefined) r.error(`${mat}.subPath`, "Unsupported value: subPath mounts are not supported by cove kube play: mount the whole volume");
      const name = str(r, m.name, `${mat}.name`, true) ?? "";
      const target = str(r, m.mountPath, `${mat}.mountPath`, true) ?? "";
      if (target && !target.startsWith("/")) r.error(`${mat}.mountPath`, `Invalid value: ${JSON.stringify(target)}: must be an absolute path`);
      if (targets.has(target)) r.error(`${mat}.mountPath`, `Invalid value: ${JSON.stringify(target)}: must be unique`);
      targets.add(target);
      const def = volumes.get(name);
      if (!def) {
        if (name) r.error(`${mat}.name`, `Not found: ${JSON.stringify(name)}: the pod has no volume of this name`);
        return;
      }
      usedVolumes.add(name);
      mounts.push(def.mount(target, bool(r, m.readOnly, `${mat}.readOnly`) ?? false, replica));
    });
    if (mounts.length) hc.Mounts = mounts;

    // resources
    const res = obj(r, c.resources, `${cat}.resources`) ?? {};
    if (replica === 0) r.unknown(res, `${cat}.resources`, ["limits", "requests"]);
    const limits = obj(r, res.limits, `${cat}.resources.limits`) ?? {};
    const requests = obj(r, res.requests, `${cat}.resources.requests`) ?? {};
    const quantity = (o: Json, k: string, f: string, cpu: boolean): number | undefined => {
      if (o[k] === undefined) return undefined;
      const q = cpu ? milliCpu(o[k]) : parseQuantity(o[k]);
      if (q === undefined || q < 0) r.error(`${f}.${k}`, `Invalid value: ${JSON.stringify(o[k])}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
      return q;
    };
    for (const [o, f] of [
      [limits, `${cat}.resources.limits`],
      [requests, `${cat}.resources.requests`],
    ] as const)
      for (const k of Object.keys(o)) if (k !== "cpu" && k !== "memory" && replica === 0) r.warn(`${f}.${k}`, "only cpu and memory are enforced by cove: ignored");
    const limCpu = quantity(limits, "cpu", `${cat}.resources.limits`, true);
    const limMem = quantity(limits, "memory", `${cat}.resources.limits`, false);
    const reqCpu = quantity(requests, "cpu", `${cat}.resources.requests`, true);
    const reqMem = quantity(requests, "memory", `${cat}.resources.requests`, false);
    if (limCpu !== undefined && reqCpu !== undefined && reqCpu > limCpu) r.error(`${cat}.resources.requests`, `Invalid value: ${JSON.stringify(requests.cpu)}: must be less than or equal to cpu limit of ${String(limits.cpu)}`);
    if (limMem !== undefined && reqMem !== undefined && reqMem > limMem) r.error(`${cat}.resources.requests`, `Invalid value: ${JSON.stringify(requests.memory)}: must be less than or equal to memory limit of ${String(limits.memory)}`);
    if (limCpu) hc.NanoCpus = limCpu * 1e6;
    if (limMem) hc.Memory = Math.ceil(limMem);
    // a request without a limit asks for that much (the kubelet's shares); a limit alone requests it
    const shares = reqCpu ?? limCpu;
    if (shares) hc.CpuShares = milliCpuToShares(shares);
    if (reqMem && reqMem !== limMem) hc.MemoryReservation = Math.ceil(reqMem);

    // security
    const sec = obj(r, c.securityContext, `${cat}.securityContext`) ?? {};
    if (replica === 0) r.unknown(sec, `${cat}.securityContext`, ["runAsUser", "runAsGroup", "runAsNonRoot", "privileged", "capabilities", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "seccompProfile"], ["procMount"]);
    const uid = int(r, sec.runAsUser, `${cat}.securityContext.runAsUser`, 0) ?? int(r, podSec.runAsUser, `${at}.securityContext.runAsUser`, 0);
    const gid = int(r, sec.runAsGroup, `${cat}.securityContext.runAsGroup`, 0) ?? int(r, podSec.runAsGroup, `${at}.securityContext.runAsGroup`, 0);
    if (uid !== undefined) body.User = gid !== undefined ? `${uid}:${gid}` : String(uid);
    else if (gid !== undefined && replica === 0) r.warn(`${cat}.securityContext.runAsGroup`, "given without runAsUser: cove runs the image's user with its group: ignored");
    const nonRoot = bool(r, sec.runAsNonRoot, `${cat}.securityContext.runAsNonRoot`) ?? bool(r, podSec.runAsNonRoot, `${at}.securityContext.runAsNonRoot`);
    if (nonRoot && uid === 0) r.error(`${cat}.securityContext.runAsNonRoot`, "Invalid value: true: the container would run as root (runAsUser 0)");
    const groups = (Array.isArray(podSec.supplementalGroups) ? podSec.supplementalGroups : []).map(String);
    if (groups.length) hc.GroupAdd = groups;
    if (bool(r, sec.privileged, `${cat}.securityContext.privileged`)) hc.Privileged = true;
    const caps = obj(r, sec.capabilities, `${cat}.securityContext.capabilities`) ?? {};
    const add = strList(r, caps.add, `${cat}.securityContext.capabilities.add`);
    const drop = strList(r, caps.drop, `${cat}.securityContext.capabilities.drop`);
    if (add?.length) hc.CapAdd = add.map((x) => x.toUpperCase());
    if (drop?.length) hc.CapDrop = drop.map((x) => x.toUpperCase());
    if (bool(r, sec.readOnlyRootFilesystem, `${cat}.securityContext.readOnlyRootFilesystem`)) hc.ReadonlyRootfs = true;
    const secOpt: string[] = [];
    if (bool(r, sec.allowPrivilegeEscalation, `${cat}.securityContext.allowPrivilegeEscalation`) === false) secOpt.push("no-new-privileges");
    const seccomp = obj(r, sec.seccompProfile ?? podSec.seccompProfile, `${cat}.securityContext.seccompProfile`);
    if (seccomp?.type === "Unconfined") secOpt.push("seccomp=unconfined");
    else if (seccomp?.type === "Localhost" && replica === 0) r.warn(`${cat}.securityContext.seccompProfile`, "Localhost profiles are not supported: the default profile applies");
    if (secOpt.length) hc.SecurityOpt = secOpt;

    // restart policy: init containers run once
    if (init) hc.RestartPolicy = { Name: "no" };
    else if (restartPolicy === "Always") hc.RestartPolicy = { Name: "always" };
    else if (restartPolicy === "OnFailure") hc.RestartPolicy = { Name: "on-failure" };
    else hc.RestartPolicy = { Name: "no" };
    body.HostConfig = hc;

    // probes: liveness → the healthcheck (its failure restarts the container), startup → its start period
    const out: PlannedContainer = { name: `${podName}-${kubeName}`, kubeName, init, body, podIpEnv };
    const probes = new Map<string, { test: string[]; timing: ProbeTiming }>();
    for (const kind of ["livenessProbe", "readinessProbe", "startupProbe"] as const) {
      const p = obj(r, c[kind], `${cat}.${kind}`);
      if (!p) continue;
      if (init) {
        r.error(`${cat}.${kind}`, "Forbidden: may not be set for init containers");
        continue;
      }
      const timing = probeTiming(r, p, `${cat}.${kind}`);
      const test = probeTest(r, p, `${cat}.${kind}`, named);
      if (test) probes.set(kind, { test, timing });
    }
    const live = probes.get("livenessProbe");
    const startup = probes.get("startupProbe");
    const ready = probes.get("readinessProbe");
    const health = (p: { test: string[]; timing: ProbeTiming }, startPeriod: number): HealthConfig => ({
      Test: p.test,
      Interval: p.timing.interval * NS,
      Timeout: p.timing.timeout * NS,
      Retries: p.timing.retries,
      ...(startPeriod ? { StartPeriod: startPeriod * NS, StartInterval: Math.min(p.timing.interval, 1) * NS } : {}),
    });
    const labelsOut: Record<string, string> = { ...t.labels, ...t.annotations, [KUBE_LABEL.namespace]: t.namespace, [KUBE_LABEL.owner]: t.owner, [KUBE_LABEL.pod]: podName, [KUBE_LABEL.container]: kubeName };
    if (init) labelsOut[KUBE_LABEL.init] = "true";
    if (live) {
      // the startup probe's budget: liveness failures do not count until it has passed or run out
      const gate = startup ? startup.timing.initialDelay + startup.timing.interval * startup.timing.retries : 0;
      body.Healthcheck = health(live, live.timing.initialDelay + gate);
      labelsOut[HEALTH_ON_FAILURE_LABEL] = "restart";
    } else if (startup && replica === 0) r.warn(`${cat}.startupProbe`, "without a livenessProbe there is nothing for it to gate: ignored");
    if (ready) {
      out.readiness = { test: ready.test, periodMs: ready.timing.interval * 1000 };
      labelsOut[KUBE_LABEL.readiness] = JSON.stringify(ready.test);
    }
    body.Labels = labelsOut;
    return out;
  };
  const containers = list(r, spec.containers, `${at}.containers`);
  if (!containers.length) r.error(`${at}.containers`, "Required value");
  const initPlans = list(r, spec.initContainers, `${at}.initContainers`).map((c, i) => containerOf(c, i, true));
  const appPlans = containers.map((c, i) => containerOf(c, i, false));
  for (const [name, def] of volumes) {
    if (!usedVolumes.has(name)) continue;
    if (def.own) own.push(def.own(podName));
    if (def.claim) claims.add(def.claim(replica));
  }
  if (portmappings.length) podSpec.portmappings = portmappings;
  return {
    name: podName,
    namespace: t.namespace,
    owner: t.owner,
    replica,
    hash: "",
    spec: podSpec,
    init: initPlans,
    containers: appPlans,
    volumes: own,
    claims: [...claims],
    hostPaths,
    images: [...images],
    fixedPorts: portmappings.some((p) => p.host_port),
  };
}

// ------------------------------------------------------------------ workloads

const WORKLOAD_KINDS = ["Pod", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "CronJob"];

/** The file's text as a plan: every object validated first, nothing half-planned. */
export function planKube(text: string, opts: PlayOptions = {}): Plan {
  const errors: string[] = [];
  const objects = objectsOf(text, errors);
  const warnings: string[] = [];
  const network = opts.network ?? DEFAULT_KUBE_NETWORK;
  const sources = new Map<string, DataSource>();
  const claims = new Map<string, PlannedVolume>();
  const namespaces = new Set<string>();
  for (const o of objects) {
    if (o.kind === "ConfigMap" || o.kind === "Secret") sources.set(`${o.kind}/${o.namespace}/${o.name}`, dataOf(o));
    if (o.kind === "Namespace") {
      o.report.unknown(o.raw, "", ["apiVersion", "kind", "metadata"], ["spec", "status"]);
      namespaces.add(o.name);
    }
    if (o.kind === "PersistentVolumeClaim") {
      const spec = obj(o.report, o.raw.spec, "spec") ?? {};
      o.report.unknown(spec, "spec", ["accessModes", "resources"], ["storageClassName", "volumeMode"]);
      const storage = isObj(spec.resources) && isObj(spec.resources.requests) ? spec.resources.requests.storage : undefined;
      if (storage !== undefined && parseQuantity(storage) === undefined) o.report.error("spec.resources.requests.storage", `Invalid value: ${JSON.stringify(storage)}: not a quantity`);
      claims.set(`${o.namespace}/${o.name}`, {
        name: nsName(o.namespace, o.name),
        scope: "pvc",
        labels: { ...o.labels, [KUBE_LABEL.namespace]: o.namespace, [KUBE_LABEL.volume]: "pvc", "io.cove.kube.claim": o.name, ...(typeof storage === "string" ? { "io.cove.kube.storage": storage } : {}) },
      });
    }
  }
  const ctx: PodContext = { sources, claims, implicitClaims: new Map(), network };
  const workloads: PlannedWorkload[] = [];
  const cronJobs: string[] = [];
  const podTemplates: { o: KubeObject; w: PlannedWorkload; labels: Record<string, string> }[] = [];
  for (const o of objects) {
    if (!WORKLOAD_KINDS.includes(o.kind)) continue;
    const r = o.report;
    const owner = `${o.kind}/${o.name}`;
    const prefix = nsName(o.namespace, o.name);
    if (o.kind === "Pod") {
      r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "spec"], ["status"]);
      const spec = obj(r, o.raw.spec, "spec");
      if (!spec) {
        r.error("spec", "Required value");
        continue;
      }
      const t: TemplateInput = { r, at: "spec", spec, labels: o.labels, annotations: o.annotations, namespace: o.namespace, owner };
      const pod = planPod(t, ctx, prefix, 0, r);
      pod.hash = sha({ t: spec, l: o.labels, a: o.annotations, ns: o.namespace, n: network, d: depsOf(pod, sources, o.namespace, spec) });
      const w: PlannedWorkload = { kind: o.kind, name: o.name, namespace: o.namespace, owner, pods: [pod], update: "ordered" };
      workloads.push(w);
      podTemplates.push({ o, w, labels: o.labels });
      continue;
    }
    const spec = obj(r, o.raw.spec, "spec");
    if (!spec) {
      r.error("spec", "Required value");
      continue;
    }
    if (o.kind === "CronJob") {
      r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "spec"], ["status"]);
      const schedule = str(r, spec.schedule, "spec.schedule", true);
      if (!obj(r, spec.jobTemplate, "spec.jobTemplate")) r.error("spec.jobTemplate", "Required value");
      if (schedule) r.warn("spec.schedule", `CronJob ${o.name} is recorded but not scheduled: cove runs no cron controller (run it as a Job, or from the host's cron with cove kube play)`);
      cronJobs.push(`${o.namespace}/${o.name}`);
      continue;
    }
    r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "spec"], ["status"]);
    const SPEC_FIELDS: Record<string, string[]> = {
      Deployment: ["replicas", "selector", "template", "strategy"],
      ReplicaSet: ["replicas", "selector", "template"],
      DaemonSet: ["selector", "template", "updateStrategy"],
      StatefulSet: ["replicas", "selector", "template", "serviceName", "volumeClaimTemplates", "podManagementPolicy", "updateStrategy"],
      Job: ["template", "completions", "parallelism", "backoffLimit", "selector", "manualSelector"],
    };
    r.unknown(spec, "spec", SPEC_FIELDS[o.kind]!, ["revisionHistoryLimit", "minReadySeconds", "progressDeadlineSeconds", "ttlSecondsAfterFinished", "activeDeadlineSeconds"]);
    const template = obj(r, spec.template, "spec.template");
    if (!template) {
      r.error("spec.template", "Required value");
      continue;
    }
    const tmeta = obj(r, template.metadata, "spec.template.metadata") ?? {};
    const tlabels = stringMap(r, tmeta.labels, "spec.template.metadata.labels", true);
    const tannotations = stringMap(r, tmeta.annotations, "spec.template.metadata.annotations", false);
    const tspec = obj(r, template.spec, "spec.template.spec");
    if (!tspec) {
      r.error("spec.template.spec", "Required value");
      continue;
    }
    // the selector: required (apps/v1), non-empty, and matching the template's labels
    if (o.kind !== "Job" || spec.selector !== undefined) {
      if (spec.selector === undefined) r.error("spec.selector", "Required value");
      else {
        const sel = checkSelector(r, spec.selector, "spec.selector");
        if (sel && !Object.keys(sel.matchLabels ?? {}).length && !sel.matchExpressions?.length) r.error("spec.selector", `Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for ${o.kind.toLowerCase()}`);
        else if (sel && !selectorMatches(sel, tlabels)) r.error("spec.template.metadata.labels", `Invalid value: ${goMap(tlabels)}: \`selector\` does not match template \`labels\``);
      }
    }
    const rp = tspec.restartPolicy ?? "Always";
    if (o.kind === "Job") {
      if (rp !== "OnFailure" && rp !== "Never") r.error("spec.template.spec.restartPolicy", `Required value: valid values: "OnFailure", "Never"`);
    } else if (rp !== "Always") r.error("spec.template.spec.restartPolicy", `Unsupported value: ${JSON.stringify(rp)}: supported values: "Always"`);
    let replicas = o.kind === "DaemonSet" ? 1 : (int(r, spec.replicas, "spec.replicas", 0) ?? 1);
    if (o.kind === "Job") replicas = 1;
    const claimTemplates = new Map<string, (replica: number) => PlannedVolume>();
    if (o.kind === "StatefulSet") {
      list(r, spec.volumeClaimTemplates, "spec.volumeClaimTemplates").forEach((c, i) => {
        const meta = isObj(c.metadata) ? c.metadata : {};
        const cname = str(r, meta.name, `spec.volumeClaimTemplates[${i}].metadata.name`, true);
        if (!cname) return;
        claimTemplates.set(cname, (rep) => ({
          name: nsName(o.namespace, `${cname}-${o.name}-${rep}`),
          scope: "pvc",
          labels: { [KUBE_LABEL.namespace]: o.namespace, [KUBE_LABEL.volume]: "pvc", [KUBE_LABEL.owner]: owner, "io.cove.kube.claim": `${cname}-${o.name}-${rep}` },
        }));
      });
    }
    const t: TemplateInput = { r, at: "spec.template.spec", spec: tspec, labels: tlabels, annotations: tannotations, namespace: o.namespace, owner, claimTemplates };
    const templateHash = sha({ t: tspec, l: tlabels, a: tannotations, ns: o.namespace, n: network, c: spec.volumeClaimTemplates ?? null, d: depsOf(undefined, sources, o.namespace, tspec) }).slice(0, 10);
    const w: PlannedWorkload = { kind: o.kind, name: o.name, namespace: o.namespace, owner, pods: [], update: o.kind === "StatefulSet" ? "ordered" : o.kind === "Job" ? "job" : "rolling" };
    for (let i = 0; i < replicas; i++) {
      // StatefulSet: stable names; the others: the template's hash in the name, as the ReplicaSets of a Deployment
      const podName = o.kind === "StatefulSet" ? `${prefix}-${i}` : o.kind === "Job" ? `${prefix}-${templateHash.slice(0, 5)}` : `${prefix}-${templateHash}-${i}`;
      // the template's errors are reported once, for the first replica
      const pod = planPod(t, ctx, podName, i, i === 0 ? r : new Report(r.what));
      pod.hash = templateHash;
      w.pods.push(pod);
    }
    if (replicas === 0) planPod(t, ctx, `${prefix}-check`, 0, r); // validated even when scaled to zero
    if (o.kind === "Job") {
      const completions = int(r, spec.completions, "spec.completions", 1) ?? 1;
      const parallelism = int(r, spec.parallelism, "spec.parallelism", 1) ?? 1;
      w.job = { completions, parallelism: Math.min(parallelism, completions), backoffLimit: int(r, spec.backoffLimit, "spec.backoffLimit", 0) ?? 6, restartPolicy: rp === "OnFailure" ? "OnFailure" : "Never" };
    }
    if (o.kind === "DaemonSet" && spec.replicas !== undefined) r.warn("spec.replicas", "a DaemonSet runs one pod on this node: ignored");
    workloads.push(w);
    podTemplates.push({ o, w, labels: tlabels });
  }

  // services: a name on the play's network for the pods they select, published ports for NodePort and LoadBalancer
  for (const o of objects) {
    if (o.kind !== "Service") continue;
    const r = o.report;
    r.unknown(o.raw, "", ["apiVersion", "kind", "metadata", "spec"], ["status"]);
    const spec = obj(r, o.raw.spec, "spec") ?? {};
    r.unknown(spec, "spec", ["type", "selector", "ports", "clusterIP"], ["sessionAffinity", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "externalTrafficPolicy"]);
    const type = str(r, spec.type, "spec.type") ?? "ClusterIP";
    if (!["ClusterIP", "NodePort", "LoadBalancer"].includes(type)) r.error("spec.type", `Unsupported value: ${JSON.stringify(type)}: supported values: "ClusterIP", "NodePort", "LoadBalancer"`);
    const selector = stringMap(r, spec.selector, "spec.selector", true);
    const ports = list(r, spec.ports, "spec.ports");
    if (spec.clusterIP !== undefined && spec.clusterIP !== "None" && spec.clusterIP !== "") r.warn("spec.clusterIP", "cove gives a service no virtual address: its name resolves to the addresses of its pods: ignored");
    const selected = Object.keys(selector).length ? podTemplates.filter((p) => p.o.namespace === o.namespace && selectorMatches({ matchLabels: selector }, p.labels)) : [];
    if (!Object.keys(selector).length) r.warn("spec.selector", "a service without a selector selects no pods of the play");
    const aliases = [o.name, `${o.name}.${o.namespace}`, `${o.name}.${o.namespace}.svc`, `${o.name}.${o.namespace}.svc.cluster.local`];
    for (const p of selected)
      for (const pod of p.w.pods) {
        const nets = pod.spec.Networks?.[network];
        if (nets) nets.aliases = [...new Set([...(nets.aliases ?? []), ...aliases])];
      }
    ports.forEach((p, i) => {
      const pat = `spec.ports[${i}]`;
      r.unknown(p, pat, ["port", "targetPort", "nodePort", "protocol", "name"], ["appProtocol"]);
      const port = int(r, p.port, `${pat}.port`, 1, 65535);
      if (p.port === undefined) r.error(`${pat}.port`, "Required value");
      const proto = str(r, p.protocol, `${pat}.protocol`) ?? "TCP";
      let target: number | undefined;
      if (typeof p.targetPort === "string" && !/^\d+$/.test(p.targetPort)) {
        for (const s of selected)
          for (const c of list(r, (s.w.kind === "Pod" ? (s.o.raw.spec as Json) : ((s.o.raw.spec as Json).template as Json).spec as Json)?.containers, "containers"))
            for (const cp of list(r, c.ports, "ports")) if (cp.name === p.targetPort) target = Number(cp.containerPort);
        if (target === undefined && selected.length) r.error(`${pat}.targetPort`, `Invalid value: ${JSON.stringify(p.targetPort)}: no container port of this name in the selected pods`);
      } else target = p.targetPort === undefined ? port : int(r, typeof p.targetPort === "string" ? Number(p.targetPort) : p.targetPort, `${pat}.targetPort`, 1, 65535);
      if (port !== undefined && target !== undefined && port !== target && type === "ClusterIP") r.warn(`${pat}.port`, `cove has no service proxy: the service's pods are reached at their port ${target}, not ${port}`);
      let hostPort: number | undefined;
      if (type === "NodePort") {
        hostPort = int(r, p.nodePort, `${pat}.nodePort`, 1, 65535);
        if (p.nodePort === undefined) r.error(`${pat}.nodePort`, "Required value: cove allocates no node ports: give the port to publish on the host");
      } else if (type === "LoadBalancer") hostPort = port;
      if (hostPort === undefined || target === undefined) return;
      const pods = selected.flatMap((s) => s.w.pods);
      const first = pods.find((pod) => !pod.spec.netns);
      if (!first) {
        if (selected.length) r.warn(pat, "the selected pods are on the host's network: nothing to publish");
        return;
      }
      if (pods.length > 1) r.warn(pat, `published by ${first.name} only: one host port reaches one pod (cove balances no load across ${pods.length} pods)`);
      (first.spec.portmappings ??= []).push({ container_port: target, host_port: hostPort, protocol: proto.toLowerCase() });
      first.fixedPorts = true;
      // the port is part of the pod's configuration: a changed service replaces it
      first.hash = sha([first.hash, hostPort, target, proto]).slice(0, first.hash.length || 64);
    });
  }
  // every pod's hash covers its network names (a changed service renames or replaces them)
  for (const w of workloads)
    for (const p of w.pods) {
      const aliases = p.spec.Networks?.[network]?.aliases ?? [];
      if (aliases.length) p.hash = sha([p.hash, aliases]);
      p.spec.labels = { ...p.spec.labels, [KUBE_LABEL.hash]: p.hash };
      if (!p.spec.netns) p.spec.Networks = { [network]: { aliases: [p.name.length <= 63 ? p.name : p.spec.hostname!, ...aliases] } };
    }
  for (const o of objects) {
    errors.push(...o.report.errors);
    warnings.push(...o.report.warnings);
  }
  if (errors.length) {
    const warned = warnings.length ? `\nwarnings:\n  ${warnings.join("\n  ")}` : "";
    throw invalid(`the file is not valid for cove kube play (nothing was created):\n  ${errors.join("\n  ")}${warned}`, { code: "kube.invalid" });
  }
  if (!workloads.length && !claims.size && !cronJobs.length && !objects.length) throw invalid("the file holds no Kubernetes objects", { code: "kube.empty" });
  const volumes = [...claims.values(), ...ctx.implicitClaims.values()];
  return { network, workloads, volumes, cronJobs, namespaces: [...namespaces], warnings };
}

/** The data a pod template takes from the file's ConfigMaps and Secrets: part of its hash, so a changed value replaces the pods. */
function depsOf(_pod: PlannedPod | undefined, sources: Map<string, DataSource>, namespace: string, spec: Json): Record<string, string> {
  const text = JSON.stringify(spec);
  const out: Record<string, string> = {};
  for (const [key, src] of sources) {
    const [, ns, name] = key.split("/") as [string, string, string];
    if (ns !== namespace || !text.includes(JSON.stringify(name))) continue;
    out[key] = sha([...src.data].map(([k, v]) => [k, v.toString("base64")]));
  }
  return out;
}
