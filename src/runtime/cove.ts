// cove's own OCI runtime: validates the bundle, sets up cgroups, compiles the plan and hands
// it to the native shim, then manages the container through its state directory.
//
// State directory <root>/<id>/: state.json (ours, written atomically), plan (the shim's
// input), and the files the shim writes (STATE_FILES in src/native/protocol.ts): init.pid,
// start.fifo (present while created), started, start-error, exit ("CODE SIGNAL").

import { closeSync, constants as fsConstants, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, watch, writeSync } from "node:fs";
import { readFile, readdir, rm, rmdir, unlink } from "node:fs/promises";
import { userInfo } from "node:os";
import path from "node:path";
import { conflict, CoveError, fromErrno, invalid, isErrno, notFound } from "../common/errors.js";
import { ignored, ignoring } from "../common/ignore.js";
import { readAhead } from "../common/read-ahead.js";
import { span, traced } from "../common/trace.js";
import { StateFile } from "../native/protocol.js";
import type { CgroupManager } from "./cgroups/index.js";
import { inUserNamespace } from "../common/userns.js";
import type { CompiledSeccomp } from "./seccomp/compile.js";
import { OCI_VERSION, type DeviceCgroupRule, type Hook, type LinuxResources, type LinuxSeccomp, type Process, type Spec, type State, type Status } from "./spec.js";
import { signalPid, type ContainerRuntime, type ContainerState, type CreateOptions, type ExecHandle, type ExecOptions, type ProcessExit, type RuntimeStats } from "./types.js";

// Each `cove runtime` command is a process of its own (containerd and the OCI test suites run one
// per operation), so its start-up is most of its time, and each module it loads adds to it. What
// only create and exec need (the config schema validators, the plan compiler, the shim launcher,
// the capability and rlimit tables, the host mounts, hooks), the seccomp compiler (only for a
// config with a profile), the atomic file writes (only for commands that write state), the signal
// names (only for kill) and the cgroup drivers load on first use: `state`, `start` or `kill` pay
// for none of it.

interface LaunchModules {
  config: typeof import("./config/load.js") & typeof import("./config/validate.js");
  plan: typeof import("./plan/compile.js") & typeof import("./plan/linux.js");
  shim: typeof import("./shim.js");
  cgroupMounts: typeof import("./cgroup-mounts.js");
  hostMounts: typeof import("./host-mounts.js");
  /** Capability names to their numbers (config/constants.js's CAPABILITIES). */
  capabilityNumbers: ReadonlyMap<string, number>;
}
let launchModulesLoading: Promise<LaunchModules> | undefined;

/** The modules create and exec need, loaded once on first use. */
function launchModules(): Promise<LaunchModules> {
  // the modules themselves, not their folders' entry files: those also carry what no container
  // start needs (the default spec and profile, the features document)
  return (launchModulesLoading ??= Promise.all([
    import("./config/load.js"),
    import("./config/validate.js"),
    import("./plan/compile.js"),
    import("./plan/linux.js"),
    import("./shim.js"),
    import("./cgroup-mounts.js"),
    import("./host-mounts.js"),
    import("./config/constants.js"),
  ]).then(([load, validate, plan, linux, shim, cgroupMounts, hostMounts, constants]) => ({
    config: { ...load, ...validate },
    plan: { ...plan, ...linux },
    shim,
    cgroupMounts,
    hostMounts,
    capabilityNumbers: new Map(constants.CAPABILITIES.map((c) => [c.name, c.number])),
  })));
}

/** common/fs.js: atomic file writes, for the commands that write state. */
function commonFs(): Promise<typeof import("../common/fs.js")> {
  return import("../common/fs.js");
}

/** The cgroup drivers, loaded on first use. */
function cgroups(): Promise<typeof import("./cgroups/index.js")> {
  return (cgroupsLoading ??= import("./cgroups/index.js"));
}
let cgroupsLoading: Promise<typeof import("./cgroups/index.js")> | undefined;

/** Runs a container's hooks; hooks.js (child_process) loads only when there are some. */
async function runHooks(hooks: Hook[] | undefined, state: State, phase: string): Promise<void> {
  if (!hooks?.length) return;
  await (await import("./hooks.js")).runHooks(hooks, state, phase);
}

export const DEFAULT_RUNTIME_ROOT = "/run/cove/runtime";
/**
 * What a deleted container's state directory is renamed to while it is removed in the
 * background (see removeStateInBackground): a name no container id can have ("@" is not in
 * ID_PATTERN), which list() passes over.
 */
const DELETED_PREFIX = "@deleted-";
/** How long kept shared parent cgroups outlive their last container before they go (see keepCgroupParents). */
const KEPT_PARENT_IDLE_MS = 1000;
/** How many containers' states list() reads at once. */
const LIST_READS = 32;

let owner: string | undefined;

/** The user this runtime runs as, the containers' owner: read once (userInfo reads /etc/passwd on every call). */
function ownerName(): string {
  return (owner ??= userInfo().username);
}

/** Notes about adjusted settings go to stderr, as runc's warnings do. */
function warn(message: string): void {
  process.stderr.write(`cove: warning: ${message}\n`);
}

