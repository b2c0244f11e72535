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
 * Runs the guest command under cgroup2-vm. A guest that times out before it printed any test
 * result (the emulated machine stalled; seen rarely, when the host is busy) is booted once more,
 * with the stall's console tail reported, so it is seen without failing the suite; a second
 * stall fails the test with both tails.
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
    const stalled = r.code === 124 && !/^\s*(not )?ok \d+/m.test(r.out);
    if (!stalled || attempt === 2) return tails ? { ...r, out: `${r.out}\n--- earlier stalls' consoles:${tails}` } : r;
    tails += `\n[attempt ${attempt}]\n${tail}`;
    t.diagnostic(`the guest stalled before any test result (attempt ${attempt}); booting it again. Console tail:\n${tail}`);
  }
}
