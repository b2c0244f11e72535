// Benchmark: a five-service compose app whose services form a dependency chain (each waits for the
// one before it to be healthy), cove's compose on cove's daemon against Debian's docker-compose
// 1.29 on Debian's dockerd, in one run:
//   - `up -d` until every service is healthy: cove with `up -d --wait`; docker-compose 1.29 has no
//     --wait, so its `up -d` is followed by polling the engine (every 20 ms) until all are healthy
//   - a second `up -d` that has nothing to change
//   - `down`
// cove's compose on dockerd is timed too, which separates the tool from the engine. Each figure
// is the median of BENCH_COMPOSE_ROUNDS (5) rounds. Not a test: nothing asserts on time.

import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EngineClient } from "../src/client/index.js";
import { busyboxRootfsTar } from "../test/images/fixtures.js";
import { setupNetwork } from "../test/network/harness.js";
import { dockerdAvailable, startDockerd } from "../test/support/dockerd.js";
import { timed } from "./support/timed.js";

const ROUNDS = Number(process.env.BENCH_COMPOSE_ROUNDS ?? 5);
const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/cli/main.js");
const PROJECT = "benchchain";

const FILE = `
services:
${[1, 2, 3, 4, 5]
  .map(
    (i) => `  s${i}:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
    stop_grace_period: 10s
    healthcheck:
      test: ["CMD", "true"]
      interval: 250ms
      retries: 100
${i > 1 ? `    depends_on:\n      s${i - 1}: {condition: service_healthy}\n` : ""}`,
  )
  .join("")}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}


async function allHealthy(client: EngineClient): Promise<boolean> {
  const list = await client.containerList({ all: true, filters: { label: [`com.docker.compose.project=${PROJECT}`] } });
  return list.length === 5 && list.every((c) => c.Status.includes("(healthy)"));
}

interface Tool {
  up(): Promise<number>;
  again(): Promise<number>;
  down(): Promise<number>;
}

function coveCompose(file: string, socket: string): Tool {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, COVE_HOST: `unix://${socket}` };
  const c = (args: string[]) => timed(process.execPath, [MAIN, "compose", "-f", file, "-p", PROJECT, ...args], env);
  return { up: () => c(["up", "-d", "--wait"]), again: () => c(["up", "-d"]), down: () => c(["down"]) };
}

function dockerCompose(file: string, socket: string): Tool {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, DOCKER_HOST: `unix://${socket}` };
  const client = new EngineClient({ socket });
  const c = (args: string[]) => timed("/usr/bin/docker-compose", ["-f", file, "-p", PROJECT, ...args], env);
  return {
    up: async () => {
      const t0 = performance.now();
      await c(["up", "-d"]);
      while (!(await allHealthy(client))) await new Promise((r) => setTimeout(r, 20));
      return performance.now() - t0;
    },
    again: () => c(["up", "-d"]),
    down: () => c(["down"]),
  };
}

async function measure(tool: Tool): Promise<{ up: number; again: number; down: number }> {
  const up: number[] = [];
  const again: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    up.push(await tool.up());
    again.push(await tool.again());
    down.push(await tool.down());
  }
  return { up: median(up), again: median(again), down: median(down) };
}

async function main(): Promise<void> {
  const skip = dockerdAvailable();
  const cove = await setupNetwork();
  try {
    const file = path.join(cove.base, "compose.yaml");
    await writeFile(file, FILE);
    const onCove = await measure(coveCompose(file, cove.socket));
    if (skip) {
      console.log(`dockerd: ${skip}; cove only`);
      console.log(onCove);
      return;
    }
    const d = await startDockerd({ dir: path.join(cove.base, "dockerd") });
    try {
      const tar = await busyboxRootfsTar(path.join(cove.base, "bb"));
      const imp = await d.docker(["import", "-c", 'CMD ["sh"]', tar, "busybox:latest"]);
      if (imp.code !== 0) throw new Error(imp.stderr);
      const reference = await measure(dockerCompose(file, d.socket));
      const coveOnDockerd = await measure(coveCompose(file, d.socket));
      const row = (what: string, a: number, b: number, c: number) =>
        console.log(`${what.padEnd(34)}${a.toFixed(0).padStart(8)}${b.toFixed(0).padStart(12)}${c.toFixed(0).padStart(14)}   cove/docker-compose ${(a / b).toFixed(2)}`);
      console.log(`${"five services, a healthy chain (ms)".padEnd(34)}${"cove".padStart(8)}${"d-c 1.29".padStart(12)}${"cove→dockerd".padStart(14)}`);
      row("up -d until all healthy", onCove.up, reference.up, coveOnDockerd.up);
      row("up -d again (nothing to change)", onCove.again, reference.again, coveOnDockerd.again);
      row("down", onCove.down, reference.down, coveOnDockerd.down);
    } finally {
      await d.stop();
    }
  } finally {
    await cove.cleanup();
  }
}

await main();
