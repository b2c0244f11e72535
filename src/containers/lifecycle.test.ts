// The container lifecycle without root: the service on fake runtime, host and images (testing.ts),
// with node:test's mock timers for the restart back-off and the health intervals.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it, mock } from "node:test";
import { CoveError } from "../common/errors.js";
import { ENDED_EXEC_KEEP_MS } from "./exec.js";
import { HEALTH_ON_FAILURE_LABEL } from "./health.js";
import { ContainerService } from "./service.js";
import { FakeHost, FakeRuntime, fakeImages } from "./testing.js";
import type { CreateBody, DockerEvent, Health } from "./types.js";

const NS = 1_000_000_000;

interface World {
  root: string;
  runtimeRoot: string;
  runtime: FakeRuntime;
  host: FakeHost;
  images: ReturnType<typeof fakeImages>;
  events: DockerEvent[];
  log: string[];
  /** Makes the service's event sink throw (a failing subscriber). */
  faults: { event?: Error };
  svc: ContainerService;
  open(): Promise<ContainerService>;
}

let w: World;

/** Lets real I/O (the fake monitor's socket, the state files) run until pred holds. */
async function until(what: string, pred: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 60_000; // generous: a busy machine is slow, and a pass returns at once
  while (performance.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`never happened: ${what} (log: ${w.log.join(" / ")}; calls: ${w.runtime.calls.slice(-6).join(", ")})`);
}

/** The exit, once recorded: waiters are told just before a restart's back-off timer is set. */
async function exitAndWait(id: string, code: number): Promise<void> {
  const waited = w.svc.wait(id, "next-exit");
  w.runtime.exit(id, code);
  assert.equal((await waited).StatusCode, code);
}

/** The health as saved: a probe reschedules itself once its result is on disk. */
async function savedHealth(id: string): Promise<Health | undefined> {
  const rec = JSON.parse(await readFile(path.join(w.root, "containers", id, "config.v2.json"), "utf8")) as { State: { Health?: Health } };
  return rec.State.Health;
}

/**
 * Moves the clock an interval (2 s) at a time until probe n has run: a probe sets its next timer
 * only once its result is recorded, which the test cannot see happen.
 */
async function nextProbe(id: string, n: number): Promise<void> {
  const probes = () => w.runtime.calls.filter((c) => c === `exec ${id} probe`).length;
  // a real-time bound (performance.now is not mocked): the record's writes are fsynced
  const deadline = performance.now() + 60_000; // generous: a busy machine is slow, and a pass returns at once
  while (probes() < n && performance.now() < deadline) {
    mock.timers.tick(2000);
    for (let j = 0; j < 50 && probes() < n; j++) await new Promise((r) => setImmediate(r));
  }
  assert.equal(probes(), n, `probe ${n} ran`);
}

const actions = (id: string) => w.events.filter((e) => e.Actor.ID === id).map((e) => e.Action);
const status = async (id: string) => (await w.svc.inspect(id)).State.Status;

async function run(body: Partial<CreateBody> = {}): Promise<string> {
  const { Id } = await w.svc.create({ Image: "app", ...body } as CreateBody);
  await w.svc.start(Id);
  return Id;
}

beforeEach(async () => {
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 1_700_000_000_000 });
  const root = await mkdtemp(path.join(tmpdir(), "cove-lc-"));
  const runtimeRoot = path.join(root, "rt");
  const runtime = new FakeRuntime(runtimeRoot);
  const host = new FakeHost();
  const images = fakeImages();
  const events: DockerEvent[] = [];
  const log: string[] = [];
  const faults: World["faults"] = {};
  const onEvent = (e: DockerEvent) => {
    if (faults.event) throw faults.event;
    events.push(e);
  };
  const open = () => ContainerService.open({ root, runtimeRoot, images, host, runtimes: new Map([["cove", runtime]]), events: onEvent, log: (l) => log.push(l), initPath: "/nonexistent/cove-init" });
  w = { root, runtimeRoot, runtime, host, images, events, log, faults, open, svc: await open() };
});

afterEach(async () => {
  await w.svc.close();
  await w.runtime.close();
  mock.timers.reset();
  await rm(w.root, { recursive: true, force: true });
});

