// From the compose model to the Docker Engine API: a service's container create body, the labels
// Docker Compose sets (so docker compose, docker-compose 1.29 and cove recognise each other's
// projects), the config hash that decides recreation, and the YAML `config` prints.

import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { parseGoDuration, ramInBytes } from "../docker/index.js";
import type { FileGrant, Project, ServiceConfig } from "./model.js";

export const LABEL = {
  project: "com.docker.compose.project",
  service: "com.docker.compose.service",
  number: "com.docker.compose.container-number",
  oneoff: "com.docker.compose.oneoff",
  hash: "com.docker.compose.config-hash",
  workingDir: "com.docker.compose.project.working_dir",
  configFiles: "com.docker.compose.project.config_files",
  version: "com.docker.compose.version",
  dependsOn: "com.docker.compose.depends_on",
  image: "com.docker.compose.image",
  network: "com.docker.compose.network",
  volume: "com.docker.compose.volume",
} as const;

/** The compose version cove's labels carry (the Compose Specification release it follows). */
export const COMPOSE_VERSION = "2.30.0";

function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
  return v;
}

/** The hash of what a service's containers are made from; a change recreates them. Scale is left out. */
export function configHash(svc: ServiceConfig): string {
  const { scale: _s, profiles: _p, ...rest } = svc;
  return createHash("sha256").update(JSON.stringify(sorted(rest))).digest("hex");
}

export function containerName(project: Project, service: string, n: number): string {
  const svc = project.services[service];
  return svc?.container_name ?? `${project.name}-${service}-${n}`;
}

export function projectLabels(project: Project): Record<string, string> {
  return { [LABEL.project]: project.name, [LABEL.version]: COMPOSE_VERSION };
}

function nanos(d: string | undefined): number | undefined {
  return d === undefined ? undefined : parseGoDuration(d);
}

/**
 * Whether a config or secret reaches the container as a read-only bind mount of its file (as
 * Docker Compose does): from a file, with no uid, gid or mode to set. Any other is copied into
 * the container before it starts, owned and moded as asked.
 */
export function bindsGrant(project: Project, kind: "configs" | "secrets", g: FileGrant): boolean {
  return project[kind][g.source]?.file !== undefined && g.uid === undefined && g.gid === undefined && g.mode === undefined;
}

/** The body of POST /containers/create for container `n` of `service`. */
export function createBody(project: Project, service: string, n: number, imageId: string): Record<string, unknown> {
  const svc = project.services[service]!;
  const labels: Record<string, string> = {
    ...(svc.labels ?? {}),
    ...projectLabels(project),
    [LABEL.service]: service,
    [LABEL.number]: String(n),
    [LABEL.oneoff]: "False",
    [LABEL.hash]: configHash(svc),
    [LABEL.workingDir]: project.workingDir,
    [LABEL.configFiles]: project.configFiles.join(","),
    [LABEL.image]: imageId,
    [LABEL.dependsOn]: Object.entries(svc.depends_on ?? {})
      .map(([d, c]) => `${d}:${c.condition}:${c.restart}`)
      .join(","),
  };
  const exposed: Record<string, object> = {};
  for (const e of svc.expose ?? []) exposed[e.includes("/") ? e : `${e}/tcp`] = {};
  const portBindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of svc.ports ?? []) {
    const key = `${p.target}/${p.protocol}`;
    exposed[key] = {};
    (portBindings[key] ??= []).push({ HostIp: p.host_ip ?? "", HostPort: p.published ?? "" });
  }
  const mounts = (svc.volumes ?? []).map((m) => {
    const mount: Record<string, unknown> = { Type: m.type, Target: m.target, ReadOnly: m.read_only ?? false };
    if (m.type === "volume") {
      if (m.source) mount.Source = project.volumes[m.source]!.name;
      if (m.volume?.nocopy) mount.VolumeOptions = { NoCopy: true };
    } else if (m.type === "bind") {
      mount.Source = m.source;
      if (m.bind?.propagation) mount.BindOptions = { Propagation: m.bind.propagation };
    } else if (m.tmpfs?.size !== undefined) mount.TmpfsOptions = { SizeBytes: Number(m.tmpfs.size) };
    return mount;
  });
  for (const kind of ["configs", "secrets"] as const)
    for (const g of svc[kind] ?? []) if (bindsGrant(project, kind, g)) mounts.push({ Type: "bind", Source: project[kind][g.source]!.file, Target: g.target, ReadOnly: true });
  const tmpfs: Record<string, string> = {};
  for (const t of svc.tmpfs ?? []) {
    const i = t.indexOf(":");
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? "" : t.slice(i + 1);
  }
  const nets = Object.entries(svc.networks ?? {}).sort(([, a], [, b]) => (b?.priority ?? 0) - (a?.priority ?? 0));
  const networkMode = svc.network_mode ?? (nets[0] ? project.networks[nets[0][0]]!.name : undefined);
  const hc = svc.healthcheck;
  const healthcheck = hc
    ? hc.disable
      ? { Test: ["NONE"] }
      : { Test: hc.test, Interval: nanos(hc.interval), Timeout: nanos(hc.timeout), Retries: hc.retries, StartPeriod: nanos(hc.start_period), StartInterval: nanos(hc.start_interval) }
    : undefined;
  const restart = svc.restart ?? "no";
  const [restartName, maxRetry] = restart.split(":");
  return {
    // the name, as Docker Compose sends it (ps shows it); the ID it stood for is in a label
    Image: svc.image ?? imageId,
    Cmd: svc.command,
    Entrypoint: svc.entrypoint,
    Env: Object.entries(svc.environment ?? {}).map(([k, v]) => `${k}=${v ?? ""}`),
    Labels: labels,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: svc.tty ?? false,
    OpenStdin: svc.stdin_open ?? false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    User: svc.user,
    WorkingDir: svc.working_dir,
    Hostname: svc.hostname,
    Domainname: svc.domainname,
    StopSignal: svc.stop_signal,
    StopTimeout: svc.stop_grace_period ? Math.round(parseGoDuration(svc.stop_grace_period) / 1e9) : undefined,
    Healthcheck: healthcheck,
    HostConfig: {
      Mounts: mounts,
      Tmpfs: Object.keys(tmpfs).length ? tmpfs : undefined,
      PortBindings: portBindings,
      RestartPolicy: { Name: restartName === "no" ? "" : restartName, MaximumRetryCount: maxRetry ? Number(maxRetry) : 0 },
      Init: svc.init,
      ReadonlyRootfs: svc.read_only ?? false,
      CapAdd: svc.cap_add,
      CapDrop: svc.cap_drop,
      Privileged: svc.privileged ?? false,
      Ulimits: svc.ulimits ? Object.entries(svc.ulimits).map(([Name, v]) => (typeof v === "number" ? { Name, Soft: v, Hard: v } : { Name, Soft: v.soft, Hard: v.hard })) : undefined,
      Sysctls: svc.sysctls,
      ExtraHosts: svc.extra_hosts,
      Dns: svc.dns,
      DnsSearch: svc.dns_search,
      LogConfig: svc.logging ? { Type: svc.logging.driver ?? "", Config: svc.logging.options ?? {} } : undefined,
      NetworkMode: networkMode,
      SecurityOpt: svc.security_opt,
      Devices: svc.devices?.map(device),
      PidMode: svc.pid,
      IpcMode: svc.ipc,
      ...resources(svc),
    },
    NetworkingConfig: nets[0] && !svc.network_mode ? { EndpointsConfig: { [project.networks[nets[0][0]]!.name]: endpoint(project, service, nets[0][0], n) } } : undefined,
  };
}

