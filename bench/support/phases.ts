// Reads the phase timings a cove daemon (or runtime) recorded with COVE_TRACE (src/common/trace.ts)
// and sorts them into the runs of a benchmark: each run is a time window, and a record belongs to
// the run whose window holds its start. Prints, per phase, the median over the runs, in the order
// the phases happen, so a slower run points at its phase.

import { readFile } from "node:fs/promises";
import type { TraceRecord } from "../../src/common/trace.js";

/** One measured run: its window in epoch milliseconds. */
export interface RunWindow {
  start: number;
  end: number;
}

export interface PhaseSummary {
  phase: string;
  /** Median of the phase's total time per run (a phase met twice in one run counts both). */
  medianMs: number;
  /** Median of when the phase first began, from its run's start. */
  medianOffsetMs: number;
  /** In how many of the runs the phase was seen. */
  runs: number;
}

export interface RunBreakdown {
  phases: PhaseSummary[];
  /** Median time from the first request's arrival to the last one's end, per run. */
  daemonWindowMs: number;
  /** Median of run time outside that window: the client's own start, connect and exit. */
  outsideMs: number;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function readTrace(file: string): Promise<TraceRecord[]> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return "";
    throw err;
  });
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TraceRecord);
}

/** The records of each run, by window; records outside every window are left out. */
export function breakdown(records: TraceRecord[], windows: RunWindow[]): RunBreakdown {
  const perPhase = new Map<string, { totals: number[]; offsets: number[] }>();
  const daemonWindows: number[] = [];
  const outside: number[] = [];
  for (const w of windows) {
    const mine = records.filter((r) => r.start >= w.start && r.start <= w.end);
    const totals = new Map<string, { ms: number; offset: number }>();
    for (const r of mine) {
      const t = totals.get(r.phase) ?? { ms: 0, offset: r.start - w.start };
      t.ms += r.ms;
      t.offset = Math.min(t.offset, r.start - w.start);
      totals.set(r.phase, t);
    }
    for (const [phase, t] of totals) {
      const p = perPhase.get(phase) ?? { totals: [], offsets: [] };
      p.totals.push(t.ms);
      p.offsets.push(t.offset);
      perPhase.set(phase, p);
    }
    const api = mine.filter((r) => r.phase.startsWith("api "));
    if (api.length > 0) {
      const first = Math.min(...api.map((r) => r.start));
      const last = Math.max(...api.map((r) => r.start + r.ms));
      daemonWindows.push(last - first);
      outside.push(w.end - w.start - (last - first));
    }
  }
  const phases = [...perPhase].map(([phase, p]) => ({ phase, medianMs: median(p.totals), medianOffsetMs: median(p.offsets), runs: p.totals.length }));
  phases.sort((a, b) => a.medianOffsetMs - b.medianOffsetMs);
  return { phases, daemonWindowMs: median(daemonWindows), outsideMs: median(outside) };
}

/** What each phase measures, for the printed table. */
const PHASE_NOTES: Record<string, string> = {
  "pull.manifest": "the manifest (or index, then manifest) from the registry",
  "pull.config": "the image config fetched, stored and checked",
  "pull.layers": "layers: present ones found, the rest downloaded and unpacked",
  "pull.manifest-store": "the manifest stored",
  "pull.name": "the image record and its names, under the image lock",
  "pull.sources": "where the blobs came from, for cross-repository mounts on push",
  "api.parse": "read and validate the create body",
  create: "the whole create: name, image config, snapshot, record",
  "create.snapshot": "the rootfs snapshot from the image's layers",
  "create.network": "endpoints for the container's networks",
  "create.record": "the record, hosts/resolv.conf, log file written",
  start: "the whole start, from the API's call to the record saved",
  "start.rootfs": "overlay mount of the rootfs",
  "start.prepare": "init entries, workdir, user, volume mounts",
  "start.network": "netns, veth, address, routes (bridge)",
  "start.spec": "OCI spec built and written as the bundle",
  "start.runtime-create": "the runtime's create (in process)",
  "runtime.load": "runtime modules (first use only)",
  "runtime.config": "the spec validated (config.json read first when not passed in process)",
  "runtime.seccomp": "seccomp profile compiled (cached)",
  "runtime.cgroup": "cgroups created and limits set",
  "runtime.plan": "the shim's plan compiled",
  "runtime.state": "state.json saved (creating, then created with the pids)",
  "runtime.clone": "shim fork+exec, clone, mounts, pivot_root, up to the start fifo",
  "runtime.spawn": "in runtime.clone: the shim's vfork+exec (the event loop waits)",
  "runtime.clone+exec": "as runtime.clone, and the exec",
  "start.attach": "attach clients connected, exit watch set",
  "start.runtime-start": "the runtime's start",
  "runtime.exec": "start fifo written to the process's exec",
  "start.record": "the running state saved",
  exit: "the process runs and exits; the daemon learns of it",
  "exit.status": "exit status read",
  "exit.teardown": "runtime delete, network and rootfs released",
  "runtime.delete": "the runtime's delete (cgroups, state dir)",
  "teardown.network": "network released",
  "teardown.rootfs": "rootfs unmounted",
  "exit.record": "the exited state saved",
  remove: "--rm: the container removed",
};

export function printBreakdown(b: RunBreakdown, runs: number, indent = "  "): void {
  console.log(`${indent}${"phase (cove's own timings, COVE_TRACE)".padEnd(40)} ${"median".padStart(8)}     ${"begins".padStart(8)}`);
  for (const p of b.phases) {
    const note = PHASE_NOTES[p.phase] ?? (p.phase.startsWith("api ") ? "the request in the daemon, to its last byte out" : "");
    console.log(`${indent}${p.phase.padEnd(40)} ${p.medianMs.toFixed(2).padStart(8)} ms  at +${p.medianOffsetMs.toFixed(1).padStart(6)}  ${note}${p.runs < runs ? ` (in ${p.runs} of ${runs} runs)` : ""}`);
  }
}
