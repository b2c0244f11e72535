// Benchmark: the whole engine as a user drives it, through the same docker CLI
// (/usr/local/bin/docker) against a private cove daemon and a private dockerd (Debian's docker.io,
// overlay2, --bridge=none), both holding the same busybox image loaded from the same tar:
//
//   - `docker run --rm --network none busybox true` latency, runs interleaved between the two
//     daemons after a warm-up: median and p90; beside it `docker version` against the same
//     daemon, the CLI's own cost, and what the run takes above it (the engine's share)
//   - 300 detached `sleep 3600` containers started with a few CLIs in parallel: time to start them
//     all; engine memory per container (the monitors' PSS, plus the daemons' RSS growth: cove's
//     daemon; dockerd and containerd); `docker ps` and `docker info` latency with them running;
//     the time to remove them with `docker rm -f` in batches
//   - the daemons' RSS idle and with the containers running
//
// Each engine gets its own socket, state root and exec root under one temp directory; nothing here
// touches the host's network (every container has --network none). Everything is removed at the
// end, also on failure: containers, monitors, mounts, cgroups, both daemons. Not a test: nothing
// asserts on time. Knobs: BENCH_ENGINE_RUNS (20), BENCH_ENGINE_CONTAINERS (300),
// BENCH_ENGINE_PARALLEL (8), BENCH_ENGINE_ONLY=cove (skip dockerd), BENCH_ENGINE_CPU_PROF=DIR
// (the cove daemon runs under node --cpu-prof and writes its profile there).

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { dockerdAvailable, mountsUnder, startDockerd, type Dockerd } from "../test/support/dockerd.js";
import { busyboxArchive } from "./support/busybox.js";
import { breakdown, printBreakdown, readTrace, type RunWindow } from "./support/phases.js";
import { ping } from "./support/ping.js";
import { processExists } from "../src/common/process.js";
import { cgroupHierarchies, processes, removeCgroup, totalMemory, type Memory, type ProcInfo } from "./support/proc.js";

const DOCKER = "/usr/local/bin/docker";
const RUNS = Number(process.env.BENCH_ENGINE_RUNS ?? 20);
const WARMUP = 3;
const COUNT = Number(process.env.BENCH_ENGINE_CONTAINERS ?? 300);
const PARALLEL = Number(process.env.BENCH_ENGINE_PARALLEL ?? 8);
const RM_BATCH = 50;
const LIST_ROUNDS = 7;
const IMAGE = "busybox:latest";
const here = path.dirname(fileURLToPath(import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the docker CLI with env; never throws on a non-zero exit. */
function docker(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 300_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(DOCKER, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => errs.push(c));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 124, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(errs).toString("utf8"), ms: performance.now() - t0 });
    });
  });
}

