// HostConfig.Runtime "runc": the same lifecycle as cove's own runtime (run, logs, attach, exec, a
// terminal, stop, kill, wait, exit status, OOM, live restore) with runc creating the container and
// cove's monitor adopting its process. Also: OOM kills and --oom-kill-disable on both runtimes,
// and the service's wait/remove/log-option semantics. Needs root; the runc cases need runc.

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CoveError } from "../../src/common/errors.js";
import { findRunc } from "../../src/runtime/runc.js";
import type { CreateBody } from "../../src/containers/types.js";
import { collect, exited, setup, story, until, type Harness } from "./harness.js";

const IS_ROOT = process.getuid?.() === 0;
const RUNC = findRunc();
const MEMORY_CGROUP = "/sys/fs/cgroup/memory";
const CGROUP_V2 = existsSync("/sys/fs/cgroup/cgroup.controllers");
const HAS_MEMORY_CGROUP = CGROUP_V2 ? readFileSync("/sys/fs/cgroup/cgroup.controllers", "utf8").split(" ").map((c) => c.trim()).includes("memory") : existsSync(path.join(MEMORY_CGROUP, "memory.oom_control"));

/** The container's memory cgroup directory on the host (cgroup v1, cove's default parent). */
function memoryCgroup(id: string): string {
  return path.join(MEMORY_CGROUP, "cove", id);
}

/** Container ids that still have a cgroup under the default parent (v2, or any v1 hierarchy). */
function leftoverCgroups(ids: string[]): string[] {
  const out: string[] = [];
  if (CGROUP_V2) return ids.filter((id) => existsSync(path.join("/sys/fs/cgroup/cove", id)));
  for (const h of readdirSync("/sys/fs/cgroup")) {
    for (const id of ids) if (existsSync(path.join("/sys/fs/cgroup", h, "cove", id))) out.push(`${h}/cove/${id}`);
  }
  return out;
}

async function runToExit(h: Harness, body: CreateBody): Promise<{ id: string; code: number }> {
  const { Id } = await h.svc.create(body);
  const exited = h.svc.wait(Id, "next-exit");
  await h.svc.start(Id);
  return { id: Id, code: (await exited).StatusCode };
}

