// Integration test against the real kernel: creates a cgroup under each hierarchy's root
// (/cove-test-<random>), puts a real process in it, limits, reads, freezes, kills and removes
// it. Runs only as root; cleans up in `after` even when a step fails.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rmdir, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { cgroupManager, detectCgroupHost, type CgroupManager } from "./index.js";

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root to create cgroups (run the suite as root)";

describe("cgroups on this host", { skip }, () => {
  const id = `cove-test-${randomBytes(4).toString("hex")}`;
  let cg: CgroupManager | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<NodeJS.Signals | null> | undefined;

  before(async () => {
    cg = await cgroupManager({
      id,
      cgroupsPath: `/${id}`,
      resources: { memory: { limit: 64 * MiB }, cpu: { shares: 512, quota: 50000, period: 100000 }, pids: { limit: 64 } },
    });
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
    if (cg) {
      await cg.thaw().catch(() => undefined);
      await cg.destroy().catch(() => undefined);
      for (const d of Object.values(cg.paths)) await rmdir(d).catch(() => undefined);
    }
  });

  it("creates the cgroup with the limits in place", async () => {
    assert.ok(cg);
    const host = await detectCgroupHost();
    assert.equal(cg.version, host.version === 2 ? 2 : 1);
    await cg.create();
    if (cg.version === 1) {
      assert.equal((await readFile(`${cg.paths.memory}/memory.limit_in_bytes`, "utf8")).trim(), String(64 * MiB));
      assert.equal((await readFile(`${cg.paths.cpu}/cpu.shares`, "utf8")).trim(), "512");
      assert.equal((await readFile(`${cg.paths.cpu}/cpu.cfs_quota_us`, "utf8")).trim(), "50000");
      assert.equal((await readFile(`${cg.paths.pids}/pids.max`, "utf8")).trim(), "64");
      // a process can only join a v1 cpuset with cpus and mems set
      assert.notEqual((await readFile(`${cg.paths.cpuset}/cpuset.cpus`, "utf8")).trim(), "");
    } else {
      const d = cg.paths.unified as string;
      assert.equal((await readFile(`${d}/memory.max`, "utf8")).trim(), String(64 * MiB));
      assert.equal((await readFile(`${d}/cpu.weight`, "utf8")).trim(), "20");
      assert.equal((await readFile(`${d}/cpu.max`, "utf8")).trim(), "50000 100000");
      assert.equal((await readFile(`${d}/pids.max`, "utf8")).trim(), "64");
    }
  });

  it("takes a real process, lists it and reports its stats", async () => {
    assert.ok(cg);
    // the shell waits until it is in the cgroup, then execs sleep: memory used after the move is
    // charged to the new cgroup (v1 does not move earlier charges)
    child = spawn("sh", ["-c", "read x; exec sleep 30"], { stdio: ["pipe", "ignore", "ignore"] });
    const c = child;
    exited = new Promise((r) => c.once("exit", (_code, sig) => r(sig)));
    const pid = child.pid as number;
    for (const f of cg.procsFiles()) await writeFile(f, String(pid));
    assert.deepEqual(await cg.pids(), [pid]);
    child.stdin?.end("go\n");
    for (let i = 0; i < 200 && !(await readFile(`/proc/${pid}/cmdline`, "utf8")).startsWith("sleep"); i++) await new Promise((r) => setTimeout(r, 10));
    const own = await readFile(`/proc/${pid}/cgroup`, "utf8");
    assert.match(own, new RegExp(`/${id}$`, "m"));
    const s = await cg.stats();
    assert.ok((s.memory?.usage ?? 0) > 0, "memory usage is counted");
    assert.equal(s.memory?.limit, 64 * MiB);
    assert.equal(s.pids?.current, 1);
    assert.equal(s.pids?.limit, 64);
    assert.ok(s.cpu !== undefined && s.cpu.usageTotal >= 0);
    await cg.apply({ memory: { limit: 128 * MiB }, pids: { limit: 10 } });
    assert.equal((await cg.stats()).memory?.limit, 128 * MiB);
  });

  it("freezes and thaws it", async () => {
    assert.ok(cg);
    const pid = child?.pid as number;
    await cg.freeze();
    assert.equal(await cg.frozen(), true);
    if (cg.version === 1) assert.equal((await readFile(`${cg.paths.freezer}/freezer.state`, "utf8")).trim(), "FROZEN");
    await cg.thaw();
    assert.equal(await cg.frozen(), false);
    // thawed, the sleeper goes back to sleep: it may run for a moment first on a busy machine
    let state = "";
    for (let i = 0; i < 200; i++) {
      state = /^State:\s+(\S)/m.exec(await readFile(`/proc/${pid}/status`, "utf8"))?.[1] ?? "";
      if (state === "S") break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(state, "S", "the thawed process sleeps again");
  });

  it("kills everything and removes the cgroup", async () => {
    assert.ok(cg);
    await cg.killAll("SIGKILL");
    assert.equal(await exited, "SIGKILL");
    await cg.destroy();
    for (const d of Object.values(cg.paths)) await assert.rejects(readFile(`${d}/cgroup.procs`), { code: "ENOENT" });
    assert.equal(await cg.oomKilled(), false);
  });
});
