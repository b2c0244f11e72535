// Compiles a validated OCI config into the shim's plan. Every decision lives here: which
// namespaces to create or join, how each mount is made, which devices exist, the order of
// hooks, capabilities, user switch and seccomp. The shim only performs the list.

import path from "node:path";
import { invalid, unsupported } from "../../common/errors.js";
import type { Hook, Mount, Process, Spec } from "../spec.js";
import { CLONE, MS, NAMESPACE_FLAGS, PERSONALITY, RLIMIT_NUMBERS, parseMountOptions, propagationFlags } from "./linux.js";
import { Op, type PlanOp } from "./ops.js";

/** A cgroup v1 hierarchy or the v2 tree, as the container's /sys/fs/cgroup should show it. */
export interface CgroupHierarchy {
  /** Directory name under the cgroup mount point ("memory", "cpu,cpuacct", "systemd"; "" for v2). */
  name: string;
  /** Mount data for a fresh cgroupfs mount ("memory", "none,name=systemd"); unused for v2. */
  data: string;
  /** The container's own cgroup directory on the host, for bind mounts without a cgroup namespace. */
  hostDir: string;
}

export interface ProcessOptions {
  /** Capability name → number, from the config module's table. */
  capabilityNumbers: ReadonlyMap<string, number>;
  seccomp?: { program: Buffer; flags: number };
  /** fds 3..3+n-1 stay open in the container (runc --preserve-fds). */
  preserveFds?: number;
  /** Run startContainer hooks after start (create) — empty for exec. */
  startHooks?: Hook[];
  /** stdin of the init's hooks; empty: the state the runtime writes at the sync (hook-state). */
  hookState?: string;
  /** Resolve the executable with the container's PATH before reporting created. */
  resolve?: boolean;
  /** Receives notes about settings that were adjusted (as runc warns). */
  warn?: (message: string) => void;
}

/** Engine mode: the monitor owns the container's stdio, logs it and serves attach clients. */
export interface MonitorIO {
  /** json-file log: path, rotation size in bytes (0 = unbounded) and number of files. */
  /** binary: an entry that is not UTF-8 keeps its bytes (base64 under "bytes"), for a private log such as an exec's. */
  log?: { path: string; maxSize: number; maxFiles: number; binary?: boolean };
  /** Unix socket attach clients connect to (see src/native/shim/io.c for the protocol). */
  attachSocket?: string;
  /** Unix socket on which the daemon hands attach connections over for the monitor to serve (FRAME_DIRECT). */
  directSocket?: string;
  /** Give the container pipes instead of the caller's stdio; stdin only when openStdin. */
  pipes?: { openStdin: boolean; stdinOnce: boolean };
  /** exec only: hold the process until the first attach client connects, so no output is lost. */
  startOnAttach?: boolean;
}

function monitorIoOps(io: MonitorIO | undefined): PlanOp[] {
  const out: PlanOp[] = [];
  if (io?.log) out.push(op(Op.LOG_FILE, `log to ${io.log.path}`, io.log.path, io.log.maxSize, io.log.maxFiles, ...(io.log.binary ? [1] : [])));
  if (io?.attachSocket) out.push(op(Op.ATTACH_SOCKET, `serve attach on ${io.attachSocket}`, io.attachSocket));
  if (io?.directSocket) out.push(op(Op.DIRECT_SOCKET, `take attach connections handed over on ${io.directSocket}`, io.directSocket));
  if (io?.pipes) out.push(op(Op.STDIO_PIPES, "own the container's stdio", io.pipes.openStdin ? 1 : 0, io.pipes.stdinOnce ? 1 : 0));
  return out;
}

