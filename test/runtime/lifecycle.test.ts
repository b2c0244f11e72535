// Lifecycle: create → created (pid) → start → running → kill → stopped → delete; wrong-state
// errors; unknown ids; list; run's exit status; kill --all; exec.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { CoveError } from "../../src/common/errors.js";
import { capMask, CGROUP_V2, cgroupDirsOf, DEFAULT_CAPS, describeRuntimes, removeCgroup, until } from "../fixtures/bundle.js";

/** True while pid exists and is not a zombie (the init's reaper may be slow or absent). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function rejectsWith(p: Promise<unknown>, kind: string, pattern?: RegExp): Promise<CoveError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CoveError, `expected a CoveError, got ${String(err)}`);
    assert.equal(err.kind, kind, `error kind for: ${err.message}`);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail("expected the call to fail");
}

describeRuntimes("lifecycle", (ctx) => {
  it("create → created with a pid → start → running → kill → stopped → delete", async () => {
    const b = await ctx.bundle();
    b.spec.process!.args = ["/probe", "-s", "60"];
    await b.write();
    const out = await b.output();
    const id = ctx.id();
    const created = await ctx.rt.create(id, { bundle: b.dir, stdio: ["ignore", out.fd, "inherit"] });
    assert.equal(created.id, id);
    assert.equal(created.status, "created");
    assert.ok(created.pid && created.pid > 0, "created state has a pid");
    assert.ok(isAlive(created.pid!), "the init exists while created");
    assert.equal(path.resolve(created.bundle), b.dir);
    const st1 = await ctx.rt.state(id);
    assert.equal(st1.status, "created");
    assert.equal(st1.pid, created.pid);
    assert.equal(await out.text(), "", "the user process has not run before start");

    await ctx.rt.start(id);
    const probe = await out.probe();
    assert.equal(probe.pid, 1, "the process is pid 1 of its pid namespace");
    const st2 = await ctx.rt.state(id);
    assert.equal(st2.status, "running");
    assert.equal(st2.pid, created.pid);

    await ctx.rt.kill(id, "SIGKILL");
    await until("stopped", async () => (await ctx.rt.state(id)).status === "stopped");
    await until("the init is gone", () => !isAlive(created.pid!));
    await ctx.rt.delete(id);
    await rejectsWith(ctx.rt.state(id), "not-found");
    assert.deepEqual(await cgroupDirsOf(b.cgroupsPath), [], "no cgroup directory is left");
    assert.ok(!(await ctx.rt.list()).some((c) => c.id === id));
  });

  it("SIGTERM stops a probe that handles it; wait returns", async () => {
    const b = await ctx.bundle();
    const { id } = await ctx.startProbe(b);
    await ctx.rt.kill(id, "SIGTERM");
    const exit = await ctx.rt.wait(id);
    if (ctx.kind === "runc") assert.equal(exit.code, -1, "runc cannot report the exit status of a detached container");
    else assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 143, signal: 0 });
    assert.equal((await ctx.rt.state(id)).status, "stopped");
  });

  it("start twice, delete while running and kill after stop fail with conflicts", async () => {
    const b = await ctx.bundle();
    const { id, state } = await ctx.startProbe(b);
    await rejectsWith(ctx.rt.start(id), "conflict");
    await rejectsWith(ctx.rt.delete(id), "conflict");
    assert.equal((await ctx.rt.state(id)).status, "running", "a refused delete leaves the container running");
    assert.ok(isAlive(state.pid!));
    await ctx.rt.delete(id, { force: true });
    await until("delete --force kills the init", () => !isAlive(state.pid!));
    await rejectsWith(ctx.rt.state(id), "not-found");
    assert.deepEqual(await cgroupDirsOf(b.cgroupsPath), []);
  });

  it("unknown ids are not-found for every command", async () => {
    const id = "no-such-container-" + process.pid;
    await rejectsWith(ctx.rt.state(id), "not-found");
    await rejectsWith(ctx.rt.start(id), "not-found");
    await rejectsWith(ctx.rt.kill(id, "SIGKILL"), "not-found");
    await rejectsWith(ctx.rt.delete(id), "not-found");
    await rejectsWith(ctx.rt.pause(id), "not-found");
    await rejectsWith(ctx.rt.ps(id), "not-found");
  });

  it("creating an id twice is a conflict and leaves the first container alone", async () => {
    const b = await ctx.bundle();
    const id = ctx.id();
    const first = await ctx.rt.create(id, { bundle: b.dir, stdio: "ignore" });
    await rejectsWith(ctx.rt.create(id, { bundle: b.dir, stdio: "ignore" }), "conflict");
    const st = await ctx.rt.state(id);
    assert.equal(st.status, "created");
    assert.equal(st.pid, first.pid);
  });

  it("list shows every container with its status", async () => {
    const b1 = await ctx.bundle();
    const b2 = await ctx.bundle();
    const a = ctx.id("a");
    await ctx.rt.create(a, { bundle: b1.dir, stdio: "ignore" });
    const { id: bId } = await ctx.startProbe(b2);
    const list = await ctx.rt.list();
    const byId = new Map(list.map((c) => [c.id, c]));
    assert.equal(byId.get(a)?.status, "created");
    assert.equal(byId.get(bId)?.status, "running");
    assert.equal(path.resolve(byId.get(a)!.bundle), b1.dir);
    await ctx.rt.delete(a, { force: true });
    assert.ok(!(await ctx.rt.list()).some((c) => c.id === a));
  });

  it("run returns the process's exit code", async () => {
    const b = await ctx.bundle((s) => (s.process!.args = ["/bin/sh", "-c", "exit 7"]));
    const exit = await ctx.rt.run(ctx.id(), { bundle: b.dir, stdio: "ignore" });
    assert.equal(exit.code, 7);
    assert.equal(exit.signal, 0);
    assert.deepEqual(await ctx.rt.list(), [], "run deletes the container");
    assert.deepEqual(await cgroupDirsOf(b.cgroupsPath), []);
  });

  it("run reports 128+n for a process killed by signal n", async () => {
    const b = await ctx.bundle((s) => (s.process!.args = ["/bin/sleep", "600"]));
    const id = ctx.id();
    const running = ctx.rt.run(id, { bundle: b.dir, stdio: "ignore" });
    running.catch(() => undefined);
    const st = await until("running", async () => {
      const s = await ctx.rt.state(id).catch(() => undefined);
      return s?.status === "running" ? s : undefined;
    });
    process.kill(st.pid!, "SIGKILL");
    const exit = await running;
    assert.equal(exit.code, 137);
    assert.equal(exit.signal, 9);
  });

  it("kill --all signals every process of the container", async () => {
    const b = await ctx.bundle((s) => (s.process!.args = ["/bin/sh", "-c", "sleep 100 & sleep 100 & echo ready; wait"]));
    const out = await b.output();
    const id = ctx.id();
    await ctx.rt.create(id, { bundle: b.dir, stdio: ["ignore", out.fd, "inherit"] });
    await ctx.rt.start(id);
    await until("ready", async () => (await out.text()).includes("ready"));
    const pids = await until("3 processes", async () => {
      const p = await ctx.rt.ps(id);
      return p.length === 3 ? p : undefined;
    });
    await ctx.rt.kill(id, "SIGKILL", { all: true });
    await until("all gone", () => pids.every((p) => !isAlive(p)));
    await until("stopped", async () => (await ctx.rt.state(id)).status === "stopped");
  });

  it("exec runs a process inside with its own args, env, cwd and user; exit codes come back", async () => {
    const b = await ctx.bundle();
    const { id, probe: initProbe } = await ctx.startProbe(b);
    const out = await b.output();
    const h = await ctx.rt.exec(id, {
      process: { args: ["/probe"], env: ["PATH=/bin", "EXEC_VAR=yes"], cwd: "/tmp", user: { uid: 1000, gid: 1000 }, terminal: false },
      stdio: ["ignore", out.fd, "inherit"],
    });
    assert.ok(h.pid > 0);
    const exit = await h.exited;
    assert.equal(exit.code, 0);
    const p = await out.probe();
    assert.notEqual(p.pid, 1);
    assert.equal(p.ns.pid, initProbe.ns.pid, "same pid namespace as the init");
    assert.equal(p.ns.mnt, initProbe.ns.mnt);
    assert.equal(p.ns.net, initProbe.ns.net);
    assert.equal(p.cwd, "/tmp");
    assert.deepEqual(p.uid, [1000, 1000, 1000]);
    assert.deepEqual(p.gid, [1000, 1000, 1000]);
    assert.ok(p.env.includes("EXEC_VAR=yes"));
    assert.deepEqual(p.cgroup, initProbe.cgroup, "same cgroups as the init");

    const h2 = await ctx.rt.exec(id, { process: { args: ["/bin/sh", "-c", "exit 42"], cwd: "/", user: { uid: 0, gid: 0 } }, stdio: "ignore" });
    assert.equal((await h2.exited).code, 42);
    assert.equal((await ctx.rt.state(id)).status, "running", "exec leaves the init running");
  });

  it("exec without capabilities in its process gets the container's, not the host's", async () => {
    const b = await ctx.bundle();
    const { id, probe: initProbe } = await ctx.startProbe(b);
    const out = await b.output();
    const h = await ctx.rt.exec(id, { process: { args: ["/probe"], env: ["PATH=/bin"], cwd: "/", user: { uid: 0, gid: 0 } }, stdio: ["ignore", out.fd, "inherit"] });
    assert.equal((await h.exited).code, 0);
    const p = await out.probe();
    assert.equal(p.caps.bounding, capMask(DEFAULT_CAPS), "an exec'd process cannot hold more than the container's bounding set");
    assert.equal(p.caps.bounding, initProbe.caps.bounding);
    assert.equal(p.caps.effective, initProbe.caps.effective);
  });

  it("exec of a missing binary fails with an error naming it", async () => {
    const b = await ctx.bundle();
    const { id } = await ctx.startProbe(b);
    let err: unknown;
    try {
      const h = await ctx.rt.exec(id, { process: { args: ["/no/such/binary"], cwd: "/", user: { uid: 0, gid: 0 } }, stdio: "ignore" });
      await h.exited;
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof CoveError, `expected a CoveError, got ${String(err)}`);
    assert.match(err.message, /\/no\/such\/binary/);
  });

  it("pause freezes, resume thaws", async () => {
    const b = await ctx.bundle();
    const { id } = await ctx.startProbe(b);
    await ctx.rt.pause(id);
    assert.equal((await ctx.rt.state(id)).status, "paused");
    const { readFile } = await import("node:fs/promises");
    if (CGROUP_V2) {
      // v2 freezes through cgroup.freeze; cgroup.events says when every process is frozen
      const [dir] = await cgroupDirsOf(b.cgroupsPath);
      assert.ok(dir, `the container's cgroup ${b.cgroupsPath} exists`);
      assert.equal((await readFile(path.join(dir, "cgroup.freeze"), "utf8")).trim(), "1");
      assert.match(await readFile(path.join(dir, "cgroup.events"), "utf8"), /^frozen 1$/m);
    } else {
      const freezer = (await cgroupDirsOf(b.cgroupsPath)).find((d) => d.includes("/freezer/"));
      assert.ok(freezer, `the container has a freezer cgroup for ${b.cgroupsPath}`);
      assert.equal((await readFile(path.join(freezer, "freezer.state"), "utf8")).trim(), "FROZEN");
    }
    await rejectsWith(ctx.rt.pause(id), "conflict");
    await ctx.rt.resume(id);
    assert.equal((await ctx.rt.state(id)).status, "running");
    await rejectsWith(ctx.rt.resume(id), "conflict");
  });

  it("delete --force removes a paused container", async () => {
    const b = await ctx.bundle();
    const { id, state } = await ctx.startProbe(b);
    await ctx.rt.pause(id);
    await ctx.rt.delete(id, { force: true });
    await until("init gone", () => !isAlive(state.pid!));
    assert.deepEqual(await cgroupDirsOf(b.cgroupsPath), []);
    assert.ok(!existsSync(path.join(ctx.root, id)), "no state directory");
    assert.ok(!(await readdir(ctx.root).catch((): string[] => [])).includes(id));
  });
});

describeRuntimes(
  "shared parent cgroups",
  (ctx) => {
    it("go with their last container, or, kept for a daemon, at flush() (also one a daemon that died kept)", async () => {
      const { CoveRuntime } = await import("../../src/runtime/cove.js");
      // a parent named as a daemon's (/cove-<tag>): the only kind the runtime removes
      const parent = `/cove-${randomBytes(4).toString("hex")}`;
      const runOnce = async (rt: InstanceType<typeof CoveRuntime>) => {
        const b = await ctx.bundle((spec) => {
          spec.linux!.cgroupsPath = `${parent}/c-${randomBytes(4).toString("hex")}`;
        });
        b.spec.process!.args = ["/bin/true"];
        await b.write();
        const exit = await rt.run(ctx.id("parent"), { bundle: b.dir, stdio: "ignore" });
        assert.equal(exit.code, 0);
        assert.deepEqual(await cgroupDirsOf(b.spec.linux!.cgroupsPath!), [], "the container's own cgroups go at once");
      };
      ctx.defer(() => removeCgroup(parent));
      await runOnce(new CoveRuntime({ root: ctx.root }));
      assert.deepEqual(await cgroupDirsOf(parent), [], "a runtime command removes the parent with its last container");
      const kept = new CoveRuntime({ root: ctx.root, keepCgroupParents: true });
      await runOnce(kept);
      await runOnce(kept);
      assert.notDeepEqual(await cgroupDirsOf(parent), [], "a daemon's runtime keeps it between containers");
      await kept.flush();
      assert.deepEqual(await cgroupDirsOf(parent), [], "and removes it at flush()");
      // a daemon that died kept it: the next one, told its parent, removes it without running anything
      await runOnce(new CoveRuntime({ root: ctx.root, keepCgroupParents: parent }));
      assert.notDeepEqual(await cgroupDirsOf(parent), []);
      await new CoveRuntime({ root: ctx.root, keepCgroupParents: parent }).flush();
      assert.deepEqual(await cgroupDirsOf(parent), [], "the next daemon's flush() removes it");
    });
  },
  ["cove"],
);

describeRuntimes(
  "state directories removed in the background",
  (ctx) => {
    it("are gone from the runtime at once, from the disk by flush(); list() removes one a crash left", async () => {
      const { CoveRuntime } = await import("../../src/runtime/cove.js");
      const rt = new CoveRuntime({ root: ctx.root, removeStateInBackground: true });
      const b = await ctx.bundle();
      b.spec.process!.args = ["/bin/true"];
      await b.write();
      const id = ctx.id("bg");
      assert.equal((await rt.run(id, { bundle: b.dir, stdio: "ignore" })).code, 0);
      await assert.rejects(rt.state(id), (err: unknown) => err instanceof CoveError && err.kind === "not-found");
      assert.ok(!existsSync(path.join(ctx.root, id)), "the id's directory is gone at once");
      await rt.flush();
      assert.deepEqual(await readdir(ctx.root), [], "nothing is left once flush() returns");
      // what a crash during the removal leaves: listed by nobody, removed by the next list()
      const { mkdir, writeFile } = await import("node:fs/promises");
      const left = path.join(ctx.root, `@deleted-${id}-x`);
      await mkdir(left);
      await writeFile(path.join(left, "state.json"), "{}");
      assert.deepEqual(await rt.list(), []);
      await rt.flush();
      assert.deepEqual(await readdir(ctx.root), []);
      // a runtime command's delete removes the directory in place, as before
      const inPlace = new CoveRuntime({ root: ctx.root });
      const other = ctx.id("fg");
      assert.equal((await inPlace.run(other, { bundle: b.dir, stdio: "ignore" })).code, 0);
      assert.deepEqual(await readdir(ctx.root), []);
    });
  },
  ["cove"],
);
