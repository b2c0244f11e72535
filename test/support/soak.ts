// The soak workload, shared by the soak benchmark (bench/soak.ts, 10,000 runs) and its small
// version in the suite (test/daemon/soak.test.ts): sequential `run --rm` through the Engine API
// (create with AutoRemove, wait for "removed" registered before the start, start, the wait's
// status), a share of them on the default bridge and the rest with --network none, and between
// them execs and `logs -f` against one long-running container. Every `every` runs it samples the
// daemon: RSS, open fds, heap after a full collection, and the latency percentiles of the window.

import type { LoadDaemon } from "./load-daemon.js";

export interface SoakOptions {
  runs: number;
  execs: number;
  logs: number;
  /** Every how many runs one goes on the default bridge (0: never). */
  bridgeEvery: number;
  /** Runs per sample window. */
  every: number;
  /** Called with each sample as it is taken (progress for a long run). */
  onSample?: (s: SoakSample) => void;
}

export interface SoakSample {
  /** Runs done when the sample was taken. */
  iteration: number;
  rssMb: number;
  fds: number;
  heapMb: number;
  /** run --rm latency in the window (ms). */
  p50: number;
  p99: number;
  /** exec and logs -f latency in the window (ms; NaN when the window had none). */
  execP50: number;
  logsP50: number;
}

export interface SoakResult {
  samples: SoakSample[];
  /** Before the long-running container, and after it is removed. */
  fdsBefore: number;
  fdsAfter: number;
  bridgeRuns: number;
  /** The container the execs and logs ran against (removed at the end). */
  targetId: string;
}

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function expectStatus(what: string, r: { status: number; body: string }, want: number): void {
  if (r.status !== want) throw new Error(`${what}: ${r.status} ${r.body.trim()}`);
}

/** One `run --rm busybox true` through the API; resolves with the container's id once it is removed. */
export async function runRm(d: LoadDaemon, network: "none" | "bridge", ids?: Set<string>): Promise<string> {
  const created = await d.call("POST", "/containers/create", { Image: "busybox", Cmd: ["true"], HostConfig: { AutoRemove: true, NetworkMode: network } });
  expectStatus("create", created, 201);
  const id = (JSON.parse(created.body) as { Id: string }).Id;
  ids?.add(id);
  // the wait is registered once its headers are in: the start cannot outrun it
  const waiting = await d.stream("POST", `/containers/${id}/wait?condition=removed`);
  if (waiting.status !== 200) throw new Error(`wait ${id}: ${waiting.status} ${await waiting.rest()}`);
  const started = await d.call("POST", `/containers/${id}/start`);
  expectStatus(`start ${id}`, started, 204);
  const text = await waiting.rest();
  const status = JSON.parse(text) as { StatusCode: number; Error?: { Message: string } };
  if (status.StatusCode !== 0 || status.Error) throw new Error(`run --rm ${id} (${network}): ${text.trim()}`);
  return id;
}

/** An exec of `echo exec-ok` in the container, its output and exit code checked. */
async function execEcho(d: LoadDaemon, target: string): Promise<void> {
  const made = await d.call("POST", `/containers/${target}/exec`, { Cmd: ["echo", "exec-ok"], AttachStdout: true, AttachStderr: true });
  expectStatus("exec create", made, 201);
  const execId = (JSON.parse(made.body) as { Id: string }).Id;
  const started = await d.stream("POST", `/exec/${execId}/start`, { Detach: false, Tty: false });
  const out = await started.rest();
  if (started.status !== 200 || !out.includes("exec-ok")) throw new Error(`exec start ${execId}: ${started.status} ${JSON.stringify(out)}`);
  const inspected = await d.call("GET", `/exec/${execId}/json`);
  expectStatus("exec inspect", inspected, 200);
  const info = JSON.parse(inspected.body) as { ExitCode: number | null; Running: boolean };
  if (info.Running || info.ExitCode !== 0) throw new Error(`exec ${execId} ended with ${JSON.stringify(info)}`);
}

/**
 * `logs -f --tail 2` on the running container: the tail arrives, the client goes away while the
 * daemon follows (what a user's Ctrl-C does); the daemon must let go of the follower.
 */
async function logsFollow(d: LoadDaemon, target: string): Promise<void> {
  const s = await d.stream("GET", `/containers/${target}/logs?follow=1&stdout=1&stderr=1&tail=2`);
  if (s.status !== 200) throw new Error(`logs -f: ${s.status} ${await s.rest()}`);
  await new Promise<void>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => {
      s.res.destroy();
      reject(new Error(`logs -f: no line within 60 s (got ${JSON.stringify(text)})`));
    }, 60_000);
    s.res.on("data", (c: Buffer) => {
      text += c.toString("latin1");
      if (text.includes("tick")) {
        clearTimeout(timer);
        s.res.destroy();
        resolve();
      }
    });
    s.res.on("error", () => undefined);
    s.res.on("close", () => {
      clearTimeout(timer);
      if (!text.includes("tick")) reject(new Error(`logs -f ended without a line: ${JSON.stringify(text)}`));
    });
  });
}