/** What `create` records; enough to manage and clean up the container later. */
interface StoredState {
  id: string;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  pid: number;
  /** Start time of the init (field 22 of /proc/<pid>/stat) to tell a reused pid apart. */
  initStartTime: string;
  shimPid: number;
  cgroupsPath: string | undefined;
  /** The container runs without a cgroup (a rootless daemon that may not write the cgroup tree). */
  cgroupless?: boolean;
  /**
   * The file that tells whether the container is frozen (cgroup v1's freezer.state, v2's
   * cgroup.events), kept from the create so that `state` reads it without loading the cgroup
   * drivers; absent in the state of an older cove and where no freezer is mounted.
   */
  freezer?: { version: 1 | 2; file: string };
  spec: Spec;
  /** Set while create is still running; such a container can only be deleted. */
  creating?: boolean;
  /** A container without its own mount namespace makes its mounts in ours, on its root
   * filesystem: how many mounts were stacked there before, so cleanup detaches the rest. */
  hostMounts?: { mountPoint: string; before: number };
}

function hasNamespace(spec: Spec, type: string): boolean {
  return (spec.linux?.namespaces ?? []).some((n) => n.type === type);
}

const ID_PATTERN = /^[\w+\-.]+$/;

export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8"); // procfs: nothing to wait for
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

/** True for a process that exists and is not a zombie. */
async function isLiveProcess(pid: number): Promise<boolean> {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function hasCapSysResource(): boolean {
  const eff = /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0";
  return (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
}

/** A requested hard limit above ours needs CAP_SYS_RESOURCE; say so before starting anything. */
function checkRlimits(proc: Process | undefined, rlimitNumbers: Readonly<Record<string, number>>): void {
  const limits = proc?.rlimits ?? [];
  if (limits.length === 0 || hasCapSysResource()) return;
  const text = readFileSync("/proc/self/limits", "utf8");
  const names: Record<string, string> = {
    RLIMIT_CPU: "Max cpu time", RLIMIT_FSIZE: "Max file size", RLIMIT_DATA: "Max data size", RLIMIT_STACK: "Max stack size",
    RLIMIT_CORE: "Max core file size", RLIMIT_RSS: "Max resident set", RLIMIT_NPROC: "Max processes", RLIMIT_NOFILE: "Max open files",
    RLIMIT_MEMLOCK: "Max locked memory", RLIMIT_AS: "Max address space", RLIMIT_LOCKS: "Max file locks", RLIMIT_SIGPENDING: "Max pending signals",
    RLIMIT_MSGQUEUE: "Max msgqueue size", RLIMIT_NICE: "Max nice priority", RLIMIT_RTPRIO: "Max realtime priority", RLIMIT_RTTIME: "Max realtime timeout",
  };
  for (const r of limits) {
    if (rlimitNumbers[r.type] === undefined) continue;
    const line = text.split("\n").find((l) => l.startsWith(names[r.type] ?? "\0"));
    const hardText = line?.slice(26).trim().split(/\s+/)[1];
    if (!hardText || hardText === "unlimited") continue;
    const hard = Number(hardText);
    const wanted = r.hard < 0 || r.hard >= 2 ** 63 ? Infinity : r.hard;
    if (wanted > hard) {
      throw invalid(`process.rlimits: ${r.type} hard limit ${r.hard} is above this host's hard limit ${hard}, and raising it needs CAP_SYS_RESOURCE`, {
        field: "process.rlimits",
        code: "rlimit.above-hard",
        hint: `lower ${r.type} to at most ${hard}, or run with CAP_SYS_RESOURCE`,
      });
    }
  }
}

/**
 * Without a user namespace, the container's capabilities can only be ones this process holds:
 * capset(2) refuses the rest with a bare EPERM. Name them before anything starts.
 */
function checkCapabilities(spec: Spec, capabilityNumbers: ReadonlyMap<string, number>, proc: Process | undefined = spec.process): void {
  const caps = proc?.capabilities;
  if (!caps || hasNamespace(spec, "user")) return;
  const held = BigInt(`0x${/CapPrm:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0"}`);
  const wanted = new Set([...(caps.effective ?? []), ...(caps.permitted ?? []), ...(caps.inheritable ?? []), ...(caps.ambient ?? [])]);
  const missing = [...wanted].filter((name) => {
    const n = capabilityNumbers.get(name);
    return n !== undefined && (held & (1n << BigInt(n))) === 0n;
  });
  if (missing.length === 0) return;
  throw invalid(`process.capabilities: ${missing.join(", ")} cannot be granted: this runtime does not hold ${missing.length === 1 ? "it" : "them"} (the host's bounding set or the caller's capabilities lack ${missing.length === 1 ? "it" : "them"})`, {
    field: "process.capabilities",
    code: "capability.not-held",
    hint: `remove ${missing.join(", ")} from the config (docker run --cap-drop ${missing.map((m) => m.replace(/^CAP_/, "")).join(" --cap-drop ")}), or run the runtime with ${missing.length === 1 ? "that capability" : "those capabilities"}`,
  });
}

// The state directory's small files, /proc and the freezer files are read and written with
// synchronous calls: they live on tmpfs or in the page cache and cost microseconds, while each
// asynchronous call is a round trip through libuv's thread pool, and on a busy host every hand-off
// waits for a core (a container's start made five of them in a row before its exec).

function exists(p: string): boolean {
  return existsSync(p);
}

function parseExit(text: string): ProcessExit {
  const [code, signal] = text.trim().split(" ").map(Number);
  return { code: code ?? 255, signal: signal ?? 0 };
}

const compiledSeccomp = new Map<string, CompiledSeccomp>();

/**
 * compileSeccomp, remembered per profile (at most 16, oldest dropped first): nearly every container
 * and exec carries the same default profile, whose compilation costs a millisecond or two of the
 * event loop each time, against a few hundred microseconds to serialize it as the key. The
 * compiler loads with the first profile, so a config without one does not pay for it.
 */
async function compileSeccompCached(profile: LinuxSeccomp): Promise<CompiledSeccomp> {
  const key = JSON.stringify(profile);
  let compiled = compiledSeccomp.get(key);
  if (!compiled) {
    compiled = (await import("./seccomp/compile.js")).compileSeccomp(profile);
    if (compiledSeccomp.size >= 16) compiledSeccomp.delete(compiledSeccomp.keys().next().value as string);
    compiledSeccomp.set(key, compiled);
  }
  return compiled;
}

/**
 * Removes a directory of plain entries (a state directory: files, sockets, a fifo) one entry at
 * a time: a background removal then holds one thread of libuv's pool, not all four (a recursive
 * rm unlinks in parallel), and the requests that follow it do not queue behind it. Anything else
 * (a subdirectory) fails it; the caller then removes recursively.
 */
async function removeFlatDir(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    await unlink(path.join(dir, name)).catch((err: unknown) => {
      if (!isErrno(err, "ENOENT")) throw err;
    });
  }
  await rmdir(dir);
}

/** Waits until one of the files appears in dir; returns its name. */
async function waitForFile(dir: string, names: string[], timeoutMs = 0, signal?: AbortSignal): Promise<string> {
  const present = async () => {
    for (const n of names) if (exists(path.join(dir, n))) return n;
    return undefined;
  };
  const found = await present();
  if (found) return found;
  return new Promise<string>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, name?: string) => {
      if (done) return;
      done = true;
      watcher.close();
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      if (err) reject(err);
      else resolve(name!);
    };
    const check = () => present().then((n) => n && finish(undefined, n), () => undefined);
    const watcher = watch(dir, () => void check());
    watcher.on("error", () => void check());
    // inotify covers the normal case; the poll covers a watcher set up just too late
    const poll = setInterval(check, 200);
    const timer = timeoutMs ? setTimeout(() => finish(new CoveError("system", `timed out waiting for ${names.join(" or ")} in ${dir}`)), timeoutMs) : undefined;
    // the caller learnt the answer elsewhere: the watcher and the poll must not outlive it
    signal?.addEventListener("abort", () => finish(new CoveError("system", `stopped waiting for ${names.join(" or ")} in ${dir}`)), { once: true });
    void check();
  });
}

