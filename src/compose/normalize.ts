// One file's services in the normalized form of model.ts, and the merge of two such services by
// the Compose Specification's merge rules: mappings merge key by key, `command`, `entrypoint` and
// `healthcheck.test` are replaced, volumes merge by target, other sequences append without
// duplicates, scalars are overridden.

import os from "node:os";
import path from "node:path";
import { invalid } from "../common/errors.js";
import type { Dependency, FileGrant, PortConfig, ServiceConfig, ServiceNetwork, VolumeMount } from "./model.js";

type Raw = Record<string, unknown>;

/** Keys of a service cove compose acts on; any other key present gets a warning naming it. */
const SUPPORTED = new Set([
  "image", "command", "entrypoint", "environment", "env_file", "ports", "expose", "networks", "volumes", "tmpfs",
  "depends_on", "healthcheck", "restart", "deploy", "scale", "labels", "user", "working_dir", "init", "read_only",
  "cap_add", "cap_drop", "privileged", "ulimits", "sysctls", "extra_hosts", "dns", "dns_search", "hostname",
  "domainname", "stop_signal", "stop_grace_period", "logging", "network_mode", "tty", "stdin_open", "profiles",
  "container_name", "extends", "configs", "secrets", "build", "develop", "security_opt", "devices", "pid", "ipc", "pull_policy",
]);

/**
 * A file mode as written: a string in octal ("0440", "0o440", "440"), or a number. YAML 1.2 reads
 * 0440 as the decimal 440, so a number whose digits are all octal is read as octal digits, as
 * Docker Compose reads `mode: 0440`.
 */
export function fileMode(v: unknown, where: string): number {
  const s = String(v);
  const m = /^(?:0o?)?([0-7]{1,4})$/.exec(s);
  if (m) return parseInt(m[1]!, 8);
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0o7777) return v;
  throw invalid(`${where}: mode "${s}" is not an octal file mode such as 0440`, { field: where });
}

/** A service's configs or secrets, short and long syntax, as grants with absolute targets. */
function parseGrants(v: unknown, kind: "configs" | "secrets", where: string): FileGrant[] {
  return (v as unknown[]).map((item, i) => {
    const field = `${where}.${kind}[${i}]`;
    const o: Raw = typeof item === "string" ? { source: item } : (item as Raw);
    const source = str(o.source);
    let target = o.target === undefined || o.target === null || o.target === "" ? source : str(o.target);
    if (!path.posix.isAbsolute(target)) target = kind === "secrets" ? `/run/secrets/${target}` : `/${target}`;
    target = path.posix.normalize(target);
    if (target === "/") throw invalid(`${field}: target "${str(o.target)}" names no file`, { field });
    const g: FileGrant = { source, target };
    if (o.uid !== undefined && o.uid !== null) g.uid = str(o.uid);
    if (o.gid !== undefined && o.gid !== null) g.gid = str(o.gid);
    for (const [k, id] of [["uid", g.uid], ["gid", g.gid]] as const) if (id !== undefined && !/^\d+$/.test(id)) throw invalid(`${field}: ${k} "${id}" is not a number`, { field });
    if (o.mode !== undefined && o.mode !== null) g.mode = fileMode(o.mode, `${field}.mode`);
    return g;
  });
}

/** Splits a command string into words as a POSIX shell would (quotes and backslashes; no expansion). */
export function shellSplit(s: string, where: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw invalid(`${where}: unterminated single quote in "${s}"`);
      cur += s.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === "\\" && ['"', "\\", "$", "`"].includes(s[j + 1] ?? "")) j++;
        cur += s[j];
      }
      if (j >= s.length) throw invalid(`${where}: unterminated double quote in "${s}"`);
      i = j;
      inWord = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

const str = (v: unknown): string => (typeof v === "string" ? v : String(v));
const list = (v: unknown): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.map(str) : [str(v)]);

