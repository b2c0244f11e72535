// The docker CLI's option values for `run`/`create` and `exec` (cli/opts and
// cli/command/container/opts.go): env and label files, port specs (go-connections nat),
// capabilities, ulimits, devices, --mount CSV, restart policies and security options. Each
// throws the docker CLI's error text; the request builder wraps it in the flag's usage error.

import { readFile } from "node:fs/promises";
import path from "node:path";
import { CoveError, invalid } from "../common/errors.js";
import { ramInBytes, type DeviceRequest, type PortBinding } from "../docker/index.js";
import { splitCsv } from "./network-opts.js";

/** A bad option value, in the docker CLI's words. */
function optionError(message: string) {
  return invalid(message, { code: "opts.invalid" });
}

// ---- env and labels ---------------------------------------------------------------------------

/** Docker's ENV file format: KEY=VALUE lines, # comments, bare KEY taken from the environment. */
export async function parseEnvFile(file: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw optionError(`open ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (err as Error).message}`);
  }
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^[\s]+/, "").replace(/\r$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const name = eq < 0 ? line : line.slice(0, eq);
    if (name === "") throw optionError(`invalid env file (${file}): variable without name`);
    if (/\s/.test(name)) throw optionError(`invalid env file (${file}): variable '${name}' contains whitespaces`);
    if (eq >= 0) out.push(`${name}=${line.slice(eq + 1)}`);
    else if (env[name] !== undefined) out.push(`${name}=${env[name]}`);
  }
  return out;
}

/** A label file: KEY=VALUE lines, # comments; a bare KEY is dropped (as the docker CLI does). */
export async function parseLabelFile(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw optionError(`open ${file}: ${err.code === "ENOENT" ? "no such file or directory" : err.message}`);
  });
  return text
    .split("\n")
    .map((l) => l.replace(/^\s+/, "").replace(/\r$/, ""))
    .filter((l) => l !== "" && !l.startsWith("#") && l.includes("="));
}

/** docker's opts.ValidateEnv: KEY=VALUE as is, bare KEY from the environment (or left bare). */
export function validateEnv(v: string, env: NodeJS.ProcessEnv): string {
  const eq = v.indexOf("=");
  if (eq === 0 || v === "") throw optionError(`invalid environment variable: ${v}`);
  if (eq > 0) return v;
  return env[v] !== undefined ? `${v}=${env[v]}` : v;
}

// ---- ports (docker/go-connections nat) ---------------------------------------------------------

export function parsePortRange(s: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw optionError(`invalid port range: ${s}`);
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a;
  if (a > 65535 || b > 65535 || b < a) throw optionError(`invalid port range: ${s}`);
  return [a, b];
}

export interface PortSpecs {
  exposed: Record<string, object>;
  bindings: Record<string, PortBinding[]>;
}

/** nat.ParsePortSpecs: [ip:][hostPort:]containerPort[/proto], ranges allowed. */
export function parsePortSpecs(specs: readonly string[]): PortSpecs {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, PortBinding[]> = {};
  for (const raw of specs) {
    let proto = "tcp";
    let spec = raw;
    const slash = raw.lastIndexOf("/");
    if (slash >= 0) {
      proto = raw.slice(slash + 1).toLowerCase();
      spec = raw.slice(0, slash);
      if (!["tcp", "udp", "sctp"].includes(proto)) throw optionError(`invalid proto: ${proto}`);
    }
    const parts = spec.split(":");
    const n = parts.length;
    const containerPort = parts[n - 1]!;
    let hostIp = "";
    let hostPort = "";
    if (n === 2) hostPort = parts[0]!;
    else if (n === 3) [hostIp, hostPort] = [parts[0]!, parts[1]!];
    else if (n > 3) [hostIp, hostPort] = [parts.slice(0, n - 2).join(":"), parts[n - 2]!];
    if (hostIp.startsWith("[") && hostIp.endsWith("]")) hostIp = hostIp.slice(1, -1);
    if (containerPort === "") throw optionError(`no port specified: ${raw}<empty>`);
    const [cStart, cEnd] = parsePortRange(containerPort);
    let hStart = 0;
    let hEnd = 0;
    if (hostPort !== "") {
      try {
        [hStart, hEnd] = parsePortRange(hostPort);
      } catch (err) {
        if (!(err instanceof CoveError)) throw err;
        throw optionError(`invalid hostPort: ${hostPort}`);
      }
    }
    if (hostPort !== "" && cEnd - cStart !== hEnd - hStart && hEnd !== hStart && cEnd !== cStart) {
      throw optionError(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
    }
    for (let i = 0; i <= cEnd - cStart; i++) {
      const key = `${cStart + i}/${proto}`;
      let hp = hostPort;
      if (hostPort !== "" && cEnd - cStart === hEnd - hStart) hp = String(hStart + i);
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: hostIp, HostPort: hp });
    }
  }
  return { exposed, bindings };
}

