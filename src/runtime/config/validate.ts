// Validation of an OCI config.json: first the runtime spec's JSON schema, then the rules the schema
// cannot express, the ones runc's libcontainer/configs/validate and crun enforce (namespaces needed
// by hostname and sysctls, user namespace mappings, capability and rlimit names, mount paths, a
// rootfs that exists). Every problem names its field; all of them are reported in one CoveError.

import { readFileSync, realpathSync, statSync, existsSync } from "node:fs";
import path from "node:path";
import { CoveError, invalid } from "../../common/errors.js";
import type { IdMapping, Namespace, NamespaceType, Spec } from "../spec.js";
import { CAPABILITIES, IPC_SYSCTLS, RLIMITS } from "./constants.js";
import { child, schemaProblems, type Problem } from "./schema.js";

export interface ValidateOptions {
  /**
   * The bundle directory. A relative root.path resolves against it and the rootfs must exist
   * there as a directory. Without a bundle no filesystem checks are made.
   */
  bundle?: string;
  /** The document's name in messages. Default "config.json". */
  source?: string;
}

export interface ValidatedBundle {
  spec: Spec;
  /** Absolute, symlink-free path of the root filesystem; set when a bundle was given. */
  rootfs?: string;
}

const CAP_NAMES: ReadonlySet<string> = new Set(CAPABILITIES.map((c) => c.name));
const RLIMIT_NAMES: ReadonlySet<string> = new Set(RLIMITS.map((r) => r.name));
const CAP_SETS = ["bounding", "effective", "inheritable", "permitted", "ambient"] as const;
const OTHER_PLATFORMS: Readonly<Record<string, string>> = {
  windows: "Windows",
  solaris: "Solaris",
  vm: "virtual-machine",
  zos: "z/OS",
  freebsd: "FreeBSD",
};
const OCI_1X = /^1\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
/** The kernel accepts at most this many lines in uid_map/gid_map (since Linux 4.15). */
const MAX_ID_MAP_LINES = 340;

/**
 * Validates a parsed config.json: schema first, then cove's semantic checks. Returns the same
 * object typed as Spec, or throws one CoveError (kind "invalid", code "config.invalid") listing
 * every problem, each line `config.json: <field>: <what is wrong>`; `field` is the first one.
 */
export function validateSpec(spec: unknown, opts: ValidateOptions = {}): Spec {
  return validateBundleSpec(spec, opts).spec;
}

/** validateSpec, also returning the resolved rootfs when opts.bundle is given. */
export function validateBundleSpec(spec: unknown, opts: ValidateOptions = {}): ValidatedBundle {
  const source = opts.source ?? "config.json";
  const schema = schemaProblems("config", spec);
  if (schema.length > 0) {
    // Still run the semantic checks, so the user sees every problem at once; skip what they say
    // about fields the schema already rejected (a check that trips over a wrong type stops early).
    const isObject = typeof spec === "object" && spec !== null && !Array.isArray(spec);
    const more = isObject ? semanticProblems(spec as Spec, opts).problems : [];
    const extra = more.filter((m) => !schema.some((s) => within(m.field, s.field)));
    throw problemsError(source, [...schema, ...extra]);
  }
  const checked = semanticProblems(spec as Spec, opts);
  if (checked.problems.length > 0) throw problemsError(source, checked.problems);
  return checked.rootfs !== undefined ? { spec: spec as Spec, rootfs: checked.rootfs } : { spec: spec as Spec };
}

/** True when `field` is `parent` or lies under it (or either is the whole document). */
function within(field: string, parent: string): boolean {
  if (parent === "" || field === parent) return true;
  return field.startsWith(`${parent}.`) || field.startsWith(`${parent}[`) || parent.startsWith(`${field}.`) || parent.startsWith(`${field}[`);
}

/** One CoveError for a list of problems. */
export function problemsError(source: string, problems: Problem[]): CoveError {
  const lines = problems.map((p) => `${source}: ${p.field === "" ? "" : `${p.field}: `}${p.message}`);
  const hints = [...new Set(problems.flatMap((p) => (p.hint ? [p.hint] : [])))];
  return invalid(lines.join("\n"), {
    code: "config.invalid",
    field: problems[0]?.field ?? "",
    ...(hints.length > 0 ? { hint: hints.join("\n  hint: ") } : {}),
  });
}

