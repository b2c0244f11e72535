// The pod's rules as pure functions: a create request checked and turned into the pod's record,
// the infra container's create body, a member's create body (joining the infra's namespaces),
// and the pod's state from its containers' (podman's createPodStatusResults). No I/O here: the
// service (service.ts) does the work, these decide it, and unit tests hold them.

import { invalid, unsupported } from "../common/errors.js";
import type { CreateBody, HostConfig } from "../containers/types.js";
import { DEFAULT_SHARE, SHAREABLE_NAMESPACES, type PodPortMapping, type PodRecord, type PodSpec, type PodState, type SharedNamespace } from "./types.js";

/** The label naming the pod a container belongs to (its infra and members carry the pod's ID). */
export const POD_LABEL = "io.cove.pod";
/** The label marking a pod's infra container. */
export const INFRA_LABEL = "io.cove.pod.infra";
/** The pause program's path in cove's pause image. */
export const PAUSE_PATH = "/pause";

/** Docker's container name rule, which pods follow too. */
const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/**
 * A hostname: letters, digits, hyphens, dots and (as a generated pod name has them, and the
 * kernel takes them) underscores, up to the kernel's 64 bytes, starting with a letter or digit.
 */
const VALID_HOSTNAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

const podInvalid = (message: string, field: string, hint?: string) => invalid(message, { code: "pod.invalid", field, ...(hint ? { hint } : {}) });

function checkName(name: string): void {
  if (!VALID_NAME.test(name)) throw podInvalid(`invalid pod name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, "name");
}

function stringList(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw podInvalid(`${field} must be a list of strings`, field);
  return v as string[];
}

function stringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v) || Object.values(v).some((s) => typeof s !== "string")) throw podInvalid(`${field} must be an object of strings`, field);
  return { ...(v as Record<string, string>) };
}

function nsChoice(v: PodSpec["pidns"], field: string): "private" | "host" {
  const mode = v?.nsmode ?? "";
  if (mode === "" || mode === "private" || mode === "default") return "private";
  if (mode === "host") return "host";
  throw podInvalid(`${field} mode "${mode}" is not supported: give private or host`, field);
}

/** Checks the published ports: numbers in range, a known protocol, ranges that fit. */
export function checkPortMappings(list: unknown): PodPortMapping[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw podInvalid("portmappings must be a list", "portmappings");
  return list.map((raw: unknown) => {
    const p = (raw ?? {}) as Record<string, unknown>;
    const port = (v: unknown, what: string, zero: boolean) => {
      if (v === undefined || v === null) return 0;
      if (typeof v !== "number" || !Number.isInteger(v) || v < (zero ? 0 : 1) || v > 65535) throw podInvalid(`invalid ${what} ${String(v)}: give a port from 1 to 65535`, "portmappings");
      return v;
    };
    const containerPort = port(p.container_port, "container port", false);
    if (containerPort === 0) throw podInvalid("a published port needs its container_port", "portmappings");
    const hostPort = port(p.host_port, "host port", true);
    const protocol = typeof p.protocol === "string" && p.protocol !== "" ? p.protocol.toLowerCase() : "tcp";
    if (!["tcp", "udp", "sctp"].includes(protocol)) throw podInvalid(`invalid protocol "${String(p.protocol)}": give tcp, udp or sctp`, "portmappings");
    const range = p.range === undefined || p.range === null || p.range === 0 ? 1 : p.range;
    if (typeof range !== "number" || !Number.isInteger(range) || range < 1 || containerPort + range - 1 > 65535 || (hostPort > 0 && hostPort + range - 1 > 65535)) {
      throw podInvalid(`invalid port range ${String(p.range)} from ${containerPort}`, "portmappings");
    }
    const hostIp = typeof p.host_ip === "string" ? p.host_ip : "";
    return { container_port: containerPort, host_port: hostPort, host_ip: hostIp, protocol, range };
  });
}

/** The infra's ExposedPorts and PortBindings for the pod's published ports. */
export function portBindings(mappings: readonly PodPortMapping[]): { exposed: Record<string, Record<string, never>>; bindings: Record<string, { HostIp: string; HostPort: string }[]> } {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const m of mappings) {
    for (let i = 0; i < (m.range ?? 1); i++) {
      const key = `${m.container_port + i}/${m.protocol ?? "tcp"}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: m.host_ip ?? "", HostPort: m.host_port ? String(m.host_port + i) : "" });
    }
  }
  return { exposed, bindings };
}

