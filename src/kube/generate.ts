// `kube generate`: a pod (or a lone container) as a Kubernetes v1 Pod, as podman's generate kube
// writes it: the pod's hostname, namespace choices (hostNetwork, hostPID, hostIPC,
// shareProcessNamespace), DNS, host aliases and published ports (on the first container), and
// each member's image, command, environment, working directory, security context, limits and
// mounts. Names become DNS-1123 names, which Kubernetes requires; labels Kubernetes would refuse
// go to the annotations. A pure function of the inspect documents: the daemon gathers them.

import { stringify } from "yaml";
import type { ContainerInspect } from "../docker/index.js";
import type { PodInspect } from "../pods/index.js";

type Json = Record<string, unknown>;

/** A DNS-1123 label (container names, hostnames): lower case, [a-z0-9-], at most 63. */
export function dnsLabel(name: string, fallback = "container"): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return s || fallback;
}

/** A DNS-1123 subdomain (pod names): lower case, [a-z0-9.-], at most 253. */
export function dnsSubdomain(name: string, fallback = "pod"): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "")
    .slice(0, 253)
    .replace(/[-.]+$/, "");
  return s || fallback;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Labels Kubernetes takes, and the rest (kept as annotations). */
function splitLabels(labels: Record<string, string>): { labels: Record<string, string>; rest: Record<string, string> } {
  const ok: Record<string, string> = {};
  const rest: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (LABEL_NAME.test(k) && k.length <= 316 && LABEL_VALUE.test(v)) ok[k] = v;
    else rest[k] = v;
  }
  return { labels: ok, rest };
}

