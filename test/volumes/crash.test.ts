// Volumes across a daemon SIGKILL: the daemon runs in its own process and is killed with SIGKILL
// while containers hold tmpfs volumes mounted. While no daemon runs one container dies. The next
// daemon on the same root finds the volumes and their data, keeps the device of the volume that
// the surviving container holds, releases the device of the dead container's volume, and
// unmounts the survivor's when it stops.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { EngineClient } from "../../src/client/index.js";
import { ImageService } from "../../src/images/service.js";
import { unmountAll } from "../../src/snapshots/index.js";
import { importBusybox } from "../images/fixtures.js";
import { removeParentCgroups } from "../support/teardown.js";

const IS_ROOT = process.getuid?.() === 0;
const DAEMON_MODULE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/daemon/index.js");

function mountedAt(target: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === target);
}

async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("volumes across a daemon SIGKILL", { skip: !IS_ROOT && "needs root" }, () => {
  let dir: string;
  let root: string;
  let socket: string;
  let script: string;
  let daemon: ChildProcess | undefined;
  let client: EngineClient;

  const startDaemonProcess = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (c: Buffer) => {
        if (c.toString().includes("ready")) resolve();
      });
      child.once("exit", (code) => reject(new Error(`the daemon exited (${code}): ${err}`)));
    });
    return child;
  };
  const kill9 = async (child: ChildProcess) => {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cvk-"));
    root = path.join(dir, "root");
    socket = path.join(dir, "cove.sock");
    const images = await ImageService.open({ root });
    await importBusybox(images);
    script = path.join(dir, "daemon.mjs");
    await writeFile(
      script,
      `import { startDaemon } from ${JSON.stringify(DAEMON_MODULE)};\n` +
        `await startDaemon({ root: ${JSON.stringify(root)}, socket: ${JSON.stringify(socket)}, execRoot: ${JSON.stringify(dir)}, runtimeRoot: ${JSON.stringify(path.join(dir, "rt"))}, log: () => {} });\n` +
        `process.stdout.write("ready\\n");\n`,
    );
    daemon = await startDaemonProcess();
    client = new EngineClient({ socket });
  });

  after(async () => {
    try {
      // a test that failed while no daemon ran leaves running containers: a daemon removes them
      // (a child killed by a signal has a signalCode and no exitCode)
      const running = (c: ChildProcess | undefined): c is ChildProcess => c !== undefined && c.exitCode === null && c.signalCode === null;
      if (script && daemon && !running(daemon)) daemon = await startDaemonProcess().catch(() => undefined);
      if (running(daemon)) {
        for (const c of await client.containerList({ all: true }).catch(() => [])) await client.containerRemove(c.Id, { force: true, v: true }).catch(() => undefined);
        daemon.kill("SIGTERM");
        await new Promise((r) => daemon!.once("exit", r));
      }
    } finally {
      const mounts = readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((l) => l.split(" ")[4] ?? "")
        .filter((m) => m.startsWith(dir + "/"))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) {
        try {
          unmountAll(m, 2);
        } catch {
          // keep going
        }
      }
      // the daemon's parent cgroup, which a daemon ended by a signal without closing keeps
      removeParentCgroups(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  });

  it("keeps volumes, data and the survivor's device, and releases the dead container's device", async () => {
    const tmpfs = { type: "tmpfs", device: "tmpfs", o: "size=1m" };
    await client.volumeCreate({ Name: "plain" });
    await client.volumeCreate({ Name: "dies", DriverOpts: tmpfs });
    await client.volumeCreate({ Name: "lives", DriverOpts: tmpfs });
    const dying = await client.containerCreate({ Image: "busybox", Cmd: ["sh", "-c", "echo persisted > /p/f; sleep 300"], HostConfig: { Binds: ["plain:/p", "dies:/t"] } });
    const living = await client.containerCreate({ Image: "busybox", Cmd: ["sleep", "300"], HostConfig: { Binds: ["lives:/t"] } });
    await client.containerStart(dying.Id);
    await client.containerStart(living.Id);
    const data = (name: string) => path.join(root, "volumes", name, "_data");
    await until("the file in the volume", () => {
      try {
        return readFileSync(path.join(data("plain"), "f"), "utf8") === "persisted\n";
      } catch {
        return false;
      }
    });
    assert.ok(mountedAt(data("dies")) && mountedAt(data("lives")));
    const pid = (await client.containerInspect(dying.Id)).State.Pid;

    await kill9(daemon!);
    // while no daemon runs, one container dies
    process.kill(pid, "SIGKILL");
    await until("the container's exit", () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    daemon = await startDaemonProcess();

    const names = (await client.volumeList()).Volumes.map((v) => v.Name).sort();
    assert.deepEqual(names, ["dies", "lives", "plain"]);
    assert.equal((await client.containerInspect(dying.Id)).State.Running, false);
    assert.equal((await client.containerInspect(living.Id)).State.Running, true);
    assert.ok(!mountedAt(data("dies")), "the dead container's tmpfs volume was released at start");
    assert.ok(mountedAt(data("lives")), "the survivor keeps its tmpfs volume");
    await assert.rejects(client.volumeRemove("lives"), /volume is in use/);

    const reader = await client.containerCreate({ Image: "busybox", Cmd: ["cat", "/p/f"], HostConfig: { Binds: ["plain:/p"] } });
    const waited = client.containerWait(reader.Id, "next-exit");
    await client.containerStart(reader.Id);
    assert.equal((await waited).StatusCode, 0);

    await client.containerStop(living.Id, { t: 0 });
    await until("the survivor's volume to be unmounted", () => !mountedAt(data("lives")));
    for (const id of [dying.Id, living.Id, reader.Id]) await client.containerRemove(id, { v: true });
    for (const v of ["plain", "dies", "lives"]) await client.volumeRemove(v);
    assert.deepEqual((await client.volumeList()).Volumes, []);
  });
});