// ---------------------------------------------------------------------------------------------

type Report = (field: string, message: string, hint?: string) => void;

interface NsInfo {
  index: number;
  path?: string;
}

/** Runs every semantic check on a schema-valid spec; returns all problems found. */
export function semanticProblems(spec: Spec, opts: ValidateOptions = {}): { problems: Problem[]; rootfs?: string } {
  const problems: Problem[] = [];
  const report: Report = (field, message, hint) => problems.push(hint !== undefined ? { field, message, hint } : { field, message });

  // Each check runs on its own: on a document that failed the schema one may meet a wrong type
  // and throw; its earlier findings stand and the other checks still run.
  const guard = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof TypeError) return fallback;
      throw err;
    }
  };
  const noNs = new Map<NamespaceType, NsInfo>();
  guard(() => checkVersion(spec, report), undefined);
  guard(() => checkPlatform(spec, report), undefined);
  const rootfs = guard(() => checkRoot(spec, opts.bundle, report), undefined);
  guard(() => checkProcess(spec, report), undefined);
  guard(() => checkCapabilities(spec, report), undefined);
  guard(() => checkRlimits(spec, report), undefined);
  const ns = guard(() => checkNamespaces(spec, report), noNs);
  guard(() => checkUts(spec, ns, report), undefined);
  guard(() => checkIdMappings(spec, ns, report), undefined);
  guard(() => checkTime(spec, ns, report), undefined);
  guard(() => checkSysctl(spec, ns, report), undefined);
  guard(() => checkMounts(spec, report), undefined);
  guard(() => checkPaths(spec, ns, report), undefined);
  guard(() => checkDevices(spec, report), undefined);
  guard(() => checkSeccomp(spec, report), undefined);
  return rootfs !== undefined ? { problems, rootfs } : { problems };
}

function checkVersion(spec: Spec, report: Report): void {
  if (typeof spec.ociVersion !== "string" || spec.ociVersion === "") {
    report("ociVersion", "is required", 'set it to the spec version the config follows, e.g. "1.2.0"');
  } else if (!OCI_1X.test(spec.ociVersion)) {
    report(
      "ociVersion",
      `must be a 1.x version such as 1.2.0 (got ${JSON.stringify(spec.ociVersion)})`,
      "cove implements OCI runtime spec 1.x; regenerate the config with `cove runtime spec` or update ociVersion",
    );
  }
}

function checkPlatform(spec: Spec, report: Report): void {
  const doc = spec as unknown as Record<string, unknown>;
  for (const [key, name] of Object.entries(OTHER_PLATFORMS)) {
    if (doc[key] !== undefined) {
      report(key, `is the ${name} section; cove runs Linux containers only`, `remove "${key}" and describe the container under "linux"`);
    }
  }
}

