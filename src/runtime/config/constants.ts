// Linux facts the validator and other parts of cove share: capability and rlimit numbers, the
// namespace types of the OCI spec, and Docker's defaults (moby: daemon/pkg/oci/defaults.go).

import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { isErrno } from "../../common/errors.js";
import { ignored } from "../../common/ignore.js";
import type { DeviceCgroupRule, NamespaceType } from "../spec.js";

/** Linux capabilities by number, as in <linux/capability.h> up to CAP_LAST_CAP (40) on kernel 6.x. */
export const CAPABILITIES: ReadonlyArray<{ readonly name: string; readonly number: number }> = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
].map((name, number) => Object.freeze({ name, number }));

/** Resource limits by number, as in <asm-generic/resource.h> (x86 and arm64 use the generic values). */
export const RLIMITS: ReadonlyArray<{ readonly name: string; readonly number: number }> = [
  "RLIMIT_CPU",
  "RLIMIT_FSIZE",
  "RLIMIT_DATA",
  "RLIMIT_STACK",
  "RLIMIT_CORE",
  "RLIMIT_RSS",
  "RLIMIT_NPROC",
  "RLIMIT_NOFILE",
  "RLIMIT_MEMLOCK",
  "RLIMIT_AS",
  "RLIMIT_LOCKS",
  "RLIMIT_SIGPENDING",
  "RLIMIT_MSGQUEUE",
  "RLIMIT_NICE",
  "RLIMIT_RTPRIO",
  "RLIMIT_RTTIME",
].map((name, number) => Object.freeze({ name, number }));

/** The namespace types of config-linux.md, in the order runc's features document lists them. */
export const NAMESPACE_TYPES: readonly NamespaceType[] = ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"];

/** The capabilities Docker grants a container by default (moby: daemon/pkg/oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/**
 * Docker's default linux.maskedPaths (moby: daemon/pkg/oci/defaults.go). moby also masks
 * /sys/devices/system/cpu/cpu<N>/thermal_throttle for each CPU where it exists; see
 * dockerMaskedPaths() for the host-specific list.
 */
export const DOCKER_MASKED_PATHS: readonly string[] = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/sys/devices/virtual/powercap",
  "/sys/firmware",
];

/**
 * DOCKER_MASKED_PATHS plus /sys/devices/system/cpu/cpu<N>/thermal_throttle for every CPU of this
 * host that has one, as moby computes it (GHSA-6fw5-f8r9-fgfm). `sysRoot` is for tests.
 */
export function dockerMaskedPaths(sysRoot = "/"): string[] {
  const cpuDir = join(sysRoot, "sys/devices/system/cpu");
  let cpus: number[] = [];
  try {
    cpus = readdirSync(cpuDir)
      .filter((e) => /^cpu\d+$/.test(e))
      .map((e) => Number(e.slice(3)))
      .sort((a, b) => a - b);
  } catch (err) {
    // no sysfs (a test root, a chroot): only the fixed list
    if (!isErrno(err, "ENOENT", "ENOTDIR")) ignored(`list the CPUs in ${cpuDir} for the masked paths`, err);
  }
  const extra = cpus
    .map((n) => `/sys/devices/system/cpu/cpu${n}/thermal_throttle`)
    .filter((p) => existsSync(join(sysRoot, p)));
  return [...DOCKER_MASKED_PATHS, ...extra];
}

/** Docker's default linux.readonlyPaths (moby: daemon/pkg/oci/defaults.go). */
export const DOCKER_READONLY_PATHS: readonly string[] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/**
 * Docker's default linux.resources.devices rules (moby: daemon/pkg/oci/defaults.go): deny all,
 * then allow /dev/zero, /dev/null, /dev/urandom, /dev/random, /dev/tty, /dev/console, and deny
 * /dev/fuse. The runtime adds its own defaults (ptys, /dev/full, /dev/ptmx) on top.
 */
export const DOCKER_DEFAULT_DEVICE_RULES: readonly Readonly<DeviceCgroupRule>[] = [
  { allow: false, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
  { allow: true, type: "c", major: 5, minor: 1, access: "rwm" },
  { allow: false, type: "c", major: 10, minor: 229, access: "rwm" },
];

/** The rootfsPropagation values runc accepts (the schema lists only the non-recursive four). */
export const ROOTFS_PROPAGATIONS: readonly string[] = [
  "shared",
  "slave",
  "private",
  "unbindable",
  "rshared",
  "rslave",
  "rprivate",
  "runbindable",
];

/** IPC-namespaced sysctls besides fs.mqueue.* (runc: libcontainer/configs/validate). */
export const IPC_SYSCTLS: ReadonlySet<string> = new Set([
  "kernel.msgmax",
  "kernel.msgmnb",
  "kernel.msgmni",
  "kernel.sem",
  "kernel.shmall",
  "kernel.shmmax",
  "kernel.shmmni",
  "kernel.shm_rmid_forced",
]);
