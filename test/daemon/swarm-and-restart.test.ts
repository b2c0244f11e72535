// Two things clients meet at the edges of a session with cove's socket:
//
// - The swarm endpoints. Clients and harnesses call /swarm/leave?force=true, GET /services and
//   the like in set-up and tear-down; cove answers every swarm path of the Engine API as a dockerd
//   that is not part of a swarm does. Each request goes to cove and to Debian's dockerd (a private
//   one, test/support/dockerd.ts) and the status and message must match; so must the docker CLI's
//   exit code and stderr. Initializing or joining a swarm is refused with cove's own message.
// - A daemon restarted over running containers (SIGKILL of the daemon's process) answers /_ping,
//   /version and /info while its containers are restored, and holds the other requests until they
//   are: the restore is held by a hook in the daemon's process (not by timing), and a request for a
//   container made meanwhile answers after the release, with the container running.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import http from "node:http";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { NO_SWARM_MODE, NOT_A_MANAGER, NOT_IN_A_SWARM } from "../../src/daemon/swarm.js";
import { findBusybox } from "../images/fixtures.js";
import { runDocker } from "../network/harness.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { kill9, startChildDaemon, type ChildDaemon } from "../support/child-daemon.js";
import { tearDownDaemon } from "../support/teardown.js";

const DOCKER = "/usr/local/bin/docker";
const root = process.getuid?.() === 0;

interface Answer {
  status: number;
  body: string;
}

/** One request on a unix socket; body: a JSON value, or a string sent as it is. */
function api(socket: string, method: string, url: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = http.request({ socketPath: socket, method, path: url, headers: data !== undefined ? { "Content-Type": "application/json" } : {} }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(data);
  });
}

const message = (a: Answer): string => (JSON.parse(a.body) as { message: string }).message;

/** Every swarm path of the Engine API (swagger tags Swarm, Node, Service, Task, Secret, Config), with what a client sends. */
const SAME_AS_DOCKERD: [string, string, unknown?][] = [
  ["GET", "/swarm"],
  ["GET", "/v1.24/swarm"],
  ["POST", "/swarm/leave"],
  ["POST", "/swarm/leave?force=true"],
  ["POST", "/swarm/leave?force=1"],
  ["GET", "/swarm/unlockkey"],
  ["POST", "/swarm/unlock", { UnlockKey: "SWMKEY-1-x" }],
  ["POST", "/swarm/unlock"],
  ["POST", "/swarm/update?version=1", {}],
  ["POST", "/swarm/update", {}],
  ["POST", "/swarm/update?version=x", {}],
  ["POST", "/swarm/update?version=1&rotateWorkerToken=x", {}],
  ["POST", "/swarm/init"],
  ["POST", "/swarm/init", {}],
  ["POST", "/swarm/init", { ListenAddr: "0.0.0.0:2377", Spec: { Name: "other" } }],
  ["POST", "/swarm/join"],
  ["POST", "/swarm/join", {}],
  ["POST", "/swarm/join", { ListenAddr: "0.0.0.0:2377" }],
  ["POST", "/swarm/join", { ListenAddr: "0.0.0.0:2377", RemoteAddrs: [""] }],
  ["GET", "/nodes"],
  ["GET", '/nodes?filters={"role":["manager"]}'],
  ["GET", "/nodes/abc"],
  ["DELETE", "/nodes/abc"],
  ["DELETE", "/nodes/abc?force=1"],
  ["POST", "/nodes/abc/update?version=1", {}],
  ["POST", "/nodes/abc/update", {}],
  ["POST", "/nodes/abc/update?version=1"],
  ["GET", "/services"],
  ["GET", "/v1.41/services?status=true"],
  ["GET", "/services?status=x"],
  ["GET", "/v1.40/services?status=x"],
  ["POST", "/services/create", {}],
  ["POST", "/services/create"],
  ["GET", "/services/web"],
  ["GET", "/services/web?insertDefaults=x"],
  ["DELETE", "/services/web"],
  ["POST", "/services/web/update?version=1", {}],
  ["POST", "/services/web/update", {}],
  ["GET", "/services/web/logs?stdout=1"],
  ["GET", "/tasks"],
  ["GET", "/tasks/t1"],
  ["GET", "/tasks/t1/logs?stderr=1"],
  ["GET", "/secrets"],
  ["POST", "/secrets/create", { Name: "s", Data: "eA==" }],
  ["POST", "/secrets/create"],
  ["GET", "/secrets/s"],
  ["DELETE", "/secrets/s"],
  ["POST", "/secrets/s/update?version=1", {}],
  ["POST", "/secrets/s/update", {}],
  ["GET", "/configs"],
  ["POST", "/configs/create", { Name: "c", Data: "eA==" }],
  ["POST", "/configs/create"],
  ["GET", "/configs/c"],
  ["DELETE", "/configs/c"],
  ["POST", "/configs/c/update?version=1", {}],
  ["POST", "/configs/c/update", {}],
  ["GET", "/swarm/"],
  ["GET", "/services/a/b"],
];

