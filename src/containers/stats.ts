// `docker stats`: Docker's stats JSON (moby's types.StatsJSON) built from the runtime's cgroup
// figures. cgroup v1 and v2 differ as they do in dockerd: v1 sends percpu_usage, blkio ops in
// Go's capitalised form ("Read") and the v1 memory.stat keys; v2 sends the v2 memory.stat keys and
// lowercase io ops. A container that is not running gets the zero document dockerd sends (name and
// id set, every counter zero, blkio lists null).

import { readFile } from "node:fs/promises";
import os from "node:os";
import { BLKIO_STATS_KEYS, type BlkioStatEntry, type CpuStats, type NetworkStats, type StatsResponse } from "../docker/index.js";
import type { BlkioEntry, CgroupStats } from "../runtime/cgroups/index.js";

/** Docker's stats JSON (defined in src/docker), under the name the container service uses. */
export type { StatsResponse as DockerStats };

export const ZERO_TIME = "0001-01-01T00:00:00Z";
/** USER_HZ: /proc/stat counts clock ticks of 1/100 s on Linux. */
const CLOCK_TICKS = 100;

function zeroCpu(): CpuStats {
  return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
}

/** What dockerd sends for a container that is not running: name and id, zeros everywhere. */
export function emptyStats(name: string, id: string): StatsResponse {
  return {
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: Object.fromEntries(BLKIO_STATS_KEYS.map((k) => [k, null])) as StatsResponse["blkio_stats"],
    num_procs: 0,
    storage_stats: {},
    cpu_stats: zeroCpu(),
    precpu_stats: zeroCpu(),
    memory_stats: {},
    name,
    id,
  };
}

/** The host's figures dockerd adds: total CPU time in ns (/proc/stat's first line) and online CPUs. */
export interface HostCpu {
  systemUsage: number;
  onlineCpus: number;
}

/** Parses /proc/stat: the sum of the "cpu" line's fields in ns, and the number of cpuN lines. */
export function parseProcStat(text: string): HostCpu {
  let systemUsage = 0;
  let onlineCpus = 0;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "cpu") {
      // user nice system idle iowait irq softirq steal (guest time is already inside user)
      const ticks = f.slice(1, 9).reduce((a, b) => a + Number(b || 0), 0);
      systemUsage = (ticks * 1e9) / CLOCK_TICKS;
    } else if (/^cpu\d+$/.test(f[0] ?? "")) onlineCpus++;
  }
  return { systemUsage, onlineCpus };
}

export async function hostCpu(): Promise<HostCpu> {
  return parseProcStat(await readFile("/proc/stat", "utf8"));
}

/** /proc/<pid>/net/dev of the container: every interface but lo, as dockerd lists them. */
export function parseNetDev(text: string): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === "lo" || name === "") continue;
    const n = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out[name] = { rx_bytes: n[0] ?? 0, rx_packets: n[1] ?? 0, rx_errors: n[2] ?? 0, rx_dropped: n[3] ?? 0, tx_bytes: n[8] ?? 0, tx_packets: n[9] ?? 0, tx_errors: n[10] ?? 0, tx_dropped: n[11] ?? 0 };
  }
  return out;
}

function blkioList(entries: BlkioEntry[], version: 1 | 2): BlkioStatEntry[] {
  return entries.map((e) => ({ major: e.major, minor: e.minor, op: version === 1 ? (e.op === "read" ? "Read" : "Write") : e.op, value: e.value }));
}

export interface StatsInput {
  name: string;
  id: string;
  version: 1 | 2;
  cgroup: CgroupStats;
  host: HostCpu;
  /** The host's memory, used as the limit when the cgroup has none (as dockerd does). */
  machineMemory?: number;
  networks?: Record<string, NetworkStats>;
  read?: Date;
}

/** One sample in Docker's shape (precpu_stats and preread left zero: see withPrevious). */
export function dockerStats(input: StatsInput): StatsResponse {
  const s = emptyStats(input.name, input.id);
  const cg = input.cgroup;
  s.read = (input.read ?? new Date()).toISOString();
  const cpu = cg.cpu;
  s.cpu_stats = {
    cpu_usage: {
      total_usage: cpu?.usageTotal ?? 0,
      ...(input.version === 1 && cpu?.perCpu ? { percpu_usage: cpu.perCpu } : {}),
      usage_in_kernelmode: Math.round(cpu?.usageSystem ?? 0),
      usage_in_usermode: Math.round(cpu?.usageUser ?? 0),
    },
    system_cpu_usage: input.host.systemUsage,
    online_cpus: input.host.onlineCpus,
    throttling_data: { periods: cpu?.throttling.periods ?? 0, throttled_periods: cpu?.throttling.throttledPeriods ?? 0, throttled_time: cpu?.throttling.throttledTime ?? 0 },
  };
  s.pids_stats = cg.pids ? { current: cg.pids.current, ...(cg.pids.limit ? { limit: cg.pids.limit } : {}) } : {};
  for (const k of BLKIO_STATS_KEYS) s.blkio_stats[k] = [];
  if (cg.blkio) {
    s.blkio_stats.io_service_bytes_recursive = blkioList(cg.blkio.bytes, input.version);
    s.blkio_stats.io_serviced_recursive = blkioList(cg.blkio.ios, input.version);
  }
  const mem = cg.memory;
  if (mem) {
    const machine = input.machineMemory ?? os.totalmem();
    let limit = mem.limit ?? machine;
    if (limit > machine && machine > 0) limit = machine;
    s.memory_stats = { usage: mem.usage, ...(input.version === 1 ? { max_usage: mem.maxUsage ?? 0 } : {}), stats: { ...mem.stat }, ...(mem.failcnt ? { failcnt: mem.failcnt } : {}), limit };
  }
  if (input.networks && Object.keys(input.networks).length > 0) s.networks = input.networks;
  return s;
}

/** Fills precpu_stats and preread from the sample before (dockerd sends both in every frame). */
export function withPrevious(cur: StatsResponse, prev: StatsResponse | undefined): StatsResponse {
  if (!prev) return cur;
  return { ...cur, preread: prev.read, precpu_stats: prev.cpu_stats };
}
