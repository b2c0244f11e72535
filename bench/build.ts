// Benchmark: image builds, cove's builder on cove's daemon against Debian's dockerd and its legacy
// builder (DOCKER_BUILDKIT=0), in one run. Each build is one POST /build from this process with
// the same context tar (so the figure is the daemon's work, no CLI start), RUN steps without a
// network on both (networkmode=none), the offline busybox image as the base:
//   - cold: a 10-step Dockerfile (2 RUN, 3 COPY, ENV, WORKDIR, LABEL, EXPOSE, CMD), nocache=1
//   - cold, no RUN: 10 steps of COPY and config only: the builder's own work, nothing to run
//   - cached: the 10-step build again, every step from the cache (cove's target: under 100 ms)
//   - one file changed: the source the 6th step copies changed, the steps from there run again
//   - multi-stage: two independent stages (each RUN sleeps 0.5 s) and a final stage copying from
//     both, nocache=1: cove runs the two at once, the legacy builder one after the other
// and, for the user's view, the cached rebuild through each CLI (`cove build` and `docker
// build`, process start included). Each figure is the median of BENCH_BUILD_ROUNDS (5) rounds;
// within a round each scenario runs on cove, then on dockerd, so that a machine busy with other
// work weighs on both alike. Not a test: nothing asserts on time.

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { EngineClient } from "../src/client/index.js";
import { jsonLines, type ProgressMessage } from "../src/client/stream.js";
import { startDaemon } from "../src/daemon/index.js";
import { busyboxRootfsTar } from "../test/images/fixtures.js";
import { run, DOCKER } from "../test/support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../test/support/dockerd.js";
import { timed } from "./support/timed.js";

const ROUNDS = Number(process.env.BENCH_BUILD_ROUNDS ?? 5);
const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/cli/main.js");

const TEN_STEPS = `FROM busybox
ENV APP=/app MODE=bench
WORKDIR /app
COPY lib/ lib/
RUN echo built > /built
COPY config.json .
COPY src/ src/
RUN ls -R src > /listing
LABEL bench=build
EXPOSE 8080
CMD ["cat", "/built"]
`;

const NO_RUN = `FROM busybox
ENV APP=/app MODE=bench
WORKDIR /app
COPY lib/ lib/
COPY config.json .
COPY src/ src/
USER nobody
LABEL bench=build
EXPOSE 8080
STOPSIGNAL SIGINT
CMD ["cat", "/app/config.json"]
`;

