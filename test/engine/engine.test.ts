// The library: `import { Engine } from "cove"` runs containers in process, events arrive as an
// async iterator, and containers outlive a closed engine.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { instanceLayout } from "../../src/common/instance.js";
import { Engine, type EngineEvent } from "../../src/index.js";
import { unmountAll } from "../../src/snapshots/index.js";
import { importBusybox, tempDir } from "../images/fixtures.js";

const skip = process.getuid?.() !== 0 ? "needs root (namespaces, cgroups, overlay)" : undefined;

describe("Engine (the library)", { skip }, () => {
  let base = "";
  let engine: Engine;
  const opts = () => ({ root: path.join(base, "root"), runtimeRoot: path.join(base, "r") });

  before(async () => {
    base = await tempDir();
    engine = await Engine.open(opts());
    await importBusybox(engine.images);
  });

  after(async () => {
    if (engine) {
      for (const c of await engine.containers.list({ all: true })) await engine.containers.remove(c.Id, { force: true }).catch(() => undefined);
      await engine.close();
    }
    // anything a failed test left mounted under the temp dir, deepest first
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => base && m.startsWith(base))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) unmountAll(m, 2);
    if (base) await rm(base, { recursive: true, force: true });
  });

  it("runs a container to its end and returns its exit code and output", async () => {
    const r = await engine.run("busybox", ["sh", "-c", "echo out; echo err >&2; exit 3"], { HostConfig: { NetworkMode: "none" } });
    assert.equal(r.exitCode, 3);
    assert.deepEqual(
      r.output.map((e) => [e.stream, e.line.toString()]),
      [
        ["stdout", "out\n"],
        ["stderr", "err\n"],
      ],
    );
    assert.equal((await engine.containers.list({ all: true })).some((c) => c.Id === r.id), false, "run removes the container");
  });

  it("streams container events as an async iterator", async () => {
    const seen: EngineEvent[] = [];
    const collecting = (async () => {
      for await (const e of engine.events()) {
        seen.push(e);
        if (e.Action === "destroy") break;
      }
    })();
    const r = await engine.run("busybox", ["true"], { HostConfig: { NetworkMode: "none" } });
    await collecting;
    assert.deepEqual(
      seen.filter((e) => e.Actor.ID === r.id).map((e) => e.Action.split(":")[0]),
      ["create", "start", "die", "destroy"],
    );
  });

  it("filters events by type, action and container name, and replays them with since", async () => {
    const started = new Date();
    const name = `cove-engine-events-${process.pid}`;
    const controller = new AbortController();
    const seen: string[] = [];
    const collecting = (async () => {
      for await (const e of engine.events({ filters: { type: ["container"], event: ["start", "die"], container: [name] }, signal: controller.signal })) {
        seen.push(`${e.Actor.Attributes.name} ${e.Action}`);
        if (e.Action === "die") controller.abort();
      }
    })();
    // another container's events must not pass the filter
    await engine.run("busybox", ["true"], { HostConfig: { NetworkMode: "none" } });
    const { Id } = await engine.containers.create({ Image: "busybox", Cmd: ["true"], HostConfig: { NetworkMode: "none" } }, { name });
    try {
      await engine.containers.start(Id);
      await collecting;
      assert.deepEqual(seen, [`${name} start`, `${name} die`]);
      // the same events again from history, then nothing live: the abort ends the iterator
      const replay = new AbortController();
      const again: string[] = [];
      for await (const e of engine.events({ since: started, filters: { container: [Id.slice(0, 12)] }, signal: replay.signal })) {
        again.push(e.Action);
        if (e.Action === "die") replay.abort();
      }
      assert.deepEqual(again, ["create", "start", "die"]);
    } finally {
      await engine.containers.remove(Id, { force: true });
    }
    assert.throws(() => engine.events({ filters: { colour: ["red"] } }), /invalid filter 'colour'/);
  });

  it("follows a container's logs as it writes them, and stops at its exit", async () => {
    const { Id } = await engine.containers.create({
      Image: "busybox",
      Cmd: ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.2; done; echo oops >&2"],
      HostConfig: { NetworkMode: "none" },
    });
    try {
      await engine.containers.start(Id);
      const lines: string[] = [];
      for await (const entry of engine.logs(Id, { follow: true })) lines.push(`${entry.stream}: ${entry.line.toString().trim()}`);
      assert.deepEqual(lines, ["stdout: line 1", "stdout: line 2", "stdout: line 3", "stderr: oops"]);
      const tail: string[] = [];
      // as dockerd: the last lines of the log file, then the stream filter
      for await (const entry of engine.logs(Id, { tail: 3, stderr: false })) tail.push(entry.line.toString().trim());
      assert.deepEqual(tail, ["line 2", "line 3"]);
      assert.throws(() => engine.logs(Id, { tail: -1 }), /tail must be a whole number/);
    } finally {
      await engine.containers.remove(Id, { force: true });
    }
  });

  it("samples a running container's cgroup until it stops", async () => {
    // it runs until the test has its samples (a one-second sleep could be over before the first
    // sample on a busy machine), then it is stopped and the samples must end
    const { Id } = await engine.containers.create({
      Image: "busybox",
      Cmd: ["sh", "-c", "while :; do sleep 0.1; done"],
      HostConfig: { NetworkMode: "none", Memory: 64 << 20 },
    });
    try {
      await engine.containers.start(Id);
      const samples = [];
      for await (const s of engine.stats(Id, { intervalMs: 200 })) {
        samples.push(s);
        if (samples.length === 3) await engine.containers.kill(Id);
      }
      assert.ok(samples.length >= 3, `${samples.length} samples`);
      const first = samples[0]!;
      assert.equal(first.id, Id);
      assert.equal(first.cgroup.memory?.limit, 64 << 20);
      assert.ok((first.cgroup.pids?.current ?? 0) >= 1);
      // the sample taken as the container exits may read a cgroup already emptied: any sample shows the work
      assert.ok(samples.some((s) => (s.cgroup.cpu?.usageTotal ?? 0) > 0), "some sample counts CPU time");
      assert.equal((await engine.containers.inspect(Id)).State.Running, false);
      const none = [];
      for await (const s of engine.stats(Id)) none.push(s);
      assert.equal(none.length, 0, "a stopped container has no samples");
      assert.throws(() => engine.stats("no-such-container"), /No such container/);
    } finally {
      await engine.containers.remove(Id, { force: true });
    }
  });

  it("refuses a root that a live daemon serves, and names the way to reach it", async () => {
    const root = path.join(base, "daemon-root");
    await mkdir(root, { recursive: true });
    // a live node process recorded as the root's daemon
    const standIn = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    try {
      await writeFile(path.join(root, "cove.pid"), `${standIn.pid}\n`);
      await assert.rejects(Engine.open({ root, runtimeRoot: path.join(base, "r2") }), (err: Error & { hint?: string }) => {
        assert.equal(err.message, `a cove daemon (pid ${standIn.pid}) serves the root ${root}`);
        assert.match(err.hint ?? "", /EngineClient/);
        return true;
      });
    } finally {
      standIn.kill("SIGKILL");
    }
    await once(standIn, "exit");
    // the same file left by a dead daemon is no obstacle
    const engine2 = await Engine.open({ root, runtimeRoot: path.join(base, "r2") });
    await engine2.close();
  });

  it("an engine on its own exec root removes the directories it made there at close", async () => {
    const root = path.join(base, "own-exec-root");
    const { execRoot, runtimeRoot } = instanceLayout(root);
    const e = await Engine.open({ root });
    try {
      await importBusybox(e.images);
      assert.equal((await e.run("busybox", ["true"], { HostConfig: { NetworkMode: "none" } })).exitCode, 0);
      assert.ok(existsSync(runtimeRoot), `${runtimeRoot} holds the runtime's state`);
    } finally {
      await e.close();
    }
    assert.equal(existsSync(execRoot), false, `${execRoot} is gone after close`);
  });

  it("leaves running containers to a later engine on the same root", async () => {
    const { Id } = await engine.containers.create({ Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { NetworkMode: "none" } });
    await engine.containers.start(Id);
    await engine.close();
    engine = await Engine.open(opts());
    assert.equal((await engine.containers.inspect(Id)).State.Running, true);
    await engine.containers.remove(Id, { force: true });
  });
});
