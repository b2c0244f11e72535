// Checks and conversions of linux.resources values that do not depend on the host: every value
// is validated before the first write, so a bad `update` changes nothing.

import { invalid } from "../../common/errors.js";
import type { LinuxResources } from "../spec.js";

function fail(field: string, message: string, hint?: string): never {
  throw invalid(`linux.resources.${field}: ${message}`, { field: `linux.resources.${field}`, code: "cgroup.value-invalid", ...(hint ? { hint } : {}) });
}

function int(field: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER, hint?: string): number {
  if (typeof v !== "number" || !Number.isInteger(v)) fail(field, `${JSON.stringify(v)} is not an integer`, hint);
  if (v < min || v > max) fail(field, `${v} is out of range (${min}..${max === Number.MAX_SAFE_INTEGER ? "" : max})`, hint);
  return v;
}

/** Validates a cpuset list such as "0-3,5,7-8" and returns it in canonical form. */
export function parseCpuList(field: string, s: string): string {
  const trimmed = s.trim();
  if (trimmed === "") return "";
  const parts: string[] = [];
  for (const part of trimmed.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) fail(field, `"${s}" is not a list of numbers and ranges`, 'write it like "0-3,5"');
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (hi < lo) fail(field, `"${s}": range ${part} is backwards`, 'write ranges low-high, like "0-3"');
    if (hi > 1 << 20) fail(field, `"${s}": ${hi} is not a plausible cpu or node number`);
    parts.push(m[2] !== undefined ? `${lo}-${hi}` : `${lo}`);
  }
  return parts.join(",");
}

/** cpu.shares (2..262144) → cpu.weight (1..10000), runc's documented linear conversion. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio.weight (10..1000) → io.weight (1..10000), as runc converts. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * OCI memory.swap is memory+swap; cgroup v2 memory.swap.max is swap alone. Returns the v2 value
 * (-1 = "max", 0 = leave unset... unless both are equal, which is a real 0), following runc.
 */
export function swapToV2(swap: number | undefined, limit: number | undefined): number | undefined {
  const mem = limit ?? 0;
  const sw = swap ?? 0;
  if (mem === -1 && sw === 0) return -1;
  if (sw === -1) return -1;
  if (sw === 0) return undefined;
  if (mem === 0 || mem === -1) {
    fail("memory.swap", `cannot set a swap limit (${sw}) without a memory limit`, "set linux.resources.memory.limit too (swap is memory+swap)");
  }
  if (sw < mem) fail("memory.swap", `${sw} is below memory.limit ${mem}; swap is the memory+swap total`, "set swap >= limit, or -1 for unlimited swap");
  return sw - mem;
}

export const HUGEPAGE_SIZE = /^[1-9][0-9]*[KMG]B$/;