export interface CreateInput extends ProcessOptions {
  io?: MonitorIO;
  spec: Spec;
  rootfs: string;
  stateDir: string;
  cgroupProcs: string[];
  cgroupHierarchies: CgroupHierarchy[];
  cgroupVersion: 1 | 2;
  consoleSocket?: string;
  consoleProxy?: boolean;
  autostart?: boolean;
  noPivot?: boolean;
  keepStdio?: boolean;
  /** Whether the caller is root in the initial user namespace (rootful). */
  rootful: boolean;
  /** Whether the caller itself runs in a user namespace (a rootless daemon): no mknod there. */
  inUserNamespace?: boolean;
  /**
   * The mount point holding the root filesystem, as the caller's mountinfo shows it: with a shared
   * rootfsPropagation it is made private in the new namespace before the root is bound and pivoted.
   */
  rootfsMount?: string;
}

const DEFAULT_DEVICES = [
  { path: "/dev/null", major: 1, minor: 3 },
  { path: "/dev/zero", major: 1, minor: 5 },
  { path: "/dev/full", major: 1, minor: 7 },
  { path: "/dev/random", major: 1, minor: 8 },
  { path: "/dev/urandom", major: 1, minor: 9 },
  { path: "/dev/tty", major: 5, minor: 0 },
];

const DEV_SYMLINKS: [string, string][] = [
  ["/proc/self/fd", "/dev/fd"],
  ["/proc/self/fd/0", "/dev/stdin"],
  ["/proc/self/fd/1", "/dev/stdout"],
  ["/proc/self/fd/2", "/dev/stderr"],
  ["pts/ptmx", "/dev/ptmx"],
];

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

function op(code: PlanOp["code"], what: string, ...args: PlanOp["args"]): PlanOp {
  return { code, args, what };
}

function mapText(mappings: { containerID: number; hostID: number; size: number }[]): string {
  return mappings.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join("");
}

function hookOp(h: Hook, state: string, phase: string): PlanOp {
  const args = h.args && h.args.length ? h.args : [h.path];
  return op(Op.HOOK, `${phase} hook ${h.path}`, h.path, h.timeout ?? 0, state, args.length, ...args, ...(h.env ?? []));
}

function capMask(names: readonly string[] | undefined, table: ReadonlyMap<string, number>, set: string): bigint {
  let mask = 0n;
  for (const name of names ?? []) {
    const n = table.get(name);
    if (n === undefined) throw invalid(`process.capabilities.${set}: unknown capability ${name}`, { field: `process.capabilities.${set}` });
    mask |= 1n << BigInt(n);
  }
  return mask;
}

/** The absolute path a mount destination names inside the container, cleaned. */
function cleanDestination(dest: string): string {
  const cleaned = path.posix.normalize(path.posix.join("/", dest));
  return cleaned.length > 1 && cleaned.endsWith("/") ? cleaned.slice(0, -1) : cleaned;
}

function mountOps(m: Mount, input: CreateInput, userns: boolean, newNetns: boolean, hasCgroupns: boolean): PlanOp[] {
  const dest = cleanDestination(m.destination);
  const opts = parseMountOptions(m.options);
  const type = m.type ?? "";
  let flags = opts.flags;
  if (type === "bind") flags |= MS.BIND;
  const data = opts.data.join(",");
  const source = m.source ?? type;
  const args = (src: string, dst: string, fstype: string, f: number, d: string, create: string, prop = opts.propagation) =>
    op(Op.MOUNT, `mount ${src} on ${dst}`, src, dst, fstype, f, d, create, prop, opts.attrSet, opts.attrClr);

  if (type === "cgroup" || type === "cgroup2") {
    return cgroupMountOps(dest, flags, input, userns, hasCgroupns);
  }
  if (type === "sysfs" && userns && !newNetns) {
    // sysfs cannot be mounted in a user namespace that does not own its network namespace
    return [args("/sys", dest, "", MS.BIND | MS.REC | (flags & ~MS.BIND), "", "dir")];
  }
  if (flags & MS.BIND) {
    if (!m.source) throw invalid(`mounts: bind mount on ${m.destination} needs a source`, { field: "mounts.source" });
    return [args(m.source, dest, "", flags, "", "auto")];
  }
  return [args(source, dest, type, flags, data, "dir")];
}