describe("runtime runc under the container service", { skip: !IS_ROOT ? "needs root" : !RUNC ? "runc is not installed (apt-get install runc)" : false }, () => {
  let h: Harness;
  const ids: string[] = [];
  const runc = (body: CreateBody): CreateBody => ({ ...body, HostConfig: { ...body.HostConfig, Runtime: "runc" } });
  before(async () => {
    h = await setup();
  });
  after(async () => {
    await h?.cleanup();
    assert.deepEqual(leftoverCgroups(ids), [], "every cgroup is gone");
    const runcRoot = path.join(h.base, "runc");
    assert.ok(!existsSync(runcRoot) || readdirSync(runcRoot).length === 0, "runc keeps no container");
  });

  it("runs to the exit status with json-file logs, events and inspect", async () => {
    const { id, code } = await runToExit(h, runc({ Image: "busybox", Cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"] }));
    ids.push(id);
    assert.equal(code, 3);
    const info = await h.svc.inspect(id);
    assert.equal(info.HostConfig.Runtime, "runc");
    assert.equal(info.State.Status, "exited");
    assert.equal(info.State.ExitCode, 3);
    assert.deepEqual((await collect(h.svc.logs(id))).sort(), ["stderr:err\n", "stdout:out\n"]);
    const log = readFileSync(info.LogPath, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
    assert.deepEqual(log.map((e) => `${e.stream}:${e.log}`).sort(), ["stderr:err\n", "stdout:out\n"]);
    assert.deepEqual(h.events.filter((e) => e.Actor.ID === id).map((e) => e.Action), ["create", "start", "die"]);
    // the process ran under runc: runc's state directory held it, cove's runtime never did
    assert.equal(existsSync(path.join(h.runtimeRoot, id, "state.json")), false);
    await h.svc.remove(id);
    assert.equal(existsSync(path.join(h.runtimeRoot, id)), false);
  });

  it("attach sends stdin and receives the output", async () => {
    const { Id } = await h.svc.create(runc({ Image: "busybox", Cmd: ["sh", "-c", "read a; echo got:$a; cat"], OpenStdin: true, StdinOnce: true, AttachStdin: true }));
    ids.push(Id);
    const session = await h.svc.attach(Id, { stdin: true, stdout: true, stderr: true, stream: true });
    const exited = h.svc.wait(Id, "next-exit");
    await h.svc.start(Id);
    session.write("hello\nmore\n");
    session.closeStdin();
    let text = "";
    for await (const chunk of session.output) text += chunk.data.toString();
    assert.equal(text, "got:hello\nmore\n");
    assert.equal((await exited).StatusCode, 0);
    await h.svc.remove(Id);
  });

  it("a terminal: -t output through the pty, exec with and without a tty", async () => {
    const { id, code } = await runToExit(h, runc({ Image: "busybox", Tty: true, Cmd: ["sh", "-c", "tty; stty size"], HostConfig: { ConsoleSize: [30, 100] } }));
    ids.push(id);
    assert.equal(code, 0);
    const out = (await collect(h.svc.logs(id))).join("");
    assert.match(out, /^stdout:\/dev\/pts\/\d+\r\n/);
    await h.svc.remove(id);
  });

  it("exec: output, exit code, env, user, a tty, and a missing command", async () => {
    const { Id } = await h.svc.create(runc({ Image: "busybox", Cmd: ["sleep", "600"], Env: ["FOO=bar"] }));
    ids.push(Id);
    await h.svc.start(Id);
    try {
      const run = async (cfg: Parameters<typeof h.svc.execCreate>[1]) => {
        const { Id: execId } = await h.svc.execCreate(Id, { AttachStdout: true, AttachStderr: true, ...cfg });
        const s = await h.svc.execStart(execId);
        let out = "";
        for await (const c of s.output) out += c.data.toString();
        return { out, code: await s.exitCode, execId };
      };
      const r1 = await run({ Cmd: ["sh", "-c", "echo $FOO $EXTRA; echo e >&2; exit 7"], Env: ["EXTRA=x"] });
      assert.equal(r1.out, "bar x\ne\n");
      assert.equal(r1.code, 7);
      assert.equal(h.svc.execInspect(r1.execId).ExitCode, 7);
      const r2 = await run({ Cmd: ["id", "-u"], User: "65534" });
      assert.equal(r2.out, "65534\n");
      const r3 = await run({ Cmd: ["tty"], Tty: true });
      assert.match(r3.out, /^\/dev\/pts\/\d+\r\n$/);
      assert.equal(r3.code, 0);
      await assert.rejects(run({ Cmd: ["no-such-command"] }), /executable file not found/);
      // the container itself is untouched by its execs
      assert.equal((await h.svc.inspect(Id)).State.Status, "running");
    } finally {
      await h.svc.remove(Id, { force: true });
    }
  });

  it("stop: SIGTERM, then SIGKILL after the timeout; kill with a signal", async () => {
    // PID 1 of a pid namespace gets only the signals it handles (and SIGKILL): USR2 has a handler
    const { Id } = await h.svc.create(runc({ Image: "busybox", Cmd: ["sh", "-c", "trap '' TERM; trap 'exit 40' USR2; echo ready; while true; do sleep 0.1; done"] }));
    ids.push(Id);
    await h.svc.start(Id);
    await until("ready", async () => (await collect(h.svc.logs(Id))).length > 0);
    await assert.rejects(h.svc.remove(Id), (e: unknown) => e instanceof CoveError && e.kind === "conflict" && /container is running: stop the container before removing or force remove$/.test(e.message));
    const t0 = Date.now();
    assert.equal(await h.svc.stop(Id, { timeout: 1 }), true);
    assert.ok(Date.now() - t0 >= 900, "stop waited for the timeout");
    assert.equal((await h.svc.inspect(Id)).State.ExitCode, 137);
    const next = h.svc.wait(Id, "next-exit");
    await h.svc.start(Id);
    await until("ready again", async () => (await collect(h.svc.logs(Id))).length > 1);
    await h.svc.kill(Id, "SIGUSR2");
    const second = await next;
    assert.equal(second.StatusCode, 40, `the second run's exit, by USR2's trap; state ${JSON.stringify((await h.svc.inspect(Id)).State)}; ${story(h, Id)}`);
    await h.svc.remove(Id);
  });

  it("pause and unpause through runc's freezer; a healthcheck runs through runc exec", async () => {
    const NS = 1_000_000_000;
    const { Id } = await h.svc.create(
      runc({ Image: "busybox", Cmd: ["sh", "-c", "while true; do date +%s%N > /tmp/now; sleep 0.05; done"], Healthcheck: { Test: ["CMD-SHELL", "test -s /tmp/now"], Interval: NS / 5, Retries: 2 } }),
    );
    ids.push(Id);
    await h.svc.start(Id);
    await until("healthy", async () => (await h.svc.inspect(Id)).State.Health?.Status === "healthy");
    await h.svc.pause(Id);
    assert.equal((await h.svc.inspect(Id)).State.Status, "paused");
    if (CGROUP_V2) {
      // v2 has no freezer hierarchy: runc writes cgroup.freeze, and cgroup.events says frozen
      assert.equal(readFileSync(path.join("/sys/fs/cgroup/cove", Id, "cgroup.freeze"), "utf8").trim(), "1");
      assert.match(readFileSync(path.join("/sys/fs/cgroup/cove", Id, "cgroup.events"), "utf8"), /^frozen 1$/m);
    } else {
      assert.match(readFileSync(path.join("/sys/fs/cgroup/freezer/cove", Id, "freezer.state"), "utf8"), /FROZEN/);
    }
    await h.svc.unpause(Id);
    assert.equal((await h.svc.inspect(Id)).State.Status, "running");
    await h.svc.remove(Id, { force: true });
  });

  it("restart policy on-failure: the container is started again by runc, up to the retry count", async () => {
    const { Id } = await h.svc.create(runc({ Image: "busybox", Cmd: ["sh", "-c", "echo run; exit 2"], HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } } }));
    ids.push(Id);
    await h.svc.start(Id);
    await until("three runs", () => h.events.filter((e) => e.Actor.ID === Id && e.Action === "die").length === 3);
    await until("no more restarts", async () => (await h.svc.inspect(Id)).State.Status === "exited");
    const info = await h.svc.inspect(Id);
    assert.equal(info.RestartCount, 2);
    assert.equal(info.State.ExitCode, 2);
    assert.equal((await collect(h.svc.logs(Id))).length, 3, "three runs logged");
    await h.svc.remove(Id);
  });

  it("OOM: exit 137, OOMKilled, an oom event before die", async () => {
    const { id, code } = await runToExit(h, runc({ Image: "busybox", Cmd: ["tail", "/dev/zero"], HostConfig: { Memory: 16 << 20, MemorySwap: 16 << 20 } }));
    ids.push(id);
    assert.equal(code, 137);
    assert.equal((await h.svc.inspect(id)).State.OOMKilled, true);
    assert.deepEqual(h.events.filter((e) => e.Actor.ID === id).map((e) => e.Action), ["create", "start", "oom", "die"]);
    await h.svc.remove(id);
  });

  it("live restore: a runc container keeps running, logging and answering exec across a service restart", async () => {
    const { Id: running } = await h.svc.create(runc({ Image: "busybox", Cmd: ["sh", "-c", "trap 'exit 9' TERM; i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"] }), { name: "runc-survivor" });
    const { Id: quitter } = await h.svc.create(runc({ Image: "busybox", Cmd: ["sh", "-c", "sleep 1; exit 5"] }), { name: "runc-quitter" });
    ids.push(running, quitter);
    await h.svc.start(running);
    await h.svc.start(quitter);
    const quitterPid = (await h.svc.inspect(quitter)).State.Pid;
    await h.svc.close(); // the daemon "dies": nothing is stopped
    const before = (await collect(h.svc.logs(running))).length;
    await until("the quitter's exit while nobody watches", () => exited(quitterPid));
    const svc = await h.reopen();
    assert.equal((await svc.inspect("runc-survivor")).State.Status, "running");
    await until("more logs", async () => (await collect(svc.logs(running))).length > before + 3);
    // its monitor may still be writing the exit down as the service comes back
    await until("the quitter to show as exited", async () => (await svc.inspect("runc-quitter")).State.Status === "exited");
    const q = await svc.inspect("runc-quitter");
    assert.equal(q.State.Status, "exited");
    assert.equal(q.State.ExitCode, 5, "the exit status recorded while no service ran");
    const { Id: execId } = await svc.execCreate(running, { Cmd: ["echo", "still here"], AttachStdout: true });
    const s = await svc.execStart(execId);
    let out = "";
    for await (const c of s.output) out += c.data.toString();
    assert.equal(out, "still here\n");
    await svc.stop("runc-survivor", { timeout: 5 });
    assert.equal((await svc.inspect("runc-survivor")).State.ExitCode, 9);
    await svc.remove("runc-survivor");
    await svc.remove("runc-quitter");
  });

  it("a missing command fails start with Docker's wording and exit code 127; --rm leaves nothing", async () => {
    const { Id } = await h.svc.create(runc({ Image: "busybox", Cmd: ["no-such-command"] }));
    ids.push(Id);
    await assert.rejects(
      h.svc.start(Id),
      (e: unknown) => e instanceof CoveError && e.kind === "invalid" && e.message === 'OCI runtime create failed: runc create failed: unable to start container process: exec: "no-such-command": executable file not found in $PATH',
    );
    const info = await h.svc.inspect(Id);
    assert.equal(info.State.Status, "created");
    assert.equal(info.State.ExitCode, 127);
    await h.svc.remove(Id);
    const rm = await h.svc.create(runc({ Image: "busybox", Cmd: ["/etc/passwd"], HostConfig: { AutoRemove: true } }));
    ids.push(rm.Id);
    await assert.rejects(h.svc.start(rm.Id), (e: unknown) => e instanceof CoveError && e.kind === "invalid" && /permission denied$/.test(e.message));
    await assert.rejects(h.svc.inspect(rm.Id), /No such container/);
    assert.equal(existsSync(path.join(h.root, "containers", rm.Id)), false);
    assert.equal(existsSync(path.join(h.runtimeRoot, rm.Id)), false);
  });
});

// Also run on a pure cgroup v2 kernel by test/cgroup2/vm.test.ts.
describe("OOM kills and --oom-kill-disable on both runtimes", { skip: !IS_ROOT ? "needs root" : !HAS_MEMORY_CGROUP ? "needs the memory cgroup controller" : false }, () => {
  let h: Harness;
  const ids: string[] = [];
  before(async () => {
    h = await setup();
  });
  after(async () => {
    await h?.cleanup();
    assert.deepEqual(leftoverCgroups(ids), []);
  });

  for (const runtime of ["cove", "runc"]) {
    it(`${runtime}: beyond -m 16m with no swap the container is OOM killed: 137, OOMKilled, oom then die`, { skip: runtime === "runc" && !RUNC && "runc is not installed" }, async () => {
      const { id, code } = await runToExit(h, { Image: "busybox", Cmd: ["tail", "/dev/zero"], HostConfig: { Runtime: runtime, Memory: 16 << 20, MemorySwap: 16 << 20 } });
      ids.push(id);
      assert.equal(code, 137);
      const info = await h.svc.inspect(id);
      assert.equal(info.State.OOMKilled, true);
      assert.equal(info.State.ExitCode, 137);
      assert.deepEqual(h.events.filter((e) => e.Actor.ID === id).map((e) => e.Action), ["create", "start", "oom", "die"]);
      assert.equal(h.events.find((e) => e.Actor.ID === id && e.Action === "die")?.Actor.Attributes.exitCode, "137");
      // a new run starts with OOMKilled cleared, as Docker's
      const again = h.svc.wait(id, "next-exit");
      await h.svc.start(id);
      assert.equal((await again).StatusCode, 137);
      await h.svc.remove(id);
    });

    it(`${runtime}: --oom-kill-disable on cgroup v2 is discarded with Docker's warning`, { skip: (!CGROUP_V2 && "cgroup v1 can disable the OOM killer") || (runtime === "runc" && !RUNC && "runc is not installed") }, async () => {
      const { Id, Warnings } = await h.svc.create({ Image: "busybox", Cmd: ["tail", "/dev/zero"], HostConfig: { Runtime: runtime, Memory: 16 << 20, MemorySwap: 16 << 20, OomKillDisable: true } });
      ids.push(Id);
      assert.ok(Warnings.includes("Your kernel does not support OomKillDisable. OomKillDisable discarded."), Warnings.join("; "));
      assert.equal((await h.svc.inspect(Id)).HostConfig.OomKillDisable, false);
      const exited = h.svc.wait(Id, "next-exit");
      await h.svc.start(Id);
      assert.equal((await exited).StatusCode, 137);
      assert.equal((await h.svc.inspect(Id)).State.OOMKilled, true);
      await h.svc.remove(Id);
    });

    it(`${runtime}: --oom-kill-disable: the kernel's OOM killer leaves the container alone`, { skip: (CGROUP_V2 && "cgroup v2 has no switch for the OOM killer") || (runtime === "runc" && !RUNC && "runc is not installed") }, async () => {
      const { Id, Warnings } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "sleep 0.5; tail /dev/zero"], HostConfig: { Runtime: runtime, Memory: 16 << 20, MemorySwap: 16 << 20, OomKillDisable: true } });
      ids.push(Id);
      assert.ok(!Warnings.some((w) => /OomKillDisable|OOM killer/.test(w)), Warnings.join("; "));
      const noLimit = await h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: { Runtime: runtime, OomKillDisable: true } });
      assert.ok(noLimit.Warnings.includes("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources."));
      await h.svc.remove(noLimit.Id);
      const exited = h.svc.wait(Id, "next-exit");
      await h.svc.start(Id);
      const control = readFileSync(path.join(memoryCgroup(Id), "memory.oom_control"), "utf8");
      assert.match(control, /^oom_kill_disable 1$/m);
      // this kernel fails the allocation instead (tail exits 1), as it does under dockerd; a
      // kernel that pauses the task instead leaves it running: either way no OOM kill
      const res = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
      if (res === undefined) await h.svc.kill(Id);
      else assert.notEqual(res.StatusCode, 137);
      const info = await h.svc.inspect(Id);
      assert.equal(info.State.OOMKilled, false);
      assert.equal(h.events.some((e) => e.Actor.ID === Id && e.Action === "oom"), false);
      await h.svc.remove(Id, { force: true });
    });
  }
});
