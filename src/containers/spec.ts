// Docker's create body (Config + HostConfig) and the image config → an OCI runtime spec, the way
// dockerd builds it (moby: daemon/create.go for the merge, daemon/oci_linux.go for the spec,
// oci/defaults.go for the defaults). Pure apart from stat() of host devices and bind sources, so
// it is unit-tested without root.

import { existsSync, readdirSync, statSync, type Stats } from "node:fs";
import { release as kernelRelease } from "node:os";
import path from "node:path";
import { fromErrno, invalid, isErrno, unsupported } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { boundingCapabilities, CAPABILITIES, DOCKER_DEFAULT_CAPABILITIES, DOCKER_DEFAULT_DEVICE_RULES, DOCKER_READONLY_PATHS, dockerMaskedPaths } from "../runtime/config/index.js";
import { defaultSeccompProfile, kernelAtLeast } from "../runtime/seccomp/index.js";
import type { IdMap } from "./userns.js";
import type { Device, DeviceCgroupRule, LinuxResources, LinuxSeccomp, Mount, Namespace, Rlimit, SeccompAction, SeccompArg, SeccompSyscall, Spec } from "../runtime/spec.js";
import { OCI_VERSION } from "../runtime/spec.js";
import type { ContainerConfig, HealthConfig, HostConfig, MountPoint, ThrottleDevice } from "./types.js";
import type { ExecUser } from "./user.js";
import { ociMount, planMounts, publicMountPoint, tmpfsFlagMounts } from "./mounts.js";
import { DEFAULT_CGROUP_PARENT } from "../common/instance.js";

export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
/** Where Docker mounts its init, and how it runs it (docker-init -- cmd...). */
export const INIT_PATH_IN_CONTAINER = "/sbin/docker-init";
export const NO_NETWORK_WARNING = "cove: networking is not available yet; the container has a loopback interface only";

// ------------------------------------------------------------------ config merge and defaults

/** moby's merge(userConf, imageConf): what the container runs with, filled from the image. */
export function mergeConfig(user: ContainerConfig, image: ContainerConfig | undefined): ContainerConfig {
  const out: ContainerConfig = { ...user };
  if (!image) return out;
  if (!out.User) out.User = image.User ?? "";
  if (image.ExposedPorts) out.ExposedPorts = { ...image.ExposedPorts, ...(out.ExposedPorts ?? {}) };
  if (!out.Env || out.Env.length === 0) {
    out.Env = [...(image.Env ?? [])];
  } else {
    const keys = new Set(out.Env.map((e) => e.split("=", 1)[0]));
    out.Env = [...out.Env, ...(image.Env ?? []).filter((e) => !keys.has(e.split("=", 1)[0]))];
  }
  out.Labels = { ...(image.Labels ?? {}), ...(out.Labels ?? {}) };
  if (!out.Entrypoint || out.Entrypoint.length === 0) {
    if (!out.Cmd || out.Cmd.length === 0) {
      out.Cmd = image.Cmd ?? null;
      if (image.ArgsEscaped !== undefined) out.ArgsEscaped = image.ArgsEscaped;
    }
    if (out.Entrypoint === undefined || out.Entrypoint === null) out.Entrypoint = image.Entrypoint ?? null;
  }
  if (!out.Healthcheck) {
    if (image.Healthcheck) out.Healthcheck = { ...image.Healthcheck };
  } else if (image.Healthcheck) {
    const h: HealthConfig = { ...out.Healthcheck };
    if (!h.Test || h.Test.length === 0) h.Test = image.Healthcheck.Test;
    if (!h.Interval) h.Interval = image.Healthcheck.Interval;
    if (!h.Timeout) h.Timeout = image.Healthcheck.Timeout;
    if (!h.StartPeriod) h.StartPeriod = image.Healthcheck.StartPeriod;
    if (!h.Retries) h.Retries = image.Healthcheck.Retries;
    out.Healthcheck = h;
  }
  if (!out.WorkingDir) out.WorkingDir = image.WorkingDir ?? "";
  // the image's VOLUMEs and the user's -v /path together (Docker merges both maps)
  if (!out.Volumes || Object.keys(out.Volumes).length === 0) out.Volumes = image.Volumes;
  else if (image.Volumes) out.Volumes = { ...image.Volumes, ...out.Volumes };
  if (!out.StopSignal) out.StopSignal = image.StopSignal;
  if (!out.OnBuild || out.OnBuild.length === 0) out.OnBuild = image.OnBuild ?? null;
  if (!out.Shell || out.Shell.length === 0) out.Shell = image.Shell;
  return out;
}

/** Path and Args as inspect shows them: the entrypoint and command, joined. */
export function commandOf(config: ContainerConfig): { path: string; args: string[] } {
  const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (argv.length === 0) throw invalid("no command specified", { code: "container.no-command", hint: "give a command, or use an image with a CMD or ENTRYPOINT" });
  return { path: argv[0]!, args: argv.slice(1) };
}

/** The network mode with Docker's default named ("default" and "" mean bridge). */
export function normalizeNetworkMode(mode: string | undefined): string {
  return !mode || mode === "default" ? "bridge" : mode;
}