function cgroupMountOps(dest: string, flags: number, input: CreateInput, userns: boolean, hasCgroupns: boolean): PlanOp[] {
  const ro = flags & MS.RDONLY;
  const base = MS.NOSUID | MS.NODEV | MS.NOEXEC;
  const mount = (src: string, dst: string, fstype: string, f: number, data: string) =>
    op(Op.MOUNT, `mount cgroup ${src} on ${dst}`, src, dst, fstype, f, data, "dir", 0, 0, 0);
  if (input.cgroupVersion === 2) {
    const h = input.cgroupHierarchies[0];
    if (hasCgroupns || !h) return [mount("cgroup2", dest, "cgroup2", base | ro, "")];
    return [mount(h.hostDir, dest, "", MS.BIND | MS.REC | base | ro, "")];
  }
  const out: PlanOp[] = [mount("tmpfs", dest, "tmpfs", base, "mode=755")];
  for (const h of input.cgroupHierarchies) {
    const sub = `${dest}/${h.name}`;
    if (hasCgroupns && !userns) out.push(mount("cgroup", sub, "cgroup", base | ro, h.data));
    else if (!h.hostDir) continue; // the container is not in this hierarchy
    else out.push(mount(h.hostDir, sub, "", MS.BIND | MS.REC | base | ro, ""));
    // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct", as on the host
    if (h.name.includes(",")) for (const part of h.name.split(",")) out.push(op(Op.SYMLINK, `link ${part}`, h.name, `${dest}/${part}`));
  }
  if (ro) out.push(mount("tmpfs", dest, "tmpfs", MS.REMOUNT | MS.RDONLY | base, "mode=755"));
  return out;
}

/** Ops that turn the init (or an exec'd process) into the configured process, up to exec. */
export function processOps(proc: Process, o: ProcessOptions, phase: "init" | "exec"): PlanOp[] {
  const out: PlanOp[] = [];
  const table = o.capabilityNumbers;
  // Before any seccomp filter: profiles that predate close_range (older Docker and Kubernetes
  // ones, runtime-tools' default) refuse it. The fds only close at exec, so marking them this
  // early changes nothing for the ops in between.
  out.push(op(Op.CLOSE_FDS, "close inherited file descriptors", 3 + (o.preserveFds ?? 0)));
  for (const r of proc.rlimits ?? []) {
    const n = RLIMIT_NUMBERS[r.type];
    if (n === undefined) throw invalid(`process.rlimits: unknown limit ${r.type}`, { field: "process.rlimits.type" });
    out.push(op(Op.RLIMIT, `set ${r.type} to ${r.soft}/${r.hard}`, n, BigInt.asIntN(64, BigInt(r.soft)), BigInt.asIntN(64, BigInt(r.hard))));
  }
  if (proc.cwd) out.push(op(Op.CHDIR, `change to working directory ${proc.cwd}`, proc.cwd));
  const nnp = proc.noNewPrivileges === true;
  if (nnp) out.push(op(Op.NO_NEW_PRIVS, "set no_new_privs"));
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before dropping caps.
  if (o.seccomp && !nnp) out.push(op(Op.SECCOMP, "load the seccomp filter", o.seccomp.flags, o.seccomp.program));
  const caps = proc.capabilities;
  const user = proc.user;
  out.push(op(Op.KEEPCAPS, "keep capabilities across the user switch", 1));
  // no capabilities given means none, in the bounding set too (else root regains all at exec)
  out.push(op(Op.CAPBSET, "limit the bounding capability set", caps ? capMask(caps.bounding, table, "bounding") : 0n));
  out.push(op(Op.GROUPS, `set supplementary groups ${(user.additionalGids ?? []).join(",")}`, ...(user.additionalGids ?? [])));
  out.push(op(Op.SETGID, `switch to gid ${user.gid}`, user.gid));
  out.push(op(Op.SETUID, `switch to uid ${user.uid}`, user.uid));
  out.push(op(Op.KEEPCAPS, "stop keeping capabilities", 0));
  if (caps) {
    const permitted = capMask(caps.permitted, table, "permitted");
    const inheritable = capMask(caps.inheritable, table, "inheritable");
    const ambient = capMask(caps.ambient, table, "ambient");
    out.push(op(Op.CAPSET, "set effective, permitted and inheritable capabilities", capMask(caps.effective, table, "effective"), permitted, inheritable));
    // The kernel raises an ambient capability only if it is permitted and inheritable; runc
    // warns and goes on, so configs written for it (runc spec lists ambient alone) still run.
    const raisable = ambient & permitted & inheritable;
    if (raisable !== ambient) o.warn?.("process.capabilities.ambient: capabilities that are not also permitted and inheritable cannot be ambient; they are left out");
    out.push(op(Op.AMBIENT, "set ambient capabilities", raisable));
  } else {
    out.push(op(Op.CAPSET, "clear capabilities", 0, 0, 0));
  }
  out.push(op(Op.UMASK, `set umask ${(user.umask ?? 0o022).toString(8)}`, user.umask ?? 0o022));
  const args = proc.args ?? [];
  if (args.length === 0) throw invalid("process.args: no command to run", { field: "process.args" });
  const env = proc.env ?? [];
  const pathVar = env.find((e) => e.startsWith("PATH="))?.slice(5) ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (o.resolve !== false) out.push(op(Op.RESOLVE, `find executable ${args[0]}`, args[0]!, pathVar));
  out.push(op(Op.WAIT_START, phase === "init" ? "wait for start" : "begin"));
  for (const h of o.startHooks ?? []) out.push(hookOp(h, o.hookState ?? "", "startContainer"));
  if (o.seccomp && nnp) out.push(op(Op.SECCOMP, "load the seccomp filter", o.seccomp.flags, o.seccomp.program));
  out.push(op(Op.EXEC, `exec ${args[0]}`, args.length, ...args, ...env));
  return out;
}