/**
 * A create request checked and turned into the pod's record (without its infra container's ID,
 * known once it is made). Every refusal says which field is wrong and changes nothing.
 */
export function podRecordOf(spec: PodSpec, id: string, generatedName: string, created: string): PodRecord {
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) throw podInvalid("the pod's configuration must be a JSON object", "body");
  if (spec.no_infra) throw unsupported("a pod without an infra container is not supported: cove's pods hold their namespaces in one", { code: "pod.no-infra", field: "no_infra" });
  const name = spec.name || generatedName;
  checkName(name);
  const hostname = spec.hostname || name;
  if (!VALID_HOSTNAME.test(hostname)) throw podInvalid(`invalid hostname "${hostname}": give letters, digits, hyphens, dots and underscores, up to 64 characters, starting with a letter or digit`, "hostname");
  const shareList = spec.shared_namespaces === undefined || spec.shared_namespaces === null ? [...DEFAULT_SHARE] : stringList(spec.shared_namespaces, "shared_namespaces").flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
  const share: SharedNamespace[] = [];
  for (const ns of shareList) {
    if (ns === "cgroup") throw unsupported("sharing the cgroup namespace is not supported: each member keeps its own", { code: "pod.share", field: "shared_namespaces", hint: "give --share with net, ipc, uts and pid only" });
    if (ns === "none") continue;
    if (!(SHAREABLE_NAMESPACES as readonly string[]).includes(ns)) throw podInvalid(`invalid namespace "${ns}" to share: give net, ipc, uts or pid`, "shared_namespaces");
    if (!share.includes(ns as SharedNamespace)) share.push(ns as SharedNamespace);
  }
  const netMode = spec.netns?.nsmode ?? "";
  const networks = Object.keys(spec.Networks ?? {});
  let mode: string;
  if (netMode === "" || netMode === "bridge" || netMode === "private" || netMode === "default") mode = networks[0] ?? "bridge";
  else if (netMode === "host" || netMode === "none") {
    if (networks.length) throw podInvalid(`the pod's network is ${netMode}: it cannot also join ${networks.join(", ")}`, "Networks");
    mode = netMode;
  } else throw podInvalid(`network mode "${netMode}" is not supported for a pod: give bridge, host or none`, "netns");
  const ports = checkPortMappings(spec.portmappings);
  if (ports.length && (mode === "host" || mode === "none")) throw podInvalid(`published ports need a network namespace of the pod's own: its network is ${mode}`, "portmappings", "publish no ports, or give the pod a bridge network");
  if (ports.length && !share.includes("net")) throw podInvalid("published ports are the pod's network's: they need --share net", "portmappings");
  const infraCommand = stringList(spec.infra_command, "infra_command");
  const cgroupParent = spec.cgroup_parent ?? "";
  if (typeof cgroupParent !== "string" || cgroupParent.includes("..")) throw podInvalid(`invalid cgroup parent "${String(cgroupParent)}"`, "cgroup_parent");
  return {
    Id: id,
    Name: name,
    Created: created,
    Hostname: hostname,
    Labels: stringMap(spec.labels, "labels"),
    Annotations: stringMap(spec.annotations, "annotations"),
    SharedNamespaces: share,
    CgroupParent: cgroupParent,
    InfraContainerID: "",
    InfraImage: spec.infra_image ?? "",
    InfraCommand: infraCommand,
    NetworkMode: mode,
    Networks: mode === "host" || mode === "none" ? [] : networks.length ? networks : [mode],
    ...networkAliases(spec),
    PortMappings: ports,
    DNSServer: stringList(spec.dns_server, "dns_server"),
    DNSSearch: stringList(spec.dns_search, "dns_search"),
    DNSOption: stringList(spec.dns_option, "dns_option"),
    HostAdd: stringList(spec.hostadd, "hostadd"),
    Sysctls: stringMap(spec.sysctl, "sysctl"),
    PidNS: nsChoice(spec.pidns, "pidns"),
    IpcNS: nsChoice(spec.ipcns, "ipcns"),
    CreateCommand: stringList(spec.pod_create_command, "pod_create_command"),
  };
}

