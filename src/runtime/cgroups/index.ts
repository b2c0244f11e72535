// cove's cgroup drivers: cgroup v1 (one directory per hierarchy) and cgroup v2 (one directory in
// the unified hierarchy), chosen from /proc/self/mountinfo. On a hybrid host (v1 controllers plus
// a controller-less cgroup2 mount) the v1 driver is used.

import { nodeCgroupFs } from "./fsops.js";
import { detectCgroupHost } from "./mountinfo.js";
import type { CgroupHostOps, CgroupManager, CgroupOptions } from "./types.js";
import { V1Manager } from "./v1.js";
import { V2Manager } from "./v2.js";

export type { CgroupFs } from "./fsops.js";
export { nodeCgroupFs } from "./fsops.js";
export { detectCgroupHost, normalizeCgroupsPath, parseMountinfo, parseProcCgroup, type CgroupHost, type CgroupMount } from "./mountinfo.js";
export type { CgroupHostOps, CgroupManager, CgroupOptions } from "./types.js";
export type { BlkioEntry, CgroupStats, CpuStats, MemoryStats } from "./stats.js";
export { compileDeviceFilter, deviceAllowed, v1DeviceWrites, DEVICE_FILTER_LICENSE } from "./devicefilter.js";
export { blkioWeightToIoWeight, sharesToWeight, validateResources } from "./values.js";

/**
 * The cgroup manager for a container on this host. Reads the mount table; does not touch the
 * cgroup tree until create() / apply() / destroy().
 */
export async function cgroupManager(opts: CgroupOptions, host?: CgroupHostOps): Promise<CgroupManager> {
  const h = await detectCgroupHost(opts.mountRoot);
  const fs = opts.fs ?? nodeCgroupFs;
  return h.version === 2 ? new V2Manager(opts, h, host, fs).init() : new V1Manager(opts, h, host, fs).init();
}
