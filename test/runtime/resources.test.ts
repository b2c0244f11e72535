// cgroups (limits seen from the host and from inside, update, stats), hooks (order, state on
// stdin, a failing hook), bad input that must change nothing, and a runtime killed mid-create.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { CoveError } from "../../src/common/errors.js";
import type { Spec } from "../../src/runtime/spec.js";
import { CGROUP_V2, CLI, cgroupDirsOf, describeRuntimes, makeBundle, mountinfoLinesContaining, removeCgroup, until, type Bundle, type RuntimeContext, type RuntimeKind } from "../fixtures/bundle.js";

/** A file of the container's cgroup: in controller's v1 hierarchy, or in the unified one on v2. */
async function cgroupFile(b: Bundle, controller: string, file: string): Promise<string> {
  const dirs = await cgroupDirsOf(b.cgroupsPath);
  const dir = CGROUP_V2 ? dirs[0] : dirs.find((d) => d.split("/")[4]!.split(",").includes(controller));
  assert.ok(dir, `a ${controller} cgroup exists for ${b.cgroupsPath}`);
  return (await readFile(path.join(dir, file), "utf8")).trim();
}

/** Asserts that nothing of container id (bundle b) is left: state, cgroups, mounts. */
async function assertNothingLeft(ctx: RuntimeContext, id: string, b: Bundle): Promise<void> {
  await assert.rejects(ctx.rt.state(id), (err: unknown) => err instanceof CoveError && err.kind === "not-found");
  assert.ok(!existsSync(path.join(ctx.root, id)), `no state directory ${path.join(ctx.root, id)}`);
  assert.deepEqual(await cgroupDirsOf(b.cgroupsPath), [], "no cgroup directory");
  assert.deepEqual(mountinfoLinesContaining(b.base), [], "no mount under the bundle");
}

/** Asserts that creating fails with an error whose text matches, and that nothing is left. */
async function assertCreateFails(ctx: RuntimeContext, b: Bundle, pattern: RegExp, field?: RegExp): Promise<void> {
  const id = ctx.id("bad");
  let err: unknown;
  try {
    await ctx.rt.create(id, { bundle: b.dir, stdio: "ignore" });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CoveError, `expected a CoveError, got ${String(err)}`);
  assert.match(err.message, pattern);
  if (field && ctx.kind === "cove") assert.match(err.field ?? "", field, `cove names the field (message: ${err.message})`);
  await assertNothingLeft(ctx, id, b);
}

describeRuntimes("cgroups", (ctx) => {
  it("memory, pids and cpu limits, seen from the host and from inside", async () => {
    const b = await ctx.bundle((s) => {
      s.linux!.resources = { ...s.linux!.resources, memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 }, cpu: { quota: 50000, period: 100000, shares: 512 } };
    });
    const { id, state, probe } = await ctx.startProbe(b);
    if (CGROUP_V2) {
      assert.equal(await cgroupFile(b, "memory", "memory.max"), String(64 * 1024 * 1024));
      assert.equal(await cgroupFile(b, "cpu", "cpu.max"), "50000 100000");
      // shares 512 on v2's weight scale, as runc and crun convert it
      assert.equal(await cgroupFile(b, "cpu", "cpu.weight"), "20");
    } else {
      assert.equal(await cgroupFile(b, "memory", "memory.limit_in_bytes"), String(64 * 1024 * 1024));
      assert.equal(await cgroupFile(b, "cpu", "cpu.cfs_quota_us"), "50000");
      assert.equal(await cgroupFile(b, "cpu", "cpu.cfs_period_us"), "100000");
      assert.equal(await cgroupFile(b, "cpu", "cpu.shares"), "512");
    }
    assert.equal(await cgroupFile(b, "pids", "pids.max"), "50");
    assert.ok((await cgroupFile(b, "pids", "cgroup.procs")).split("\n").map(Number).includes(state.pid!), "the init is in the cgroup");
    if (ctx.kind === "cove") {
      // the monitor's child joins them itself (v1 tasks files, v2 by CLONE_INTO_CGROUP): every hierarchy, v2 included
      const lines = (await readFile(`/proc/${state.pid!}/cgroup`, "utf8")).trim().split("\n");
      assert.ok(lines.length > 0);
      for (const line of lines) assert.ok(line.endsWith(`:${b.cgroupsPath}`), `the init's cgroup ${line} is the container's (${b.cgroupsPath})`);
    }
    if (CGROUP_V2) {
      assert.equal(probe.cgroupFiles["/sys/fs/cgroup/memory.max"], String(64 * 1024 * 1024), "the limit is visible inside");
      assert.equal(probe.cgroupFiles["/sys/fs/cgroup/pids.max"], "50");
      assert.equal(probe.cgroupFiles["/sys/fs/cgroup/cpu.max"], "50000 100000");
    } else {
      assert.equal(probe.cgroupFiles["/sys/fs/cgroup/memory/memory.limit_in_bytes"], String(64 * 1024 * 1024), "the limit is visible inside");
      assert.equal(probe.cgroupFiles["/sys/fs/cgroup/pids/pids.max"], "50");
      assert.equal(probe.cgroupFiles["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"], "50000");
    }
    assert.deepEqual(await ctx.rt.ps(id), [state.pid!]);
  });

  it("update changes pids.max and the memory limit of a running container", async () => {
    const b = await ctx.bundle((s) => {
      s.linux!.resources = { ...s.linux!.resources, memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 } };
    });
    const { id } = await ctx.startProbe(b);
    await ctx.rt.update(id, { pids: { limit: 100 }, memory: { limit: 128 * 1024 * 1024 } });
    assert.equal(await cgroupFile(b, "pids", "pids.max"), "100");
    assert.equal(await cgroupFile(b, "memory", CGROUP_V2 ? "memory.max" : "memory.limit_in_bytes"), String(128 * 1024 * 1024));
    assert.equal((await ctx.rt.state(id)).status, "running");
  });

  it("the pids limit holds inside", async () => {
    const b = await ctx.bundle((s) => {
      s.linux!.resources = { ...s.linux!.resources, pids: { limit: 5 } };
      s.process!.args = ["/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 30 & done; echo started; wait"];
    });
    const out = await b.output();
    const id = ctx.id();
    await ctx.rt.create(id, { bundle: b.dir, stdio: ["ignore", out.fd, out.fd] });
    await ctx.rt.start(id);
    await until("a fork fails", async () => /fork|resource temporarily unavailable/i.test(await out.text()));
    assert.ok((await ctx.rt.ps(id)).length <= 5, "no more than pids.max processes");
  });

  it("stats report memory and pids", async () => {
    const b = await ctx.bundle((s) => {
      s.linux!.resources = { ...s.linux!.resources, pids: { limit: 50 } };
    });
    const { id } = await ctx.startProbe(b);
    const stats = await ctx.rt.stats(id);
    assert.ok(stats && typeof stats === "object");
    const text = JSON.stringify(stats);
    assert.match(text, /memory/i);
    assert.match(text, /pids/i);
  });
});

