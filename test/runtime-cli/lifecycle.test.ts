// create / start / state / list / ps / pause / resume / events --stats / kill / delete through the
// command line, the same command lines for runc and cove.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { deepEqualReport, differential, isAlive, QUICK, schemaErrors, setArgs, sortedKeys, waitFor } from "./harness.js";


const psHeaders = new Map<string, string>();

/** A shell as the init that exits 0 on SIGTERM (an init ignores signals it has no handler for). */
const TERM_TRAP = ["sh", "-c", 'trap "exit 0" TERM; while :; do sleep 1 & wait; done'];

differential("runtime CLI: create, start, state, list, ps, pause, resume, events, kill, delete", async (s) => {
  const b = await s.bundle((spec) => {
    spec.annotations = { "org.cove.test": "yes" };
  });
  await setArgs(b, TERM_TRAP);
  const id = s.id();
  const obs: Record<string, unknown> = {};

  const create = await s.cli(["create", "--bundle", b.dir, id], { timeoutMs: QUICK });
  assert.equal(create.timedOut, false, `\`${create.line}\` must return once the container is created (it was killed after ${QUICK} ms)`);
  assert.equal(create.code, 0, create.stderr);
  assert.equal(create.stdout, "", "create prints nothing");

  const created = await s.state(id);
  assert.deepEqual(schemaErrors("state-schema.json", created), [], "state validates against the OCI state schema");
  assert.equal(created.status, "created");
  assert.equal(created.id, id);
  assert.equal(created.bundle, b.dir);
  assert.equal(created.rootfs, b.rootfs);
  assert.ok(typeof created.pid === "number" && created.pid > 0 && isAlive(created.pid), `created has a live init pid: ${String(created.pid)}`);
  assert.ok(!Number.isNaN(Date.parse(String(created.created))), "created is a timestamp");
  assert.deepEqual(created.annotations, { "org.cove.test": "yes" });
  obs.stateKeys = sortedKeys(created);

  const table = await s.ok(["list"]);
  const [header, ...rows] = table.trimEnd().split("\n");
  obs.listHeader = header!.trim().split(/\s+/);
  assert.equal(rows.length, 1, table);
  assert.deepEqual(rows[0]!.trim().split(/\s+/).slice(0, 4), [id, String(created.pid), "created", b.dir]);
  const listJson = JSON.parse(await s.ok(["list", "--format", "json"])) as Record<string, unknown>[];
  assert.equal(listJson.length, 1);
  assert.equal(listJson[0]!.id, id);
  assert.equal(listJson[0]!.pid, created.pid);
  obs.listJsonKeys = sortedKeys(listJson[0]);
  assert.equal(await s.ok(["list", "-q"]), `${id}\n`);

  assert.equal((await s.cli(["start", id])).code, 0);
  await s.waitStatus(id, "running");
  const running = await s.state(id);
  assert.equal(running.pid, created.pid, "the pid stays the same across start");

  const ps = JSON.parse(await s.ok(["ps", "--format", "json", id])) as unknown;
  assert.ok(Array.isArray(ps) && ps.every((p) => Number.isInteger(p)), `ps --format json is an array of pids: ${JSON.stringify(ps)}`);
  assert.ok((ps as number[]).includes(created.pid as number), "ps lists the init's host pid");
  const psTable = await s.ok(["ps", id]);
  assert.match(psTable, /PID/);
  assert.match(psTable, new RegExp(`\\b${String(created.pid)}\\b`));
  obs.psHeaderHasPid = /\bPID\b/.test(psTable.split("\n")[0]!);
  psHeaders.set(s.kind, psTable.split("\n")[0]!.trim());

  assert.equal((await s.cli(["pause", id])).code, 0);
  assert.equal(await s.status(id), "paused");
  const pausedDelete = await s.cli(["delete", id]);
  obs.deletePausedFails = pausedDelete.code !== 0;
  assert.equal((await s.cli(["resume", id])).code, 0);
  assert.equal(await s.status(id), "running");
  const resumeRunning = await s.cli(["resume", id]);
  obs.resumeRunningFails = resumeRunning.code !== 0;

  const events = (await s.ok(["events", "--stats", id])).trim().split("\n");
  assert.equal(events.length, 1, "events --stats prints one line");
  const ev = JSON.parse(events[0]!) as { type: string; id: string; data: Record<string, unknown> };
  assert.equal(ev.type, "stats");
  assert.equal(ev.id, id);
  obs.eventKeys = sortedKeys(ev);
  obs.statsKeys = sortedKeys(ev.data);
  obs.memoryStatsKeys = sortedKeys(ev.data.memory);
  obs.pidsStats = sortedKeys(ev.data.pids);

  const busy = await s.cli(["delete", id]);
  assert.notEqual(busy.code, 0, "delete of a running container without --force fails");
  assert.match(busy.stderr, /running/);
  assert.equal(await s.status(id), "running", "and leaves it running");

  // kill with no signal sends SIGTERM: the trap makes the init exit
  assert.equal((await s.cli(["kill", id])).code, 0);
  await s.waitStatus(id, "stopped");
  const stopped = await s.state(id);
  obs.stoppedKeys = sortedKeys(stopped);
  obs.stoppedPid = stopped.pid;
  const killStopped = await s.cli(["kill", id, "KILL"]);
  obs.killStoppedFails = killStopped.code !== 0;
  const stoppedList = JSON.parse(await s.ok(["list", "--format", "json"])) as { status: string }[];
  assert.equal(stoppedList[0]?.status, "stopped");

  assert.equal((await s.cli(["delete", id])).code, 0, "delete of a stopped container");
  const gone = await s.cli(["state", id]);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /does not exist/);
  assert.equal(await s.ok(["list", "-q"]), "");
  const unknown = await s.cli(["delete", "no-such-container"]);
  assert.notEqual(unknown.code, 0, "delete of an unknown id fails");
  assert.match(unknown.stderr, /does not exist/);
  const forcedUnknown = await s.cli(["delete", "--force", "no-such-container"]);
  obs.forceDeleteUnknownCode = forcedUnknown.code;
  const emptyJson = (await s.ok(["list", "--format", "json"])).trim();
  obs.emptyListJson = emptyJson;
  return obs;
}, {
  compare(cove, runc, t) {
    // runc 1.1.5 prints `null` for an empty JSON list; a JSON array is what a reader expects
    t.diagnostic(`ps table header: runc="${psHeaders.get("runc")}" cove="${psHeaders.get("cove")}"`);
    t.diagnostic(`empty list --format json: runc=${String(runc.emptyListJson)} cove=${String(cove.emptyListJson)}`);
    assert.ok(["null", "[]"].includes(String(cove.emptyListJson)));
    // runc reports pid 0 for a stopped container and omits nothing else
    const strip = (o: Record<string, unknown>) => {
      const c = { ...o };
      delete c.emptyListJson;
      return c;
    };
    deepEqualReport(strip(cove), strip(runc));
  },
});