function checkRoot(spec: Spec, bundle: string | undefined, report: Report): string | undefined {
  const root = spec.root;
  if (!root) {
    report("root", "is required: cove needs a root filesystem", 'add "root": {"path": "rootfs"} and put the container\'s files there');
    return undefined;
  }
  if (root.path === "") {
    report("root.path", "must not be empty", 'use "rootfs" (relative to the bundle) or an absolute path');
    return undefined;
  }
  if (bundle === undefined) return undefined;
  const abs = path.resolve(bundle, root.path);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      report("root.path", `root filesystem ${abs} does not exist`, "create it (for example by unpacking an image there) or point root.path at an existing directory");
    } else {
      report("root.path", `cannot resolve root filesystem ${abs}: ${code ?? String(err)}`);
    }
    return undefined;
  }
  try {
    if (!statSync(real).isDirectory()) {
      report("root.path", `root filesystem ${abs} is not a directory`, "root.path must name a directory holding the container's files");
      return undefined;
    }
  } catch (err) {
    report("root.path", `cannot stat root filesystem ${abs}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return undefined;
  }
  return real;
}

function checkProcess(spec: Spec, report: Report): void {
  const proc = spec.process;
  if (!proc) return;
  if (typeof proc.cwd === "string" && !path.posix.isAbsolute(proc.cwd)) {
    report("process.cwd", `must be an absolute path (got ${JSON.stringify(proc.cwd)})`, 'use a path inside the container starting with "/", e.g. "/"');
  }
  if (!proc.args || proc.args.length === 0) {
    report("process.args", "must name the program to run", 'e.g. "args": ["sh"]');
  } else if (proc.args[0] === "") {
    report("process.args[0]", "must not be empty: it is the program to run");
  }
  for (const id of ["uid", "gid"] as const) {
    const v = proc.user[id];
    if (!Number.isInteger(v) || v < 0) report(`process.user.${id}`, `must be an integer >= 0 (got ${String(v)})`);
  }
  proc.env?.forEach((e, i) => {
    const eq = e.indexOf("=");
    if (eq <= 0) report(`process.env[${i}]`, `must be NAME=value (got ${JSON.stringify(e)})`);
  });
  if (proc.oomScoreAdj !== undefined && (proc.oomScoreAdj < -1000 || proc.oomScoreAdj > 1000)) {
    report("process.oomScoreAdj", `must be between -1000 and 1000 (got ${proc.oomScoreAdj})`);
  }
}

function checkCapabilities(spec: Spec, report: Report): void {
  const caps = spec.process?.capabilities;
  if (caps) {
    for (const set of CAP_SETS) {
      caps[set]?.forEach((name, i) => {
        if (CAP_NAMES.has(name)) return;
        const guess = CAP_NAMES.has(`CAP_${name.toUpperCase()}`) ? `CAP_${name.toUpperCase()}` : CAP_NAMES.has(name.toUpperCase()) ? name.toUpperCase() : undefined;
        report(
          `process.capabilities.${set}[${i}]`,
          `unknown capability ${JSON.stringify(name)} in the ${set} set`,
          guess ? `did you mean ${guess}?` : "capabilities are written like CAP_NET_ADMIN; `cove runtime features` lists them",
        );
      });
    }
  }
}

function checkRlimits(spec: Spec, report: Report): void {
  const seen = new Map<string, number>();
  spec.process?.rlimits?.forEach((r, i) => {
    const field = `process.rlimits[${i}]`;
    if (!RLIMIT_NAMES.has(r.type)) {
      report(`${field}.type`, `unknown resource limit ${JSON.stringify(r.type)}`, `use one of ${RLIMITS.map((l) => l.name).join(", ")}`);
    }
    const first = seen.get(r.type);
    if (first !== undefined) report(`${field}.type`, `duplicate ${r.type} (first at process.rlimits[${first}])`, "give each rlimit type once");
    else seen.set(r.type, i);
    if (r.soft > r.hard) report(`${field}.soft`, `soft limit ${r.soft} is above the hard limit ${r.hard}`, "the soft limit must be <= the hard limit");
  });
}

function checkNamespaces(spec: Spec, report: Report): Map<NamespaceType, NsInfo> {
  const ns = new Map<NamespaceType, NsInfo>();
  (spec.linux?.namespaces ?? []).forEach((n: Namespace, i) => {
    const field = `linux.namespaces[${i}]`;
    const first = ns.get(n.type);
    if (first !== undefined) {
      report(`${field}.type`, `duplicate ${JSON.stringify(n.type)} namespace (first at linux.namespaces[${first.index}])`, "list each namespace type once");
      return;
    }
    if (n.path !== undefined) {
      if (!path.posix.isAbsolute(n.path)) {
        report(`${field}.path`, `must be an absolute path (got ${JSON.stringify(n.path)})`, "use a path such as /proc/<pid>/ns/net or /run/netns/<name>");
      }
    }
    ns.set(n.type, n.path !== undefined && n.path !== "" ? { index: i, path: n.path } : { index: i });
  });
  return ns;
}

function checkUts(spec: Spec, ns: Map<NamespaceType, NsInfo>, report: Report): void {
  if (ns.has("uts")) return;
  for (const key of ["hostname", "domainname"] as const) {
    if (spec[key]) {
      report(key, `cannot be set without a private UTS namespace`, 'add {"type": "uts"} to linux.namespaces, or remove ' + key);
    }
  }
}

function checkIdMappings(spec: Spec, ns: Map<NamespaceType, NsInfo>, report: Report): void {
  const user = ns.get("user");
  for (const key of ["uidMappings", "gidMappings"] as const) {
    const maps = spec.linux?.[key] ?? [];
    const field = `linux.${key}`;
    if (!user) {
      if (maps.length > 0) report(field, "is set but linux.namespaces has no user namespace", 'add {"type": "user"} to linux.namespaces, or remove the mappings');
      continue;
    }
    if (user.path === undefined && maps.length === 0) {
      const kind = key === "uidMappings" ? "uid" : "gid";
      report(field, `is required when a new user namespace is created`, `map at least container ${kind} 0, e.g. [{"containerID": 0, "hostID": 100000, "size": 65536}]`);
    }
    if (maps.length > MAX_ID_MAP_LINES) report(field, `has ${maps.length} entries; the kernel accepts at most ${MAX_ID_MAP_LINES}`);
    checkOverlaps(maps, field, report);
  }
}

/** Container ranges must not overlap, nor may host ranges: the kernel refuses such maps. */
function checkOverlaps(maps: IdMapping[], field: string, report: Report): void {
  const range = (start: number, size: number) => `${start}-${start + size - 1}`;
  maps.forEach((m, j) => {
    if (m.size < 1) {
      report(`${field}[${j}].size`, `must be at least 1 (got ${m.size})`);
      return;
    }
    for (let i = 0; i < j; i++) {
      const o = maps[i]!;
      if (o.size < 1) continue;
      if (m.containerID < o.containerID + o.size && o.containerID < m.containerID + m.size) {
        report(`${field}[${j}]`, `container IDs ${range(m.containerID, m.size)} overlap ${field}[${i}] (${range(o.containerID, o.size)})`, "each container ID may be mapped once");
      } else if (m.hostID < o.hostID + o.size && o.hostID < m.hostID + m.size) {
        report(`${field}[${j}]`, `host IDs ${range(m.hostID, m.size)} overlap ${field}[${i}] (${range(o.hostID, o.size)})`, "each host ID may be mapped once");
      }
    }
  });
}

function checkTime(spec: Spec, ns: Map<NamespaceType, NsInfo>, report: Report): void {
  const offsets = spec.linux?.timeOffsets;
  if (offsets === undefined) return;
  const time = ns.get("time");
  if (!time) {
    report("linux.timeOffsets", "is set but linux.namespaces has no time namespace", 'add {"type": "time"} to linux.namespaces, or remove timeOffsets');
  } else if (time.path !== undefined) {
    report(
      `linux.namespaces[${time.index}].path`,
      "joins an existing time namespace, but linux.timeOffsets is set: offsets can only be given to a new time namespace",
      "remove the path to create a new time namespace, or remove timeOffsets",
    );
  }
}

/** runc accepts "net/ipv4/ip_forward" for "net.ipv4.ip_forward" (sysctl.d(5)): swap the separators. */
function dotted(key: string): string {
  const first = key.search(/[./]/);
  if (first === -1 || key[first] === ".") return key;
  return key.replace(/[./]/g, (c) => (c === "." ? "/" : "."));
}

/** True when `nsPath` is this process's own network namespace (a "private" one that is not). */
function isHostNetns(nsPath: string): boolean {
  try {
    const a = statSync("/proc/self/ns/net");
    const b = statSync(nsPath);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

function checkSysctl(spec: Spec, ns: Map<NamespaceType, NsInfo>, report: Report): void {
  const sysctl = spec.linux?.sysctl;
  if (!sysctl) return;
  for (const key of Object.keys(sysctl)) {
    const field = child("linux.sysctl", key);
    const name = dotted(key);
    if (IPC_SYSCTLS.has(name) || name.startsWith("fs.mqueue.")) {
      if (!ns.has("ipc")) report(field, "is not allowed without a private IPC namespace", 'add {"type": "ipc"} to linux.namespaces');
      continue;
    }
    if (name.startsWith("net.")) {
      const net = ns.get("network");
      if (!net) report(field, "is not allowed in the host's network namespace", 'add {"type": "network"} to linux.namespaces');
      else if (net.path !== undefined && isHostNetns(net.path)) {
        report(field, `is not allowed: linux.namespaces[${net.index}].path ${net.path} is the host's network namespace`);
      }
      continue;
    }
    if (ns.has("uts") && name === "kernel.domainname") continue;
    if (ns.has("uts") && name === "kernel.hostname") {
      report(field, 'conflicts with the "hostname" field', `set "hostname" instead`);
      continue;
    }
    report(
      field,
      "is not namespaced: setting it in a container would change the whole host",
      "only net.*, fs.mqueue.*, kernel.msg*, kernel.sem, kernel.shm* and kernel.domainname can be set per container",
    );
  }
}

