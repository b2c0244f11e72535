// cove's cgroup drivers: cgroup v1 (one directory per hierarchy) and cgroup v2 (one directory in
// the unified hierarchy), chosen from /proc/self/mountinfo. On a hybrid host (v1 controllers plus
// a controller-less cgroup2 mount) the v1 driver is used.

import { rmdirSync } from "node:fs";
import { isErrno } from "../../common/errors.js";
import { ignored } from "../../common/ignore.js";
import { nodeCgroupFs } from "./fsops.js";
import { detectCgroupHost } from "./mountinfo.js";
import type { CgroupHostOps, CgroupManager, CgroupOptions } from "./types.js";

export type { CgroupFs } from "./fsops.js";
export { nodeCgroupFs } from "./fsops.js";
export { detectCgroupHost, normalizeCgroupsPath, parseMountinfo, parseProcCgroup, type CgroupHost, type CgroupMount } from "./mountinfo.js";
export type { CgroupHostOps, CgroupManager, CgroupOptions } from "./types.js";
export type { BlkioEntry, CgroupStats, CpuStats, MemoryStats } from "./stats.js";
export { compileDeviceFilter, deviceAllowed, v1DeviceWrites, DEVICE_FILTER_LICENSE } from "./devicefilter.js";
export { NoCgroupManager, hasLimits, processTree } from "./none.js";
export { blkioWeightToIoWeight, sharesToWeight, validateResources } from "./values.js";

/**
 * The cgroup manager for a container on this host. Reads the mount table; does not touch the
 * cgroup tree until create() / apply() / destroy().
 */
export async function cgroupManager(opts: CgroupOptions, host?: CgroupHostOps): Promise<CgroupManager> {
  const h = await detectCgroupHost(opts.mountRoot);
  const fs = opts.fs ?? nodeCgroupFs;
  // only this host's driver: a runtime command is a process of its own, and loads what it uses
  if (h.version === 2) return new (await import("./v2.js")).V2Manager(opts, h, host, fs).init();
  return new (await import("./v1.js")).V1Manager(opts, h, host, fs).init();
}

/**
 * Removes a shared parent cgroup (cove's /cove) with its last container. One that still holds
 * another container (EBUSY, ENOTEMPTY) or is already gone stays as it is; any other failure is
 * logged, never thrown: the container it was tidying after is gone either way.
 */
export async function removeSharedParent(dir: string): Promise<void> {
  try {
    // in place, as every cgroupfs call of the drivers (fsops.ts): a thread-pool round trip per
    // hierarchy put ten of them in a row on every container's removal
    rmdirSync(dir);
  } catch (err) {
    if (!isErrno(err, "EBUSY", "ENOTEMPTY", "EEXIST", "ENOENT")) ignored(`remove the shared parent cgroup ${dir}`, err);
  }
}