/** Docker's port bindings as a container's ports (the CRI's and Kubernetes' protocol names). */
function ports(bindings: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null | undefined): Json[] {
  const out: Json[] = [];
  for (const [key, list] of Object.entries(bindings ?? {})) {
    const [port, proto = "tcp"] = key.split("/") as [string, string | undefined];
    for (const b of list ?? [{}]) {
      const p: Json = { containerPort: Number(port), protocol: proto.toUpperCase() };
      if (b.HostPort) p.hostPort = Number(b.HostPort);
      if (b.HostIp && b.HostIp !== "0.0.0.0" && b.HostIp !== "::") p.hostIP = b.HostIp;
      out.push(p);
    }
  }
  return out;
}

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function container(c: ContainerInspect, volumes: Map<string, Json>, published: Json[]): Json {
  const cfg = c.Config;
  const hc = c.HostConfig;
  const out: Json = { name: dnsLabel(c.Name.replace(/^\//, "")), image: cfg.Image ?? c.Image };
  if (cfg.Entrypoint?.length) out.command = [...cfg.Entrypoint];
  if (cfg.Cmd?.length) out.args = [...cfg.Cmd];
  if (cfg.WorkingDir) out.workingDir = cfg.WorkingDir;
  const env = (cfg.Env ?? [])
    .filter((e) => e !== DEFAULT_PATH && !e.startsWith("HOSTNAME="))
    .map((e) => {
      const eq = e.indexOf("=");
      return eq < 0 ? { name: e, value: "" } : { name: e.slice(0, eq), value: e.slice(eq + 1) };
    });
  if (env.length) out.env = env;
  if (published.length) out.ports = published;
  if (cfg.Tty) out.tty = true;
  if (cfg.OpenStdin) out.stdin = true;
  const sec: Json = {};
  if (hc.Privileged) sec.privileged = true;
  if (hc.ReadonlyRootfs) sec.readOnlyRootFilesystem = true;
  const caps: Json = {};
  if (hc.CapAdd?.length) caps.add = hc.CapAdd.map((x) => x.replace(/^CAP_/i, "").toUpperCase());
  if (hc.CapDrop?.length) caps.drop = hc.CapDrop.map((x) => x.replace(/^CAP_/i, "").toUpperCase());
  if (Object.keys(caps).length) sec.capabilities = caps;
  const user = /^(\d+)(?::(\d+))?$/.exec(cfg.User ?? "");
  if (user) {
    sec.runAsUser = Number(user[1]);
    if (user[2] !== undefined) sec.runAsGroup = Number(user[2]);
  }
  if (Object.keys(sec).length) out.securityContext = sec;
  const limits: Json = {};
  if (hc.Memory) limits.memory = String(hc.Memory);
  if (hc.NanoCpus) limits.cpu = `${Math.max(1, Math.round(hc.NanoCpus / 1e6))}m`;
  if (Object.keys(limits).length) out.resources = { limits };
  const mounts: Json[] = [];
  for (const m of c.Mounts ?? []) {
    if (m.Type === "tmpfs") continue;
    const base = m.Type === "volume" ? `${m.Name ?? "volume"}-pvc` : `${m.Source}-host`;
    const name = dnsLabel(base.replace(/^\//, ""), "volume");
    if (!volumes.has(name)) volumes.set(name, m.Type === "volume" ? { name, persistentVolumeClaim: { claimName: dnsSubdomain(m.Name ?? name) } } : { name, hostPath: { path: m.Source } });
    mounts.push({ name, mountPath: m.Destination, ...(m.RW ? {} : { readOnly: true }) });
  }
  if (mounts.length) out.volumeMounts = mounts;
  return out;
}

function restartPolicy(containers: ContainerInspect[]): string {
  const name = containers[0]?.HostConfig.RestartPolicy?.Name ?? "no";
  if (name === "always" || name === "unless-stopped") return "Always";
  if (name === "on-failure") return "OnFailure";
  return "Never";
}

/** The Pod object for a pod (its members, without the infra) or for a lone container (pod undefined). */
export function kubePod(pod: PodInspect | undefined, members: ContainerInspect[]): Json {
  const volumes = new Map<string, Json>();
  const published = pod ? ports(pod.InfraConfig.PortBindings) : ports(members[0]?.HostConfig.PortBindings);
  const containers = members.map((c, i) => container(c, volumes, i === 0 ? published : []));
  const name = pod ? dnsSubdomain(pod.Name) : `${dnsSubdomain(members[0]?.Name.replace(/^\//, "") ?? "container")}-pod`;
  // kube play's own bookkeeping (owner, hash, replica) is not part of the pod's description
  const own = Object.fromEntries(Object.entries(pod?.Labels ?? {}).filter(([k]) => !k.startsWith("io.cove.kube.")));
  const { labels, rest } = splitLabels(own);
  const annotations = { ...(pod?.Annotations ?? {}), ...rest };
  const metadata: Json = { name, labels: { app: dnsLabel(name), ...labels } };
  if (Object.keys(annotations).length) metadata.annotations = annotations;
  const spec: Json = {};
  if (pod) {
    if (pod.InfraConfig.HostNetwork) spec.hostNetwork = true;
    else spec.hostname = dnsLabel(pod.Hostname, name);
    if (pod.InfraConfig.pid_ns === "host") spec.hostPID = true;
    if (pod.InfraConfig.ipc_ns === "host") spec.hostIPC = true;
    if (pod.SharedNamespaces.includes("pid")) spec.shareProcessNamespace = true;
    const aliases = new Map<string, string[]>();
    for (const h of pod.InfraConfig.HostAdd) {
      const colon = h.indexOf(":");
      if (colon < 0) continue;
      const ip = h.slice(colon + 1);
      aliases.set(ip, [...(aliases.get(ip) ?? []), h.slice(0, colon)]);
    }
    if (aliases.size) spec.hostAliases = [...aliases].map(([ip, hostnames]) => ({ ip, hostnames }));
    const dns: Json = {};
    if (pod.InfraConfig.DNSServer.length) dns.nameservers = pod.InfraConfig.DNSServer;
    if (pod.InfraConfig.DNSSearch.length) dns.searches = pod.InfraConfig.DNSSearch;
    if (pod.InfraConfig.DNSOption.length) {
      dns.options = pod.InfraConfig.DNSOption.map((o) => {
        const colon = o.indexOf(":");
        return colon < 0 ? { name: o } : { name: o.slice(0, colon), value: o.slice(colon + 1) };
      });
    }
    if (Object.keys(dns).length) spec.dnsConfig = dns;
  } else {
    const c = members[0];
    if (c?.HostConfig.NetworkMode === "host") spec.hostNetwork = true;
    if (c?.HostConfig.PidMode === "host") spec.hostPID = true;
    if (c?.HostConfig.IpcMode === "host") spec.hostIPC = true;
  }
  spec.restartPolicy = restartPolicy(members);
  spec.containers = containers;
  if (volumes.size) spec.volumes = [...volumes.values()];
  return { apiVersion: "v1", kind: "Pod", metadata, spec };
}

/** kubePod as YAML, with a header saying where it came from. */
export function generateKube(pod: PodInspect | undefined, members: ContainerInspect[]): string {
  return `# Generated by cove (cove kube generate): apply it with kubectl apply -f\n${stringify(kubePod(pod, members))}`;
}