export class CoveRuntime implements ContainerRuntime {
  readonly name = "cove";
  readonly takesSpec = true;
  readonly root: string;
  /**
   * The shared parent cgroups (/cove, /cove-<tag>) kept after their last container went, when
   * the runtime lives in a daemon (see the constructor); flush() removes them.
   */
  private readonly keptCgroupParents: Set<string> | undefined;
  /** The daemon's own parent cgroup path (/cove-<tag>), which flush() removes wherever it is left empty. */
  private readonly cgroupParent: string | undefined;
  /** Removes the kept parents once no container came for KEPT_PARENT_IDLE_MS. */
  private parentRemoval: NodeJS.Timeout | undefined;
  /** The background removals of deleted containers' state directories under way (see the constructor). */
  private readonly stateRemovals: Set<Promise<void>> | undefined;

  /**
   * keepCgroupParents: leave the shared parent cgroups in place when their last container goes,
   * until flush(). For a daemon, which starts one container after another: remaking the parent
   * in every hierarchy (a memory cgroup costs the kernel half a millisecond, a cpuset one needs
   * its cpus and mems) was on the path of each `docker run` on an idle host. A runtime command
   * (a process per operation) removes them with their last container, as before. A kept parent
   * goes once a second has passed without a container in it (a daemon killed within that second
   * leaves it empty), and at flush(). Given as the daemon's parent cgroup path (/cove-<tag>),
   * flush() removes that one in every hierarchy even if no container of this run went: an
   * earlier run of the daemon that died kept it.
   *
   * removeStateInBackground: a deleted container's state directory is renamed away (the id is
   * free and unknown at once) and its files removed in the background, also by a daemon, which
   * outlives the removal: a dozen unlinks where the state root is no tmpfs (a /run on the root
   * disk) were on the path of every `docker run --rm`, with a long tail when the disk is busy.
   * list() (a daemon's restore) removes what a crash left; flush() waits for the removals.
   */
  constructor(opts: { root?: string; keepCgroupParents?: boolean | string; removeStateInBackground?: boolean } = {}) {
    this.root = opts.root ?? DEFAULT_RUNTIME_ROOT;
    this.keptCgroupParents = opts.keepCgroupParents ? new Set() : undefined;
    this.cgroupParent = typeof opts.keepCgroupParents === "string" ? opts.keepCgroupParents : undefined;
    this.stateRemovals = opts.removeStateInBackground ? new Set() : undefined;
  }

  /**
   * Finishes the state directories' background removals and removes the shared parent cgroups
   * kept since their last container went (see the constructor); those a container still uses stay.
   */
  async flush(): Promise<void> {
    if (this.stateRemovals) await Promise.all(this.stateRemovals);
    if (!this.keptCgroupParents) return;
    clearTimeout(this.parentRemoval);
    this.parentRemoval = undefined;
    const { cgroupManager, removeSharedParent } = await cgroups();
    const { isInstanceCgroupParent } = await import("../common/instance.js");
    const parents = new Set(this.keptCgroupParents);
    if (this.cgroupParent && isInstanceCgroupParent(path.posix.basename(this.cgroupParent))) {
      // where a container of the daemon's would have its cgroups, one level up (no cgroup is made)
      const probe = await cgroupManager({ id: "flush", cgroupsPath: path.posix.join(this.cgroupParent, "flush") }).catch(ignoring(`find the parent cgroup ${this.cgroupParent} in the hierarchies`));
      for (const dir of Object.values(probe?.paths ?? {})) parents.add(path.dirname(dir));
    }
    for (const dir of parents) await removeSharedParent(dir);
    this.keptCgroupParents.clear();
  }

