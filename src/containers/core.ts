// The container service's core: the records it owns and what every part of the service shares.
// State lives under <root>/containers/<id>/: config.v2.json and hostconfig.json (written
// atomically), config.json (the OCI bundle config; the bundle is this directory), rootfs/ (the
// overlay mount point), hostname, hosts, resolv.conf and container.log (written by the monitor).
// The runtime's own state (monitor, attach socket, exit status) is under the runtime root, on a
// tmpfs, so containers keep running, logging and attachable while no daemon runs.
//
// The core holds the records (containers, names, execs), finds them, persists them, moves their
// status (setStatus) and publishes their events. The operations live in modules on top of it
// (create.ts, run.ts, control.ts, views.ts, streams.ts, exec.ts, files.ts, health.ts,
// restore.ts), each reaching the others through core.m; service.ts is the public face.

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CoveError, invalid, notFound, unsupported } from "../common/errors.js";
import { replaceFile, settleAll, writeFileAtomic } from "../common/fs.js";
import { bestEffort, ignored } from "../common/ignore.js";
import { DEFAULT_CGROUP_PARENT } from "../common/instance.js";
import { parseSignal } from "../docker/index.js";
import { type ImageService } from "../images/service.js";
import { CoveRuntime, DEFAULT_RUNTIME_ROOT } from "../runtime/cove.js";
import { findRunc, RuncRuntime } from "../runtime/runc.js";
import type { ContainerRuntime } from "../runtime/types.js";
import { IDMAP_UNSUPPORTED, type Mount as SnapshotMount } from "../snapshots/index.js";
import { VolumeService } from "../volumes/index.js";
import { type MonitorConnection } from "./attach.js";
import { type MountEntry } from "./mounts.js";
import { NullNetwork, realHost, type ContainerHost, type ContainerNetwork } from "./host.js";
import type { AttachChunk, ContainerConfig, ContainerStateDoc, ContainerStatus, DockerEvent, ExecConfig, HostConfig } from "./types.js";
import type { Creator } from "./create.js";
import type { Runner } from "./run.js";
import type { Controller } from "./control.js";
import type { Views } from "./views.js";
import type { Streams } from "./streams.js";
import type { Execs } from "./exec.js";
import type { Files } from "./files.js";
import type { HealthChecks } from "./health.js";
import type { Restorer } from "./restore.js";
import { mapText, type IdMap, type UsernsSettings } from "./userns.js";
import { chownedLayerMounts } from "./userns-layers.js";
import { overlayDirs, volatileMounts } from "./rootfs.js";

export const ZERO_TIME = "0001-01-01T00:00:00Z";
/** A removed container's directory is renamed to this prefix + its ID until its removal finishes. */
export const REMOVING_PREFIX = ".removing-";
export const NS = 1_000_000_000;

/** What config.v2.json holds. */
export interface ContainerRecord {
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
  /**
   * The container's user namespace (the daemon's --userns-remap, or --userns=auto), fixed at
   * create; absent: the host's. Its root owns the writable layer and the container's files on the
   * host; its image layers are seen through idmapped mounts.
   */
  UserNamespace?: IdMap;
}

export interface ExecRecord {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  exitCode: number | null;
  pid: number;
  started: boolean;
  /** The monitor's attach socket of this exec (set at start): its terminal is resized there, and only there. */
  socket?: string;
  /** Date.now() when it ended (exited, or failed to start): ended execs are forgotten after a while. */
  endedAt?: number;
}

export interface PendingAttach {
  connect: (socket: string) => Promise<void>;
}

export interface Live {
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
  /** Set once the container is removed: a save that fails then has nothing left to save. */
  removed?: boolean;
}