export function compileCreate(input: CreateInput): PlanOp[] {
  const { spec } = input;
  const linux = spec.linux ?? {};
  const proc = spec.process;
  if (!proc) throw invalid("config.json has no process to run", { field: "process" });
  const namespaces = linux.namespaces ?? [];
  const has = (t: string) => namespaces.some((n) => n.type === t);
  const created = (t: string) => namespaces.some((n) => n.type === t && !n.path);
  const userns = has("user");
  const out: PlanOp[] = [];

  // monitor options
  out.push(op(Op.STATE_DIR, "state directory", input.stateDir));
  for (const f of input.cgroupProcs) out.push(op(Op.CGROUP_PROCS, `join cgroup ${path.dirname(f)}`, f));
  if (created("user")) {
    if (!input.rootful) out.push(op(Op.SETGROUPS, "deny setgroups in the user namespace", "deny"));
    out.push(op(Op.UID_MAP, "write the uid mapping", mapText(linux.uidMappings ?? [])));
    out.push(op(Op.GID_MAP, "write the gid mapping", mapText(linux.gidMappings ?? [])));
  }
  if (proc.oomScoreAdj !== undefined) out.push(op(Op.OOM_SCORE_ADJ, `set oom_score_adj to ${proc.oomScoreAdj}`, proc.oomScoreAdj));
  if (input.consoleSocket) out.push(op(Op.CONSOLE_SOCKET, "console socket", input.consoleSocket));
  if (input.consoleProxy) out.push(op(Op.CONSOLE_PROXY, "relay the terminal"));
  if (input.keepStdio) out.push(op(Op.KEEP_STDIO, "keep stdio"));
  if (input.autostart) out.push(op(Op.AUTOSTART, "start at once"));
  out.push(...monitorIoOps(input.io));

  // namespaces: join the user namespace first so later ones are owned by it
  const joins = namespaces.filter((n) => n.path);
  joins.sort((a, b) => (a.type === "user" ? -1 : b.type === "user" ? 1 : 0));
  for (const n of joins) out.push(op(Op.JOIN_NS, `join ${n.type} namespace ${n.path}`, NAMESPACE_FLAGS[n.type]!, n.path!));
  if (created("user")) out.push(op(Op.UNSHARE, "create the user namespace", CLONE.NEWUSER));
  let flags = 0;
  for (const n of namespaces) if (!n.path && n.type !== "user") flags |= NAMESPACE_FLAGS[n.type]!;
  if (flags) out.push(op(Op.UNSHARE, "create namespaces", flags));
  if (linux.timeOffsets && created("time")) {
    const clocks: Record<string, string> = { monotonic: "monotonic", boottime: "boottime" };
    const text = Object.entries(linux.timeOffsets)
      .map(([clock, v]) => `${clocks[clock] ?? clock} ${v.secs ?? 0} ${v.nanosecs ?? 0}\n`)
      .join("");
    out.push(op(Op.TIMENS_OFFSETS, "write time namespace offsets", text));
  }
  out.push(op(Op.FORK, "start the container init"));

  // container init
  out.push(op(Op.SETSID, "start a new session"));
  // Without a mount namespace in the config the container inherits the caller's (as the spec
  // says of every namespace not listed): its mounts are made there, on a bind of the root
  // filesystem that the runtime detaches at delete, and chroot stands in for pivot_root.
  const ownMountNs = has("mount");
  const rootProp = linux.rootfsPropagation ? propagationFlags(linux.rootfsPropagation) : undefined;
  // Slave first: container mounts must not reach the host, and pivot_root refuses a shared root.
  // The configured propagation is applied to the new root after the pivot. A shared one (a bind
  // with rshared, the CRI's bidirectional mounts) keeps the host's shared mounts shared instead,
  // as runc does: a bind of one joins the host's peer group, so a mount made on it inside the
  // container reaches the host and back. The mount holding the root filesystem is made private
  // then, which pivot_root needs and which keeps the container's own mounts (proc, dev, its
  // other binds) from reaching the host.
  const sharedRoot = ownMountNs && rootProp !== undefined && (rootProp & MS.SHARED) !== 0 && input.rootfsMount !== undefined;
  if (sharedRoot) {
    out.push(op(Op.PROPAGATION, "keep the host's shared mounts shared (rootfsPropagation shared)", "/", MS.SHARED | MS.REC));
    out.push(op(Op.PROPAGATION, `keep container mounts under ${input.rootfsMount} from reaching the host`, input.rootfsMount!, MS.PRIVATE));
  } else if (ownMountNs) out.push(op(Op.PROPAGATION, "keep container mounts from reaching the host", "/", MS.SLAVE | MS.REC));
  out.push(op(Op.ROOT, "resolve paths from the host root", "/"));
  // in the caller's namespace the bind itself is made a slave, so nothing mounted on it
  // propagates back to the host's mounts
  const rootBindPropagation = ownMountNs ? 0 : MS.SLAVE | MS.REC;
  out.push(op(Op.MOUNT, `bind the root filesystem ${input.rootfs}`, input.rootfs, input.rootfs, "", MS.BIND | MS.REC, "", "none", rootBindPropagation, 0, 0));
  out.push(op(Op.ROOT, "resolve paths in the root filesystem", input.rootfs));

  const mounts = spec.mounts ?? [];
  for (const m of mounts) out.push(...mountOps(m, input, userns, created("network"), has("cgroup")));

  const devBound = mounts.some((m) => cleanDestination(m.destination) === "/dev" && (m.type === "bind" || (m.options ?? []).some((x) => x === "bind" || x === "rbind")));
  if (!devBound) {
    const configured = new Set((linux.devices ?? []).map((d) => d.path));
    for (const d of DEFAULT_DEVICES) {
      if (configured.has(d.path)) continue;
      out.push(...deviceOps({ type: "c", path: d.path, major: d.major, minor: d.minor, fileMode: 0o666, uid: 0, gid: 0 }, userns || input.inUserNamespace === true));
    }
    for (const [target, link] of DEV_SYMLINKS) out.push(op(Op.SYMLINK, `link ${link} to ${target}`, target, link));
  }
  for (const d of linux.devices ?? []) out.push(...deviceOps(d, userns || input.inUserNamespace === true));

  const state = input.hookState ?? "";
  // One sync serves both sides: the runtime runs its hooks then, and writes the state that
  // createContainer and startContainer hooks get on stdin (it knows the init's pid by now).
  const hookCount = (name: keyof NonNullable<Spec["hooks"]>) => spec.hooks?.[name]?.length ?? 0;
  if (hookCount("prestart") + hookCount("createRuntime") + hookCount("createContainer") + hookCount("startContainer") > 0) {
    out.push(op(Op.SYNC, "run prestart and createRuntime hooks", "createRuntime"));
  }
  for (const h of spec.hooks?.createContainer ?? []) out.push(hookOp(h, state, "createContainer"));

  if (!ownMountNs) out.push(op(Op.CHROOT, `chroot to ${input.rootfs} (no mount namespace of its own)`, input.rootfs));
  else if (input.noPivot) out.push(op(Op.MOVE_ROOT, `move ${input.rootfs} to / (no pivot_root)`, input.rootfs));
  else out.push(op(Op.PIVOT_ROOT, `pivot_root to ${input.rootfs}`, input.rootfs));
  // on the root mount only: mounts below keep the propagation their own options gave them
  if (rootProp !== undefined) out.push(op(Op.PROPAGATION, `set ${linux.rootfsPropagation} propagation on /`, "/", rootProp & ~MS.REC));

  if (proc.terminal) {
    const size = proc.consoleSize;
    out.push(op(Op.CONSOLE, "create the terminal", size?.height ?? 0, size?.width ?? 0, proc.user.uid, proc.user.gid));
  }
  if (spec.root?.readonly) out.push(op(Op.REMOUNT_ROOT_RO, "make the root filesystem read-only"));
  if (spec.hostname !== undefined && spec.hostname !== "") {
    if (!created("uts") && !has("uts")) throw invalid("hostname: setting a hostname needs a uts namespace", { field: "hostname" });
    out.push(op(Op.HOSTNAME, `set hostname ${spec.hostname}`, spec.hostname));
  }
  if (spec.domainname) out.push(op(Op.DOMAINNAME, `set domainname ${spec.domainname}`, spec.domainname));
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) {
    out.push(op(Op.SYSCTL, `set sysctl ${key}=${value}`, key.replace(/\./g, "/"), value));
  }
  for (const p of linux.readonlyPaths ?? []) out.push(op(Op.READONLY, `make ${p} read-only`, p));
  for (const p of linux.maskedPaths ?? []) out.push(op(Op.MASK, `mask ${p}`, p));
  if (linux.personality) {
    const persona = PERSONALITY[linux.personality.domain];
    if (persona === undefined) throw invalid(`linux.personality.domain: unknown domain ${linux.personality.domain}`, { field: "linux.personality.domain" });
    out.push(op(Op.PERSONALITY, `set personality ${linux.personality.domain}`, persona));
  }
  out.push(...processOps(proc, { ...input, startHooks: spec.hooks?.startContainer, hookState: state }, "init"));
  return out;
}

