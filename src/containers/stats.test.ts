import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { cgroupManager } from "../runtime/cgroups/index.js";
import { FakeCgroupHost } from "../runtime/cgroups/testutil.js";
import { dockerStats, emptyStats, parseNetDev, parseProcStat, withPrevious } from "./stats.js";

let hosts: FakeCgroupHost[] = [];
afterEach(async () => {
  for (const h of hosts) await h.cleanup();
  hosts = [];
});

const host = { systemUsage: 123_450_000_000, onlineCpus: 2 };

describe("stats JSON", () => {
  it("is the zero document dockerd sends for a stopped container", () => {
    const s = emptyStats("/c", "abc");
    assert.equal(s.read, "0001-01-01T00:00:00Z");
    assert.equal(s.preread, "0001-01-01T00:00:00Z");
    assert.deepEqual(s.pids_stats, {});
    assert.deepEqual(s.memory_stats, {});
    assert.equal(s.blkio_stats.io_service_bytes_recursive, null);
    assert.equal(Object.keys(s.blkio_stats).length, 8);
    assert.deepEqual(s.cpu_stats, { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } });
    assert.deepEqual(JSON.parse(JSON.stringify(s)).storage_stats, {});
  });

  it("reads a pure cgroup v2 tree into Docker's v2 shape", async () => {
    const h = await FakeCgroupHost.create({ v1: [], v2: true });
    hosts.push(h);
    const cg = await cgroupManager({ id: "c1", mountRoot: h.root, fs: h.fs });
    await cg.create();
    const L = "sys/fs/cgroup/cove/c1/";
    await h.write(L + "memory.current", "10485760\n");
    await h.write(L + "memory.max", "104857600\n");
    await h.write(L + "memory.stat", "anon 6000000\nfile 4000000\ninactive_file 1000\n");
    await h.write(L + "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    await h.write(L + "cpu.stat", "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 10\nnr_throttled 3\nthrottled_usec 700\n");
    await h.write(L + "pids.current", "4\n");
    await h.write(L + "pids.max", "100\n");
    await h.write(L + "io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
    const s = dockerStats({ name: "/c", id: "abc", version: 2, cgroup: await cg.stats(), host, machineMemory: 1 << 30, read: new Date(0) });
    assert.equal(s.read, "1970-01-01T00:00:00.000Z");
    assert.deepEqual(s.cpu_stats, { cpu_usage: { total_usage: 5e6, usage_in_kernelmode: 2e6, usage_in_usermode: 3e6 }, system_cpu_usage: host.systemUsage, online_cpus: 2, throttling_data: { periods: 10, throttled_periods: 3, throttled_time: 700000 } });
    assert.equal("percpu_usage" in s.cpu_stats.cpu_usage, false, "v2 has no per-cpu usage");
    assert.deepEqual(s.memory_stats, { usage: 10485760, stats: { anon: 6000000, file: 4000000, inactive_file: 1000 }, limit: 104857600 });
    assert.deepEqual(s.pids_stats, { current: 4, limit: 100 });
    assert.deepEqual(s.blkio_stats.io_service_bytes_recursive, [
      { major: 8, minor: 0, op: "read", value: 4096 },
      { major: 8, minor: 0, op: "write", value: 8192 },
    ]);
    assert.deepEqual(s.blkio_stats.io_queue_recursive, []);
  });

  it("reads a cgroup v1 tree into Docker's v1 shape (per-cpu, capitalised ops, host memory as the limit)", async () => {
    const h = await FakeCgroupHost.create({});
    hosts.push(h);
    const cg = await cgroupManager({ id: "c1", mountRoot: h.root, fs: h.fs });
    await cg.create();
    const dir = (c: string) => `sys/fs/cgroup/${c}/cove/c1/`;
    await h.write(dir("cpuacct") + "cpuacct.usage", "900\n");
    await h.write(dir("cpuacct") + "cpuacct.usage_percpu", "400 500 \n");
    await h.write(dir("memory") + "memory.usage_in_bytes", "4096\n");
    await h.write(dir("memory") + "memory.max_usage_in_bytes", "8192\n");
    await h.write(dir("memory") + "memory.stat", "cache 10\nrss 20\ntotal_inactive_file 5\n");
    await h.write(dir("blkio") + "blkio.throttle.io_service_bytes", "8:0 Read 7\n8:0 Write 9\nTotal 16\n");
    const s = dockerStats({ name: "/c", id: "abc", version: 1, cgroup: await cg.stats(), host, machineMemory: 1 << 30 });
    assert.deepEqual(s.cpu_stats.cpu_usage.percpu_usage, [400, 500]);
    assert.equal(s.cpu_stats.cpu_usage.total_usage, 900);
    assert.deepEqual(s.memory_stats, { usage: 4096, max_usage: 8192, stats: { cache: 10, rss: 20, total_inactive_file: 5 }, limit: 1 << 30 });
    assert.deepEqual(s.blkio_stats.io_service_bytes_recursive, [
      { major: 8, minor: 0, op: "Read", value: 7 },
      { major: 8, minor: 0, op: "Write", value: 9 },
    ]);
  });

  it("fills precpu_stats and preread from the previous sample", () => {
    const a = { ...emptyStats("/c", "x"), read: "2024-01-01T00:00:00Z" };
    a.cpu_stats = { ...a.cpu_stats, cpu_usage: { total_usage: 5, usage_in_kernelmode: 0, usage_in_usermode: 0 } };
    const b = withPrevious({ ...emptyStats("/c", "x"), read: "2024-01-01T00:00:01Z" }, a);
    assert.equal(b.preread, "2024-01-01T00:00:00Z");
    assert.equal(b.precpu_stats.cpu_usage.total_usage, 5);
  });

  it("parses /proc/stat and /proc/<pid>/net/dev", () => {
    const st = parseProcStat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\nintr 1\n");
    assert.deepEqual(st, { systemUsage: 1000 * 1e7, onlineCpus: 2 });
    const net = parseNetDev(
      "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n",
    );
    assert.deepEqual(net, { eth0: { rx_bytes: 2000, rx_packets: 20, rx_errors: 1, rx_dropped: 2, tx_bytes: 3000, tx_packets: 30, tx_errors: 3, tx_dropped: 4 } });
  });
});