async function ok(env: NodeJS.ProcessEnv, args: string[], timeoutMs?: number): Promise<CliResult> {
  const r = await docker(env, args, timeoutMs);
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed (${r.code}) against ${env.DOCKER_HOST}: ${r.stderr.trim()}`);
  return r;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


/** An engine under test, as the benchmark sees it. */
interface Engine {
  name: string;
  env: NodeJS.ProcessEnv;
  /** The daemon processes whose growth counts as engine overhead. */
  daemonPids(): Promise<number[]>;
  /** The per-container monitor processes. */
  monitorPids(): Promise<number[]>;
  stop(): Promise<void>;
}

/** Where the cove daemon writes its phase timings. */
const traceFile = (dir: string) => path.join(dir, "cove-trace.jsonl");

/** Starts cove's daemon in its own process on dir/cove (state root), dir/cove.sock and runtimeRoot. */
async function startCove(dir: string, runtimeRoot: string): Promise<Engine> {
  const root = path.join(dir, "cove");
  const socket = path.join(dir, "cove.sock");
  const logFile = path.join(dir, "cove-daemon.log");
  await mkdir(path.join(dir, "cove-cli"), { recursive: true });
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, "cove-cli") };
  const nodeArgs: string[] = [];
  if (process.env.BENCH_ENGINE_CPU_PROF) nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${path.resolve(process.env.BENCH_ENGINE_CPU_PROF)}`);
  const log = openSync(logFile, "a");
  // the daemon records its phases (src/common/trace.ts) for the run --rm breakdown
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, path.join(here, "support/cove-daemon.js"), root, socket, runtimeRoot], {
    stdio: ["ignore", log, log],
    env: { ...process.env, COVE_TRACE: traceFile(dir) },
  });
  closeSync(log);
  const daemonPid = child.pid!;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // containers first, through the API, while the daemon is there to do it properly
    if (processExists(daemonPid) && (await ping(socket))) {
      const ids = (await docker(env, ["ps", "-aq"], 60_000)).stdout.split("\n").filter(Boolean);
      for (let i = 0; i < ids.length; i += RM_BATCH) await docker(env, ["rm", "-f", ...ids.slice(i, i + RM_BATCH)], 120_000);
    }
    if (processExists(daemonPid)) {
      child.kill("SIGTERM");
      for (let i = 0; i < 100 && processExists(daemonPid) && child.exitCode === null; i++) await sleep(100);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    // whatever is left after a failure: monitors, container cgroups, mounts
    for (const p of await processes()) if (p.argv.some((a) => a.startsWith(runtimeRoot + "/"))) process.kill(p.pid, "SIGKILL");
    let ids: string[] = [];
    try {
      ids = (await readdir(path.join(root, "containers"))).filter((n) => /^[0-9a-f]{64}$/.test(n));
    } catch {
      // no containers
    }
    for (const h of await cgroupHierarchies()) {
      for (const id of ids) await removeCgroup(path.join(h, "cove", id));
      await rmdir(path.join(h, "cove")).catch(() => undefined); // shared with other cove daemons: only when empty
    }
    for (let round = 0; round < 5; round++) {
      const points = await mountsUnder(dir);
      if (points.length === 0) break;
      for (const p of points) await new Promise<void>((r) => spawn("umount", ["-l", p]).on("close", () => r()));
    }
    await rm(runtimeRoot, { recursive: true, force: true });
  };
  try {
    const end = Date.now() + 30_000;
    while (!(await ping(socket))) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`the cove daemon did not start: ${(await readFile(logFile, "utf8").catch(() => "")).trim()}`);
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    name: "cove",
    env,
    daemonPids: async () => (processExists(daemonPid) ? [daemonPid] : []),
    monitorPids: async () => (await processes()).filter((p) => p.pid !== daemonPid && p.argv.some((a) => a.startsWith(runtimeRoot + "/"))).map((p) => p.pid),
    stop,
  };
}