/** Destination components walked from "/": false when ".." climbs above the root. */
function staysUnderRoot(dest: string): boolean {
  let depth = 0;
  for (const part of dest.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      depth--;
      if (depth < 0) return false;
    } else depth++;
  }
  return true;
}

function checkMounts(spec: Spec, report: Report): void {
  (spec.mounts ?? []).forEach((m, i) => {
    const field = `mounts[${i}]`;
    if (!path.posix.isAbsolute(m.destination)) {
      report(
        `${field}.destination`,
        `must be an absolute path (got ${JSON.stringify(m.destination)})`,
        `write ${JSON.stringify(path.posix.join("/", m.destination))}; runc reads relative destinations as relative to "/", the spec requires absolute ones`,
      );
    } else if (!staysUnderRoot(m.destination)) {
      report(`${field}.destination`, `climbs out of the container's root with ".." (got ${JSON.stringify(m.destination)})`, "use a clean absolute path without ..");
    }
    const opts = m.options ?? [];
    const bind = m.type === "bind" || opts.includes("bind") || opts.includes("rbind");
    if (bind && (m.source === undefined || m.source === "")) {
      report(`${field}.source`, "is required for a bind mount", "name the host file or directory to bind");
    }
    if (!bind && (m.type === undefined || m.type === "")) {
      report(`${field}.type`, "is required unless the mount is a bind mount", 'give the filesystem type (e.g. "tmpfs") or add the "bind" option');
    }
    if (m.uidMappings !== undefined || m.gidMappings !== undefined) {
      if (!bind) report(field, "uidMappings/gidMappings (an idmapped mount) need the bind option", 'add "bind" or "rbind" to options');
      if (m.uidMappings === undefined || m.gidMappings === undefined) {
        report(field, "an idmapped mount needs both uidMappings and gidMappings");
      }
      if (m.uidMappings) checkOverlaps(m.uidMappings, `${field}.uidMappings`, report);
      if (m.gidMappings) checkOverlaps(m.gidMappings, `${field}.gidMappings`, report);
    }
  });
}