const MULTI = `FROM busybox AS left
RUN sleep 0.5 && echo left > /side
FROM busybox AS right
RUN sleep 0.5 && echo right > /side
FROM busybox
COPY --from=left /side /left
COPY --from=right /side /right
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The context directory as a tar (GNU tar, the same bytes for both daemons). */
function contextTar(dir: string): Buffer {
  return execFileSync("tar", ["-C", dir, "--sort=name", "-cf", "-", "."], { maxBuffer: 256 << 20 });
}

/** One POST /build; its time in ms. A build error throws. */
async function build(client: EngineClient, tar: Buffer, query: Record<string, string | boolean>): Promise<number> {
  const t0 = performance.now();
  const res = await client.stream("POST", "/build", { query: { networkmode: "none", rm: true, ...query }, body: tar, headers: { "Content-Type": "application/x-tar" } });
  for await (const m of jsonLines<ProgressMessage>(res)) {
    if (m.error !== undefined || m.errorDetail !== undefined) throw new Error(`build failed: ${m.errorDetail?.message ?? m.error}`);
  }
  return performance.now() - t0;
}


interface Figures {
  cold: number;
  coldNoRun: number;
  cached: number;
  changed: number;
  multi: number;
  cli?: number;
}

/** One engine under measure: its API client, its context directory and its CLI's cached build. */
interface Side {
  client: EngineClient;
  ctx: string;
  cli: () => Promise<number>;
}

/**
 * The scenarios, round after round; within a round each scenario runs on every side in turn, so
 * that a machine busy with other work weighs on both alike.
 */
async function measure(sides: Side[]): Promise<Figures[]> {
  const write = (ctx: string, file: string, text: string) => writeFile(path.join(ctx, "Dockerfile"), file).then(() => writeFile(path.join(ctx, "src/main.txt"), text));
  const out = sides.map((): Record<keyof Figures, number[]> => ({ cold: [], coldNoRun: [], cached: [], changed: [], multi: [], cli: [] }));
  const each = async (fn: (side: Side) => Promise<number>, key: keyof Figures) => {
    for (const [i, side] of sides.entries()) out[i]![key].push(await fn(side));
  };
  for (let round = 0; round < ROUNDS; round++) {
    await each(async (s) => {
      await write(s.ctx, TEN_STEPS, "main v0\n");
      return build(s.client, contextTar(s.ctx), { t: "bench:ten", nocache: true });
    }, "cold");
    await each((s) => build(s.client, contextTar(s.ctx), { t: "bench:ten" }), "cached");
    await each(async (s) => {
      // the CLI's own context (its tar is not the bench's) primes the cache first
      await s.cli();
      return s.cli();
    }, "cli");
    await each(async (s) => {
      await write(s.ctx, TEN_STEPS, `main v${round + 1}\n`);
      return build(s.client, contextTar(s.ctx), { t: "bench:ten" });
    }, "changed");
    await each(async (s) => {
      await write(s.ctx, NO_RUN, "main v0\n");
      return build(s.client, contextTar(s.ctx), { t: "bench:norun", nocache: true });
    }, "coldNoRun");
    await each(async (s) => {
      await write(s.ctx, MULTI, "main v0\n");
      return build(s.client, contextTar(s.ctx), { t: "bench:multi", nocache: true });
    }, "multi");
  }
  return out.map((o) => ({ cold: median(o.cold), coldNoRun: median(o.coldNoRun), cached: median(o.cached), changed: median(o.changed), multi: median(o.multi), cli: median(o.cli) }));
}

async function makeContext(ctx: string): Promise<void> {
  await mkdir(path.join(ctx, "lib"), { recursive: true });
  await mkdir(path.join(ctx, "src/deep"), { recursive: true });
  for (let i = 0; i < 50; i++) await writeFile(path.join(ctx, "lib", `mod${i}.js`), `export const v${i} = ${"x".repeat(2000)};\n`);
  for (let i = 0; i < 20; i++) await writeFile(path.join(ctx, "src/deep", `f${i}.txt`), `file ${i}\n`);
  await writeFile(path.join(ctx, "config.json"), JSON.stringify({ bench: true }));
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("build benchmark: needs root");
    return;
  }
  const base = await mkdtemp(path.join(os.tmpdir(), "cove-bench-build-"));
  const socket = path.join(base, "cove.sock");
  const runtimeRoot = `/run/cove-bench-build-${process.pid}`;
  const daemon = await startDaemon({ root: path.join(base, "root"), socket, runtimeRoot, log: () => undefined });
  let dockerd: Dockerd | undefined;
  try {
    const bb = await busyboxRootfsTar(path.join(base, "bb"));
    const coveEnv = { PATH: process.env.PATH, HOME: base, DOCKER_BUILDKIT: "0", DOCKER_CONFIG: path.join(base, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    const imp = await run(coveEnv, ["import", "--change", 'CMD ["sh"]', bb, "busybox:latest"]);
    if (imp.code !== 0) throw new Error(`import into cove: ${imp.stderr}`);
    const ctx = path.join(base, "ctx");
    await makeContext(ctx);
    const cove: Side = {
      client: new EngineClient({ socket }),
      ctx,
      cli: () => timed(process.execPath, [MAIN, "build", "-q", "--network", "none", "-t", "bench:ten", ctx], { PATH: process.env.PATH, HOME: base, COVE_HOST: `unix://${socket}` }),
    };
    const skip = dockerdAvailable();
    const fmt = (ms: number | undefined) => (ms === undefined ? "-" : ms.toFixed(0)).padStart(9);
    const rows: [string, keyof Figures][] = [
      ["cold, 10 steps (2 RUN)", "cold"],
      ["cold, 10 steps, no RUN", "coldNoRun"],
      ["fully cached rebuild", "cached"],
      ["rebuild, one source changed", "changed"],
      ["multi-stage, 2 independent stages", "multi"],
      ["cached rebuild through the CLI", "cli"],
    ];
    if (skip) {
      console.log(`dockerd: ${skip}; cove only`);
      const [onCove] = await measure([cove]);
      for (const [what, k] of rows) console.log(`${what.padEnd(36)}${fmt(onCove![k])} ms`);
      return;
    }
    dockerd = await startDockerd({ dir: path.join(base, "dockerd") });
    const dimp = await dockerd.docker(["import", "--change", 'CMD ["sh"]', bb, "busybox:latest"]);
    if (dimp.code !== 0) throw new Error(`import into dockerd: ${dimp.stderr}`);
    // a context of its own: the two sides' rounds interleave and each rewrites its Dockerfile
    const dctx = path.join(base, "dctx");
    await makeContext(dctx);
    const peerEnv = { ...dockerd.env, DOCKER_BUILDKIT: "0" };
    const peer: Side = { client: new EngineClient({ socket: dockerd.socket }), ctx: dctx, cli: () => timed(DOCKER, ["build", "-q", "--network", "none", "-t", "bench:ten", dctx], peerEnv) };
    const [onCove, onDockerd] = await measure([cove, peer]);
    console.log(`${"build (median of " + ROUNDS + ", ms)".padEnd(36)}${"cove".padStart(9)}${"dockerd".padStart(9)}   cove/dockerd`);
    for (const [what, k] of rows) {
      const a = onCove![k]!;
      const b = onDockerd![k]!;
      console.log(`${what.padEnd(36)}${fmt(a)}${fmt(b)}   ${(a / b).toFixed(2)}${k === "cli" ? "  (cove build vs docker build)" : ""}`);
    }
  } finally {
    await dockerd?.stop();
    await daemon.close();
    await rm(runtimeRoot, { recursive: true, force: true });
    await rm(base, { recursive: true, force: true });
  }
}

await main();