export interface ContainerServiceOptions {
  /** The engine's state root (e.g. /var/lib/cove); containers live in <root>/containers. */
  root: string;
  /** The runtime's state root, on a tmpfs (default /run/cove/runtime). Keep it short: attach sockets live there. */
  runtimeRoot?: string;
  /** The parent of the containers' cgroups when a container names none (default /cove; a daemon gives its own). */
  cgroupParent?: string;
  /**
   * Why containers run without cgroups (a rootless daemon without a delegated cgroup v2 subtree):
   * a create with resource limits succeeds with a warning that they are ignored.
   */
  cgroupless?: string;
  images: ContainerImages;
  events?: (e: DockerEvent) => void;
  /** The --init binary; default <package>/build/cove-init. */
  initPath?: string;
  /** The runc binary for HostConfig.Runtime "runc"; default runc on PATH, else /usr/sbin/runc. */
  runcPath?: string;
  /**
   * The runtimes by the name HostConfig.Runtime gives (see RUNTIME_NAMES); default cove's own
   * (on runtimeRoot) and runc (when installed, run under cove's monitors).
   */
  runtimes?: ReadonlyMap<string, ContainerRuntime>;
  /** The runtime a container gets when it names none (daemon.json's default-runtime); default "cove". */
  defaultRuntime?: string;
  /** What the service does on the machine itself (cgroup version, rootfs mounts); default this machine. */
  host?: ContainerHost;
  /** The volume service (default: one opened on root, publishing through events). */
  volumes?: VolumeService;
  /** Networking (bridge and user-defined networks, ports); without it (NullNetwork) containers get a loopback only. */
  network?: ContainerNetwork;
  /** Where the service reports what it had to ignore (a cleanup that failed); default: stderr. */
  log?: (line: string) => void;
  /** Awaited before the containers are reconciled at open (a test holds the reconcile with it). */
  beforeReconcile?: () => Promise<void>;
  /** User namespaces (the daemon's --userns-remap); without them only --userns=host is accepted. */
  userns?: UsernsSettings;
}

/**
 * What a layer above the container service (pods) adds to the lifecycle of the containers it
 * groups: work before a start (a pod member's infra container starts first) and a veto on a
 * removal (a pod's infra container goes only with its pod). Both see every start and removal,
 * whichever client asked and including the restart manager's.
 */
export interface ContainerHooks {
  /** Awaited before a container starts; a throw fails the start. */
  beforeStart?: (rec: ContainerRecord) => Promise<void>;
  /** Called before a container is removed; a throw (a conflict) refuses the removal. */
  beforeRemove?: (rec: ContainerRecord) => void;
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
  /**
   * Let the container's monitor serve the client's connection itself, when it can: the live
   * session goes to it once ready gives the hand-over (after the response's head went out; at the
   * container's start when it is not running yet). Only for a session the daemon has nothing to
   * do in (no detach keys to watch for).
   */
  direct?: DirectAttachOptions;
}

/** How a connection handed to the monitor is served (AttachOptions.direct). */
export interface DirectAttachOptions {
  /** Output in stdcopy frames; else raw (a TTY's stream, or stdout alone). */
  framed: boolean;
  /** At the end of the connection's input: close stdin (true) or end the session (false). */
  closeStdin: boolean;
  /**
   * The client offered its own stdio (a local client on a unix socket): the monitor asks for it
   * first (PassFds.ASK) and serves the streams it takes straight from and to those files.
   */
  passFds?: boolean;
  /**
   * Resolves with the hand-over once the connection may go: take drains the connection and calls
   * give with its descriptor and the bytes already read from it, synchronously, and says whether
   * the monitor took it. Undefined: serve it the usual way.
   */
  ready: Promise<((give: (fd: number, input: Buffer) => boolean) => boolean) | undefined>;
}

export interface AttachSession {
  output: AsyncIterable<AttachChunk>;
  /** Sends stdin; resolves when more may be sent (the container reads it at its own pace). */
  write(data: Buffer | string): Promise<void>;
  closeStdin(): void;
  resize(rows: number, cols: number): void;
  close(): void;
  /**
   * With AttachOptions.direct: resolves once it is decided, with a promise of the session's end
   * when the monitor serves the connection (output then stays empty here), else undefined.
   */
  direct?: Promise<Promise<void> | undefined>;
}

export interface ExecSession extends AttachSession {
  /** The exit code once the process ends. */
  exitCode: Promise<number>;
}

/** The real runtimes: cove's own on runtimeRoot, and runc when it is installed. */
export function defaultRuntimes(runtimeRoot: string, runcPath = findRunc(), cgroupParent = DEFAULT_CGROUP_PARENT): Map<string, ContainerRuntime> {
  // the service runs container after container: its parent cgroups stay until it closes, and
  // deleted containers' state directories are removed off the path of the next request
  const out = new Map<string, ContainerRuntime>([["cove", new CoveRuntime({ root: runtimeRoot, keepCgroupParents: cgroupParent, removeStateInBackground: true })]]);
  // runc's own state sits next to cove's; the monitors' (attach socket, exit) in the same place as cove's
  if (runcPath) out.set("runc", new RuncRuntime({ binary: runcPath, root: path.join(path.dirname(runtimeRoot), "runc"), monitorRoot: runtimeRoot }));
  return out;
}