const swarmSkip = !existsSync(DOCKER) ? `${DOCKER} is missing` : !root ? "needs root" : dockerdAvailable() || false;

describe("swarm endpoints: a node that is not part of a swarm, as dockerd answers", { skip: swarmSkip }, () => {
  let dir: string;
  let daemon: Daemon | undefined;
  let dockerd: Dockerd | undefined;
  const socket = () => path.join(dir, "cove.sock");

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-swarm-"));
    daemon = await startDaemon({ root: path.join(dir, "root"), socket: socket(), runtimeRoot: path.join(dir, "r"), log: () => undefined });
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
  });

  after(async () => {
    try {
      await dockerd?.stop();
    } finally {
      await tearDownDaemon(daemon, dir);
    }
  });

  it("every swarm path answers dockerd's status and message", async () => {
    for (const [method, url, body] of SAME_AS_DOCKERD) {
      const c = await api(socket(), method, url, body);
      const d = await api(dockerd!.socket, method, url, body);
      const what = `${method} ${url} ${body === undefined ? "(no body)" : JSON.stringify(body)}`;
      assert.equal(c.status, d.status, `${what}: cove ${c.body} dockerd ${d.body}`);
      assert.equal(message(c), message(d), what);
    }
  });

  it("initializing or joining a swarm is refused with a 503 that says why, and /info shows swarm inactive as dockerd's", async () => {
    for (const [url, body] of [
      ["/swarm/init", { ListenAddr: "0.0.0.0:2377" }],
      ["/swarm/join", { ListenAddr: "0.0.0.0:2377", RemoteAddrs: ["192.0.2.10:2377"], JoinToken: "SWMTKN-1-x" }],
    ] as const) {
      const a = await api(socket(), "POST", url, body);
      assert.equal(a.status, 503, a.body);
      assert.equal(message(a), NO_SWARM_MODE);
    }
    // a body that is not an object is a 400, as with dockerd (whose text names its Go type)
    const bad = await api(socket(), "POST", "/swarm/init", "[]");
    assert.equal(bad.status, 400);
    assert.equal((await api(dockerd!.socket, "POST", "/swarm/init", "[]")).status, 400);
    // the logs of a service or task need a stream first (a 400 as for a container's logs)
    assert.equal(message(await api(socket(), "GET", "/services/web/logs")), "Bad parameters: you must choose at least one stream");
    // nothing changed: still no swarm
    const swarm = (s: string) => api(s, "GET", "/info").then((a) => (JSON.parse(a.body) as { Swarm: unknown }).Swarm);
    assert.deepEqual(await swarm(socket()), await swarm(dockerd!.socket));
    assert.deepEqual(await swarm(socket()), { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null });
    assert.equal(message(await api(socket(), "POST", "/swarm/leave?force=true")), NOT_IN_A_SWARM);
    assert.equal(message(await api(socket(), "GET", "/nodes")), NOT_A_MANAGER);
  });

  it("the docker CLI's swarm, node, service, secret, config and stack commands fail as with dockerd", async () => {
    for (const args of [
      ["swarm", "leave", "--force"],
      ["swarm", "leave"],
      ["swarm", "unlock-key"],
      ["swarm", "join-token", "worker"],
      ["swarm", "update", "--autolock=true"],
      ["node", "ls"],
      ["node", "inspect", "self"],
      ["node", "ps"],
      ["service", "ls"],
      ["service", "inspect", "web"],
      ["secret", "ls"],
      ["secret", "rm", "s"],
      ["config", "ls"],
      ["stack", "ls"],
    ]) {
      const c = await runDocker(socket(), dir, args);
      const d = await dockerd!.docker(args);
      assert.equal(c.code, d.code, `docker ${args.join(" ")}: ${c.stderr}`);
      assert.equal(c.stdout, d.stdout, `docker ${args.join(" ")}`);
      assert.equal(c.stderr, d.stderr, `docker ${args.join(" ")}`);
    }
    const init = await runDocker(socket(), dir, ["swarm", "init"]);
    assert.equal(init.code, 1);
    assert.equal(init.stderr, `Error response from daemon: ${NO_SWARM_MODE}\n`);
  });
});

