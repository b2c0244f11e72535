import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { afterEach, describe, it } from "node:test";
import { CoveError } from "../../common/errors.js";
import { cgroupManager, type CgroupManager, type CgroupOptions } from "./index.js";
import { FakeCgroupHost, HOST_V1_LAYOUT, type FakeHostOptions } from "./testutil.js";

const MiB = 1024 * 1024;
let hosts: FakeCgroupHost[] = [];
afterEach(async () => {
  for (const h of hosts) await h.cleanup();
  hosts = [];
});

async function setup(o: FakeHostOptions = {}, opts: Partial<CgroupOptions> = {}): Promise<{ h: FakeCgroupHost; cg: CgroupManager }> {
  const h = await FakeCgroupHost.create({ v2: true, ...o });
  hosts.push(h);
  const cg = await cgroupManager({ id: "c1", mountRoot: h.root, fs: h.fs, ...opts });
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

describe("cgroup v1 driver (hybrid host layout)", () => {
  it("joins every mounted hierarchy plus the unified mount, under /cove/<id>", async () => {
    const { h, cg } = await setup();
    assert.equal(cg.version, 1);
    const rel = Object.fromEntries(Object.entries(cg.paths).map(([k, v]) => [k, h.rel(v)]));
    assert.deepEqual(rel, {
      cpu: "sys/fs/cgroup/cpu/cove/c1",
      cpuacct: "sys/fs/cgroup/cpuacct/cove/c1",
      cpuset: "sys/fs/cgroup/cpuset/cove/c1",
      memory: "sys/fs/cgroup/memory/cove/c1",
      devices: "sys/fs/cgroup/devices/cove/c1",
      freezer: "sys/fs/cgroup/freezer/cove/c1",
      blkio: "sys/fs/cgroup/blkio/cove/c1",
      pids: "sys/fs/cgroup/pids/cove/c1",
      "name=systemd": "sys/fs/cgroup/systemd/cove/c1",
      unified: "sys/fs/cgroup/unified/cove/c1",
    });
    assert.equal(cg.procsFiles().length, 10);
    assert.ok(cg.procsFiles().every((f) => f.endsWith("/cove/c1/cgroup.procs")));
    await cg.create();
    for (const d of Object.values(cg.paths)) assert.deepEqual((await readdir(d)).includes("cgroup.procs"), true);
  });

  it("co-mounted cpu,cpuacct share one directory and one procs file", async () => {
    const { h, cg } = await setup({ v1: [["cpu", "cpuacct"], ["memory"]], v2: false });
    assert.equal(cg.paths.cpu, cg.paths.cpuacct);
    assert.equal(h.rel(cg.paths.cpu as string), "sys/fs/cgroup/cpu,cpuacct/cove/c1");
    assert.equal(cg.procsFiles().length, 2);
  });

  it("copies cpuset.cpus and cpuset.mems down every created level before applying", async () => {
    const { h, cg } = await setup({}, { resources: { cpu: { cpus: "1", mems: "0" } } });
    await h.write("sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n");
    await h.write("sys/fs/cgroup/cpuset/cpuset.mems", "0\n");
    await cg.create();
    assert.equal(await h.read("sys/fs/cgroup/cpuset/cove/cpuset.cpus"), "0-1");
    assert.equal(await h.read("sys/fs/cgroup/cpuset/cove/cpuset.mems"), "0");
    assert.equal(await h.read("sys/fs/cgroup/cpuset/cove/c1/cpuset.cpus"), "1");
    assert.equal(await h.read("sys/fs/cgroup/cpuset/cove/c1/cpuset.mems"), "0");
    assert.deepEqual(h.writesTo("cove/c1/cpuset.cpus"), ["0-1", "1"]);
  });

  it("writes memory limits, and orders limit/memsw so the kernel never refuses", async () => {
    const { h, cg } = await setup({}, { resources: { memory: { limit: 100 * MiB, swap: 200 * MiB, reservation: 50 * MiB, swappiness: 10, disableOOMKiller: true } } });
    await cg.create();
    const m = "sys/fs/cgroup/memory/cove/c1/";
    assert.equal(await h.read(m + "memory.limit_in_bytes"), String(100 * MiB));
    assert.equal(await h.read(m + "memory.memsw.limit_in_bytes"), String(200 * MiB));
    assert.equal(await h.read(m + "memory.soft_limit_in_bytes"), String(50 * MiB));
    assert.equal(await h.read(m + "memory.swappiness"), "10");
    assert.equal(await h.read(m + "memory.oom_control"), "1");
    // raise both: memsw must go first
    h.writes.length = 0;
    await cg.apply({ memory: { limit: 300 * MiB, swap: 400 * MiB } });
    assert.deepEqual(
      h.writes.map(([f]) => f.split("/").pop()),
      ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"],
    );
    // lower both: limit must go first
    h.writes.length = 0;
    await cg.apply({ memory: { limit: 50 * MiB, swap: 60 * MiB } });
    assert.deepEqual(
      h.writes.map(([f]) => f.split("/").pop()),
      ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"],
    );
    assert.equal(await h.read(m + "memory.limit_in_bytes"), String(50 * MiB));
    assert.equal(await h.read(m + "memory.memsw.limit_in_bytes"), String(60 * MiB));
    // unlimited memory with no swap given means unlimited swap too
    await cg.apply({ memory: { limit: -1 } });
    assert.equal(await h.read(m + "memory.limit_in_bytes"), "9223372036854771712");
    assert.equal(await h.read(m + "memory.memsw.limit_in_bytes"), "9223372036854771712");
  });

  it("ignores memory.kernel with a warning and writes kernelTCP", async () => {
    const { h, cg } = await setup({}, { resources: { memory: { kernel: 10 * MiB, kernelTCP: 5 * MiB } } });
    await cg.create();
    assert.equal(await h.read("sys/fs/cgroup/memory/cove/c1/memory.kmem.tcp.limit_in_bytes"), String(5 * MiB));
    assert.deepEqual(h.writesTo("memory.kmem.limit_in_bytes"), []);
    assert.match(cg.warnings.join("\n"), /memory\.kernel is ignored/);
  });

  it("refuses a swap limit when swap accounting is off, unless it equals the limit", async () => {
    const { h, cg } = await setup({ omit: ["memory.memsw.limit_in_bytes", "memory.memsw.usage_in_bytes"] });
    await cg.create();
    await rejectsWith(cg.apply({ memory: { limit: 100 * MiB, swap: 200 * MiB } }), /swap accounting is disabled/, "unsupported");
    assert.deepEqual(h.writesTo("memory.limit_in_bytes"), []);
    await cg.apply({ memory: { limit: 100 * MiB, swap: 100 * MiB } });
    assert.equal(await h.read("sys/fs/cgroup/memory/cove/c1/memory.limit_in_bytes"), String(100 * MiB));
  });

  it("writes cpu settings in runc's order", async () => {
    const { h, cg } = await setup({}, { resources: { cpu: { shares: 512, period: 50000, quota: 25000, burst: 1000, realtimePeriod: 1000000, realtimeRuntime: 950000, idle: 0 } } });
    await cg.create();
    const c = "sys/fs/cgroup/cpu/cove/c1/";
    assert.equal(await h.read(c + "cpu.shares"), "512");
    assert.equal(await h.read(c + "cpu.cfs_period_us"), "50000");
    assert.equal(await h.read(c + "cpu.cfs_quota_us"), "25000");
    assert.equal(await h.read(c + "cpu.cfs_burst_us"), "1000");
    assert.equal(await h.read(c + "cpu.rt_period_us"), "1000000");
    assert.equal(await h.read(c + "cpu.rt_runtime_us"), "950000");
    assert.equal(await h.read(c + "cpu.idle"), "0");
    const order = h.writes.filter(([f]) => f.startsWith(c)).map(([f]) => f.slice(c.length));
    assert.deepEqual(order, ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle"]);
    await cg.apply({ cpu: { quota: -1 } });
    assert.equal(await h.read(c + "cpu.cfs_quota_us"), "-1");
  });

  it("pids.max: a positive limit, or max for 0 and -1", async () => {
    const { h, cg } = await setup({}, { resources: { pids: { limit: 100 } } });
    await cg.create();
    const f = "sys/fs/cgroup/pids/cove/c1/pids.max";
    assert.equal(await h.read(f), "100");
    await cg.apply({ pids: { limit: 0 } });
    assert.equal(await h.read(f), "max");
    await cg.apply({ pids: { limit: -1 } });
    assert.equal(await h.read(f), "max");
  });

  it("blkio throttles per device; weight needs a CFQ/BFQ weight file", async () => {
    const { h, cg } = await setup();
    await cg.create();
    await cg.apply({
      blockIO: {
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }],
        throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2097152 }, { major: 8, minor: 16, rate: 0 }],
        throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 200 }],
      },
    });
    assert.deepEqual(h.writesTo("blkio.throttle.read_bps_device"), ["8:0 1048576"]);
    assert.deepEqual(h.writesTo("blkio.throttle.write_bps_device"), ["8:0 2097152", "8:16 0"]);
    assert.deepEqual(h.writesTo("blkio.throttle.read_iops_device"), ["8:0 100"]);
    assert.deepEqual(h.writesTo("blkio.throttle.write_iops_device"), ["8:0 200"]);
    await rejectsWith(cg.apply({ blockIO: { weight: 500 } }), /blkio\.weight or blkio\.bfq\.weight/, "unsupported");
    await h.write("sys/fs/cgroup/blkio/cove/c1/blkio.bfq.weight", "100");
    await cg.apply({ blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 0, weight: 300 }] } });
    assert.deepEqual(h.writesTo("blkio.bfq.weight"), ["500", "8:0 300"]);
  });

  it("hugetlb: names the missing controller; checks the page size", async () => {
    const { cg } = await setup({}, { resources: { hugepageLimits: [{ pageSize: "2MB", limit: 4 * MiB }] } });
    await rejectsWith(
      cg.create(),
      /^cgroup controller hugetlb is not available on this host \(not mounted in \/proc\/self\/mountinfo\); remove linux\.resources\.hugepageLimits or enable the controller$/,
      "unsupported",
    );
    const { h: h2, cg: cg2 } = await setup({ v1: [...HOST_V1_LAYOUT, ["hugetlb"]] }, { resources: { hugepageLimits: [{ pageSize: "2MB", limit: 4 * MiB }] } });
    await cg2.create();
    assert.equal(await h2.read("sys/fs/cgroup/hugetlb/cove/c1/hugetlb.2MB.limit_in_bytes"), String(4 * MiB));
    await rejectsWith(cg2.apply({ hugepageLimits: [{ pageSize: "1GB", limit: 0 }] }), /huge page size 1GB is not supported.*/, "invalid");
  });

  it("network: net_cls/net_prio when mounted, an error naming them when not", async () => {
    const { cg } = await setup();
    await cg.create();
    await rejectsWith(cg.apply({ network: { classID: 0x100001 } }), /cgroup controller net_cls is not available/);
    const { h: h2, cg: cg2 } = await setup({ v1: [...HOST_V1_LAYOUT, ["net_cls", "net_prio"]] }, { resources: { network: { classID: 0x100001, priorities: [{ name: "eth0", priority: 5 }, { name: "lo", priority: 1 }] } } });
    await cg2.create();
    assert.equal(await h2.read("sys/fs/cgroup/net_cls,net_prio/cove/c1/net_cls.classid"), String(0x100001));
    assert.deepEqual(h2.writesTo("net_prio.ifpriomap"), ["eth0 5", "lo 1"]);
  });

  it("devices: deny-all first, then the rules in order", async () => {
    const { h, cg } = await setup(
      {},
      {
        resources: {
          devices: [
            { allow: false, access: "rwm" },
            { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
            { allow: true, type: "c", major: 136, access: "rw" },
            { allow: false, type: "c", major: 5, minor: 1, access: "w" },
            { allow: true, type: "a", major: 7, minor: 0, access: "r" },
          ],
        },
      },
    );
    await cg.create();
    assert.deepEqual(
      h.writes.filter(([f]) => f.includes("devices/cove/c1/devices.")).map(([f, v]) => `${f.split("/").pop()} ${v}`),
      ["devices.deny a", "devices.allow c 1:3 rwm", "devices.allow c 136:* rw", "devices.deny c 5:1 w", "devices.allow c 7:0 r", "devices.allow b 7:0 r"],
    );
  });

  it("refuses linux.resources.unified on v1", async () => {
    const { h, cg } = await setup({}, { resources: { unified: { "memory.high": "1000000" } } });
    await rejectsWith(cg.create(), /linux\.resources\.unified requires cgroup v2/, "unsupported");
    assert.deepEqual(h.writes, []);
  });

  it("validates every value before the first write (a bad update changes nothing)", async () => {
    const { h, cg } = await setup();
    await cg.create();
    h.writes.length = 0;
    await rejectsWith(cg.apply({ memory: { limit: 100 * MiB }, cpu: { cpus: "0-3,x" } }), /cpu\.cpus: "0-3,x" is not a list/, "invalid");
    await rejectsWith(cg.apply({ cpu: { shares: -5 } }), /cpu\.shares: -5 is out of range/, "invalid");
    await rejectsWith(cg.apply({ cpu: { quota: 500, period: 100000 } }), /cpu\.quota: 500 is out of range/, "invalid");
    await rejectsWith(cg.apply({ cpu: { quota: 50000, period: 10 } }), /cpu\.period: 10 is out of range/, "invalid");
    await rejectsWith(cg.apply({ memory: { limit: 100 * MiB, swap: 50 * MiB } }), /swap.*below memory\.limit/, "invalid");
    assert.deepEqual(h.writes, []);
  });

  it("rolls back the directories it created when applying fails", async () => {
    const { h, cg } = await setup({ omit: ["cpu.cfs_burst_us"] }, { resources: { cpu: { burst: 1000, quota: 50000 } } });
    await rejectsWith(cg.create(), /no cpu\.cfs_burst_us/, "unsupported");
    for (const d of ["cpu", "memory", "systemd", "unified"]) assert.deepEqual(await readdir(h.p(`sys/fs/cgroup/${d}`)).then((l) => l.filter((n) => n === "cove")), []);
  });

  it("resolves relative cgroupsPath under this process's own cgroup, absolute from the root", async () => {
    const { h, cg } = await setup({ procSelfCgroup: "4:memory:/user.slice/s1\n1:cpu:/\n0::/u\n" }, { cgroupsPath: "box/c1" });
    assert.equal(h.rel(cg.paths.memory as string), "sys/fs/cgroup/memory/user.slice/s1/box/c1");
    assert.equal(h.rel(cg.paths.cpu as string), "sys/fs/cgroup/cpu/box/c1");
    assert.equal(h.rel(cg.paths.unified as string), "sys/fs/cgroup/unified/u/box/c1");
    const abs = await cgroupManager({ id: "x", cgroupsPath: "/machine/x", mountRoot: h.root, fs: h.fs });
    assert.equal(h.rel(abs.paths.memory as string), "sys/fs/cgroup/memory/machine/x");
  });

  it("refuses systemd-style and escaping cgroupsPath", async () => {
    const h = await FakeCgroupHost.create({ v2: true });
    hosts.push(h);
    await rejectsWith(cgroupManager({ id: "x", cgroupsPath: "system.slice:cove:x", mountRoot: h.root }), /systemd-style/, "unsupported");
    await rejectsWith(cgroupManager({ id: "x", cgroupsPath: "/a/../../etc", mountRoot: h.root }), /contains "\.\."/, "invalid");
  });

  it("freezes and thaws through freezer.state", async () => {
    const { h, cg } = await setup();
    await cg.create();
    assert.equal(await cg.frozen(), false);
    await cg.freeze();
    assert.equal((await h.read("sys/fs/cgroup/freezer/cove/c1/freezer.state")).trim(), "FROZEN");
    assert.equal(await cg.frozen(), true);
    await cg.thaw();
    assert.equal(await cg.frozen(), false);
  });

  it("lists processes recursively and reports oom kills", async () => {
    const { h, cg } = await setup();
    await cg.create();
    await h.write("sys/fs/cgroup/pids/cove/c1/cgroup.procs", "10\n11\n");
    await h.fs.mkdir(h.p("sys/fs/cgroup/pids/cove/c1/sub"));
    await h.write("sys/fs/cgroup/pids/cove/c1/sub/cgroup.procs", "12\n");
    assert.deepEqual((await cg.pids()).sort(), [10, 11, 12]);
    assert.equal(await cg.oomKilled(), false);
    await h.write("sys/fs/cgroup/memory/cove/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    assert.equal(await cg.oomKilled(), true);
  });

  it("waits for an OOM kill the kernel counts after the victim's exit, only after a SIGKILL in a cgroup at its limit", async () => {
    const { h, cg } = await setup();
    await cg.create();
    const control = "sys/fs/cgroup/memory/cove/c1/memory.oom_control";
    await h.write(control, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    await h.write("sys/fs/cgroup/memory/cove/c1/memory.failcnt", "0\n");
    // never at its limit: a SIGKILL is not an OOM kill, and the answer does not wait
    assert.equal(await cg.oomKilled({ code: 137, signal: 9 }), false);
    await h.write("sys/fs/cgroup/memory/cove/c1/memory.failcnt", "12\n");
    // at its limit, but a normal exit: no OOM kill
    assert.equal(await cg.oomKilled({ code: 0, signal: 0 }), false);
    // at its limit and killed: the count the kernel writes a moment later is seen (the wait
    // counts its own 10 ms sleeps up to a second, so this timer always fires within it)
    const late = new Promise<void>((resolve, reject) => {
      setTimeout(() => void h.write(control, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n").then(resolve, reject), 50);
    });
    assert.equal(await cg.oomKilled({ code: 137, signal: 9 }), true);
    await late;
  });

  it("a memory+swap limit reached counts as at the limit though both failcnts read 0", async () => {
    const { h, cg } = await setup();
    await cg.create();
    const m = "sys/fs/cgroup/memory/cove/c1/";
    await h.write(m + "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    for (const counter of ["memory", "memory.memsw"]) {
      await h.write(m + `${counter}.failcnt`, "0\n");
      await h.write(m + `${counter}.limit_in_bytes`, "16777216\n");
      await h.write(m + `${counter}.max_usage_in_bytes`, "16773120\n");
    }
    // peaks below the limits: not at it, and the answer does not wait
    assert.equal(await cg.oomKilled({ code: 137, signal: 9 }), false);
    // the memsw peak at its limit (the kernel failed the memsw charge and counted nothing)
    await h.write(m + "memory.memsw.max_usage_in_bytes", "16777216\n");
    const late = new Promise<void>((resolve, reject) => {
      setTimeout(() => void h.write(m + "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n").then(resolve, reject), 50);
    });
    assert.equal(await cg.oomKilled({ code: 137, signal: 9 }), true);
    await late;
  });

  it("destroy removes every directory (child cgroups too) and is idempotent", async () => {
    const { h, cg } = await setup();
    await cg.create();
    await h.fs.mkdir(h.p("sys/fs/cgroup/memory/cove/c1/inner"));
    await cg.destroy();
    for (const d of Object.values(cg.paths)) await assert.rejects(readdir(d), { code: "ENOENT" });
    await cg.destroy();
  });

  it("parses v1 stats", async () => {
    const { h, cg } = await setup();
    await cg.create();
    const m = "sys/fs/cgroup/memory/cove/c1/";
    await h.write(m + "memory.usage_in_bytes", "10485760\n");
    await h.write(m + "memory.limit_in_bytes", "104857600\n");
    await h.write(m + "memory.max_usage_in_bytes", "20971520\n");
    await h.write(m + "memory.failcnt", "3\n");
    await h.write(m + "memory.memsw.usage_in_bytes", "11534336\n");
    await h.write(m + "memory.stat", "cache 4096\nrss 8192\ntotal_cache 4096000\ntotal_rss 6000000\n");
    await h.write(m + "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    await h.write("sys/fs/cgroup/cpuacct/cove/c1/cpuacct.usage", "5000000000\n");
    await h.write("sys/fs/cgroup/cpuacct/cove/c1/cpuacct.usage_user", "3000000000\n");
    await h.write("sys/fs/cgroup/cpuacct/cove/c1/cpuacct.usage_sys", "2000000000\n");
    await h.write("sys/fs/cgroup/cpuacct/cove/c1/cpuacct.usage_percpu", "2500000000 2500000000 \n");
    await h.write("sys/fs/cgroup/cpu/cove/c1/cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 123456\nnr_bursts 0\nburst_time 0\n");
    await h.write("sys/fs/cgroup/pids/cove/c1/pids.current", "7\n");
    await h.write("sys/fs/cgroup/pids/cove/c1/pids.max", "100\n");
    await h.write("sys/fs/cgroup/blkio/cove/c1/blkio.throttle.io_service_bytes", "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n");
    await h.write("sys/fs/cgroup/blkio/cove/c1/blkio.throttle.io_serviced", "8:0 Read 1\n8:0 Write 2\nTotal 3\n");
    const s = await cg.stats();
    assert.deepEqual(s.memory, {
      usage: 10485760,
      limit: 104857600,
      maxUsage: 20971520,
      failcnt: 3,
      cache: 4096000,
      rss: 6000000,
      swapUsage: 1048576,
      stat: { cache: 4096, rss: 8192, total_cache: 4096000, total_rss: 6000000 },
    });
    assert.deepEqual(s.cpu, { usageTotal: 5e9, usageUser: 3e9, usageSystem: 2e9, perCpu: [2.5e9, 2.5e9], throttling: { periods: 10, throttledPeriods: 4, throttledTime: 123456 } });
    assert.deepEqual(s.pids, { current: 7, limit: 100 });
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
    assert.deepEqual(s.oom, { oomKill: 1 });
  });
});
