import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { afterEach, describe, it } from "node:test";
import { CoveError } from "../../common/errors.js";
import { cgroupManager, type CgroupHostOps, type CgroupManager, type CgroupOptions } from "./index.js";
import { FakeCgroupHost, type FakeHostOptions } from "./testutil.js";

const MiB = 1024 * 1024;
let hosts: FakeCgroupHost[] = [];
afterEach(async () => {
  for (const h of hosts) await h.cleanup();
  hosts = [];
});

async function setup(o: FakeHostOptions = {}, opts: Partial<CgroupOptions> = {}, ops?: CgroupHostOps): Promise<{ h: FakeCgroupHost; cg: CgroupManager }> {
  const h = await FakeCgroupHost.create({ v1: [], v2: true, ...o });
  hosts.push(h);
  const cg = await cgroupManager({ id: "c1", mountRoot: h.root, fs: h.fs, ...opts }, ops);
  return { h, cg };
}

function rejectsWith(p: Promise<unknown>, re: RegExp, kind?: string): Promise<void> {
  return assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof CoveError, `expected CoveError, got ${String(err)}`);
    assert.match(err.message, re);
    if (kind) assert.equal(err.kind, kind);
    return true;
  });
}

const L = "sys/fs/cgroup/cove/c1/";

describe("cgroup v2 driver", () => {
  it("creates the cgroup with every host controller enabled down the chain", async () => {
    const { h, cg } = await setup();
    assert.equal(cg.version, 2);
    assert.deepEqual(Object.keys(cg.paths), ["unified"]);
    assert.equal(h.rel(cg.paths.unified as string), "sys/fs/cgroup/cove/c1");
    assert.deepEqual(cg.procsFiles().map((f) => h.rel(f)), [L + "cgroup.procs"]);
    await cg.create();
    assert.equal(await h.read("sys/fs/cgroup/cgroup.subtree_control"), "cpu cpuset hugetlb io memory pids");
    assert.equal(await h.read("sys/fs/cgroup/cove/cgroup.subtree_control"), "cpu cpuset hugetlb io memory pids");
    assert.equal(await h.read(L + "cgroup.controllers"), "cpu cpuset hugetlb io memory pids");
    assert.equal(await h.read(L + "cgroup.subtree_control"), ""); // the leaf holds processes
  });

  it("memory: max, low, and swap converted from memory+swap to swap alone", async () => {
    const { h, cg } = await setup({}, { resources: { memory: { limit: 100 * MiB, swap: 300 * MiB, reservation: 50 * MiB, disableOOMKiller: true, swappiness: 20 } } });
    await cg.create();
    assert.equal(await h.read(L + "memory.max"), String(100 * MiB));
    assert.equal(await h.read(L + "memory.swap.max"), String(200 * MiB));
    assert.equal(await h.read(L + "memory.low"), String(50 * MiB));
    assert.match(cg.warnings.join("\n"), /disableOOMKiller is ignored/);
    assert.match(cg.warnings.join("\n"), /swappiness is ignored/);
    await cg.apply({ memory: { limit: -1 } });
    assert.equal(await h.read(L + "memory.max"), "max");
    assert.equal(await h.read(L + "memory.swap.max"), "max");
    await cg.apply({ memory: { limit: 64 * MiB, swap: 64 * MiB } });
    assert.equal(await h.read(L + "memory.swap.max"), "0");
    // an update of swap alone pairs with the limit in force
    await cg.apply({ memory: { swap: 96 * MiB } });
    assert.equal(await h.read(L + "memory.swap.max"), String(32 * MiB));
  });

  it("memory: a swap limit without swap accounting is refused unless it adds no swap", async () => {
    const { h, cg } = await setup({ omit: ["memory.swap.max", "memory.swap.current"] });
    await cg.create();
    await rejectsWith(cg.apply({ memory: { limit: 100 * MiB, swap: 200 * MiB } }), /swap accounting is disabled/, "unsupported");
    await cg.apply({ memory: { limit: 100 * MiB, swap: 100 * MiB } });
    assert.equal(await h.read(L + "memory.max"), String(100 * MiB));
  });

  it("cpu: weight from shares (runc's formula), cpu.max, burst, idle, cpuset", async () => {
    const { h, cg } = await setup({}, { resources: { cpu: { shares: 1024, quota: 50000, period: 100000, burst: 10000, idle: 1, cpus: "0-1", mems: "0" } } });
    await cg.create();
    assert.equal(await h.read(L + "cpu.weight"), "39"); // 1 + (1022 * 9999) / 262142
    assert.equal(await h.read(L + "cpu.max"), "50000 100000");
    assert.equal(await h.read(L + "cpu.max.burst"), "10000");
    assert.equal(await h.read(L + "cpu.idle"), "1");
    assert.equal(await h.read(L + "cpuset.cpus"), "0-1");
    assert.equal(await h.read(L + "cpuset.mems"), "0");
    await cg.apply({ cpu: { shares: 2 } });
    assert.equal(await h.read(L + "cpu.weight"), "1");
    await cg.apply({ cpu: { shares: 262144 } });
    assert.equal(await h.read(L + "cpu.weight"), "10000");
    await cg.apply({ cpu: { period: 200000 } }); // keeps the quota in force
    assert.equal(await h.read(L + "cpu.max"), "50000 200000");
    await cg.apply({ cpu: { quota: -1 } });
    assert.equal(await h.read(L + "cpu.max"), "max 200000");
  });

  it("cpu: realtime settings and network are v1-only and refused", async () => {
    const { h, cg } = await setup();
    await cg.create();
    h.writes.length = 0;
    await rejectsWith(cg.apply({ cpu: { realtimeRuntime: 1000, realtimePeriod: 100000 } }), /not supported with cgroup v2/, "unsupported");
    await rejectsWith(cg.apply({ network: { classID: 1 } }), /does not exist in cgroup v2/, "unsupported");
    assert.deepEqual(h.writes, []);
  });

  it("pids and hugetlb", async () => {
    const { h, cg } = await setup({}, { resources: { pids: { limit: 32 }, hugepageLimits: [{ pageSize: "2MB", limit: 8 * MiB }] } });
    await cg.create();
    assert.equal(await h.read(L + "pids.max"), "32");
    assert.equal(await h.read(L + "hugetlb.2MB.max"), String(8 * MiB));
    await rejectsWith(cg.apply({ hugepageLimits: [{ pageSize: "1GB", limit: 0 }] }), /huge page size 1GB is not supported.*/, "invalid");
    await rejectsWith(cg.apply({ hugepageLimits: [{ pageSize: "2 MB", limit: 0 }] }), /is not a page size/, "invalid");
  });

  it("io: weight converted from blkio (or raw for bfq), io.max one line per device", async () => {
    const { h, cg } = await setup();
    await cg.create();
    await cg.apply({
      blockIO: {
        weight: 500,
        weightDevice: [{ major: 8, minor: 0, weight: 1000 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }, { major: 8, minor: 16, rate: 0 }],
      },
    });
    assert.deepEqual(h.writesTo("io.weight"), ["4950", "8:0 10000"]);
    assert.deepEqual(h.writesTo("io.max"), ["8:0 rbps=1048576 wiops=100", "8:16 wiops=max"]);
    await h.write(L + "io.bfq.weight", "default 100");
    await cg.apply({ blockIO: { weight: 500 } });
    assert.deepEqual(h.writesTo("io.bfq.weight"), ["500"]);
  });

  it("names a controller the host does not offer", async () => {
    const { h, cg } = await setup({ v2Controllers: ["cpu", "memory"] }, { resources: { pids: { limit: 10 } } });
    await rejectsWith(cg.create(), /^cgroup controller pids is not available on this host \(not listed in .*cgroup\.controllers\); remove linux\.resources\.pids or enable the controller$/, "unsupported");
    // rolled back
    assert.deepEqual((await readdir(h.p("sys/fs/cgroup"))).filter((n) => n === "cove"), []);
  });

  it("unified: writes keys of enabled controllers, refuses others and path-like keys", async () => {
    const { h, cg } = await setup({ v2Controllers: ["cpu", "memory", "pids"] }, { resources: { memory: { limit: 200 * MiB }, unified: { "memory.high": "104857600", "pids.max": "9" } } });
    await cg.create();
    assert.equal(await h.read(L + "memory.high"), "104857600");
    assert.equal(await h.read(L + "pids.max"), "9");
    // unified goes last, after the structured fields
    assert.deepEqual(h.writes.slice(-2).map(([f]) => f.split("/").pop()), ["memory.high", "pids.max"]);
    h.writes.length = 0;
    await rejectsWith(cg.apply({ unified: { "io.max": "8:0 rbps=1" } }), /cgroup controller io is not available/, "unsupported");
    await rejectsWith(cg.apply({ unified: { "../x": "1" } }), /is not a cgroup interface file name/, "invalid");
    await rejectsWith(cg.apply({ unified: { "memory.nonsense": "1" } }), /no interface file memory\.nonsense/, "unsupported");
    assert.deepEqual(h.writes, []);
  });

  it("devices: hands the compiled program to the host's loader", async () => {
    const calls: [string, number, string][] = [];
    const ops: CgroupHostOps = {
      attachDeviceProgram: async (dir, insns, license) => {
        calls.push([dir, insns.length, license]);
      },
    };
    const { h, cg } = await setup({}, { resources: { devices: [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3, access: "rw" }] } }, ops);
    await cg.create();
    assert.equal(calls.length, 1);
    assert.equal(h.rel(calls[0]?.[0] as string), "sys/fs/cgroup/cove/c1");
    assert.ok((calls[0]?.[1] as number) > 0 && (calls[0]?.[1] as number) % 8 === 0);
    assert.equal(calls[0]?.[2], "Apache");
    const { cg: noLoader } = await setup({}, { resources: { devices: [] } });
    await rejectsWith(noLoader.create(), /needs an eBPF device program loader/, "unsupported");
  });

  it("freezes and thaws through cgroup.freeze and cgroup.events", async () => {
    const { h, cg } = await setup();
    await cg.create();
    assert.equal(await cg.frozen(), false);
    await cg.freeze();
    assert.equal(await h.read(L + "cgroup.freeze"), "1");
    assert.equal(await cg.frozen(), true);
    await cg.thaw();
    assert.equal(await cg.frozen(), false);
    assert.deepEqual(h.writesTo("cgroup.freeze"), ["1", "0"]);
  });

  it("a freeze that never completes times out and thaws", async () => {
    const { h, cg } = await setup({}, { freezeTimeoutMs: 50 });
    await cg.create();
    const inner = h.fs.writeFile;
    h.fs.writeFile = async (file, data) => {
      if (file.endsWith("cgroup.freeze")) {
        h.writes.push([h.rel(file), data]);
        return; // the kernel never reports frozen
      }
      return inner(file, data);
    };
    await rejectsWith(cg.freeze(), /did not become frozen within 50 ms/, "conflict");
    assert.deepEqual(h.writesTo("cgroup.freeze"), ["1", "0"]);
  });

  it("killAll SIGKILL uses cgroup.kill", async () => {
    const { h, cg } = await setup();
    await cg.create();
    await cg.killAll("SIGKILL");
    assert.deepEqual(h.writesTo("cgroup.kill"), ["1"]);
  });

  it("parses v2 stats and oom events", async () => {
    const { h, cg } = await setup();
    await cg.create();
    await h.write(L + "memory.current", "10485760\n");
    await h.write(L + "memory.max", "104857600\n");
    await h.write(L + "memory.peak", "20971520\n");
    await h.write(L + "memory.swap.current", "4096\n");
    await h.write(L + "memory.swap.max", "max\n");
    await h.write(L + "memory.stat", "anon 6000000\nfile 4000000\nkernel 100\n");
    await h.write(L + "memory.events", "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n");
    await h.write(L + "cpu.stat", "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 10\nnr_throttled 3\nthrottled_usec 700\nnr_bursts 0\nburst_usec 0\n");
    await h.write(L + "pids.current", "4\n");
    await h.write(L + "io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
    await h.write(L + "hugetlb.2MB.current", "2097152\n");
    await h.write(L + "hugetlb.2MB.events", "max 1\n");
    const s = await cg.stats();
    assert.deepEqual(s.memory, { usage: 10485760, limit: 104857600, maxUsage: 20971520, failcnt: 5, cache: 4000000, rss: 6000000, swapUsage: 4096, stat: { anon: 6000000, file: 4000000, kernel: 100 } });
    assert.deepEqual(s.cpu, { usageTotal: 5e6, usageUser: 3e6, usageSystem: 2e6, throttling: { periods: 10, throttledPeriods: 3, throttledTime: 700000 } });
    assert.deepEqual(s.pids, { current: 4 });
    assert.deepEqual(s.blkio, {
      bytes: [
        { major: 8, minor: 0, op: "read", value: 4096 },
        { major: 8, minor: 0, op: "write", value: 8192 },
      ],
      ios: [
        { major: 8, minor: 0, op: "read", value: 1 },
        { major: 8, minor: 0, op: "write", value: 2 },
      ],
    });
    assert.deepEqual(s.hugetlb, { "2MB": { usage: 2097152, failcnt: 1 } });
    assert.deepEqual(s.oom, { oom: 2, oomKill: 1 });
    assert.equal(await cg.oomKilled(), true);
  });

  it("destroy removes the leaf and is idempotent", async () => {
    const { h, cg } = await setup();
    await cg.create();
    await cg.destroy();
    await assert.rejects(readdir(h.p(L)), { code: "ENOENT" });
    await cg.destroy();
  });
});