export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

export function newId(): string {
  return randomBytes(32).toString("hex");
}

export function nowIso(): string {
  const ns = process.hrtime.bigint() % 1_000_000n;
  return new Date().toISOString().replace(/\.(\d{3})Z$/, (_m, ms: string) => `.${ms}${ns.toString().padStart(6, "0")}Z`);
}

export function signalNumber(sig: string | number | undefined, fallback: number): number {
  if (sig === undefined || sig === "") return fallback;
  return parseSignal(typeof sig === "number" ? sig : sig);
}

/** What the container service uses of the image service: rootfs snapshots, the image lookup, commit. */
export type ContainerImages = Pick<ImageService, "prepareRootfs" | "removeRootfs" | "inspect" | "commit" | "exportRootfs">;

/** The modules of the service, each reached by the others through core.m. */
export interface Modules {
  create: Creator;
  run: Runner;
  control: Controller;
  views: Views;
  streams: Streams;
  exec: Execs;
  files: Files;
  health: HealthChecks;
  restore: Restorer;
}

/**
 * The status moves a container's lifecycle makes (a move to the same status is always allowed).
 * created and exited start; running, paused and restarting end in exited (an exit, a failed
 * start); restarting is an exit waiting for its restart, and stays so while that restart
 * starts; anything but removing may be removed.
 */
const STATUS_TRANSITIONS: Record<ContainerStatus, readonly ContainerStatus[]> = {
  created: ["running", "exited", "removing", "dead"],
  running: ["paused", "exited", "removing", "dead"],
  paused: ["running", "exited", "removing", "dead"],
  restarting: ["running", "exited", "removing", "dead"],
  exited: ["running", "restarting", "removing", "dead"],
  removing: ["dead"],
  dead: ["removing"],
};

export class ContainerCore {
  readonly root: string;
  readonly runtimeRoot: string;
  /** The parent of the containers' cgroups when a container names none. */
  readonly cgroupParent: string;
  /** The runtimes by name ("cove" always, "runc" when installed). */
  readonly runtimes: ReadonlyMap<string, ContainerRuntime>;
  /** The runtime a new container gets when it names none (changed by a daemon reload). */
  defaultRuntime: string;
  readonly host: ContainerHost;
  readonly images: ContainerImages;
  readonly emit: (e: DockerEvent) => void;
  readonly initPath: string;
  readonly containers = new Map<string, Live>();
  readonly names = new Map<string, string>();
  readonly execs = new Map<string, ExecRecord>();
  readonly cgroupVersion: 1 | 2;
  /** Always present: a NullNetwork when the engine runs without networking. */
  readonly network: ContainerNetwork;
  /** Whether the engine has networking (create's warnings and the container's /etc/hosts differ without). */
  readonly networked: boolean;
  closed = false;
  /** Whether overlayfs takes "volatile" here (see volatileMounts); undefined until a --rm container tried. */
  volatileOverlay: boolean | undefined;
  volumes!: VolumeService;
  /** Removals finishing after the API has answered (see remove). */
  readonly finishingRemovals = new Set<Promise<void>>();
  /** Records being written: close() lets them finish, so nothing writes into a root after it. */
  readonly savesInFlight = new Set<Promise<void>>();
  /** The modules, set once by ContainerService.open. */
  m!: Modules;
  /** Set by the layer above (ContainerService.setHooks). */
  hooks: ContainerHooks = {};
  readonly log: (line: string) => void;
  readonly beforeReconcile?: () => Promise<void>;
  readonly userns: UsernsSettings | undefined;
  /** User namespaces of creates in progress (by container ID), so two creates never take the same ids. */
  readonly pendingUserns = new Map<string, IdMap>();
  /** Set once the kernel refused idmapped layers: containers in user namespaces get chowned copies (userns-layers.ts). */
  idmapRefused = false;
  /** Why containers run without cgroups, when they do (ContainerServiceOptions.cgroupless). */
  readonly cgroupless: string | undefined;

