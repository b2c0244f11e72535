// Benchmark: networking, cove against dockerd in one run.
//   1. `docker run --rm busybox true` on the default bridge (the docker CLI against each daemon)
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

async function runLatency(docker: Docker, windows: RunWindow[] = []): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i <= ROUNDS; i++) {
    const t0 = performance.now();
    const r = await docker(["run", "--rm", "busybox", "true"]);
    if (r.code !== 0) throw new Error(`docker run failed: ${r.stderr}`);
    if (i > 0) {
      // the first run warms caches
      out.push(performance.now() - t0);
      windows.push({ start: performance.timeOrigin + t0, end: performance.timeOrigin + performance.now() });
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
  const results: [string, string, string][] = [];
  const cove = await setupNetwork();
  let coveRun: number[] = [];
  let coveTp = 0;
  // the daemon runs in this process: its phases of the runs go to a trace file of the run's own
  const traceFile = path.join(cove.base, "cove-trace.jsonl");
  const windows: RunWindow[] = [];
  let phases;
  try {
    setTraceFile(traceFile);
    try {
      coveRun = await runLatency((a) => cove.docker(a), windows);
    } finally {
      setTraceFile(undefined);
    }
    phases = breakdown(await readTrace(traceFile), windows);
    coveTp = await throughput((a) => cove.docker(a));
  } finally {
    await cove.cleanup();
  }
  const printPhases = () => {
    console.log(`where cove's \`docker run --rm busybox true\` on the default bridge goes, median of ${windows.length} runs (ms; "begins": from the CLI's start):`);
    console.log(`    the docker CLI, start to exit                 ${median(coveRun).toFixed(2).padStart(8)} ms`);
    console.log(`    the daemon's window (first request to last)   ${phases.daemonWindowMs.toFixed(2).padStart(8)} ms  (the CLI's own start, connect and exit: ${phases.outsideMs.toFixed(2)} ms)`);
    printBreakdown(phases, windows.length, "    ");
  };
  const skip = dockerdAvailable();
  if (skip) {
    console.log(`dockerd: ${skip}`);
    console.log(`cove: run --rm true median ${median(coveRun).toFixed(1)} ms; throughput ${coveTp.toFixed(0)} MB/s`);
    printPhases();
    return;
  }
  const dir = await tempDir();
  const bridge = `cbd${path.basename(dir).replace(/[^a-z0-9]/gi, "").slice(-6)}`;
  const [sub] = freeSubnets(1);
  const nl = Netlink.open();
  nl.createBridge(bridge);
  const link = nl.link(bridge)!;
  nl.addAddress(link.index, sub!.replace(/\.0\/24$/, ".1"), parseCidr(sub!).prefix);
  nl.setUp(bridge);
  try {
    const d = await startDockerd({ dir: path.join(dir, "d"), bridge });
    try {
      const tar = await busyboxRootfsTar(dir);
      const imp = await d.docker(["import", "-c", 'CMD ["sh"]', tar, "busybox:latest"]);
      if (imp.code !== 0) throw new Error(imp.stderr);
      const dockerRun = await runLatency(d.docker);
      const dockerTp = await throughput(d.docker);
      const c = median(coveRun);
      const k = median(dockerRun);
      results.push(["docker run --rm busybox true (default bridge), median ms", c.toFixed(1), `${k.toFixed(1)}  (cove/dockerd ${(c / k).toFixed(2)})`]);
      results.push([`TCP host -> 127.0.0.1 published port, ${MB} MB, MB/s`, coveTp.toFixed(0), `${dockerTp.toFixed(0)}  (cove/dockerd ${(coveTp / dockerTp).toFixed(2)})`]);
    } finally {
      await d.stop();
    }
  } finally {
    nl.deleteLink(bridge);
    nl.close();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`${"".padEnd(60)}${"cove".padStart(10)}   dockerd`);
  for (const [what, a, b] of results) console.log(`${what.padEnd(60)}${a.padStart(10)}   ${b}`);
  printPhases();
  void runDocker;
}

await main();