/** A list of "K=V" (or "K") or a mapping, as a mapping; `nullable` keeps a bare K as null. */
export function toMap(v: unknown, sep: string, nullable: boolean): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(v)) {
    for (const item of v.map(str)) {
      const i = item.indexOf(sep);
      if (i < 0) out[item] = nullable ? null : "";
      else out[item.slice(0, i)] = item.slice(i + sep.length);
    }
  } else if (v && typeof v === "object") {
    for (const [k, val] of Object.entries(v)) out[k] = val === null || val === undefined ? (nullable ? null : "") : str(val);
  }
  return out;
}

/** Ports in short ("[IP:][HOST:]CONTAINER[/PROTO]", ranges too) or long syntax, one entry per container port. */
export function parsePorts(v: unknown[], where: string): PortConfig[] {
  const out: PortConfig[] = [];
  for (const [i, p] of v.entries()) {
    if (p !== null && typeof p === "object") {
      const o = p as Raw;
      const port: PortConfig = { target: Number(o.target), protocol: o.protocol ? str(o.protocol) : "tcp" };
      if (!Number.isInteger(port.target)) throw invalid(`${where}.ports[${i}]: target "${str(o.target)}" is not a port number`, { field: `${where}.ports[${i}]` });
      if (o.published !== undefined && o.published !== null && o.published !== "") port.published = str(o.published);
      if (o.host_ip) port.host_ip = str(o.host_ip);
      if (o.mode) port.mode = str(o.mode);
      out.push(port);
      continue;
    }
    const s = str(p);
    const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|(\d+\.\d+\.\d+\.\d+)):)?(?:(\d*(?:-\d+)?):)?(\d+(?:-\d+)?)(?:\/(tcp|udp|sctp))?$/.exec(s);
    if (!m) throw invalid(`${where}.ports[${i}]: invalid port "${s}"`, { field: `${where}.ports[${i}]`, hint: "write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]" });
    const [, ip6, ip4, host, container, proto] = m;
    const [c0, c1] = range(container!);
    const hostRange = host ? range(host) : undefined;
    if (hostRange && c1 > c0 && hostRange[1] - hostRange[0] !== c1 - c0)
      throw invalid(`${where}.ports[${i}]: port ranges "${host}" and "${container}" differ in length`, { field: `${where}.ports[${i}]` });
    for (let c = c0; c <= c1; c++) {
      const port: PortConfig = { target: c, protocol: proto ?? "tcp", mode: "ingress" };
      // one container port may take any port of a host range; a container range maps one to one
      if (hostRange) port.published = c0 === c1 ? host! : String(hostRange[0] + (c - c0));
      const ip = ip6 ?? ip4;
      if (ip) port.host_ip = ip;
      out.push(port);
    }
  }
  return out;
}

function range(s: string): [number, number] {
  const [a, b] = s.split("-");
  const lo = Number(a);
  const hi = b === undefined ? lo : Number(b);
  return [lo, hi];
}

function hostPath(src: string, dir: string): string {
  if (src === "~" || src.startsWith("~/")) return path.join(os.homedir(), src.slice(1));
  return path.resolve(dir, src);
}

const isPath = (s: string) => s.startsWith(".") || s.startsWith("/") || s.startsWith("~");

/** Volumes in short ("SRC:DST[:MODE]", "DST") or long syntax; bind sources made absolute from `dir`. */
export function parseVolumes(v: unknown[], dir: string, where: string): VolumeMount[] {
  return v.map((item, i) => {
    const field = `${where}.volumes[${i}]`;
    if (item !== null && typeof item === "object") {
      const o = item as Raw;
      const mount: VolumeMount = { ...(o as object), type: str(o.type) as VolumeMount["type"], target: str(o.target) };
      if (mount.type === "bind" && mount.source) mount.source = hostPath(mount.source, dir);
      if (!["bind", "volume", "tmpfs"].includes(mount.type)) throw invalid(`${field}: volume type "${mount.type}" is not supported (bind, volume or tmpfs)`, { field });
      return mount;
    }
    const s = str(item);
    const parts = s.split(":");
    if (parts.length === 1) return { type: "volume", target: s };
    if (parts.length > 3 || parts.some((x) => x === "")) throw invalid(`${field}: invalid volume specification "${s}"`, { field });
    const [src, target, mode] = parts as [string, string, string | undefined];
    const mount: VolumeMount = isPath(src) ? { type: "bind", source: hostPath(src, dir), target, bind: { create_host_path: true } } : { type: "volume", source: src, target, volume: {} };
    for (const opt of (mode ?? "").split(",").filter(Boolean)) {
      if (opt === "ro") mount.read_only = true;
      else if (opt === "rw") mount.read_only = false;
      else if (opt === "nocopy" && mount.type === "volume") mount.volume = { nocopy: true };
      else if (["z", "Z", "shared", "slave", "private", "rshared", "rslave", "rprivate"].includes(opt) && mount.type === "bind") {
        if (!["z", "Z"].includes(opt)) mount.bind = { ...mount.bind, propagation: opt };
      } else throw invalid(`${field}: invalid mode "${opt}" in "${s}"`, { field });
    }
    return mount;
  });
}

