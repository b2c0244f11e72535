// The engine's container service: the container model and lifecycle with Docker's semantics
// (create, start, stop, kill, restart, pause, wait, remove, rename, inspect, list), logs, attach,
// exec, healthchecks, restart policies, events, and live restore. The daemon's routes, the CLI and
// the library's Engine all call it.
//
// State lives under <root>/containers/<id>/: config.v2.json and hostconfig.json (written
// atomically), config.json (the OCI bundle config; the bundle is this directory), rootfs/ (the
// overlay mount point), hostname, hosts, resolv.conf and container.log (written by the monitor).
// The runtime's own state (monitor, attach socket, exit status) is under the runtime root, on a
// tmpfs, so containers keep running, logging and attachable while no daemon runs.

import { randomBytes } from "node:crypto";
import { closeSync, createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { constants as osConstants, hostname as osHostname } from "node:os";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { conflict, CoveError, invalid, isErrno, notFound, unsupported } from "../common/errors.js";
import { replaceFile, writeFileAtomic } from "../common/fs.js";
import { parseUntil, type ImageService } from "../images/service.js";
import { cgroupManager } from "../runtime/cgroups/index.js";
import type { NetworkService } from "../network/index.js";
import { CoveRuntime, DEFAULT_RUNTIME_ROOT, parseSignal } from "../runtime/cove.js";
import { findRunc, RuncRuntime } from "../runtime/runc.js";
import type { Process } from "../runtime/spec.js";
import type { ContainerRuntime, ProcessExit } from "../runtime/types.js";
import { diffLayer, mountAll, unmountAll, type Mount as SnapshotMount } from "../snapshots/index.js";
import { containerAbsPath, fileMountTarget, kernelMountPoints, locate, openProcessRoot, pathStat, writeArchive, type PathStat } from "./archive.js";
import { extractInto } from "./extract.js";
import { bindMount, Dir, FileStat, treeSize } from "../fsroot/index.js";
import { addon } from "../native/addon.js";
import { isInitLayerEntry, overlayChanges, type Change } from "./changes.js";
import { commitConfig, END_OF_ARCHIVE_SIZE, matchLabels, type CommitOptions } from "./commit.js";
import { dockerStats, emptyStats, hostCpu, parseNetDev, withPrevious, ZERO_TIME as STATS_ZERO_TIME, type DockerStats } from "./stats.js";
import { runPs, type TopResult } from "./top.js";
import { planUpdate, type UpdateBody } from "./update.js";
import { copyTree, isEmptyDir, VolumeService } from "../volumes/index.js";
import { connectMonitor, Channel, type MonitorConnection } from "./attach.js";
import { readLogs } from "./logs.js";
import { checkSourcePropagation, ociMount, planMounts, publicMountPoint, tmpfsFlagMounts, type MountEntry } from "./mounts.js";
import { generateName, VALID_NAME } from "./names.js";
import {
  buildSpec,
  commandOf,
  containerCgroupsPath,
  containerEnv,
  hostnameOf,
  hostsFile,
  mergeConfig,
  networkResolvConf,
  normalizeNetworkMode,
  NO_NETWORK_WARNING,
  resolvConfFile,
  resourcesOf,
  tweakCapabilities,
  withHostConfigDefaults,
  type ContainerMounts,
} from "./spec.js";
import type {
  AttachChunk,
  ContainerConfig,
  ContainerInspect,
  ContainerStateDoc,
  ContainerStatus,
  ContainerSummary,
  CreateBody,
  DockerEvent,
  EndpointSettings,
  ExecConfig,
  ExecInspect,
  Health,
  HostConfig,
  LogEntry,
  LogsOptions,
  NetworkSettings,
  WaitCondition,
  WaitResponse,
} from "./types.js";
import { clearStaging, detachMountsUnder, makeWorkingDir, prepareFileMountpoints, stageSubpath } from "./startfs.js";
import { resolveUser, resolveUserInRootfs } from "./user.js";

const ZERO_TIME = "0001-01-01T00:00:00Z";
/** A removed container's directory is renamed to this prefix + its ID until its removal finishes. */
const REMOVING_PREFIX = ".removing-";
const DEFAULT_LOG_MAX_SIZE = 20 * 1024 * 1024;
const DEFAULT_LOG_MAX_FILES = 5;
const NS = 1_000_000_000;

/** What config.v2.json holds. */
interface ContainerRecord {
  ID: string;
  Created: string;
  Path: string;
  Args: string[];
  Config: ContainerConfig;
  /** The image ID (sha256:...). */
  Image: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  MountLabel: string;
  ProcessLabel: string;
  AppArmorProfile: string;
  State: ContainerStateDoc;
  HasBeenStartedBefore: boolean;
  HasBeenManuallyStopped: boolean;
  MountPoints: MountEntry[];
  /** The snapshot's mounts for the rootfs (as prepareRootfs returned them). */
  RootfsMounts: SnapshotMount[];
}

interface ExecRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  exitCode: number | null;
  pid: number;
  started: boolean;
}

interface PendingAttach {
  connect: (socket: string) => Promise<void>;
}

interface Live {
  rec: ContainerRecord;
  hc: HostConfig;
  dir: string;
  /** Resolves when the current run has been recorded as exited. */
  exited?: Promise<void>;
  resolveExited?: () => void;
  watcher?: MonitorConnection;
  pollTimer?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  healthTimer?: NodeJS.Timeout;
  /** Backoff state of the restart manager. */
  restartDelay: number;
  pendingAttach: Set<PendingAttach>;
  /** Called at each exit; failedStart when a start failed instead (no exit for `docker wait`). */
  exitListeners: Set<(code: number, failedStart?: boolean) => void>;
  removeListeners: Set<() => void>;
  busy: Promise<unknown>;
  handlingExit: boolean;
  /** Set while a start is in progress; the exit handler waits for it. */
  startGate?: Promise<void>;
  /** Date.now() when the current run started (for the restart back-off and health start period). */
  runStartedAt?: number;
}

export interface ContainerServiceOptions {
  /** The engine's state root (e.g. /var/lib/cove); containers live in <root>/containers. */
  root: string;
  /** The runtime's state root, on a tmpfs (default /run/cove/runtime). Keep it short: attach sockets live there. */
  runtimeRoot?: string;
  images: ImageService;
  events?: (e: DockerEvent) => void;
  /** The --init binary; default <package>/build/cove-init. */
  initPath?: string;
  /** The runc binary for HostConfig.Runtime "runc"; default runc on PATH, else /usr/sbin/runc. */
  runcPath?: string;
  /** The volume service (default: one opened on root, publishing through events). */
  volumes?: VolumeService;
  /** Networking (bridge and user-defined networks, ports); without it containers get a loopback only. */
  network?: NetworkService;
}

/** The runtimes a container may name in HostConfig.Runtime; "cove" is the default. */
export const RUNTIME_NAMES = ["cove", "runc"] as const;

export interface CreateResult {
  Id: string;
  Warnings: string[];
}

export interface ListOptions {
  all?: boolean;
  limit?: number;
  size?: boolean;
  filters?: Record<string, string[]>;
}

export interface AttachOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** Replay the log first. */
  logs?: boolean;
  /** Stream live output (default true). */
  stream?: boolean;
}

export interface AttachSession {
  output: AsyncIterable<AttachChunk>;
  write(data: Buffer | string): void;
  closeStdin(): void;
  resize(rows: number, cols: number): void;
  close(): void;
}

export interface ExecSession extends AttachSession {
  /** The exit code once the process ends. */
  exitCode: Promise<number>;
}

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

function newId(): string {
  return randomBytes(32).toString("hex");
}

function nowIso(): string {
  const ns = process.hrtime.bigint() % 1_000_000n;
  return new Date().toISOString().replace(/\.(\d{3})Z$/, (_m, ms: string) => `.${ms}${ns.toString().padStart(6, "0")}Z`);
}

/** Docker's units.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

function signalNumber(sig: string | number | undefined, fallback: number): number {
  if (sig === undefined || sig === "") return fallback;
  return parseSignal(typeof sig === "number" ? sig : sig);
}

/** Logging drivers Docker has that cove does not implement: refused as unsupported, not unknown. */
const DOCKER_ONLY_LOG_DRIVERS = ["syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"];
/** The options each driver accepts (moby's ValidateLogOpt), for Docker's create-time errors. */
const LOG_OPTS: Record<string, string[]> = {
  "json-file": ["max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"],
  local: ["max-file", "max-size", "compress"],
};

/** Checks HostConfig.LogConfig at create as dockerd does: the driver, and the option names. */
function checkLogConfig(type: string, config: Record<string, string>): void {
  if (DOCKER_ONLY_LOG_DRIVERS.includes(type)) {
    throw unsupported(`logging driver "${type}" is not supported: cove writes json-file logs (json-file, local or none)`, { code: "container.log-driver" });
  }
  if (type !== "none" && !LOG_OPTS[type]) throw invalid(`error looking up logging plugin ${type}: plugin "${type}" not found`, { code: "container.log-driver" });
  const unknown = Object.keys(config).find((k) => type !== "none" && !LOG_OPTS[type]!.includes(k));
  if (unknown !== undefined) {
    throw invalid(type === "json-file" ? `unknown log opt '${unknown}' for json-file log driver` : `unknown log opt '${unknown}' for log driver ${type}`, { code: "container.log-opt" });
  }
}

/** go-units' FromHumanSize (decimal: 1k = 1000), which both of Docker's file drivers use. */
function fromHumanSize(text: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kmgtp])?i?b?$/i.exec(text);
  if (!m || m[1]!.split(".").length > 2) throw new Error(`invalid size: '${text}'`);
  const mult: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };
  return Math.floor(Number(m[1]) * mult[(m[2] ?? "").toLowerCase()]!);
}

