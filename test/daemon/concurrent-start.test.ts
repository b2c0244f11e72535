// 300 containers created and started at once by 16 API clients, each with a host port the daemon
// chooses (published on 127.0.0.1) and a named volume of its own: no request hangs, the /events
// stream (open from before the first create) shows each container's create and start exactly
// once, every published port answers from the host with that container's own page (served by
// busybox httpd from its volume), and once all are removed with their volumes the leak checker
// (test/support/leaks.ts) finds nothing held. COVE_CONCURRENT_CONTAINERS and
// COVE_CONCURRENT_CLIENTS change the counts (300 and 16). The daemon runs in its own process
// (test/daemon/load-daemon.ts) on a private root and bridge; no time is asserted, only bounded.

import assert from "node:assert/strict";
import http from "node:http";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseCidr } from "../../src/network/index.js";
import { overlaps } from "../../src/network/ipam.js";
import { AF_INET, Netlink } from "../../src/network/netlink.js";
import { findBusybox } from "../images/fixtures.js";
import { describeLeaks, findLeaks } from "../support/leaks.js";
import { startLoadDaemon, type LoadDaemon } from "../support/load-daemon.js";
import { tearDownDaemon } from "../support/teardown.js";

const COUNT = Number(process.env.COVE_CONCURRENT_CONTAINERS ?? 300);
const CLIENTS = Number(process.env.COVE_CONCURRENT_CLIENTS ?? 16);
/** Bounds for a busy machine: a port that does not answer within this fails the test. */
const ANSWER_BOUND_MS = 120_000;
const EVENTS_BOUND_MS = 120_000;

const skip = process.getuid?.() !== 0 ? "needs root (containers, bridges, iptables)" : !(await findBusybox()) ? "busybox-static is not installed" : false;

/** A /22 in 10.240.0.0/12 (room for 300 containers) that no route or address on the host covers. */
function freeSlash22(): string {
  const nl = Netlink.open();
  const used = [...nl.routes(AF_INET).filter((r) => r.dstLen > 0).map((r) => parseCidr(`${r.dst}/${r.dstLen}`)), ...nl.addresses(AF_INET).map((a) => parseCidr(`${a.address}/${a.prefixLen}`))];
  nl.close();
  const start = Math.floor(Math.random() * 1024);
  for (let n = 0; n < 1024; n++) {
    const i = (start + n) % 1024;
    const cidr = `10.${240 + (i >> 6)}.${(i & 63) * 4}.0/22`;
    if (!used.some((u) => overlaps(u, parseCidr(cidr)))) return cidr;
  }
  throw new Error("no free /22 in 10.240.0.0/12 for the test's bridge");
}

/** GET / on 127.0.0.1:port, once. */
function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", reject);
  });
}

