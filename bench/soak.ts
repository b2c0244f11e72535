// Benchmark: a soak of the daemon. BENCH_SOAK sequential `run --rm busybox true` (default 300;
// the hardening target is 10,000) through the Engine API on a private daemon, one in
// BENCH_SOAK_BRIDGE_EVERY (4) on the default bridge and the rest with --network none, with
// BENCH_SOAK_EXEC execs and BENCH_SOAK_LOGS `logs -f` (each a tenth of the runs by default) spread
// among them against one long-running container. Every BENCH_SOAK_EVERY runs (a twentieth) it
// samples the daemon's RSS, open fds and heap (after a full collection) and the latency
// percentiles of the window, and prints the curve; at the end, with every container gone, the
// leak checker (test/support/leaks.ts) lists what the daemon still holds. The verdict compares
// the first window after the warm-up with the last: RSS and heap growth, fds, p50. Not a test:
// nothing asserts on time (test/daemon/soak.test.ts runs a small version with assertions).
//
// Everything is removed at the end, also on failure: containers, the daemon's bridge and chains,
// mounts, the state root.

import { mkdtemp } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { findBusybox } from "../test/images/fixtures.js";
import { freeSubnets } from "../test/network/harness.js";
import { describeLeaks, findLeaks } from "../test/support/leaks.js";
import { startLoadDaemon, type LoadDaemon } from "../test/support/load-daemon.js";
import { formatCurve, soak, verdict } from "../test/support/soak.js";
import { tearDownDaemon } from "../test/support/teardown.js";

const RUNS = Number(process.env.BENCH_SOAK ?? 300);
const EXECS = Number(process.env.BENCH_SOAK_EXEC ?? Math.round(RUNS / 10));
const LOGS = Number(process.env.BENCH_SOAK_LOGS ?? Math.round(RUNS / 10));
const BRIDGE_EVERY = Number(process.env.BENCH_SOAK_BRIDGE_EVERY ?? 4);
const EVERY = Number(process.env.BENCH_SOAK_EVERY ?? Math.max(1, Math.round(RUNS / 20)));

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) return console.log("soak benchmark skipped: needs root");
  if (!(await findBusybox())) return console.log("soak benchmark skipped: busybox-static is not installed");
  for (const [name, v] of Object.entries({ BENCH_SOAK: RUNS, BENCH_SOAK_EXEC: EXECS, BENCH_SOAK_LOGS: LOGS, BENCH_SOAK_BRIDGE_EVERY: BRIDGE_EVERY, BENCH_SOAK_EVERY: EVERY })) {
    if (!Number.isInteger(v) || v < 0 || ((name === "BENCH_SOAK" || name === "BENCH_SOAK_EVERY") && v < 1)) throw new Error(`${name} must be a whole number (≥ 1 for BENCH_SOAK and BENCH_SOAK_EVERY), got ${process.env[name]}`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), "cove-soak-"));
  const ids = new Set<string>();
  let d: LoadDaemon | undefined;
  const stop = async () => {
    try {
      if (d && d.proc.exitCode === null) {
        const list = await d.call("GET", "/containers/json?all=1").catch(() => ({ status: 0, body: "[]" }));
        for (const c of JSON.parse(list.status === 200 ? list.body : "[]") as { Id: string }[]) await d.call("DELETE", `/containers/${c.Id}?force=1`).catch(() => undefined);
        await d.stop("uninstall");
      }
    } finally {
      await tearDownDaemon(undefined, dir);
    }
  };
  const onSignal = () => void stop().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const [subnet] = freeSubnets(1);
    d = startLoadDaemon(path.join(dir, "root"), path.join(dir, "cove.sock"), { bip: subnet!, importBusybox: true });
    await d.line(/^ready$/);
    const t0 = performance.now();
    const load0 = loadavg()[0]!;
    console.log(`soak: ${RUNS} run --rm (1 in ${BRIDGE_EVERY || "∞"} on the bridge ${subnet}), ${EXECS} exec, ${LOGS} logs -f; a sample every ${EVERY} runs; load average ${load0.toFixed(2)}`);
    console.log(formatCurve([]));
    let printed = 0;
    const result = await soak(d, {
      runs: RUNS,
      execs: EXECS,
      logs: LOGS,
      bridgeEvery: BRIDGE_EVERY,
      every: EVERY,
      // the rows as they come: a long soak shows its progress
      onSample: (s) => console.log(formatCurve([s]).split("\n")[1]),
    }, ids);
    printed = result.samples.length;
    const minutes = (performance.now() - t0) / 60_000;
    const v = verdict(result.samples);
    const leaks = describeLeaks(findLeaks({ root: d.root, pid: d.pid, ids }, new Set(), new Set(), new Set()));
    const left = JSON.parse((await d.call("GET", "/containers/json?all=1")).body) as unknown[];
    console.log(`${printed} samples over ${minutes.toFixed(1)} min (load average ${load0.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end); ${result.bridgeRuns} runs on the bridge`);
    console.log(`verdict, from the first window after the warm-up (runs ${result.samples[1]?.iteration}) to the last (runs ${result.samples.at(-1)?.iteration}):`);
    console.log(`  RSS ${v.rssGrowthPct >= 0 ? "+" : ""}${v.rssGrowthPct.toFixed(1)}% ${Math.abs(v.rssGrowthPct) < 10 ? "(flat: within 10%)" : "(NOT flat: 10% or more)"}`);
    console.log(`  heap after a full collection ${v.heapGrowthPct >= 0 ? "+" : ""}${v.heapGrowthPct.toFixed(1)}%`);
    console.log(`  open fds ${v.fdsFirst} → ${v.fdsLast} ${v.fdsFirst === v.fdsLast ? "(equal)" : "(DIFFER)"}; before the target container ${result.fdsBefore}, after its removal ${result.fdsAfter} ${result.fdsBefore === result.fdsAfter ? "(equal)" : "(DIFFER)"}`);
    console.log(`  run --rm p50 ${v.p50First.toFixed(1)} → ${v.p50Last.toFixed(1)} ms`);
    console.log(`  containers left: ${left.length}; leaks: ${leaks === "" ? "none (mounts, netns, cgroups, runtime state, records, veths, DNAT rules, held ports)" : `\n${leaks}`}`);
  } finally {
    await stop();
  }
}

await main();