function deviceOps(d: { type: string; path: string; major?: number; minor?: number; fileMode?: number; uid?: number; gid?: number }, userns: boolean): PlanOp[] {
  const dest = cleanDestination(d.path);
  if (userns) {
    // mknod is not allowed in a user namespace: bind the host's node instead, as runc does
    return [op(Op.MOUNT, `bind device ${d.path}`, d.path, dest, "", MS.BIND, "", "file", 0, 0, 0)];
  }
  const kind = d.type === "b" ? S_IFBLK : d.type === "p" ? S_IFIFO : d.type === "c" || d.type === "u" ? S_IFCHR : undefined;
  if (kind === undefined) throw unsupported(`linux.devices: device type ${d.type} of ${d.path} is not supported`, { field: "linux.devices.type" });
  const mode = kind | ((d.fileMode ?? 0o666) & 0o7777);
  return [op(Op.MKNOD, `create device ${d.path}`, dest, mode, d.major ?? 0, d.minor ?? 0, d.uid ?? 0, d.gid ?? 0)];
}

export interface ExecInput extends ProcessOptions {
  io?: MonitorIO;
  process: Process;
  stateDir: string;
  exitFile: string;
  cgroupProcs: string[];
  /** Namespace files of the container init to join, user first. */
  join: { type: string; path: string }[];
  /** The container's root as the caller sees it (/proc/<init>/root), when the container has no
   * mount namespace to join. */
  chroot?: string;
  consoleSocket?: string;
  consoleProxy?: boolean;
  keepStdio?: boolean;
}

