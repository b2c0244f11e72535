// The cgroup driver interfaces the runtime codes against (re-exported by index.ts).

import type { LinuxResources } from "../spec.js";
import type { CgroupFs } from "./fsops.js";
import type { CgroupStats } from "./stats.js";

export interface CgroupOptions {
  /** container id */
  id: string;
  /**
   * linux.cgroupsPath: absolute = relative to each hierarchy's root; relative = under this
   * process's own cgroup (as runc); absent = "/cove/<id>". systemd "slice:prefix:name" is refused.
   */
  cgroupsPath?: string;
  resources?: LinuxResources;
  /** Tests: a fake root holding proc/self/mountinfo, proc/self/cgroup and the mount points. */
  mountRoot?: string;
  /** Tests and tracing: the filesystem seam (default: the real cgroupfs). */
  fs?: CgroupFs;
  /** Called with each note about a setting that was ignored (default: kept in manager.warnings). */
  warn?: (message: string) => void;
  /** How long freeze/thaw wait for the kernel to reach the state (default 5000 ms). */
  freezeTimeoutMs?: number;
}

/** Host effects TypeScript cannot perform, implemented natively by the runtime. */
export interface CgroupHostOps {
  /** Loads insns as a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to cgroupDir, replacing cove's previous one. */
  attachDeviceProgram(cgroupDir: string, insns: Buffer, license: string): Promise<void>;
}

export interface CgroupManager {
  readonly version: 1 | 2;
  /** controller (v1 subsystem, "name=systemd", or "unified") → absolute directory */
  readonly paths: Record<string, string>;
  /** Notes about settings that were ignored on this host (kernel memory, v2 disableOOMKiller, ...). */
  readonly warnings: string[];
  /** mkdir each hierarchy's directory, enable controllers, apply the resources; undoes its own work on failure. */
  create(): Promise<void>;
  /** The cgroup.procs files the container's init pid must be written to. */
  procsFiles(): string[];
  /** Validates everything first (a bad update changes nothing), then writes. */
  apply(resources: LinuxResources): Promise<void>;
  stats(): Promise<CgroupStats>;
  /** Every process in the cgroup and its descendants. */
  pids(): Promise<number[]>;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  frozen(): Promise<boolean>;
  killAll(signal: NodeJS.Signals | number): Promise<void>;
  /** rmdir the cgroup (and any child cgroups); missing directories are fine. */
  destroy(): Promise<void>;
  /** Whether the OOM killer acted here; given the exit, waits out the kernel counting a kill after its SIGKILL. */
  oomKilled(exit?: { code: number; signal: number }): Promise<boolean>;
}

/** One planned write: a file and its value, and the setting it comes from (for errors). */
export interface CgroupWrite {
  file: string;
  value: string;
  field: string;
  /** On EINVAL, retry once after the other writes (the cpu period/quota ordering of runc). */
  retryLater?: boolean;
}
