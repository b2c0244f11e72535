// Runs inside a pure cgroup v2 kernel (test/cgroup2/vm.test.ts starts it with cgroup2-vm):
// limits, the eBPF device filter, freeze, update and cleanup, observed from inside the
// container (the probe) and from the host's /sys/fs/cgroup.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { it } from "node:test";
import { describeRuntimes, until } from "../fixtures/bundle.js";

const MiB = 1024 * 1024;

describeRuntimes(
  "cgroup v2",
  (ctx) => {
    it("applies memory, pids and cpu limits, filters devices, freezes, updates and cleans up", async () => {
      assert.equal(readFileSync("/proc/self/mountinfo", "utf8").includes(" /sys/fs/cgroup rw") || existsSync("/sys/fs/cgroup/cgroup.controllers"), true, "not a cgroup v2 host");
      const b = await ctx.bundle((spec, { rootfs }) => {
        spec.linux!.resources = {
          memory: { limit: 64 * MiB },
          pids: { limit: 40 },
          cpu: { quota: 50000, period: 100000, shares: 512 },
          devices: [{ allow: false, access: "rwm" }],
        };
        // /tmp/port (1:4) is not allowed, /tmp/null (1:3) is, whatever the config says
        execFileSync("mknod", [path.join(rootfs, "tmp/port"), "c", "1", "4"]);
        execFileSync("mknod", [path.join(rootfs, "tmp/null"), "c", "1", "3"]);
        spec.process!.args = ["/probe", "-p", "/tmp/port", "-p", "/tmp/null"];
      });
      const { id, probe } = await ctx.startProbe(b);
      const dir = path.join("/sys/fs/cgroup", b.cgroupsPath);
      const read = (f: string) => readFileSync(path.join(dir, f), "utf8").trim();
      assert.equal(read("memory.max"), String(64 * MiB));
      assert.equal(read("pids.max"), "40");
      assert.equal(read("cpu.max"), "50000 100000");
      assert.equal(read("cpu.weight"), "20");
      assert.equal(probe.cgroupFiles["/sys/fs/cgroup/memory.max"], String(64 * MiB), "the container sees its own limits");
      assert.equal(probe.cgroupFiles["/sys/fs/cgroup/pids.max"], "40");
      assert.deepEqual(probe.cgroup, ["0::/"], "a cgroup namespace rooted at the container");
      assert.equal(probe.paths["/tmp/port"]!.readErrno, 1, "the device filter refuses 1:4 with EPERM");
      assert.equal(probe.paths["/tmp/null"]!.readErrno ?? 0, 0, "1:3 is always allowed");

      await ctx.rt.pause(id);
      assert.equal(read("cgroup.freeze"), "1");
      assert.equal((await ctx.rt.state(id)).status, "paused");
      await ctx.rt.resume(id);
      assert.equal((await ctx.rt.state(id)).status, "running");

      await ctx.rt.update(id, { pids: { limit: 50 }, memory: { limit: 32 * MiB } });
      assert.equal(read("pids.max"), "50");
      assert.equal(read("memory.max"), String(32 * MiB));
      const stats = (await ctx.rt.stats(id)) as { pids?: { current?: number } };
      assert.ok((stats.pids?.current ?? 0) >= 1, `stats report the running process: ${JSON.stringify(stats)}`);

      await ctx.rt.kill(id, "SIGKILL");
      await until("the container to stop", async () => (await ctx.rt.state(id)).status === "stopped");
      await ctx.rt.delete(id);
      assert.equal(existsSync(dir), false, "delete removes the cgroup");
    });
  },
  ["cove"],
);