  constructor(opts: ContainerServiceOptions) {
    this.root = opts.root;
    this.cgroupless = opts.cgroupless;
    this.runtimeRoot = opts.runtimeRoot ?? DEFAULT_RUNTIME_ROOT;
    this.cgroupParent = opts.cgroupParent ?? DEFAULT_CGROUP_PARENT;
    this.runtimes = opts.runtimes ?? defaultRuntimes(this.runtimeRoot, opts.runcPath, this.cgroupParent);
    this.defaultRuntime = opts.defaultRuntime ?? "cove";
    this.host = opts.host ?? realHost;
    this.images = opts.images;
    this.emit = opts.events ?? (() => undefined);
    this.initPath = opts.initPath ?? path.join(packageRoot(), "build", "cove-init");
    this.network = opts.network ?? new NullNetwork((id) => this.containers.get(id)?.rec.State.Pid);
    this.networked = opts.network !== undefined;
    this.cgroupVersion = this.host.cgroupVersion();
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    if (opts.beforeReconcile) this.beforeReconcile = opts.beforeReconcile;
    this.userns = opts.userns;
  }

  /**
   * Waits for a cleanup whose failure must not stop the caller (a run's teardown, a rollback):
   * what it ignored goes to the log, with what was being done.
   */
  bestEffort(what: string, work: Promise<unknown> | (() => unknown) | undefined): Promise<void> {
    return bestEffort(what, work, this.log);
  }

  containersDir(): string {
    return path.join(this.root, "containers");
  }

  attachSocket(id: string): string {
    return path.join(this.runtimeRoot, id, "a.sock");
  }

  /** Where the monitor takes attach connections handed over (absent with a monitor older than it). */
  directSocket(id: string): string {
    return path.join(this.runtimeRoot, id, "d.sock");
  }

  logPath(c: Live): string {
    return path.join(c.dir, "container.log");
  }

  rootfsPath(c: Live): string {
    return path.join(c.dir, "rootfs");
  }

