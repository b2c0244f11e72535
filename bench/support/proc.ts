// What the benchmarks read of processes and cgroups: the processes running (to find an engine's
// daemons and monitors), their memory, the machine's /proc/meminfo, and the cgroup hierarchies an
// engine's leftovers may sit in.

import { existsSync, readFileSync, type Dirent } from "node:fs";
import { readdir, readFile, realpath, rmdir } from "node:fs/promises";
import path from "node:path";

export interface ProcInfo {
  pid: number;
  argv: string[];
}

/** Every process with its command line (those that exit meanwhile are left out). */
export async function processes(): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const e of await readdir("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      out.push({ pid: Number(e), argv: (await readFile(`/proc/${e}/cmdline`, "utf8")).split("\0").filter(Boolean) });
    } catch {
      // exited
    }
  }
  return out;
}

export interface Memory {
  rssKb: number;
  pssKb: number;
}

/** RSS and PSS of a process from /proc/PID/smaps_rollup (zero when it is gone). */
export async function memoryOf(pid: number): Promise<Memory> {
  try {
    const text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
    return { rssKb: field("Rss"), pssKb: field("Pss") };
  } catch {
    return { rssKb: 0, pssKb: 0 };
  }
}

export async function totalMemory(pids: number[]): Promise<Memory> {
  const all = await Promise.all(pids.map(memoryOf));
  return { rssKb: all.reduce((s, m) => s + m.rssKb, 0), pssKb: all.reduce((s, m) => s + m.pssKb, 0) };
}

/** The cgroup hierarchies mounted under /sys/fs/cgroup (the unified one included). */
export async function cgroupHierarchies(): Promise<string[]> {
  const out = new Set<string>();
  try {
    for (const e of await readdir("/sys/fs/cgroup")) out.add(await realpath(path.join("/sys/fs/cgroup", e)).catch(() => path.join("/sys/fs/cgroup", e)));
  } catch {
    // no cgroupfs
  }
  if (existsSync("/sys/fs/cgroup/cgroup.controllers")) out.add("/sys/fs/cgroup");
  return [...out];
}

/** Removes a cgroup directory (children first), killing what is left in it. */
export async function removeCgroup(dir: string): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await removeCgroup(path.join(dir, e.name));
  for (let i = 0; i < 30; i++) {
    try {
      for (const pid of (await readFile(path.join(dir, "cgroup.procs"), "utf8")).split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone
        }
      }
      await rmdir(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export const MEMINFO_FIELDS = ["MemAvailable", "Slab", "SUnreclaim", "PageTables", "KernelStack", "Shmem"] as const;
export type MemInfo = Record<(typeof MEMINFO_FIELDS)[number], number>;
/** What the kernel holds for the containers (SUnreclaim is within Slab). */
export const KERNEL_SHARE = ["Slab", "PageTables", "KernelStack", "Shmem"] as const;

/** The machine's /proc/meminfo fields above, in KiB. */
export function meminfo(): MemInfo {
  const text = readFileSync("/proc/meminfo", "utf8");
  const out = {} as MemInfo;
  for (const f of MEMINFO_FIELDS) out[f] = Number(new RegExp(`^${f}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  return out;
}