describe("container lifecycle on a fake runtime", () => {
  it("an ended exec is forgotten once ENDED_EXEC_KEEP_MS have passed, as dockerd's exec GC does; one never started is kept", async () => {
    // the exec's monitor connection runs on real timers; the clock is mocked again after it
    mock.timers.reset();
    const id = await run();
    const { Id: ended } = await w.svc.execCreate(id, { Cmd: ["probe"] });
    await w.svc.execStart(ended, { detach: true });
    await until("the exec ended", () => w.svc.execInspect(ended).ExitCode === 0);
    mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: Date.now() });
    const { Id: idle } = await w.svc.execCreate(id, { Cmd: ["probe"] });
    mock.timers.tick(ENDED_EXEC_KEEP_MS - 1000);
    await w.svc.execCreate(id, { Cmd: ["probe"] });
    assert.equal(w.svc.execInspect(ended).ExitCode, 0, "still inspectable before the time is up");
    mock.timers.tick(2000);
    await w.svc.execCreate(id, { Cmd: ["probe"] });
    assert.throws(() => w.svc.execInspect(ended), /No such exec instance/);
    assert.equal(w.svc.execInspect(idle).Running, false, "an exec never started stays");
  });

  it("create, start, exit: the record, the events, the runtime's calls and the rootfs mount", async () => {
    const id = await run();
    assert.equal(await status(id), "running");
    const rootfs = path.join(w.root, "containers", id, "rootfs");
    assert.ok(w.host.mounted.has(rootfs), "the rootfs is mounted while it runs");
    const waited = w.svc.wait(id);
    w.runtime.exit(id, 3);
    assert.deepEqual(await waited, { StatusCode: 3, Error: null });
    const s = (await w.svc.inspect(id)).State;
    assert.equal(s.Status, "exited");
    assert.equal(s.ExitCode, 3);
    assert.equal(s.Pid, 0);
    assert.deepEqual(actions(id), ["create", "start", "die"]);
    assert.ok(!w.host.mounted.has(rootfs), "the rootfs is unmounted at the exit");
    assert.deepEqual(w.runtime.calls.filter((c) => c.endsWith(id)), [`delete ${id}`, `create ${id}`, `start ${id}`, `delete ${id}`]);
  });

  it("statuses (what docker info counts) are the States a list of all shows", async () => {
    const running = await run();
    const exited = await run();
    await exitAndWait(exited, 0);
    await w.svc.create({ Image: "app" } as CreateBody);
    assert.deepEqual(w.svc.statuses().sort(), ["created", "exited", "running"]);
    assert.deepEqual(w.svc.statuses().sort(), (await w.svc.list({ all: true })).map((c) => c.State).sort());
    assert.equal(await status(running), "running");
  });

  it("an exit during start is recorded after the start, never lost", async () => {
    w.runtime.onStart = (cid) => w.runtime.exit(cid, 7);
    const id = await run();
    await until("the exit is recorded", async () => (await status(id)) === "exited");
    assert.equal((await w.svc.inspect(id)).State.ExitCode, 7);
    assert.deepEqual(actions(id), ["create", "start", "die"]);
  });

  it("stop returns after its exit's waiters were told: a wait registered after it sees the next exit, not this one", async () => {
    const id = await run();
    w.runtime.ignoreSignals = true;
    // the kill of every process comes after the exit is being handled (the container is exited
    // already, its record not yet saved): stop must still wait for the exit's end
    w.runtime.onKillAll = () => until("the exit is being handled", async () => (await status(id)) === "exited");
    const stopping = w.svc.stop(id, { timeout: 1 });
    await until("SIGTERM sent", () => w.runtime.calls.includes(`kill ${id} 15`));
    mock.timers.tick(1000); // the stop timeout: SIGKILL next
    assert.equal(await stopping, true);
    const next = w.svc.wait(id, "next-exit");
    let early: number | undefined;
    void next.then((r) => (early ??= r.StatusCode));
    // any notification of the first exit would have arrived by now
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.equal(early, undefined, "the wait saw the exit that came before it");
    w.runtime.onKillAll = undefined;
    await w.svc.start(id);
    w.runtime.exit(id, 40);
    assert.equal((await next).StatusCode, 40);
  });

  it("a start the runtime refuses leaves a created container with Docker's exit code", async () => {
    w.runtime.failCreate = () => new CoveError("invalid", "exec: \"nope\": executable file not found in $PATH", { code: "exec.not-found" });
    const { Id: id } = await w.svc.create({ Image: "app" } as CreateBody);
    await assert.rejects(w.svc.start(id), /OCI runtime create failed/);
    const s = (await w.svc.inspect(id)).State;
    assert.equal(s.Status, "created");
    assert.equal(s.ExitCode, 127);
    assert.equal(w.host.mounted.size, 0, "the failed start's rootfs is unmounted");
  });

  it("restart policy: the back-off doubles from 100 ms, and the restarts are counted", async () => {
    const id = await run({ HostConfig: { RestartPolicy: { Name: "always" } } });
    await exitAndWait(id, 1);
    assert.equal(await status(id), "restarting");
    mock.timers.tick(99);
    assert.equal(await status(id), "restarting");
    mock.timers.tick(1);
    await until("running again", async () => (await status(id)) === "running");
    assert.equal((await w.svc.inspect(id)).RestartCount, 1);
    await exitAndWait(id, 1);
    assert.equal(await status(id), "restarting");
    mock.timers.tick(199);
    assert.equal(await status(id), "restarting");
    mock.timers.tick(1);
    await until("running a third time", async () => (await status(id)) === "running");
    assert.equal((await w.svc.inspect(id)).RestartCount, 2);
  });

  it("stop during the restart back-off cancels the restart", async () => {
    const id = await run({ HostConfig: { RestartPolicy: { Name: "always" } } });
    await exitAndWait(id, 1);
    assert.equal(await status(id), "restarting");
    assert.equal(await w.svc.stop(id), true);
    mock.timers.tick(60_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(await status(id), "exited");
    assert.equal(w.runtime.calls.filter((c) => c === `start ${id}`).length, 1);
    await assert.rejects(w.svc.kill(id), /is not running/);
  });

  it("on-failure stops restarting after MaximumRetryCount", async () => {
    const id = await run({ HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 1 } } });
    await exitAndWait(id, 2);
    assert.equal(await status(id), "restarting");
    mock.timers.tick(100);
    await until("running again", async () => (await status(id)) === "running");
    w.runtime.exit(id, 2);
    await until("exited for good", async () => (await status(id)) === "exited");
    mock.timers.tick(60_000);
    assert.equal(await status(id), "exited");
  });

  it("a restart's start: restarting, with the restart counted, until the process runs", async () => {
    const id = await run({ HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 1 } } });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    w.runtime.onStart = () => held;
    await exitAndWait(id, 1);
    assert.equal((await w.svc.inspect(id)).RestartCount, 1, "counted when the restart is decided");
    mock.timers.tick(100);
    await until("the restart's start", () => w.runtime.calls.filter((c) => c === `start ${id}`).length === 2);
    const during = await w.svc.inspect(id);
    // never "exited" with the final count before the last run: a poller would stop too early
    assert.equal(during.State.Status, "restarting");
    assert.equal(during.RestartCount, 1);
    release();
    await until("running again", async () => (await status(id)) === "running");
    w.runtime.exit(id, 1);
    await until("exited for good", async () => (await status(id)) === "exited");
    assert.equal((await w.svc.inspect(id)).RestartCount, 1);
  });

  it("stop during a restart's start waits for it, then stops the container", async () => {
    const id = await run({ HostConfig: { RestartPolicy: { Name: "always" } } });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    w.runtime.onStart = () => held;
    await exitAndWait(id, 1);
    mock.timers.tick(100);
    await until("the restart's start", () => w.runtime.calls.filter((c) => c === `start ${id}`).length === 2);
    const stopped = w.svc.stop(id, { timeout: 0 });
    release();
    assert.equal(await stopped, true);
    assert.equal(await status(id), "exited");
    mock.timers.tick(60_000);
    await new Promise((r) => setImmediate(r));
    assert.equal(await status(id), "exited", "a manual stop ends the restarts");
    assert.equal(w.runtime.calls.filter((c) => c === `start ${id}`).length, 2);
  });

  it("health: probes on the interval, unhealthy after the retries, healthy again on success", async () => {
    const id = await run({ Healthcheck: { Test: ["CMD", "probe"], Interval: 2 * NS, Retries: 2 } });
    assert.equal((await w.svc.inspect(id)).State.Health?.Status, "starting");
    w.runtime.execResults = [{ code: 1, output: "bad" }, { code: 1, output: "bad" }, { code: 0 }];
    const health = () => savedHealth(id);
    await nextProbe(id, 1);
    await until("first probe", async () => (await health())?.FailingStreak === 1);
    assert.equal((await health())?.Status, "starting");
    await nextProbe(id, 2);
    await until("unhealthy", async () => (await health())?.Status === "unhealthy");
    assert.equal((await health())?.Log.at(-1)?.Output, "bad\n");
    await nextProbe(id, 3);
    await until("healthy", async () => (await health())?.Status === "healthy");
    // the event follows the record's save: wait for it rather than read it at once
    await until("the healthy event", () => actions(id).includes("health_status: healthy"));
    assert.deepEqual(actions(id).filter((a) => a.startsWith("health_status")), ["health_status: unhealthy", "health_status: healthy"]);
    assert.equal(w.runtime.calls.filter((c) => c === `exec ${id} probe`).length, 3);
  });

  it("health: a container labelled io.cove.health.on-failure=restart is restarted when it turns unhealthy", async () => {
    const id = await run({ Labels: { [HEALTH_ON_FAILURE_LABEL]: "restart" }, Healthcheck: { Test: ["CMD", "probe"], Interval: 2 * NS, Retries: 1 } });
    w.runtime.execResults = [{ code: 1, output: "dead" }];
    mock.timers.tick(2000);
    await until("the restart", () => w.runtime.calls.filter((c) => c === `start ${id}`).length === 2);
    await until("running again", async () => (await status(id)) === "running");
    const after = await w.svc.inspect(id);
    assert.equal(after.RestartCount, 1);
    assert.equal(after.State.Health?.Status, "starting", "the restarted container's health starts over");
    await until("the restart event", () => actions(id).includes("restart"));
    assert.ok(actions(id).indexOf("health_status: unhealthy") < actions(id).indexOf("restart"));
  });

  it("health: without the label an unhealthy container keeps running, as Docker's", async () => {
    const id = await run({ Healthcheck: { Test: ["CMD", "probe"], Interval: 2 * NS, Retries: 1 } });
    w.runtime.execResults = [{ code: 1, output: "dead" }];
    mock.timers.tick(2000);
    await until("unhealthy", async () => (await w.svc.inspect(id)).State.Health?.Status === "unhealthy");
    assert.equal(w.runtime.calls.filter((c) => c === `start ${id}`).length, 1);
    assert.equal(await status(id), "running");
  });

  it("health: a probe past its timeout is killed through its exec handle", async () => {
    const id = await run({ Healthcheck: { Test: ["CMD", "probe"], Interval: 2 * NS, Timeout: 1 * NS, Retries: 1 } });
    const exec = w.runtime.exec.bind(w.runtime);
    w.runtime.exec = async (cid, opts) => ({ ...(await exec(cid, opts)), exited: new Promise(() => undefined) });
    mock.timers.tick(2000);
    await until("the probe runs", () => w.runtime.calls.includes(`exec ${id} probe`));
    mock.timers.tick(1000);
    await until("unhealthy", async () => (await w.svc.inspect(id)).State.Health?.Status === "unhealthy");
    assert.ok(w.runtime.calls.some((c) => c.startsWith("kill exec ") && c.endsWith("SIGKILL")));
    assert.match((await w.svc.inspect(id)).State.Health?.Log.at(-1)?.Output ?? "", /exceeded timeout/);
  });

  it("daemon restart mid-health-check: the running container is adopted and its probes go on", async () => {
    const id = await run({ Healthcheck: { Test: ["CMD", "probe"], Interval: 2 * NS, Retries: 1 } });
    w.runtime.execResults = [{ code: 0 }];
    mock.timers.tick(2000);
    await until("healthy", async () => (await savedHealth(id))?.Status === "healthy");
    await w.svc.close();
    w.svc = await w.open();
    const s = (await w.svc.inspect(id)).State;
    assert.equal(s.Status, "running");
    assert.equal(s.Health?.Status, "healthy");
    w.runtime.execResults = [{ code: 1, output: "down" }];
    mock.timers.tick(2000);
    await until("unhealthy after the restart", async () => (await savedHealth(id))?.Status === "unhealthy");
    const waited = w.svc.wait(id);
    w.runtime.exit(id, 0);
    assert.equal((await waited).StatusCode, 0);
  });

  it("a --rm container's snapshot is volatile; a record a crash left empty or torn goes at restart, a durable one's stops it", async () => {
    const rm1 = (await w.svc.create({ Image: "app", HostConfig: { AutoRemove: true } } as CreateBody)).Id;
    const rm2 = (await w.svc.create({ Image: "app", HostConfig: { AutoRemove: true } } as CreateBody)).Id;
    const kept = (await w.svc.create({ Image: "app" } as CreateBody)).Id;
    assert.deepEqual([...w.images.volatile].sort(), [rm1, rm2].sort(), "only the --rm containers' snapshots skip the disk");
    await w.svc.close();
    const dir = (id: string) => path.join(w.root, "containers", id);
    // what a power loss does to a file renamed into place without fsync: empty, or cut short
    await writeFile(path.join(dir(rm1), "config.v2.json"), "");
    const hc = await readFile(path.join(dir(rm2), "hostconfig.json"), "utf8");
    await writeFile(path.join(dir(rm2), "hostconfig.json"), hc.slice(0, hc.length >> 1));
    w.svc = await w.open();
    for (const id of [rm1, rm2]) {
      await assert.rejects(w.svc.inspect(id), (e: unknown) => e instanceof CoveError && e.kind === "not-found");
      assert.equal(existsSync(dir(id)), false, "its directory is removed");
      assert.ok(w.images.removed.includes(id), "its snapshot is removed");
    }
    assert.equal(await status(kept), "created");
    // a durable record is never torn by a crash: a torn one is damage, and the restore refuses to guess
    await w.svc.close();
    const rec = await readFile(path.join(dir(kept), "config.v2.json"), "utf8");
    await writeFile(path.join(dir(kept), "config.v2.json"), rec.slice(0, 10));
    await assert.rejects(w.open(), SyntaxError);
    await writeFile(path.join(dir(kept), "config.v2.json"), rec);
    w.svc = await w.open();
    assert.equal(await status(kept), "created");
  });

  it("daemon restart: a container that stopped while no daemon ran is recorded as exited", async () => {
    const id = await run({ Healthcheck: { Test: ["CMD", "probe"], Interval: 2 * NS } });
    await w.svc.close();
    w.runtime.exit(id, 9);
    w.svc = await w.open();
    const s = (await w.svc.inspect(id)).State;
    assert.equal(s.Status, "exited");
    assert.equal(s.ExitCode, 9);
    assert.equal(s.Health?.Status, "unhealthy");
    assert.ok(w.runtime.calls.includes(`delete ${id}`));
    mock.timers.tick(10_000);
    assert.ok(!w.runtime.calls.includes(`exec ${id} probe`), "no probe of an exited container");
  });

  it("a --rm container's exit goes to disk only when its removal fails; a restart finds one recorded running and removes it", async () => {
    const recorded = async (id: string) => (JSON.parse(await readFile(path.join(w.root, "containers", id, "config.v2.json"), "utf8")) as { State: { Status: string; ExitCode: number } }).State;
    // the usual case: removed at its exit, its last record saying running
    const gone = await run({ HostConfig: { AutoRemove: true } });
    const removed = w.svc.wait(gone, "removed");
    w.runtime.exit(gone, 4);
    assert.equal((await removed).StatusCode, 4);
    await assert.rejects(w.svc.inspect(gone), /No such container/);
    // a removal that fails: the exit is recorded as it was
    const stuck = await run({ HostConfig: { AutoRemove: true } });
    w.svc.setHooks({
      beforeRemove: () => {
        throw new Error("removal refused");
      },
    });
    w.runtime.exit(stuck, 3);
    await until("the exit is recorded", async () => (await recorded(stuck)).Status === "exited");
    assert.equal((await recorded(stuck)).ExitCode, 3);
    assert.ok(w.log.some((l) => l.includes(`remove --rm container ${stuck} after its exit`)), w.log.join(" / "));
    w.svc.setHooks({});
    // a daemon that died between the exit and the removal: the record says running, the runtime
    // holds nothing, and the restart finishes the --rm
    const crashed = await run({ HostConfig: { AutoRemove: true } });
    await w.svc.close();
    assert.equal((await recorded(crashed)).Status, "running");
    w.runtime.exit(crashed, 0);
    await w.runtime.delete(crashed);
    w.svc = await w.open();
    await assert.rejects(w.svc.inspect(crashed), /No such container/);
    await until("its directory is gone", () => !existsSync(path.join(w.root, "containers", crashed)));
  });

  it("daemon restart during a restart back-off starts the container at once", async () => {
    const id = await run({ HostConfig: { RestartPolicy: { Name: "always" } } });
    await exitAndWait(id, 1);
    assert.equal(await status(id), "restarting");
    await w.svc.close();
    w.svc = await w.open();
    assert.equal(await status(id), "running");
    assert.equal(w.runtime.calls.filter((c) => c === `start ${id}`).length, 2);
  });

  it("rm -f of a running container kills it, ends every wait and removes its rootfs", async () => {
    const id = await run();
    const removed = w.svc.wait(id, "removed");
    await w.svc.remove(id, { force: true });
    assert.equal((await removed).StatusCode, 137);
    assert.ok(w.runtime.calls.includes(`kill ${id} 9`));
    assert.deepEqual(actions(id).slice(-3), ["kill", "die", "destroy"]);
    await assert.rejects(w.svc.inspect(id), /No such container/);
    await until("the rootfs is removed", () => w.images.removed.includes(id));
    await until("the directory is gone", () => !existsSync(path.join(w.root, "containers", id)));
  });

  it("a clean run, exit and removal ignore nothing: the service's log stays empty", async () => {
    const id = await run();
    await exitAndWait(id, 0);
    await w.svc.remove(id);
    await until("the directory is gone", () => !existsSync(path.join(w.root, "containers", id)));
    assert.deepEqual(w.log, []);
  });

  it("a failing event subscriber is logged with the event and the container, and the operation goes on", async () => {
    w.faults.event = new Error("subscriber broke");
    const id = await run();
    assert.equal(await status(id), "running");
    assert.ok(w.log.includes(`deliver the create event of container ${id}: subscriber broke (ignored)`), w.log.join(" / "));
    assert.ok(w.log.includes(`deliver the start event of container ${id}: subscriber broke (ignored)`), w.log.join(" / "));
    delete w.faults.event;
    await exitAndWait(id, 0);
  });

  it("daemon restart: a runtime that has no record of a running container marks it dead without a log line", async () => {
    const id = await run();
    await w.svc.close();
    await w.runtime.delete(id);
    w.svc = await w.open();
    const s = (await w.svc.inspect(id)).State;
    assert.equal(s.Status, "exited");
    assert.equal(s.ExitCode, 255);
    assert.ok(!w.log.some((l) => l.includes("runtime state")), w.log.join(" / "));
  });

  it("daemon restart: a runtime state that cannot be read is logged, and the container is handled as gone", async () => {
    const id = await run();
    await w.svc.close();
    w.runtime.failState = (cid) => (cid === id ? Object.assign(new Error("EIO: i/o error, read state"), { code: "EIO" }) : undefined);
    try {
      w.svc = await w.open();
    } finally {
      delete w.runtime.failState;
    }
    assert.equal((await w.svc.inspect(id)).State.Status, "exited");
    assert.ok(w.log.includes(`read the runtime state of container ${id} at restore: EIO: i/o error, read state (ignored)`), w.log.join(" / "));
  });

  it("rm of a running container without force is refused", async () => {
    const id = await run();
    await assert.rejects(w.svc.remove(id), /container is running/);
  });

  it("without networking: user-defined networks are refused, bridge gets Docker's warning", async () => {
    await assert.rejects(w.svc.create({ Image: "app", HostConfig: { NetworkMode: "mynet" } } as CreateBody), /not available: this engine runs without networking/);
    const { Warnings } = await w.svc.create({ Image: "app" } as CreateBody);
    assert.ok(Warnings.length > 0);
  });

  it("a runtime that is not there is refused at create", async () => {
    await assert.rejects(w.svc.create({ Image: "app", HostConfig: { Runtime: "runc" } } as CreateBody), /runc is not installed/);
  });

  it("cgroup v1 hosts get CgroupnsMode host", async () => {
    await w.svc.close();
    w.host = new FakeHost(1);
    w.svc = await ContainerService.open({ root: w.root, runtimeRoot: w.runtimeRoot, images: w.images, host: w.host, runtimes: new Map([["cove", w.runtime]]) });
    const { Id } = await w.svc.create({ Image: "app" } as CreateBody);
    assert.equal((await w.svc.inspect(Id)).HostConfig.CgroupnsMode, "host");
  });
});