/** A device mapping as the Engine API takes it. */
function device(d: string | { source: string; target?: string; permissions?: string }): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  if (typeof d !== "string") return { PathOnHost: d.source, PathInContainer: d.target ?? d.source, CgroupPermissions: d.permissions ?? "rwm" };
  const [src, a, b] = d.split(":") as [string, string?, string?];
  const perms = b ?? (a !== undefined && /^[rwm]{1,3}$/.test(a) ? a : "rwm");
  const dst = a !== undefined && !/^[rwm]{1,3}$/.test(a) ? a : src;
  return { PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms };
}

/** deploy.resources as HostConfig limits (NanoCpus, Memory, MemoryReservation, PidsLimit). */
function resources(svc: ServiceConfig): Record<string, number> {
  const out: Record<string, number> = {};
  const r = svc.resources;
  if (!r) return out;
  const bytes = (v: string | number) => (typeof v === "number" ? v : ramInBytes(v));
  if (r.limits.cpus !== undefined) out.NanoCpus = Math.round(Number(r.limits.cpus) * 1e9);
  if (r.limits.memory !== undefined) out.Memory = bytes(r.limits.memory);
  if (r.limits.pids !== undefined) out.PidsLimit = Number(r.limits.pids);
  if (r.reservations.memory !== undefined) out.MemoryReservation = bytes(r.reservations.memory);
  return out;
}

/** The endpoint settings of container `n` of `service` on the project network `key`: the service's name and its aliases. */
export function endpoint(project: Project, service: string, key: string, n: number): Record<string, unknown> {
  const cfg = project.services[service]!.networks?.[key] ?? null;
  const out: Record<string, unknown> = { Aliases: [containerName(project, service, n), service, ...(cfg?.aliases ?? [])] };
  if (cfg?.ipv4_address || cfg?.ipv6_address) out.IPAMConfig = { IPv4Address: cfg.ipv4_address, IPv6Address: cfg.ipv6_address };
  return out;
}

/** The project as `config` prints it: YAML of the normalized model. */
export function configYaml(project: Project): string {
  const model: Record<string, unknown> = { name: project.name, services: sorted(project.services) };
  if (Object.keys(project.networks).length) model.networks = sorted(project.networks);
  if (Object.keys(project.volumes).length) model.volumes = sorted(project.volumes);
  if (Object.keys(project.configs).length) model.configs = sorted(project.configs);
  if (Object.keys(project.secrets).length) model.secrets = sorted(project.secrets);
  return stringify(model, { lineWidth: 0 });
}