function checkPaths(spec: Spec, ns: Map<NamespaceType, NsInfo>, report: Report): void {
  for (const key of ["maskedPaths", "readonlyPaths"] as const) {
    const list = spec.linux?.[key] ?? [];
    list.forEach((p, i) => {
      if (!path.posix.isAbsolute(p)) report(`linux.${key}[${i}]`, `must be an absolute path (got ${JSON.stringify(p)})`);
    });
    if (list.length > 0 && !ns.has("mount")) {
      report(`linux.${key}`, "cannot be applied without a private mount namespace", 'add {"type": "mount"} to linux.namespaces');
    }
  }
}

function checkDevices(spec: Spec, report: Report): void {
  spec.linux?.devices?.forEach((d, i) => {
    const field = `linux.devices[${i}]`;
    if (!path.posix.isAbsolute(d.path)) report(`${field}.path`, `must be an absolute path (got ${JSON.stringify(d.path)})`, 'device paths are inside the container, e.g. "/dev/fuse"');
    if (d.type === "c" || d.type === "b" || d.type === "u") {
      for (const k of ["major", "minor"] as const) {
        if (d[k] === undefined) report(`${field}.${k}`, `is required for a device of type "${d.type}"`, "look it up with `ls -l` or `stat -c '%t %T'` on the host device");
      }
    }
  });
  spec.linux?.resources?.devices?.forEach((r, i) => {
    const field = `linux.resources.devices[${i}]`;
    if (r.type !== undefined && !["a", "b", "c"].includes(r.type)) report(`${field}.type`, `must be one of a, b, c (got ${JSON.stringify(r.type)})`);
    if (r.access !== undefined && !/^[rwm]*$/.test(r.access)) {
      report(`${field}.access`, `must be made of the letters r, w and m (got ${JSON.stringify(r.access)})`);
    }
  });
}