describeRuntimes("hooks", (ctx) => {
  async function hookScript(b: Bundle, log: string, extra = ""): Promise<string> {
    const script = path.join(b.base, "hook.sh");
    await writeFile(script, `#!/bin/sh\n${extra}\nprintf '%s %s\\n' "$1" "$(cat)" >> ${log}\n`);
    await chmod(script, 0o755);
    return script;
  }

  it("prestart, createRuntime, poststart, poststop run in order with the state on stdin", async () => {
    const b = await ctx.bundle();
    const log = path.join(b.base, "hooks.log");
    const script = await hookScript(b, log);
    const hook = (name: string) => [{ path: script, args: [script, name] }];
    b.spec.hooks = { prestart: hook("prestart"), createRuntime: hook("createRuntime"), poststart: hook("poststart"), poststop: hook("poststop") };
    b.spec.process!.args = ["/probe", "-s", "60"];
    await b.write();
    const id = ctx.id();
    const created = await ctx.rt.create(id, { bundle: b.dir, stdio: "ignore" });
    const entries = async () =>
      (await readFile(log, "utf8").catch(() => ""))
        .split("\n")
        .filter(Boolean)
        .map((l) => ({ name: l.slice(0, l.indexOf(" ")), state: JSON.parse(l.slice(l.indexOf(" ") + 1)) as { id: string; pid?: number; bundle: string; status: string } }));
    // runc 1.1 runs poststart hooks at the end of `create` (libcontainer's start of the init),
    // not after the user process is started as runtime.md asks; cove must follow the spec
    const atCreate = ctx.kind === "runc" ? ["prestart", "createRuntime", "poststart"] : ["prestart", "createRuntime"];
    assert.deepEqual((await entries()).map((e) => e.name), atCreate);
    for (const e of await entries()) {
      assert.equal(e.state.id, id);
      assert.equal(e.state.pid, created.pid, `${e.name} gets the container's pid`);
      assert.equal(path.resolve(e.state.bundle), b.dir);
    }
    await ctx.rt.start(id);
    await until("poststart", async () => (await entries()).length === 3);
    assert.equal((await ctx.rt.state(id)).status, "running");
    const post = (await entries())[2]!;
    assert.equal(post.name, "poststart");
    assert.equal(post.state.pid, created.pid);
    await ctx.rt.kill(id, "SIGKILL");
    await until("stopped", async () => (await ctx.rt.state(id)).status === "stopped");
    await ctx.rt.delete(id);
    const all = await entries();
    assert.deepEqual(all.map((e) => e.name), ["prestart", "createRuntime", "poststart", "poststop"]);
    assert.equal(all[3]!.state.id, id);
  });

  it("a failing createRuntime hook makes create fail and leaves nothing behind", async () => {
    const b = await ctx.bundle();
    const log = path.join(b.base, "hooks.log");
    const ok = await hookScript(b, log);
    const failing = path.join(b.base, "fail.sh");
    await writeFile(failing, "#!/bin/sh\necho hook-says-no >&2\nexit 3\n");
    await chmod(failing, 0o755);
    b.spec.hooks = { prestart: [{ path: ok, args: [ok, "prestart"] }], createRuntime: [{ path: failing }], poststop: [{ path: ok, args: [ok, "poststop"] }] };
    await b.write();
    await assertCreateFails(ctx, b, /hook|exit status 3/i);
  });
});