/** Wraps the private dockerd: dockerd and containerd are the daemons, the runc v2 shims the monitors. */
function dockerEngine(d: Dockerd, dir: string): Engine {
  const mine = async (pred: (p: ProcInfo) => boolean) => (await processes()).filter((p) => pred(p) && p.argv.some((a) => a.includes(dir))).map((p) => p.pid);
  return {
    name: "dockerd",
    env: d.env,
    daemonPids: async () => {
      const pid = Number((await readFile(path.join(dir, "docker.pid"), "utf8").catch(() => "0")).trim());
      const containerd = await mine((p) => path.basename(p.argv[0] ?? "") === "containerd");
      return [...(pid > 0 ? [pid] : []), ...containerd];
    },
    monitorPids: () => mine((p) => path.basename(p.argv[0] ?? "") === "containerd-shim-runc-v2"),
    stop: () => d.stop(),
  };
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
const median = (xs: number[]) => quantile(xs, 0.5);

interface Density {
  idle: Memory;
  startMs: number;
  loaded: Memory;
  monitors: Memory;
  monitorCount: number;
  psMs: number[];
  infoMs: number[];
  rmMs: number;
}

async function density(e: Engine): Promise<Density> {
  const idle = await totalMemory(await e.daemonPids());
  const ids: string[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < COUNT) {
        next++;
        const r = await ok(e.env, ["run", "-d", "--network", "none", IMAGE, "sleep", "3600"]);
        ids.push(r.stdout.trim());
      }
    }),
  );
  const startMs = performance.now() - t0;
  const running = (await ok(e.env, ["ps", "-q"])).stdout.split("\n").filter(Boolean).length;
  if (running !== COUNT) throw new Error(`${e.name}: ${running} containers running, expected ${COUNT}`);
  await sleep(1000); // let the daemons settle after the burst
  const loaded = await totalMemory(await e.daemonPids());
  const monitorPids = await e.monitorPids();
  const monitors = await totalMemory(monitorPids);
  const psMs: number[] = [];
  const infoMs: number[] = [];
  await ok(e.env, ["ps"]);
  await ok(e.env, ["info"]);
  for (let i = 0; i < LIST_ROUNDS; i++) {
    const ps = await ok(e.env, ["ps"]);
    if (ps.stdout.trim().split("\n").length !== COUNT + 1) throw new Error(`${e.name}: docker ps listed ${ps.stdout.trim().split("\n").length - 1} containers`);
    psMs.push(ps.ms);
    infoMs.push((await ok(e.env, ["info"])).ms);
  }
  const t1 = performance.now();
  for (let i = 0; i < ids.length; i += RM_BATCH) await ok(e.env, ["rm", "-f", ...ids.slice(i, i + RM_BATCH)]);
  const rmMs = performance.now() - t1;
  const left = (await ok(e.env, ["ps", "-aq"])).stdout.split("\n").filter(Boolean).length;
  if (left !== 0) throw new Error(`${e.name}: ${left} containers left after docker rm -f`);
  return { idle, startMs, loaded, monitors, monitorCount: monitorPids.length, psMs, infoMs, rmMs };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("engine benchmark skipped: needs root");
    return;
  }
  if (!existsSync(DOCKER)) {
    console.log(`engine benchmark skipped: ${DOCKER} is missing`);
    return;
  }
  const loadAtStart = loadavg();
  const onlyCove = process.env.BENCH_ENGINE_ONLY === "cove";
  const dockerSkip = onlyCove ? "BENCH_ENGINE_ONLY=cove" : dockerdAvailable();
  const dir = await mkdtemp(path.join(tmpdir(), "cove-bench-"));
  const runtimeRoot = path.join("/run", path.basename(dir));
  const engines: Engine[] = [];
  const stopAll = async () => {
    for (const e of engines.splice(0).reverse()) await e.stop().catch((err: unknown) => console.error(`stopping ${e.name}: ${(err as Error).message}`));
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  const onSignal = () => void stopAll().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const tar = await busyboxArchive(dir, IMAGE);
    engines.push(await startCove(dir, runtimeRoot));
    if (!dockerSkip) {
      // a name of its own: the helper names dockerd's cgroup parent after it
      const ddir = path.join(dir, `d${path.basename(dir).slice(-6)}`);
      const d = await startDockerd({ dir: ddir });
      engines.push(dockerEngine(d, ddir));
    }
    const imageIds: string[] = [];
    for (const e of engines) {
      await ok(e.env, ["load", "-q", "-i", tar]);
      imageIds.push((await ok(e.env, ["image", "inspect", "--format", "{{.Id}}", IMAGE])).stdout.trim());
    }
    const fresh = await Promise.all(engines.map(async (e) => totalMemory(await e.daemonPids())));

    // run --rm latency, interleaved so that both see the same background load; beside each run a
    // `docker version` against the same daemon: the CLI's own cost (its start, one connection and
    // request, its exit), so that what a run takes above it is the engine's
    const runArgs = ["run", "--rm", "--network", "none", IMAGE, "true"];
    const latency = engines.map(() => [] as number[]);
    const cliFloor = engines.map(() => [] as number[]);
    const coveWindows: RunWindow[] = [];
    for (let i = 0; i < WARMUP + RUNS; i++) {
      for (const [k, e] of engines.entries()) {
        const version = await ok(e.env, ["version", "--format", "{{.Server.Version}}"]);
        const start = performance.timeOrigin + performance.now();
        const r = await ok(e.env, runArgs);
        if (i >= WARMUP) latency[k]!.push(r.ms);
        if (i >= WARMUP) cliFloor[k]!.push(version.ms);
        if (i >= WARMUP && e.name === "cove") coveWindows.push({ start, end: performance.timeOrigin + performance.now() });
      }
    }
    const phases = breakdown(await readTrace(traceFile(dir)), coveWindows);
    const dense: Density[] = [];
    for (const e of engines) dense.push(await density(e));

    const version = (await ok(engines[0]!.env, ["version", "--format", "{{.Client.Version}}"])).stdout.trim();
    const dockerdVersion = engines[1] ? (await ok(engines[1].env, ["version", "--format", "{{.Server.Version}}"])).stdout.trim() : "";
    console.log(`the docker CLI ${version} against cove and ${dockerSkip ? `(dockerd skipped: ${dockerSkip})` : `dockerd ${dockerdVersion}`}, private daemons, --network none`);
    console.log(`  image ${IMAGE} loaded from the same tar: ${imageIds.every((x) => x === imageIds[0]) ? "same ID" : `IDs differ (${imageIds.join(", ")})`} ${imageIds[0]!.slice(0, 19)}`);
    const rows: [string, (k: number) => number, string, string?][] = [
      [`run --rm true, median of ${RUNS} (ms)`, (k) => median(latency[k]!), "ms", "ratio ≤ 0.1"],
      [`run --rm true, p90 (ms)`, (k) => quantile(latency[k]!, 0.9), "ms", "ratio ≤ 0.1"],
      [`  docker version, the CLI's own cost (ms)`, (k) => median(cliFloor[k]!), "ms"],
      [`  run --rm true above the CLI's own cost (ms)`, (k) => median(latency[k]!) - median(cliFloor[k]!), "ms", "cove < 15 ms"],
      [`start ${COUNT} detached, ${PARALLEL} CLIs at once (s)`, (k) => dense[k]!.startMs / 1000, "s"],
      [`engine memory per container (MB)`, (k) => (dense[k]!.monitors.pssKb + Math.max(0, dense[k]!.loaded.rssKb - dense[k]!.idle.rssKb)) / COUNT / 1024, "MB", "cove < 2 MB"],
      [`  monitors' PSS per container (MB)`, (k) => dense[k]!.monitors.pssKb / Math.max(1, dense[k]!.monitorCount) / 1024, "MB"],
      [`  monitors' RSS per container (MB)`, (k) => dense[k]!.monitors.rssKb / Math.max(1, dense[k]!.monitorCount) / 1024, "MB"],
      [`  daemons' growth per container (MB)`, (k) => Math.max(0, dense[k]!.loaded.rssKb - dense[k]!.idle.rssKb) / COUNT / 1024, "MB"],
      [`daemon RSS fresh (MB)`, (k) => fresh[k]!.rssKb / 1024, "MB"],
      [`daemon RSS idle, after the runs (MB)`, (k) => dense[k]!.idle.rssKb / 1024, "MB"],
      [`daemon RSS with ${COUNT} containers (MB)`, (k) => dense[k]!.loaded.rssKb / 1024, "MB"],
      [`docker ps with ${COUNT}, median of ${LIST_ROUNDS} (ms)`, (k) => median(dense[k]!.psMs), "ms"],
      [`docker info with ${COUNT}, median of ${LIST_ROUNDS} (ms)`, (k) => median(dense[k]!.infoMs), "ms"],
      [`rm -f ${COUNT} in batches of ${RM_BATCH} (s)`, (k) => dense[k]!.rmMs / 1000, "s"],
    ];
    console.log(`  ${"".padEnd(46)} ${"cove".padStart(9)} ${"dockerd".padStart(9)} ${"ratio".padStart(7)}`);
    for (const [label, value, , target] of rows) {
      const c = value(0);
      const d = engines[1] ? value(1) : undefined;
      const ratio = d !== undefined && d > 0 ? (c / d).toFixed(2) : "";
      const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
      console.log(`  ${label.padEnd(46)} ${fmt(c).padStart(9)} ${d !== undefined ? fmt(d).padStart(9) : "".padStart(9)} ${ratio.padStart(7)}${target !== undefined ? `  (target: ${target})` : ""}`);
    }
    console.log(`  where cove's \`docker ${runArgs.join(" ")}\` goes, median of ${RUNS} runs (ms; "begins": from the CLI's start):`);
    console.log(`    the docker CLI, start to exit                 ${median(latency[0]!).toFixed(2).padStart(8)} ms`);
    console.log(`    the daemon's window (first request to last)   ${phases.daemonWindowMs.toFixed(2).padStart(8)} ms  (the CLI's own start, connect and exit: ${phases.outsideMs.toFixed(2)} ms)`);
    printBreakdown(phases, coveWindows.length, "    ");
    const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
    console.log(`  load average (1, 5, 15 min): ${load(loadAtStart)} at the start, ${load(loadavg())} at the end`);
    console.log(`  monitors counted: ${dense.map((x, k) => `${engines[k]!.name} ${x.monitorCount}`).join(", ")}; daemons: cove's node process; dockerd + containerd`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await stopAll();
  }
}

await main();