// ------------------------------------------------------------------ restart

const restartSkip = !root ? "needs root (containers)" : !(await findBusybox()) ? "busybox-static is not installed" : false;

describe("a daemon restarted over running containers answers at once and restores them in the background", { skip: restartSkip }, () => {
  let dir: string;
  let child: ChildDaemon | undefined;
  const at = (name: string) => path.join(dir, name);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-restart-"));
  });

  after(async () => {
    try {
      // a daemon without a hold removes what the test left
      await kill9(child);
      const cleaner = startChildDaemon(at("root"), at("cove.sock"), at("r"), []);
      try {
        await cleaner.line(/listening on/);
        const list = JSON.parse((await api(at("cove.sock"), "GET", "/containers/json?all=1")).body) as { Id: string }[];
        for (const c of list) await api(at("cove.sock"), "DELETE", `/containers/${c.Id}?force=1`);
      } finally {
        await kill9(cleaner);
      }
    } finally {
      await tearDownDaemon(undefined, dir);
    }
  });

  it("/_ping, /version and /info answer while the restore is held; a container request waits, then sees it running", async () => {
    const sock = at("cove.sock");
    child = startChildDaemon(at("root"), sock, at("r"), ["import"]);
    await child.line(/^imported$/);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await api(sock, "POST", `/containers/create?name=keep${i}`, { Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { NetworkMode: "none" } });
      assert.equal(created.status, 201, created.body);
      const id = (JSON.parse(created.body) as { Id: string }).Id;
      const started = await api(sock, "POST", `/containers/${id}/start`);
      assert.equal(started.status, 204, started.body);
      ids.push(id);
    }
    const pid = (JSON.parse((await api(sock, "GET", `/containers/${ids[0]}/json`)).body) as { State: { Pid: number } }).State.Pid;
    await kill9(child);

    child = startChildDaemon(at("root"), sock, at("r"), ["hold"]);
    await child.line(/^held$/);
    await child.line(/listening on/);
    // the restore is held: what needs no container answers
    const ping = await api(sock, "GET", "/_ping");
    assert.equal(ping.status, 200);
    assert.equal(ping.body, "OK");
    assert.equal((await api(sock, "GET", "/version")).status, 200);
    const info = await api(sock, "GET", "/info");
    assert.equal(info.status, 200, info.body);
    assert.ok((JSON.parse(info.body) as { Warnings: string[] }).Warnings.some((w) => /restoring its containers/.test(w)), info.body);

    // a container request waits for the restore
    let answered = false;
    const inspect = api(sock, "GET", `/containers/${ids[0]}/json`).then((a) => {
      answered = true;
      return a;
    });
    const list = api(sock, "GET", "/containers/json");
    await child.line(/wait until the containers are restored/);
    assert.equal((await api(sock, "GET", "/_ping")).status, 200);
    assert.equal(answered, false, "the inspect answered before the containers were restored");

    child.proc.stdin.write("go\n");
    const a = await inspect;
    assert.equal(a.status, 200, a.body);
    const state = (JSON.parse(a.body) as { State: { Status: string; Running: boolean; Pid: number } }).State;
    assert.equal(state.Status, "running");
    assert.equal(state.Pid, pid, "the container was adopted, not restarted");
    const running = (JSON.parse((await list).body) as { Id: string; State: string }[]).filter((c) => ids.includes(c.Id));
    assert.deepEqual(running.map((c) => c.State), ["running", "running", "running"]);
    await child.line(/restored 3 containers in \d+ ms; 2 requests waited for them/);
    const after = JSON.parse((await api(sock, "GET", "/info")).body) as { ContainersRunning: number; Warnings: string[] };
    assert.equal(after.ContainersRunning, 3);
    assert.ok(!after.Warnings.some((w) => /restoring/.test(w)));
  });
});