/** A plan that runs one more process inside a running container (runc exec). */
export function compileExec(input: ExecInput): PlanOp[] {
  const out: PlanOp[] = [];
  out.push(op(Op.STATE_DIR, "state directory", input.stateDir));
  out.push(op(Op.EXIT_FILE, "exit status file", input.exitFile));
  for (const f of input.cgroupProcs) out.push(op(Op.CGROUP_PROCS, `join cgroup ${path.dirname(f)}`, f));
  if (input.process.oomScoreAdj !== undefined) out.push(op(Op.OOM_SCORE_ADJ, "set oom_score_adj", input.process.oomScoreAdj));
  if (input.consoleSocket) out.push(op(Op.CONSOLE_SOCKET, "console socket", input.consoleSocket));
  if (input.consoleProxy) out.push(op(Op.CONSOLE_PROXY, "relay the terminal"));
  if (input.keepStdio) out.push(op(Op.KEEP_STDIO, "keep stdio"));
  // with an attach socket the caller may ask to start only once it is connected
  if (input.io?.startOnAttach && input.io.attachSocket) out.push(op(Op.START_ON_ATTACH, "start when the first client attaches"));
  else out.push(op(Op.AUTOSTART, "start at once"));
  out.push(...monitorIoOps(input.io));
  const joins = [...input.join].sort((a, b) => (a.type === "user" ? -1 : b.type === "user" ? 1 : 0));
  for (const n of joins) out.push(op(Op.JOIN_NS, `join the container's ${n.type} namespace`, NAMESPACE_FLAGS[n.type]!, n.path));
  out.push(op(Op.FORK, "start the process"));
  if (input.chroot) out.push(op(Op.CHROOT, "enter the container's root filesystem", input.chroot));
  if (input.process.terminal) {
    out.push(op(Op.SETSID, "start a new session"));
    const size = input.process.consoleSize;
    out.push(op(Op.CONSOLE, "create the terminal", size?.height ?? 0, size?.width ?? 0, input.process.user.uid, input.process.user.gid));
  }
  out.push(...processOps(input.process, input, "exec"));
  return out;
}