/** Structural checks only; the seccomp compiler checks actions, errnos and syscall names. */
function checkSeccomp(spec: Spec, report: Report): void {
  const sc = spec.linux?.seccomp;
  if (!sc) return;
  let notify = sc.defaultAction === "SCMP_ACT_NOTIFY";
  sc.syscalls?.forEach((s, i) => {
    const field = `linux.seccomp.syscalls[${i}]`;
    if (s.names.length === 0) report(`${field}.names`, "must name at least one syscall");
    s.names.forEach((n, j) => {
      if (n === "") report(`${field}.names[${j}]`, "must not be empty");
    });
    s.args?.forEach((a, j) => {
      if (a.index > 5) report(`${field}.args[${j}].index`, `must be between 0 and 5: a syscall has at most 6 arguments (got ${a.index})`);
    });
    if (s.action === "SCMP_ACT_NOTIFY") notify = true;
  });
  if (notify && !sc.listenerPath) {
    report("linux.seccomp.listenerPath", "is required when an action is SCMP_ACT_NOTIFY", "give the unix socket of the seccomp agent");
  }
}

// ---------------------------------------------------------------------------------------------
// LSM options: accepted and recorded, but enforced only when the LSM is active on the host.

export interface LsmState {
  apparmor: boolean;
  selinux: boolean;
}

/** Which of AppArmor and SELinux are active. `root` is "/" except in tests. */
export function activeLsms(root = "/"): LsmState {
  const read = (p: string): string | undefined => {
    try {
      return readFileSync(path.join(root, p), "utf8").trim();
    } catch {
      return undefined;
    }
  };
  const list = read("sys/kernel/security/lsm");
  if (list !== undefined) {
    const names = list.split(",");
    return { apparmor: names.includes("apparmor"), selinux: names.includes("selinux") };
  }
  return {
    apparmor: read("sys/module/apparmor/parameters/enabled") === "Y",
    selinux: existsSync(path.join(root, "sys/fs/selinux/enforce")),
  };
}

/**
 * Warnings for LSM options the host cannot enforce, e.g.
 * `process.apparmorProfile "docker-default" is not enforced: AppArmor is not active on this host`.
 */
export function lsmWarnings(spec: Spec, opts: { root?: string; lsm?: LsmState } = {}): string[] {
  const apparmor = spec.process?.apparmorProfile;
  // the host's LSMs are read only for a config that asks for one: most ask for none, and the
  // reads are three syscalls on every container create
  if (!apparmor && !spec.process?.selinuxLabel && !spec.linux?.mountLabel) return [];
  const lsm = opts.lsm ?? activeLsms(opts.root);
  const out: string[] = [];
  if (apparmor && !lsm.apparmor) {
    out.push(`process.apparmorProfile ${JSON.stringify(apparmor)} is not enforced: AppArmor is not active on this host`);
  }
  const labels: [string, string | undefined][] = [
    ["process.selinuxLabel", spec.process?.selinuxLabel],
    ["linux.mountLabel", spec.linux?.mountLabel],
  ];
  for (const [field, label] of labels) {
    if (label && !lsm.selinux) out.push(`${field} ${JSON.stringify(label)} is not enforced: SELinux is not active on this host`);
  }
  return out;
}
