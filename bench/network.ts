// Benchmark: networking, cove against dockerd in one run.
//   1. `docker run --rm busybox true` on the default bridge (the docker CLI against each daemon),
//      runs interleaved, each beside `docker version`: the CLI's own cost, and the run above it
//   2. TCP throughput from the host into a container through a published port on 127.0.0.1
// dockerd runs on a bridge made here (no iptables: its userland proxy carries published ports, as it
// does for 127.0.0.1 by default); cove runs its own bridge, DNAT and route_localnet path. Subnets
// are chosen clear of the host's routes. Not a test: nothing asserts on time.

import { rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { startDockerd, dockerdAvailable } from "../test/support/dockerd.js";
import { freeSubnets, runDocker, setupNetwork } from "../test/network/harness.js";
import { Netlink } from "../src/network/netlink.js";
import { parseCidr } from "../src/network/index.js";
import { tempDir, busyboxRootfsTar } from "../test/images/fixtures.js";
import { setTraceFile } from "../src/common/trace.js";
import { breakdown, printBreakdown, readTrace, type RunWindow } from "./support/phases.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const MB = Number(process.env.BENCH_MB ?? 512);

type Docker = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * `docker run --rm busybox true` on each side, interleaved round by round so that both see the same
 * background load, each run after a `docker version` against the same daemon: the CLI's own cost
 * (its start, one connection and request, its exit), so that what a run takes above it is the
 * engine's. The first round warms caches.
 */
async function runLatency(sides: Docker[], windows: RunWindow[][]): Promise<{ run: number[]; cli: number[] }[]> {
  const out = sides.map(() => ({ run: [] as number[], cli: [] as number[] }));
  for (let i = 0; i <= ROUNDS; i++) {
    for (const [k, docker] of sides.entries()) {
      const v0 = performance.now();
      const v = await docker(["version", "--format", "{{.Server.Version}}"]);
      if (v.code !== 0) throw new Error(`docker version failed: ${v.stderr}`);
      const t0 = performance.now();
      const r = await docker(["run", "--rm", "busybox", "true"]);
      if (r.code !== 0) throw new Error(`docker run failed: ${r.stderr}`);
      if (i > 0) {
        out[k]!.cli.push(t0 - v0);
        out[k]!.run.push(performance.now() - t0);
        windows[k]?.push({ start: performance.timeOrigin + t0, end: performance.timeOrigin + performance.now() });
      }
    }
  }
  return out;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** MB/s sending MB megabytes to 127.0.0.1:port (a container's `nc -l` discarding them). */
async function throughput(docker: Docker): Promise<number> {
  const port = await freePort();
  const name = `sink${port}`;
  const r = await docker(["run", "-d", "--name", name, "-p", `127.0.0.1:${port}:9000`, "busybox", "sh", "-c", "nc -l -p 9000 > /dev/null"]);
  if (r.code !== 0) throw new Error(`sink: ${r.stderr}`);
  try {
    const chunk = Buffer.alloc(1 << 20, 7);
    for (let attempt = 0; ; attempt++) {
      try {
        const t0 = performance.now();
        await new Promise<void>((resolve, reject) => {
          const s = net.connect({ host: "127.0.0.1", port }, () => {
            let sent = 0;
            const pump = () => {
              while (sent < MB) {
                sent++;
                if (!s.write(chunk)) return void s.once("drain", pump);
              }
              s.end();
            };
            pump();
          });
          s.on("error", reject);
          s.on("close", () => resolve());
          s.resume();
        });
        await docker(["wait", name]);
        return MB / ((performance.now() - t0) / 1000);
      } catch (err) {
        if (attempt > 20) throw err;
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  } finally {
    await docker(["rm", "-f", name]);
  }
}

async function main(): Promise<void> {
  const cove = await setupNetwork();
  // the daemon runs in this process: its phases of the runs go to a trace file of the run's own
  const traceFile = path.join(cove.base, "cove-trace.jsonl");
  const windows: RunWindow[] = [];
  const skip = dockerdAvailable();
  let dir: string | undefined;
  let bridge: string | undefined;
  let nl: Netlink | undefined;
  let d: Awaited<ReturnType<typeof startDockerd>> | undefined;
  const sides: Docker[] = [(a) => cove.docker(a)];
  try {
    if (!skip) {
      // dockerd on a bridge of its own, its subnet clear of cove's (whose route exists by now)
      dir = await tempDir();
      bridge = `cbd${path.basename(dir).replace(/[^a-z0-9]/gi, "").slice(-6)}`;
      const [sub] = freeSubnets(1);
      nl = Netlink.open();
      nl.createBridge(bridge);
      const link = nl.link(bridge)!;
      nl.addAddress(link.index, sub!.replace(/\.0\/24$/, ".1"), parseCidr(sub!).prefix);
      nl.setUp(bridge);
      d = await startDockerd({ dir: path.join(dir, "d"), bridge });
      const tar = await busyboxRootfsTar(dir);
      const imp = await d.docker(["import", "-c", 'CMD ["sh"]', tar, "busybox:latest"]);
      if (imp.code !== 0) throw new Error(imp.stderr);
      sides.push(d.docker);
    }
    setTraceFile(traceFile);
    let latency;
    try {
      latency = await runLatency(sides, [windows]);
    } finally {
      setTraceFile(undefined);
    }
    const phases = breakdown(await readTrace(traceFile), windows);
    const tp: number[] = [];
    for (const docker of sides) tp.push(await throughput(docker));
    const [c, k] = latency;
    const ratio = (a: number, b: number | undefined) => (b ? `  (cove/dockerd ${(a / b).toFixed(2)})` : "");
    const results: [string, string, string][] = [
      ["docker run --rm busybox true (default bridge), median ms", median(c!.run).toFixed(1), k ? `${median(k.run).toFixed(1)}${ratio(median(c!.run), median(k.run))}` : ""],
      ["  docker version, the CLI's own cost, median ms", median(c!.cli).toFixed(1), k ? median(k.cli).toFixed(1) : ""],
      ["  run above the CLI's own cost, ms (goal: cove < 15)", (median(c!.run) - median(c!.cli)).toFixed(1), k ? (median(k.run) - median(k.cli)).toFixed(1) : ""],
      [`TCP host -> 127.0.0.1 published port, ${MB} MB, MB/s`, tp[0]!.toFixed(0), tp[1] !== undefined ? `${tp[1].toFixed(0)}${ratio(tp[0]!, tp[1])}` : ""],
    ];
    if (skip) console.log(`dockerd: ${skip}`);
    console.log(`${"".padEnd(60)}${"cove".padStart(10)}   dockerd   (${ROUNDS} runs each, interleaved)`);
    for (const [what, a, b] of results) console.log(`${what.padEnd(60)}${a.padStart(10)}   ${b}`);
    console.log(`where cove's \`docker run --rm busybox true\` on the default bridge goes, median of ${windows.length} runs (ms; "begins": from the CLI's start):`);
    console.log(`    the docker CLI, start to exit                 ${median(c!.run).toFixed(2).padStart(8)} ms`);
    console.log(`    the daemon's window (first request to last)   ${phases.daemonWindowMs.toFixed(2).padStart(8)} ms  (the CLI's own start, connect and exit: ${phases.outsideMs.toFixed(2)} ms)`);
    printBreakdown(phases, windows.length, "    ");
  } finally {
    await d?.stop();
    if (nl && bridge) {
      nl.deleteLink(bridge);
      nl.close();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
    await cove.cleanup();
  }
  void runDocker;
}

await main();