  /**
   * Removes the kept parents once KEPT_PARENT_IDLE_MS passed without another container's removal
   * (one that holds a container refuses, and stays); a container created after that makes its
   * parent again.
   */
  private removeKeptParentsWhenIdle(removeSharedParent: (dir: string) => Promise<void>): void {
    clearTimeout(this.parentRemoval);
    this.parentRemoval = setTimeout(() => {
      this.parentRemoval = undefined;
      for (const dir of this.keptCgroupParents ?? []) void removeSharedParent(dir);
    }, KEPT_PARENT_IDLE_MS);
    // a pending removal does not keep a process alive: flush() does it at once
    this.parentRemoval.unref();
  }

  /** Removes a deleted container's renamed state directory off the caller's path (see the constructor). */
  private removeInBackground(renamed: string): void {
    const removals = this.stateRemovals!;
    const removal: Promise<void> = removeFlatDir(renamed)
      .catch(() => rm(renamed, { recursive: true, force: true, maxRetries: 3 }))
      .catch(ignoring(`remove ${renamed}, the state directory of a deleted container`))
      .finally(() => removals.delete(removal));
    removals.add(removal);
  }

  private dir(id: string): string {
    return path.join(this.root, id);
  }

  private checkId(id: string): void {
    if (!ID_PATTERN.test(id) || id === "." || id === "..") {
      throw invalid(`invalid container id "${id}": use letters, digits, and _ + - .`, { field: "id" });
    }
  }

  private async load(id: string): Promise<StoredState> {
    this.checkId(id);
    try {
      return JSON.parse(readFileSync(path.join(this.dir(id), "state.json"), "utf8")) as StoredState;
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw notFound(`container "${id}" does not exist`, { code: "container.not-found" });
      throw fromErrno(err, `reading the state of container ${id}`);
    }
  }

  private async save(s: StoredState): Promise<void> {
    // Runtime state describes live processes, which a power loss ends anyway: an atomic rename
    // without fsync (as runc's state.json), so a state root on a busy disk does not stall the
    // event loop. On tmpfs (/run) either costs microseconds.
    (await commonFs()).replaceFileSync(path.join(this.dir(s.id), "state.json"), JSON.stringify(s));
  }

  private async cgroup(s: StoredState): Promise<CgroupManager> {
    const { cgroupManager, detectCgroupHost, NoCgroupManager } = await cgroups();
    if (s.cgroupless) return new NoCgroupManager((await detectCgroupHost()).version === 2 ? 2 : 1, s.id, () => s.pid);
    return cgroupManager({ id: s.id, cgroupsPath: s.cgroupsPath, resources: cgroupResources(s.spec) }, deviceFilterOps);
  }

  private async status(s: StoredState): Promise<Status> {
    if (s.creating) return "creating";
    const dir = this.dir(s.id);
    if (exists(path.join(dir, StateFile.EXIT))) return "stopped";
    if (!s.pid || (await processStartTime(s.pid)) !== s.initStartTime) return "stopped";
    if (exists(path.join(dir, StateFile.START_FIFO))) return "created";
    try {
      if (await this.frozen(s)) return "paused";
    } catch (err) {
      // no freezer (or its cgroup already gone): cannot be paused; anything else is logged, and
      // the state still answers
      if (!(err instanceof CoveError && (err.kind === "unsupported" || err.kind === "not-found"))) ignored(`read the freezer state of container ${s.id}`, err);
    }
    return "running";
  }

  /** Whether the container's cgroup is frozen: from the freezer file the create recorded, else the cgroup driver's answer. */
  private async frozen(s: StoredState): Promise<boolean> {
    if (!s.freezer) return (await this.cgroup(s)).frozen();
    let text: string;
    try {
      text = readFileSync(s.freezer.file, "utf8");
    } catch (err) {
      // the cgroup is gone (the container's processes with it): it cannot be paused
      if (isErrno(err, "ENOENT")) return false;
      throw fromErrno(err, `reading ${s.freezer.file}`);
    }
    return s.freezer.version === 1 ? text.trim() === "FROZEN" : /^frozen 1$/m.test(text);
  }

  private view(s: StoredState, status: Status): ContainerState {
    const st: ContainerState = {
      ociVersion: OCI_VERSION,
      id: s.id,
      status,
      bundle: s.bundle,
      rootfs: s.rootfs,
      created: s.created,
      owner: s.owner,
    };
    if (status !== "stopped" && s.pid) st.pid = s.pid;
    else st.pid = 0;
    if (s.spec.annotations) st.annotations = s.spec.annotations;
    return st;
  }

  async create(id: string, opts: CreateOptions): Promise<ContainerState> {
    return (await this.createInternal(id, opts, false)).state;
  }