  /** Finds a container by full id, name (with or without "/"), or unique id prefix. */
  find(ref: string): Live {
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
  runtimeOf(c: Live): ContainerRuntime {
    const name = c.hc.Runtime || "cove";
    const rt = this.runtimes.get(name);
    if (!rt) throw unsupported(`the ${name} runtime is not available: ${name} is not installed`, { code: "runtime.missing", ...(name === "runc" ? { hint: "install runc (apt-get install runc)" } : {}) });
    return rt;
  }

  event(c: Live, action: string, extra: Record<string, string> = {}): void {
    const attrs: Record<string, string> = { ...(c.rec.Config.Labels ?? {}), image: c.rec.Config.Image ?? c.rec.Image, name: c.rec.Name.slice(1), ...extra };
    const timeNano = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    try {
      this.emit({ Type: "container", Action: action, Actor: { ID: c.rec.ID, Attributes: attrs }, time: Number(timeNano / 1_000_000_000n), timeNano });
    } catch (err) {
      // a listener's failure is not the container's
      ignored(`deliver the ${action} event of container ${c.rec.ID}`, err, this.log);
    }
  }

  emitVolumeEvent(e: { Type: "volume"; Action: string; Actor: { ID: string; Attributes: Record<string, string> } }): void {
    const timeNano = BigInt(Date.now()) * 1_000_000n;
    try {
      this.emit({ ...e, time: Number(timeNano / 1_000_000_000n), timeNano });
    } catch (err) {
      // a listener's failure is not the volume's
      ignored(`deliver the ${e.Action} event of volume ${e.Actor.ID}`, err, this.log);
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
   * A --rm container's record is never written durably: after a crash it is removed anyway (its
   * snapshot is volatile too), and restore takes a record the crash left empty or torn for a
   * create that did not finish.
   */
  async save(c: Live, what: "all" | "state" = "all"): Promise<void> {
    if (this.closed) return;
    const saving = this.write(c, what);
    const settled = saving.then(
      () => undefined,
      () => undefined,
    );
    this.savesInFlight.add(settled);
    try {
      await saving;
    } finally {
      this.savesInFlight.delete(settled);
    }
  }

  private async write(c: Live, what: "all" | "state"): Promise<void> {
    try {
      if (c.hc.AutoRemove) {
        await Promise.all([
          replaceFile(path.join(c.dir, "config.v2.json"), JSON.stringify(c.rec), 0o600),
          ...(what === "all" ? [replaceFile(path.join(c.dir, "hostconfig.json"), JSON.stringify(c.hc), 0o600)] : []),
        ]);
        return;
      }
      if (what === "state") {
        await replaceFile(path.join(c.dir, "config.v2.json"), JSON.stringify(c.rec), 0o600);
        return;
      }
      await settleAll([
        writeFileAtomic(path.join(c.dir, "config.v2.json"), JSON.stringify(c.rec), 0o600),
        writeFileAtomic(path.join(c.dir, "hostconfig.json"), JSON.stringify(c.hc), 0o600),
      ]);
    } catch (err) {
      // removed while its exit was being recorded (wait/die seen, then rm): nothing left to save.
      // (A container being created is not listed yet: its record failing fails the create.)
      if (c.rec.State.Status === "removing" || c.removed) return;
      throw err;
    }
  }

  /** Runs fn after the container's previous exclusive operation. */
  exclusive<T>(c: Live, fn: () => Promise<T>): Promise<T> {
    const run = c.busy.then(fn, fn);
    // the chain only orders the operations: a failure is the caller's, who awaits run
    // the chain only orders the operations: a failure is the caller's, who awaits run itself
    c.busy = run.catch(() => undefined);
    return run;
  }

  isRunning(c: Live): boolean {
    return c.rec.State.Running;
  }

  /** Moves the container to status; a move the lifecycle never makes is a bug, refused loudly. */
  setStatus(c: Live, status: ContainerStatus): void {
    const s = c.rec.State;
    const from = s.Status;
    if (from !== status && !STATUS_TRANSITIONS[from]?.includes(status)) {
      throw new CoveError("system", `container ${c.rec.ID} cannot go from ${from} to ${status}`, { code: "container.bad-transition" });
    }
    s.Status = status;
    s.Running = status === "running" || status === "paused" || status === "restarting";
    s.Paused = status === "paused";
    s.Restarting = status === "restarting";
    s.Dead = status === "dead";
  }

  newLive(rec: ContainerRecord, hc: HostConfig): Live {
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

  async mountRootfs(c: Live): Promise<string> {
    const target = this.rootfsPath(c);
    await mkdir(target, { recursive: true, mode: 0o755 });
    if (await this.host.isMountpoint(target)) return target;
    const ns = c.rec.UserNamespace;
    if (ns && (this.userns?.layers === "copy" || this.idmapRefused)) {
      await this.mountWith(c, await chownedLayerMounts(c.dir, c.rec.RootfsMounts, overlayDirs(c.rec.RootfsMounts), ns), target);
      return target;
    }
    const idmap = ns ? { text: { uidMap: mapText(ns.uidMappings), gidMap: mapText(ns.gidMappings) }, staging: path.join(c.dir, "idmap") } : undefined;
    try {
      await this.mountWith(c, c.rec.RootfsMounts, target, idmap);
    } catch (err) {
      if (!(ns && err instanceof CoveError && err.code === IDMAP_UNSUPPORTED)) throw err;
      // this kernel refuses idmapped layers: chowned copies from now on
      this.idmapRefused = true;
      this.log(`cove: ${err.message}; containers in user namespaces get chowned copies of their image's layers instead (${err.hint ?? ""})`);
      await this.mountWith(c, await chownedLayerMounts(c.dir, c.rec.RootfsMounts, overlayDirs(c.rec.RootfsMounts), ns), target);
    }
    return target;
  }

  /** Mounts mounts on target, with overlayfs's volatile option for a --rm container where the kernel has it. */
  private async mountWith(c: Live, mounts: SnapshotMount[], target: string, idmap?: { text: { uidMap: string; gidMap: string }; staging: string }): Promise<void> {
    const volatile = c.hc.AutoRemove && this.volatileOverlay !== false ? volatileMounts(mounts) : undefined;
    if (volatile) {
      try {
        await this.host.mount(volatile, target, idmap);
        this.volatileOverlay = true;
        return;
      } catch (err) {
        // a kernel before 5.10 knows no "volatile": such a host mounts as before
        if (!(err instanceof CoveError && err.errno === "EINVAL") || this.volatileOverlay === true) throw err;
        this.volatileOverlay = false;
      }
    }
    await this.host.mount(mounts, target, idmap);
  }

  unmountRootfs(c: Live): void {
    this.host.unmount(this.rootfsPath(c));
  }
}
