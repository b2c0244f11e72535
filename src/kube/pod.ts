// A pod template (a Pod's spec, or a workload's template) as a planned cove pod for one replica:
// containers, volumes, probes, security and resources, as podman's kube play maps them.

import { HEALTH_ON_FAILURE_LABEL } from "../containers/index.js";
import type { CreateBody, HealthConfig, HostConfig, Mount } from "../docker/index.js";
import type { PodPortMapping, PodSpec } from "../pods/index.js";
import { milliCpu, milliCpuToShares, parseQuantity } from "./quantity.js";
import type { Json } from "./plan-types.js";
import { Report, DNS_LABEL, type DataSource, ENV_NAME, bool, expandVars, int, list, obj, str, strList } from "./fields.js";
import { type HostPathCheck, KUBE_LABEL, type PlannedContainer, type PlannedFile, type PlannedPod, type PlannedVolume } from "./plan-types.js";

// ------------------------------------------------------------------ pods

export interface PodContext {
  /** ConfigMaps and Secrets of the file, by "Kind/namespace/name". */
  sources: Map<string, DataSource>;
  /** Claims of the file by "namespace/name", their volume's name. */
  claims: Map<string, PlannedVolume>;
  /** Claims used without an object in the file: made on first use. */
  implicitClaims: Map<string, PlannedVolume>;
  network: string;
}

/** A non-default namespace prefixes the names of what it makes, so that namespaces do not clash. */
export const nsName = (namespace: string, name: string) => (namespace === "default" ? name : `${namespace}-${name}`);

export interface TemplateInput {
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
export function probeTest(r: Report, p: Json, at: string, ports: Map<string, number>): string[] | undefined {
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

export interface ProbeTiming {
  interval: number;
  timeout: number;
  retries: number;
  initialDelay: number;
}

export function probeTiming(r: Report, p: Json, at: string): ProbeTiming {
  r.unknown(p, at, ["exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"], ["terminationGracePeriodSeconds"]);
  return {
    interval: int(r, p.periodSeconds, `${at}.periodSeconds`, 1) ?? 10,
    timeout: int(r, p.timeoutSeconds, `${at}.timeoutSeconds`, 1) ?? 1,
    retries: int(r, p.failureThreshold, `${at}.failureThreshold`, 1) ?? 3,
    initialDelay: int(r, p.initialDelaySeconds, `${at}.initialDelaySeconds`, 0) ?? 0,
  };
}

export const NS = 1e9;

export const CONTAINER_FIELDS = ["name", "image", "command", "args", "workingDir", "env", "envFrom", "ports", "volumeMounts", "resources", "securityContext", "livenessProbe", "readinessProbe", "startupProbe", "imagePullPolicy", "tty", "stdin", "stdinOnce"];
export const CONTAINER_QUIET = ["terminationMessagePath", "terminationMessagePolicy"];
export const POD_FIELDS = [
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
export const POD_QUIET = ["enableServiceLinks", "schedulerName", "serviceAccount", "serviceAccountName", "automountServiceAccountToken"];

export interface VolumeDef {
  field: string;
  /** How a container mounts it. */
  mount(target: string, readOnly: boolean, replica: number): Mount;
  /** The pod's own volume (emptyDir, configMap, secret), made for each replica. */
  own?: (pod: string) => PlannedVolume;
  claim?: (replica: number) => string;
}

/** The pod plan of a template, for one replica. Errors go to the template's report (once, for replica 0). */
export function planPod(t: TemplateInput, ctx: PodContext, podName: string, replica: number, report: Report): PlannedPod {
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
