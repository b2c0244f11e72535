// Benchmark: stdin and stdout of a container as a stream, through the same docker CLI
// (/usr/local/bin/docker) against a private cove daemon and a private dockerd (Debian's docker.io),
// both holding the same busybox image imported from the same rootfs tar, and through cove's own
// CLI (dist/src/cli/main.js, which hands its stdin and stdout to the container's monitor):
//
//   docker run --rm -i --network none --log-driver none busybox cat < FILE | wc -c
//   cove run --rm -i --network none --log-driver none busybox cat < FILE | wc -c
//
// with FILE 1 GiB of random bytes, beside the same bytes through `cat FILE | cat | wc -c` (cat into
// a pipe, the reference: the target is at least half its speed). Then the same run with the default
// json-file log, which writes every byte of output to the container's log as well (as dockerd does),
// on a smaller file. Each figure is the median of the runs, interleaved between the engines; the
// byte count that comes out is checked. The time of a run includes the container's start and
// removal; `run --rm -i ... true` is timed too so that the streaming itself can be read apart.
//
// Everything lives under one temp directory and is removed at the end, also on failure. Not a
// test: nothing asserts on time. Knobs: BENCH_STDIO_MB (1024), BENCH_STDIO_LOG_MB (256),
// BENCH_STDIO_RUNS (3), BENCH_STDIO_ONLY=cove (skip dockerd).

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, createWriteStream, openSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomFillSync } from "node:crypto";
import { finished } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { busyboxRootfsTar } from "../test/images/fixtures.js";
import { dockerdAvailable, mountsUnder, startDockerd, type Dockerd } from "../test/support/dockerd.js";
import { ping } from "./support/ping.js";

const DOCKER = "/usr/local/bin/docker";
const COVE = `${process.execPath} ${path.join(path.dirname(fileURLToPath(import.meta.url)), "../src/cli/main.js")}`;
const MB = Number(process.env.BENCH_STDIO_MB ?? 1024);
const LOG_MB = Number(process.env.BENCH_STDIO_LOG_MB ?? 256);
const RUNS = Number(process.env.BENCH_STDIO_RUNS ?? 3);
const here = path.dirname(fileURLToPath(import.meta.url));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

interface Timed {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a shell command line with env; never throws on a non-zero exit. */
function sh(env: NodeJS.ProcessEnv, line: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("sh", ["-c", line], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 124, stdout, stderr, ms: performance.now() - t0 }));
  });
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function ok(env: NodeJS.ProcessEnv, line: string): Promise<Timed> {
  const r = await sh(env, line);
  if (r.code !== 0) throw new Error(`${line} failed (${r.code}): ${r.stderr.trim()}`);
  return r;
}

interface Engine {
  name: string;
  env: NodeJS.ProcessEnv;
  /** The command line of the client: the docker CLI, or cove's own. */
  cli: string;
  stop(): Promise<void>;
}

/** cove's daemon in its own process, on dir/cove (state), dir/cove.sock and runtimeRoot. */
async function startCove(dir: string, runtimeRoot: string): Promise<Engine> {
  const root = path.join(dir, "cove");
  const socket = path.join(dir, "cove.sock");
  const logFile = path.join(dir, "cove-daemon.log");
  await mkdir(path.join(dir, "cove-cli"), { recursive: true });
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, "cove-cli") };
  const log = openSync(logFile, "a");
  const child: ChildProcess = spawn(process.execPath, [path.join(here, "support/cove-daemon.js"), root, socket, runtimeRoot], { stdio: ["ignore", log, log] });
  closeSync(log);
  const stop = async () => {
    if (child.exitCode === null && (await ping(socket))) {
      const ids = (await sh(env, `${DOCKER} ps -aq`)).stdout.split("\n").filter(Boolean);
      if (ids.length) await sh(env, `${DOCKER} rm -f ${ids.join(" ")}`);
    }
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    // monitors a failure left behind, then mounts
    for (const e of await readdir("/proc").catch(() => [] as string[])) {
      if (!/^\d+$/.test(e)) continue;
      const argv = await readFile(`/proc/${e}/cmdline`, "utf8").catch(() => "");
      if (argv.split("\0").some((a) => a.startsWith(runtimeRoot + "/"))) process.kill(Number(e), "SIGKILL");
    }
    for (const p of await mountsUnder(dir)) await new Promise<void>((r) => spawn("umount", ["-l", p]).on("close", () => r()));
    await rm(runtimeRoot, { recursive: true, force: true });
  };
  const end = Date.now() + 30_000;
  while (!(await ping(socket))) {
    if (child.exitCode !== null || Date.now() > end) {
      await stop();
      throw new Error(`the cove daemon did not start: ${(await readFile(logFile, "utf8").catch(() => "")).trim()}`);
    }
    await sleep(50);
  }
  return { name: "cove", env, cli: DOCKER, stop };
}

/** size MiB of random bytes in a file. */
async function randomFile(p: string, size: number): Promise<void> {
  const out = createWriteStream(p);
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < size; i++) {
    randomFillSync(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
  }
  out.end();
  await finished(out);
}

