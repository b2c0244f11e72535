// Runs a command inside the pure cgroup v2 kernel of ../shared/tools/cgroup2-vm, for the tests
// that need one (this host has hybrid cgroups).

import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestContext } from "node:test";
import { PACKAGE_ROOT } from "../fixtures/bundle.js";

/** ../shared/tools/cgroup2-vm, looked up from the package upwards (a worktree sits one level deeper). */
function findTool(): string {
  for (let d = PACKAGE_ROOT; ; d = path.dirname(d)) {
    const p = path.join(path.dirname(d), "shared", "tools", "cgroup2-vm");
    if (existsSync(p) || path.dirname(d) === d) return p;
  }
}
export const TOOL = findTool();

/**
 * Runs the guest command under cgroup2-vm. A guest that times out, or whose kernel panics, before
 * it printed any test result (the emulated machine stalled or failed its timer check; seen when
 * the host is busy) is booted again, up to three boots, with each console tail reported, so it is
 * seen without failing the suite; a third failure fails the test with all the tails.
 */
export async function runInVm(t: TestContext, guest: string[]): Promise<{ code: number | null; out: string }> {
  let tails = "";
  for (let attempt = 1; ; attempt++) {
    const consoleLog = path.join(os.tmpdir(), `cove-vm-console-${process.pid}-${attempt}.log`);
    const args = ["--mem", "2048", "--timeout", "600", "--console", consoleLog, ...guest];
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(TOOL, args, { cwd: PACKAGE_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.on("close", (c) => resolve({ code: c, out }));
    });
    const tail = readFileSync(consoleLog, "utf8").slice(-2000);
    rmSync(consoleLog, { force: true });
    const noResult = !/^\s*(not )?ok \d+/m.test(r.out);
    // an emulated kernel whose timer check fails on a busy host panics while booting ("IO-APIC +
    // timer doesn't work"): as a stall, the machine's fault, not the tests'
    const panicked = r.code === 125 && /Kernel panic/.test(tail);
    const stalled = (r.code === 124 || panicked) && noResult;
    if (!stalled || attempt === 3) return tails ? { ...r, out: `${r.out}\n--- earlier stalls' consoles:${tails}` } : r;
    tails += `\n[attempt ${attempt}]\n${tail}`;
    t.diagnostic(`the guest ${panicked ? "panicked while booting" : "stalled"} before any test result (attempt ${attempt}); booting it again. Console tail:\n${tail}`);
  }
}