export function normalizeCaps(caps: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of caps) {
    let n = c.trim().toUpperCase();
    if (n !== "ALL" && !n.startsWith("CAP_")) n = "CAP_" + n;
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** docker's opts.EffectiveCapAddCapDrop. */
export function effectiveCaps(add: readonly string[], drop: readonly string[]): [string[] | null, string[] | null] {
  let a = normalizeCaps(add);
  let d = normalizeCaps(drop);
  if (a.includes("ALL")) a = ["ALL"];
  if (d.includes("ALL")) d = ["ALL"];
  d = d.filter((c) => !a.includes(c));
  return [a.length ? a : null, d.length ? d : null];
}

export function parseUlimit(v: string): { Name: string; Hard: number; Soft: number } {
  const eq = v.indexOf("=");
  if (eq <= 0) throw optionError(`invalid ulimit argument: ${v}`);
  const name = v.slice(0, eq);
  const [soft, hard, extra] = v.slice(eq + 1).split(":");
  if (extra !== undefined) throw optionError(`too many limit value arguments - ${v.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const num = (s: string | undefined) => {
    if (s === undefined || !/^-?\d+$/.test(s)) throw optionError(`invalid ulimit argument: ${v}`);
    return Number(s);
  };
  const s = num(soft);
  const h = hard === undefined ? s : num(hard);
  if (s > h && h !== -1) throw optionError(`ulimit soft limit must be less than or equal to hard limit: ${s} > ${h}`);
  return { Name: name, Hard: h, Soft: s };
}

const DEVICE_PERMS = /^[rwm]{1,3}$/;

export function parseDevice(v: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = v.split(":");
  let src = parts[0]!;
  let dst = "";
  let perms = "rwm";
  if (parts.length === 3) {
    if (!DEVICE_PERMS.test(parts[2]!)) throw optionError(`bad mode specified: ${parts[2]}`);
    [dst, perms] = [parts[1]!, parts[2]!];
  } else if (parts.length === 2) {
    if (DEVICE_PERMS.test(parts[1]!)) perms = parts[1]!;
    else dst = parts[1]!;
  } else if (parts.length !== 1) throw optionError(`invalid device specification: ${v}`);
  if (dst === "") dst = src;
  if (!src.startsWith("/")) throw optionError(`${v} is not an absolute path`);
  src = path.posix.normalize(src);
  return { PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms };
}

/** docker's --mount CSV (opts.MountOpt). */
export function parseMount(v: string): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  let type = "volume";
  let source: string | undefined;
  let target: string | undefined;
  let readOnly: boolean | undefined;
  const bind: Record<string, unknown> = {};
  const vol: Record<string, unknown> = {};
  const tmpfs: Record<string, unknown> = {};
  const fields = v.split(",");
  for (const f of fields) {
    const eq = f.indexOf("=");
    const key = (eq < 0 ? f : f.slice(0, eq)).toLowerCase();
    const val = eq < 0 ? undefined : f.slice(eq + 1);
    const boolVal = () => {
      if (val === undefined) return true;
      const b = ["1", "true"].includes(val.toLowerCase()) ? true : ["0", "false"].includes(val.toLowerCase()) ? false : undefined;
      if (b === undefined) throw optionError(`invalid value for ${key}: ${val}`);
      return b;
    };
    if (val === undefined && !["readonly", "ro", "volume-nocopy", "bind-nonrecursive"].includes(key)) throw optionError(`invalid field '${f}' must be a key=value pair`);
    switch (key) {
      case "type":
        type = val!.toLowerCase();
        break;
      case "source":
      case "src":
        source = val;
        break;
      case "target":
      case "dst":
      case "destination":
        target = val;
        break;
      case "readonly":
      case "ro":
        readOnly = boolVal();
        break;
      case "bind-propagation":
        bind.Propagation = val!.toLowerCase();
        break;
      case "bind-nonrecursive":
        bind.NonRecursive = boolVal();
        break;
      case "volume-nocopy":
        vol.NoCopy = boolVal();
        break;
      case "volume-label": {
        const [k, ...rest] = val!.split("=");
        ((vol.Labels ??= {}) as Record<string, string>)[k!] = rest.join("=");
        break;
      }
      case "volume-opt": {
        const [k, ...rest] = val!.split("=");
        const driver = (vol.DriverConfig ??= {}) as { Options?: Record<string, string> };
        (driver.Options ??= {})[k!] = rest.join("=");
        break;
      }
      case "volume-driver":
        vol.DriverConfig = { ...((vol.DriverConfig as object) ?? {}), Name: val };
        break;
      case "volume-subpath":
        vol.Subpath = val;
        break;
      case "tmpfs-size":
        tmpfs.SizeBytes = ramInBytes(val!);
        break;
      case "tmpfs-mode": {
        if (!/^[0-7]+$/.test(val!)) throw optionError(`invalid value for ${key}: ${val}`);
        tmpfs.Mode = parseInt(val!, 8);
        break;
      }
      default:
        throw optionError(`unexpected key '${key}' in '${f}'`);
    }
  }
  m.Type = type;
  if (source !== undefined && source !== "") m.Source = source;
  if (target !== undefined) m.Target = target;
  if (readOnly) m.ReadOnly = true;
  if (Object.keys(bind).length) m.BindOptions = bind;
  if (Object.keys(vol).length) m.VolumeOptions = vol;
  if (Object.keys(tmpfs).length) m.TmpfsOptions = tmpfs;
  if (target === undefined || target === "") throw optionError("target is required");
  if (type === "bind" && m.Source === undefined) throw optionError("source is required when specifying bind mount");
  if (Object.keys(bind).length && type !== "bind") throw optionError(`cannot mix 'bind-*' options with mount type '${type}'`);
  if (Object.keys(tmpfs).length && type !== "tmpfs") throw optionError(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  return m;
}

export function parseRestart(v: string): { Name: string; MaximumRetryCount: number } {
  if (v === "") return { Name: "no", MaximumRetryCount: 0 };
  const [name, count, extra] = v.split(":");
  if (extra !== undefined) throw optionError(`invalid restart policy format: maximum retry count must be an integer`);
  if (!["no", "always", "unless-stopped", "on-failure"].includes(name!)) throw optionError(`invalid restart policy format: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  if (count === undefined) return { Name: name!, MaximumRetryCount: 0 };
  if (!/^\d+$/.test(count)) throw optionError(`invalid restart policy format: maximum retry count must be an integer`);
  if (name !== "on-failure") throw optionError(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
  return { Name: name, MaximumRetryCount: Number(count) };
}

export async function parseSecurityOpts(opts: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const o of opts) {
    if (o === "systempaths=unconfined" || o.startsWith("systempaths=")) continue; // becomes Masked/ReadonlyPaths
    let v: string;
    const sep = o.indexOf("=") >= 0 ? "=" : o.indexOf(":") >= 0 ? ":" : "";
    if (sep === "") {
      if (o !== "no-new-privileges") throw optionError(`Invalid --security-opt: ${JSON.stringify(o)}`);
      out.push(o);
      continue;
    }
    const k = o.slice(0, o.indexOf(sep));
    v = o.slice(o.indexOf(sep) + 1);
    if (k === "seccomp" && v !== "unconfined" && v !== "builtin") {
      let text: string;
      try {
        text = await readFile(v, "utf8");
      } catch (err) {
        throw optionError(`opening seccomp profile (${v}) failed: ${(err as Error).message}`);
      }
      v = JSON.stringify(JSON.parse(text));
    }
    out.push(`${k}=${v}`);
  }
  return out;
}

// ---- block IO, device rules and GPUs (cli/opts: weightdevice, throttledevice, gpus) ------------

/** --blkio-weight-device DEVICE:WEIGHT (opts.ValidateWeightDevice). */
export function parseWeightDevice(v: string): { Path: string; Weight: number } {
  const parts = v.split(":");
  if (parts.length !== 2) throw optionError(`bad format: ${v}`);
  const [device, weight] = parts as [string, string];
  if (!device.startsWith("/dev/")) throw optionError(`bad format for device path: ${v}`);
  const w = /^\d+$/.test(weight) ? Number(weight) : NaN;
  if (!(w <= 65535)) throw optionError(`invalid weight for device: ${v}`);
  if (w > 0 && (w < 10 || w > 1000)) throw optionError(`invalid weight for device: ${v}`);
  return { Path: device, Weight: w };
}

/** --device-read-bps/--device-write-bps DEVICE:RATE[unit] and the -iops ones DEVICE:N (opts.ValidateThrottle*Device). */
export function parseThrottleDevice(v: string, kind: "bps" | "iops"): { Path: string; Rate: number } {
  const parts = v.split(":");
  if (parts.length !== 2) throw optionError(`bad format: ${v}`);
  const [device, rate] = parts as [string, string];
  if (!device.startsWith("/dev/")) throw optionError(`bad format for device path: ${v}`);
  if (kind === "iops") {
    if (!/^\d+$/.test(rate)) throw optionError(`invalid rate for device: ${v}. The correct format is <device-path>:<number>. Number must be a positive integer`);
    return { Path: device, Rate: Number(rate) };
  }
  let bytes: number;
  try {
    bytes = ramInBytes(rate);
  } catch {
    bytes = -1;
  }
  if (bytes < 0) throw optionError(`invalid rate for device: ${v}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb`);
  return { Path: device, Rate: bytes };
}

const DEVICE_CGROUP_RULE = /^[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}$/;

/** --device-cgroup-rule "c 1:3 mr" (validateDeviceCgroupRule). */
export function validateDeviceCgroupRule(v: string): string {
  if (!DEVICE_CGROUP_RULE.test(v)) throw optionError(`invalid device cgroup format '${v}'`);
  return v;
}

/** One --gpus value: "all", a count, or csv fields driver=, count=, device=, capabilities=, options= (opts.GpuOpts). */
export function parseGpuRequest(v: string): Required<DeviceRequest> & { Options: Record<string, string> } {
  const count = (s: string) => {
    if (s === "all") return -1;
    if (!/^[+-]?\d+$/.test(s)) throw optionError(`invalid count (${s}): value must be either "all" or an integer: invalid syntax`);
    return Number(s);
  };
  const req: Required<DeviceRequest> & { Options: Record<string, string> } = { Driver: "", Count: 0, DeviceIDs: null, Capabilities: [], Options: {} };
  let capabilities: string[][] | undefined;
  const seen = new Set<string>();
  for (const field of splitCsv(v)) {
    const eq = field.indexOf("=");
    const key = eq < 0 ? field : field.slice(0, eq);
    const val = eq < 0 ? "" : field.slice(eq + 1);
    if (seen.has(key)) throw optionError(`gpu request key '${key}' can be specified only once`);
    seen.add(key);
    if (eq < 0) {
      seen.add("count");
      req.Count = count(key);
      continue;
    }
    if (key === "driver") req.Driver = val;
    else if (key === "count") req.Count = count(val);
    else if (key === "device") {
      seen.add("count");
      req.DeviceIDs = val.split(",");
    } else if (key === "capabilities") capabilities = [[...val.split(","), "gpu"]];
    else if (key === "options") {
      for (const o of splitCsv(val)) {
        const e = o.indexOf("=");
        req.Options[e < 0 ? o : o.slice(0, e)] = e < 0 ? "" : o.slice(e + 1);
      }
    } else throw optionError(`unexpected key '${key}' in '${field}'`);
  }
  if (!seen.has("count") && req.DeviceIDs === null) req.Count = 1;
  req.Capabilities = capabilities ?? [["gpu"]];
  return req;
}