describeRuntimes("bad input", (ctx) => {
  const cases: [string, (s: Spec) => void, RegExp, RegExp | undefined, RuntimeKind[]?][] = [
    ["an unknown namespace type", (s) => s.linux!.namespaces!.push({ type: "bogus" as "pid" }), /namespace/i, /namespaces/],
    ["a relative cwd", (s) => (s.process!.cwd = "tmp"), /cwd|absolute/i, /process\.cwd/],
    // runc 1.1 only warns about unknown capabilities (forward compatibility) and starts anyway
    ["an unknown capability", (s) => (s.process!.capabilities!.bounding = ["CAP_BOGUS"]), /CAP_BOGUS/, /capabilities/, ["cove"]],
    ["a missing rootfs", (s) => (s.root!.path = "no-such-rootfs"), /no-such-rootfs|rootfs/i, /root/],
    ["an executable that does not exist", (s) => (s.process!.args = ["/no/such/exe"]), /\/no\/such\/exe/, undefined],
  ];
  for (const [what, tweak, pattern, field, only] of cases) {
    if (only && !only.includes(ctx.kind)) continue; // a runtime that accepts it (see the comment on the case)
    it(`${what} fails create, names it, and leaves nothing`, async () => {
      const b = await ctx.bundle(tweak);
      await assertCreateFails(ctx, b, pattern, field);
    });
  }
});

describeRuntimes(
  "runtime killed mid-create",
  (ctx) => {
    it("delete --force after SIGKILL of `cove runtime create` during a createRuntime hook removes everything", { skip: existsSync(CLI) ? undefined : `${CLI} is not built yet (the lead's src/cli/main.ts)` }, async () => {
      const b = await makeBundle();
      ctx.defer(() => b.cleanup());
      const marker = path.join(b.base, "hook-running");
      const hook = path.join(b.base, "slow.sh");
      // the hook records its pid (kept by exec) so the test can end it whatever happens
      await writeFile(hook, `#!/bin/sh\necho $$ > ${marker}.tmp && mv ${marker}.tmp ${marker}\nexec sleep 600\n`);
      await chmod(hook, 0o755);
      b.spec.hooks = { createRuntime: [{ path: hook }] };
      b.spec.process!.args = ["/probe", "-s", "60"];
      await b.write();
      const id = ctx.id("killed");
      const cli = spawn(process.execPath, [CLI, "runtime", "--root", ctx.root, "create", "--bundle", b.dir, id], { stdio: "ignore" });
      ctx.defer(() => cli.kill("SIGKILL"));
      await until("the hook runs", () => existsSync(marker));
      const hookPid = Number(await readFile(marker, "utf8"));
      ctx.defer(() => {
        try {
          process.kill(hookPid, "SIGKILL");
        } catch {
          // gone
        }
      });
      cli.kill("SIGKILL");
      await new Promise((r) => (cli.exitCode !== null || cli.signalCode !== null ? r(undefined) : cli.once("exit", r)));
      const before = await cgroupDirsOf(b.cgroupsPath);
      const procs = before.length ? (await readFile(path.join(before[0]!, "cgroup.procs"), "utf8")).split("\n").filter(Boolean).map(Number) : [];
      // the state must exist (creating or created) so that delete can find it
      const st = await ctx.rt.state(id);
      assert.ok(["creating", "created", "stopped"].includes(st.status), `status ${st.status}`);
      const del = spawn(process.execPath, [CLI, "runtime", "--root", ctx.root, "delete", "--force", id], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      del.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const code = await new Promise<number | null>((r) => del.once("exit", (c) => r(c)));
      assert.equal(code, 0, `delete --force failed: ${stderr}`);
      await assertNothingLeft(ctx, id, b);
      // a killed process leaves its cgroup when the kernel is done with it
      const inCgroup = async (p: number) => existsSync(`/proc/${p}/cgroup`) && (await readFile(`/proc/${p}/cgroup`, "utf8").catch(() => "")).includes(b.cgroupsPath);
      await until("the container's processes to leave its cgroup", async () => !(await Promise.all(procs.map(inCgroup))).some(Boolean)).catch(() => undefined);
      for (const p of procs) assert.ok(!(await inCgroup(p)), `process ${p} is gone from the cgroup`);
      assert.deepEqual((await readdir(ctx.root).catch((): string[] => [])).filter((n) => n === id), []);
      await removeCgroup(b.cgroupsPath);
    });
  },
  ["cove"],
);
