// The container service against real containers (root, real kernel): lifecycle with Docker's
// semantics, logs, attach, exec, restart policies, limits, and live restore.

import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CoveError } from "../../src/common/errors.js";
import { collect, execIn, exited, setup, story, until, type Harness } from "./harness.js";

const IS_ROOT = process.getuid?.() === 0;

describe("container service", { skip: !IS_ROOT && "needs root" }, () => {
  let h: Harness;
  before(async () => {
    h = await setup();
  });
  after(async () => {
    await h?.cleanup();
  });

  it("runs a container to its exit with the exit code, logs and inspect", async () => {
    const { Id, Warnings } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"] }, { name: "run-exit" });
    assert.match(Id, /^[0-9a-f]{64}$/);
    assert.ok(Warnings.some((w) => w.includes("networking is not available")));
    const created = await h.svc.inspect("run-exit");
    assert.equal(created.State.Status, "created");
    assert.equal(created.Name, "/run-exit");
    assert.equal(created.Config.Hostname, Id.slice(0, 12));
    const waiter = h.svc.wait(Id, "next-exit");
    await h.svc.start("run-exit");
    const res = await waiter;
    assert.deepEqual(res, { StatusCode: 3, Error: null });
    const info = await h.svc.inspect(Id);
    assert.equal(info.State.Status, "exited");
    assert.equal(info.State.ExitCode, 3);
    assert.equal(info.State.Running, false);
    assert.notEqual(info.State.FinishedAt, "0001-01-01T00:00:00Z");
    assert.equal(info.Path, "sh");
    assert.deepEqual(info.Args, ["-c", "echo out; echo err >&2; exit 3"]);
    assert.match(info.Image, /^sha256:/);
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), ["bridge"]);
    const lines = await collect(h.svc.logs(Id));
    assert.deepEqual(lines.sort(), ["stderr:err\n", "stdout:out\n"]);
    const [summary] = await h.svc.list({ all: true, filters: { name: ["run-exit"] } });
    assert.equal(summary?.Command, "sh -c 'echo out; echo err >&2; exit 3'");
    assert.match(summary?.Status ?? "", /^Exited \(3\) /);
    const actions = h.events.filter((e) => e.Actor.ID === Id).map((e) => e.Action);
    assert.deepEqual(actions, ["create", "start", "die"]);
    assert.equal(h.events.find((e) => e.Actor.ID === Id && e.Action === "die")?.Actor.Attributes.exitCode, "3");
    await h.svc.remove(Id);
    assert.equal(existsSync(path.join(h.root, "containers", Id)), false);
  });

  it("refuses a second container with the same name, with Docker's text", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["true"] }, { name: "taken" });
    await assert.rejects(
      h.svc.create({ Image: "busybox", Cmd: ["true"] }, { name: "taken" }),
      (e: unknown) =>
        e instanceof CoveError &&
        e.kind === "conflict" &&
        e.message === `Conflict. The container name "/taken" is already in use by container "${Id}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
    await assert.rejects(h.svc.create({ Image: "nosuchimage", Cmd: ["true"] }), /No such image: nosuchimage/);
    await h.svc.rename("taken", "renamed");
    assert.equal((await h.svc.inspect(Id)).Name, "/renamed");
    await h.svc.remove("renamed");
    await assert.rejects(h.svc.inspect(Id), /No such container/);
  });

  it("stop kills a container that ignores SIGTERM after the timeout", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"] });
    await h.svc.start(Id);
    await until("ready", async () => (await collect(h.svc.logs(Id))).length > 0);
    await assert.rejects(h.svc.remove(Id), /^CoveError: cannot remove container "\/[a-z_0-9]+": container is running: stop the container before removing or force remove$/);
    const t0 = Date.now();
    await h.svc.stop(Id, { timeout: 1 });
    const took = Date.now() - t0;
    assert.ok(took >= 900, `stop waited for the timeout (${took} ms)`);
    const info = await h.svc.inspect(Id);
    assert.equal(info.State.ExitCode, 137);
    const actions = h.events.filter((e) => e.Actor.ID === Id).map((e) => e.Action);
    assert.deepEqual(actions.slice(-4), ["kill", "kill", "die", "stop"]);
    await h.svc.remove(Id);
  });

  it("logs: tail, since, timestamps and follow", async () => {
    // "late" comes when the test says so (a file made by exec), not after a sleep a busy machine can outlast
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo late; sleep 0.5"] });
    await h.svc.start(Id);
    await until("five lines", async () => (await collect(h.svc.logs(Id))).length >= 5);
    assert.deepEqual(await collect(h.svc.logs(Id, { tail: 2 })), ["stdout:line4\n", "stdout:line5\n"]);
    assert.deepEqual(await collect(h.svc.logs(Id, { tail: 0 })), []);
    const all: { time: string }[] = [];
    for await (const e of h.svc.logs(Id)) all.push(e);
    assert.match(all[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.deepEqual(await collect(h.svc.logs(Id, { since: Date.now() / 1000 + 3600 })), []);
    const followed: string[] = [];
    for await (const e of h.svc.logs(Id, { follow: true, tail: 1 })) {
      followed.push(`${e.stream}:${e.line.toString()}`);
      if (followed.length === 1) assert.equal((await execIn(h.svc, Id, ["touch", "/tmp/go"])).code, 0);
    }
    assert.deepEqual(followed, ["stdout:line5\n", "stdout:late\n"], "follow continues until the container stops");
    await h.svc.remove(Id);
  });

  it("attach sends stdin and receives the output", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "read a; echo got:$a; cat"], OpenStdin: true, StdinOnce: true, AttachStdin: true });
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

  it("exec: exit code, user, env, workdir and tty", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "600"], Env: ["FOO=bar"] });
    await h.svc.start(Id);
    try {
      const run = async (cfg: Parameters<typeof h.svc.execCreate>[1]) => {
        const { Id: execId } = await h.svc.execCreate(Id, { AttachStdout: true, AttachStderr: true, ...cfg });
        const s = await h.svc.execStart(execId);
        let out = "";
        for await (const c of s.output) out += c.data.toString();
        return { out, code: await s.exitCode, execId };
      };
      const r1 = await run({ Cmd: ["sh", "-c", "echo $FOO $EXTRA; exit 7"], Env: ["EXTRA=x"] });
      assert.equal(r1.out, "bar x\n");
      assert.equal(r1.code, 7);
      const ins = h.svc.execInspect(r1.execId);
      assert.equal(ins.ExitCode, 7);
      assert.equal(ins.Running, false);
      const r2 = await run({ Cmd: ["id"], User: "nobody" });
      assert.match(r2.out, /uid=65534\(nobody\) gid=65534\(nogroup\)/);
      const r3 = await run({ Cmd: ["pwd"], WorkingDir: "/tmp" });
      assert.equal(r3.out, "/tmp\n");
      const r4 = await run({ Cmd: ["sh", "-c", "tty; echo $TERM"], Tty: true });
      assert.match(r4.out, /^\/dev\/pts\/\d+\r\nxterm\r\n$/);
      assert.ok(h.events.some((e) => e.Action === "exec_die" && e.Actor.Attributes.exitCode === "7"));
    } finally {
      await h.svc.remove(Id, { force: true });
    }
  });

  it("restart policy on-failure:2 restarts twice, with RestartCount", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "echo run; exit 1"], HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } } });
    await h.svc.start(Id);
    await until("three runs", async () => {
      const i = await h.svc.inspect(Id);
      return i.RestartCount === 2 && i.State.Status === "exited";
    });
    await new Promise((r) => setTimeout(r, 800));
    const info = await h.svc.inspect(Id);
    assert.equal(info.RestartCount, 2);
    assert.equal(info.State.ExitCode, 1);
    const lines = await collect(h.svc.logs(Id));
    assert.equal(lines.length, 3, `three runs logged, got ${JSON.stringify(lines)}; ${story(h, Id)}`);
    await h.svc.remove(Id);
  });

  it("AutoRemove removes the container when it exits", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["true"], HostConfig: { AutoRemove: true } });
    const removed = h.svc.wait(Id, "removed");
    await h.svc.start(Id);
    await removed;
    await assert.rejects(h.svc.inspect(Id), /No such container/);
    assert.equal(existsSync(path.join(h.root, "containers", Id)), false);
  });

  it("resolves the user by name, honours a read-only rootfs and writes no nameserver", async () => {
    const { Id } = await h.svc.create({
      Image: "busybox",
      User: "nobody",
      Cmd: ["sh", "-c", "id; touch /x 2>&1 || echo ro; cat /etc/resolv.conf; hostname"],
      HostConfig: { ReadonlyRootfs: true, NetworkMode: "none" },
    });
    await h.svc.start(Id);
    await h.svc.wait(Id, "not-running");
    await until("exit", async () => (await h.svc.inspect(Id)).State.Status === "exited");
    const out = (await collect(h.svc.logs(Id))).join("");
    assert.match(out, /uid=65534\(nobody\) gid=65534\(nogroup\)/);
    assert.match(out, /Read-only file system/);
    assert.doesNotMatch(out, /stdout:nameserver/);
    assert.ok(out.includes(Id.slice(0, 12)));
    assert.deepEqual(Object.keys((await h.svc.inspect(Id)).NetworkSettings.Networks), ["none"]);
    await h.svc.remove(Id);
  });

  it("puts the memory limit in the container's cgroup", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "60"], HostConfig: { Memory: 64 * 1024 * 1024 } });
    await h.svc.start(Id);
    try {
      const v2 = existsSync("/sys/fs/cgroup/cgroup.controllers");
      const file = v2 ? `/sys/fs/cgroup/cove/${Id}/memory.max` : `/sys/fs/cgroup/memory/cove/${Id}/memory.limit_in_bytes`;
      assert.equal(readFileSync(file, "utf8").trim(), String(64 * 1024 * 1024));
      const info = await h.svc.inspect(Id);
      assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
      assert.equal(info.HostConfig.MemorySwap, 128 * 1024 * 1024);
    } finally {
      await h.svc.remove(Id, { force: true });
    }
  });

  it("runs the command under --init as PID 1's child", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 4"], HostConfig: { Init: true } });
    await h.svc.start(Id);
    await until("exit", async () => (await h.svc.inspect(Id)).State.Status === "exited");
    assert.equal((await h.svc.inspect(Id)).State.ExitCode, 4);
    const out = (await collect(h.svc.logs(Id))).join("");
    assert.match(out, /^stdout:\/sbin\/docker-init -- sh -c/);
    await h.svc.remove(Id);
  });

  it("live restore: containers keep running and logging across a service restart", async () => {
    const { Id: running } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"] }, { name: "survivor" });
    const { Id: quitter } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "sleep 1; exit 5"] }, { name: "quitter" });
    await h.svc.start(running);
    await h.svc.start(quitter);
    const quitterPid = (await h.svc.inspect(quitter)).State.Pid;
    await h.svc.close(); // the daemon "dies": nothing is stopped
    const linesBefore = (await collect(h.svc.logs(running))).length;
    await until("the quitter's exit while nobody watches", () => exited(quitterPid));
    const svc = await h.reopen();
    const info = await svc.inspect("survivor");
    assert.equal(info.State.Status, "running");
    await until("more logs", async () => (await collect(svc.logs(running))).length > linesBefore + 3);
    // its monitor may still be writing the exit down as the service comes back
    await until("the quitter to show as exited", async () => (await svc.inspect("quitter")).State.Status === "exited");
    const q = await svc.inspect("quitter");
    assert.equal(q.State.ExitCode, 5);
    await svc.stop("survivor", { timeout: 5 });
    assert.equal((await svc.inspect("survivor")).State.Status, "exited");
    await svc.remove("survivor");
    await svc.remove("quitter");
  });

  it("a bind mount whose host path is missing is created, as docker -v does", async () => {
    const hostDir = path.join(h.base, "made-by-bind");
    writeFileSync(path.join(h.base, "marker"), "x");
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "echo hi > /data/f"], HostConfig: { Binds: [`${hostDir}:/data`] } });
    await h.svc.start(Id);
    await until("exit", async () => (await h.svc.inspect(Id)).State.Status === "exited");
    assert.equal(readFileSync(path.join(hostDir, "f"), "utf8"), "hi\n");
    await h.svc.remove(Id);
  });
});

describe("container healthchecks", { skip: !IS_ROOT && "needs root" }, () => {
  let h: Harness;
  before(async () => {
    h = await setup();
  });
  after(async () => {
    await h?.cleanup();
  });

  it("runs the healthcheck through exec and reports healthy, then unhealthy", async () => {
    const { Id } = await h.svc.create({
      Image: "busybox",
      // healthy until the test removes /tmp/ok: a fixed window could pass before the first probe on a busy machine
      Cmd: ["sh", "-c", "touch /tmp/ok; sleep 600"],
      Healthcheck: { Test: ["CMD-SHELL", "test -e /tmp/ok && echo fine"], Interval: 200_000_000, Timeout: 2_000_000_000, Retries: 2 },
    });
    await h.svc.start(Id);
    try {
      assert.equal((await h.svc.inspect(Id)).State.Health?.Status, "starting");
      await until("healthy", async () => (await h.svc.inspect(Id)).State.Health?.Status === "healthy");
      const healthy = (await h.svc.inspect(Id)).State.Health!;
      assert.equal(healthy.Log.at(-1)?.Output, "fine\n");
      assert.match((await h.svc.list({ filters: { id: [Id] } }))[0]!.Status, /\(healthy\)$/);
      assert.equal((await execIn(h.svc, Id, ["rm", "/tmp/ok"])).code, 0);
      await until("unhealthy", async () => (await h.svc.inspect(Id)).State.Health?.Status === "unhealthy");
      const sick = (await h.svc.inspect(Id)).State.Health!;
      assert.ok(sick.FailingStreak >= 2);
      assert.ok(sick.Log.length <= 5);
      assert.ok(h.events.some((e) => e.Actor.ID === Id && e.Action === "health_status: healthy"));
    } finally {
      await h.svc.remove(Id, { force: true });
    }
  });
});
