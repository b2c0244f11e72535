// Runs inside a pure cgroup v2 kernel (test/cgroup2/ops-vm.test.ts starts it with cgroup2-vm):
// the container service's stats, top and update on the unified hierarchy. The state root is on
// the guest's /run tmpfs (TMPDIR), since overlay upper dirs cannot live on the shared root.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, it } from "node:test";
import { setup, until, type Harness } from "../containers/harness.js";

const MiB = 1024 * 1024;
let h: Harness;

before(async () => {
  h = await setup();
});
after(async () => {
  await h?.cleanup();
});

it("stats has Docker's cgroup v2 shape, top lists the cgroup's processes, update writes the unified files", async () => {
  assert.ok(existsSync("/sys/fs/cgroup/cgroup.controllers"), "not a cgroup v2 host");
  const { Id: id } = await h.svc.create({ Image: "busybox", Cmd: ["sh", "-c", "dd if=/dev/zero of=/tmp/f bs=1k count=256 2>/dev/null; sleep 1000"], HostConfig: { NetworkMode: "none", Memory: 64 * MiB, PidsLimit: 40 } });
  await h.svc.start(id);
  await until("the write", async () => ((await h.svc.top(id)).Processes.some((p) => p.join(" ").includes("sleep 1000"))), 60_000);
  const samples = [];
  for await (const s of h.svc.stats(id, { stream: false, oneShot: true })) samples.push(s);
  const s = samples[0]!;
  assert.equal(s.name.replace(/^\//, "").length > 0, true);
  assert.equal("percpu_usage" in s.cpu_stats.cpu_usage, false, "v2 has no per-cpu usage");
  assert.ok(s.cpu_stats.cpu_usage.total_usage > 0);
  assert.ok((s.cpu_stats.online_cpus ?? 0) >= 1);
  assert.ok((s.memory_stats.usage ?? 0) > 0);
  assert.equal(s.memory_stats.limit, 64 * MiB);
  assert.ok(s.memory_stats.stats && "anon" in s.memory_stats.stats && "file" in s.memory_stats.stats, JSON.stringify(s.memory_stats));
  assert.equal("max_usage" in s.memory_stats, false, "v2 has no max_usage");
  assert.equal(s.pids_stats.limit, 40);
  assert.ok((s.pids_stats.current ?? 0) >= 1);
  for (const e of s.blkio_stats.io_service_bytes_recursive ?? []) assert.match(e.op, /^(read|write)$/);
  const pid = (await h.svc.inspect(id)).State.Pid;
  const rel = (await readFile(`/proc/${pid}/cgroup`, "utf8")).trim().replace(/^0::/, "");
  const dir = path.join("/sys/fs/cgroup", rel);
  const res = await h.svc.update(id, { Memory: 96 * MiB, PidsLimit: 50, CpuShares: 512 });
  assert.equal(res.Warnings, null);
  assert.equal((await readFile(path.join(dir, "memory.max"), "utf8")).trim(), String(96 * MiB));
  assert.equal((await readFile(path.join(dir, "pids.max"), "utf8")).trim(), "50");
  assert.ok(existsSync(path.join(dir, "cpu.weight")));
  assert.equal((await h.svc.inspect(id)).HostConfig.Memory, 96 * MiB);
  const changes = await h.svc.changes(id);
  assert.ok(changes?.some((c) => c.Path === "/tmp/f" && c.Kind === 1), JSON.stringify(changes));
  await h.svc.remove(id, { force: true });
});