/** The page on the port, retried while httpd is still coming up, within the bound. */
async function pageOf(port: number): Promise<string> {
  const end = Date.now() + ANSWER_BOUND_MS;
  for (;;) {
    try {
      return await get(port);
    } catch (err) {
      if (Date.now() > end) throw new Error(`127.0.0.1:${port} did not answer within ${ANSWER_BOUND_MS} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

interface Seen {
  create: number;
  start: number;
  destroy: number;
}

describe(`${COUNT} containers started concurrently by ${CLIENTS} clients`, { skip, timeout: 60 * 60_000 }, () => {
  let dir = "";
  let d: LoadDaemon | undefined;
  const ids = new Set<string>();
  const name = (i: number) => `conc-${i}`;
  const volume = (i: number) => `concvol-${i}`;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-conc-"));
  });

  after(async () => {
    try {
      if (d && d.proc.exitCode === null) {
        await d.removeAll();
      }
    } finally {
      await d?.stop("uninstall");
      await tearDownDaemon(undefined, dir);
    }
  });

  it("no deadlock, no lost event, every port reachable, nothing left after removal", async () => {
    d = startLoadDaemon(path.join(dir, "root"), path.join(dir, "cove.sock"), { bip: freeSlash22(), importBusybox: true });
    await d.line(/^ready$/);

    // the event stream, open before the first create
    const seen = new Map<string, Seen>();
    const events = await d.stream("GET", `/events?filters=${encodeURIComponent(JSON.stringify({ type: ["container"] }))}`);
    assert.equal(events.status, 200);
    let partial = "";
    const waiters: { test: () => boolean; resolve: () => void }[] = [];
    events.res.setEncoding("utf8");
    events.res.on("data", (chunk: string) => {
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        if (!l.trim()) continue;
        const e = JSON.parse(l) as { Action: string; id?: string; Actor: { ID: string } };
        const s = seen.get(e.Actor.ID) ?? { create: 0, start: 0, destroy: 0 };
        if (e.Action === "create" || e.Action === "start" || e.Action === "destroy") s[e.Action]++;
        seen.set(e.Actor.ID, s);
      }
      for (const w of [...waiters]) {
        if (!w.test()) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
    const eventsUntil = (test: () => boolean, what: string) =>
      test()
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`events: ${what} not seen within ${EVENTS_BOUND_MS} ms`)), EVENTS_BOUND_MS);
            waiters.push({
              test,
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            });
          });

    // 16 clients take the next container until all are started
    const idOf = new Map<number, string>();
    const failures: string[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < COUNT) {
          const i = next++;
          const created = await d!.call("POST", `/containers/create?name=${name(i)}`, {
            Image: "busybox",
            Env: [`PAGE=page of ${name(i)}`],
            // the page goes into the container's own volume and httpd serves it from there
            Cmd: ["sh", "-c", 'echo "$PAGE" > /srv/index.html && exec httpd -f -p 80 -h /srv'],
            ExposedPorts: { "80/tcp": {} },
            HostConfig: { PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] }, Binds: [`${volume(i)}:/srv`] },
          });
          if (created.status !== 201) {
            failures.push(`create ${name(i)}: ${created.status} ${created.body}`);
            continue;
          }
          const id = (JSON.parse(created.body) as { Id: string }).Id;
          ids.add(id);
          idOf.set(i, id);
          const started = await d!.call("POST", `/containers/${id}/start`);
          if (started.status !== 204) failures.push(`start ${name(i)}: ${started.status} ${started.body}`);
        }
      }),
    );
    const startSeconds = (performance.now() - t0) / 1000;
    assert.deepEqual(failures, [], "every create and start succeeded");
    assert.equal(idOf.size, COUNT);

    // every container's create and start seen on the stream, each exactly once
    const mine = [...idOf.values()];
    await eventsUntil(() => mine.every((id) => (seen.get(id)?.start ?? 0) >= 1), "a start for every container");
    const wrong = mine.filter((id) => seen.get(id)?.create !== 1 || seen.get(id)?.start !== 1).map((id) => `${id.slice(0, 12)} ${JSON.stringify(seen.get(id))}`);
    assert.deepEqual(wrong, [], "each container's create and start seen exactly once");

    // every container runs, and its published port answers with its own page
    const ports = new Map<number, number>();
    for (const [i, id] of idOf) {
      const c = JSON.parse((await d.call("GET", `/containers/${id}/json`)).body) as { State: { Running: boolean }; NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> } };
      assert.ok(c.State.Running, `${name(i)} runs`);
      const port = Number(c.NetworkSettings.Ports["80/tcp"]?.[0]?.HostPort);
      assert.ok(port > 0, `${name(i)} has a host port: ${JSON.stringify(c.NetworkSettings.Ports)}`);
      ports.set(i, port);
    }
    assert.equal(new Set(ports.values()).size, COUNT, "every container has a host port of its own");
    const t1 = performance.now();
    let answered = 0;
    let nextCheck = 0;
    const entries = [...ports];
    const mismatches: string[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (nextCheck < entries.length) {
          const [i, port] = entries[nextCheck++]!;
          const page = await pageOf(port);
          if (page.trim() === `page of ${name(i)}`) answered++;
          else mismatches.push(`${name(i)} on ${port}: ${JSON.stringify(page)}`);
        }
      }),
    );
    assert.deepEqual(mismatches, [], "each port answers with its own container's page");
    const answerSeconds = (performance.now() - t1) / 1000;

    // all removed with their volumes, concurrently as well
    let nextRm = 0;
    const rmFailures: string[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (nextRm < COUNT) {
          const i = nextRm++;
          const r = await d!.call("DELETE", `/containers/${idOf.get(i)}?force=1&v=1`);
          if (r.status !== 204) rmFailures.push(`rm ${name(i)}: ${r.status} ${r.body}`);
          const v = await d!.call("DELETE", `/volumes/${volume(i)}`);
          if (v.status !== 204) rmFailures.push(`volume rm ${volume(i)}: ${v.status} ${v.body}`);
        }
      }),
    );
    assert.deepEqual(rmFailures, []);
    await eventsUntil(() => mine.every((id) => (seen.get(id)?.destroy ?? 0) >= 1), "a destroy for every container");
    events.res.destroy();
    const left = JSON.parse((await d.call("GET", "/containers/json?all=1")).body) as unknown[];
    assert.equal(left.length, 0, "no container left");
    const vols = JSON.parse((await d.call("GET", "/volumes")).body) as { Volumes: unknown[] | null };
    assert.equal(vols.Volumes?.length ?? 0, 0, "no volume left");
    const leaks = describeLeaks(findLeaks({ root: d.root, pid: d.pid, ids }, new Set(), new Set(), new Set()));
    assert.equal(leaks, "", `held after every container was removed:\n${leaks}`);
    console.log(`${COUNT} containers by ${CLIENTS} clients: all running after ${startSeconds.toFixed(1)} s; events: ${mine.length} creates and ${mine.length} starts, each once; ${answered} of ${COUNT} ports answered with their own page (${answerSeconds.toFixed(1)} s)`);
  });
});