  private async createInternal(id: string, opts: CreateOptions, autostart: boolean) {
    this.checkId(id);
    const bundle = path.resolve(opts.bundle);
    const { config, plan, shim, cgroupMounts, hostMounts, capabilityNumbers } = await traced("runtime.load", id, launchModules);
    const endConfig = span("runtime.config", id);
    const { spec, rootfs } = opts.spec ? config.checkConfig(opts.spec, bundle) : await config.loadConfig(bundle);
    checkRlimits(spec.process, plan.RLIMIT_NUMBERS);
    checkCapabilities(spec, capabilityNumbers);
    for (const w of config.lsmWarnings(spec)) warn(w);
    endConfig();
    const endSeccomp = span("runtime.seccomp", id);
    const seccomp = spec.linux?.seccomp ? await compileSeccompCached(spec.linux.seccomp) : undefined;
    endSeccomp();
    shim.shimPath();
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const dir = this.dir(id);
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if (isErrno(err, "EEXIST")) throw conflict(`container with id "${id}" already exists`, { code: "container.exists", hint: `delete it first: cove runtime delete ${id}` });
      throw fromErrno(err, `creating the state directory for ${id}`);
    }
    const stored: StoredState = {
      id,
      bundle,
      rootfs,
      created: new Date().toISOString(),
      owner: ownerName(),
      pid: 0,
      initStartTime: "",
      shimPid: 0,
      cgroupsPath: spec.linux?.cgroupsPath,
      spec,
      creating: true,
    };
    if (!hasNamespace(spec, "mount")) {
      const mountPoint = hostMounts.realRootfs(rootfs);
      stored.hostMounts = { mountPoint, before: hostMounts.mountsAt(mountPoint) };
    }
    let cg: CgroupManager | undefined;
    try {
      const endCreating = span("runtime.state", id);
      await this.save(stored);
      endCreating();
      const endCgroup = span("runtime.cgroup", id);
      cg = await this.cgroup(stored);
      try {
        await cg.create();
      } catch (err) {
        if (!cgroupRefusedInUserNamespace(err)) throw err;
        cg = await this.runWithoutCgroup(stored, err);
      }
      endCgroup();
      const baseState = (pid: number, status: Status): State => ({
        ociVersion: OCI_VERSION,
        id,
        status,
        pid,
        bundle,
        ...(spec.annotations ? { annotations: spec.annotations } : {}),
      });
      const endPlan = span("runtime.plan", id);
      const ops = plan.compileCreate({
        spec,
        rootfs,
        stateDir: dir,
        cgroupProcs: cg.procsFiles(),
        cgroupHierarchies: await cgroupMounts.cgroupHierarchies(cg),
        cgroupVersion: cg.version,
        capabilityNumbers,
        seccomp,
        preserveFds: opts.preserveFds,
        consoleSocket: opts.consoleSocket,
        consoleProxy: opts.consoleProxy,
        noPivot: opts.noPivot,
        keepStdio: !opts.io?.pipes,
        io: opts.io,
        autostart,
        rootful: process.getuid?.() === 0,
        inUserNamespace: inUserNamespace(),
        // only a shared rootfsPropagation needs it (see compileCreate)
        ...(spec.linux?.rootfsPropagation?.includes("shared") && hasNamespace(spec, "mount") ? { rootfsMount: hostMounts.mountPointOf(hostMounts.realRootfs(rootfs), readFileSync("/proc/self/mountinfo", "utf8")) } : {}),
        warn,
        hookState: "",
      });
      endPlan();
      // the shim's fork and exec, the clone into new namespaces, the mounts and pivot_root, up to
      // the init waiting at the start fifo (or, for run, the container's exec)
      const endClone = span(autostart ? "runtime.clone+exec" : "runtime.clone", id);
      const handle = await shim.launchShim({
        planFile: path.join(dir, "plan"),
        ops,
        stdio: opts.stdio ?? "inherit",
        preserveFds: opts.preserveFds,
        waitStarted: autostart,
        onSync: async (_name: string, pid: number) => {
          // the lifecycle's steps 3 and 4: the environment exists (step 2 is done), so by the
          // spec's definitions the container is created while these hooks run
          const st = baseState(pid, "created");
          // for the createContainer and startContainer hooks the init runs (the monitor hands
          // this file to it with the sync's answer)
          await (await commonFs()).writeFileAtomic(path.join(dir, StateFile.HOOK_STATE), JSON.stringify(st));
          await runHooks(spec.hooks?.prestart, st, "prestart");
          await runHooks(spec.hooks?.createRuntime, st, "createRuntime");
        },
      });
      endClone();
      const endState = span("runtime.state", id);
      stored.pid = handle.pid;
      stored.shimPid = handle.shimPid;
      stored.initStartTime = (await processStartTime(handle.pid)) ?? "";
      const freezerDir = cg.version === 1 ? cg.paths.freezer : cg.paths.unified;
      if (freezerDir) stored.freezer = { version: cg.version, file: path.join(freezerDir, cg.version === 1 ? "freezer.state" : "cgroup.events") };
      delete stored.creating;
      await this.save(stored);
      endState();
      if (opts.pidFile) await (await commonFs()).writeFileAtomic(path.resolve(opts.pidFile), String(handle.pid));
      // create returns with the monitor on its own; run keeps following it until the exit
      if (!autostart) handle.detach();
      return { state: this.view(stored, autostart ? "running" : "created"), handle, stored, cg };
    } catch (err) {
      await this.cleanup(stored, cg).catch(ignoring(`clean up container ${id} after its create failed`));
      throw err;
    }
  }

  /**
   * A rootless daemon without a delegated cgroup subtree runs its containers without cgroups, as
   * runc's rootless mode does: limits are discarded with a warning (Docker's rootless answer on
   * such hosts), and pause, OOM reports and cgroup statistics are unavailable.
   */
  private async runWithoutCgroup(stored: StoredState, cause: unknown): Promise<CgroupManager> {
    const { NoCgroupManager, hasLimits } = await cgroups();
    const { version } = await (await cgroups()).detectCgroupHost();
    if (!cgroupWarned) {
      cgroupWarned = true;
      warn(`containers run without cgroups (${(cause as Error).message}); give this user a delegated cgroup v2 subtree for resource limits`);
    }
    if (hasLimits(stored.spec.linux?.resources)) {
      warn(`container ${stored.id}: no cgroup to enforce its resource limits in: limitation discarded`);
    }
    stored.cgroupless = true;
    return new NoCgroupManager(version === 2 ? 2 : 1, stored.id, () => stored.pid);
  }

  /** Removes everything a container holds: processes, cgroup, state directory. */
  private async cleanup(s: StoredState, cg?: CgroupManager): Promise<void> {
    const dir = this.dir(s.id);
    if (s.pid && (await processStartTime(s.pid)) === s.initStartTime) {
      try {
        process.kill(s.pid, "SIGKILL");
      } catch (err) {
        // ESRCH: already gone
        if (!isErrno(err, "ESRCH")) ignored(`kill the init process ${s.pid} of container ${s.id}`, err);
      }
    }
    try {
      cg ??= await this.cgroup(s);
      await cg.killAll("SIGKILL");
      // let the monitor record the exit before its directory goes away
      if (s.shimPid && (await isLiveProcess(s.shimPid))) {
        await waitForFile(dir, [StateFile.EXIT], 2000).catch(() => undefined); // a monitor that never writes it is not waited for longer
      }
      await cg.destroy();
      // the parent a daemon made for its containers (/cove, /cove-<tag>) goes when its last container does
      const { isInstanceCgroupParent } = await import("../common/instance.js");
      const { removeSharedParent } = await cgroups();
      for (const dir of new Set(Object.values(cg.paths).map((p) => path.dirname(p)))) {
        if (!isInstanceCgroupParent(path.basename(dir))) continue;
        if (this.keptCgroupParents) this.keptCgroupParents.add(dir);
        else await removeSharedParent(dir);
      }
      if (this.keptCgroupParents?.size) this.removeKeptParentsWhenIdle(removeSharedParent);
    } finally {
      // the mounts the container made in our namespace; if detaching fails the state stays,
      // so that a later delete can try again
      if (s.hostMounts) (await import("./host-mounts.js")).detachMountsAbove(s.hostMounts.mountPoint, s.hostMounts.before);
      if (!(this.stateRemovals && this.renameForRemoval(dir))) {
        // a handful of small files: removed in place (see exists); should one resist (the monitor
        // still writing), the asynchronous removal retries without holding the event loop
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          await rm(dir, { recursive: true, force: true, maxRetries: 3 });
        }
      }
    }
  }

  /** Renames a state directory away and removes it in the background; false when it could not be renamed (it is then removed in place). */
  private renameForRemoval(dir: string): boolean {
    const renamed = path.join(this.root, `${DELETED_PREFIX}${path.basename(dir)}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`);
    try {
      renameSync(dir, renamed);
    } catch (err) {
      // already gone: nothing to remove
      if (isErrno(err, "ENOENT")) return true;
      ignored(`rename the state directory ${dir} for its removal (removed in place instead)`, err);
      return false;
    }
    this.removeInBackground(renamed);
    return true;
  }

  async start(id: string): Promise<void> {
    const s = await this.load(id);
    const status = await this.status(s);
    if (status !== "created") throw conflict(`cannot start a container that is ${status}`, { code: "container.state", hint: status === "stopped" ? `delete it and create it again` : undefined });
    const dir = this.dir(id);
    // from the start fifo's write to the init's exec of the container's process
    const endExec = span("runtime.exec", id);
    // non-blocking: with the init at the other end, a one-byte write into the fifo never waits
    let fd: number | undefined;
    try {
      fd = openSync(path.join(dir, StateFile.START_FIFO), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
      writeSync(fd, "s");
    } catch (err) {
      throw fromErrno(err, `starting container ${id}`, "the container's monitor is gone: delete the container and create it again");
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const outcome = await waitForFile(dir, [StateFile.STARTED, StateFile.START_ERROR, StateFile.EXIT], 30_000);
    endExec();
    if (outcome === StateFile.START_ERROR) {
      const text = readFileSync(path.join(dir, StateFile.START_ERROR), "utf8");
      throw new CoveError("system", `container ${id} failed to start: ${text}`, { code: "runtime.start-failed" });
    }
    try {
      await runHooks(s.spec.hooks?.poststart, this.view(s, "running"), "poststart");
    } catch (err) {
      // the spec says a failing poststart hook is only a warning
      process.emitWarning((err as Error).message);
    }
  }

  async run(id: string, opts: CreateOptions): Promise<ProcessExit> {
    const { handle, stored, cg } = await this.createInternal(id, opts, true);
    opts.onStart?.({ pid: handle.pid, shimPid: handle.shimPid });
    const stopped = () => this.view(stored, "stopped");
    let exit: ProcessExit | undefined;
    try {
      await runHooks(stored.spec.hooks?.poststart, this.view(stored, "running"), "poststart").catch((err) => warn((err as Error).message));
      const exited = await handle.exited;
      exit = { ...exited, oomKilled: await cg.oomKilled(exited).catch(ignoring(`read the OOM kill count of container ${id}`)) };
      return exit;
    } finally {
      handle.detach();
      if (opts.keep) {
        // stays as a stopped container
      } else if (exit) {
        // the monitor reported the exit after recording it: nothing of the container is left
        // to stop, so clean up directly instead of going through delete's state checks
        await this.cleanup(stored, cg);
        await runHooks(stored.spec.hooks?.poststop, stopped(), "poststop").catch((err) => warn((err as Error).message));
      } else {
        await this.delete(id, { force: true });
      }
    }
  }

  async state(id: string): Promise<ContainerState> {
    const s = await this.load(id);
    return this.view(s, await this.status(s));
  }

  async list(): Promise<ContainerState[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw fromErrno(err, `listing ${this.root}`);
    }
    // deleted containers' state directories whose background removal a crash cut short
    const deleted = names.filter((name) => name.startsWith(DELETED_PREFIX));
    if (this.stateRemovals) for (const name of deleted) this.removeInBackground(path.join(this.root, name));
    if (deleted.length > 0) names = names.filter((name) => !name.startsWith(DELETED_PREFIX));
    // read LIST_READS at a time: a daemon restarting over thousands of containers lists them all
    const states = readAhead(names.sort(), LIST_READS, (name) =>
      this.state(name).catch((err: unknown) => {
        // not found: a container being deleted right now; as runc, a state that cannot be read
        // is logged and the listing goes on
        if (!(err instanceof CoveError && err.kind === "not-found")) ignored(`read the state of container ${name}`, err);
        return undefined;
      }),
    );
    const out: ContainerState[] = [];
    for (const [, state] of states) {
      const s = await state;
      if (s) out.push(s);
    }
    return out;
  }

  async kill(id: string, signal: NodeJS.Signals | number | string, opts: { all?: boolean } = {}): Promise<void> {
    const s = await this.load(id);
    const status = await this.status(s);
    const sig = (await import("../docker/signals.js")).parseSignal(signal);
    if (status === "stopped" || status === "creating") throw conflict(`container ${id} is not running`, { code: "container.not-running" });
    if (opts.all) {
      await (await this.cgroup(s)).killAll(sig);
      return;
    }
    try {
      process.kill(s.pid, sig);
    } catch (err) {
      if (!isErrno(err, "ESRCH")) throw fromErrno(err, `signalling container ${id}`);
    }
  }

  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    return traced("runtime.delete", id, () => this.deleteInternal(id, opts));
  }

  private async deleteInternal(id: string, opts: { force?: boolean }): Promise<void> {
    let s: StoredState;
    try {
      s = await this.load(id);
    } catch (err) {
      // as runc: deleting with force what is already gone succeeds (containerd relies on it);
      // a directory a create left before its state was written (a crash) goes with it
      if (opts.force && err instanceof CoveError && err.kind === "not-found") {
        this.checkId(id);
        // the usual case (the engine deletes before every create) has no directory: no thread-pool trip
        if (exists(this.dir(id))) await rm(this.dir(id), { recursive: true, force: true });
        return;
      }
      throw err;
    }
    const status = await this.status(s);
    // A created container goes without --force, although runtime.md asks for an error: its
    // process has not run yet, runc, crun and youki delete it, and containerd's shim relies on
    // that (it deletes a task that never started without --force).
    if ((status === "running" || status === "paused") && !opts.force) {
      throw conflict(`cannot delete container ${id} that is ${status}`, { code: "container.running", hint: "stop it first, or use --force" });
    }
    const cg = await this.cgroup(s);
    if (status === "paused") await cg.thaw().catch(ignoring(`thaw paused container ${id} before deleting it`));
    await this.cleanup(s, cg);
    if (status !== "creating") {
      try {
        await runHooks(s.spec.hooks?.poststop, this.view(s, "stopped"), "poststop");
      } catch (err) {
        process.emitWarning((err as Error).message);
      }
    }
  }

  async wait(id: string): Promise<ProcessExit> {
    const s = await this.load(id);
    const dir = this.dir(id);
    // The monitor writes "exit"; if it was killed, the init's disappearance is all we learn. A
    // live monitor records it once the output is out (a stalled attach client may hold it a while).
    const stop = new AbortController();
    const exitFile = waitForFile(dir, [StateFile.EXIT], 0, stop.signal);
    exitFile.catch(() => undefined); // rejected only by the abort below, once the race is decided
    let timer: NodeJS.Timeout | undefined;
    const initGone = new Promise<void>((resolve) => {
      timer = setInterval(async () => {
        if ((await processStartTime(s.pid)) !== s.initStartTime && !(s.shimPid && (await isLiveProcess(s.shimPid))) && !exists(path.join(dir, StateFile.EXIT))) resolve();
      }, 250);
    });
    const which = await Promise.race([exitFile, initGone.then(() => undefined)]).finally(() => {
      clearInterval(timer);
      stop.abort();
    });
    const exit = which ? parseExit(readFileSync(path.join(dir, StateFile.EXIT), "utf8")) : { code: -1, signal: 0 };
    return { ...exit, oomKilled: await (await this.cgroup(s)).oomKilled(exit).catch(ignoring(`read the OOM kill count of container ${s.id}`)) };
  }

  async exec(id: string, opts: ExecOptions): Promise<ExecHandle> {
    const s = await this.load(id);
    const status = await this.status(s);
    if (status !== "running" && status !== "created") throw conflict(`cannot exec in a ${status} container`, { code: "container.not-running" });
    const cg = await this.cgroup(s);
    const { plan, shim, capabilityNumbers } = await launchModules();
    const join: { type: string; path: string }[] = [];
    for (const ns of s.spec.linux?.namespaces ?? []) {
      const name = plan.NAMESPACE_PROC_NAMES[ns.type];
      if (name) join.push({ type: ns.type, path: `/proc/${s.pid}/ns/${name}` });
    }
    // without a mount namespace to join, the process enters the init's root by chroot
    const chroot = hasNamespace(s.spec, "mount") ? undefined : `/proc/${s.pid}/root`;
    const execId = (await import("node:crypto")).randomBytes(6).toString("hex");
    const exitFile = `exec-${execId}.exit`;
    const dir = this.dir(id);
    const seccompSpec = s.spec.linux?.seccomp;
    // like runc: an exec'd process without its own capabilities gets the container's
    const proc: Process = opts.process.capabilities ? opts.process : { ...opts.process, capabilities: s.spec.process?.capabilities ?? {} };
    checkCapabilities(s.spec, capabilityNumbers, proc);
    const ops = plan.compileExec({
      process: proc,
      warn,
      stateDir: dir,
      exitFile,
      cgroupProcs: cg.procsFiles(),
      join,
      chroot,
      capabilityNumbers,
      seccomp: seccompSpec ? await compileSeccompCached(seccompSpec) : undefined,
      preserveFds: opts.preserveFds,
      consoleSocket: opts.consoleSocket,
      consoleProxy: opts.consoleProxy,
      keepStdio: !opts.io?.pipes,
      io: opts.io,
    });
    const planFile = path.join(dir, `exec-${execId}.plan`);
    try {
      // a process held for its first attach client cannot have started yet
      const waitStarted = !opts.io?.startOnAttach;
      const handle = await shim.launchShim({ planFile, ops, stdio: opts.stdio ?? "inherit", preserveFds: opts.preserveFds, waitStarted });
      if (opts.pidFile) await (await commonFs()).writeFileAtomic(path.resolve(opts.pidFile), String(handle.pid));
      if (opts.detach) {
        // the monitor records the exit in the state dir; nothing here waits for it
        handle.detach();
        let exited: Promise<ProcessExit> | undefined;
        return {
          pid: handle.pid,
          kill: (signal) => signalPid(handle.pid, signal),
          get exited() {
            return (exited ??= waitForFile(dir, [exitFile]).then(async () => parseExit(await readFile(path.join(dir, exitFile), "utf8"))));
          },
        };
      }
      const exited = handle.exited.finally(() => {
        handle.detach();
        void rm(path.join(dir, exitFile), { force: true }).catch(ignoring(`remove the exit file ${exitFile} of an exec in container ${id}`));
      });
      return { pid: handle.pid, exited, kill: (signal) => signalPid(handle.pid, signal) };
    } finally {
      await rm(planFile, { force: true }).catch(ignoring(`remove the exec plan ${planFile}`));
    }
  }

  async pause(id: string): Promise<void> {
    const s = await this.load(id);
    const status = await this.status(s);
    if (status !== "running") throw conflict(`container ${id} is ${status}, not running`, { code: "container.not-running" });
    await (await this.cgroup(s)).freeze();
  }

  async resume(id: string): Promise<void> {
    const s = await this.load(id);
    const status = await this.status(s);
    if (status !== "paused") throw conflict(`container ${id} is ${status}, not paused`, { code: "container.not-paused" });
    await (await this.cgroup(s)).thaw();
  }

  async update(id: string, resources: LinuxResources): Promise<void> {
    const s = await this.load(id);
    const status = await this.status(s);
    if (status === "stopped") throw conflict(`container ${id} is stopped`, { code: "container.not-running" });
    await (await this.cgroup(s)).apply(resources);
    const linux = (s.spec.linux ??= {});
    linux.resources = mergeResources(linux.resources ?? {}, resources);
    await this.save(s);
  }

  async ps(id: string): Promise<number[]> {
    const s = await this.load(id);
    return (await this.cgroup(s)).pids();
  }

  async stats(id: string): Promise<RuntimeStats> {
    const s = await this.load(id);
    return (await this.cgroup(s)).stats();
  }
}

