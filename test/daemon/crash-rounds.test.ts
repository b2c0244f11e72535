// Crash safety: the daemon is SIGKILLed at a random moment while clients run and remove containers
// concurrently (each with a published port and a named volume copied up from the image). After each restart every
// container is either running and adopted or cleanly stopped, and nothing is held for one that is
// not running (test/support/leaks.ts lists mounts, netns, cgroups, runtime state, records, veths,
// DNAT rules and held ports). Rounds and operations: COVE_CRASH_ROUNDS (default 3), COVE_CRASH_OPS
// (default 50); COVE_CRASH_SEED replays a run's kill moments.

import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { findBusybox } from "../images/fixtures.js";
import { kill9, startChildDaemon, stopChildDaemon, type ChildDaemon } from "../support/child-daemon.js";
import { api } from "../support/docker-api.js";
import { describeLeaks, findLeaks } from "../support/leaks.js";
import { tearDownDaemon } from "../support/teardown.js";

const ROUNDS = Number(process.env.COVE_CRASH_ROUNDS ?? 3);
const OPS = Number(process.env.COVE_CRASH_OPS ?? 50);
const SEED = Number(process.env.COVE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** The latest moment of a kill after the operations began (most rounds cut them mid-flight). */
const KILL_WINDOW_MS = 3000;
/** Five volumes a round, over the image's /etc: their first users copy it up while the kill may come. */
const volume = (round: number, i: number) => `crashvol-${round}-${i % 5}`;

const skip = process.getuid?.() !== 0 ? "needs root (containers, cgroups, overlay mounts)" : !(await findBusybox()) ? "busybox-static is not installed" : false;

/** A directory's entries, recursively, as sorted relative paths. */
function listing(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

/** A small seeded generator (mulberry32): the same seed kills at the same moments. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Inspected {
  Id: string;
  State: { Status: string; Running: boolean; Pid: number };
  NetworkSettings: { Ports: Record<string, { HostPort: string }[] | null> | null };
}

describe("SIGKILL of the daemon during concurrent run and rm", { skip, timeout: 60 * 60_000 }, () => {
  let dir = "";
  let child: ChildDaemon | undefined;
  const ids = new Set<string>();
  const at = (p: string) => path.join(dir, p);
  const sock = () => at("cove.sock");
  const places = () => ({ root: at("root"), execRoot: dir, runtimeRoot: at("r"), ids, pid: child?.proc.pid });
  const call = (method: string, p: string, body?: unknown) => api(sock(), method, p, body === undefined ? undefined : JSON.stringify(body), { "Content-Type": "application/json" });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-crash-"));
  });

  after(async () => {
    try {
      await kill9(child);
      child = startChildDaemon(at("root"), sock(), at("r"));
      await child.line(/listening on/);
      const list = JSON.parse((await call("GET", "/containers/json?all=1")).body) as { Id: string }[];
      for (const c of list) await call("DELETE", `/containers/${c.Id}?force=1`);
      const vols = JSON.parse((await call("GET", "/volumes")).body) as { Volumes: { Name: string }[] | null };
      for (const v of vols.Volumes ?? []) await call("DELETE", `/volumes/${v.Name}`);
      await stopChildDaemon(child);
    } finally {
      await kill9(child);
      await tearDownDaemon(undefined, dir);
    }
  });

  /** One client's work: run a container with a published port and the volume, and for odd i remove it. */
  async function operation(round: number, i: number): Promise<string> {
    const created = await call("POST", `/containers/create?name=crash-${round}-${i}`, {
      Image: "busybox",
      Cmd: ["sleep", "600"],
      ExposedPorts: { "80/tcp": {} },
      HostConfig: { PortBindings: { "80/tcp": [{ HostPort: "" }] }, Binds: [`${volume(round, i)}:/etc`] },
    });
    if (created.status !== 201) return `create ${created.status}`;
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    ids.add(id);
    const started = await call("POST", `/containers/${id}/start`);
    if (started.status !== 204) return `start ${started.status}: ${started.body}`;
    if (i % 2 === 0) return "running";
    const removed = await call("DELETE", `/containers/${id}?force=1`);
    return removed.status === 204 ? "removed" : `rm ${removed.status}: ${removed.body}`;
  }

  /** The containers as the restarted daemon sees them, checked: running ones really run. */
  async function survey(): Promise<{ existing: Set<string>; running: Set<string>; published: Set<number>; statuses: Map<string, string> }> {
    const list = JSON.parse((await call("GET", "/containers/json?all=1")).body) as { Id: string }[];
    const existing = new Set<string>();
    const running = new Set<string>();
    const published = new Set<number>();
    const statuses = new Map<string, string>();
    for (const { Id } of list) {
      const r = await call("GET", `/containers/${Id}/json`);
      if (r.status === 404) continue; // removed while we looked (an --rm, or a removal the restore finished)
      const c = JSON.parse(r.body) as Inspected;
      existing.add(c.Id);
      statuses.set(c.Id, c.State.Status);
      assert.ok(["running", "exited", "created"].includes(c.State.Status), `container ${c.Id} is ${c.State.Status} after the restart`);
      if (!c.State.Running) continue;
      running.add(c.Id);
      assert.ok(c.State.Pid > 0, `running container ${c.Id} has no pid`);
      assert.doesNotThrow(() => process.kill(c.State.Pid, 0), `running container ${c.Id}: its pid ${c.State.Pid} is gone`);
      for (const bindings of Object.values(c.NetworkSettings.Ports ?? {})) for (const b of bindings ?? []) published.add(Number(b.HostPort));
    }
    return { existing, running, published, statuses };
  }

  it(`${ROUNDS} rounds of ${OPS} concurrent run/rm, each cut by a SIGKILL: every container adopted or cleanly stopped, nothing leaked`, async () => {
    const rand = random(SEED);
    const report: string[] = [`seed ${SEED}`];
    child = startChildDaemon(at("root"), sock(), at("r"), ["import"]);
    await child.line(/^imported$/);
    // what a whole copy-up of the image's /etc gives, to compare the rounds' volumes with
    const ref = await call("POST", "/containers/create", { Image: "busybox", Cmd: ["true"], HostConfig: { Binds: ["crashvol-ref:/etc"] } });
    assert.equal(ref.status, 201, ref.body);
    const refId = (JSON.parse(ref.body) as { Id: string }).Id;
    ids.add(refId);
    assert.equal((await call("DELETE", `/containers/${refId}`)).status, 204);
    const wholeCopy = listing(at("root/volumes/crashvol-ref/_data"));
    assert.ok(wholeCopy.length > 0, "the image's /etc was copied into the volume");
    // the kill lands within the time the operations take: a round they all finished before it
    // narrows the window for the next ones (a quiet machine runs them faster than a busy one)
    let window = KILL_WINDOW_MS;
    for (let round = 0; round < ROUNDS; round++) {
      const killAfter = Math.floor(rand() * window);
      const began = performance.now();
      let allDoneAfter: number | undefined;
      const outcomes = Promise.all(Array.from({ length: OPS }, (_, i) => operation(round, i).catch((e: unknown) => `cut: ${(e as Error).message}`))).then((r) => {
        allDoneAfter = performance.now() - began;
        return r;
      });
      await new Promise((r) => setTimeout(r, killAfter));
      await kill9(child);
      const done = await outcomes;
      if (allDoneAfter !== undefined && allDoneAfter <= killAfter) window = Math.max(200, Math.floor(allDoneAfter));
      const tally = new Map<string, number>();
      for (const o of done) tally.set(o.split(":")[0] ?? o, (tally.get(o.split(":")[0] ?? o) ?? 0) + 1);

      child = startChildDaemon(at("root"), sock(), at("r"));
      await child.line(/listening on/);
      const seen = await survey();
      // a copy-up the kill cut short is marked, and done again by the volume's next user; an
      // unmarked volume is empty or whole
      for (let v = 0; v < 5; v++) {
        const vol = at(`root/volumes/${volume(round, v)}`);
        if (!existsSync(vol) || existsSync(path.join(vol, "copy-up"))) continue;
        // a started container adds the targets of its /etc/hosts, hostname and resolv.conf mounts
        const copied = listing(path.join(vol, "_data")).filter((f) => !["hosts", "hostname", "resolv.conf"].includes(f) || wholeCopy.includes(f));
        if (copied.length === 0) continue; // made, never filled: its first user copies it up
        assert.deepEqual(copied, wholeCopy, `volume ${volume(round, v)} holds a partial copy-up with no mark`);
      }
      const leaks = describeLeaks(findLeaks(places(), seen.existing, seen.running, seen.published));
      assert.equal(leaks, "", `round ${round} (killed after ${killAfter} ms, seed ${SEED}): held for containers that do not run:\n${leaks}\nstatuses: ${[...seen.statuses].map(([id, st]) => `${id.slice(0, 12)} ${st}`).join(", ")}\n${child.out.slice(-40).join("\n")}`);
      report.push(`round ${round}: killed after ${killAfter} ms; ${[...tally].map(([k, v]) => `${k} ${v}`).join(", ")}; after the restart ${seen.running.size} running of ${seen.existing.size}`);

      // the adopted containers are the daemon's to stop and remove
      for (const id of seen.existing) {
        const removed = await call("DELETE", `/containers/${id}?force=1`);
        assert.equal(removed.status, 204, `rm -f ${id} after the restart: ${removed.body}`);
      }
      const after = describeLeaks(findLeaks(places(), new Set(), new Set(), new Set()));
      assert.equal(after, "", `round ${round}: held after every container was removed:\n${after}`);
      // no container holds the round's volumes any more (those made before the kill)
      for (let v = 0; v < 5; v++) {
        const removed = await call("DELETE", `/volumes/${volume(round, v)}`);
        assert.ok(removed.status === 204 || removed.status === 404, `volume ${volume(round, v)} is still counted as in use: ${removed.status} ${removed.body}`);
      }
    }
    console.log(report.join("\n"));
  });
});