/** A service from one file, normalized; `warn` hears of each field cove does not act on. */
export function normalizeService(name: string, raw: Raw, dir: string, warn: (msg: string) => void): ServiceConfig & { env_file?: { path: string; required: boolean }[]; extends?: unknown } {
  const where = `services.${name}`;
  for (const key of Object.keys(raw)) if (!SUPPORTED.has(key) && !key.startsWith("x-")) warn(`${where}.${key}: not supported by cove compose yet; ignored`);
  const s: Raw = {};
  for (const [k, v] of Object.entries(raw)) if (SUPPORTED.has(k)) s[k] = v;
  // not built (warned above), but kept: pull and push tell a buildable service from a pulled one
  if (raw.build !== undefined && raw.build !== null) s.build = raw.build;
  // compose watch's rules, as written (cli/compose/watch.ts reads them)
  if (raw.develop !== undefined && raw.develop !== null) s.develop = raw.develop;
  if (typeof s.command === "string") s.command = shellSplit(s.command, `${where}.command`);
  else if (Array.isArray(s.command)) s.command = s.command.map(str);
  if (typeof s.entrypoint === "string") s.entrypoint = shellSplit(s.entrypoint, `${where}.entrypoint`);
  else if (Array.isArray(s.entrypoint)) s.entrypoint = s.entrypoint.map(str);
  if (s.command === null) delete s.command;
  if (s.entrypoint === null) delete s.entrypoint;
  if (s.environment !== undefined) s.environment = toMap(s.environment, "=", true);
  if (s.labels !== undefined) s.labels = toMap(s.labels, "=", false);
  if (s.sysctls !== undefined) s.sysctls = toMap(s.sysctls, "=", false);
  if (s.env_file !== undefined) {
    const files = Array.isArray(s.env_file) ? s.env_file : [s.env_file];
    s.env_file = files.map((f) => (f && typeof f === "object" ? { path: path.resolve(dir, str((f as Raw).path)), required: (f as Raw).required !== false } : { path: path.resolve(dir, str(f)), required: true }));
  }
  if (s.ports !== undefined) s.ports = parsePorts(s.ports as unknown[], where);
  if (s.expose !== undefined) s.expose = list(s.expose);
  for (const k of ["tmpfs", "dns", "dns_search", "cap_add", "cap_drop", "profiles", "security_opt"]) if (s[k] !== undefined) s[k] = list(s[k]);
  if (s.pull_policy !== undefined && !["always", "never", "missing", "if_not_present", "build"].includes(str(s.pull_policy)))
    throw invalid(`${where}.pull_policy: ${str(s.pull_policy)} is not one of always, never, missing, if_not_present, build`, { code: "compose.invalid", field: `${where}.pull_policy` });
  if (s.extra_hosts !== undefined)
    s.extra_hosts = Array.isArray(s.extra_hosts)
      ? s.extra_hosts.map((h) => str(h).replace(/^([^:=]+)=/, "$1:"))
      : Object.entries(s.extra_hosts as Raw).flatMap(([h, ip]) => (Array.isArray(ip) ? ip.map((x) => `${h}:${str(x)}`) : [`${h}:${str(ip)}`]));
  if (s.networks !== undefined) {
    const nets: Record<string, ServiceNetwork | null> = {};
    if (Array.isArray(s.networks)) for (const n of s.networks) nets[str(n)] = null;
    else for (const [k, v] of Object.entries(s.networks as Raw)) nets[k] = (v as ServiceNetwork | null) ?? null;
    s.networks = nets;
  }
  if (s.volumes !== undefined) s.volumes = parseVolumes(s.volumes as unknown[], dir, where);
  if (s.depends_on !== undefined) {
    const deps: Record<string, Dependency> = {};
    if (Array.isArray(s.depends_on)) for (const d of s.depends_on) deps[str(d)] = { condition: "service_started", required: true, restart: false };
    else
      for (const [k, v] of Object.entries(s.depends_on as Raw)) {
        const o = (v ?? {}) as Raw;
        deps[k] = { condition: (o.condition as Dependency["condition"]) ?? "service_started", required: o.required !== false, restart: o.restart === true };
      }
    s.depends_on = deps;
  }
  if (s.healthcheck !== undefined) {
    const h = { ...(s.healthcheck as Raw) };
    if (typeof h.test === "string") h.test = ["CMD-SHELL", h.test];
    s.healthcheck = h;
  }
  if (s.deploy !== undefined) {
    const d = s.deploy as Raw;
    for (const k of Object.keys(d)) if (k !== "replicas" && k !== "resources") warn(`${where}.deploy.${k}: not supported by cove compose yet; ignored`);
    if (d.replicas !== undefined && s.scale === undefined) s.scale = Number(d.replicas);
    if (d.resources !== undefined && d.resources !== null) {
      const r = d.resources as { limits?: Raw; reservations?: Raw };
      for (const k of Object.keys(r)) if (k !== "limits" && k !== "reservations") warn(`${where}.deploy.resources.${k}: not supported by cove compose yet; ignored`);
      for (const k of Object.keys(r.limits ?? {})) if (!["cpus", "memory", "pids"].includes(k)) warn(`${where}.deploy.resources.limits.${k}: not supported by cove compose yet; ignored`);
      for (const k of Object.keys(r.reservations ?? {})) if (k !== "memory") warn(`${where}.deploy.resources.reservations.${k}: not supported by cove compose yet; ignored`);
      s.resources = { limits: r.limits ?? {}, reservations: r.reservations ?? {} };
    }
    delete s.deploy;
  }
  if (s.scale !== undefined) s.scale = Number(s.scale);
  for (const kind of ["configs", "secrets"] as const) if (s[kind] !== undefined) s[kind] = parseGrants(s[kind], kind, where);
  for (const k of ["init", "read_only", "privileged", "tty", "stdin_open"]) if (typeof s[k] === "string") s[k] = s[k] === "true";
  return s as ServiceConfig;
}