/** The aliases the pod's Networks give ({} when none). */
function networkAliases(spec: PodSpec): { NetworkAliases?: Record<string, string[]> } {
  const out: Record<string, string[]> = {};
  for (const [n, cfg] of Object.entries(spec.Networks ?? {})) {
    if (cfg === null || cfg === undefined || cfg.aliases === undefined) continue;
    const aliases = stringList(cfg.aliases, `Networks.${n}.aliases`);
    if (aliases.length) out[n] = aliases;
  }
  return Object.keys(out).length ? { NetworkAliases: out } : {};
}

/** The infra container's create body: it holds the pod's namespaces, network, ports and DNS. */
export function infraBody(pod: PodRecord, image: string, defaultCommand: string[]): CreateBody {
  const { exposed, bindings } = portBindings(pod.PortMappings);
  const endpoints: Record<string, object> = {};
  for (const n of pod.Networks) {
    const aliases = pod.NetworkAliases?.[n];
    if (n !== pod.NetworkMode || aliases?.length) endpoints[n] = aliases?.length ? { Aliases: [...aliases] } : {};
  }
  const hc: HostConfig = {
    NetworkMode: pod.NetworkMode,
    PortBindings: bindings,
    Dns: pod.DNSServer,
    DnsSearch: pod.DNSSearch,
    DnsOptions: pod.DNSOption,
    ExtraHosts: pod.HostAdd,
    // members join its IPC namespace: it must be shareable
    IpcMode: pod.IpcNS === "host" ? "host" : "shareable",
    PidMode: pod.PidNS === "host" ? "host" : "",
    ReadonlyRootfs: true,
    ...(pod.CgroupParent ? { CgroupParent: pod.CgroupParent } : {}),
    ...(Object.keys(pod.Sysctls).length ? { Sysctls: { ...pod.Sysctls } } : {}),
  };
  return {
    Image: image,
    Entrypoint: pod.InfraCommand.length ? pod.InfraCommand : defaultCommand,
    Cmd: null,
    // a UTS namespace of the pod's own carries its hostname; with the host's network the host's name stays
    ...(pod.NetworkMode === "host" ? {} : { Hostname: pod.Hostname }),
    Labels: { [POD_LABEL]: pod.Id, [INFRA_LABEL]: "true" },
    ExposedPorts: exposed,
    StopSignal: "SIGTERM",
    StopTimeout: 10,
    HostConfig: hc,
    ...(Object.keys(endpoints).length ? { NetworkingConfig: { EndpointsConfig: endpoints } } : {}),
  };
}

const notInPod = (what: string, shared: string) => invalid(`invalid config provided: ${what} must be defined when the pod is created: ${shared} is shared with the pod`, { code: "pod.member-config", hint: "set it on the pod (cove pod create), or leave the container out of the pod" });

function given<T>(v: T[] | null | undefined): boolean {
  return Array.isArray(v) && v.length > 0;
}

/**
 * A member's create body: the request, refused where it asks for what the pod owns (its network,
 * ports, DNS, hosts, hostname, or a namespace mode the pod shares), then joined to the infra's
 * namespaces and labelled with the pod.
 */
