import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { CoveError } from "../../common/errors.js";
import { hasLimits, NoCgroupManager, processTree } from "./none.js";

describe("a container without a cgroup", () => {
  it("counts limits but not device rules as resources to enforce", () => {
    assert.equal(hasLimits(undefined), false);
    assert.equal(hasLimits({ devices: [{ allow: false, access: "rwm" }] }), false);
    assert.equal(hasLimits({ memory: {} }), false);
    assert.equal(hasLimits({ memory: { limit: 1 << 20 } }), true);
    assert.equal(hasLimits({ pids: { limit: 10 } }), true);
  });

  it("lists the init and its descendants, and signals them", async () => {
    const parent = spawn("sh", ["-c", "sleep 300 & wait"], { stdio: "ignore" });
    try {
      const cg = new NoCgroupManager(1, "t", () => parent.pid!);
      for (let i = 0; i < 200 && (await cg.pids()).length < 2; i++) await new Promise((r) => setTimeout(r, 25));
      const pids = await cg.pids();
      assert.equal(pids[0], parent.pid);
      assert.equal(pids.length, 2, "sh and its sleep");
      assert.deepEqual(processTree(parent.pid!), pids);
      const exited = new Promise((r) => parent.once("exit", r));
      await cg.killAll("SIGKILL");
      await exited;
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("refuses limits, pause and unpause with what to do", async () => {
    const cg = new NoCgroupManager(2, "t", () => 0);
    assert.deepEqual(await cg.pids(), []);
    await assert.rejects(cg.apply({ memory: { limit: 1 << 20 } }), (e: unknown) => e instanceof CoveError && e.kind === "unsupported" && /delegated/.test(e.hint ?? ""));
    await cg.apply({});
    await assert.rejects(cg.freeze(), (e: unknown) => e instanceof CoveError && e.kind === "unsupported");
    await assert.rejects(cg.thaw(), (e: unknown) => e instanceof CoveError && e.kind === "unsupported");
    assert.equal(await cg.frozen(), false);
    assert.equal(await cg.oomKilled(), false);
  });
});
