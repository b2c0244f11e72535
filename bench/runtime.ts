// Benchmark: create + start + wait + delete of a `true` container on the same bundle through
// cove's runtime in process, through the `cove runtime run` CLI, and through `runc run`.
// Prints medians and ratios against runc. Not a test: nothing here asserts on time.

import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CoveRuntime } from "../src/runtime/cove.js";
import { defaultSpec } from "../src/runtime/config/index.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const root = fileURLToPath(new URL("../..", import.meta.url));

function makeBundle(dir: string): string {
  const bundle = path.join(dir, "bundle");
  for (const d of ["bin", "proc", "sys", "dev", "tmp", "etc"]) mkdirSync(path.join(bundle, "rootfs", d), { recursive: true });
  copyFileSync("/bin/busybox", path.join(bundle, "rootfs/bin/busybox"));
  for (const applet of ["true", "sh"]) symlinkSync("busybox", path.join(bundle, "rootfs/bin", applet));
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.process!.args = ["/bin/true"];
  spec.root = { path: "rootfs", readonly: true };
  writeFileSync(path.join(bundle, "config.json"), JSON.stringify(spec));
  return bundle;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => Promise<void> | void): Promise<number[]> {
  const out: number[] = [];
  await fn(); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log("runtime benchmark skipped: needs root");
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "cove-bench-"));
  try {
    const bundle = makeBundle(dir);
    const stateRoot = path.join("/run/cove-bench", path.basename(dir));
    const rt = new CoveRuntime({ root: path.join(stateRoot, "cove") });
    let n = 0;
    const results: [string, number[]][] = [];
    results.push([
      "cove in-process (CoveRuntime.run)",
      await time(async () => {
        const exit = await rt.run(`b${n++}`, { bundle, stdio: "ignore" });
        if (exit.code !== 0) throw new Error(`container exited ${exit.code}`);
      }),
    ]);
    const cli = path.join(root, "dist/src/cli/main.js");
    results.push([
      "cove CLI (cove runtime run)",
      await time(() => {
        execFileSync(process.execPath, [cli, "runtime", "--root", path.join(stateRoot, "cove-cli"), "run", "--bundle", bundle, `c${n++}`], { stdio: "ignore" });
      }),
    ]);
    const runc = spawnSync("runc", ["--version"]).status === 0;
    if (runc) {
      results.push([
        "runc run",
        await time(() => {
          execFileSync("runc", ["--root", path.join(stateRoot, "runc"), "run", "--bundle", bundle, `r${n++}`], { stdio: "ignore" });
        }),
      ]);
    }
    const base = runc ? median(results.at(-1)![1]) : undefined;
    console.log(`create+start+wait+delete of /bin/true, ${ROUNDS} rounds, median (p10..p90):`);
    for (const [name, xs] of results) {
      const s = [...xs].sort((a, b) => a - b);
      const p = (q: number) => s[Math.floor((s.length - 1) * q)]!.toFixed(1);
      const ratio = base ? `  ratio to runc ${(median(xs) / base).toFixed(2)}` : "";
      console.log(`  ${name.padEnd(36)} ${median(xs).toFixed(1).padStart(7)} ms  (${p(0.1)}..${p(0.9)})${ratio}`);
    }
    rmSync(stateRoot, { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