/** Go's strconv.Atoi, with its error text. */
function atoi(text: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(text)}: invalid syntax`);
  return Number(text);
}

/** Go's strconv.ParseBool, with its error text. */
function parseBool(text: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw new Error(`strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`);
}

/**
 * The monitor's log rotation for a container, or undefined for the "none" driver. Values are
 * checked at start with the errors dockerd's drivers give when they initialize (so a bad value
 * leaves a created container, as with dockerd). Without max-size cove still bounds the log (the
 * local driver's 20 MB x 5 files) where Docker's json-file grows without limit. Rotated files are
 * not compressed.
 */
function logSettings(type: string, config: Record<string, string>): { maxSize: number; maxFiles: number } | undefined {
  if (type === "none") return undefined;
  const failed = (message: string) => new CoveError("system", `failed to initialize logging driver: ${message}`, { code: "container.log-opt", field: "HostConfig.LogConfig.Config" });
  const local = type === "local";
  let maxSize = DEFAULT_LOG_MAX_SIZE;
  let maxFiles = config["max-size"] !== undefined && !local ? 1 : DEFAULT_LOG_MAX_FILES;
  let compress = local;
  const wrap = (prefix: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      throw failed(prefix + (err as Error).message);
    }
  };
  if (config["max-size"] !== undefined) {
    wrap(local ? `invalid value for max-size: ${config["max-size"]}: ` : "", () => (maxSize = fromHumanSize(config["max-size"]!)));
    if (maxSize <= 0) throw failed("max-size must be a positive number");
  }
  if (config["max-file"] !== undefined) wrap(local ? `invalid value for max-file: ${config["max-file"]}: ` : "", () => (maxFiles = atoi(config["max-file"]!)));
  if (config.compress !== undefined) wrap(local ? "error reading compress log option: " : "", () => (compress = parseBool(config.compress!)));
  if (local && compress && maxFiles <= 1) throw failed("compression cannot be enabled when max file count is 1");
  if (maxFiles < 1) throw failed("max-file cannot be less than 1");
  if (!local && compress && (maxFiles === 1 || config["max-size"] === undefined)) throw failed("compress cannot be true when max-file is less than 2 or max-size is not set");
  return { maxSize, maxFiles };
}

async function isMountpoint(p: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([stat(p), stat(path.dirname(p))]);
    return a.dev !== b.dev || a.ino === b.ino;
  } catch {
    return false;
  }
}

function overlayDirs(mounts: SnapshotMount[]): Record<string, string> {
  const m = mounts.find((x) => x.type === "overlay");
  const out: Record<string, string> = {};
  if (!m) {
    const bind = mounts[0];
    if (bind) out.UpperDir = bind.source;
    return out;
  }
  const abs = (p: string) => (m.cwd && !path.isAbsolute(p) ? path.join(m.cwd, p) : p);
  for (const o of m.options) {
    const [k, v] = o.split("=", 2) as [string, string | undefined];
    if (v === undefined) continue;
    if (k === "lowerdir") out.LowerDir = v.split(":").map(abs).join(":");
    else if (k === "upperdir") out.UpperDir = abs(v);
    else if (k === "workdir") out.WorkDir = abs(v);
  }
  return out;
}

function emptyEndpoint(): EndpointSettings {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: "",
    DriverOpts: null,
    NetworkID: "",
    EndpointID: "",
    Gateway: "",
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  };
}

/**
 * A runtime's create/start failure in Docker's words ("OCI runtime create failed: ..."), which the
 * docker CLI reads to pick its exit code (127 for a missing command, 126 for one it cannot run).
 */
function ociStartError(err: unknown, runtime: string): unknown {
  if (!(err instanceof CoveError) || err.message.startsWith("OCI runtime")) return err;
  let detail = err.message;
  if (runtime === "runc") detail = detail.replace(/^runc (create|start) [^:]*: /, "");
  else if (err.code === "exec.not-found" || err.code === "exec.permission-denied") detail = `unable to start container process: ${detail}`;
  // moby's translateContainerdStartErr: a command that is missing or cannot run is the caller's (400)
  const kind = /executable file not found|no such file or directory|permission denied/.test(detail) ? "invalid" : err.kind;
  return new CoveError(kind, `OCI runtime create failed: ${detail}`, { code: err.code, cause: err, ...(err.hint ? { hint: err.hint } : {}) });
}

function exitCodeOfStartError(message: string): number {
  if (/not found|ENOENT|no such file/i.test(message)) return 127;
  if (/permission denied|EACCES|EPERM/i.test(message)) return 126;
  return 128;
}

export class ContainerService {
  readonly root: string;
  readonly runtimeRoot: string;
  readonly runtime: CoveRuntime;
  /** runc for containers created with HostConfig.Runtime "runc", run under cove's monitors. */
  readonly runc: RuncRuntime | undefined;
  private readonly images: ImageService;
  private readonly emit: (e: DockerEvent) => void;
  private readonly initPath: string;
  private readonly containers = new Map<string, Live>();
  private readonly names = new Map<string, string>();
  private readonly execs = new Map<string, ExecRecord>();
  private readonly cgroupVersion: 1 | 2;
  readonly network?: NetworkService;
  private closed = false;
  volumes!: VolumeService;
  /** Removals finishing after the API has answered (see remove). */
  private readonly finishingRemovals = new Set<Promise<void>>();

  private constructor(opts: ContainerServiceOptions) {
    this.root = opts.root;
    this.runtimeRoot = opts.runtimeRoot ?? DEFAULT_RUNTIME_ROOT;
    this.runtime = new CoveRuntime({ root: this.runtimeRoot });
    const runcPath = opts.runcPath ?? findRunc();
    // runc's own state sits next to cove's; the monitors' (attach socket, exit) in the same place as cove's
    this.runc = runcPath ? new RuncRuntime({ binary: runcPath, root: path.join(path.dirname(this.runtimeRoot), "runc"), monitorRoot: this.runtimeRoot }) : undefined;
    this.images = opts.images;
    this.emit = opts.events ?? (() => undefined);
    this.initPath = opts.initPath ?? path.join(packageRoot(), "build", "cove-init");
    if (opts.network) this.network = opts.network;
    this.cgroupVersion = existsSync("/sys/fs/cgroup/cgroup.controllers") ? 2 : 1;
  }

  /** Opens the service on a root, reloading every container and reconciling it with the runtime. */
  static async open(opts: ContainerServiceOptions): Promise<ContainerService> {
    const svc = new ContainerService(opts);
    svc.volumes = opts.volumes ?? (await VolumeService.open({ root: opts.root, events: (e) => svc.emitVolumeEvent(e) }));
    await mkdir(path.join(svc.root, "containers"), { recursive: true, mode: 0o710 });
    await svc.restore();
    // sandboxes of containers that are not running (the daemon died while they exited) go now
    await svc.network?.reconcile(new Set([...svc.containers.values()].filter((c) => c.rec.State.Running).map((c) => c.rec.ID)));
    return svc;
  }

  /** Stops watching containers without touching them (they keep running: the daemon may come back). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.finishingRemovals);
    for (const c of this.containers.values()) {
      c.watcher?.close();
      if (c.pollTimer) clearInterval(c.pollTimer);
      if (c.restartTimer) clearTimeout(c.restartTimer);
      if (c.healthTimer) clearTimeout(c.healthTimer);
    }
  }

  // ---------------------------------------------------------------- helpers

  private containersDir(): string {
    return path.join(this.root, "containers");
  }

  private attachSocket(id: string): string {
    return path.join(this.runtimeRoot, id, "a.sock");
  }

  private logPath(c: Live): string {
    return path.join(c.dir, "container.log");
  }

  private rootfsPath(c: Live): string {
    return path.join(c.dir, "rootfs");
  }

  /** Finds a container by full id, name (with or without "/"), or unique id prefix. */
  private find(ref: string): Live {
    const direct = this.containers.get(ref);
    if (direct) return direct;
    const byName = this.names.get(ref.startsWith("/") ? ref : `/${ref}`);
    if (byName) return this.containers.get(byName)!;
    if (/^[0-9a-f]+$/.test(ref)) {
      const hits = [...this.containers.keys()].filter((id) => id.startsWith(ref));
      if (hits.length === 1) return this.containers.get(hits[0]!)!;
      if (hits.length > 1) throw invalid(`multiple IDs found with provided prefix: ${ref}`, { code: "container.ambiguous" });
    }
    throw notFound(`No such container: ${ref}`, { code: "container.not-found" });
  }

  /** The runtime a container runs on (HostConfig.Runtime, validated at create). */
  private runtimeOf(c: Live): ContainerRuntime {
    if (c.hc.Runtime === "runc") {
      if (!this.runc) throw unsupported("the runc runtime is not available: runc is not installed", { code: "runtime.missing", hint: "install runc (apt-get install runc)" });
      return this.runc;
    }
    return this.runtime;
  }

  private event(c: Live, action: string, extra: Record<string, string> = {}): void {
    const attrs: Record<string, string> = { ...(c.rec.Config.Labels ?? {}), image: c.rec.Config.Image ?? c.rec.Image, name: c.rec.Name.slice(1), ...extra };
    const timeNano = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    try {
      this.emit({ Type: "container", Action: action, Actor: { ID: c.rec.ID, Attributes: attrs }, time: Number(timeNano / 1_000_000_000n), timeNano });
    } catch {
      // a listener's failure is not the container's
    }
  }

  private emitVolumeEvent(e: { Type: "volume"; Action: string; Actor: { ID: string; Attributes: Record<string, string> } }): void {
    const timeNano = BigInt(Date.now()) * 1_000_000n;
    try {
      this.emit({ ...e, time: Number(timeNano / 1_000_000_000n), timeNano });
    } catch {
      // a listener's failure is not the volume's
    }
  }

  /**
   * Writes the container's record. "all" (the default) writes config.v2.json and hostconfig.json
   * durably (fsync), for what must survive a power loss: the container, its config, its name.
   * "state" is for run-state transitions (started, exited): only config.v2.json, renamed into
   * place without fsync. Those describe processes that a power loss ends anyway; if the write is
   * lost, restore finds the last durable state and reconciles it with the runtime (a container
   * recorded as running whose monitor is gone is marked exited). Waiting on the disk there put
   * milliseconds per fsync on every docker run.
   */
  private async save(c: Live, what: "all" | "state" = "all"): Promise<void> {
    if (this.closed) return;
    try {
      if (what === "state") {
        await replaceFile(path.join(c.dir, "config.v2.json"), JSON.stringify(c.rec), 0o600);
        return;
      }
      await Promise.all([
        writeFileAtomic(path.join(c.dir, "config.v2.json"), JSON.stringify(c.rec), 0o600),
        writeFileAtomic(path.join(c.dir, "hostconfig.json"), JSON.stringify(c.hc), 0o600),
      ]);
    } catch (err) {
      // removed while its exit was being recorded (wait/die seen, then rm): nothing left to save
      if (c.rec.State.Status === "removing" || !this.containers.has(c.rec.ID)) return;
      throw err;
    }
  }

  /** Runs fn after the container's previous exclusive operation. */
  private exclusive<T>(c: Live, fn: () => Promise<T>): Promise<T> {
    const run = c.busy.then(fn, fn);
    c.busy = run.catch(() => undefined);
    return run;
  }

  private isRunning(c: Live): boolean {
    return c.rec.State.Running;
  }

  private setStatus(c: Live, status: ContainerStatus): void {
    const s = c.rec.State;
    s.Status = status;
    s.Running = status === "running" || status === "paused" || status === "restarting";
    s.Paused = status === "paused";
    s.Restarting = status === "restarting";
    s.Dead = status === "dead";
  }

  private newLive(rec: ContainerRecord, hc: HostConfig): Live {
    return {
      rec,
      hc,
      dir: path.join(this.containersDir(), rec.ID),
      restartDelay: 0,
      pendingAttach: new Set(),
      exitListeners: new Set(),
      removeListeners: new Set(),
      busy: Promise.resolve(),
      handlingExit: false,
    };
  }

  // ---------------------------------------------------------------- create

  async create(body: CreateBody, opts: { name?: string; platform?: string } = {}): Promise<CreateResult> {
    if (this.closed) throw new CoveError("unavailable", "the container service is closed");
    const { HostConfig: hostConfig, NetworkingConfig: networking, ...userConfig } = body;
    if (!userConfig.Image) throw invalid("no image specified: config.Image is empty", { code: "container.no-image", field: "Image" });
    let name: string;
    if (opts.name) {
      if (!VALID_NAME.test(opts.name)) throw invalid(`Invalid container name (${opts.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { code: "container.name-invalid" });
      name = opts.name.startsWith("/") ? opts.name : `/${opts.name}`;
      this.checkNameFree(name);
    } else {
      name = `/${generateName()}`;
      for (let i = 1; this.names.has(name); i++) name = `/${generateName(i)}`;
    }
    const hc = withHostConfigDefaults(hostConfig, this.cgroupVersion);
    const warnings: string[] = [];
    if (hc.OomKillDisable) {
      // moby's verifyPlatformContainerResources: cgroup v2 has no switch for the OOM killer
      if (this.cgroupVersion === 2) {
        warnings.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.");
        hc.OomKillDisable = false;
      } else if (!hc.Memory) {
        warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.");
      }
    }
    checkLogConfig(hc.LogConfig?.Type ?? "json-file", hc.LogConfig?.Config ?? {});
    if (!this.network && hc.PortBindings && Object.keys(hc.PortBindings).length > 0) warnings.push("cove: port publishing is not available without networking; published ports are ignored");
    if (hc.RestartPolicy?.Name && !["no", "always", "unless-stopped", "on-failure"].includes(hc.RestartPolicy.Name)) {
      throw invalid(`invalid restart policy '${hc.RestartPolicy.Name}'`, { code: "container.restart-policy" });
    }
    if (hc.AutoRemove && hc.RestartPolicy?.Name && hc.RestartPolicy.Name !== "no") {
      throw invalid("can't create 'AutoRemove' container with restart policy", { code: "container.restart-policy" });
    }
    if (!(RUNTIME_NAMES as readonly string[]).includes(hc.Runtime ?? "cove")) throw invalid(`unknown or invalid runtime name: ${hc.Runtime}`, { code: "container.runtime" });
    if (hc.Runtime === "runc" && !this.runc) throw invalid("unknown or invalid runtime name: runc (runc is not installed)", { code: "container.runtime", hint: "install runc (apt-get install runc)" });
    if (hc.UsernsMode && hc.UsernsMode !== "host") throw unsupported(`user namespace mode "${hc.UsernsMode}" is not supported yet`);
    const id = newId();
    const dir = path.join(this.containersDir(), id);
    // a placeholder claims the name while the rootfs is prepared
    this.names.set(name, id);
    let entries: MountEntry[] = [];
    let createdVolumes: string[] = [];
    let prepared: Awaited<ReturnType<ImageService["prepareRootfs"]>> | undefined;
    try {
      prepared = await this.images.prepareRootfs(id, userConfig.Image);
      const imageConfig = prepared.config.config;
      const config = mergeConfig(userConfig, imageConfig);
      config.Image = userConfig.Image;
      config.Hostname = normalizeNetworkMode(hc.NetworkMode) === "host" && !config.Hostname ? osHostname() : hostnameOf(id, config);
      config.Domainname ??= "";
      config.User ??= "";
      config.AttachStdin ??= false;
      config.AttachStdout ??= false;
      config.AttachStderr ??= false;
      config.Tty ??= false;
      config.OpenStdin ??= false;
      config.StdinOnce ??= false;
      config.Env ??= [];
      config.Cmd ??= null;
      config.Entrypoint ??= null;
      config.WorkingDir ??= "";
      config.OnBuild ??= null;
      const cmd = commandOf(config);
      // validate the spec now so a bad option fails at create, as dockerd's verifyContainerSettings does
      const mountsOf = (ref: string) => {
        try {
          return this.find(ref).rec.MountPoints;
        } catch (err) {
          // a bad --volumes-from is the request's fault (400), not a missing image the client should pull
          if (err instanceof CoveError && err.kind === "not-found") throw invalid(err.message, { code: "container.volumes-from", field: "HostConfig.VolumesFrom" });
          throw err;
        }
      };
      entries = planMounts({ hostConfig: hc, volumes: config.Volumes ?? null, mountsOf, daemonRoot: path.resolve(this.root) });
      const mounts: ContainerMounts = { mounts: [...entries.map((e) => ociMount(e, "/")), ...tmpfsFlagMounts(hc)], points: [], create: [] };
      const probe = buildSpec({
        id,
        config,
        hostConfig: hc,
        rootfs: "/",
        files: { hostname: "/", hosts: "/", resolvConf: "/" },
        user: { uid: 0, gid: 0, additionalGids: [], home: "/" },
        cgroupVersion: this.cgroupVersion,
        initPath: this.initPath,
        join: { network: "/", pid: "/", ipc: "/", uts: "/" },
        mounts,
        hostDevices: () => [],
      });
      warnings.push(...probe.warnings);
      if (!this.network && normalizeNetworkMode(hc.NetworkMode) === "bridge") warnings.push(NO_NETWORK_WARNING);
      for (const mode of [hc.NetworkMode, hc.PidMode, hc.IpcMode, hc.UTSMode]) {
        if (mode?.startsWith("container:")) this.find(mode.slice("container:".length));
      }
      createdVolumes = await this.createVolumes(id, entries);
      await mkdir(dir, { mode: 0o710 });
      await mkdir(path.join(dir, "rootfs"), { mode: 0o755 });
      const sec = (hc.SecurityOpt ?? []).find((o) => o.startsWith("apparmor=") || o.startsWith("apparmor:"));
      const rec: ContainerRecord = {
        ID: id,
        Created: nowIso(),
        Path: cmd.path,
        Args: cmd.args,
        Config: config,
        Image: prepared.imageId,
        Name: name,
        RestartCount: 0,
        Driver: "overlay2",
        Platform: "linux",
        MountLabel: "",
        ProcessLabel: "",
        AppArmorProfile: sec ? sec.slice("apparmor=".length) : "",
        State: {
          Status: "created",
          Running: false,
          Paused: false,
          Restarting: false,
          OOMKilled: false,
          Dead: false,
          Pid: 0,
          ExitCode: 0,
          Error: "",
          StartedAt: ZERO_TIME,
          FinishedAt: ZERO_TIME,
        },
        HasBeenStartedBefore: false,
        HasBeenManuallyStopped: false,
        MountPoints: entries,
        RootfsMounts: prepared.mounts,
      };
      const c = this.newLive(rec, hc);
      await this.copyUp(c);
      const mode = normalizeNetworkMode(hc.NetworkMode);
      if (this.network) await this.network.attach(id, mode, (networking?.EndpointsConfig ?? {}) as Record<string, never>);
      else if (!["bridge", "none", "host"].includes(mode) && !mode.startsWith("container:")) {
        throw unsupported(`network ${mode} is not available: this engine runs without networking`, { code: "container.network-unsupported" });
      }
      // independent files: their fsyncs overlap instead of queueing
      await Promise.all([this.writeNetworkFiles(c), writeFile(path.join(dir, "container.log"), "", { mode: 0o640 }), this.save(c)]);
      this.containers.set(id, c);
      this.event(c, "create");
      return { Id: id, Warnings: warnings };
    } catch (err) {
      this.names.delete(name);
      await this.network?.forget(id).catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (prepared) await this.images.removeRootfs(id).catch(() => undefined);
      for (const e of entries) if (e.Type === "volume" && e.Name) this.volumes.dereference(e.Name, id);
      for (const v of createdVolumes) await this.volumes.remove(v, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Creates the volumes the mount points name (anonymous ones get a name) and references them for
   * the container at once; returns the ones made here.
   */
  private async createVolumes(id: string, entries: MountEntry[]): Promise<string[]> {
    const made: string[] = [];
    try {
      for (const e of entries) {
        if (e.Type !== "volume") continue;
        const { volume, created } = await this.volumes.createFor(
          id,
          { ...(e.Name ? { Name: e.Name } : {}), Driver: e.Driver || "local", ...(e.VolumeDriverOpts ? { DriverOpts: e.VolumeDriverOpts } : {}), ...(e.VolumeLabels ? { Labels: e.VolumeLabels } : {}) },
          { anonymous: !e.Name },
        );
        if (created) made.push(volume.Name);
        e.Name = volume.Name;
        e.Source = volume.Mountpoint;
      }
      return made;
    } catch (err) {
      for (const e of entries) if (e.Type === "volume" && e.Name) this.volumes.dereference(e.Name, id);
      for (const v of made) await this.volumes.remove(v, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Copies the image's content at each volume's destination into the volume while it is empty (Docker does it at create). */
  private async copyUp(c: Live): Promise<void> {
    const wanted = c.rec.MountPoints.filter((e) => e.Type === "volume" && e.CopyData && e.Name && !e.Subpath);
    if (wanted.length === 0) return;
    const rootfs = await this.mountRootfs(c);
    try {
      // the image's tree and the volume are read and written through directory handles only
      const root = Dir.open(rootfs);
      try {
        for (const e of wanted) {
          let src: Dir;
          try {
            src = root.dirInRoot(e.Destination);
          } catch {
            continue; // missing, or not a directory in the image: nothing to copy
          }
          try {
            const holder = `copy-up:${c.rec.ID}`;
            const dst = await this.volumes.acquire(e.Name!, holder, { destination: e.Destination, rw: true, propagation: "" }, true);
            try {
              await Dir.with(dst, async (vol) => {
                if (isEmptyDir(vol)) await copyTree(src, vol);
              });
            } finally {
              await this.volumes.release(e.Name!, holder, true);
            }
          } finally {
            src.close();
          }
        }
      } finally {
        root.close();
      }
    } finally {
      this.unmountRootfs(c);
    }
  }

  private checkNameFree(name: string): void {
    const holder = this.names.get(name);
    if (holder) {
      throw conflict(`Conflict. The container name "${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`, {
        code: "container.name-conflict",
      });
    }
  }

  private async writeNetworkFiles(c: Live): Promise<void> {
    const mode = normalizeNetworkMode(c.hc.NetworkMode);
    const readHost = (f: string) => readFile(f, "utf8").catch(() => undefined);
    let hosts: string;
    let resolv: string;
    const other = mode.startsWith("container:") ? this.find(mode.slice("container:".length)) : undefined;
    if (other) {
      hosts = (await readHost(path.join(other.dir, "hosts"))) ?? hostsFile("none", undefined);
      resolv = (await readHost(path.join(other.dir, "resolv.conf"))) ?? resolvConfFile("none", undefined, c.hc);
    } else if (this.network && mode !== "host" && mode !== "none") {
      const net = this.network.containerFiles(c.rec.ID, c.rec.Config.Hostname ?? "");
      const gateway = this.network.tryFind("bridge")?.IPAM.Config?.[0]?.Gateway;
      const extra = (c.hc.ExtraHosts ?? []).map((h) => (h.endsWith(":host-gateway") && gateway ? `${h.slice(0, -"host-gateway".length)}${gateway}` : h));
      hosts = hostsFile(mode, undefined, extra, [...this.linkEntries(c), ...net.hostsEntries]);
      resolv = networkResolvConf(await readHost("/etc/resolv.conf"), c.hc, net.nameservers[0]);
    } else {
      hosts = hostsFile(mode, await readHost("/etc/hosts"), c.hc.ExtraHosts ?? []);
      resolv = resolvConfFile(mode, await readHost("/etc/resolv.conf"), c.hc);
    }
    await Promise.all([
      writeFileAtomic(path.join(c.dir, "hostname"), `${c.rec.Config.Hostname}\n`),
      writeFileAtomic(path.join(c.dir, "hosts"), hosts),
      writeFileAtomic(path.join(c.dir, "resolv.conf"), resolv),
    ]);
  }

  /** /etc/hosts lines for legacy --link name[:alias] on the default bridge: "<ip>\t<alias> <short id> <name>". */
  private linkEntries(c: Live): string[] {
    const out: string[] = [];
    for (const link of c.hc.Links ?? []) {
      const [target = "", aliasPart] = link.split(":");
      const alias = (aliasPart ?? target).split("/").pop() ?? target;
      let other: Live;
      try {
        other = this.find(target.replace(/^\//, ""));
      } catch {
        continue;
      }
      const ip = this.network?.addressOn(other.rec.ID, "bridge");
      if (!ip) continue;
      const name = other.rec.Name.slice(1);
      out.push(`${ip}\t${[...new Set([alias, other.rec.ID.slice(0, 12), name])].join(" ")}`);
    }
    return out;
  }

  // ---------------------------------------------------------------- start

  /** Starts a container; a running one is left alone (Docker answers 304). Returns false then. */
  async start(ref: string): Promise<boolean> {
    const c = this.find(ref);
    return this.exclusive(c, async () => {
      if (c.rec.State.Status === "running" || c.rec.State.Status === "restarting") return false;
      if (c.rec.State.Paused) throw conflict("cannot start a paused container, try unpause instead", { code: "container.paused" });
      if (c.rec.State.Status === "removing" || c.rec.State.Dead) throw conflict(`container is marked for removal and cannot be started`, { code: "container.removing" });
      c.rec.HasBeenManuallyStopped = false;
      c.restartDelay = 0;
      try {
        await this.startInternal(c);
      } catch (err) {
        // as moby's containerStart: an AutoRemove container whose start failed is removed, so
        // `run --rm` leaves nothing whichever client (API, CLI, library) started it
        if (c.hc.AutoRemove) await this.remove(c.rec.ID, { force: true }).catch(() => undefined);
        throw err;
      }
      return true;
    });
  }

  private async mountRootfs(c: Live): Promise<string> {
    const target = this.rootfsPath(c);
    await mkdir(target, { recursive: true, mode: 0o755 });
    if (!(await isMountpoint(target))) mountAll(c.rec.RootfsMounts, target);
    return target;
  }

  private unmountRootfs(c: Live): void {
    try {
      unmountAll(this.rootfsPath(c), 2 /* MNT_DETACH */);
    } catch {
      // nothing mounted
    }
  }

  private namespacePath(c: Live, mode: string | undefined, ns: string): string | undefined {
    if (!mode?.startsWith("container:")) return undefined;
    const other = this.find(mode.slice("container:".length));
    if (other.rec.ID === c.rec.ID) throw invalid(`cannot join own ${ns} namespace`);
    if (!other.rec.State.Running || !other.rec.State.Pid) {
      throw conflict(`cannot join ${ns} namespace of a non running container: container ${other.rec.ID} is ${other.rec.State.Status}`, { code: "container.not-running" });
    }
    const sandbox = ns === "net" ? this.network?.sandbox(other.rec.ID) : undefined;
    return sandbox ? sandbox.netns : `/proc/${other.rec.State.Pid}/ns/${ns}`;
  }

  private async startInternal(c: Live): Promise<void> {
    let openGate!: () => void;
    c.startGate = new Promise<void>((r) => (openGate = r));
    try {
      await this.startRun(c);
    } finally {
      openGate();
      c.startGate = undefined;
    }
  }

  private async startRun(c: Live): Promise<void> {
    const id = c.rec.ID;
    const cfg = c.rec.Config;
    try {
      const rootfs = await this.mountRootfs(c);
      // the root is the container's: what is made in it is made through its directory fd
      if (cfg.WorkingDir) await Dir.with(rootfs, (root) => makeWorkingDir(root, cfg.WorkingDir!));
      const user = await resolveUserInRootfs(rootfs, cfg.User ?? "", c.hc.GroupAdd ?? []);
      const mounts = await this.setupMounts(c);
      const join: Partial<Record<"network" | "pid" | "ipc" | "uts", string>> = {};
      const mode = normalizeNetworkMode(c.hc.NetworkMode);
      const net = this.namespacePath(c, mode, "net");
      if (net) join.network = net;
      if (this.network) {
        const sandbox = await this.network.setUp({
          containerId: id,
          name: c.rec.Name,
          hostname: cfg.Hostname ?? "",
          mode,
          portBindings: c.hc.PortBindings ?? null,
          exposedPorts: cfg.ExposedPorts ?? null,
          publishAll: !!c.hc.PublishAllPorts,
          dns: c.hc.Dns ?? [],
        });
        if (sandbox) join.network = sandbox.netns;
        await this.writeNetworkFiles(c);
      }
      const pid = this.namespacePath(c, c.hc.PidMode, "pid");
      if (pid) join.pid = pid;
      const ipc = this.namespacePath(c, c.hc.IpcMode, "ipc");
      if (ipc) join.ipc = ipc;
      const uts = this.namespacePath(c, c.hc.UTSMode, "uts");
      if (uts) join.uts = uts;
      const { spec } = buildSpec({
        id,
        config: cfg,
        hostConfig: c.hc,
        rootfs,
        files: { hostname: path.join(c.dir, "hostname"), hosts: path.join(c.dir, "hosts"), resolvConf: path.join(c.dir, "resolv.conf") },
        user,
        cgroupVersion: this.cgroupVersion,
        initPath: this.initPath,
        join,
        mounts,
      });
      await Dir.with(rootfs, (root) => prepareFileMountpoints(root, spec.mounts ?? []));
      if (c.hc.Init && !existsSync(this.initPath)) throw unsupported(`--init: ${this.initPath} is missing`, { code: "container.init-missing", hint: "build cove's native parts (scripts/build-native.sh)" });
      // the bundle's config.json is made anew at every start: no fsync
      await replaceFile(path.join(c.dir, "config.json"), JSON.stringify(spec, null, 2));
      // a previous run's runtime state (the daemon died before it cleaned up)
      await this.runtimeOf(c).delete(id, { force: true }).catch(() => undefined);
      const rotation = logSettings(c.hc.LogConfig?.Type ?? "json-file", c.hc.LogConfig?.Config ?? {});
      const runtime = this.runtimeOf(c);
      const created = await runtime.create(id, {
        bundle: c.dir,
        stdio: "ignore",
        io: {
          ...(rotation ? { log: { path: this.logPath(c), ...rotation } } : {}),
          attachSocket: this.attachSocket(id),
          pipes: { openStdin: !!cfg.OpenStdin, stdinOnce: !!cfg.StdinOnce },
        },
      }).catch((err: unknown) => {
        throw ociStartError(err, runtime.name);
      });
      // both runtimes have made the container's mounts when create returns: the staging mounts
      // of volume subpaths are no longer needed
      clearStaging(c.dir);
      // attach clients waiting for this start connect before the process runs
      const pending = [...c.pendingAttach];
      c.pendingAttach.clear();
      await Promise.all(pending.map((p) => p.connect(this.attachSocket(id)).catch(() => undefined)));
      let resolveExited!: () => void;
      c.exited = new Promise<void>((r) => (resolveExited = r));
      c.resolveExited = resolveExited;
      await this.watchExit(c);
      await runtime.start(id).catch((err: unknown) => {
        throw ociStartError(err, runtime.name);
      });
      this.setStatus(c, "running");
      Object.assign(c.rec.State, { Pid: created.pid ?? 0, StartedAt: nowIso(), ExitCode: 0, Error: "", OOMKilled: false });
      if (!c.rec.HasBeenStartedBefore) c.rec.HasBeenStartedBefore = true;
      if (cfg.Healthcheck && !(cfg.Healthcheck.Test?.[0] === "NONE") && cfg.Healthcheck.Test?.length) {
        c.rec.State.Health = { Status: "starting", FailingStreak: 0, Log: [] };
      } else delete c.rec.State.Health;
      c.runStartedAt = Date.now();
      await this.save(c, "state");
      this.event(c, "start");
      this.scheduleHealth(c, true);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      c.watcher?.close();
      c.watcher = undefined;
      if (c.pollTimer) clearInterval(c.pollTimer);
      await this.runtimeOf(c).delete(id, { force: true }).catch(() => undefined);
      await this.network?.tearDown(id).catch(() => undefined);
      this.unmountRootfs(c);
      this.clearStaging(c);
      await this.releaseVolumes(c);
      this.setStatus(c, c.rec.HasBeenStartedBefore ? "exited" : "created");
      c.rec.State.Error = message;
      c.rec.State.ExitCode = exitCodeOfStartError(message);
      c.rec.State.Pid = 0;
      c.resolveExited?.();
      await this.save(c).catch(() => undefined);
      for (const l of [...c.exitListeners]) l(c.rec.State.ExitCode, true);
      throw err;
    }
  }

  /**
   * The OCI mounts of a start: missing -v sources are created, shared/slave binds are checked,
   * volumes are mounted (their devices on first use) and subpaths resolved inside the volume and
   * staged (see stageSubpath), the staging mounts removed again once the runtime created the
   * container.
   */
  private async setupMounts(c: Live): Promise<ContainerMounts> {
    const out: ContainerMounts = { mounts: [], points: [], create: [] };
    // a previous start's, if the daemon died before it removed them
    clearStaging(c.dir);
    for (const [index, e] of c.rec.MountPoints.entries()) {
      if (e.Type === "bind") {
        if (e.CreateSource) await mkdir(e.Source, { recursive: true, mode: 0o755 });
        try {
          checkSourcePropagation(e.Source, e.Propagation);
          out.mounts.push(ociMount(e));
        } catch (err) {
          // cove chose rslave for a bind of its root; a source that cannot propagate keeps the default
          if (!e.ImplicitPropagation) throw err;
          out.mounts.push(ociMount({ ...e, Propagation: "rprivate" }));
        }
      } else if (e.Type === "volume") {
        if (!this.volumes.has(e.Name!)) throw notFound(`get ${e.Name}: no such volume`, { code: "volume.not-found", hint: "the volume was removed outside cove; recreate it (docker volume create) or remove the container" });
        let source = await this.volumes.acquire(e.Name!, c.rec.ID, { destination: e.Destination, rw: e.RW, propagation: e.Propagation });
        if (e.Subpath) source = stageSubpath(c.dir, index, source, e.Subpath, { name: e.Name!, destination: e.Destination });
        out.mounts.push(ociMount(e, source));
      } else out.mounts.push(ociMount(e));
    }
    out.mounts.push(...tmpfsFlagMounts(c.hc));
    return out;
  }

  /** Removes a start's staging mounts (see stageSubpath); one that cannot go is logged, never deleted through. */
  private clearStaging(c: Live): void {
    try {
      clearStaging(c.dir);
    } catch (err) {
      process.stderr.write(`cove: warning: container ${c.rec.ID}: ${(err as Error).message}\n`);
    }
  }

  /** The container stopped: its volumes' devices are unmounted when no other container holds them. */
  private async releaseVolumes(c: Live): Promise<void> {
    for (const e of c.rec.MountPoints) {
      if (e.Type === "volume" && e.Name) await this.volumes.release(e.Name, c.rec.ID).catch(() => undefined);
    }
  }

  /** Watches the monitor for the exit: its attach socket's exit frame, or state polling. */
  private async watchExit(c: Live): Promise<void> {
    const id = c.rec.ID;
    const onExit = () => {
      if (c.watcher) c.watcher = undefined;
      if (c.pollTimer) clearInterval(c.pollTimer);
      c.pollTimer = undefined;
      if (!this.closed) void this.handleExit(c);
    };
    const poll = () => {
      if (c.pollTimer) return;
      c.pollTimer = setInterval(() => {
        this.runtimeOf(c).state(id).then(
          (s) => {
            if (s.status === "stopped") onExit();
          },
          () => onExit(),
        );
      }, 250);
    };
    try {
      const conn = await connectMonitor(this.attachSocket(id), { timeoutMs: 0, output: false });
      c.watcher = conn;
      void conn.exit.then((e) => {
        if (this.closed || c.watcher !== conn) return;
        if (e) onExit();
        else poll(); // dropped without an exit frame: the monitor died or dropped us
      });
    } catch {
      poll();
    }
  }

  private async handleExit(c: Live, knownExit?: ProcessExit, finishedAt?: string): Promise<void> {
    if (c.startGate) await c.startGate;
    if (c.handlingExit || !c.rec.State.Running) return;
    c.handlingExit = true;
    try {
      const id = c.rec.ID;
      const exit = knownExit ?? (await this.runtimeOf(c).wait(id).catch((): ProcessExit => ({ code: 255, signal: 0 })));
      if (this.closed) return;
      if (c.healthTimer) clearTimeout(c.healthTimer);
      c.healthTimer = undefined;
      await this.runtimeOf(c).delete(id, { force: true }).catch(() => undefined);
      await this.network?.tearDown(id).catch(() => undefined);
      this.unmountRootfs(c);
      this.clearStaging(c);
      await this.releaseVolumes(c);
      const code = exit.code < 0 ? 255 : exit.code;
      this.setStatus(c, "exited");
      Object.assign(c.rec.State, { Pid: 0, ExitCode: code, FinishedAt: finishedAt ?? nowIso(), OOMKilled: !!exit.oomKilled });
      if (exit.code < 0 && !c.rec.State.Error) c.rec.State.Error = "the container's monitor exited without an exit status";
      if (c.rec.State.Health) c.rec.State.Health.Status = "unhealthy";
      for (const e of this.execs.values()) if (e.containerId === id && e.running) e.running = false;
      if (exit.oomKilled) this.event(c, "oom");
      this.event(c, "die", { exitCode: String(code), execDuration: String(Math.round((Date.now() - (c.runStartedAt ?? Date.now())) / 1000)) });
      const restart = this.shouldRestart(c, code);
      if (restart) {
        this.setStatus(c, "restarting");
      }
      await this.save(c, "state");
      c.resolveExited?.();
      for (const l of [...c.exitListeners]) l(code);
      if (restart) {
        c.restartTimer = setTimeout(() => {
          c.restartTimer = undefined;
          void this.exclusive(c, async () => {
            if (this.closed || c.rec.State.Status !== "restarting") return;
            c.rec.RestartCount++;
            this.setStatus(c, "exited");
            await this.startInternal(c).catch(async () => {
              // a failed restart counts as an exit with the start error's code
              if (this.shouldRestart(c, c.rec.State.ExitCode)) {
                c.rec.State.Running = true;
                c.rec.State.Status = "running";
                await this.handleExit(c, { code: c.rec.State.ExitCode, signal: 0 });
              } else {
                // the restarts are over: waiters get the stop, as moby's SetStopped after a failed restart
                for (const l of [...c.exitListeners]) l(c.rec.State.ExitCode);
              }
            });
          });
        }, c.restartDelay);
      } else if (c.hc.AutoRemove) {
        await this.remove(id, { force: true, volumes: true }).catch(() => undefined);
      }
    } finally {
      c.handlingExit = false;
    }
  }

  /** moby's restartmanager: the policy, and the back-off (100 ms doubling, reset after 10 s up). */
  private shouldRestart(c: Live, code: number): boolean {
    const policy = c.hc.RestartPolicy ?? {};
    if (c.rec.HasBeenManuallyStopped || this.closed) return false;
    const ran = Date.now() - (c.runStartedAt ?? Date.now());
    if (ran >= 10_000) c.restartDelay = 100;
    else c.restartDelay = c.restartDelay === 0 ? 100 : Math.min(c.restartDelay * 2, 60_000);
    switch (policy.Name) {
      case "always":
      case "unless-stopped":
        return true;
      case "on-failure":
        return code !== 0 && (!policy.MaximumRetryCount || c.rec.RestartCount < policy.MaximumRetryCount);
      default:
        return false;
    }
  }

  // ---------------------------------------------------------------- stop, kill, restart, pause

  private async signal(c: Live, sig: number): Promise<void> {
    this.event(c, "kill", { signal: String(sig) });
    try {
      await this.runtimeOf(c).kill(c.rec.ID, sig);
    } catch (err) {
      if (!(err instanceof CoveError && (err.kind === "conflict" || err.kind === "not-found"))) throw err;
    }
    if (c.rec.State.Paused) {
      await this.runtimeOf(c).resume(c.rec.ID).catch(() => undefined);
      this.setStatus(c, "running");
      this.event(c, "unpause");
    }
  }

  private async waitExited(c: Live, ms: number): Promise<boolean> {
    if (!c.rec.State.Running || !c.exited) return true;
    if (ms < 0) {
      await c.exited;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([c.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
    clearTimeout(timer);
    return done;
  }

  private cancelRestart(c: Live): boolean {
    if (c.rec.State.Status !== "restarting") return false;
    if (c.restartTimer) clearTimeout(c.restartTimer);
    c.restartTimer = undefined;
    this.setStatus(c, "exited");
    return true;
  }

  /** docker stop: StopSignal (or SIGTERM), then SIGKILL after the timeout (seconds; default 10, -1 waits forever). */
  async stop(ref: string, opts: { signal?: string; timeout?: number } = {}): Promise<boolean> {
    const c = this.find(ref);
    c.rec.HasBeenManuallyStopped = true;
    if (this.cancelRestart(c)) {
      await this.save(c);
      return true;
    }
    if (!this.isRunning(c)) {
      await this.save(c);
      return false;
    }
    const sig = signalNumber(opts.signal ?? c.rec.Config.StopSignal, osConstants.signals.SIGTERM);
    const timeout = opts.timeout ?? c.rec.Config.StopTimeout ?? 10;
    await this.signal(c, sig);
    if (!(await this.waitExited(c, timeout < 0 ? -1 : timeout * 1000))) {
      await this.signal(c, osConstants.signals.SIGKILL);
      await this.runtimeOf(c).kill(c.rec.ID, "SIGKILL", { all: true }).catch(() => undefined);
      await this.waitExited(c, -1);
    }
    this.event(c, "stop");
    return true;
  }

  /** docker kill: sends a signal (default SIGKILL) to the container's init. */
  async kill(ref: string, signal: string | number = "SIGKILL"): Promise<void> {
    const c = this.find(ref);
    if (!this.isRunning(c) || c.rec.State.Restarting) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    const sig = signalNumber(signal, osConstants.signals.SIGKILL);
    c.rec.HasBeenManuallyStopped = true;
    await this.signal(c, sig);
    if (sig === osConstants.signals.SIGKILL) await this.waitExited(c, -1);
  }

  async restart(ref: string, opts: { signal?: string; timeout?: number } = {}): Promise<void> {
    const c = this.find(ref);
    await this.stop(ref, opts);
    await this.exclusive(c, async () => {
      c.rec.HasBeenManuallyStopped = false;
      c.restartDelay = 0;
      if (!this.isRunning(c)) await this.startInternal(c);
    });
    this.event(c, "restart");
  }

  async pause(ref: string): Promise<void> {
    const c = this.find(ref);
    if (!this.isRunning(c) || c.rec.State.Restarting) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    if (c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is already paused`, { code: "container.paused" });
    await this.runtimeOf(c).pause(c.rec.ID);
    this.setStatus(c, "paused");
    await this.save(c);
    this.event(c, "pause");
  }

  async unpause(ref: string): Promise<void> {
    const c = this.find(ref);
    if (!c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is not paused`, { code: "container.not-paused" });
    await this.runtimeOf(c).resume(c.rec.ID);
    this.setStatus(c, "running");
    await this.save(c);
    this.event(c, "unpause");
  }

  /**
   * docker wait, with moby's State.Wait semantics: "not-running" returns at once for a container
   * that is not running, "next-exit" waits for the next exit, "removed" for the removal. A start
   * that fails is no exit (the waiter keeps waiting); a removal ends every wait, without an error.
   * Aborting opts.signal (the client went away) cancels the wait and drops its listeners.
   */
  async wait(ref: string, condition: WaitCondition = "not-running", opts: { signal?: AbortSignal } = {}): Promise<WaitResponse> {
    const c = this.find(ref);
    const errorOf = () => (c.rec.State.Error ? { Message: c.rec.State.Error } : null);
    if (condition === "not-running" && !this.isRunning(c)) return { StatusCode: c.rec.State.ExitCode, Error: errorOf() };
    const signal = opts.signal;
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const done = () => {
        c.exitListeners.delete(onExit);
        c.removeListeners.delete(onRemove);
        signal?.removeEventListener("abort", onAbort);
      };
      const onExit = (code: number, failedStart?: boolean) => {
        if (condition === "removed" || failedStart) return;
        done();
        resolve({ StatusCode: code, Error: errorOf() });
      };
      const onRemove = () => {
        done();
        resolve({ StatusCode: c.rec.State.ExitCode, Error: null });
      };
      const onAbort = () => {
        done();
        reject(signal?.reason instanceof Error ? signal.reason : new CoveError("unavailable", "the wait was canceled", { code: "wait.canceled" }));
      };
      c.exitListeners.add(onExit);
      c.removeListeners.add(onRemove);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  // ---------------------------------------------------------------- remove, rename

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const c = this.find(ref);
    const id = c.rec.ID;
    if (this.isRunning(c) && !c.rec.State.Restarting && !opts.force) {
      throw conflict(`cannot remove container "${c.rec.Name}": container is running: stop the container before removing or force remove`, { code: "container.running" });
    }
    if (c.rec.State.Status === "removing") throw conflict(`removal of container ${id} is already in progress`, { code: "container.removing" });
    this.cancelRestart(c);
    if (this.isRunning(c)) {
      c.rec.HasBeenManuallyStopped = true;
      await this.signal(c, osConstants.signals.SIGKILL);
      await this.runtimeOf(c).kill(id, "SIGKILL", { all: true }).catch(() => undefined);
      await this.waitExited(c, 15_000);
    }
    this.setStatus(c, "removing");
    c.watcher?.close();
    if (c.pollTimer) clearInterval(c.pollTimer);
    if (c.healthTimer) clearTimeout(c.healthTimer);
    await this.runtimeOf(c).delete(id, { force: true }).catch(() => undefined);
    await this.network?.forget(id);
    this.unmountRootfs(c);
    this.clearStaging(c);
    await this.releaseVolumes(c);
    // The container is gone once its directory is renamed away (restore finishes a removal that
    // a crash interrupted). The snapshot's removal is queued now, so any later snapshot operation
    // (an rmi of its image) runs after it, and the disk work (a metadata fsync, two trees to
    // delete) finishes after the answer: docker run --rm waits for this removal.
    const trash = path.join(this.containersDir(), `${REMOVING_PREFIX}${id}`);
    await rename(c.dir, trash).catch((err: unknown) => {
      if (!isErrno(err, "ENOENT")) throw err;
    });
    const finishing = this.finishRemoval(id, trash);
    this.finishingRemovals.add(finishing);
    void finishing.finally(() => this.finishingRemovals.delete(finishing));
    for (const e of c.rec.MountPoints) {
      if (e.Type !== "volume" || !e.Name) continue;
      this.volumes.dereference(e.Name, id);
      // rm -v and --rm: the container's anonymous volumes go with it, unless another container uses them
      if (opts.volumes && !e.Named && this.volumes.users(e.Name).length === 0) await this.volumes.remove(e.Name, { force: true }).catch(() => undefined);
    }
    this.containers.delete(id);
    if (this.names.get(c.rec.Name) === id) this.names.delete(c.rec.Name);
    for (const [eid, e] of this.execs) if (e.containerId === id) this.execs.delete(eid);
    this.event(c, "destroy");
    for (const l of [...c.removeListeners]) l();
  }

  /** Removes a removed container's snapshot, then its renamed directory (kept until then, so restore retries). */
  private async finishRemoval(id: string, trash: string): Promise<void> {
    try {
      await this.images.removeRootfs(id).catch((err: unknown) => {
        if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
      });
      // a recursive removal would go down into whatever is still mounted there (a volume's data
      // through a subpath's staging mount): keep the directory if anything stays mounted
      if (detachMountsUnder(trash).length > 0) return;
      await rm(trash, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // left for the next start of the service to retry
    }
  }

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.find(ref);
    if (!newName) throw invalid("Neither old nor new names may be empty", { code: "container.name-invalid" });
    if (!VALID_NAME.test(newName)) throw invalid(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { code: "container.name-invalid" });
    const name = newName.startsWith("/") ? newName : `/${newName}`;
    const old = c.rec.Name;
    if (name === old) throw invalid(`Renaming a container with the same name as its current name`, { code: "container.name-same" });
    this.checkNameFree(name);
    this.names.set(name, c.rec.ID);
    this.names.delete(old);
    c.rec.Name = name;
    this.network?.rename(c.rec.ID, name);
    await this.save(c);
    this.event(c, "rename", { oldName: old });
  }

  // ---------------------------------------------------------------- inspect, list

  async inspect(ref: string, opts: { size?: boolean } = {}): Promise<ContainerInspect> {
    const c = this.find(ref);
    const r = c.rec;
    const networkMode = normalizeNetworkMode(c.hc.NetworkMode);
    const dirs = overlayDirs(r.RootfsMounts);
    const doc: ContainerInspect = {
      Id: r.ID,
      Created: r.Created,
      Path: r.Path,
      Args: r.Args,
      State: { ...r.State, ...(r.State.Health ? { Health: { ...r.State.Health, Log: [...r.State.Health.Log] } } : {}) },
      Image: r.Image,
      ResolvConfPath: path.join(c.dir, "resolv.conf"),
      HostnamePath: path.join(c.dir, "hostname"),
      HostsPath: path.join(c.dir, "hosts"),
      LogPath: this.logPath(c),
      Name: r.Name,
      RestartCount: r.RestartCount,
      Driver: r.Driver,
      Platform: r.Platform,
      MountLabel: r.MountLabel,
      ProcessLabel: r.ProcessLabel,
      AppArmorProfile: r.AppArmorProfile,
      ExecIDs: [...this.execs.values()].filter((e) => e.containerId === r.ID && e.running).map((e) => e.id),
      HostConfig: { ...c.hc },
      GraphDriver: { Name: "overlay2", Data: { ...dirs, MergedDir: this.rootfsPath(c) } },
      Mounts: r.MountPoints.map(publicMountPoint),
      Config: { ...r.Config, Labels: r.Config.Labels ?? {} },
      NetworkSettings: this.networkSettings(c, networkMode),
    };
    if (doc.ExecIDs?.length === 0) doc.ExecIDs = null;
    if (opts.size) Object.assign(doc, await this.sizes(c));
    return doc;
  }

  private networkSettings(c: Live, mode: string): NetworkSettings {
    if (this.network) return this.network.settings(c.rec.ID, mode, c.rec.State.Running, c.rec.Config.ExposedPorts ?? undefined);
    const networks: Record<string, EndpointSettings> = {};
    if (!mode.startsWith("container:")) networks[mode] = emptyEndpoint();
    return {
      Bridge: "",
      SandboxID: "",
      SandboxKey: c.rec.State.Pid && mode !== "host" ? `/proc/${c.rec.State.Pid}/ns/net` : "",
      HairpinMode: false,
      LinkLocalIPv6Address: "",
      LinkLocalIPv6PrefixLen: 0,
      Ports: {},
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: "",
      Gateway: "",
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      IPAddress: "",
      IPPrefixLen: 0,
      IPv6Gateway: "",
      MacAddress: "",
      Networks: networks,
    };
  }

  private async sizes(c: Live): Promise<{ SizeRw: number; SizeRootFs: number }> {
    const dirs = overlayDirs(c.rec.RootfsMounts);
    const rw = dirs.UpperDir ? await treeSize(dirs.UpperDir) : 0;
    let image = 0;
    try {
      image = (await this.images.inspect(c.rec.Image)).Size;
    } catch {
      image = 0;
    }
    return { SizeRw: rw, SizeRootFs: rw + image };
  }

  private statusText(c: Live): string {
    const s = c.rec.State;
    const health = s.Health ? (s.Health.Status === "starting" ? " (health: starting)" : ` (${s.Health.Status})`) : "";
    switch (s.Status) {
      case "running":
        return `Up ${humanDuration(Date.now() - Date.parse(s.StartedAt))}${health}`;
      case "paused":
        return `Up ${humanDuration(Date.now() - Date.parse(s.StartedAt))} (Paused)`;
      case "restarting":
        return `Restarting (${s.ExitCode}) ${humanDuration(Date.now() - Date.parse(s.FinishedAt))} ago`;
      case "removing":
        return "Removal In Progress";
      case "dead":
        return "Dead";
      case "created":
        return "Created";
      default:
        if (s.FinishedAt === ZERO_TIME) return "Created";
        return `Exited (${s.ExitCode}) ${humanDuration(Date.now() - Date.parse(s.FinishedAt))} ago`;
    }
  }

  private summary(c: Live): ContainerSummary {
    const r = c.rec;
    const command = r.Args.length ? `${r.Path} ${r.Args.map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ")}` : r.Path;
    const mode = normalizeNetworkMode(c.hc.NetworkMode);
    return {
      Id: r.ID,
      Names: [r.Name],
      Image: r.Config.Image ?? r.Image,
      ImageID: r.Image,
      Command: command,
      Created: Math.floor(Date.parse(r.Created) / 1000),
      Ports: this.portList(c, mode),
      Labels: r.Config.Labels ?? {},
      State: r.State.Status,
      Status: this.statusText(c),
      HostConfig: { NetworkMode: mode, ...(c.hc.Annotations ? { Annotations: c.hc.Annotations } : {}) },
      NetworkSettings: { Networks: this.networkSettings(c, mode).Networks },
      Mounts: r.MountPoints.map(publicMountPoint),
    };
  }

  /** The Ports of a container summary: published ports, then exposed ones without a binding. */
  private portList(c: Live, mode: string): ContainerSummary["Ports"] {
    const out: ContainerSummary["Ports"] = [];
    const published = this.network && c.rec.State.Running ? this.network.settings(c.rec.ID, mode, true).Ports : {};
    for (const [key, list] of Object.entries(published)) {
      const [port = "0", type = "tcp"] = key.split("/");
      for (const b of list ?? []) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type });
    }
    for (const key of Object.keys(c.rec.Config.ExposedPorts ?? {})) {
      if (published[key]) continue;
      const [port = "0", type = "tcp"] = key.split("/");
      out.push({ PrivatePort: Number(port), Type: type });
    }
    return out;
  }

  async list(opts: ListOptions = {}): Promise<ContainerSummary[]> {
    const filters = opts.filters ?? {};
    for (const key of Object.keys(filters)) {
      if (!["id", "name", "label", "status", "ancestor", "exited", "before", "since", "health", "network", "volume", "is-task", "publish", "expose"].includes(key)) {
        throw invalid(`invalid filter '${key}'`, { code: "filter.invalid" });
      }
    }
    for (const s of filters.status ?? []) {
      if (!["created", "restarting", "running", "removing", "paused", "exited", "dead"].includes(s)) {
        throw invalid(`invalid filter 'status=${s}'`, { code: "filter.invalid" });
      }
    }
    let all = [...this.containers.values()].sort((a, b) => (a.rec.Created < b.rec.Created ? 1 : a.rec.Created > b.rec.Created ? -1 : 0));
    const createdOf = (ref: string) => this.find(ref).rec.Created;
    const before = filters.before?.map(createdOf);
    const since = filters.since?.map(createdOf);
    let ancestorIds: Set<string> | undefined;
    if (filters.ancestor) {
      ancestorIds = new Set();
      for (const a of filters.ancestor) {
        try {
          ancestorIds.add((await this.images.inspect(a)).Id);
        } catch {
          ancestorIds.add(a);
        }
      }
    }
    const showAll = opts.all || (opts.limit !== undefined && opts.limit > 0) || !!filters.status || !!filters.exited || !!before || !!since;
    all = all.filter((c) => {
      const r = c.rec;
      if (!showAll && !r.State.Running) return false;
      if (filters.id && !filters.id.some((p) => r.ID.startsWith(p))) return false;
      if (filters.name && !filters.name.some((n) => new RegExp(n.replace(/^\//, "")).test(r.Name.slice(1)))) return false;
      if (filters.label) {
        const labels = r.Config.Labels ?? {};
        for (const l of filters.label) {
          const eq = l.indexOf("=");
          if (eq < 0 ? !(l in labels) : labels[l.slice(0, eq)] !== l.slice(eq + 1)) return false;
        }
      }
      if (filters.status && !filters.status.includes(r.State.Status)) return false;
      if (filters.exited && !(r.State.Status === "exited" && filters.exited.includes(String(r.State.ExitCode)))) return false;
      if (filters.health) {
        const h = r.State.Health?.Status ?? "none";
        if (!filters.health.includes(h)) return false;
      }
      if (filters.network && !filters.network.includes(normalizeNetworkMode(c.hc.NetworkMode))) return false;
      if (ancestorIds && !(ancestorIds.has(r.Image) || filters.ancestor!.includes(r.Config.Image ?? ""))) return false;
      if (before && !before.every((t) => r.Created < t)) return false;
      if (since && !since.every((t) => r.Created > t)) return false;
      return true;
    });
    if (opts.limit !== undefined && opts.limit > 0) all = all.slice(0, opts.limit);
    const out: ContainerSummary[] = [];
    for (const c of all) {
      const s = this.summary(c);
      if (opts.size) Object.assign(s, await this.sizes(c));
      out.push(s);
    }
    return out;
  }

  /** The container's id for a name, id or prefix (for callers such as the image service's inUse). */
  resolveId(ref: string): string {
    return this.find(ref).rec.ID;
  }

  /** Whether a container uses image id; for `rmi` (running tells a forced removal apart). */
  imageInUse(imageId: string): { id: string; running: boolean } | undefined {
    for (const c of this.containers.values()) if (c.rec.Image === imageId) return { id: c.rec.ID, running: c.rec.State.Running };
    return undefined;
  }

  // ---------------------------------------------------------------- logs and attach

  logs(ref: string, opts: LogsOptions = {}): AsyncIterable<LogEntry> {
    const c = this.find(ref);
    const logType = c.hc.LogConfig?.Type ?? "json-file";
    if (logType !== "json-file" && logType !== "local") throw unsupported(`configured logging driver does not support reading`);
    const stopped = c.exited ?? Promise.resolve();
    return readLogs(this.logPath(c), opts, { running: () => c.rec.State.Running && this.containers.has(c.rec.ID), stopped });
  }

  /** Attaches to the container's stdio; on a container that is not running yet, connects at its next start. */
  async attach(ref: string, opts: AttachOptions = {}): Promise<AttachSession> {
    const c = this.find(ref);
    const wantOut = opts.stdout !== false;
    const wantErr = opts.stderr !== false;
    const output = new Channel<AttachChunk>();
    let conn: MonitorConnection | undefined;
    const queued: ((m: MonitorConnection) => void)[] = [];
    let closed = false;
    const use = (f: (m: MonitorConnection) => void) => (conn ? f(conn) : queued.push(f));
    const connect = async (socket: string) => {
      if (closed) return;
      const m = await connectMonitor(socket, { timeoutMs: 2000 });
      conn = m;
      for (const f of queued.splice(0)) f(m);
      void (async () => {
        for await (const chunk of m.output) {
          if ((chunk.stream === "stdout" && wantOut) || (chunk.stream === "stderr" && wantErr)) output.push(chunk);
        }
        output.end();
      })();
    };
    const replay = opts.logs
      ? (async () => {
          for await (const e of readLogs(this.logPath(c), { stdout: wantOut, stderr: wantErr })) output.push({ stream: e.stream, data: e.line });
        })()
      : Promise.resolve();
    await replay;
    if (opts.stream === false) output.end();
    else if (c.rec.State.Running && !c.rec.State.Restarting) {
      await connect(this.attachSocket(c.rec.ID)).catch(() => output.end());
    } else {
      const p: PendingAttach = { connect };
      c.pendingAttach.add(p);
      const l = () => {
        c.exitListeners.delete(l);
        c.pendingAttach.delete(p);
        if (!conn) output.end();
      };
      c.exitListeners.add(l);
    }
    this.event(c, "attach");
    const stdinAllowed = opts.stdin !== false && !!c.rec.Config.OpenStdin;
    return {
      output,
      write: (data) => {
        if (stdinAllowed) use((m) => m.write(data));
      },
      closeStdin: () => {
        if (stdinAllowed) use((m) => m.closeStdin());
      },
      resize: (rows, cols) => {
        use((m) => m.resize(rows, cols));
        this.event(c, "resize", { height: String(rows), width: String(cols) });
      },
      close: () => {
        closed = true;
        conn?.close();
        output.end();
      },
    };
  }

  /** Resizes the container's terminal (docker resize / attach resize). */
  async resize(ref: string, rows: number, cols: number): Promise<void> {
    const c = this.find(ref);
    if (!c.rec.State.Running) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    const m = await connectMonitor(this.attachSocket(c.rec.ID), { timeoutMs: 0, output: false });
    m.resize(rows, cols);
    m.close();
    this.event(c, "resize", { height: String(rows), width: String(cols) });
  }

  // ---------------------------------------------------------------- exec

  async execCreate(ref: string, config: ExecConfig): Promise<{ Id: string }> {
    const c = this.find(ref);
    if (!c.rec.State.Running || c.rec.State.Restarting) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    if (c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is paused, unpause the container before exec`, { code: "container.paused" });
    if (!config.Cmd || config.Cmd.length === 0) throw invalid("No exec command specified", { code: "exec.no-command" });
    const id = newId();
    this.execs.set(id, { id, containerId: c.rec.ID, config: { ...config }, running: false, exitCode: null, pid: 0, started: false });
    this.event(c, `exec_create: ${config.Cmd.join(" ")}`, { execID: id });
    return { Id: id };
  }

  private findExec(id: string): ExecRecord {
    const e = this.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`, { code: "exec.not-found" });
    return e;
  }

  execInspect(id: string): ExecInspect {
    const e = this.findExec(id);
    return {
      CanRemove: false,
      DetachKeys: e.config.DetachKeys ?? "",
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: { privileged: !!e.config.Privileged, user: e.config.User ?? "", tty: !!e.config.Tty, entrypoint: e.config.Cmd[0] ?? "", arguments: e.config.Cmd.slice(1) },
      OpenStdin: !!e.config.AttachStdin,
      OpenStderr: !!e.config.AttachStderr,
      OpenStdout: !!e.config.AttachStdout,
      ContainerID: e.containerId,
      Pid: e.pid,
    };
  }

  private async execProcess(c: Live, cfg: ExecConfig): Promise<Process> {
    const rootfs = this.rootfsPath(c);
    const user = await resolveUserInRootfs(rootfs, cfg.User || c.rec.Config.User || "", c.hc.GroupAdd ?? []);
    const env = containerEnv([...(c.rec.Config.Env ?? []), ...(cfg.Env ?? [])], c.rec.Config.Hostname ?? "", !!cfg.Tty);
    const caps = tweakCapabilities(c.hc.CapAdd ?? [], c.hc.CapDrop ?? [], !!(cfg.Privileged || c.hc.Privileged));
    return {
      terminal: !!cfg.Tty,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
      args: [...cfg.Cmd],
      env,
      cwd: cfg.WorkingDir || c.rec.Config.WorkingDir || "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: (c.hc.SecurityOpt ?? []).some((o) => o === "no-new-privileges" || o === "no-new-privileges:true" || o === "no-new-privileges=true"),
      ...(cfg.ConsoleSize && cfg.ConsoleSize[0] > 0 ? { consoleSize: { height: cfg.ConsoleSize[0], width: cfg.ConsoleSize[1] } } : {}),
    };
  }

  /**
   * Starts an exec. The output (when attached) comes from the exec's own log, so nothing printed
   * before the client connects is lost; a tty exec streams from the monitor's socket.
   */
  async execStart(id: string, opts: { detach?: boolean } = {}): Promise<ExecSession> {
    const e = this.findExec(id);
    if (e.started) throw conflict(`Error: Exec command ${id} has already run`, { code: "exec.started" });
    const c = this.find(e.containerId);
    if (!c.rec.State.Running || c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    e.started = true;
    const cfg = e.config;
    const proc = await this.execProcess(c, cfg);
    const tag = randomBytes(4).toString("hex");
    const rtDir = path.join(this.runtimeRoot, c.rec.ID);
    const socket = path.join(rtDir, `e${tag}.sock`);
    const log = path.join(rtDir, `e${tag}.log`);
    const attached = !opts.detach && !!(cfg.AttachStdout || cfg.AttachStderr || cfg.AttachStdin);
    const output = new Channel<AttachChunk>();
    // connect as soon as the monitor serves the socket, before or while the process starts
    const connecting = attached ? connectMonitor(socket, { timeoutMs: 10_000, output: !!cfg.Tty }).catch(() => undefined) : Promise.resolve(undefined);
    let handle;
    try {
      handle = await this.runtimeOf(c).exec(c.rec.ID, {
        process: proc,
        stdio: "ignore",
        io: {
          ...(attached && !cfg.Tty ? { log: { path: log, maxSize: 0, maxFiles: 1 } } : {}),
          attachSocket: socket,
          // a terminal's output reaches only connected clients: hold the process until ours is there
          ...(attached && cfg.Tty ? { startOnAttach: true } : {}),
          pipes: { openStdin: !!cfg.AttachStdin, stdinOnce: true },
          // a tty's output reaches only connected clients: hold the process until ours is there
          ...(attached && cfg.Tty ? { startOnAttach: true } : {}),
        },
      });
    } catch (err) {
      e.exitCode = 126;
      output.end();
      void connecting.then((m) => m?.close());
      throw err;
    }
    e.running = true;
    e.pid = handle.pid;
    this.event(c, `exec_start: ${cfg.Cmd.join(" ")}`, { execID: id });
    let exitedFlag = false;
    const exitCode = handle.exited.then((x) => {
      exitedFlag = true;
      e.running = false;
      e.exitCode = x.code;
      this.event(c, "exec_die", { execID: id, exitCode: String(x.code) });
      return x.code;
    });
    const conn = await connecting;
    if (attached) {
      if (cfg.Tty) {
        void (async () => {
          if (conn) for await (const chunk of conn.output) output.push(chunk);
          await exitCode;
          output.end();
        })();
      } else {
        void (async () => {
          const stopped = exitCode.then(() => undefined);
          try {
            for await (const entry of readLogs(log, { follow: true, stdout: !!cfg.AttachStdout, stderr: !!cfg.AttachStderr }, { running: () => !exitedFlag, stopped })) {
              output.push({ stream: entry.stream, data: entry.line });
            }
          } finally {
            output.end();
            await rm(log, { force: true }).catch(() => undefined);
          }
        })();
      }
    } else output.end();
    return {
      output,
      exitCode,
      write: (data) => conn?.write(data),
      closeStdin: () => conn?.closeStdin(),
      resize: (rows, cols) => conn?.resize(rows, cols),
      close: () => {
        conn?.close();
        output.end();
      },
    };
  }

  async execResize(id: string, rows: number, cols: number): Promise<void> {
    const e = this.findExec(id);
    if (!e.running) throw conflict(`Exec ${id} is not running`, { code: "exec.not-running" });
    // the exec's socket name is private to execStart; resize goes through a new connection to it
    const c = this.find(e.containerId);
    const dir = path.join(this.runtimeRoot, c.rec.ID);
    for (const n of await readdir(dir)) {
      if (!/^e[0-9a-f]{8}\.sock$/.test(n)) continue;
      const m = await connectMonitor(path.join(dir, n), { timeoutMs: 0, output: false }).catch(() => undefined);
      m?.resize(rows, cols);
      m?.close();
    }
  }

  // ---------------------------------------------------------------- top, stats, changes, export, archive, update, prune, commit

  /** docker top: ps on the host, rows of the container's cgroup processes. */
  async top(ref: string, psArgs = ""): Promise<TopResult> {
    const c = this.find(ref);
    if (!c.rec.State.Running || c.rec.State.Restarting) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    const pids = await this.runtimeOf(c).ps(c.rec.ID);
    return runPs(psArgs, pids);
  }

  /** One stats sample in Docker's shape (the zero document when the container is not running). */
  private async statsSample(c: Live): Promise<DockerStats> {
    const r = c.rec;
    if (!r.State.Running || r.State.Restarting || !r.State.Pid) return emptyStats(r.Name, r.ID);
    let cgroup;
    try {
      // the cgroup itself, whichever runtime made it (runc's stats events have another shape)
      cgroup = await (await cgroupManager({ id: r.ID, cgroupsPath: containerCgroupsPath(r.ID, c.hc) })).stats();
    } catch {
      return emptyStats(r.Name, r.ID); // exited meanwhile
    }
    const networks = normalizeNetworkMode(c.hc.NetworkMode) === "host" ? undefined : parseNetDev(await readFile(`/proc/${r.State.Pid}/net/dev`, "utf8").catch(() => ""));
    return dockerStats({ name: r.Name, id: r.ID, version: this.cgroupVersion, cgroup, host: await hostCpu(), ...(networks ? { networks } : {}) });
  }

  /**
   * docker stats: samples once a second. stream=false gives one sample whose precpu_stats come
   * from a sample a second earlier (so a CPU percentage can be computed), unless oneShot.
   */
  async *stats(ref: string, opts: { stream?: boolean; oneShot?: boolean; signal?: AbortSignal; intervalMs?: number } = {}): AsyncGenerator<DockerStats> {
    const c = this.find(ref);
    const interval = opts.intervalMs ?? 1000;
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        opts.signal?.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
    const running = () => c.rec.State.Running && !c.rec.State.Restarting;
    if (opts.stream === false) {
      if (!running()) {
        yield emptyStats(c.rec.Name, c.rec.ID);
        return;
      }
      if (opts.oneShot) {
        yield await this.statsSample(c);
        return;
      }
      const first = await this.statsSample(c);
      await sleep(interval);
      yield withPrevious(await this.statsSample(c), first);
      return;
    }
    let prev: DockerStats | undefined;
    while (!opts.signal?.aborted && this.containers.has(c.rec.ID)) {
      const cur = await this.statsSample(c);
      yield withPrevious(cur, prev?.read === STATS_ZERO_TIME || cur.read === STATS_ZERO_TIME ? undefined : prev);
      prev = cur;
      await sleep(interval);
    }
  }

  /** docker diff: the changes in the container's writable layer (null when there are none, as dockerd). */
  async changes(ref: string): Promise<Change[] | null> {
    const c = this.find(ref);
    const dirs = overlayDirs(c.rec.RootfsMounts);
    if (!dirs.UpperDir) return null;
    const out = await overlayChanges(dirs.UpperDir, dirs.LowerDir ? dirs.LowerDir.split(":") : []);
    return out.length ? out : null;
  }

  /** docker export: the container's filesystem as a tar, written to out (which is ended). */
  async export(ref: string, out: Writable): Promise<void> {
    const c = this.find(ref);
    await this.images.exportRootfs(c.rec.ID, out);
    this.event(c, "export");
  }

  /**
   * Runs fn with the container's root as a directory fd (src/fsroot): /proc/<pid>/root of a
   * running container (with its mounts), else its rootfs mounted for the call (a start waits
   * meanwhile). Everything fn does inside goes through that fd.
   */
  private async withRoot<T>(c: Live, fn: (root: Dir, running: boolean, pid: number) => Promise<T>): Promise<T> {
    const running = async (pid: number) => {
      const root = openProcessRoot(pid, c.rec.ID);
      try {
        return await fn(root, true, pid);
      } finally {
        root.close();
      }
    };
    if (c.rec.State.Running && c.rec.State.Pid && !c.rec.State.Restarting) return running(c.rec.State.Pid);
    return this.exclusive(c, async () => {
      if (c.rec.State.Running && c.rec.State.Pid) return running(c.rec.State.Pid);
      if (c.rec.State.Status === "removing") throw conflict(`container ${c.rec.ID} is being removed`, { code: "container.removing" });
      const rootfs = this.rootfsPath(c);
      const wasMounted = await isMountpoint(rootfs);
      if (!wasMounted) await this.mountRootfs(c);
      try {
        const root = Dir.open(rootfs);
        try {
          if (!wasMounted) await this.mountVolumesForCopy(c, root);
          return await fn(root, false, 0);
        } finally {
          root.close();
        }
      } finally {
        // a lazy unmount of the rootfs takes the volumes mounted in it along
        if (!wasMounted && !c.rec.State.Running) this.unmountRootfs(c);
      }
    });
  }

  /**
   * Mounts a stopped container's bind mounts and volumes into its mounted rootfs, as dockerd does
   * for docker cp, so copies reach the same files the container sees. Destinations are resolved in
   * the container's scope; missing ones are created as the runtime would create them at start.
   */
  private async mountVolumesForCopy(c: Live, root: Dir): Promise<void> {
    for (const m of c.rec.MountPoints) {
      if ((m.Type !== "bind" && m.Type !== "volume") || !m.Source || !m.Destination) continue;
      let isDir: boolean;
      try {
        isDir = (await stat(m.Source)).isDirectory();
      } catch {
        continue; // created at start, if ever
      }
      // a volume's subpath is opened inside the volume: the mount takes exactly that directory
      let source: string | number = m.Source;
      if (m.Type === "volume" && m.Subpath) {
        const vol = Dir.open(m.Source);
        try {
          source = vol.openInRoot(m.Subpath, addon().at.O_PATH);
        } catch {
          continue; // a missing subpath fails the start, not a copy
        } finally {
          vol.close();
        }
        isDir = new FileStat(addon().fstatat(source, "", addon().at.AT_EMPTY_PATH)).isDirectory();
      }
      try {
        const target = isDir ? root.mkdirAll(m.Destination) : fileMountTarget(root, m.Destination);
        try {
          bindMount(source, target.fd, { recursive: true, readonly: !m.RW });
        } finally {
          target.close();
        }
      } finally {
        if (typeof source === "number") closeSync(source);
      }
    }
  }

  /** HEAD /archive: the stat of a path inside the container. */
  async archiveStat(ref: string, p: string): Promise<PathStat> {
    const c = this.find(ref);
    return this.withRoot(c, async (root) => {
      const loc = locate(root, p, ref);
      try {
        return pathStat(root, loc);
      } finally {
        loc.dir.close();
      }
    });
  }

  /** GET /archive: calls onStat with the path's stat, then writes its tar to out (which is ended). */
  async archiveGet(ref: string, p: string, out: Writable, onStat: (stat: PathStat) => void): Promise<void> {
    const c = this.find(ref);
    await this.withRoot(c, async (root, running, pid) => {
      const loc = locate(root, p, ref);
      try {
        const stat = pathStat(root, loc);
        // a running container's root shows its /proc, /sys and /dev: their contents stay out
        const noDescend = running ? kernelMountPoints(await readFile(`/proc/${pid}/mountinfo`, "utf8").catch(() => "")) : undefined;
        onStat(stat);
        await writeArchive(loc, out, noDescend ? { noDescend } : {});
      } finally {
        loc.dir.close();
      }
    });
    this.event(c, "archive-path");
  }

  /** PUT /archive: extracts a tar into directory p of the container. */
  async archivePut(ref: string, p: string, input: Readable, opts: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    const c = this.find(ref);
    await this.withRoot(c, async (root) => {
      const absPath = containerAbsPath(p);
      let dest: Dir;
      try {
        dest = root.dirInRoot(absPath);
      } catch (err) {
        if (isErrno(err, "ENOENT", "ELOOP")) throw notFound(`Could not find the file ${p} in container ${ref}`, { code: "archive.not-found" });
        if (isErrno(err, "ENOTDIR")) throw invalid("extraction point is not a directory", { code: "archive.not-directory" });
        throw err;
      }
      dest.close();
      const inRoot = root.walk(absPath).resolved;
      const mount = this.mountAt(c, inRoot);
      if (mount && !mount.RW) throw invalid("mounted volume is marked read-only", { code: "archive.read-only" });
      if (!mount && c.hc.ReadonlyRootfs) throw invalid("container rootfs is marked read-only", { code: "archive.read-only" });
      let owner: { uid: number; gid: number } | undefined;
      // copyUIDGID gives everything to the container's user; with no user set the tar's owners stay (as dockerd)
      if (opts.copyUIDGID && c.rec.Config.User) {
        const read = (f: string) => root.readFileInRoot(f, 16 << 20)?.toString("utf8");
        const u = resolveUser(c.rec.Config.User ?? "", read("/etc/passwd"), read("/etc/group"), []);
        owner = { uid: u.uid, gid: u.gid };
      }
      await extractInto(input, root, inRoot, { noOverwriteDirNonDir: !!opts.noOverwriteDirNonDir, ...(owner ? { owner } : {}) });
    });
    this.event(c, "extract-to-dir");
  }

  /** The mount (bind, volume, tmpfs) a path of the container lies in, the deepest one. */
  private mountAt(c: Live, inRoot: string): MountEntry | undefined {
    let best: MountEntry | undefined;
    for (const m of c.rec.MountPoints) {
      const d = path.posix.normalize(m.Destination).replace(/\/+$/, "") || "/";
      if (inRoot === d || inRoot.startsWith(d === "/" ? "/" : d + "/")) if (!best || d.length > best.Destination.length) best = m;
    }
    return best;
  }

  /** docker update: resources (applied live to a running container's cgroup) and the restart policy. */
  async update(ref: string, body: UpdateBody): Promise<{ Warnings: string[] | null }> {
    const c = this.find(ref);
    return this.exclusive(c, async () => {
      const plan = planUpdate(c.hc, body, c.rec.ID);
      if (plan.resourcesChanged && c.rec.State.Running && !c.rec.State.Restarting) {
        try {
          await this.runtimeOf(c).update(c.rec.ID, resourcesOf(plan.hostConfig));
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          throw new CoveError(err instanceof CoveError ? err.kind : "system", `Cannot update container ${c.rec.ID}: ${msg}`, { code: "container.update", cause: err });
        }
      }
      c.hc = plan.hostConfig;
      await this.save(c);
      this.event(c, "update");
      return { Warnings: plan.warnings.length ? plan.warnings : null };
    });
  }

  /** docker container prune: removes stopped containers matching until= and label= / label!= filters. */
  async prune(filters: Record<string, string[]> = {}): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    for (const k of Object.keys(filters)) if (k !== "until" && k !== "label" && k !== "label!") throw invalid(`invalid filter '${k}'`, { code: "filter.invalid" });
    const until = (filters.until ?? []).map((u) => parseUntil(u));
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of [...this.containers.values()]) {
      const r = c.rec;
      if (r.State.Running || r.State.Status === "removing") continue;
      if (until.length && !until.every((t) => Date.parse(r.Created) < t)) continue;
      if (!matchLabels(r.Config.Labels ?? {}, filters.label ?? [], filters["label!"] ?? [])) continue;
      const size = (await this.sizes(c)).SizeRw;
      try {
        await this.remove(r.ID);
      } catch {
        continue; // started or removed meanwhile
      }
      deleted.push(r.ID);
      reclaimed += size;
    }
    const timeNano = BigInt(Date.now()) * 1_000_000n;
    try {
      this.emit({ Type: "container", Action: "prune", Actor: { ID: "", Attributes: { reclaimed: String(reclaimed) } }, time: Number(timeNano / 1_000_000_000n), timeNano });
    } catch {
      // a listener's failure is not the prune's
    }
    return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  /** docker commit: the container's changes as a new layer on its image; returns the image ID. */
  async commit(ref: string, opts: CommitOptions = {}): Promise<{ Id: string }> {
    const c = this.find(ref);
    const changes = opts.changes ?? [];
    // the new config: the request's (else the container's) with the changes, gaps filled from the container's
    const config = commitConfig(opts.config, changes, c.rec.Config);
    const reference = opts.repo ? (opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo) : undefined;
    if (!reference && opts.tag) throw invalid("tag requires a repository name (repo)", { code: "reference.invalid" });
    const dirs = overlayDirs(c.rec.RootfsMounts);
    if (!dirs.UpperDir) throw unsupported(`container ${c.rec.ID} has no writable layer to commit`, { code: "commit.no-layer" });
    const pause = opts.pause !== false && c.rec.State.Running && !c.rec.State.Paused && !c.rec.State.Restarting;
    // paused as `docker pause` does (state and events too), so nothing writes while the layer is read
    if (pause) await this.pause(c.rec.ID);
    const tmp = path.join(this.root, "tmp");
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    const layerFile = path.join(tmp, `commit-${randomBytes(8).toString("hex")}.tar`);
    let id: string;
    try {
      const lowers = dirs.LowerDir ? dirs.LowerDir.split(":") : [];
      const diff = await diffLayer(dirs.UpperDir, lowers, createWriteStream(layerFile, { mode: 0o600 }), {
        skip: (rel, st, list) => isInitLayerEntry(`/${rel}`, st, list),
      });
      if (pause) await this.unpause(c.rec.ID).catch(() => undefined);
      const empty = diff.size <= END_OF_ARCHIVE_SIZE;
      id = await this.images.commit(c.rec.Image, empty ? undefined : () => createReadStream(layerFile), {
        config,
        ...(reference ? { reference } : {}),
        ...(opts.author ? { author: opts.author } : {}),
        ...(opts.comment ? { comment: opts.comment } : {}),
        createdBy: [c.rec.Path, ...c.rec.Args].join(" "),
        container: c.rec.ID,
        containerConfig: c.rec.Config,
      });
    } catch (err) {
      if (pause && c.rec.State.Paused) await this.unpause(c.rec.ID).catch(() => undefined);
      throw err;
    } finally {
      await rm(layerFile, { force: true });
    }
    this.event(c, "commit", { comment: opts.comment ?? "", imageID: id, imageRef: reference ?? "" });
    if (reference) {
      const timeNano = BigInt(Date.now()) * 1_000_000n;
      try {
        this.emit({ Type: "image", Action: "tag", Actor: { ID: id, Attributes: { name: reference } }, time: Number(timeNano / 1_000_000_000n), timeNano });
      } catch {
        // a listener's failure is not the commit's
      }
    }
    return { Id: id };
  }

  // ---------------------------------------------------------------- healthchecks

  private scheduleHealth(c: Live, first: boolean): void {
    const hc = c.rec.Config.Healthcheck;
    if (!hc?.Test?.length || hc.Test[0] === "NONE" || this.closed || !c.rec.State.Running) return;
    const interval = (hc.Interval || 30 * NS) / 1e6;
    const startInterval = (hc.StartInterval || 5 * NS) / 1e6;
    const inStart = hc.StartPeriod && Date.now() - (c.runStartedAt ?? 0) < hc.StartPeriod / 1e6;
    const delay = first ? Math.min(interval, inStart && hc.StartInterval ? startInterval : interval) : inStart && hc.StartInterval ? startInterval : interval;
    if (c.healthTimer) clearTimeout(c.healthTimer);
    c.healthTimer = setTimeout(() => {
      c.healthTimer = undefined;
      void this.probe(c).finally(() => this.scheduleHealth(c, false));
    }, delay);
  }

  private async probe(c: Live): Promise<void> {
    const hc = c.rec.Config.Healthcheck!;
    const test = hc.Test!;
    if (!c.rec.State.Running || c.rec.State.Paused) return;
    const cmd = test[0] === "CMD-SHELL" ? [...(c.rec.Config.Shell?.length ? c.rec.Config.Shell : ["/bin/sh", "-c"]), test.slice(1).join(" ")] : test[0] === "CMD" ? test.slice(1) : test;
    const timeoutMs = (hc.Timeout || 30 * NS) / 1e6;
    const start = nowIso();
    const tag = randomBytes(4).toString("hex");
    const log = path.join(this.runtimeRoot, c.rec.ID, `h${tag}.log`);
    let code: number;
    let output = "";
    try {
      const proc = await this.execProcess(c, { Cmd: cmd });
      const handle = await this.runtimeOf(c).exec(c.rec.ID, { process: proc, stdio: "ignore", io: { log: { path: log, maxSize: 1 << 20, maxFiles: 1 }, pipes: { openStdin: false, stdinOnce: false } } });
      let timer: NodeJS.Timeout | undefined;
      const res = await Promise.race([handle.exited.then((x) => x.code), new Promise<number>((r) => (timer = setTimeout(() => r(-1), timeoutMs)))]);
      clearTimeout(timer);
      if (res === -1) {
        try {
          process.kill(handle.pid, "SIGKILL");
        } catch {
          // gone
        }
        output = `Health check exceeded timeout (${Math.round(timeoutMs / 1000)}s)`;
      } else {
        for await (const e of readLogs(log, {})) output += e.line.toString();
      }
      code = res;
    } catch (err) {
      code = -1;
      output = (err as Error).message;
    } finally {
      await rm(log, { force: true }).catch(() => undefined);
    }
    if (!c.rec.State.Running || this.closed) return;
    const h: Health = c.rec.State.Health ?? { Status: "starting", FailingStreak: 0, Log: [] };
    h.Log.push({ Start: start, End: nowIso(), ExitCode: code, Output: output.slice(0, 4096) });
    if (h.Log.length > 5) h.Log.splice(0, h.Log.length - 5);
    const before = h.Status;
    if (code === 0) {
      h.FailingStreak = 0;
      h.Status = "healthy";
    } else {
      const inStart = hc.StartPeriod && Date.now() - (c.runStartedAt ?? 0) < hc.StartPeriod / 1e6;
      if (!(inStart && h.Status === "starting")) {
        h.FailingStreak++;
        if (h.FailingStreak >= (hc.Retries || 3)) h.Status = "unhealthy";
      }
    }
    c.rec.State.Health = h;
    await this.save(c).catch(() => undefined);
    if (h.Status !== before) this.event(c, `health_status: ${h.Status}`);
  }

  // ---------------------------------------------------------------- live restore

  private async restore(): Promise<void> {
    let ids: string[];
    try {
      ids = await readdir(this.containersDir());
    } catch {
      ids = [];
    }
    const toHandle: Promise<void>[] = [];
    for (const id of ids) {
      const removed = id.startsWith(REMOVING_PREFIX) ? id.slice(REMOVING_PREFIX.length) : undefined;
      if (removed !== undefined && /^[0-9a-f]{64}$/.test(removed)) {
        toHandle.push(this.finishRemoval(removed, path.join(this.containersDir(), id)));
        continue;
      }
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      const dir = path.join(this.containersDir(), id);
      // staging mounts of a start the daemon did not finish: the runtime holds its own mounts
      try {
        clearStaging(dir);
      } catch (err) {
        process.stderr.write(`cove: warning: container ${id}: ${(err as Error).message}\n`);
      }
      let rec: ContainerRecord;
      let hc: HostConfig;
      try {
        rec = JSON.parse(await readFile(path.join(dir, "config.v2.json"), "utf8")) as ContainerRecord;
        hc = JSON.parse(await readFile(path.join(dir, "hostconfig.json"), "utf8")) as HostConfig;
      } catch (err) {
        if (isErrno(err, "ENOENT")) {
          // a create that died half way: nothing refers to it
          await this.images.removeRootfs(id).catch(() => undefined);
          await rm(dir, { recursive: true, force: true }).catch(() => undefined);
          continue;
        }
        throw err;
      }
      const c = this.newLive(rec, hc);
      this.containers.set(id, c);
      this.names.set(rec.Name, id);
      for (const e of rec.MountPoints ?? []) {
        if (e.Type === "volume" && e.Name && this.volumes.has(e.Name)) this.volumes.reference(e.Name, id);
      }
      if (rec.State.Status === "removing") {
        toHandle.push(this.remove(id, { force: true }).catch(() => undefined));
        continue;
      }
      if (!rec.State.Running) {
        this.unmountRootfs(c);
        // a --rm container that exited while the daemon was going down: finish its removal
        if (hc.AutoRemove && rec.HasBeenStartedBefore) toHandle.push(this.remove(id, { force: true }).catch(() => undefined));
        continue;
      }
      toHandle.push(this.adopt(c));
    }
    await Promise.all(toHandle);
    // devices of volumes whose containers died while no daemon ran
    await this.volumes.reconcile();
  }

  private async adopt(c: Live): Promise<void> {
    const id = c.rec.ID;
    let status: string;
    try {
      status = (await this.runtimeOf(c).state(id)).status;
    } catch {
      status = "gone";
    }
    let resolveExited!: () => void;
    c.exited = new Promise<void>((r) => (resolveExited = r));
    c.resolveExited = resolveExited;
    c.runStartedAt = Date.parse(c.rec.State.StartedAt);
    if (c.rec.State.Status === "restarting") {
      // the daemon died during a restart back-off: start it now
      this.setStatus(c, "exited");
      await this.exclusive(c, () => this.startInternal(c)).catch(() => undefined);
      return;
    }
    if (status === "running" || status === "paused") {
      this.setStatus(c, status === "paused" ? "paused" : "running");
      // the container still holds its volumes mounted: count it again (its devices stay mounted)
      for (const e of c.rec.MountPoints) {
        if (e.Type === "volume" && e.Name && this.volumes.has(e.Name)) await this.volumes.acquire(e.Name, id, { destination: e.Destination, rw: e.RW, propagation: e.Propagation }, true).catch(() => undefined);
      }
      await this.watchExit(c);
      this.scheduleHealth(c, true);
      return;
    }
    if (status === "stopped") {
      let finishedAt: string | undefined;
      try {
        finishedAt = (await stat(path.join(this.runtimeRoot, id, "exit"))).mtime.toISOString();
      } catch {
        finishedAt = undefined;
      }
      await this.handleExit(c, undefined, finishedAt);
      return;
    }
    // the runtime has no record (a reboot, or its state was lost): the container is dead
    c.rec.State.Error = "the container's monitor was gone when cove restarted";
    await this.handleExit(c, { code: 255, signal: 0 });
  }
}