/**
 * Devices every container may use whatever its config says (runc's AllowedDevices): the
 * standard nodes, ptys, and mknod of any node (access to it is still checked). They go after
 * the config's rules, as in runc; linux.devices entries need their own allow rules.
 */
const ALWAYS_ALLOWED_DEVICES: DeviceCgroupRule[] = [
  { allow: true, type: "c", access: "m" },
  { allow: true, type: "b", access: "m" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
  { allow: true, type: "c", major: 136, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" },
];

function cgroupResources(spec: Spec): LinuxResources {
  const resources = spec.linux?.resources ?? {};
  // in a user namespace (a rootless daemon with a delegated cgroup) no device program can be
  // loaded (bpf(2) needs privileges of the initial namespace), and none is needed: the user
  // namespace already bars device nodes the user could not open. runc's rootless mode skips the
  // device rules the same way.
  if (inUserNamespace()) {
    const { devices: _devices, ...rest } = resources;
    return rest;
  }
  return { ...resources, devices: [...(resources.devices ?? []), ...ALWAYS_ALLOWED_DEVICES] };
}

function mergeResources(base: LinuxResources, update: LinuxResources): LinuxResources {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(update)) {
    const prev = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && prev && typeof prev === "object" ? { ...prev, ...v } : v;
  }
  return out as LinuxResources;
}

let cgroupWarned = false;

/** Whether creating a cgroup failed only because a rootless daemon may not write the cgroup tree. */
function cgroupRefusedInUserNamespace(err: unknown): boolean {
  const errno = err instanceof CoveError ? err.errno : (err as NodeJS.ErrnoException | undefined)?.code;
  return inUserNamespace() && (errno === "EACCES" || errno === "EPERM" || errno === "EROFS");
}

/** Loads cgroup v2 device programs through the shim's tool mode (bpf(2) is not in Node). */
const deviceFilterOps = {
  async attachDeviceProgram(cgroupDir: string, insns: Buffer): Promise<void> {
    const { execFile } = await import("node:child_process");
    const { shimPath } = await import("./shim.js");
    const { mkdtemp, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(path.join(tmpdir(), "cove-bpf-"));
    try {
      const file = path.join(dir, "prog");
      await writeFile(file, insns);
      await new Promise<void>((resolve, reject) =>
        execFile(shimPath(), ["--attach-device-filter", cgroupDir, file], (err, _out, stderr) =>
          err ? reject(new CoveError("system", `loading the device filter into ${cgroupDir} failed: ${stderr.trim() || err.message}`, { code: "cgroup.device-filter" })) : resolve(),
        ),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
