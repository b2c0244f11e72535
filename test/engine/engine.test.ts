// The library: `import { Engine } from "cove"` runs containers in process, events arrive as an
// async iterator, and containers outlive a closed engine.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Engine, type DockerEvent } from "../../src/index.js";
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
    const seen: DockerEvent[] = [];
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

  it("leaves running containers to a later engine on the same root", async () => {
    const { Id } = await engine.containers.create({ Image: "busybox", Cmd: ["sleep", "60"], HostConfig: { NetworkMode: "none" } });
    await engine.containers.start(Id);
    await engine.close();
    engine = await Engine.open(opts());
    assert.equal((await engine.containers.inspect(Id)).State.Running, true);
    await engine.containers.remove(Id, { force: true });
  });
});