/** HostConfig as inspect echoes it: Docker's defaults filled in. */
export function withHostConfigDefaults(hc: HostConfig | undefined, cgroupVersion: 1 | 2): HostConfig {
  const h: HostConfig = { ...(hc ?? {}) };
  h.NetworkMode = normalizeNetworkMode(h.NetworkMode);
  h.Binds ??= null;
  h.ContainerIDFile ??= "";
  h.LogConfig = { Type: h.LogConfig?.Type || "json-file", Config: h.LogConfig?.Config ?? {} };
  h.PortBindings ??= {};
  h.RestartPolicy = { Name: h.RestartPolicy?.Name || "no", MaximumRetryCount: h.RestartPolicy?.MaximumRetryCount ?? 0 };
  h.AutoRemove ??= false;
  h.VolumeDriver ??= "";
  h.VolumesFrom ??= null;
  h.ConsoleSize ??= [0, 0];
  h.CapAdd ??= null;
  h.CapDrop ??= null;
  h.CgroupnsMode ||= cgroupVersion === 2 ? "private" : "host";
  h.Dns ??= [];
  h.DnsOptions ??= [];
  h.DnsSearch ??= [];
  h.ExtraHosts ??= null;
  h.GroupAdd ??= null;
  h.IpcMode ||= "private";
  h.Cgroup ??= "";
  h.Links ??= null;
  h.OomScoreAdj ??= 0;
  h.PidMode ??= "";
  h.Privileged ??= false;
  h.PublishAllPorts ??= false;
  h.ReadonlyRootfs ??= false;
  h.SecurityOpt ??= null;
  h.UTSMode ??= "";
  h.UsernsMode ??= "";
  h.ShmSize ||= DEFAULT_SHM_SIZE;
  h.Runtime ||= "cove";
  h.Isolation ??= "";
  h.CpuShares ??= 0;
  h.Memory ??= 0;
  h.NanoCpus ??= 0;
  h.CgroupParent ??= "";
  h.BlkioWeight ??= 0;
  h.BlkioWeightDevice ??= [];
  h.BlkioDeviceReadBps ??= [];
  h.BlkioDeviceWriteBps ??= [];
  h.BlkioDeviceReadIOps ??= [];
  h.BlkioDeviceWriteIOps ??= [];
  h.CpuPeriod ??= 0;
  h.CpuQuota ??= 0;
  h.CpuRealtimePeriod ??= 0;
  h.CpuRealtimeRuntime ??= 0;
  h.CpusetCpus ??= "";
  h.CpusetMems ??= "";
  h.Devices ??= [];
  h.DeviceCgroupRules ??= null;
  h.DeviceRequests ??= null;
  h.MemoryReservation ??= 0;
  // --memory without --memory-swap: swap as much again as memory (moby adaptContainerSettings)
  if (h.Memory > 0 && !h.MemorySwap) h.MemorySwap = h.Memory * 2;
  h.MemorySwap ??= 0;
  h.MemorySwappiness ??= null;
  h.OomKillDisable ??= null;
  h.PidsLimit ??= null;
  h.Ulimits ??= [];
  h.CpuCount ??= 0;
  h.CpuPercent ??= 0;
  h.IOMaximumIOps ??= 0;
  h.IOMaximumBandwidth ??= 0;
  h.MaskedPaths ??= h.Privileged ? [] : dockerMaskedPaths();
  h.ReadonlyPaths ??= h.Privileged ? [] : [...DOCKER_READONLY_PATHS];
  return h;
}

/**
 * The process environment (moby's CreateDaemonEnvironment): PATH and HOSTNAME (and TERM with a
 * tty), then the variables of legacy links, all overridden by the config's; last HOME, the
 * user's home directory from the container's /etc/passwd, unless the config sets it (what runc's
 * init adds for dockerd).
 */
export function containerEnv(configEnv: string[] | null | undefined, hostname: string, tty: boolean, linkEnv: readonly string[] = [], home?: string): string[] {
  const env = [DEFAULT_PATH_ENV, `HOSTNAME=${hostname}`];
  if (tty) env.push("TERM=xterm");
  const out = replaceOrAppendEnv(replaceOrAppendEnv(env, [...linkEnv]), configEnv ?? []);
  if (home !== undefined && !out.some((e) => e.startsWith("HOME="))) out.push(`HOME=${home}`);
  return out;
}

