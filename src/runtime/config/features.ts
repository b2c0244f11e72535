// The features document (features.md, features-linux.md): what cove's runtime implements, as
// `cove runtime features` prints it. Kept in step with plan/ (mount options, namespaces) and
// seccomp/ (actions, architectures, flags).

import { SECCOMP_FILTER_FLAGS, SUPPORTED_ARCHITECTURES } from "../seccomp/index.js";
import { OCI_VERSION, type NamespaceType, type SeccompAction, type SeccompOperator } from "../spec.js";
import { CAPABILITIES, NAMESPACE_TYPES } from "./constants.js";

/** The features document; spec.ts has no type for it. */
export interface Features {
  ociVersionMin: string;
  ociVersionMax: string;
  hooks?: string[];
  mountOptions?: string[];
  annotations?: Record<string, string>;
  potentiallyUnsafeConfigAnnotations?: string[];
  linux?: {
    namespaces?: NamespaceType[];
    capabilities?: string[];
    cgroup?: { v1?: boolean; v2?: boolean; systemd?: boolean; systemdUser?: boolean; rdma?: boolean };
    seccomp?: {
      enabled?: boolean;
      actions?: SeccompAction[];
      operators?: SeccompOperator[];
      archs?: string[];
      knownFlags?: string[];
      supportedFlags?: string[];
    };
    apparmor?: { enabled?: boolean };
    selinux?: { enabled?: boolean };
    intelRdt?: { enabled?: boolean };
    mountExtensions?: { idmap?: { enabled?: boolean } };
    netDevices?: { enabled?: boolean };
  };
}

/** The mount options the mount planner turns into flags, propagation or mount_setattr attributes. */
const MOUNT_OPTIONS = [
  // flags
  "bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async",
  "remount", "mand", "nomand", "dirsync", "noatime", "atime", "nodiratime", "diratime", "relatime",
  "norelatime", "strictatime", "nostrictatime", "lazytime", "nolazytime", "nosymfollow", "symfollow",
  "silent", "loud", "defaults",
  // propagation
  "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable",
  // recursive attributes (mount_setattr)
  "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime", "rdiratime",
  "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime", "rnostrictatime", "rnosymfollow",
  "rsymfollow",
]; // prettier-ignore

const SECCOMP_ACTIONS: SeccompAction[] = [
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_LOG",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_TRAP",
]; // SCMP_ACT_NOTIFY: no listener support yet

const SECCOMP_OPERATORS: SeccompOperator[] = [
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_LE",
  "SCMP_CMP_LT",
  "SCMP_CMP_MASKED_EQ",
  "SCMP_CMP_NE",
];

/** The seccomp flags the OCI spec names. */
const KNOWN_SECCOMP_FLAGS = [
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_LOG",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/** A fresh features document describing cove's runtime. */
export function features(): Features {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_VERSION,
    hooks: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    mountOptions: [...MOUNT_OPTIONS].sort(),
    // runc reports its seccomp library here; cove compiles seccomp itself
    annotations: { "org.cove.runtime.version": "0.1.0", "org.cove.seccomp.compiler": "builtin (no libseccomp)" },
    linux: {
      namespaces: [...NAMESPACE_TYPES],
      capabilities: CAPABILITIES.map((c) => c.name),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS],
        operators: [...SECCOMP_OPERATORS],
        archs: [...SUPPORTED_ARCHITECTURES].sort(),
        knownFlags: [...KNOWN_SECCOMP_FLAGS],
        supportedFlags: KNOWN_SECCOMP_FLAGS.filter((f) => f in SECCOMP_FILTER_FLAGS),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
      netDevices: { enabled: false },
    },
  };
}
