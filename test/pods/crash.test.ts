// Pods across a daemon crash (SIGKILL, test/support/child-daemon.ts): a running pod is adopted
// by the next daemon, its processes untouched; a pod whose create a crash cut short (its infra
// container made, its record not written) is finished at the next start: the infra and the
// members go. The daemon runs without networking (the pods' network is none): what is checked
// here is the pods' own state.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { findBusybox } from "../images/fixtures.js";
import { kill9, startChildDaemon, type ChildDaemon } from "../support/child-daemon.js";
import { api } from "../support/docker-api.js";
import { tearDownDaemon } from "../support/teardown.js";

const skip = process.getuid?.() !== 0 ? "needs root (containers)" : !(await findBusybox()) ? "busybox-static is not installed" : false;

const json = <T>(r: { status: number; body: string }, status: number): T => {
  assert.equal(r.status, status, r.body);
  return JSON.parse(r.body) as T;
};

describe("pods across a daemon crash", { skip }, () => {
  let dir: string;
  let child: ChildDaemon | undefined;
  const at = (name: string) => path.join(dir, name);
  const sock = () => at("cove.sock");

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-pods-crash-"));
  });

  after(async () => {
    try {
      await kill9(child);
      // a daemon started afresh removes what the test left: pods first (their infra goes with them)
      const cleaner = startChildDaemon(at("root"), sock(), at("r"), []);
      try {
        await cleaner.line(/listening on/);
        for (const p of JSON.parse((await api(sock(), "GET", "/cove/pods/json")).body) as { Id: string }[]) await api(sock(), "DELETE", `/cove/pods/${p.Id}?force=1`);
        for (const c of JSON.parse((await api(sock(), "GET", "/containers/json?all=1")).body) as { Id: string }[]) await api(sock(), "DELETE", `/containers/${c.Id}?force=1`);
      } finally {
        await kill9(cleaner);
      }
    } finally {
      await tearDownDaemon(undefined, dir);
    }
  });

  it("adopts a running pod, and finishes a create the crash cut short", async () => {
    child = startChildDaemon(at("root"), sock(), at("r"), ["import"]);
    await child.line(/^imported$/);
    const kept = json<{ Id: string }>(await api(sock(), "POST", "/cove/pods/create", JSON.stringify({ name: "kept", netns: { nsmode: "none" } })), 201);
    json(await api(sock(), "POST", "/containers/create?pod=kept&name=kept-a", JSON.stringify({ Image: "busybox", Cmd: ["sleep", "600"] })), 201);
    json(await api(sock(), "POST", "/cove/pods/kept/start"), 200);
    const pid = json<{ State: { Pid: number } }>(await api(sock(), "GET", "/containers/kept-a/json"), 200).State.Pid;
    assert.ok(pid > 0);
    // a second pod whose record the crash will have lost: as a create cut short after its infra was made
    const lost = json<{ Id: string }>(await api(sock(), "POST", "/cove/pods/create", JSON.stringify({ name: "lost", netns: { nsmode: "none" } })), 201);
    json(await api(sock(), "POST", "/containers/create?pod=lost&name=lost-a", JSON.stringify({ Image: "busybox", Cmd: ["sleep", "600"] })), 201);
    await kill9(child);
    await rm(path.join(at("root"), "pods", lost.Id), { recursive: true });

    child = startChildDaemon(at("root"), sock(), at("r"), []);
    await child.line(/listening on/);
    const doc = json<{ Id: string; State: string; Containers: { Name: string; State: string }[] }>(await api(sock(), "GET", "/cove/pods/kept/json"), 200);
    assert.equal(doc.Id, kept.Id);
    assert.equal(doc.State, "Running");
    assert.equal(json<{ State: { Pid: number } }>(await api(sock(), "GET", "/containers/kept-a/json"), 200).State.Pid, pid, "adopted, not restarted");
    // the adopted pod is managed as before
    json(await api(sock(), "POST", "/cove/pods/kept/stop?t=1"), 200);
    assert.equal(json<{ State: string }>(await api(sock(), "GET", "/cove/pods/kept/json"), 200).State, "Exited");

    await child.line(/infra container [0-9a-f]{64} belongs to no pod/);
    assert.equal((await api(sock(), "GET", "/cove/pods/lost/exists")).status, 404);
    await child.line(/removing it and its members/);
    const left = json<{ Names: string[]; Labels: Record<string, string> }[]>(await api(sock(), "GET", `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`io.cove.pod=${lost.Id}`] }))}`), 200);
    assert.deepEqual(left.map((c) => c.Names[0]), [], "the lost pod's infra and member are gone");
    json(await api(sock(), "DELETE", "/cove/pods/kept"), 200);
  });
});