const REPLACED = new Set(["command", "entrypoint"]);

/** `override` merged over `base` by the Compose Specification's merge rules. */
export function mergeService(base: ServiceConfig, override: ServiceConfig): ServiceConfig {
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const b = out[k];
    if (v === undefined) continue;
    if (REPLACED.has(k) || b === undefined || b === null || v === null) out[k] = v;
    else if (k === "volumes" || k === "configs" || k === "secrets") {
      const byTarget = new Map((b as VolumeMount[]).map((m) => [m.target, m]));
      for (const m of v as VolumeMount[]) byTarget.set(m.target, m);
      out[k] = [...byTarget.values()];
    } else if (k === "healthcheck") out[k] = { ...(b as Raw), ...(v as Raw) };
    else if (Array.isArray(b) && Array.isArray(v)) {
      const seen = new Set(b.map((x) => JSON.stringify(x)));
      out[k] = [...b, ...v.filter((x) => !seen.has(JSON.stringify(x)))];
    } else if (isObject(b) && isObject(v)) out[k] = deepMerge(b, v);
    else out[k] = v;
  }
  return out as ServiceConfig;
}

function isObject(v: unknown): v is Raw {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Mappings merged key by key (recursively); anything else in `o` replaces what `b` had. */
export function deepMerge(b: Raw, o: Raw): Raw {
  const out: Raw = { ...b };
  for (const [k, v] of Object.entries(o)) out[k] = isObject(out[k]) && isObject(v) ? deepMerge(out[k], v) : v;
  return out;
}
