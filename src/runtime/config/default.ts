// The config.json `cove runtime spec` writes: runc's `runc spec` example (libcontainer/specconv/
// example.go) with cove's hostname, and its rootless variant (`runc spec --rootless`).

import { OCI_VERSION, type Mount, type Namespace, type Spec } from "../spec.js";

export interface DefaultSpecOptions {
  /** The `--rootless` variant: a user namespace mapping the caller, no network namespace, /sys bound. */
  rootless?: boolean;
  /** process.args; default ["sh"]. */
  args?: string[];
  /** process.terminal; default true. */
  terminal?: boolean;
  /** Include a cgroup namespace (default true). runc adds one only on a pure cgroup v2 host. */
  cgroupns?: boolean;
  /** Host uid and gid to map to root in the rootless variant; default this process's euid/egid. */
  hostUid?: number;
  hostGid?: number;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function baseMounts(): Mount[] {
  return [
    { destination: "/proc", type: "proc", source: "proc" },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] },
  ];
}

/** A fresh default spec; each call returns new objects the caller may modify. */
export function defaultSpec(opts: DefaultSpecOptions = {}): Spec {
  const caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
  const namespaces: Namespace[] = [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  if (opts.cgroupns !== false) namespaces.push({ type: "cgroup" });
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: opts.terminal ?? true,
      user: { uid: 0, gid: 0 },
      args: opts.args ? [...opts.args] : ["sh"],
      env: [`PATH=${DEFAULT_PATH}`, "TERM=xterm"],
      cwd: "/",
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: true },
    hostname: "cove",
    mounts: baseMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: "rwm" }] },
      namespaces,
      maskedPaths: [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
        "/sys/devices/virtual/tpm",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
  if (opts.rootless) toRootless(spec, opts.hostUid ?? process.geteuid?.() ?? 0, opts.hostGid ?? process.getegid?.() ?? 0);
  return spec;
}

/** runc's specconv.ToRootless: what a container started by an unprivileged user can have. */
function toRootless(spec: Spec, uid: number, gid: number): void {
  const linux = spec.linux!;
  linux.namespaces = (linux.namespaces ?? []).filter((n) => n.type !== "network" && n.type !== "user");
  linux.namespaces.push({ type: "user" });
  linux.uidMappings = [{ containerID: 0, hostID: uid, size: 1 }];
  linux.gidMappings = [{ containerID: 0, hostID: gid, size: 1 }];
  spec.mounts = (spec.mounts ?? []).map((m) => {
    // sysfs cannot be mounted without a network namespace of one's own: bind the host's read-only.
    if (m.destination === "/sys") return { destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] };
    // gid=5 (tty) and uid= are not mapped in a one-id user namespace.
    if (!m.options) return m;
    return { ...m, options: m.options.filter((o) => !o.startsWith("gid=") && !o.startsWith("uid=")) };
  });
  delete linux.resources;
}
