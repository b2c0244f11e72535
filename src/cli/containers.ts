// The container commands of the cove CLI, talking to a Docker Engine API daemon (cove's, or any
// dockerd) through EngineClient, with the docker CLI's flags, request bodies, output and exit
// codes: run, create, start, stop, restart, kill, rm, ps, logs, exec, attach, inspect, top, wait,
// rename, pause, unpause, port, update, container ls/rm/prune, stats, cp, diff, export, commit,
// info, version, events.
//
// `run`/`create` translate flags into the same POST /containers/create body the docker CLI sends
// (cli/command/container/opts.go); test/cli/create-body.test.ts holds that against the docker CLI.

import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, readFile, readdir, readlink, stat, symlink, chown, utimes, chmod, lchown, rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, pack as tarPack, type Header } from "tar-stream";
import { CoveError, invalid } from "../common/errors.js";
import { EngineClient, EngineError } from "../client/engine.js";
import { copyStream, jsonLines, type ProgressMessage } from "../client/stream.js";
import type { HijackedStream } from "../client/index.js";
import { bytesSize, DetachScanner, humanSize, humanSizeWithPrecision, parseGoDuration, parseNanoCpus, ramInBytes, type ContainerInspect, type ContainerSummary, type PortBinding, type StatsResponse } from "../docker/index.js";
import { familiarString, parseNormalizedNamed, tagNameOnly } from "../images/reference.js";
import { formatRows, goMap, GO_TYPE, MARSHAL_JSON, marshalJSON, parseTemplate, tabwrite, type Template } from "./format/index.js";
import { helpText, parseFilters, parseFlags, UsageError, type CommandSpec, type FlagSpecs, type Parsed } from "./flags.js";
import { detachKeys, makeRaw, monitorTtySize, proxySignals, terminalSize } from "./terminal.js";
import { networkingConfig } from "./network-opts.js";
import { createdSince, ellipsis, goTimeString, truncateID } from "./units.js";
import { readLine } from "./input.js";

// ---- context and I/O ---------------------------------------------------------------------------

export interface ContainerIO {
  stdout: Writable & { isTTY?: boolean; rows?: number; columns?: number };
  stderr: Writable;
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
}

export interface ContainerContext {
  client: EngineClient;
  /** Streams; process.stdout/stderr/stdin when not given. */
  io?: Partial<ContainerIO>;
  /** Current time in ms, for "2 hours ago" (tests pin it). */
  now?: number;
  /** The environment for `-e NAME` and env files (process.env when not given). */
  env?: NodeJS.ProcessEnv;
}

export type ContainerCommand = (argv: string[], ctx: ContainerContext) => Promise<number>;

interface Run {
  io: ContainerIO;
  client: EngineClient;
  now: number;
  env: NodeJS.ProcessEnv;
  out(s: string): void;
  err(s: string): void;
}

function makeRun(ctx: ContainerContext): Run {
  const io: ContainerIO = {
    stdout: ctx.io?.stdout ?? process.stdout,
    stderr: ctx.io?.stderr ?? process.stderr,
    stdin: ctx.io?.stdin ?? process.stdin,
  };
  return {
    io,
    client: ctx.client,
    now: ctx.now ?? Date.now(),
    env: ctx.env ?? process.env,
    out: (s) => void io.stdout.write(s),
    err: (s) => void io.stderr.write(s),
  };
}

/** One error as the docker CLI prints it: daemon errors prefixed, client-side errors plain. */
export function errorLine(err: unknown): string {
  if (err instanceof EngineError) return `Error response from daemon: ${err.message}`;
  if (err instanceof CoveError) {
    if (err.code.startsWith("template.") || err.code.startsWith("cli.") || err.code.startsWith("engine.")) return err.message;
    return `Error: ${err.message}`;
  }
  return `Error: ${(err as Error)?.message ?? String(err)}`;
}

/** A client-side error printed as is (exit 1 unless given). */
class CliError extends CoveError {
  constructor(
    message: string,
    readonly status = 1,
  ) {
    super("invalid", message, { code: "cli.error" });
  }
}

function report(run: Run, err: unknown): number {
  if (err instanceof UsageError) {
    run.err(err.describe() + "\n");
    return err.status;
  }
  run.err(errorLine(err) + "\n");
  if (err instanceof CliError) return err.status;
  return 1;
}

function command<S extends FlagSpecs>(spec: CommandSpec<S>, body: (p: Parsed<S>, run: Run) => Promise<number>): ContainerCommand {
  return async (argv, ctx) => {
    const run = makeRun(ctx);
    try {
      const parsed = parseFlags(argv, spec);
      if (parsed.help) {
        run.out(helpText(spec));
        return 0;
      }
      return await body(parsed, run);
    } catch (err) {
      return report(run, err);
    }
  };
}

/** Runs `fn` for each argument; errors are printed and make the status 1 (docker's per-container loop). */
async function forEach(run: Run, args: string[], fn: (arg: string) => Promise<void>): Promise<number> {
  let status = 0;
  for (const a of args) {
    try {
      await fn(a);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      run.err(errorLine(err) + "\n");
      status = 1;
    }
  }
  return status;
}

// ---- value parsers (docker's opts) ----------------------------------------------------------------

/** Docker's ENV file format: KEY=VALUE lines, # comments, bare KEY taken from the environment. */
export async function parseEnvFile(file: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new Error(`open ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (err as Error).message}`);
  }
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/^[\s]+/, "").replace(/\r$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const name = eq < 0 ? line : line.slice(0, eq);
    if (name === "") throw new Error(`invalid env file (${file}): variable without name`);
    if (/\s/.test(name)) throw new Error(`invalid env file (${file}): variable '${name}' contains whitespaces`);
    if (eq >= 0) out.push(`${name}=${line.slice(eq + 1)}`);
    else if (env[name] !== undefined) out.push(`${name}=${env[name]}`);
  }
  return out;
}

/** A label file: KEY=VALUE lines, # comments; a bare KEY is dropped (as the docker CLI does). */
async function parseLabelFile(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new Error(`open ${file}: ${err.code === "ENOENT" ? "no such file or directory" : err.message}`);
  });
  return text
    .split("\n")
    .map((l) => l.replace(/^\s+/, "").replace(/\r$/, ""))
    .filter((l) => l !== "" && !l.startsWith("#") && l.includes("="));
}

/** docker's opts.ValidateEnv: KEY=VALUE as is, bare KEY from the environment (or left bare). */
function validateEnv(v: string, env: NodeJS.ProcessEnv): string {
  const eq = v.indexOf("=");
  if (eq === 0 || v === "") throw new Error(`invalid environment variable: ${v}`);
  if (eq > 0) return v;
  return env[v] !== undefined ? `${v}=${env[v]}` : v;
}

// ---- ports (docker/go-connections nat) ---------------------------------------------------------