const rate = (mb: number, ms: number) => `${((mb * 1000) / ms).toFixed(0)} MiB/s`;

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "cove-bench-stdio-"));
  const runtimeRoot = `/run/cove-bench-stdio-${process.pid}`;
  const engines: Engine[] = [];
  let peer: Dockerd | undefined;
  try {
    const big = path.join(dir, "big.bin");
    const small = path.join(dir, "small.bin");
    await randomFile(big, MB);
    await randomFile(small, LOG_MB);
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    engines.push(await startCove(dir, runtimeRoot));
    const skipPeer = process.env.BENCH_STDIO_ONLY === "cove" ? "BENCH_STDIO_ONLY=cove" : dockerdAvailable();
    if (skipPeer) console.log(`dockerd: skipped (${skipPeer})`);
    else {
      peer = await startDockerd({ dir: path.join(dir, "dockerd") });
      const p = peer;
      engines.push({ name: "dockerd", env: p.env, cli: DOCKER, stop: () => p.stop() });
    }
    // cove's own CLI against the same daemon (stopping the daemon is the first engine's job)
    const cove = engines[0]!;
    engines.splice(1, 0, { name: "cove CLI", env: cove.env, cli: COVE, stop: () => Promise.resolve() });
    for (const e of engines) if (e.cli === DOCKER) await ok(e.env, `${DOCKER} import --change 'CMD ["sh"]' ${quote(tar)} busybox:latest`);

    const base = { PATH: process.env.PATH };
    const results = new Map<string, number[]>();
    const add = (k: string, ms: number) => results.set(k, [...(results.get(k) ?? []), ms]);
    const count = async (label: string, env: NodeJS.ProcessEnv, line: string, bytes: number) => {
      const r = await ok(env, line);
      if (Number(r.stdout.trim()) !== bytes) throw new Error(`${label}: ${r.stdout.trim()} bytes came out, ${bytes} went in`);
      add(label, r.ms);
    };
    // warm-up: the image's layers into the page cache, one run each
    for (const e of engines) await ok(e.env, `${e.cli} run --rm --network none busybox true`);
    for (let i = 0; i < RUNS; i++) {
      await count("cat into a pipe", base, `cat ${quote(big)} | cat | wc -c`, MB << 20);
      for (const e of engines) {
        add(`${e.name}: run --rm -i true`, (await ok(e.env, `${e.cli} run --rm -i --network none --log-driver none busybox true < /dev/null`)).ms);
        await count(`${e.name}: run -i cat, no log`, e.env, `${e.cli} run --rm -i --network none --log-driver none busybox cat < ${quote(big)} | wc -c`, MB << 20);
        // (max-size: cove bounds a json-file log by default, dockerd does not; 1g holds it all)
        await count(`${e.name}: run -i cat, json-file log`, e.env, `${e.cli} run --rm -i --network none --log-opt max-size=1g busybox cat < ${quote(small)} | wc -c`, LOG_MB << 20);
      }
    }
    const ref = median(results.get("cat into a pipe")!);
    console.log(`${MB} MiB of random bytes, median of ${RUNS} runs (load average ${(await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ")})`);
    console.log(`  cat into a pipe:                ${ref.toFixed(0)} ms  ${rate(MB, ref)}`);
    const label = (name: string) => ({ cove: "docker CLI -> cove", dockerd: "docker CLI -> dockerd", "cove CLI": "cove CLI -> cove" })[name] ?? name;
    for (const e of engines) {
      const n = label(e.name);
      const start = median(results.get(`${e.name}: run --rm -i true`)!);
      const noLog = median(results.get(`${e.name}: run -i cat, no log`)!);
      const withLog = median(results.get(`${e.name}: run -i cat, json-file log`)!);
      console.log(`  ${n}: run --rm -i true:      ${start.toFixed(0)} ms`);
      console.log(
        `  ${n}: run -i cat, no log:    ${noLog.toFixed(0)} ms  ${rate(MB, noLog)} (${rate(MB, Math.max(1, noLog - start))} without the start); ` +
          `${(ref / noLog).toFixed(2)}x cat's speed (${(ref / Math.max(1, noLog - start)).toFixed(2)}x without the start)`,
      );
      console.log(`  ${n}: run -i cat, json-file log (${LOG_MB} MiB): ${withLog.toFixed(0)} ms  ${rate(LOG_MB, withLog)} (${rate(LOG_MB, Math.max(1, withLog - start))} without the start)`);
    }
    if (engines.some((e) => e.name === "dockerd")) {
      const r = (k: string) => median(results.get(`cove: ${k}`)!) / median(results.get(`dockerd: ${k}`)!);
      console.log(`  cove/dockerd time (docker CLI): run -i cat, no log ${r("run -i cat, no log").toFixed(2)}; json-file log ${r("run -i cat, json-file log").toFixed(2)}; start ${r("run --rm -i true").toFixed(2)}`);
    }
    const c = (k: string) => median(results.get(`cove CLI: ${k}`)!) / median(results.get(`cove: ${k}`)!);
    console.log(`  cove CLI/docker CLI time against cove: run -i cat, no log ${c("run -i cat, no log").toFixed(2)}; json-file log ${c("run -i cat, json-file log").toFixed(2)}; start ${c("run --rm -i true").toFixed(2)}`);
  } finally {
    for (const e of engines.reverse()) await e.stop().catch((err: unknown) => console.error(`stopping ${e.name}: ${(err as Error).message}`));
    if (!engines.some((e) => e.name === "dockerd")) await peer?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