/** moby's ReplaceOrAppendEnvValues: later KEY=v replace earlier ones in place; a bare KEY removes. */
export function replaceOrAppendEnv(defaults: string[], overrides: string[]): string[] {
  const out = [...defaults];
  for (const e of overrides) {
    const eq = e.indexOf("=");
    const key = eq < 0 ? e : e.slice(0, eq);
    const i = out.findIndex((d) => d.split("=", 1)[0] === key);
    if (eq < 0) {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

// ------------------------------------------------------------------ capabilities and seccomp

const ALL_CAPS = CAPABILITIES.map((c) => c.name);

function normCap(c: string): string {
  const up = c.trim().toUpperCase();
  return up === "ALL" ? up : up.startsWith("CAP_") ? up : `CAP_${up}`;
}

/**
 * moby's caps.TweakCapabilities: defaults + adds - drops, with ALL in either list. "All" (ALL, and
 * --privileged) means every capability of the daemon's bounding set (`all`), as podman does: moby
 * asks for every capability the kernel knows, which fails to start on a host whose bounding set
 * lacks one.
 */
export function tweakCapabilities(add: string[] = [], drop: string[] = [], privileged = false, all: readonly string[] = boundingCapabilities()): string[] {
  if (privileged) return [...all];
  const adds = add.map(normCap);
  const drops = drop.map(normCap);
  for (const c of [...adds, ...drops]) {
    if (c !== "ALL" && !ALL_CAPS.includes(c)) throw invalid(`unknown capability: "${c}"`, { code: "container.capability", field: "HostConfig.CapAdd" });
  }
  let caps: string[];
  if (adds.includes("ALL")) caps = [...all];
  else if (drops.includes("ALL")) caps = [];
  else caps = [...DOCKER_DEFAULT_CAPABILITIES];
  if (!adds.includes("ALL")) for (const c of adds) if (!caps.includes(c)) caps.push(c);
  if (!drops.includes("ALL")) caps = caps.filter((c) => !drops.includes(c));
  else if (adds.includes("ALL")) caps = [];
  return caps;
}

interface DockerSeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  flags?: string[];
  syscalls?: {
    name?: string;
    names?: string[];
    action: SeccompAction;
    errnoRet?: number;
    args?: SeccompArg[] | null;
    includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
    excludes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  }[];
}

/** The host's architecture as a profile names it: libseccomp's SCMP_ARCH_* and its native name ("x86", not Go's "386"). */
function hostArches(): { scmp: string; native: string } {
  switch (process.arch) {
    case "arm64":
      return { scmp: "SCMP_ARCH_AARCH64", native: "arm64" };
    case "ia32":
      return { scmp: "SCMP_ARCH_X86", native: "x86" };
    default:
      return { scmp: "SCMP_ARCH_X86_64", native: "amd64" };
  }
}

/** A profile in Docker's seccomp JSON format (what `--security-opt seccomp=file.json` sends) → OCI. */
export function convertDockerSeccomp(text: string, caps: string[], kernel: string = kernelRelease()): LinuxSeccomp {
  let p: DockerSeccompProfile;
  try {
    p = JSON.parse(text) as DockerSeccompProfile;
  } catch (err) {
    throw invalid(`decoding seccomp profile failed: ${(err as Error).message}`, { code: "container.seccomp", field: "HostConfig.SecurityOpt" });
  }
  if (!p || typeof p !== "object" || typeof p.defaultAction !== "string") {
    throw invalid("decoding seccomp profile failed: defaultAction is missing", { code: "container.seccomp", field: "HostConfig.SecurityOpt" });
  }
  const { scmp, native } = hostArches();
  const capSet = new Set(caps);
  const out: LinuxSeccomp = { defaultAction: p.defaultAction };
  if (p.defaultErrnoRet !== undefined) out.defaultErrnoRet = p.defaultErrnoRet;
  if (p.architectures?.length) out.architectures = [...p.architectures];
  else if (p.archMap?.length) {
    const m = p.archMap.find((a) => a.architecture === scmp);
    if (m) out.architectures = [m.architecture, ...(m.subArchitectures ?? [])];
  }
  if (p.flags?.length) out.flags = [...p.flags];
  const syscalls: SeccompSyscall[] = [];
  for (const s of p.syscalls ?? []) {
    if (s.includes?.arches?.length && !s.includes.arches.includes(native)) continue;
    if (s.excludes?.arches?.includes(native)) continue;
    // minKernel as moby reads it: includes need at least that kernel, excludes skip from it on
    if (s.includes?.minKernel && !kernelAtLeast(kernel, s.includes.minKernel)) continue;
    if (s.excludes?.minKernel && kernelAtLeast(kernel, s.excludes.minKernel)) continue;
    if (s.includes?.caps?.length && !s.includes.caps.every((c) => capSet.has(normCap(c)))) continue;
    if (s.excludes?.caps?.some((c) => capSet.has(normCap(c)))) continue;
    const names = s.names?.length ? [...s.names] : s.name ? [s.name] : [];
    if (names.length === 0) continue;
    const rule: SeccompSyscall = { names, action: s.action };
    if (s.errnoRet !== undefined) rule.errnoRet = s.errnoRet;
    if (s.args?.length) rule.args = s.args.map((a) => ({ ...a }));
    syscalls.push(rule);
  }
  out.syscalls = syscalls;
  return out;
}

export interface SecurityOptions {
  seccomp: "default" | "unconfined" | string;
  noNewPrivileges: boolean;
  apparmor?: string;
  label: string[];
  warnings: string[];
}

/** Parses HostConfig.SecurityOpt ("seccomp=...", "no-new-privileges[:true]", "apparmor=...", "label=..."). */
export function parseSecurityOpt(opts: string[]): SecurityOptions {
  const out: SecurityOptions = { seccomp: "default", noNewPrivileges: false, label: [], warnings: [] };
  for (const raw of opts) {
    if (raw === "no-new-privileges") {
      out.noNewPrivileges = true;
      continue;
    }
    const m = /^([a-z-]+)[=:](.*)$/s.exec(raw);
    if (!m) throw invalid(`invalid --security-opt: "${raw}"`, { code: "container.security-opt", field: "HostConfig.SecurityOpt" });
    const [, key, value] = m as unknown as [string, string, string];
    if (key === "seccomp") out.seccomp = value;
    else if (key === "no-new-privileges") {
      if (value !== "true" && value !== "false") throw invalid(`invalid --security-opt 2: "${raw}"`, { code: "container.security-opt", field: "HostConfig.SecurityOpt" });
      out.noNewPrivileges = value === "true";
    } else if (key === "apparmor") {
      out.apparmor = value;
      out.warnings.push(`AppArmor profile "${value}" is recorded but not enforced: AppArmor is not active on this host`);
    } else if (key === "label") {
      out.label.push(value);
      out.warnings.push(`SELinux label option "${value}" is recorded but not enforced: SELinux is not active on this host`);
    } else if (key === "systempaths" && value === "unconfined") {
      out.label.push("systempaths=unconfined");
    } else {
      throw invalid(`invalid --security-opt: "${raw}"`, { code: "container.security-opt", field: "HostConfig.SecurityOpt" });
    }
  }
  return out;
}

// ------------------------------------------------------------------ devices

export function major(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}

export function minor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
}

function deviceOf(hostPath: string, st: Stats, ctrPath: string): Device | undefined {
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : undefined;
  if (!type) return undefined;
  return { type, path: ctrPath, major: major(st.rdev), minor: minor(st.rdev), fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** The devices under host dir /dev (privileged containers get all of them, as runc's HostDevices). */
export function hostDevices(dir = "/dev"): Device[] {
  const out: Device[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch (err) {
      // gone meanwhile, or not a directory after all: nothing under it; anything else is logged,
      // and the container still gets the devices that could be read
      if (!isErrno(err, "ENOENT", "ENOTDIR")) ignored(`list host devices under ${d}`, err);
      return;
    }
    for (const n of names) {
      const p = path.join(d, n);
      if (d === dir && ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev", "console", "ptmx"].includes(n)) continue;
      let st: Stats;
      try {
        st = statSync(p, { throwIfNoEntry: false }) as Stats;
      } catch (err) {
        if (!isErrno(err, "ENOENT", "ENOTDIR")) ignored(`stat host device ${p}`, err);
        continue;
      }
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else {
        const dev = deviceOf(p, st, p);
        if (dev) out.push(dev);
      }
    }
  };
  walk(dir);
  return out;
}

/** --device host[:container[:perms]] → the device node and its cgroup allow rule. */
export function deviceMapping(hostPath: string, ctrPath: string | undefined, perms: string | undefined): { devices: Device[]; rules: DeviceCgroupRule[] } {
  let st: Stats;
  try {
    st = statSync(hostPath);
  } catch (err) {
    if (!isErrno(err, "ENOENT", "ENOTDIR")) throw fromErrno(err, `error gathering device information while adding custom device "${hostPath}"`);
    throw invalid(`error gathering device information while adding custom device "${hostPath}": no such file or directory`, { code: "container.device", field: "HostConfig.Devices" });
  }
  const access = perms || "rwm";
  if (!/^[rwm]+$/.test(access)) throw invalid(`invalid device cgroup permissions "${access}"`, { code: "container.device", field: "HostConfig.Devices" });
  const target = ctrPath || hostPath;
  if (st.isDirectory()) {
    const devices: Device[] = [];
    const rules: DeviceCgroupRule[] = [];
    for (const d of hostDevices(hostPath)) {
      devices.push({ ...d, path: path.join(target, path.relative(hostPath, d.path)) });
      rules.push({ allow: true, type: d.type as "c" | "b", major: d.major ?? null, minor: d.minor ?? null, access });
    }
    return { devices, rules };
  }
  const dev = deviceOf(hostPath, st, target);
  if (!dev) throw invalid(`"${hostPath}" is not a device node`, { code: "container.device", field: "HostConfig.Devices" });
  return { devices: [dev], rules: [{ allow: true, type: dev.type as "c" | "b", major: dev.major ?? null, minor: dev.minor ?? null, access }] };
}

/** --device-cgroup-rule "c 1:3 rwm", "a *:* rwm", "b 8:* r". */
export function parseDeviceCgroupRule(rule: string): DeviceCgroupRule {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(rule.trim());
  if (!m) throw invalid(`invalid device cgroup rule format: '${rule}'`, { code: "container.device-rule", field: "HostConfig.DeviceCgroupRules" });
  const num = (s: string) => (s === "*" ? null : Number(s));
  return { allow: true, type: m[1] as "a" | "c" | "b", major: num(m[2]!), minor: num(m[3]!), access: m[4]! };
}

// ------------------------------------------------------------------ mounts

export interface ContainerMounts {
  /** OCI mounts for the user's binds and tmpfs (not the defaults). */
  mounts: Mount[];
  /** inspect's Mounts. */
  points: MountPoint[];
  /** Bind sources that do not exist and must be created (docker -v creates them). */
  create: string[];
}

/**
 * HostConfig.Binds, Mounts and Tmpfs → OCI mounts and inspect's mount points, for binds and tmpfs
 * only (the container service resolves volumes through the volume service: see mounts.ts).
 */
export function userMounts(hc: HostConfig, statPath: (p: string) => boolean = (p) => statSync(p, { throwIfNoEntry: false }) !== undefined): ContainerMounts {
  const entries = planMounts({ hostConfig: hc, exists: statPath });
  const volume = entries.find((e) => e.Type === "volume");
  if (volume) throw unsupported(`userMounts cannot mount the volume at ${volume.Destination}: volumes are mounted by the container service`, { code: "container.volume-unsupported" });
  return {
    mounts: [...entries.map((e) => ociMount(e)), ...tmpfsFlagMounts(hc)],
    points: entries.map(publicMountPoint),
    create: entries.filter((e) => e.CreateSource).map((e) => e.Source),
  };
}

function defaultMounts(shmSize: number, privileged: boolean): Mount[] {
  const ro = privileged ? [] : ["ro"];
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", ...ro] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: [...ro, "nosuid", "noexec", "nodev"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${Math.floor(shmSize / 1024)}k`] },
  ];
}

// ------------------------------------------------------------------ resources

function throttle(list: ThrottleDevice[] | null | undefined, statDev: (p: string) => { major: number; minor: number }) {
  return (list ?? []).map((t) => ({ ...statDev(t.Path), rate: t.Rate }));
}

function blockDevice(p: string): { major: number; minor: number } {
  let st: Stats;
  try {
    st = statSync(p);
  } catch (err) {
    if (!isErrno(err, "ENOENT", "ENOTDIR")) throw fromErrno(err, `cannot stat device ${p}`);
    throw invalid(`cannot stat device ${p}: no such file or directory`, { code: "container.blkio", field: "HostConfig" });
  }
  if (!st.isBlockDevice()) throw invalid(`${p} is not a block device`, { code: "container.blkio", field: "HostConfig" });
  return { major: major(st.rdev), minor: minor(st.rdev) };
}

/** HostConfig resources → linux.resources (devices excluded). */
export function resourcesOf(hc: HostConfig, statDev: (p: string) => { major: number; minor: number } = blockDevice): LinuxResources {
  const r: LinuxResources = {};
  const mem: NonNullable<LinuxResources["memory"]> = {};
  if (hc.Memory) mem.limit = hc.Memory;
  if (hc.MemoryReservation) mem.reservation = hc.MemoryReservation;
  if (hc.MemorySwap) mem.swap = hc.MemorySwap;
  if (hc.MemorySwappiness !== undefined && hc.MemorySwappiness !== null && hc.MemorySwappiness >= 0) {
    if (hc.MemorySwappiness > 100) throw invalid(`invalid value: ${hc.MemorySwappiness}, valid memory swappiness range is 0-100`, { field: "HostConfig.MemorySwappiness" });
    mem.swappiness = hc.MemorySwappiness;
  }
  if (hc.OomKillDisable) mem.disableOOMKiller = true;
  if (hc.Memory && hc.Memory < 6 * 1024 * 1024) throw invalid("Minimum memory limit allowed is 6MB", { code: "container.memory", field: "HostConfig.Memory" });
  if (hc.Memory && hc.MemorySwap && hc.MemorySwap > 0 && hc.MemorySwap < hc.Memory) {
    throw invalid("Minimum memoryswap limit should be larger than memory limit, see usage", { code: "container.memory", field: "HostConfig.MemorySwap" });
  }
  if (Object.keys(mem).length) r.memory = mem;
  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  if (hc.NanoCpus && (hc.CpuQuota || hc.CpuPeriod)) throw invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set", { field: "HostConfig.NanoCpus" });
  if (hc.NanoCpus) {
    cpu.period = 100000;
    cpu.quota = Math.floor((hc.NanoCpus * 100000) / 1e9);
  }
  if (hc.CpuShares) cpu.shares = hc.CpuShares;
  if (hc.CpuQuota) cpu.quota = hc.CpuQuota;
  if (hc.CpuPeriod) cpu.period = hc.CpuPeriod;
  if (hc.CpuRealtimePeriod) cpu.realtimePeriod = hc.CpuRealtimePeriod;
  if (hc.CpuRealtimeRuntime) cpu.realtimeRuntime = hc.CpuRealtimeRuntime;
  if (hc.CpusetCpus) cpu.cpus = hc.CpusetCpus;
  if (hc.CpusetMems) cpu.mems = hc.CpusetMems;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (hc.PidsLimit !== undefined && hc.PidsLimit !== null && hc.PidsLimit !== 0) r.pids = { limit: hc.PidsLimit < 0 ? -1 : hc.PidsLimit };
  const bio: NonNullable<LinuxResources["blockIO"]> = {};
  if (hc.BlkioWeight) bio.weight = hc.BlkioWeight;
  if (hc.BlkioWeightDevice?.length) bio.weightDevice = hc.BlkioWeightDevice.map((w) => ({ ...statDev(w.Path), weight: w.Weight }));
  if (hc.BlkioDeviceReadBps?.length) bio.throttleReadBpsDevice = throttle(hc.BlkioDeviceReadBps, statDev);
  if (hc.BlkioDeviceWriteBps?.length) bio.throttleWriteBpsDevice = throttle(hc.BlkioDeviceWriteBps, statDev);
  if (hc.BlkioDeviceReadIOps?.length) bio.throttleReadIOPSDevice = throttle(hc.BlkioDeviceReadIOps, statDev);
  if (hc.BlkioDeviceWriteIOps?.length) bio.throttleWriteIOPSDevice = throttle(hc.BlkioDeviceWriteIOps, statDev);
  if (Object.keys(bio).length) r.blockIO = bio;
  return r;
}

// ------------------------------------------------------------------ the spec

export interface SpecInput {
  id: string;
  /** The merged config (mergeConfig). */
  config: ContainerConfig;
  /** HostConfig with defaults (withHostConfigDefaults). */
  hostConfig: HostConfig;
  /** The container's root filesystem, mounted. */
  rootfs: string;
  /** The generated per-container files bound at /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  files: { hostname: string; hosts: string; resolvConf: string };
  user: ExecUser;
  cgroupVersion: 1 | 2;
  /** The init binary on the host, bound at /sbin/docker-init when HostConfig.Init. */
  initPath?: string;
  /** Namespace files to join for "container:<x>" modes. */
  join?: Partial<Record<"network" | "pid" | "ipc" | "uts", string>>;
  /** Mounts from userMounts (computed by the caller, which also creates missing bind sources). */
  mounts: ContainerMounts;
  /** Devices of the host for privileged containers (default: scan /dev). */
  hostDevices?: () => Device[];
  /** The parent of the container's cgroup when HostConfig.CgroupParent names none (the daemon's, default /cove). */
  cgroupParent?: string;
  /** The variables legacy links give the process (before the config's own). */
  linkEnv?: readonly string[];
  /** The container's user namespace (ContainerRecord.UserNamespace); absent: the host's. */
  userns?: IdMap;
}

export interface BuiltSpec {
  spec: Spec;
  warnings: string[];
}

function depth(p: string): number {
  return path.posix.normalize(p).split("/").filter(Boolean).length;
}

function nsMode(kind: string, mode: string | undefined, join: string | undefined): Namespace | undefined {
  if (mode === "host") return undefined;
  if (mode?.startsWith("container:")) {
    if (!join) throw invalid(`${kind} mode ${mode}: the container's namespace is not available`, { code: "container.namespace" });
    return { type: kind as Namespace["type"], path: join };
  }
  return { type: kind as Namespace["type"] };
}

export function hostnameOf(id: string, config: ContainerConfig): string {
  return config.Hostname || id.slice(0, 12);
}

/** The container's cgroup: under its --cgroup-parent, else under the daemon's parent (default /cove). */
export function containerCgroupsPath(id: string, hc: HostConfig, daemonParent = DEFAULT_CGROUP_PARENT): string {
  const parent = hc.CgroupParent || daemonParent;
  return path.posix.join(parent.startsWith("/") ? parent : `/${parent}`, id);
}

/** The OCI spec dockerd would hand its runtime for this container. */
export function buildSpec(input: SpecInput): BuiltSpec {
  const { id, config, hostConfig: hc } = input;
  const warnings: string[] = [];
  const privileged = !!hc.Privileged;
  const { path: exe, args } = commandOf(config);
  let argv = [exe, ...args];
  if (hc.Init) {
    if (!input.initPath) throw unsupported("--init: the init binary (build/cove-init) is missing", { code: "container.init-missing", hint: "build cove's native parts: bash scripts/build-native.sh" });
    argv = [INIT_PATH_IN_CONTAINER, "--", ...argv];
  }
  const gpu = hc.DeviceRequests?.[0];
  if (gpu) {
    // dockerd's wording when no device driver takes the request (it has only NVIDIA's, as a plugin)
    const caps = `[${(gpu.Capabilities ?? []).map((c) => `[${c.join(" ")}]`).join(" ")}]`;
    throw invalid(`could not select device driver "${gpu.Driver ?? ""}" with capabilities: ${caps}`, { code: "container.device-request", field: "HostConfig.DeviceRequests", hint: "cove has no GPU device drivers: pass the device nodes with --device instead" });
  }
  const networkMode = normalizeNetworkMode(hc.NetworkMode);
  const hostname = hostnameOf(id, config);
  const sec = parseSecurityOpt(hc.SecurityOpt ?? []);
  warnings.push(...sec.warnings);
  const caps = tweakCapabilities(hc.CapAdd ?? [], hc.CapDrop ?? [], privileged);

  let seccomp: LinuxSeccomp | undefined;
  if (privileged || sec.seccomp === "unconfined") seccomp = undefined;
  else if (sec.seccomp === "default" || sec.seccomp === "builtin") seccomp = defaultSeccompProfile({ capabilities: caps });
  else seccomp = convertDockerSeccomp(sec.seccomp, caps);

  const rlimits: Rlimit[] = (hc.Ulimits ?? []).map((u) => {
    const type = `RLIMIT_${u.Name.toUpperCase()}`;
    if (u.Soft > u.Hard && u.Hard >= 0) throw invalid(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`, { field: "HostConfig.Ulimits" });
    return { type, soft: u.Soft, hard: u.Hard };
  });

  // mounts: defaults, then the container files, then the user's (which win on the same target)
  const user = input.mounts.mounts;
  const userTargets = new Set(user.map((m) => m.destination));
  const ro = hc.ReadonlyRootfs ? "ro" : "rw";
  const files: Mount[] = [
    { destination: "/etc/resolv.conf", type: "bind", source: input.files.resolvConf, options: ["rbind", "rprivate", ro] },
    { destination: "/etc/hostname", type: "bind", source: input.files.hostname, options: ["rbind", "rprivate", ro] },
    { destination: "/etc/hosts", type: "bind", source: input.files.hosts, options: ["rbind", "rprivate", ro] },
  ];
  if (hc.Init) files.push({ destination: INIT_PATH_IN_CONTAINER, type: "bind", source: input.initPath!, options: ["bind", "ro", "rprivate"] });
  let defaults = defaultMounts(hc.ShmSize || DEFAULT_SHM_SIZE, privileged);
  if (hc.IpcMode === "host" || hc.IpcMode?.startsWith("container:")) {
    // the shared IPC namespace keeps its own /dev/shm: bind the host's (or the other container's) view
    defaults = defaults.filter((m) => m.destination !== "/dev/shm");
    if (hc.IpcMode === "host") defaults.push({ destination: "/dev/shm", type: "bind", source: "/dev/shm", options: ["rbind", "rprivate", "rw"] });
  }
  if (input.userns && hc.IpcMode === "host") {
    // the kernel lets no user namespace mount the mqueue filesystem of the host's IPC namespace:
    // the host's /dev/mqueue is bound instead, when the host has one
    defaults = defaults.filter((m) => m.destination !== "/dev/mqueue");
    if (existsSync("/dev/mqueue")) defaults.push({ destination: "/dev/mqueue", type: "bind", source: "/dev/mqueue", options: ["rbind", "rprivate", "nosuid", "noexec", "nodev"] });
  }
  const fixed = [...defaults, ...files].filter((m) => !userTargets.has(m.destination) && ![...userTargets].some((t) => t === "/dev" && m.destination.startsWith("/dev/")));
  const extra = [...user].sort((a, b) => depth(a.destination) - depth(b.destination));
  const mounts = [...fixed, ...extra];

  // namespaces
  // a user namespace first: the namespaces created with it are owned by it
  const namespaces: Namespace[] = input.userns ? [{ type: "user" }, { type: "mount" }] : [{ type: "mount" }];
  const pidNs = nsMode("pid", hc.PidMode, input.join?.pid);
  if (pidNs) namespaces.push(pidNs);
  const ipcNs = nsMode("ipc", hc.IpcMode === "private" || hc.IpcMode === "shareable" ? "" : hc.IpcMode, input.join?.ipc);
  if (ipcNs) namespaces.push(ipcNs);
  const utsNs = nsMode("uts", hc.UTSMode, input.join?.uts);
  if (utsNs) namespaces.push(utsNs);
  if (networkMode !== "host") {
    if (input.join?.network) {
      // the namespace the network service made (or another container's)
      namespaces.push({ type: "network", path: input.join.network });
    } else {
      const netNs = nsMode("network", networkMode.startsWith("container:") ? networkMode : "", input.join?.network);
      if (netNs) namespaces.push(netNs);
      if (networkMode === "bridge") warnings.push(NO_NETWORK_WARNING);
      else if (networkMode !== "none" && !networkMode.startsWith("container:")) {
        throw unsupported(`network ${networkMode} is not available: cove supports the none, host and container:<name> network modes for now`, { code: "container.network-unsupported" });
      }
    }
  }
  const cgroupns = hc.CgroupnsMode || (input.cgroupVersion === 2 ? "private" : "host");
  if (cgroupns === "private") namespaces.push({ type: "cgroup" });
  else if (cgroupns !== "host") throw invalid(`invalid cgroup namespace mode: ${cgroupns}`, { field: "HostConfig.CgroupnsMode" });

  // devices
  const devices: Device[] = [];
  const rules: DeviceCgroupRule[] = privileged ? [{ allow: true, access: "rwm" }] : DOCKER_DEFAULT_DEVICE_RULES.map((r) => ({ ...r }));
  if (privileged) devices.push(...(input.hostDevices ?? hostDevices)());
  for (const d of hc.Devices ?? []) {
    const m = deviceMapping(d.PathOnHost, d.PathInContainer, d.CgroupPermissions);
    devices.push(...m.devices);
    if (!privileged) rules.push(...m.rules);
  }
  for (const r of hc.DeviceCgroupRules ?? []) if (!privileged) rules.push(parseDeviceCgroupRule(r));

  const resources: LinuxResources = { ...resourcesOf(hc), devices: rules };

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: !!config.Tty,
      user: { uid: input.user.uid, gid: input.user.gid, ...(input.user.additionalGids.length ? { additionalGids: input.user.additionalGids } : {}) },
      args: argv,
      env: containerEnv(config.Env, hostname, !!config.Tty, input.linkEnv, input.user.home),
      cwd: config.WorkingDir || "/",
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      noNewPrivileges: sec.noNewPrivileges,
      ...(rlimits.length ? { rlimits } : {}),
      ...(hc.OomScoreAdj ? { oomScoreAdj: hc.OomScoreAdj } : {}),
      ...(config.Tty && hc.ConsoleSize && hc.ConsoleSize[0] > 0 ? { consoleSize: { height: hc.ConsoleSize[0], width: hc.ConsoleSize[1] } } : {}),
    },
    root: { path: input.rootfs, readonly: !!hc.ReadonlyRootfs },
    mounts,
    linux: {
      namespaces,
      ...(input.userns ? { uidMappings: input.userns.uidMappings.map((m) => ({ ...m })), gidMappings: input.userns.gidMappings.map((m) => ({ ...m })) } : {}),
      cgroupsPath: containerCgroupsPath(id, hc, input.cgroupParent),
      resources,
      ...(devices.length ? { devices } : {}),
      ...(hc.Sysctls && Object.keys(hc.Sysctls).length ? { sysctl: { ...hc.Sysctls } } : {}),
      ...(seccomp ? { seccomp } : {}),
      maskedPaths: privileged || sec.label.includes("systempaths=unconfined") ? [] : hc.MaskedPaths ?? dockerMaskedPaths(),
      readonlyPaths: privileged || sec.label.includes("systempaths=unconfined") ? [] : hc.ReadonlyPaths ?? [...DOCKER_READONLY_PATHS],
    },
  };
  // --annotation: passed through to the runtime, as dockerd does
  if (hc.Annotations && Object.keys(hc.Annotations).length) spec.annotations = { ...spec.annotations, ...hc.Annotations };
  if (utsNs) {
    spec.hostname = hostname;
    if (config.Domainname) spec.domainname = config.Domainname;
  }
  const propagation = extra.map((m) => m.options?.find((o) => /shared|slave/.test(o))).find(Boolean);
  if (propagation) spec.linux!.rootfsPropagation = propagation.includes("shared") ? "rshared" : "rslave";
  return { spec, warnings };
}

// ------------------------------------------------------------------ per-container files

export function hostsFile(networkMode: string, hostHosts: string | undefined, extraHosts: string[] = [], networkEntries: string[] = []): string {
  let text: string;
  if (normalizeNetworkMode(networkMode) === "host" && hostHosts !== undefined) text = hostHosts.endsWith("\n") || hostHosts === "" ? hostHosts : `${hostHosts}\n`;
  else {
    text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
  }
  for (const h of extraHosts) {
    const i = h.indexOf(":");
    if (i <= 0) throw invalid(`invalid extra host "${h}": use host:ip`, { field: "HostConfig.ExtraHosts" });
    text += `${h.slice(i + 1)}\t${h.slice(0, i)}\n`;
  }
  // legacy links, then the container's own addresses (Docker's order)
  for (const e of networkEntries) text += `${e}\n`;
  return text;
}

/**
 * resolv.conf: the host's for host networking; otherwise no nameserver at all (a container on
 * the none network, or on the bridge until networking exists, cannot reach a resolver), with the
 * user's --dns, --dns-search and --dns-option.
 */
export function resolvConfFile(networkMode: string, hostResolv: string | undefined, hc: HostConfig): string {
  const dns = hc.Dns ?? [];
  const search = hc.DnsSearch ?? [];
  const options = hc.DnsOptions ?? [];
  if (normalizeNetworkMode(networkMode) === "host" && dns.length === 0 && search.length === 0 && options.length === 0) return hostResolv ?? "";
  const lines: string[] = [];
  if (dns.length === 0) lines.push("# cove: no nameserver is reachable from this container's network");
  if (search.length) lines.push(`search ${search.join(" ")}`);
  for (const d of dns) lines.push(`nameserver ${d}`);
  if (options.length) lines.push(`options ${options.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

/**
 * resolv.conf for a container on a network: --dns servers, else the embedded DNS address on a
 * user-defined network (it forwards to the --dns servers or the host's), else the host's
 * nameservers without loopback ones (unreachable from the container's namespace). Search domains
 * and options come from --dns-search/--dns-option, else from the host; the embedded DNS adds
 * ndots:0 as Docker does.
 */
export function networkResolvConf(hostResolv: string | undefined, hc: HostConfig, embedded: string | undefined): string {
  const host = { nameservers: [] as string[], search: [] as string[], options: [] as string[] };
  for (const line of (hostResolv ?? "").split("\n")) {
    const [key, ...rest] = line.trim().split(/\s+/);
    if (key === "nameserver" && rest[0]) host.nameservers.push(rest[0]);
    else if ((key === "search" || key === "domain") && rest.length) host.search = rest;
    else if (key === "options" && rest.length) host.options.push(...rest);
  }
  const isLoopback = (ip: string) => ip.startsWith("127.") || ip === "::1";
  let servers: string[];
  if (embedded) servers = [embedded];
  else if (hc.Dns?.length) servers = [...hc.Dns];
  else servers = host.nameservers.filter((ip) => !isLoopback(ip));
  const search = hc.DnsSearch?.length ? hc.DnsSearch : host.search;
  let options = hc.DnsOptions?.length ? [...hc.DnsOptions] : host.options;
  if (embedded && !options.some((o) => o.startsWith("ndots:"))) options = [...options, "ndots:0"];
  const lines: string[] = [];
  if (servers.length === 0) lines.push("# cove: the host has no nameserver a container can reach; use --dns");
  for (const ns of servers) lines.push(`nameserver ${ns}`);
  if (search.length) lines.push(`search ${search.join(" ")}`);
  if (options.length) lines.push(`options ${options.join(" ")}`);
  return `${lines.join("\n")}\n`;
}