export function memberBody(pod: PodRecord, body: CreateBody): CreateBody {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw invalid("config cannot be empty in order to create a container", { code: "container.invalid" });
  const hc: HostConfig = { ...(body.HostConfig ?? {}) };
  const share = new Set(pod.SharedNamespaces);
  if (share.has("net")) {
    const mode = hc.NetworkMode ?? "";
    if (mode !== "" && mode !== "default") throw notInPod("networks", "the network");
    if (Object.keys(body.NetworkingConfig?.EndpointsConfig ?? {}).some((k) => k !== "default" && k !== "bridge" && k !== pod.NetworkMode)) throw notInPod("networks", "the network");
    if (Object.keys(hc.PortBindings ?? {}).length || hc.PublishAllPorts) throw notInPod("published ports", "the network");
    if (Object.keys(body.ExposedPorts ?? {}).length) throw notInPod("exposed ports", "the network");
    if (given(hc.Dns) || given(hc.DnsSearch) || given(hc.DnsOptions)) throw notInPod("DNS settings", "the network");
    if (given(hc.ExtraHosts)) throw notInPod("extra hosts", "the network");
    if (body.MacAddress) throw notInPod("a MAC address", "the network");
    hc.NetworkMode = `container:${pod.InfraContainerID}`;
    delete body.NetworkingConfig;
  }
  const join = (ns: SharedNamespace, field: "IpcMode" | "UTSMode" | "PidMode", what: string) => {
    if (!share.has(ns)) return;
    const mode = hc[field] ?? "";
    if (mode !== "" && mode !== "private" && mode !== "shareable") throw invalid(`invalid config provided: the ${what} namespace is shared with the pod: the container cannot set its own ${field}`, { code: "pod.member-config", field: `HostConfig.${field}` });
    hc[field] = `container:${pod.InfraContainerID}`;
  };
  join("ipc", "IpcMode", "IPC");
  join("pid", "PidMode", "PID");
  let hostname: string | undefined;
  if (share.has("uts")) {
    if (body.Hostname && body.Hostname !== pod.Hostname) throw invalid("invalid config provided: cannot set hostname when joining the pod UTS namespace", { code: "pod.member-config", field: "Hostname" });
    if (body.Domainname) throw invalid("invalid config provided: cannot set a domain name when joining the pod UTS namespace", { code: "pod.member-config", field: "Domainname" });
    join("uts", "UTSMode", "UTS");
    if (pod.NetworkMode !== "host") hostname = pod.Hostname;
  }
  if (pod.CgroupParent && !hc.CgroupParent) hc.CgroupParent = pod.CgroupParent;
  const out: CreateBody = { ...body, Labels: { ...(body.Labels ?? {}), [POD_LABEL]: pod.Id }, HostConfig: hc };
  if (hostname !== undefined) out.Hostname = hostname;
  delete out.NetworkingConfig;
  return out;
}

/**
 * The pod's state from its containers' (the infra included), as podman derives it: all running
 * is Running, some running Degraded, all paused Paused, all stopped Exited, some stopped (the
 * others created) Stopped, any dead Error, else Created.
 */
export function podState(statuses: readonly string[]): PodState {
  if (statuses.length === 0) return "Created";
  let running = 0;
  let paused = 0;
  let stopped = 0;
  let errored = 0;
  for (const s of statuses) {
    if (s === "running" || s === "restarting") running++;
    else if (s === "paused") paused++;
    else if (s === "exited") stopped++;
    else if (s !== "created") errored++;
  }
  if (running === statuses.length) return "Running";
  if (running > 0) return "Degraded";
  if (paused === statuses.length) return "Paused";
  if (stopped === statuses.length) return "Exited";
  if (stopped > 0) return "Stopped";
  if (errored > 0) return "Error";
  return "Created";
}
