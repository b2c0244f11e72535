// Container resource statistics, and the parsers for the cgroupfs files they come from. One
// shape for both versions; fields a version or host cannot provide are left out.

export interface MemoryStats {
  /** bytes in use (v1 memory.usage_in_bytes, v2 memory.current) */
  usage: number;
  /** limit in bytes; undefined = unlimited */
  limit?: number;
  /** peak usage (v1 max_usage_in_bytes, v2 memory.peak where the kernel has it) */
  maxUsage?: number;
  /** page cache (v1 total_cache, v2 file) */
  cache?: number;
  /** anonymous memory (v1 total_rss, v2 anon) */
  rss?: number;
  /** swap in use (v1 memsw usage - usage, v2 memory.swap.current) */
  swapUsage?: number;
  /** swap limit (OCI meaning: memory+swap on v1; swap alone on v2); undefined = unlimited */
  swapLimit?: number;
  /** times the limit was hit (v1 memory.failcnt, v2 memory.events max) */
  failcnt?: number;
  /** the raw memory.stat counters */
  stat: Record<string, number>;
}

export interface CpuStats {
  /** nanoseconds */
  usageTotal: number;
  usageUser: number;
  usageSystem: number;
  /** per-cpu total usage in ns (v1 cpuacct.usage_percpu; v2 has none) */
  perCpu?: number[];
  throttling: { periods: number; throttledPeriods: number; throttledTime: number };
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: "read" | "write";
  value: number;
}

export interface CgroupStats {
  memory?: MemoryStats;
  cpu?: CpuStats;
  pids?: { current: number; limit?: number };
  /** bytes and operations per device */
  blkio?: { bytes: BlkioEntry[]; ios: BlkioEntry[] };
  /** per page size ("2MB") */
  hugetlb?: Record<string, { usage: number; maxUsage?: number; failcnt: number }>;
  /** oom: times the OOM killer was invoked for the cgroup (v2 only); oomKill: processes it killed */
  oom?: { oom?: number; oomKill: number };
}

/** Parses "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
export function parseFlatKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const [k, v, extra] = line.trim().split(/\s+/);
    if (!k || v === undefined || extra !== undefined) continue;
    const n = Number(v);
    if (Number.isFinite(n)) out[k] = n;
  }
  return out;
}

/** Parses a single number; "max" (and v1's "unlimited" sentinel near 2^63) → undefined. */
export function parseLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === "max" || t === "") return undefined;
  const n = Number(t);
  if (!Number.isFinite(n)) return undefined;
  // v1 reports "no limit" as PAGE_COUNTER_MAX * PAGE_SIZE, just under 2^63
  if (n >= 2 ** 62) return undefined;
  return n;
}

export function parseNumber(text: string): number {
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : 0;
}

/** cpuacct.usage_percpu: space-separated ns per cpu. */
export function parsePerCpu(text: string): number[] {
  return text
    .trim()
    .split(/\s+/)
    .filter((s) => s !== "")
    .map(Number);
}

/**
 * blkio.throttle.io_service_bytes / io_serviced (v1): "8:0 Read 1234" lines plus a Total line.
 * Only Read and Write are kept.
 */
export function parseBlkio(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):(\d+)\s+(Read|Write)\s+(\d+)$/.exec(line.trim());
    if (!m) continue;
    out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3] === "Read" ? "read" : "write", value: Number(m[4]) });
  }
  return out;
}

/** io.stat (v2): "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0". */
export function parseIoStat(text: string): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of text.split("\n")) {
    const [dev, ...kv] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? "");
    if (!m) continue;
    const major = Number(m[1]);
    const minor = Number(m[2]);
    const f: Record<string, number> = {};
    for (const p of kv) {
      const [k, v] = p.split("=");
      if (k && v !== undefined) f[k] = Number(v);
    }
    if (f.rbytes !== undefined) bytes.push({ major, minor, op: "read", value: f.rbytes });
    if (f.wbytes !== undefined) bytes.push({ major, minor, op: "write", value: f.wbytes });
    if (f.rios !== undefined) ios.push({ major, minor, op: "read", value: f.rios });
    if (f.wios !== undefined) ios.push({ major, minor, op: "write", value: f.wios });
  }
  return { bytes, ios };
}
