// A container's processes killed from outside cove: its init, and the monitor (cove-shim) that
// holds its stdio and reports its exit. The engine notices either without being told, records
// the exit, and the restart policy acts.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { processExists } from "../../src/common/process.js";
import { setup, story, until, type Harness } from "./harness.js";
import { findBusybox } from "../images/fixtures.js";

const skip = process.getuid?.() !== 0 ? "needs root (containers)" : !(await findBusybox()) ? "busybox-static is not installed" : false;

/** The parent of a process (the monitor is the container init's parent). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

describe("processes of a container killed from outside", { skip }, () => {
  let h: Harness;
  before(async () => {
    h = await setup();
  });
  after(async () => {
    await h?.cleanup();
  });

  it("SIGKILL of the init: the exit is recorded (137) and restart: always starts it again", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { RestartPolicy: { Name: "always" }, NetworkMode: "none" } });
    await h.svc.start(Id);
    const first = (await h.svc.inspect(Id)).State.Pid;
    process.kill(first, "SIGKILL");
    await until("restarted", async () => {
      const i = await h.svc.inspect(Id);
      return i.RestartCount === 1 && i.State.Status === "running" && i.State.Pid !== first;
    });
    const dies = h.events.filter((e) => e.Actor.ID === Id && e.Action === "die");
    assert.equal(dies[0]?.Actor.Attributes?.exitCode, "137", story(h, Id));
    await h.svc.remove(Id, { force: true });
  });

  it("SIGKILL of the monitor: the container is stopped, its exit recorded, and restart: always starts it again", async () => {
    const { Id } = await h.svc.create({ Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { RestartPolicy: { Name: "always" }, NetworkMode: "none" } });
    await h.svc.start(Id);
    const init = (await h.svc.inspect(Id)).State.Pid;
    const monitor = parentOf(init);
    assert.match(readFileSync(`/proc/${monitor}/cmdline`, "utf8"), /cove-shim/, "the init's parent is its monitor");
    process.kill(monitor, "SIGKILL");
    await until("restarted", async () => {
      const i = await h.svc.inspect(Id);
      return i.RestartCount === 1 && i.State.Status === "running" && i.State.Pid !== init;
    });
    // nothing of the old run is left: its init does not run on without a monitor
    await until("the old init gone", () => !processExists(init));
    const die = h.events.find((e) => e.Actor.ID === Id && e.Action === "die");
    assert.ok(die, `a die event: ${story(h, Id)}`);
    // the new run has a monitor of its own that reports its exit
    const again = (await h.svc.inspect(Id)).State.Pid;
    assert.match(readFileSync(`/proc/${parentOf(again)}/cmdline`, "utf8"), /cove-shim/);
    await h.svc.stop(Id, { timeout: 0 });
    const stopped = await h.svc.inspect(Id);
    assert.equal(stopped.State.Status, "exited");
    assert.equal(stopped.State.ExitCode, 137);
    await h.svc.remove(Id);
  });
});