function parsePortRange(s: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new Error(`invalid port range: ${s}`);
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a;
  if (a > 65535 || b > 65535 || b < a) throw new Error(`invalid port range: ${s}`);
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
      if (!["tcp", "udp", "sctp"].includes(proto)) throw new Error(`invalid proto: ${proto}`);
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
    if (containerPort === "") throw new Error(`no port specified: ${raw}<empty>`);
    const [cStart, cEnd] = parsePortRange(containerPort);
    let hStart = 0;
    let hEnd = 0;
    if (hostPort !== "") {
      try {
        [hStart, hEnd] = parsePortRange(hostPort);
      } catch {
        throw new Error(`invalid hostPort: ${hostPort}`);
      }
    }
    if (hostPort !== "" && cEnd - cStart !== hEnd - hStart && hEnd !== hStart && cEnd !== cStart) {
      throw new Error(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
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

// ---- run/create flags → the create body ---------------------------------------------------------

const RUN_FLAGS = {
  "add-host": { type: "list", valueName: "list", description: "Add a custom host-to-IP mapping (host:ip)" },
  attach: { type: "list", short: "a", valueName: "list", description: "Attach to STDIN, STDOUT or STDERR" },
  "blkio-weight": { type: "int", valueName: "uint16", description: "Block IO (relative weight), between 10 and 1000, or 0 to disable" },
  "cap-add": { type: "list", valueName: "list", description: "Add Linux capabilities" },
  "cap-drop": { type: "list", valueName: "list", description: "Drop Linux capabilities" },
  "cgroup-parent": { type: "string", valueName: "string", description: "Optional parent cgroup for the container" },
  cgroupns: { type: "string", valueName: "string", description: "Cgroup namespace to use (host|private)" },
  cidfile: { type: "string", valueName: "string", description: "Write the container ID to the file" },
  "cpu-period": { type: "int", valueName: "int", description: "Limit CPU CFS (Completely Fair Scheduler) period" },
  "cpu-quota": { type: "int", valueName: "int", description: "Limit CPU CFS (Completely Fair Scheduler) quota" },
  "cpu-shares": { type: "int", short: "c", valueName: "int", description: "CPU shares (relative weight)" },
  cpus: { type: "string", valueName: "decimal", description: "Number of CPUs" },
  "cpuset-cpus": { type: "string", valueName: "string", description: "CPUs in which to allow execution (0-3, 0,1)" },
  "cpuset-mems": { type: "string", valueName: "string", description: "MEMs in which to allow execution (0-3, 0,1)" },
  detach: { type: "bool", short: "d", description: "Run container in background and print container ID" },
  "detach-keys": { type: "string", valueName: "string", description: "Override the key sequence for detaching a container" },
  device: { type: "list", valueName: "list", description: "Add a host device to the container" },
  dns: { type: "list", valueName: "list", description: "Set custom DNS servers" },
  "dns-option": { type: "list", valueName: "list", description: "Set DNS options" },
  "dns-search": { type: "list", valueName: "list", description: "Set custom DNS search domains" },
  domainname: { type: "string", valueName: "string", description: "Container NIS domain name" },
  entrypoint: { type: "string", valueName: "string", description: "Overwrite the default ENTRYPOINT of the image" },
  env: { type: "list", short: "e", valueName: "list", description: "Set environment variables" },
  "env-file": { type: "list", valueName: "list", description: "Read in a file of environment variables" },
  expose: { type: "list", valueName: "list", description: "Expose a port or a range of ports" },
  "group-add": { type: "list", valueName: "list", description: "Add additional groups to join" },
  "health-cmd": { type: "string", valueName: "string", description: "Command to run to check health" },
  "health-interval": { type: "string", valueName: "duration", description: "Time between running the check (ms|s|m|h) (default 0s)" },
  "health-retries": { type: "int", valueName: "int", description: "Consecutive failures needed to report unhealthy" },
  "health-start-interval": { type: "string", valueName: "duration", description: "Time between running the check during the start period (ms|s|m|h) (default 0s)" },
  "health-start-period": { type: "string", valueName: "duration", description: "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)" },
  "health-timeout": { type: "string", valueName: "duration", description: "Maximum time to allow one check to run (ms|s|m|h) (default 0s)" },
  hostname: { type: "string", short: "h", valueName: "string", description: "Container host name" },
  init: { type: "bool", description: "Run an init inside the container that forwards signals and reaps processes" },
  interactive: { type: "bool", short: "i", description: "Keep STDIN open even if not attached" },
  ip: { type: "string", valueName: "string", description: "IPv4 address (e.g., 172.30.100.104)" },
  ip6: { type: "string", valueName: "string", description: "IPv6 address (e.g., 2001:db8::33)" },
  ipc: { type: "string", valueName: "string", description: "IPC mode to use" },
  label: { type: "list", short: "l", valueName: "list", description: "Set meta data on a container" },
  "label-file": { type: "list", valueName: "list", description: "Read in a line delimited file of labels" },
  link: { type: "list", valueName: "list", description: "Add link to another container" },
  "link-local-ip": { type: "list", valueName: "list", description: "Container IPv4/IPv6 link-local addresses" },
  "log-driver": { type: "string", valueName: "string", description: "Logging driver for the container" },
  "log-opt": { type: "list", valueName: "list", description: "Log driver options" },
  "mac-address": { type: "string", valueName: "string", description: "Container MAC address (e.g., 92:d0:c6:0a:29:33)" },
  memory: { type: "string", short: "m", valueName: "bytes", description: "Memory limit" },
  "memory-reservation": { type: "string", valueName: "bytes", description: "Memory soft limit" },
  "memory-swap": { type: "string", valueName: "bytes", description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  "memory-swappiness": { type: "int", valueName: "int", default: -1, description: "Tune container memory swappiness (0 to 100) (default -1)" },
  mount: { type: "list", valueName: "mount", description: "Attach a filesystem mount to the container" },
  name: { type: "string", valueName: "string", description: "Assign a name to the container" },
  network: { type: "list", valueName: "network", description: "Connect a container to a network" },
  "network-alias": { type: "list", valueName: "list", description: "Add network-scoped alias for the container" },
  net: { type: "list", valueName: "network", hidden: true },
  "net-alias": { type: "list", valueName: "list", hidden: true },
  "no-healthcheck": { type: "bool", description: "Disable any container-specified HEALTHCHECK" },
  "oom-kill-disable": { type: "bool", description: "Disable OOM Killer" },
  "oom-score-adj": { type: "int", valueName: "int", description: "Tune host's OOM preferences (-1000 to 1000)" },
  pid: { type: "string", valueName: "string", description: "PID namespace to use" },
  "pids-limit": { type: "int", valueName: "int", description: "Tune container pids limit (set -1 for unlimited)" },
  platform: { type: "string", valueName: "string", description: "Set platform if server is multi-platform capable" },
  privileged: { type: "bool", description: "Give extended privileges to this container" },
  publish: { type: "list", short: "p", valueName: "list", description: "Publish a container's port(s) to the host" },
  "publish-all": { type: "bool", short: "P", description: "Publish all exposed ports to random ports" },
  pull: { type: "string", valueName: "string", default: "missing", description: 'Pull image before running ("always", "missing", "never")' },
  quiet: { type: "bool", short: "q", description: "Suppress the pull output" },
  "read-only": { type: "bool", description: "Mount the container's root filesystem as read only" },
  restart: { type: "string", valueName: "string", default: "no", description: "Restart policy to apply when a container exits" },
  rm: { type: "bool", description: "Automatically remove the container and its associated anonymous volumes when it exits" },
  runtime: { type: "string", valueName: "string", description: "Runtime to use for this container" },
  "security-opt": { type: "list", valueName: "list", description: "Security Options" },
  "shm-size": { type: "string", valueName: "bytes", description: "Size of /dev/shm" },
  "sig-proxy": { type: "bool", default: true, description: "Proxy received signals to the process" },
  "stop-signal": { type: "string", valueName: "string", description: "Signal to stop the container" },
  "stop-timeout": { type: "int", valueName: "int", description: "Timeout (in seconds) to stop a container" },
  "storage-opt": { type: "list", valueName: "list", description: "Storage driver options for the container" },
  sysctl: { type: "list", valueName: "map", description: "Sysctl options" },
  tmpfs: { type: "list", valueName: "list", description: "Mount a tmpfs directory" },
  tty: { type: "bool", short: "t", description: "Allocate a pseudo-TTY" },
  ulimit: { type: "list", valueName: "ulimit", description: "Ulimit options" },
  user: { type: "string", short: "u", valueName: "string", description: "Username or UID (format: <name|uid>[:<group|gid>])" },
  userns: { type: "string", valueName: "string", description: "User namespace to use" },
  uts: { type: "string", valueName: "string", description: "UTS namespace to use" },
  volume: { type: "list", short: "v", valueName: "list", description: "Bind mount a volume" },
  "volume-driver": { type: "string", valueName: "string", description: "Optional volume driver for the container" },
  "volumes-from": { type: "list", valueName: "list", description: "Mount volumes from the specified container(s)" },
  workdir: { type: "string", short: "w", valueName: "string", description: "Working directory inside the container" },
} as const satisfies FlagSpecs;

type RunFlags = Parsed<typeof RUN_FLAGS>;

function normalizeCaps(caps: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of caps) {
    let n = c.trim().toUpperCase();
    if (n !== "ALL" && !n.startsWith("CAP_")) n = "CAP_" + n;
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** docker's opts.EffectiveCapAddCapDrop. */
function effectiveCaps(add: readonly string[], drop: readonly string[]): [string[] | null, string[] | null] {
  let a = normalizeCaps(add);
  let d = normalizeCaps(drop);
  if (a.includes("ALL")) a = ["ALL"];
  if (d.includes("ALL")) d = ["ALL"];
  d = d.filter((c) => !a.includes(c));
  return [a.length ? a : null, d.length ? d : null];
}

function parseUlimit(v: string): { Name: string; Hard: number; Soft: number } {
  const eq = v.indexOf("=");
  if (eq <= 0) throw new Error(`invalid ulimit argument: ${v}`);
  const name = v.slice(0, eq);
  const [soft, hard, extra] = v.slice(eq + 1).split(":");
  if (extra !== undefined) throw new Error(`too many limit value arguments - ${v.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const num = (s: string | undefined) => {
    if (s === undefined || !/^-?\d+$/.test(s)) throw new Error(`invalid ulimit argument: ${v}`);
    return Number(s);
  };
  const s = num(soft);
  const h = hard === undefined ? s : num(hard);
  if (s > h && h !== -1) throw new Error(`ulimit soft limit must be less than or equal to hard limit: ${s} > ${h}`);
  return { Name: name, Hard: h, Soft: s };
}

const DEVICE_PERMS = /^[rwm]{1,3}$/;

function parseDevice(v: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = v.split(":");
  let src = parts[0]!;
  let dst = "";
  let perms = "rwm";
  if (parts.length === 3) {
    if (!DEVICE_PERMS.test(parts[2]!)) throw new Error(`bad mode specified: ${parts[2]}`);
    [dst, perms] = [parts[1]!, parts[2]!];
  } else if (parts.length === 2) {
    if (DEVICE_PERMS.test(parts[1]!)) perms = parts[1]!;
    else dst = parts[1]!;
  } else if (parts.length !== 1) throw new Error(`invalid device specification: ${v}`);
  if (dst === "") dst = src;
  if (!src.startsWith("/")) throw new Error(`${v} is not an absolute path`);
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
      if (b === undefined) throw new Error(`invalid value for ${key}: ${val}`);
      return b;
    };
    if (val === undefined && !["readonly", "ro", "volume-nocopy", "bind-nonrecursive"].includes(key)) throw new Error(`invalid field '${f}' must be a key=value pair`);
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
        if (!/^[0-7]+$/.test(val!)) throw new Error(`invalid value for ${key}: ${val}`);
        tmpfs.Mode = parseInt(val!, 8);
        break;
      }
      default:
        throw new Error(`unexpected key '${key}' in '${f}'`);
    }
  }
  m.Type = type;
  if (source !== undefined && source !== "") m.Source = source;
  if (target !== undefined) m.Target = target;
  if (readOnly) m.ReadOnly = true;
  if (Object.keys(bind).length) m.BindOptions = bind;
  if (Object.keys(vol).length) m.VolumeOptions = vol;
  if (Object.keys(tmpfs).length) m.TmpfsOptions = tmpfs;
  if (target === undefined || target === "") throw new Error("target is required");
  if (type === "bind" && m.Source === undefined) throw new Error("source is required when specifying bind mount");
  if (Object.keys(bind).length && type !== "bind") throw new Error(`cannot mix 'bind-*' options with mount type '${type}'`);
  if (Object.keys(tmpfs).length && type !== "tmpfs") throw new Error(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  return m;
}

function parseRestart(v: string): { Name: string; MaximumRetryCount: number } {
  if (v === "") return { Name: "no", MaximumRetryCount: 0 };
  const [name, count, extra] = v.split(":");
  if (extra !== undefined) throw new Error(`invalid restart policy format: maximum retry count must be an integer`);
  if (!["no", "always", "unless-stopped", "on-failure"].includes(name!)) throw new Error(`invalid restart policy format: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  if (count === undefined) return { Name: name!, MaximumRetryCount: 0 };
  if (!/^\d+$/.test(count)) throw new Error(`invalid restart policy format: maximum retry count must be an integer`);
  if (name !== "on-failure") throw new Error(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
  return { Name: name, MaximumRetryCount: Number(count) };
}

async function parseSecurityOpts(opts: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const o of opts) {
    if (o === "systempaths=unconfined" || o.startsWith("systempaths=")) continue; // becomes Masked/ReadonlyPaths
    let v: string;
    const sep = o.indexOf("=") >= 0 ? "=" : o.indexOf(":") >= 0 ? ":" : "";
    if (sep === "") {
      if (o !== "no-new-privileges") throw new Error(`Invalid --security-opt: ${JSON.stringify(o)}`);
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
        throw new Error(`opening seccomp profile (${v}) failed: ${(err as Error).message}`);
      }
      v = JSON.stringify(JSON.parse(text));
    }
    out.push(`${k}=${v}`);
  }
  return out;
}

export interface CreateRequest {
  body: Record<string, unknown>;
  name?: string;
  platform?: string;
}

/** The docker CLI's create request for `run`/`create` flags, image and command. */
export async function buildCreateRequest(flags: RunFlags["flags"], set: Set<string>, image: string, cmd: string[], opts: { detach: boolean; env: NodeJS.ProcessEnv; consoleSize?: [number, number] }): Promise<CreateRequest> {
  const flagErr = (name: string, short: string | undefined, value: string, err: unknown) =>
    new UsageError(`invalid argument "${value}" for "${short ? `-${short}, ` : ""}--${name}" flag: ${(err as Error).message}`, "run");
  const bytes = (name: keyof typeof RUN_FLAGS, short?: string): number => {
    const v = flags[name] as string | undefined;
    if (v === undefined || v === "") return 0;
    if (name === "memory-swap" && v === "-1") return -1;
    try {
      return ramInBytes(v);
    } catch (err) {
      throw flagErr(name, short, v, err);
    }
  };
  const duration = (name: keyof typeof RUN_FLAGS): number | undefined => {
    const v = flags[name] as string | undefined;
    if (v === undefined) return undefined;
    let ns: number;
    try {
      ns = parseGoDuration(v);
    } catch (err) {
      throw flagErr(name, undefined, v, err);
    }
    return ns;
  };

  // attach
  const attach = new Set<string>();
  for (const a of flags.attach) {
    const s = a.toLowerCase();
    if (!["stdin", "stdout", "stderr"].includes(s)) throw new UsageError(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`, "run");
    attach.add(s);
  }
  let attachStdin = attach.has("stdin") || flags.interactive;
  let attachStdout = attach.has("stdout");
  let attachStderr = attach.has("stderr");
  if (flags.attach.length === 0) {
    attachStdout = true;
    attachStderr = true;
  }
  let stdinOnce = attachStdin;
  if (opts.detach) {
    attachStdin = attachStdout = attachStderr = false;
    stdinOnce = false;
  }

  // env and labels
  const env: string[] = [];
  for (const f of flags["env-file"]) env.push(...(await parseEnvFile(f, opts.env)));
  for (const e of flags.env) env.push(validateEnv(e, opts.env));
  const labels: Record<string, string> = {};
  const labelLines: string[] = [];
  for (const f of flags["label-file"]) labelLines.push(...(await parseLabelFile(f)));
  labelLines.push(...flags.label);
  for (const l of labelLines) {
    const eq = l.indexOf("=");
    if (eq === 0) throw new UsageError(`invalid argument "${l}" for "-l, --label" flag: invalid label '${l}': empty name`, "run");
    if (eq < 0) labels[l] = "";
    else labels[l.slice(0, eq)] = l.slice(eq + 1);
  }

  // ports
  let ports: PortSpecs;
  try {
    ports = parsePortSpecs(flags.publish);
  } catch (err) {
    throw new UsageError(`invalid argument "${flags.publish.join(",")}" for "-p, --publish" flag: ${(err as Error).message}`, "run");
  }
  for (const e of flags.expose) {
    const slash = e.lastIndexOf("/");
    const proto = slash >= 0 ? e.slice(slash + 1) : "tcp";
    const range = slash >= 0 ? e.slice(0, slash) : e;
    let start: number;
    let end: number;
    try {
      [start, end] = parsePortRange(range);
    } catch (err) {
      throw new UsageError(`invalid range format for --expose: ${e}, error: ${(err as Error).message}`, "run");
    }
    for (let p = start; p <= end; p++) ports.exposed[`${p}/${proto}`] = {};
  }

  // volumes
  const volumes: Record<string, object> = {};
  const binds: string[] = [];
  for (const v of flags.volume) {
    if (v.split(":").length === 1 || (v.split(":").length === 2 && /^(ro|rw|z|Z|[a-z,]+)$/.test(v.split(":")[1]!) && !v.split(":")[1]!.startsWith("/"))) {
      if (!v.includes(":")) {
        volumes[v] = {};
        continue;
      }
    }
    binds.push(v);
  }
  const mounts: Record<string, unknown>[] = [];
  for (const m of flags.mount) {
    try {
      mounts.push(parseMount(m));
    } catch (err) {
      throw new UsageError(`invalid argument "${m}" for "--mount" flag: ${(err as Error).message}`, "run");
    }
  }
  const tmpfs: Record<string, string> = {};
  for (const t of flags.tmpfs) {
    const colon = t.indexOf(":");
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? "" : t.slice(colon + 1);
  }

  // health
  let healthcheck: Record<string, unknown> | undefined;
  const healthSet = ["health-cmd", "health-interval", "health-retries", "health-timeout", "health-start-period", "health-start-interval"].some((f) => set.has(f));
  if (flags["no-healthcheck"]) {
    if (healthSet) throw new UsageError("--no-healthcheck conflicts with --health-* options", "run");
    healthcheck = { Test: ["NONE"] };
  } else if (healthSet) {
    healthcheck = {};
    if (flags["health-cmd"] !== undefined && flags["health-cmd"] !== "") healthcheck.Test = ["CMD-SHELL", flags["health-cmd"]];
    const positive = (name: keyof typeof RUN_FLAGS, field: string) => {
      const ns = duration(name);
      if (ns === undefined) return;
      if (ns < 0) throw new UsageError(`--${name} cannot be negative`, "run");
      if (ns !== 0) healthcheck![field] = ns;
    };
    positive("health-interval", "Interval");
    positive("health-timeout", "Timeout");
    positive("health-start-period", "StartPeriod");
    positive("health-start-interval", "StartInterval");
    const retries = flags["health-retries"] ?? 0;
    if (retries < 0) throw new UsageError("--health-retries cannot be negative", "run");
    if (retries !== 0) healthcheck.Retries = retries;
  }

  // resources
  const ulimits = flags.ulimit.map((u) => {
    try {
      return parseUlimit(u);
    } catch (err) {
      throw flagErr("ulimit", undefined, u, err);
    }
  });
  const devices = flags.device.map((d) => {
    try {
      return parseDevice(d);
    } catch (err) {
      throw flagErr("device", undefined, d, err);
    }
  });
  let nanoCpus = 0;
  if (flags.cpus !== undefined) {
    try {
      nanoCpus = parseNanoCpus(flags.cpus);
    } catch (err) {
      throw flagErr("cpus", undefined, flags.cpus, err);
    }
  }
  const sysctls: Record<string, string> = {};
  for (const s of flags.sysctl) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw flagErr("sysctl", undefined, s, new Error(`${s} is not a valid sysctl value`));
    sysctls[s.slice(0, eq)] = s.slice(eq + 1);
  }
  const logOpts: Record<string, string> = {};
  for (const l of flags["log-opt"]) {
    const eq = l.indexOf("=");
    if (eq <= 0) throw flagErr("log-opt", undefined, l, new Error(`invalid key value pair format in log-opt`));
    logOpts[l.slice(0, eq)] = l.slice(eq + 1);
  }
  let restart: { Name: string; MaximumRetryCount: number };
  try {
    restart = parseRestart(flags.restart);
  } catch (err) {
    throw new UsageError((err as Error).message, "run");
  }
  if (flags.rm && restart.Name !== "no") throw new UsageError("Conflicting options: --restart and --rm", "run");
  let securityOpt: string[];
  try {
    securityOpt = await parseSecurityOpts(flags["security-opt"]);
  } catch (err) {
    throw new UsageError(`invalid argument "${flags["security-opt"].join(",")}" for "--security-opt" flag: ${(err as Error).message}`, "run");
  }
  const [capAdd, capDrop] = effectiveCaps(flags["cap-add"], flags["cap-drop"]);
  const network = networkingConfig(
    { network: [...flags.network, ...flags.net], aliases: [...flags["network-alias"], ...flags["net-alias"]], links: flags.link, ip: flags.ip ?? "", ip6: flags.ip6 ?? "", mac: flags["mac-address"] ?? "", linkLocal: flags["link-local-ip"] },
    "run",
  );

  let entrypoint: string[] | null = null;
  if (flags.entrypoint !== undefined && flags.entrypoint !== "") entrypoint = [flags.entrypoint];
  else if (set.has("entrypoint")) entrypoint = [""];

  const config: Record<string, unknown> = {
    Hostname: flags.hostname ?? "",
    Domainname: flags.domainname ?? "",
    User: flags.user ?? "",
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
  };
  if (Object.keys(ports.exposed).length) config.ExposedPorts = ports.exposed;
  Object.assign(config, {
    Tty: flags.tty,
    OpenStdin: flags.interactive,
    StdinOnce: stdinOnce,
    Env: env.length ? env : null,
    Cmd: cmd.length ? cmd : null,
  });
  if (healthcheck) config.Healthcheck = healthcheck;
  Object.assign(config, {
    Image: image,
    Volumes: volumes,
    WorkingDir: flags.workdir ?? "",
    Entrypoint: entrypoint,
    OnBuild: null,
    Labels: labels,
  });
  if (flags["stop-signal"] !== undefined && flags["stop-signal"] !== "") config.StopSignal = flags["stop-signal"];
  if (set.has("stop-timeout")) config.StopTimeout = flags["stop-timeout"];

  const pidsLimit = flags["pids-limit"];
  const hostConfig: Record<string, unknown> = {
    Binds: binds.length ? binds : null,
    ContainerIDFile: flags.cidfile ?? "",
    LogConfig: { Type: flags["log-driver"] ?? "", Config: logOpts },
    NetworkMode: network.mode,
    PortBindings: ports.bindings,
    RestartPolicy: restart,
    AutoRemove: flags.rm,
    VolumeDriver: flags["volume-driver"] ?? "",
    VolumesFrom: flags["volumes-from"].length ? flags["volumes-from"] : null,
    ConsoleSize: flags.tty && opts.consoleSize ? opts.consoleSize : [0, 0],
    CapAdd: capAdd,
    CapDrop: capDrop,
    CgroupnsMode: flags.cgroupns ?? "",
    Dns: flags.dns,
    DnsOptions: flags["dns-option"],
    DnsSearch: flags["dns-search"],
    ExtraHosts: flags["add-host"].length ? flags["add-host"] : null,
    GroupAdd: flags["group-add"].length ? flags["group-add"] : null,
    IpcMode: flags.ipc ?? "",
    Cgroup: "",
    Links: flags.link.length ? flags.link : null,
    OomScoreAdj: flags["oom-score-adj"] ?? 0,
    PidMode: flags.pid ?? "",
    Privileged: flags.privileged,
    PublishAllPorts: flags["publish-all"],
    ReadonlyRootfs: flags["read-only"],
    SecurityOpt: securityOpt.length ? securityOpt : null,
  };
  if (flags["storage-opt"].length) {
    const so: Record<string, string> = {};
    for (const s of flags["storage-opt"]) {
      const eq = s.indexOf("=");
      if (eq <= 0) throw flagErr("storage-opt", undefined, s, new Error("invalid storage option"));
      so[s.slice(0, eq)] = s.slice(eq + 1);
    }
    hostConfig.StorageOpt = so;
  }
  if (Object.keys(tmpfs).length) hostConfig.Tmpfs = tmpfs;
  Object.assign(hostConfig, { UTSMode: flags.uts ?? "", UsernsMode: flags.userns ?? "", ShmSize: bytes("shm-size") });
  if (Object.keys(sysctls).length) hostConfig.Sysctls = sysctls;
  if (flags.runtime !== undefined && flags.runtime !== "") hostConfig.Runtime = flags.runtime;
  Object.assign(hostConfig, {
    Isolation: "",
    CpuShares: flags["cpu-shares"] ?? 0,
    Memory: bytes("memory", "m"),
    NanoCpus: nanoCpus,
    CgroupParent: flags["cgroup-parent"] ?? "",
    BlkioWeight: flags["blkio-weight"] ?? 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: [],
    BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [],
    CpuPeriod: flags["cpu-period"] ?? 0,
    CpuQuota: flags["cpu-quota"] ?? 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: flags["cpuset-cpus"] ?? "",
    CpusetMems: flags["cpuset-mems"] ?? "",
    Devices: devices,
    DeviceCgroupRules: null,
    DeviceRequests: null,
    MemoryReservation: bytes("memory-reservation"),
    MemorySwap: bytes("memory-swap"),
    MemorySwappiness: flags["memory-swappiness"],
    OomKillDisable: flags["oom-kill-disable"],
    PidsLimit: pidsLimit ?? 0,
    Ulimits: ulimits,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
  });
  if (mounts.length) hostConfig.Mounts = mounts;
  Object.assign(hostConfig, { MaskedPaths: null, ReadonlyPaths: null });
  if (flags["security-opt"].includes("systempaths=unconfined")) Object.assign(hostConfig, { MaskedPaths: [], ReadonlyPaths: [] });
  if (set.has("init")) hostConfig.Init = flags.init;

  const networking = { EndpointsConfig: network.endpoints };
  const body: Record<string, unknown> = { ...config, HostConfig: hostConfig, NetworkingConfig: networking };
  const req: CreateRequest = { body };
  if (flags.name !== undefined && flags.name !== "") req.name = flags.name;
  if (flags.platform !== undefined && flags.platform !== "") req.platform = flags.platform;
  return req;
}

// ---- create / run -------------------------------------------------------------------------------

/** "busybox" → "busybox:latest", as in "Unable to find image 'busybox:latest' locally". */
function displayRef(image: string): string {
  try {
    return familiarString(tagNameOnly(parseNormalizedNamed(image)));
  } catch {
    return image;
  }
}

/** Pulls an image, printing progress lines as the docker CLI does when not on a terminal. */
async function pullImage(run: Run, image: string, platform: string | undefined, quiet: boolean): Promise<void> {
  const ref = tagNameOnly(parseNormalizedNamed(image));
  const from = familiarString({ domain: ref.domain, path: ref.path });
  const res = await run.client.imagePull({ fromImage: from, tag: ref.digest ?? ref.tag, platform });
  for await (const m of jsonLines<ProgressMessage>(res)) {
    if (m.error || m.errorDetail) throw new CliError(m.errorDetail?.message ?? m.error ?? "pull failed", 125);
    if (quiet || !m.status) continue;
    run.err(`${m.id ? `${m.id}: ` : ""}${m.status}${m.progress ? ` ${m.progress}` : ""}\n`);
  }
}

/** POST /containers/create, pulling the image when the daemon says it is missing (--pull). */
async function createContainer(run: Run, req: CreateRequest, image: string, pull: string, quiet: boolean): Promise<string> {
  if (!["always", "missing", "never"].includes(pull)) throw new UsageError(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`, "run");
  if (pull === "always") await pullImage(run, image, req.platform, quiet);
  try {
    const res = await run.client.containerCreate(req.body, { name: req.name, platform: req.platform });
    for (const w of res.Warnings ?? []) run.err(`WARNING: ${w}\n`);
    return res.Id;
  } catch (err) {
    if (!(err instanceof EngineError) || err.status !== 404 || pull !== "missing" || !/image/i.test(err.message)) throw err;
  }
  run.err(`Unable to find image '${displayRef(image)}' locally\n`);
  await pullImage(run, image, req.platform, quiet);
  const res = await run.client.containerCreate(req.body, { name: req.name, platform: req.platform });
  for (const w of res.Warnings ?? []) run.err(`WARNING: ${w}\n`);
  return res.Id;
}

/** docker run's exit status for a start error: 127 not found, 126 cannot invoke, 125 otherwise. */
export function startErrorStatus(message: string): number {
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}

interface AttachOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  detachKeys: string | undefined;
  sigProxy: boolean;
}

/** The running side of an attached session: streams copied both ways until output ends. */
interface Session {
  /** Resolves when output ended; "detached" when the user typed the detach keys. */
  done: Promise<"ended" | "detached">;
  close(): void;
}

/** Wires a hijacked connection to our stdin/stdout/stderr (docker's hijackedIOStreamer). */
function startSession(run: Run, conn: HijackedStream, opts: AttachOptions): Session {
  const sock = conn.socket;
  let restore = () => undefined as void;
  const cleanups: (() => void)[] = [];
  let detached = false;
  let onDetach: (() => void) | undefined;
  const detachedP = new Promise<"detached">((resolve) => {
    onDetach = () => resolve("detached");
  });
  if (opts.stdin) {
    const stdin = run.io.stdin;
    if (opts.tty) restore = makeRaw(stdin);
    const scanner = opts.tty ? new DetachScanner(detachKeys(opts.detachKeys)) : undefined;
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      if (!scanner) {
        sock.write(buf);
        return;
      }
      const { data, detach } = scanner.push(buf);
      if (data.length) sock.write(data);
      if (detach && !detached) {
        detached = true;
        restore();
        onDetach?.();
      }
    };
    const onEnd = () => {
      // docker's CloseWrite: the container sees EOF on its stdin, output keeps flowing
      if (!opts.tty) sock.end();
    };
    stdin.on("data", onData);
    stdin.once("end", onEnd);
    cleanups.push(() => {
      stdin.removeListener("data", onData);
      stdin.removeListener("end", onEnd);
      stdin.pause();
    });
    stdin.resume();
  }
  const output = copyStream(sock as Readable, { stdout: opts.stdout ? run.io.stdout : undefined, stderr: opts.stderr ? run.io.stderr : undefined }, opts.tty).then(
    () => "ended" as const,
  );
  const close = () => {
    restore();
    for (const c of cleanups.splice(0)) c();
    sock.destroy();
  };
  return {
    done: Promise.race([output, detachedP]).finally(() => restore()),
    close,
  };
}

const CREATE_SPEC = { name: "create", usage: "cove create [OPTIONS] IMAGE [COMMAND] [ARG...]", summary: "Create a new container", flags: RUN_FLAGS, stopAtFirstPositional: true, args: { min: 1 } };
const RUN_SPEC = { name: "run", usage: "cove run [OPTIONS] IMAGE [COMMAND] [ARG...]", summary: "Create and run a new container from an image", flags: RUN_FLAGS, stopAtFirstPositional: true, args: { min: 1 } };

/** The docker CLI's `run` failure output: "cove: <error>" then the help pointer; exit 125 unless given. */
function runFailure(run: Run, err: unknown, status = 125): number {
  if (err instanceof UsageError) {
    run.err(`cove: ${err.message}\n\nRun 'cove run --help' for more information\n`);
    return err.status === 1 ? 1 : 125;
  }
  const msg = err instanceof CliError ? err.message : errorLine(err);
  run.err(`cove: ${msg}\n\nRun 'cove run --help' for more information\n`);
  return status;
}

async function writeCidFile(file: string | undefined, id: string): Promise<void> {
  if (!file) return;
  const { writeFile } = await import("node:fs/promises");
  await writeFile(file, id, { flag: "wx" }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "EEXIST") throw new CliError(`container ID file found, make sure the other container isn't running or delete ${file}`, 125);
    throw err;
  });
}

const createCommand: ContainerCommand = async (argv, ctx) => {
  const run = makeRun(ctx);
  let parsed: RunFlags;
  try {
    parsed = parseFlags(argv, CREATE_SPEC);
    if (parsed.help) {
      run.out(helpText(CREATE_SPEC));
      return 0;
    }
    const [image, ...cmd] = parsed.args as [string, ...string[]];
    const req = await buildCreateRequest(parsed.flags, parsed.set, image, cmd, { detach: false, env: run.env, consoleSize: terminalSize(run.io.stdout) });
    const id = await createContainer(run, req, image, parsed.flags.pull, parsed.flags.quiet);
    await writeCidFile(parsed.flags.cidfile, id);
    run.out(id + "\n");
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      run.err(`cove: ${err.message}\n\nRun 'cove create --help' for more information\n`);
      return err.status === 1 ? 1 : 125;
    }
    run.err(errorLine(err) + "\n");
    return err instanceof CliError ? err.status : 1;
  }
};

const runCommand: ContainerCommand = async (argv, ctx) => {
  const run = makeRun(ctx);
  let parsed: RunFlags;
  let req: CreateRequest;
  try {
    parsed = parseFlags(argv, RUN_SPEC);
    if (parsed.help) {
      run.out(helpText(RUN_SPEC));
      return 0;
    }
    const f = parsed.flags;
    if (f.detach && f.attach.length) throw new UsageError("Conflicting options: -a and -d", "run");
    // only an attached terminal needs one: `run -d -it` starts the container as docker does
    if (f.tty && f.interactive && !f.detach && !run.io.stdin.isTTY) {
      run.err("the input device is not a TTY\n");
      return 1;
    }
    if (f["detach-keys"] !== undefined) detachKeys(f["detach-keys"]);
    const [image, ...cmd] = parsed.args as [string, ...string[]];
    req = await buildCreateRequest(f, parsed.set, image, cmd, { detach: f.detach, env: run.env, consoleSize: terminalSize(run.io.stdout) });
  } catch (err) {
    return runFailure(run, err);
  }
  const f = parsed.flags;
  const image = parsed.args[0]!;
  const body = req.body as { AttachStdin: boolean; AttachStdout: boolean; AttachStderr: boolean; Tty: boolean };
  let id: string;
  try {
    id = await createContainer(run, req, image, f.pull, f.quiet);
    await writeCidFile(f.cidfile, id);
  } catch (err) {
    return runFailure(run, err);
  }
  const client = run.client;

  if (f.detach) {
    try {
      await client.containerStart(id, { detachKeys: f["detach-keys"] });
    } catch (err) {
      return runFailure(run, err, err instanceof EngineError ? startErrorStatus(err.message) : 125);
    }
    run.out(id + "\n");
    return 0;
  }

  const attachOpts: AttachOptions = {
    stdin: body.AttachStdin,
    stdout: body.AttachStdout,
    stderr: body.AttachStderr,
    tty: body.Tty,
    detachKeys: f["detach-keys"],
    sigProxy: f["sig-proxy"],
  };
  let session: Session | undefined;
  let stopSignals = () => undefined as void;
  let stopResize = () => undefined as void;
  try {
    if (attachOpts.stdin || attachOpts.stdout || attachOpts.stderr) {
      const conn = await client.containerAttach(id, { stdin: attachOpts.stdin, stdout: attachOpts.stdout, stderr: attachOpts.stderr, detachKeys: f["detach-keys"] });
      session = startSession(run, conn, attachOpts);
    }
    // registered before start so a fast exit is not missed; "removed" with --rm
    const waitP = client.containerWait(id, f.rm ? "removed" : "next-exit");
    waitP.catch(() => undefined);
    // before start: output (and the user's ^C) may arrive before the start request returns
    if (!attachOpts.tty && attachOpts.sigProxy) stopSignals = proxySignals((sig) => client.containerKill(id, sig));
    try {
      await client.containerStart(id);
    } catch (err) {
      session?.close();
      if (f.rm) await client.containerRemove(id, { force: true }).catch(() => undefined);
      return runFailure(run, err, err instanceof EngineError ? startErrorStatus(err.message) : 125);
    }
    if (attachOpts.tty && run.io.stdout.isTTY) stopResize = monitorTtySize(run.io.stdout, (h, w) => client.containerResize(id, h, w));
    if (session) {
      const how = await session.done;
      if (how === "detached") {
        session.close();
        run.err("read escape sequence\n");
        return 0;
      }
    }
    let status: number;
    try {
      const w = await waitP;
      if (w.Error?.Message) run.err(`cove: ${w.Error.Message}\n`);
      status = w.StatusCode;
    } catch (err) {
      run.err(errorLine(err) + "\n");
      status = 125;
    }
    return status;
  } catch (err) {
    return runFailure(run, err);
  } finally {
    stopSignals();
    stopResize();
    session?.close();
  }
};

// ---- start / stop / restart / kill / rm / pause / unpause / rename / wait ---------------------------

const startCommand = command(
  {
    name: "start",
    usage: "cove start [OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Start one or more stopped containers",
    flags: {
      attach: { type: "bool", short: "a", description: "Attach STDOUT/STDERR and forward signals" },
      interactive: { type: "bool", short: "i", description: "Attach container's STDIN" },
      "detach-keys": { type: "string", valueName: "string", description: "Override the key sequence for detaching a container" },
    },
    args: { min: 1 },
  },
  async ({ flags, args }, run) => {
    if (flags.attach || flags.interactive) {
      if (args.length > 1) throw new CliError("you cannot start and attach multiple containers at once");
      const id = args[0]!;
      const c = await run.client.containerInspect(id);
      const tty = c.Config.Tty === true;
      const stdin = flags.interactive && c.Config.OpenStdin === true;
      if (tty && stdin && !run.io.stdin.isTTY) throw new CliError("the input device is not a TTY");
      const conn = await run.client.containerAttach(c.Id, { stdin, stdout: true, stderr: true, detachKeys: flags["detach-keys"] });
      const session = startSession(run, conn, { stdin, stdout: true, stderr: true, tty, detachKeys: flags["detach-keys"], sigProxy: true });
      const waitP = run.client.containerWait(c.Id, "next-exit");
      waitP.catch(() => undefined);
      const stopSignals = !tty ? proxySignals((sig) => run.client.containerKill(c.Id, sig)) : () => undefined;
      try {
        await run.client.containerStart(c.Id);
        const stopResize = tty && run.io.stdout.isTTY ? monitorTtySize(run.io.stdout, (h, w) => run.client.containerResize(c.Id, h, w)) : () => undefined;
        try {
          if ((await session.done) === "detached") {
            run.err("read escape sequence\n");
            return 0;
          }
        } finally {
          stopResize();
        }
        const w = await waitP;
        return w.StatusCode;
      } finally {
        stopSignals();
        session.close();
      }
    }
    const failed: string[] = [];
    for (const a of args) {
      try {
        await run.client.containerStart(a, { detachKeys: flags["detach-keys"] });
        run.out(a + "\n");
      } catch (err) {
        run.err(errorLine(err) + "\n");
        failed.push(a);
      }
    }
    if (failed.length) {
      run.err(`Error: failed to start containers: ${failed.join(", ")}\n`);
      return 1;
    }
    return 0;
  },
);

const STOP_FLAGS = {
  signal: { type: "string", short: "s", valueName: "string", description: "Signal to send to the container" },
  time: { type: "int", short: "t", valueName: "int", description: "Seconds to wait before killing the container" },
} as const satisfies FlagSpecs;

const stopLike = (name: "stop" | "restart") =>
  command({ name, usage: `cove ${name} [OPTIONS] CONTAINER [CONTAINER...]`, summary: name === "stop" ? "Stop one or more running containers" : "Restart one or more containers", flags: STOP_FLAGS, args: { min: 1 } }, async ({ flags, args }, run) =>
    forEach(run, args, async (a) => {
      const q = { t: flags.time, signal: flags.signal };
      if (name === "stop") await run.client.containerStop(a, q);
      else await run.client.containerRestart(a, q);
      run.out(a + "\n");
    }),
  );

const killCommand = command(
  { name: "kill", usage: "cove kill [OPTIONS] CONTAINER [CONTAINER...]", summary: "Kill one or more running containers", flags: { signal: { type: "string", short: "s", valueName: "string", description: "Signal to send to the container" } }, args: { min: 1 } },
  async ({ flags, args }, run) =>
    forEach(run, args, async (a) => {
      await run.client.containerKill(a, flags.signal);
      run.out(a + "\n");
    }),
);

const RM_SPEC = (name: string) => ({
  name,
  usage: `cove ${name} [OPTIONS] CONTAINER [CONTAINER...]`,
  summary: "Remove one or more containers",
  flags: {
    force: { type: "bool", short: "f", description: "Force the removal of a running container (uses SIGKILL)" },
    link: { type: "bool", short: "l", description: "Remove the specified link" },
    volumes: { type: "bool", short: "v", description: "Remove anonymous volumes associated with the container" },
  },
  args: { min: 1 },
}) as const;

const rmCommand = (name: string) =>
  command(RM_SPEC(name), async ({ flags, args }, run) =>
    forEach(run, args, async (a) => {
      const n = a.replace(/^\/+/, "");
      if (n === "") throw new CliError("Container name cannot be empty");
      await run.client.containerRemove(n, { force: flags.force || undefined, v: flags.volumes || undefined, link: flags.link || undefined });
      run.out(a + "\n");
    }),
  );

const simple = (name: string, summary: string, fn: (c: EngineClient, id: string) => Promise<void>) =>
  command({ name, usage: `cove ${name} CONTAINER [CONTAINER...]`, summary, flags: {}, args: { min: 1 } }, async ({ args }, run) =>
    forEach(run, args, async (a) => {
      await fn(run.client, a);
      run.out(a + "\n");
    }),
  );

const renameCommand = command({ name: "rename", usage: "cove rename CONTAINER NEW_NAME", summary: "Rename a container", flags: {}, args: { min: 2, max: 2 } }, async ({ args }, run) => {
  const [old, neu] = [args[0]!.trim(), args[1]!.trim()];
  if (old === "" || neu === "") throw new CliError("Error: Neither old nor new names may be empty");
  await run.client.containerRename(old, neu);
  return 0;
});

const waitCommand = command({ name: "wait", usage: "cove wait CONTAINER [CONTAINER...]", summary: "Block until one or more containers stop, then print their exit codes", flags: {}, args: { min: 1 } }, async ({ args }, run) =>
  forEach(run, args, async (a) => {
    const w = await run.client.containerWait(a);
    run.out(`${w.StatusCode}\n`);
  }),
);

// ---- ps -------------------------------------------------------------------------------------------

abstract class RowContext {
  protected abstract fields(): readonly string[];

  [MARSHAL_JSON](): string {
    const obj: Record<string, unknown> = {};
    for (const f of this.fields()) obj[f] = (this as unknown as Record<string, unknown>)[f];
    return marshalJSON(obj, { sortKeys: true, escapeHTML: true });
  }
}

/** docker's DisplayablePorts: "0.0.0.0:8080->80/tcp, 53/udp", consecutive ports grouped into ranges. */
export function displayablePorts(ports: readonly { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[]): string {
  const groups = new Map<string, number[]>();
  const order: string[] = [];
  const hostMappings: string[] = [];
  // docker's comparePorts: private port, public port, type, IP
  const sorted = [...ports].sort(
    (a, b) => a.PrivatePort - b.PrivatePort || (a.PublicPort ?? 0) - (b.PublicPort ?? 0) || a.Type.localeCompare(b.Type) || (a.IP ?? "").localeCompare(b.IP ?? ""),
  );
  for (const p of sorted) {
    let current = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if (p.PublicPort !== p.PrivatePort) {
        const ip = p.IP.includes(":") ? `[${p.IP}]` : p.IP;
        hostMappings.push(`${ip}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`);
        continue;
      }
      key = `${p.IP.includes(":") ? `[${p.IP}]` : p.IP}:${p.Type}`;
      current = p.PublicPort!;
    }
    if (!groups.has(key)) {
      groups.set(key, []);
      order.push(key);
    }
    groups.get(key)!.push(current);
  }
  const out: string[] = [];
  for (const key of order) {
    const nums = groups.get(key)!;
    const colon = key.lastIndexOf(":");
    const ip = colon >= 0 ? key.slice(0, colon) : "";
    const type = colon >= 0 ? key.slice(colon + 1) : key;
    const fmtRange = (a: number, b: number) => (a === b ? String(a) : `${a}-${b}`);
    let start = nums[0]!;
    let prev = start;
    const flush = (a: number, b: number) => {
      const r = fmtRange(a, b);
      out.push(ip ? `${ip}:${r}->${r}/${type}` : `${r}/${type}`);
    };
    for (let i = 1; i < nums.length; i++) {
      const n = nums[i]!;
      if (n === prev + 1) {
        prev = n;
        continue;
      }
      if (n === prev) continue;
      flush(start, prev);
      start = prev = n;
    }
    flush(start, prev);
  }
  out.push(...hostMappings);
  return out.join(", ");
}

const PS_FIELDS = ["Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names", "Networks", "Ports", "RunningFor", "Size", "State", "Status"];

export class ContainerRow extends RowContext {
  static {
    Object.defineProperty(this.prototype, GO_TYPE, { value: "*formatter.ContainerContext" });
  }

  constructor(
    private readonly c: ContainerSummary,
    private readonly trunc: boolean,
    private readonly now: number,
  ) {
    super();
  }

  protected fields(): readonly string[] {
    return PS_FIELDS;
  }

  get ID(): string {
    return this.trunc ? truncateID(this.c.Id) : this.c.Id;
  }
  get Names(): string {
    const names: string[] = [];
    for (const n of this.c.Names ?? []) {
      const parts = n.split("/");
      // docker hides link names (/other/alias) unless --no-trunc
      if (this.trunc && parts.length > 2) continue;
      names.push(this.trunc ? parts[parts.length - 1]! : n.replace(/^\//, ""));
    }
    return names.join(",");
  }
  get Image(): string {
    const img = this.c.Image;
    if (!img) return "<no image>";
    if (this.trunc) {
      if (truncateID(this.c.ImageID) === truncateID(img)) return truncateID(img);
      try {
        const ref = parseNormalizedNamed(img);
        return familiarString({ domain: ref.domain, path: ref.path, ...(ref.tag !== undefined ? { tag: ref.tag } : {}) });
      } catch {
        return img;
      }
    }
    return img;
  }
  get Command(): string {
    return JSON.stringify(this.trunc ? ellipsis(this.c.Command, 20) : this.c.Command);
  }
  get CreatedAt(): string {
    return goTimeString(this.c.Created);
  }
  get RunningFor(): string {
    return createdSince(this.c.Created, this.now);
  }
  get Ports(): string {
    return displayablePorts(this.c.Ports ?? []);
  }
  get State(): string {
    return this.c.State;
  }
  get Status(): string {
    return this.c.Status;
  }
  get Size(): string {
    if (this.c.SizeRw === undefined && this.c.SizeRootFs === undefined) return "0B";
    const srw = humanSizeWithPrecision(this.c.SizeRw ?? 0, 3);
    const sv = humanSizeWithPrecision(this.c.SizeRootFs ?? 0, 3);
    return this.c.SizeRootFs && this.c.SizeRootFs > 0 ? `${srw} (virtual ${sv})` : srw;
  }
  get Labels(): string {
    const l = this.c.Labels ?? {};
    return Object.entries(l)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
  }
  Label(name: unknown): string {
    return (this.c.Labels ?? {})[String(name)] ?? "";
  }
  get Mounts(): string {
    return (this.c.Mounts ?? [])
      .map((m) => {
        const n = m.Name ? m.Name : (m.Source ?? "");
        return this.trunc ? ellipsis(n, 15) : n;
      })
      .join(",");
  }
  get LocalVolumes(): string {
    return String((this.c.Mounts ?? []).filter((m) => m.Driver === "local").length);
  }
  get Networks(): string {
    return Object.keys(this.c.NetworkSettings?.Networks ?? {})
      .sort()
      .join(",");
  }
}

export const PS_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Size: "SIZE",
  Names: "NAMES",
  Labels: "LABELS",
  Mounts: "MOUNTS",
  Networks: "NETWORKS",
  LocalVolumes: "LOCAL VOLUMES",
  Label: "LABEL",
};

const PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

const PS_FLAGS = {
  all: { type: "bool", short: "a", description: "Show all containers (default shows just running)" },
  filter: { type: "list", short: "f", valueName: "filter", description: "Filter output based on conditions provided" },
  format: { type: "string", valueName: "string", description: "Format output using a custom template" },
  last: { type: "int", short: "n", valueName: "int", default: -1, description: "Show n last created containers (includes all states)" },
  latest: { type: "bool", short: "l", description: "Show the latest created container (includes all states)" },
  "no-trunc": { type: "bool", description: "Don't truncate output" },
  quiet: { type: "bool", short: "q", description: "Only display container IDs" },
  size: { type: "bool", short: "s", description: "Display total file sizes" },
} as const satisfies FlagSpecs;

const psCommand = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS]`, summary: "List containers", flags: PS_FLAGS, args: { max: 0 } }, async ({ flags }, run) => {
    const filters = parseFilters(flags.filter, name);
    let limit = flags.last;
    if (flags.latest) limit = 1;
    let format = flags.format;
    const wantsSize = flags.size || (format !== undefined && /\.Size\b/.test(format));
    const list = await run.client.containerList({ all: flags.all || limit > 0 || undefined, limit: limit > 0 ? limit : undefined, size: wantsSize || undefined, filters });
    if (flags.quiet && (format === undefined || format === "" || format === "table")) format = "{{.ID}}";
    let table = PS_TABLE;
    if (flags.size) table += "\t{{.Size}}";
    if (format === undefined || format === "" || format === "table") format = table;
    const rows = list.map((c) => new ContainerRow(c, !flags["no-trunc"], run.now));
    run.out(formatRows(format, rows, table, PS_HEADERS));
    return 0;
  });

// ---- logs / attach / exec ------------------------------------------------------------------------------

const logsCommand = command(
  {
    name: "logs",
    usage: "cove logs [OPTIONS] CONTAINER",
    summary: "Fetch the logs of a container",
    flags: {
      details: { type: "bool", description: "Show extra details provided to logs" },
      follow: { type: "bool", short: "f", description: "Follow log output" },
      since: { type: "string", valueName: "string", description: "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)" },
      tail: { type: "string", short: "n", valueName: "string", default: "all", description: 'Number of lines to show from the end of the logs (default "all")' },
      timestamps: { type: "bool", short: "t", description: "Show timestamps" },
      until: { type: "string", valueName: "string", description: "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)" },
    },
    args: { min: 1, max: 1 },
  },
  async ({ flags, args }, run) => {
    const c = await run.client.containerInspect(args[0]!);
    const now = run.now;
    const ts = (v: string | undefined) => (v === undefined ? undefined : timestampArg(v, now));
    const res = await run.client.containerLogs(c.Id, {
      stdout: true,
      stderr: true,
      follow: flags.follow || undefined,
      since: ts(flags.since),
      until: ts(flags.until),
      timestamps: flags.timestamps || undefined,
      tail: flags.tail,
      details: flags.details || undefined,
    });
    await copyStream(res, { stdout: run.io.stdout, stderr: run.io.stderr }, c.Config.Tty === true);
    return 0;
  },
);

/** docker's timetypes.GetTimestamp: durations are relative to now, RFC 3339 and unix times pass as unix seconds. */
export function timestampArg(v: string, nowMs: number): string {
  if (/^\d+(\.\d+)?$/.test(v)) return v;
  try {
    const ns = parseGoDuration(v);
    const t = nowMs / 1000 - ns / 1e9;
    return t.toFixed(9);
  } catch {
    // not a duration
  }
  const d = Date.parse(v);
  if (Number.isNaN(d)) throw new CliError(`invalid value for "since": failed to parse value as time or duration: "${v}"`);
  return (d / 1000).toFixed(9);
}

const attachCommand = command(
  {
    name: "attach",
    usage: "cove attach [OPTIONS] CONTAINER",
    summary: "Attach local standard input, output, and error streams to a running container",
    flags: {
      "detach-keys": { type: "string", valueName: "string", description: "Override the key sequence for detaching a container" },
      "no-stdin": { type: "bool", description: "Do not attach STDIN" },
      "sig-proxy": { type: "bool", default: true, description: "Proxy all received signals to the process" },
    },
    args: { min: 1, max: 1 },
  },
  async ({ flags, args }, run) => {
    const c = await run.client.containerInspect(args[0]!);
    if (!c.State.Running) throw new CliError("You cannot attach to a stopped container, start it first");
    if (c.State.Paused) throw new CliError("You cannot attach to a paused container, unpause it first");
    if (c.State.Restarting) throw new CliError("You cannot attach to a restarting container, wait until it is running");
    const tty = c.Config.Tty === true;
    const stdin = !flags["no-stdin"] && c.Config.OpenStdin === true;
    if (tty && stdin && !run.io.stdin.isTTY) throw new CliError("the input device is not a TTY");
    const conn = await run.client.containerAttach(c.Id, { stdin, stdout: true, stderr: true, detachKeys: flags["detach-keys"] });
    const waitP = run.client.containerWait(c.Id);
    waitP.catch(() => undefined);
    const session = startSession(run, conn, { stdin, stdout: true, stderr: true, tty, detachKeys: flags["detach-keys"], sigProxy: flags["sig-proxy"] });
    const stopResize = tty && run.io.stdout.isTTY ? monitorTtySize(run.io.stdout, (h, w) => run.client.containerResize(c.Id, h, w)) : () => undefined;
    const stopSignals = flags["sig-proxy"] && !tty ? proxySignals((sig) => run.client.containerKill(c.Id, sig)) : () => undefined;
    try {
      if ((await session.done) === "detached") {
        run.err("read escape sequence\n");
        return 0;
      }
      const w = await waitP;
      return w.StatusCode;
    } finally {
      stopResize();
      stopSignals();
      session.close();
    }
  },
);

const execCommand: ContainerCommand = async (argv, ctx) => {
  const spec = {
    name: "exec",
    usage: "cove exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    summary: "Execute a command in a running container",
    flags: {
      detach: { type: "bool", short: "d", description: "Detached mode: run command in the background" },
      "detach-keys": { type: "string", valueName: "string", description: "Override the key sequence for detaching a container" },
      env: { type: "list", short: "e", valueName: "list", description: "Set environment variables" },
      "env-file": { type: "list", valueName: "list", description: "Read in a file of environment variables" },
      interactive: { type: "bool", short: "i", description: "Keep STDIN open even if not attached" },
      privileged: { type: "bool", description: "Give extended privileges to the command" },
      tty: { type: "bool", short: "t", description: "Allocate a pseudo-TTY" },
      user: { type: "string", short: "u", valueName: "string", description: "Username or UID (format: \"<name|uid>[:<group|gid>]\")" },
      workdir: { type: "string", short: "w", valueName: "string", description: "Working directory inside the container" },
    },
    stopAtFirstPositional: true,
    args: { min: 2 },
  } as const;
  return command(spec, async ({ flags, args }, run) => {
    const [container, ...cmd] = args as [string, ...string[]];
    if (flags.tty && flags.interactive && !run.io.stdin.isTTY) throw new CliError("the input device is not a TTY");
    const env: string[] = [];
    for (const f of flags["env-file"]) env.push(...(await parseEnvFile(f, run.env)));
    for (const e of flags.env) env.push(validateEnv(e, run.env));
    const size = flags.tty ? terminalSize(run.io.stdout) : undefined;
    const created = await run.client.execCreate(container, {
      User: flags.user ?? "",
      Privileged: flags.privileged,
      Tty: flags.tty,
      ConsoleSize: size ?? null,
      AttachStdin: flags.interactive && !flags.detach,
      AttachStdout: !flags.detach,
      AttachStderr: !flags.detach,
      DetachKeys: flags["detach-keys"] ?? "",
      Env: env,
      WorkingDir: flags.workdir ?? "",
      Cmd: cmd,
    });
    const execId = created.Id;
    if (flags.detach) {
      await run.client.execStart(execId, { Tty: flags.tty });
      return 0;
    }
    const conn = await run.client.execStartAttached(execId, { Tty: flags.tty, ConsoleSize: size ?? null });
    const session = startSession(run, conn, { stdin: flags.interactive, stdout: true, stderr: true, tty: flags.tty, detachKeys: flags["detach-keys"], sigProxy: false });
    const stopResize = flags.tty && run.io.stdout.isTTY ? monitorTtySize(run.io.stdout, (h, w) => run.client.execResize(execId, h, w)) : () => undefined;
    try {
      if ((await session.done) === "detached") {
        run.err("read escape sequence\n");
        return 0;
      }
    } finally {
      stopResize();
      session.close();
    }
    // the exit code lands a moment after the stream ends
    for (let i = 0; i < 50; i++) {
      const ins = await run.client.execInspect(execId);
      if (!ins.Running && ins.ExitCode !== null) return ins.ExitCode;
      await new Promise((r) => setTimeout(r, 20 + i * 5));
    }
    return 0;
  })(argv, ctx);
};

// ---- inspect / top / port / diff / update ---------------------------------------------------------------

/** Marks the map-typed fields of a container inspect, so Go printing sorts their keys. */
function markContainerMaps(c: ContainerInspect): ContainerInspect {
  const maps: [object | undefined, string][] = [
    [c.Config, "Labels"],
    [c.Config, "ExposedPorts"],
    [c.Config, "Volumes"],
    [c.NetworkSettings, "Ports"],
    [c.NetworkSettings, "Networks"],
    [c.HostConfig, "PortBindings"],
    [c.HostConfig, "Sysctls"],
    [c.HostConfig, "Tmpfs"],
    [c.HostConfig, "StorageOpt"],
    [c.HostConfig?.LogConfig, "Config"],
    [c.GraphDriver, "Data"],
  ];
  for (const [obj, k] of maps) {
    const v = (obj as Record<string, unknown> | undefined)?.[k];
    if (v && typeof v === "object" && !Array.isArray(v)) goMap(v);
  }
  return c;
}

function inspectTemplate(tmpl: Template, value: unknown): string {
  try {
    return tmpl.execute(value);
  } catch (err) {
    if (!(err instanceof CoveError) || !/can't evaluate field/.test(err.message)) {
      throw invalid(`template parsing error: ${(err as Error).message}`, { code: "template.exec" });
    }
    try {
      return tmpl.execute(JSON.parse(marshalJSON(value)), undefined, { objectsAsMaps: true });
    } catch (err2) {
      throw invalid(`template parsing error: ${(err2 as Error).message}`, { code: "template.exec" });
    }
  }
}

const inspectCommand = (name: string) =>
  command(
    {
      name,
      usage: `cove ${name} [OPTIONS] CONTAINER [CONTAINER...]`,
      summary: "Display detailed information on one or more containers",
      flags: {
        format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" },
        size: { type: "bool", short: "s", description: "Display total file sizes" },
        type: { type: "string", valueName: "string", hidden: true },
      },
      args: { min: 1 },
    },
    async ({ flags, args }, run) => {
      if (flags.type !== undefined && flags.type !== "container") throw new CliError(`"${flags.type}" is not a valid value for --type`);
      let tmpl: Template | undefined;
      if (flags.format !== undefined && flags.format !== "" && flags.format !== "json") {
        try {
          tmpl = parseTemplate(flags.format);
        } catch (err) {
          throw invalid(`template parsing error: ${(err as Error).message}`, { code: "template.parse" });
        }
      }
      const found: ContainerInspect[] = [];
      const errors: string[] = [];
      for (const a of args) {
        try {
          found.push(markContainerMaps(await run.client.containerInspect(a, { size: flags.size || undefined })));
        } catch (err) {
          if (!(err instanceof EngineError) || err.status !== 404) throw err;
          errors.push(`Error: No such container: ${a}`);
        }
      }
      if (tmpl) for (const c of found) run.out(inspectTemplate(tmpl, c) + "\n");
      else run.out((found.length === 0 ? "[]" : marshalJSON(found, { indent: "    ", escapeHTML: true })) + "\n");
      for (const e of errors) run.err(e + "\n");
      return errors.length ? 1 : 0;
    },
  );

const topCommand = command({ name: "top", usage: "cove top CONTAINER [ps OPTIONS]", summary: "Display the running processes of a container", flags: {}, stopAtFirstPositional: true, args: { min: 1 } }, async ({ args }, run) => {
  const [id, ...ps] = args as [string, ...string[]];
  const top = await run.client.containerTop(id, ps.length ? ps.join(" ") : undefined);
  const lines = [top.Titles.join("\t"), ...(top.Processes ?? []).map((p) => p.join("\t"))];
  run.out(tabwrite(lines.join("\n") + "\n", { minwidth: 20, padding: 3, padchar: " " }));
  return 0;
});

const portCommand = command({ name: "port", usage: "cove port CONTAINER [PRIVATE_PORT[/PROTO]]", summary: "List port mappings or a specific mapping for the container", flags: {}, args: { min: 1, max: 2 } }, async ({ args }, run) => {
  const c = await run.client.containerInspect(args[0]!);
  const ports = c.NetworkSettings.Ports ?? {};
  const fmt = (b: PortBinding) => `${b.HostIp.includes(":") ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}`;
  if (args[1] !== undefined) {
    const [port, protoArg] = args[1].split("/") as [string, string | undefined];
    const proto = protoArg ?? "tcp";
    const bindings = ports[`${port}/${proto}`];
    if (!bindings || bindings.length === 0) throw new CliError(`Error: No public port '${args[1]}' published for ${args[0]}`);
    for (const b of bindings) run.out(fmt(b) + "\n");
    return 0;
  }
  const keys = Object.keys(ports).sort((a, b) => parseInt(a) - parseInt(b) || a.localeCompare(b));
  for (const k of keys) for (const b of ports[k] ?? []) run.out(`${k} -> ${fmt(b)}\n`);
  return 0;
});

const diffCommand = command({ name: "diff", usage: "cove diff CONTAINER", summary: "Inspect changes to files or directories on a container's filesystem", flags: {}, args: { min: 1, max: 1 } }, async ({ args }, run) => {
  const changes = (await run.client.containerChanges(args[0]!)) ?? [];
  for (const ch of changes) run.out(`${["C", "A", "D"][ch.Kind] ?? "?"} ${ch.Path}\n`);
  return 0;
});

const updateCommand = command(
  {
    name: "update",
    usage: "cove update [OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Update configuration of one or more containers",
    flags: {
      "blkio-weight": { type: "int", valueName: "uint16", description: "Block IO (relative weight), between 10 and 1000, or 0 to disable" },
      "cpu-period": { type: "int", valueName: "int", description: "Limit CPU CFS (Completely Fair Scheduler) period" },
      "cpu-quota": { type: "int", valueName: "int", description: "Limit CPU CFS (Completely Fair Scheduler) quota" },
      "cpu-shares": { type: "int", short: "c", valueName: "int", description: "CPU shares (relative weight)" },
      cpus: { type: "string", valueName: "decimal", description: "Number of CPUs" },
      "cpuset-cpus": { type: "string", valueName: "string", description: "CPUs in which to allow execution (0-3, 0,1)" },
      "cpuset-mems": { type: "string", valueName: "string", description: "MEMs in which to allow execution (0-3, 0,1)" },
      memory: { type: "string", short: "m", valueName: "bytes", description: "Memory limit" },
      "memory-reservation": { type: "string", valueName: "bytes", description: "Memory soft limit" },
      "memory-swap": { type: "string", valueName: "bytes", description: "Swap limit equal to memory plus swap: -1 to enable unlimited swap" },
      "pids-limit": { type: "int", valueName: "int", description: "Tune container pids limit (set -1 for unlimited)" },
      restart: { type: "string", valueName: "string", description: "Restart policy to apply when a container exits" },
    },
    args: { min: 1 },
  },
  async ({ flags, args, set }, run) => {
    if (set.size === 0) throw new CliError("you must provide one or more flags when using this command", 1);
    const size = (name: "memory" | "memory-reservation" | "memory-swap") => {
      const v = flags[name];
      if (v === undefined) return 0;
      if (name === "memory-swap" && v === "-1") return -1;
      try {
        return ramInBytes(v);
      } catch (err) {
        throw new UsageError(`invalid argument "${v}" for "--${name}" flag: ${(err as Error).message}`, "update");
      }
    };
    const body: Record<string, unknown> = {
      BlkioWeight: flags["blkio-weight"] ?? 0,
      CpuPeriod: flags["cpu-period"] ?? 0,
      CpuQuota: flags["cpu-quota"] ?? 0,
      CpuShares: flags["cpu-shares"] ?? 0,
      CpusetCpus: flags["cpuset-cpus"] ?? "",
      CpusetMems: flags["cpuset-mems"] ?? "",
      Memory: size("memory"),
      MemoryReservation: size("memory-reservation"),
      MemorySwap: size("memory-swap"),
      NanoCpus: flags.cpus !== undefined ? parseNanoCpus(flags.cpus) : 0,
    };
    if (set.has("pids-limit")) body.PidsLimit = flags["pids-limit"];
    if (flags.restart !== undefined) body.RestartPolicy = parseRestart(flags.restart);
    return forEach(run, args, async (a) => {
      const res = await run.client.containerUpdate(a, body);
      for (const w of res?.Warnings ?? []) run.err(`${w}\n`);
      run.out(a + "\n");
    });
  },
);

const pruneCommand = command(
  {
    name: "container prune",
    usage: "cove container prune [OPTIONS]",
    summary: "Remove all stopped containers",
    flags: {
      filter: { type: "list", valueName: "filter", description: "Provide filter values (e.g. \"until=<timestamp>\")" },
      force: { type: "bool", short: "f", description: "Do not prompt for confirmation" },
    },
    args: { max: 0 },
  },
  async ({ flags }, run) => {
    if (!flags.force) {
      run.out("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
      const answer = await readLine(run.io.stdin);
      // the docker CLI says nothing more when the answer is no
      if (!/^y(es)?$/i.test(answer.trim())) return 0;
    }
    const res = await run.client.containerPrune(parseFilters(flags.filter, "container prune", "--filter"));
    const deleted = res.ContainersDeleted ?? [];
    if (deleted.length) run.out("Deleted Containers:\n" + deleted.map((d) => d + "\n").join("") + "\n");
    run.out(`Total reclaimed space: ${humanSize(res.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
);

// ---- stats ------------------------------------------------------------------------------------------------

export interface StatsRow {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

/** docker's calculateCPUPercentUnix and memory usage without page cache. */
export function statsRow(s: StatsResponse, container: string, trunc: boolean): StatsRow {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - (s.precpu_stats.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const online = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const st = s.memory_stats.stats ?? {};
  let mem = s.memory_stats.usage ?? 0;
  const cache = st.total_inactive_file ?? st.inactive_file;
  if (cache !== undefined && cache < mem) mem -= cache;
  const limit = s.memory_stats.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === "read") read += e.value;
    if (e.op.toLowerCase() === "write") write += e.value;
  }
  const id = s.id ?? container;
  return {
    Container: container,
    ID: trunc ? truncateID(id) : id,
    Name: (s.name ?? "").replace(/^\//, "") || "--",
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSizeWithPrecision(rx, 3)} / ${humanSizeWithPrecision(tx, 3)}`,
    BlockIO: `${humanSizeWithPrecision(read, 3)} / ${humanSizeWithPrecision(write, 3)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

const STATS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const STATS_HEADERS = { Container: "CONTAINER", ID: "CONTAINER ID", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT", MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS" };

const statsCommand = command(
  {
    name: "stats",
    usage: "cove stats [OPTIONS] [CONTAINER...]",
    summary: "Display a live stream of container(s) resource usage statistics",
    flags: {
      all: { type: "bool", short: "a", description: "Show all containers (default shows just running)" },
      format: { type: "string", valueName: "string", description: "Format output using a custom template" },
      "no-stream": { type: "bool", description: "Disable streaming stats and only pull the first result" },
      "no-trunc": { type: "bool", description: "Do not truncate output" },
    },
  },
  async ({ flags, args }, run) => {
    const ids = args.length ? args : (await run.client.containerList({ all: flags.all || undefined })).map((c) => c.Id);
    const render = (rows: StatsRow[]) => formatRows(flags.format, rows.map((r) => goMap({ ...r })), STATS_TABLE, STATS_HEADERS);
    if (flags["no-stream"]) {
      // one sample each, taken together (the daemon waits a second per sample to measure the CPU)
      const rows = await Promise.all(
        ids.map((id) =>
          run.client.containerStats(id).then(
            (s) => statsRow(s, id, !flags["no-trunc"]),
            (err: unknown) => {
              if (args.length) throw err;
              return undefined;
            },
          ),
        ),
      );
      run.out(render(rows.filter((r): r is StatsRow => r !== undefined)));
      return 0;
    }
    // live view: one stats stream per container, redrawn once a second until interrupted
    const latest = new Map<string, StatsRow>();
    const streams: AsyncGenerator<StatsResponse>[] = [];
    let stop = false;
    let failure: unknown;
    for (const id of ids) {
      void (async () => {
        try {
          const stream = await run.client.containerStatsStream(id);
          streams.push(stream);
          for await (const s of stream) {
            latest.set(id, statsRow(s, id, !flags["no-trunc"]));
            if (stop) break;
          }
        } catch (err) {
          if (args.length && !stop) failure ??= err;
        }
      })();
    }
    const onInt = () => {
      stop = true;
    };
    process.once("SIGINT", onInt);
    try {
      while (!stop) {
        await new Promise((r) => setTimeout(r, 1000));
        if (failure) throw failure;
        const rows = ids.map((id) => latest.get(id)).filter((r): r is StatsRow => r !== undefined);
        run.out((run.io.stdout.isTTY ? "\x1b[2J\x1b[H" : "") + render(rows));
      }
    } finally {
      process.removeListener("SIGINT", onInt);
      for (const st of streams) void st.return(undefined);
    }
    return 0;
  },
);

// ---- cp / export / commit ----------------------------------------------------------------------------------

/** "container:path" → [container, path]; a local path (absolute, ./, or without a colon) → [undefined, path]. */
export function splitCpArg(arg: string): [string | undefined, string] {
  if (path.isAbsolute(arg) || arg.startsWith(".")) return [undefined, arg];
  const colon = arg.indexOf(":");
  if (colon <= 0) return [undefined, arg];
  return [arg.slice(0, colon), arg.slice(colon + 1)];
}

/** Tars `src` (file, directory or symlink) with its top entry named `name`, keeping uid/gid/mode/mtime. */
async function tarPath(src: string, name: string, followLink: boolean): Promise<Readable> {
  const pack = tarPack();
  const add = (h: Partial<Header> & { name: string }, body?: Buffer | Readable): Promise<void> =>
    new Promise((resolve, reject) => {
      if (body && !Buffer.isBuffer(body)) {
        const entry = pack.entry(h, (err) => (err ? reject(err) : resolve()));
        body.pipe(entry);
      } else if (body) pack.entry(h, body, (err) => (err ? reject(err) : resolve()));
      else pack.entry(h, (err) => (err ? reject(err) : resolve()));
    });
  const walk = async (p: string, rel: string, top: boolean): Promise<void> => {
    const st = top && followLink ? await stat(p) : await lstat(p);
    const base = { name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      await add({ ...base, name: rel + "/", type: "directory" });
      for (const e of (await readdir(p)).sort()) await walk(path.join(p, e), `${rel}/${e}`, false);
    } else if (st.isSymbolicLink()) {
      await add({ ...base, type: "symlink", linkname: await readlink(p) });
    } else if (st.isFile()) {
      await add({ ...base, type: "file", size: st.size }, createReadStream(p));
    }
  };
  void walk(src, name, true).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err as Error),
  );
  return pack as unknown as Readable;
}

/** Extracts a tar stream under `dest`, renaming its top entry to `rename` when given; keeps ownership as root. */
async function untar(src: Readable, dest: string, rename?: string): Promise<void> {
  const ex = tarExtract();
  const dirs: [string, Date, number][] = [];
  ex.on("entry", (h, stream, next) => {
    void (async () => {
      let name = h.name.replace(/^\/+/, "").replace(/\/+$/, "");
      if (rename !== undefined) {
        const slash = name.indexOf("/");
        name = slash < 0 ? rename : rename + name.slice(slash);
      }
      const target = path.join(dest, name);
      if (target !== dest && !target.startsWith(dest.endsWith("/") ? dest : dest + "/")) throw new CoveError("invalid", `invalid tar entry ${h.name}: outside the destination`);
      const own = async (lchownOnly: boolean) => {
        if (process.getuid?.() !== 0) return;
        await (lchownOnly ? lchown : chown)(target, h.uid ?? 0, h.gid ?? 0).catch(() => undefined);
      };
      if (h.type === "directory") {
        await mkdir(target, { recursive: true });
        await own(false);
        await chmod(target, h.mode ?? 0o755);
        if (h.mtime) dirs.push([target, h.mtime, h.mode ?? 0o755]);
        stream.resume();
      } else if (h.type === "symlink") {
        await rm(target, { force: true });
        await symlink(h.linkname ?? "", target);
        await own(true);
        stream.resume();
      } else if (h.type === "file" || h.type === "contiguous-file") {
        await mkdir(path.dirname(target), { recursive: true });
        await rm(target, { force: true, recursive: false }).catch(() => undefined);
        await pipeline(stream, createWriteStream(target, { mode: h.mode ?? 0o644 }));
        await own(false);
        await chmod(target, h.mode ?? 0o644);
        if (h.mtime) await utimes(target, h.mtime, h.mtime);
      } else if (h.type === "link") {
        const { link } = await import("node:fs/promises");
        let linkName = (h.linkname ?? "").replace(/^\/+/, "");
        if (rename !== undefined) {
          const slash = linkName.indexOf("/");
          linkName = slash < 0 ? rename : rename + linkName.slice(slash);
        }
        await rm(target, { force: true });
        await link(path.join(dest, linkName), target);
        stream.resume();
      } else {
        stream.resume();
      }
    })().then(() => next(), (err: unknown) => next(err as Error));
  });
  await pipeline(src, ex);
  for (const [d, mtime] of dirs.reverse()) await utimes(d, mtime, mtime).catch(() => undefined);
}

const cpCommand = command(
  {
    name: "cp",
    usage: "cove cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tcove cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    summary: "Copy files/folders between a container and the local filesystem",
    flags: {
      archive: { type: "bool", short: "a", description: "Archive mode (copy all uid/gid information)" },
      "follow-link": { type: "bool", short: "L", description: "Always follow symbol link in SRC_PATH" },
      quiet: { type: "bool", short: "q", description: "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached" },
    },
    args: { min: 2, max: 2 },
  },
  async ({ flags, args }, run) => {
    const [srcC, srcP] = splitCpArg(args[0]!);
    const [dstC, dstP] = splitCpArg(args[1]!);
    if (srcC !== undefined && dstC !== undefined) throw new CliError("copying between containers is not supported");
    if (srcC === undefined && dstC === undefined) throw new CliError("must specify at least one container source");
    if (srcC !== undefined) {
      // container → host
      if (srcP === "") throw new CliError("filepath cannot be empty");
      const { stat: pstat, tar } = await run.client.containerArchiveGet(srcC, srcP);
      if (dstP === "-") {
        await pipeline(tar, run.io.stdout, { end: false });
        return 0;
      }
      const dst = path.resolve(dstP);
      let dstStat;
      try {
        dstStat = await stat(dst);
      } catch {
        dstStat = undefined;
      }
      const srcIsDir = pstat ? (pstat.mode & 0x80000000) !== 0 : false;
      const wantsDir = srcP.endsWith("/.") || srcP.endsWith("/");
      if (dstStat?.isDirectory()) {
        // into the directory under the source's name, or its contents with SRC/.
        if (srcP.endsWith("/.")) await untarContents(tar, dst);
        else await untar(tar, dst);
      } else if (dstStat && srcIsDir) {
        throw new CliError(`cannot copy directory to existing file: ${dstP}`);
      } else {
        if (dstP.endsWith("/") && !srcIsDir) throw new CliError(`destination directory ${dstP} does not exist`);
        if (!(await stat(path.dirname(dst)).catch(() => undefined))) throw new CliError(`destination directory ${path.dirname(dstP)} does not exist`);
        void wantsDir;
        await untar(tar, path.dirname(dst), path.basename(dst));
      }
      return 0;
    }
    // host → container
    const container = dstC!;
    let tar: Readable;
    let extractDir = dstP;
    if (srcP === "-") {
      tar = run.io.stdin;
    } else {
      const src = path.resolve(srcP);
      const st = await (flags["follow-link"] ? stat(src) : lstat(src)).catch(() => undefined);
      if (!st) throw new CliError(`lstat ${src}: no such file or directory`);
      let dstStat;
      try {
        dstStat = await run.client.containerStatPath(container, dstP);
      } catch (err) {
        if (!(err instanceof EngineError) || err.status !== 404) throw err;
        dstStat = undefined;
      }
      const dstIsDir = dstStat ? (dstStat.mode & 0x80000000) !== 0 : false;
      let name = path.basename(src);
      if (dstStat && dstIsDir) {
        extractDir = dstP;
      } else if (dstStat && st.isDirectory()) {
        throw new CliError(`cannot copy directory to existing file: ${dstP}`);
      } else if (dstStat) {
        // overwrite a file: extract into its directory under its name
        extractDir = path.posix.dirname(dstP);
        name = path.posix.basename(dstP);
      } else {
        // a file copied to DIR/ needs DIR to exist (the docker CLI's check); a directory creates it
        if (dstP.endsWith("/") && !st.isDirectory()) throw new CliError("no such directory");
        extractDir = path.posix.dirname(dstP);
        name = path.posix.basename(dstP);
      }
      if (srcP.endsWith("/.") && st.isDirectory() && dstIsDir) {
        tar = await tarContents(src);
      } else tar = await tarPath(src, name, flags["follow-link"]);
    }
    await run.client.containerArchivePut(container, extractDir, tar, { noOverwriteDirNonDir: true, copyUIDGID: flags.archive || undefined });
    return 0;
  },
);

/** Tars the contents of a directory (SRC/. semantics). */
async function tarContents(dir: string): Promise<Readable> {
  const out = new PassThrough();
  const pack = tarPack();
  const entries = (await readdir(dir)).sort();
  void (async () => {
    for (const e of entries) {
      const t = await tarPath(path.join(dir, e), e, false);
      const ex = tarExtract();
      ex.on("entry", (h, stream, next) => {
        stream.pipe(pack.entry(h, (err) => next(err ?? undefined)));
      });
      await pipeline(t, ex);
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  pack.pipe(out);
  return out;
}

/** Extracts the contents of a tar's top directory into dest (SRC/. out of a container). */
async function untarContents(src: Readable, dest: string): Promise<void> {
  const ex = tarExtract();
  const repack = tarPack();
  ex.on("entry", (h, stream, next) => {
    const name = h.name.replace(/^\/+/, "");
    const slash = name.indexOf("/");
    const rest = slash < 0 ? "" : name.slice(slash + 1);
    if (rest === "" || rest === "/") {
      stream.resume();
      next();
      return;
    }
    const nh = { ...h, name: rest };
    if (h.type === "link" && h.linkname) {
      const ls = h.linkname.indexOf("/");
      nh.linkname = ls < 0 ? h.linkname : h.linkname.slice(ls + 1);
    }
    stream.pipe(repack.entry(nh, (err) => next(err ?? undefined)));
  });
  ex.on("finish", () => repack.finalize());
  src.pipe(ex);
  await untar(repack as unknown as Readable, dest);
}

const exportCommand = command(
  { name: "export", usage: "cove export [OPTIONS] CONTAINER", summary: "Export a container's filesystem as a tar archive", flags: { output: { type: "string", short: "o", valueName: "string", description: "Write to a file, instead of STDOUT" } }, args: { min: 1, max: 1 } },
  async ({ flags, args }, run) => {
    if (flags.output === undefined && run.io.stdout.isTTY) throw new CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    const res = await run.client.containerExport(args[0]!);
    if (flags.output !== undefined) {
      const tmp = `${flags.output}.cove-tmp`;
      const out = createWriteStream(tmp);
      await pipeline(res, out);
      const { rename } = await import("node:fs/promises");
      await rename(tmp, flags.output);
    } else {
      await pipeline(res, run.io.stdout, { end: false });
    }
    return 0;
  },
);

const commitCommand = command(
  {
    name: "commit",
    usage: "cove commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    summary: "Create a new image from a container's changes",
    flags: {
      author: { type: "string", short: "a", valueName: "string", description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
      change: { type: "list", short: "c", valueName: "list", description: "Apply Dockerfile instruction to the created image" },
      message: { type: "string", short: "m", valueName: "string", description: "Commit message" },
      pause: { type: "bool", short: "p", default: true, description: "Pause container during commit" },
    },
    args: { min: 1, max: 2 },
  },
  async ({ flags, args }, run) => {
    let repo: string | undefined;
    let tag: string | undefined;
    if (args[1] !== undefined) {
      const ref = parseNormalizedNamed(args[1]);
      repo = familiarString({ domain: ref.domain, path: ref.path });
      tag = ref.tag;
    }
    const res = await run.client.containerCommit({
      container: args[0]!,
      repo,
      tag,
      comment: flags.message,
      author: flags.author,
      pause: flags.pause,
      changes: flags.change.length ? flags.change.join("\n") : undefined,
    });
    run.out(res.Id + "\n");
    return 0;
  },
);

// ---- info / version / events --------------------------------------------------------------------------------

const infoCommand = (name: string) =>
  command({ name, usage: `cove ${name} [OPTIONS]`, summary: "Display system-wide information", flags: { format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" } }, args: { max: 0 } }, async ({ flags }, run) => {
    const info = await run.client.info();
    if (flags.format !== undefined && flags.format !== "") {
      if (flags.format === "json") run.out(marshalJSON(info, { escapeHTML: true }) + "\n");
      else run.out(inspectTemplate(parseTemplate(flags.format), info) + "\n");
      return 0;
    }
    const l: string[] = [];
    l.push("Client:", ` Version:    ${CLIENT_VERSION}`, ` Context:    default`, ` Debug Mode: false`, "");
    l.push("Server:");
    l.push(` Containers: ${info.Containers}`, `  Running: ${info.ContainersRunning}`, `  Paused: ${info.ContainersPaused}`, `  Stopped: ${info.ContainersStopped}`);
    l.push(` Images: ${info.Images}`, ` Server Version: ${info.ServerVersion}`, ` Storage Driver: ${info.Driver}`);
    for (const [k, v] of info.DriverStatus ?? []) l.push(`  ${k}: ${v}`);
    if (info.LoggingDriver) l.push(` Logging Driver: ${info.LoggingDriver}`);
    if (info.CgroupDriver) l.push(` Cgroup Driver: ${info.CgroupDriver}`);
    if (info.CgroupVersion) l.push(` Cgroup Version: ${info.CgroupVersion}`);
    if (info.Plugins) {
      l.push(" Plugins:");
      l.push(`  Volume: ${(info.Plugins.Volume ?? []).join(" ")}`, `  Network: ${(info.Plugins.Network ?? []).join(" ")}`, `  Log: ${(info.Plugins.Log ?? []).join(" ")}`);
    }
    if (info.Swarm?.LocalNodeState) l.push(` Swarm: ${info.Swarm.LocalNodeState}`);
    if (info.Runtimes) l.push(` Runtimes: ${Object.keys(info.Runtimes).sort().join(" ")}`);
    if (info.DefaultRuntime) l.push(` Default Runtime: ${info.DefaultRuntime}`);
    if (info.SecurityOptions?.length) {
      l.push(" Security Options:");
      for (const o of info.SecurityOptions) {
        const parts = o.split(",");
        l.push(`  ${parts[0]!.replace(/^name=/, "")}`);
        for (const p of parts.slice(1)) l.push(`   ${p.replace("=", ": ").replace(/^./, (c) => c.toUpperCase())}`);
      }
    }
    l.push(` Kernel Version: ${info.KernelVersion}`, ` Operating System: ${info.OperatingSystem}`, ` OSType: ${info.OSType}`, ` Architecture: ${info.Architecture}`);
    l.push(` CPUs: ${info.NCPU}`, ` Total Memory: ${bytesSize(info.MemTotal)}`, ` Name: ${info.Name}`);
    if (info.ID) l.push(` ID: ${info.ID}`);
    l.push(` Docker Root Dir: ${info.DockerRootDir}`, ` Debug Mode: ${info.Debug ? "true" : "false"}`, ` Experimental: ${info.ExperimentalBuild ? "true" : "false"}`);
    l.push(` Live Restore Enabled: ${info.LiveRestoreEnabled ? "true" : "false"}`, "");
    run.out(l.join("\n") + "\n");
    for (const w of info.Warnings ?? []) run.err(w + "\n");
    return 0;
  });

const CLIENT_VERSION = "0.1.0";

const versionCommand = command({ name: "version", usage: "cove version [OPTIONS]", summary: "Show the cove version information", flags: { format: { type: "string", short: "f", valueName: "string", description: "Format output using a custom template" } }, args: { max: 0 } }, async ({ flags }, run) => {
  const client = {
    Platform: { Name: "cove" },
    Version: CLIENT_VERSION,
    ApiVersion: await run.client.apiVersion().catch(() => "1.47"),
    DefaultAPIVersion: "1.47",
    GoVersion: process.version,
    Os: process.platform,
    Arch: process.arch === "x64" ? "amd64" : process.arch,
    Context: "default",
  };
  let server: Awaited<ReturnType<EngineClient["version"]>> | undefined;
  let serverErr: unknown;
  try {
    server = await run.client.version();
  } catch (err) {
    serverErr = err;
  }
  if (flags.format !== undefined && flags.format !== "") {
    const data = { Client: client, Server: server ?? null };
    if (flags.format === "json") run.out(marshalJSON(data, { escapeHTML: true }) + "\n");
    else run.out(inspectTemplate(parseTemplate(flags.format), data) + "\n");
  } else {
    const l = ["Client:", ` Version:           ${client.Version}`, ` API version:       ${client.ApiVersion}`, ` Node version:      ${client.GoVersion}`, ` OS/Arch:           ${client.Os}/${client.Arch}`, ` Context:           default`];
    if (server) {
      l.push("", `Server: ${server.Platform?.Name ?? ""}`.trimEnd());
      const comps = server.Components?.length ? server.Components : [{ Name: "Engine", Version: server.Version, Details: { ApiVersion: server.ApiVersion, MinAPIVersion: server.MinAPIVersion ?? "", GitCommit: server.GitCommit, GoVersion: server.GoVersion, Os: server.Os, Arch: server.Arch } }];
      for (const c of comps) {
        l.push(` ${c.Name}:`, `  Version:          ${c.Version}`);
        if (c.Name === "Engine") {
          l.push(`  API version:      ${server.ApiVersion} (minimum version ${server.MinAPIVersion ?? ""})`, `  Go version:       ${server.GoVersion}`, `  Git commit:       ${server.GitCommit}`);
          if (server.BuildTime) l.push(`  Built:            ${server.BuildTime}`);
          l.push(`  OS/Arch:          ${server.Os}/${server.Arch}`, `  Experimental:     ${server.Experimental ? "true" : "false"}`);
        } else {
          for (const [k, v] of Object.entries(c.Details ?? {})) l.push(`  ${k}:${" ".repeat(Math.max(1, 17 - k.length))}${v}`);
        }
      }
    }
    run.out(l.join("\n") + "\n");
  }
  if (serverErr) {
    run.err(errorLine(serverErr) + "\n");
    return 1;
  }
  return 0;
});

const eventsCommand = command(
  {
    name: "events",
    usage: "cove events [OPTIONS]",
    summary: "Get real time events from the server",
    flags: {
      filter: { type: "list", short: "f", valueName: "filter", description: "Filter output based on conditions provided" },
      format: { type: "string", valueName: "string", description: "Format output using a custom template" },
      since: { type: "string", valueName: "string", description: "Show all events created since timestamp" },
      until: { type: "string", valueName: "string", description: "Stream events until this timestamp" },
    },
    args: { max: 0 },
  },
  async ({ flags }, run) => {
    const ts = (v: string | undefined) => (v === undefined ? undefined : timestampArg(v, run.now));
    let tmpl: Template | undefined;
    if (flags.format !== undefined && flags.format !== "" && flags.format !== "json") tmpl = parseTemplate(flags.format);
    const events = await run.client.events({ since: ts(flags.since), until: ts(flags.until), filters: parseFilters(flags.filter, "events") });
    for await (const e of events) {
      if (flags.format === "json") run.out(marshalJSON(e, { escapeHTML: true }) + "\n");
      else if (tmpl) run.out(tmpl.execute(e) + "\n");
      else run.out(eventLine(e) + "\n");
    }
    return 0;
  },
);

/** docker's default event line: "2024-01-02T15:04:05.123456789Z container start <id> (image=busybox, name=x)". */
export function eventLine(e: { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> }; time: number; timeNano: number }): string {
  const secs = Math.trunc(e.timeNano / 1e9);
  const nanos = String(e.timeNano % 1e9).padStart(9, "0");
  const d = new Date(secs * 1000);
  const off = -d.getTimezoneOffset();
  const pad = (n: number) => String(n).padStart(2, "0");
  const zone = off === 0 ? "Z" : `${off > 0 ? "+" : "-"}${pad(Math.trunc(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${nanos}${zone}`;
  const attrs = Object.keys(e.Actor.Attributes ?? {})
    .sort()
    .map((k) => `${k}=${e.Actor.Attributes[k]}`);
  return `${stamp} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(", ")})` : ""}`;
}

// ---- the command map ------------------------------------------------------------------------------------------

export const containerCommands: Record<string, ContainerCommand> = {
  run: runCommand,
  "container run": runCommand,
  create: createCommand,
  "container create": createCommand,
  start: startCommand,
  "container start": startCommand,
  stop: stopLike("stop"),
  "container stop": stopLike("stop"),
  restart: stopLike("restart"),
  "container restart": stopLike("restart"),
  kill: killCommand,
  "container kill": killCommand,
  rm: rmCommand("rm"),
  "container rm": rmCommand("container rm"),
  ps: psCommand("ps"),
  "container ls": psCommand("container ls"),
  "container list": psCommand("container list"),
  "container ps": psCommand("container ps"),
  logs: logsCommand,
  "container logs": logsCommand,
  exec: execCommand,
  "container exec": execCommand,
  attach: attachCommand,
  "container attach": attachCommand,
  inspect: inspectCommand("inspect"),
  "container inspect": inspectCommand("container inspect"),
  top: topCommand,
  "container top": topCommand,
  wait: waitCommand,
  "container wait": waitCommand,
  rename: renameCommand,
  "container rename": renameCommand,
  pause: simple("pause", "Pause all processes within one or more containers", (c, id) => c.containerPause(id)),
  "container pause": simple("container pause", "Pause all processes within one or more containers", (c, id) => c.containerPause(id)),
  unpause: simple("unpause", "Unpause all processes within one or more containers", (c, id) => c.containerUnpause(id)),
  "container unpause": simple("container unpause", "Unpause all processes within one or more containers", (c, id) => c.containerUnpause(id)),
  port: portCommand,
  "container port": portCommand,
  update: updateCommand,
  "container update": updateCommand,
  "container prune": pruneCommand,
  stats: statsCommand,
  "container stats": statsCommand,
  cp: cpCommand,
  "container cp": cpCommand,
  diff: diffCommand,
  "container diff": diffCommand,
  export: exportCommand,
  "container export": exportCommand,
  commit: commitCommand,
  "container commit": commitCommand,
  info: infoCommand("info"),
  "system info": infoCommand("system info"),
  version: versionCommand,
  events: eventsCommand,
  "system events": eventsCommand,
};