differential("runtime CLI: kill by default, by name, by number, and --all", async (s) => {
  const b = await s.bundle();
  // records the signals it traps in /tmp/sig (in the bundle's rootfs), keeps running; /tmp/ready
  // says the traps are set (an init ignores the signals it has no handler for yet)
  await setArgs(b, ["sh", "-c", 'for s in TERM HUP USR1 USR2; do trap "echo $s >> /tmp/sig" $s; done; touch /tmp/ready; while :; do sleep 1 & wait; done']);
  const sigFile = path.join(b.rootfs, "tmp", "sig");
  const a = s.id("a");
  await s.ok(["run", "--detach", "--bundle", b.dir, a], { timeoutMs: QUICK });
  await s.waitStatus(a, "running");
  await waitFor("the traps to be set", () => existsSync(path.join(b.rootfs, "tmp", "ready")));
  const seen = async (n: number) => waitFor(`${n} trapped signals`, () => existsSync(sigFile) && readFileSync(sigFile, "utf8").trim().split("\n").length >= n && readFileSync(sigFile, "utf8"));
  await s.ok(["kill", a]);
  await seen(1);
  await s.ok(["kill", a, "HUP"]);
  await seen(2);
  await s.ok(["kill", a, "SIGUSR1"]);
  await seen(3);
  await s.ok(["kill", a, "12"]);
  const trapped = (await seen(4)).trim().split("\n");
  assert.deepEqual(trapped, ["TERM", "HUP", "USR1", "USR2"]);
  const badSignal = await s.cli(["kill", a, "NOTASIGNAL"]);
  assert.notEqual(badSignal.code, 0, "an unknown signal name fails");
  assert.equal(await s.status(a), "running");
  const pidA = (await s.state(a)).pid as number;
  await s.ok(["kill", a, "KILL"]);
  await s.waitStatus(a, "stopped");
  assert.equal(isAlive(pidA), false);

  const bb = await s.bundle();
  await setArgs(bb, ["sleep", "600"]);
  const c = s.id("b");
  await s.ok(["run", "-d", "--bundle", bb.dir, c], { timeoutMs: QUICK });
  await s.ok(["kill", c, "SIGKILL"]);
  await s.waitStatus(c, "stopped");

  // --all: every process of the container, not only the init
  const cb = await s.bundle();
  await setArgs(cb, ["sh", "-c", "sleep 600 & sleep 600 & sleep 600"]);
  const d = s.id("all");
  await s.ok(["run", "-d", "--bundle", cb.dir, d], { timeoutMs: QUICK });
  const pids = await waitFor("three processes", async () => {
    const p = JSON.parse(await s.ok(["ps", "--format", "json", d])) as number[];
    return p.length >= 3 && p;
  });
  await s.ok(["kill", "--all", d, "9"]);
  await waitFor("all processes gone", () => pids.every((p) => !isAlive(p)));
  await s.waitStatus(d, "stopped");
  return { trapped, badSignalCode: badSignal.code, killedAll: pids.length >= 3 };
});