export interface RuntimeMonitorInput {
  stateDir: string;
  /** Name of the exit status file in stateDir (default "exit"). */
  exitFile?: string;
  /** The runtime's command line: its create, or its exec with --detach. */
  command: string[];
  /** Where the command writes the process's pid (its --pid-file). */
  pidFile: string;
  /** Socket the monitor listens on for the pty master (the command's --console-socket). */
  consoleSocket?: string;
  /** The command leaves the process running (exec --detach): report it started at once. */
  started?: boolean;
  io?: MonitorIO;
}

/** A plan that makes the monitor run another OCI runtime's command and adopt its process. */
export function compileRuntimeMonitor(input: RuntimeMonitorInput): PlanOp[] {
  const out: PlanOp[] = [op(Op.STATE_DIR, "state directory", input.stateDir)];
  if (input.exitFile) out.push(op(Op.EXIT_FILE, "exit status file", input.exitFile));
  if (input.started) out.push(op(Op.AUTOSTART, "the command starts the process"));
  // the command starts the process: held until the caller's first attach client is there
  if (input.io?.startOnAttach && input.io.attachSocket) out.push(op(Op.START_ON_ATTACH, "run the command when the first client attaches"));
  out.push(...monitorIoOps(input.io));
  if (input.consoleSocket) out.push(op(Op.RUNTIME_CONSOLE, `receive the terminal on ${input.consoleSocket}`, input.consoleSocket));
  out.push(op(Op.RUNTIME_PID_FILE, "the process's pid file", input.pidFile));
  out.push(op(Op.RUNTIME_CMD, `run ${input.command.slice(0, 1).join(" ")}`, ...input.command));
  return out;
}