/** Throws on the first value that no cgroup version could accept. */
export function validateResources(r: LinuxResources): void {
  const m = r.memory;
  if (m) {
    for (const k of ["limit", "reservation", "swap", "kernel", "kernelTCP"] as const) {
      const v = m[k];
      if (v !== undefined && v !== -1) int(`memory.${k}`, v, 0, Number.MAX_SAFE_INTEGER, "give bytes, or -1 for unlimited");
    }
    if (m.swappiness !== undefined && m.swappiness !== -1) int("memory.swappiness", m.swappiness, 0, 100);
    if (m.limit !== undefined && m.limit > 0 && m.swap !== undefined && m.swap > 0 && m.swap < m.limit) {
      fail("memory.swap", `${m.swap} is below memory.limit ${m.limit}; swap is the memory+swap total`, "set swap >= limit, or -1 for unlimited swap");
    }
    if (m.limit !== undefined && m.limit > 0 && m.reservation !== undefined && m.reservation > m.limit) {
      fail("memory.reservation", `${m.reservation} is above memory.limit ${m.limit}`, "a soft limit (reservation) must not exceed the hard limit");
    }
  }
  const c = r.cpu;
  if (c) {
    if (c.shares !== undefined && c.shares !== 0) int("cpu.shares", c.shares, 2, 262144, "cpu shares are 2..262144 (1024 = one default share)");
    if (c.period !== undefined && c.period !== 0) int("cpu.period", c.period, 1000, 1000000, "the CFS period is 1000..1000000 microseconds");
    if (c.quota !== undefined && c.quota !== 0 && c.quota !== -1) int("cpu.quota", c.quota, 1000, Number.MAX_SAFE_INTEGER, "the CFS quota is at least 1000 microseconds, or -1 for no limit");
    if (c.burst !== undefined) {
      int("cpu.burst", c.burst, 0);
      if (c.quota !== undefined && c.quota > 0 && c.burst > c.quota) fail("cpu.burst", `${c.burst} exceeds cpu.quota ${c.quota}`, "burst must not exceed quota");
    }
    if (c.realtimePeriod !== undefined && c.realtimePeriod !== 0) int("cpu.realtimePeriod", c.realtimePeriod, 1);
    if (c.realtimeRuntime !== undefined && c.realtimeRuntime !== -1) int("cpu.realtimeRuntime", c.realtimeRuntime, 0);
    if (c.idle !== undefined) int("cpu.idle", c.idle, 0, 1, "cpu.idle is 0 or 1");
    if (c.cpus !== undefined) parseCpuList("cpu.cpus", c.cpus);
    if (c.mems !== undefined) parseCpuList("cpu.mems", c.mems);
  }
  if (r.pids && typeof r.pids.limit !== "number") fail("pids.limit", `${JSON.stringify(r.pids.limit)} is not a number`);
  if (r.pids) int("pids.limit", r.pids.limit, Number.MIN_SAFE_INTEGER);
  const b = r.blockIO;
  if (b) {
    if (b.weight !== undefined && b.weight !== 0) int("blockIO.weight", b.weight, 10, 1000, "block IO weights are 10..1000");
    if (b.leafWeight !== undefined && b.leafWeight !== 0) int("blockIO.leafWeight", b.leafWeight, 10, 1000, "block IO weights are 10..1000");
    (b.weightDevice ?? []).forEach((d, i) => {
      int(`blockIO.weightDevice[${i}].major`, d.major, 0, 0xfff);
      int(`blockIO.weightDevice[${i}].minor`, d.minor, 0, 0xfffff);
      if (d.weight !== undefined) int(`blockIO.weightDevice[${i}].weight`, d.weight, 10, 1000, "block IO weights are 10..1000");
      if (d.leafWeight !== undefined) int(`blockIO.weightDevice[${i}].leafWeight`, d.leafWeight, 10, 1000, "block IO weights are 10..1000");
    });
    for (const k of ["throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"] as const) {
      (b[k] ?? []).forEach((d, i) => {
        int(`blockIO.${k}[${i}].major`, d.major, 0, 0xfff);
        int(`blockIO.${k}[${i}].minor`, d.minor, 0, 0xfffff);
        int(`blockIO.${k}[${i}].rate`, d.rate, 0);
      });
    }
  }
  (r.hugepageLimits ?? []).forEach((h, i) => {
    if (typeof h.pageSize !== "string" || !HUGEPAGE_SIZE.test(h.pageSize)) fail(`hugepageLimits[${i}].pageSize`, `${JSON.stringify(h.pageSize)} is not a page size`, 'write it like "2MB" or "1GB"');
    if (h.limit !== -1) int(`hugepageLimits[${i}].limit`, h.limit, 0);
  });
  if (r.network) {
    if (r.network.classID !== undefined) int("network.classID", r.network.classID, 0, 0xffffffff);
    (r.network.priorities ?? []).forEach((p, i) => {
      if (typeof p.name !== "string" || !/^[^\s/]{1,15}$/.test(p.name)) fail(`network.priorities[${i}].name`, `${JSON.stringify(p.name)} is not an interface name`);
      int(`network.priorities[${i}].priority`, p.priority, 0, 0xffffffff);
    });
  }
  for (const [key, value] of Object.entries(r.unified ?? {})) {
    if (key.includes("/") || key.includes("..") || key === "" || key.startsWith(".")) fail(`unified["${key}"]`, "is not a cgroup interface file name", 'keys are file names like "memory.high"');
    if (typeof value !== "string") fail(`unified["${key}"]`, `value ${JSON.stringify(value)} is not a string`);
  }
  (r.devices ?? []).forEach((d, i) => {
    if (typeof d.allow !== "boolean") fail(`devices[${i}].allow`, "must be true or false");
    if (d.type !== undefined && !["a", "b", "c"].includes(d.type)) fail(`devices[${i}].type`, `"${d.type}" is not a, b or c`);
    if (d.major != null && d.major !== -1) int(`devices[${i}].major`, d.major, 0, 0x7fffffff);
    if (d.minor != null && d.minor !== -1) int(`devices[${i}].minor`, d.minor, 0, 0x7fffffff);
    if (d.access !== undefined && !/^[rwm]*$/.test(d.access)) fail(`devices[${i}].access`, `"${d.access}" has letters other than r, w, m`);
  });
}