/** Runs the soak on a daemon that has the busybox image; every container it makes is added to ids. */
export async function soak(d: LoadDaemon, o: SoakOptions, ids: Set<string>): Promise<SoakResult> {
  // a first run on each network opens what the daemon keeps for good (an inotify watch and its
  // epoll, the bridge): the baseline is taken after them
  await runRm(d, "none", ids);
  if (o.bridgeEvery > 0) await runRm(d, "bridge", ids);
  const fdsBefore = await d.settledFds();
  // one line every 0.1 s: logs -f always has a fresh line, and the log grows slowly (~60 B/s)
  const target = await d.call("POST", "/containers/create?name=soak-target", {
    Image: "busybox",
    Cmd: ["sh", "-c", "while :; do echo tick; usleep 100000; done"],
    HostConfig: { NetworkMode: "none" },
  });
  expectStatus("create the exec and logs target", target, 201);
  const targetId = (JSON.parse(target.body) as { Id: string }).Id;
  ids.add(targetId);
  expectStatus("start the exec and logs target", await d.call("POST", `/containers/${targetId}/start`), 204);

  const samples: SoakSample[] = [];
  let runMs: number[] = [];
  let execMs: number[] = [];
  let logsMs: number[] = [];
  let bridgeRuns = 0;
  const sample = async (iteration: number) => {
    const heap = await d.heapUsed();
    const s: SoakSample = {
      iteration,
      rssMb: d.rssKb() / 1024,
      fds: await d.settledFds(),
      heapMb: heap / (1 << 20),
      p50: quantile(runMs, 0.5),
      p99: quantile(runMs, 0.99),
      execP50: quantile(execMs, 0.5),
      logsP50: quantile(logsMs, 0.5),
    };
    samples.push(s);
    o.onSample?.(s);
    runMs = [];
    execMs = [];
    logsMs = [];
  };
  // execs and logs spread evenly over the runs
  const due = (count: number, i: number) => Math.floor(((i + 1) * count) / o.runs) > Math.floor((i * count) / o.runs);
  await sample(0);
  for (let i = 0; i < o.runs; i++) {
    const onBridge = o.bridgeEvery > 0 && i % o.bridgeEvery === o.bridgeEvery - 1;
    if (onBridge) bridgeRuns++;
    let t0 = performance.now();
    await runRm(d, onBridge ? "bridge" : "none", ids);
    runMs.push(performance.now() - t0);
    if (due(o.execs, i)) {
      t0 = performance.now();
      await execEcho(d, targetId);
      execMs.push(performance.now() - t0);
    }
    if (due(o.logs, i)) {
      t0 = performance.now();
      await logsFollow(d, targetId);
      logsMs.push(performance.now() - t0);
    }
    if ((i + 1) % o.every === 0 || i + 1 === o.runs) await sample(i + 1);
  }
  expectStatus("remove the exec and logs target", await d.call("DELETE", `/containers/${targetId}?force=1`), 204);
  return { samples, fdsBefore, fdsAfter: await d.settledFds(), bridgeRuns, targetId };
}

/** The curve as a table, one row per sample. */
export function formatCurve(samples: SoakSample[]): string {
  const f = (n: number, w: number, digits = 1) => (Number.isNaN(n) ? "-" : n.toFixed(digits)).padStart(w);
  const rows = [`${"runs".padStart(7)} ${"RSS MB".padStart(7)} ${"heap MB".padStart(8)} ${"fds".padStart(5)} ${"p50 ms".padStart(7)} ${"p99 ms".padStart(7)} ${"exec p50".padStart(9)} ${"logs p50".padStart(9)}`];
  for (const s of samples) rows.push(`${String(s.iteration).padStart(7)} ${f(s.rssMb, 7)} ${f(s.heapMb, 8)} ${String(s.fds).padStart(5)} ${f(s.p50, 7)} ${f(s.p99, 7)} ${f(s.execP50, 9)} ${f(s.logsP50, 9)}`);
  return rows.join("\n");
}

export interface SoakVerdict {
  /** From the first window after the warm-up to the last (percent). */
  rssGrowthPct: number;
  heapGrowthPct: number;
  /** The fds of the same two samples. */
  fdsFirst: number;
  fdsLast: number;
  p50First: number;
  p50Last: number;
}

/** Compares the first sample after the warm-up window (samples[1]) with the last. */
export function verdict(samples: SoakSample[]): SoakVerdict {
  const first = samples[Math.min(1, samples.length - 1)]!;
  const last = samples[samples.length - 1]!;
  return {
    rssGrowthPct: ((last.rssMb - first.rssMb) / first.rssMb) * 100,
    heapGrowthPct: ((last.heapMb - first.heapMb) / first.heapMb) * 100,
    fdsFirst: first.fds,
    fdsLast: last.fds,
    p50First: first.p50,
    p50Last: last.p50,
  };
}