describe("the rootfs of an --rm container", () => {
  const overlayOptions = (id: string) => w.host.mounted.get(path.join(w.root, "containers", id, "rootfs"))?.find((m) => m.type === "overlay")?.options ?? [];

  it("is mounted volatile (its writes are thrown away at the exit); another container's is not", async () => {
    const kept = await run();
    const removed = await run({ HostConfig: { AutoRemove: true } });
    assert.ok(!overlayOptions(kept).includes("volatile"), `kept: ${overlayOptions(kept).join(",")}`);
    assert.ok(overlayOptions(removed).includes("volatile"), `--rm: ${overlayOptions(removed).join(",")}`);
  });

  it("is mounted as before where the kernel refuses volatile (EINVAL), and from then on without trying", async () => {
    const refused: string[][] = [];
    const mount = w.host.mount.bind(w.host);
    w.host.mount = (mounts, target) => {
      const overlay = mounts.find((m) => m.type === "overlay");
      if (overlay?.options.includes("volatile")) {
        refused.push(overlay.options);
        throw new CoveError("system", `mounting overlay on ${target}: EINVAL: invalid argument`, { errno: "EINVAL" });
      }
      mount(mounts, target);
    };
    const first = await run({ HostConfig: { AutoRemove: true } });
    const second = await run({ HostConfig: { AutoRemove: true } });
    assert.equal(await status(first), "running");
    assert.equal(await status(second), "running");
    assert.ok(!overlayOptions(first).includes("volatile"));
    assert.equal(refused.length, 1, "tried once");
  });

  it("volatileMounts removes the kernel's dirty marker a previous volatile mount left in the work dir", async () => {
    const { volatileMounts } = await import("./rootfs.js");
    const work = path.join(w.root, "snap", "work");
    const marker = path.join(work, "work", "incompat", "volatile");
    await mkdir(marker, { recursive: true });
    await writeFile(path.join(marker, "dirty"), "");
    const mounts = [
      { type: "overlay", source: "overlay", options: ["lowerdir=l1:l2", "upperdir=fs", "workdir=work"], cwd: path.join(w.root, "snap") },
      { type: "bind", source: "/somewhere", options: ["rbind"] },
    ];
    const out = volatileMounts(mounts)!;
    assert.ok(!existsSync(marker), "the marker is gone");
    assert.ok(existsSync(path.join(work, "work")), "the work dir stays");
    assert.deepEqual(out[0]!.options, ["lowerdir=l1:l2", "upperdir=fs", "workdir=work", "volatile"]);
    assert.deepEqual(out[1], mounts[1], "a bind mount is left as it is");
    assert.deepEqual(mounts[0]!.options, ["lowerdir=l1:l2", "upperdir=fs", "workdir=work"], "the record's mounts are not changed");
    assert.equal(volatileMounts([{ type: "bind", source: "/x", options: ["rbind"] }]), undefined, "no overlay: nothing to make volatile");
  });
});
