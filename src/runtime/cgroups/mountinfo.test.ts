import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { CoveError } from "../../common/errors.js";
import { cgroupDir, detectCgroupHost, normalizeCgroupsPath, parseMountinfo, parseProcCgroup } from "./mountinfo.js";
import { blkioWeightToIoWeight, parseCpuList, sharesToWeight, swapToV2, validateResources } from "./values.js";
import { parseBlkio, parseFlatKeyed, parseIoStat, parseLimit, parsePerCpu } from "./stats.js";

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const PURE_V2 = `25 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
29 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

async function fakeRoot(mountinfo: string, self: string): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), "cove-mi-"));
  await mkdir(path.join(root, "proc/self"), { recursive: true });
  await writeFile(path.join(root, "proc/self/mountinfo"), mountinfo);
  await writeFile(path.join(root, "proc/self/cgroup"), self);
  return root;
}

describe("cgroup host detection", () => {
  it("parses v1 and v2 mounts, dropping mount flags", () => {
    const m = parseMountinfo(HYBRID);
    assert.deepEqual(
      m.map((x) => [x.type, x.mountPoint, x.controllers.join(",")]),
      [
        ["cgroup", "/sys/fs/cgroup/cpu", "cpu"],
        ["cgroup", "/sys/fs/cgroup/cpuacct", "cpuacct"],
        ["cgroup", "/sys/fs/cgroup/memory", "memory"],
        ["cgroup", "/sys/fs/cgroup/systemd", "name=systemd"],
        ["cgroup2", "/sys/fs/cgroup/unified", ""],
      ],
    );
    const escaped = parseMountinfo("50 31 0:40 /docker/abc /sys/fs/cgroup/cpu\\040x ro - cgroup cgroup rw,cpu,cpuacct\n");
    assert.deepEqual(escaped, [{ type: "cgroup", mountPoint: "/sys/fs/cgroup/cpu x", root: "/docker/abc", controllers: ["cpu", "cpuacct"] }]);
  });

  it("detects hybrid, pure v2, and no cgroups at all", async () => {
    const roots = [await fakeRoot(HYBRID, "1:cpu:/\n0::/\n"), await fakeRoot(PURE_V2, "0::/user.slice/session-1.scope\n"), await fakeRoot("", "")];
    try {
      const h = await detectCgroupHost(roots[0]);
      assert.equal(h.version, "hybrid");
      assert.equal(h.v1.length, 4);
      assert.equal(h.unified?.mountPoint, path.join(roots[0] as string, "sys/fs/cgroup/unified"));
      const v2 = await detectCgroupHost(roots[1]);
      assert.equal(v2.version, 2);
      assert.equal(v2.self[""], "/user.slice/session-1.scope");
      await assert.rejects(detectCgroupHost(roots[2]), (e: unknown) => e instanceof CoveError && /no cgroup filesystem is mounted/.test(e.message));
    } finally {
      for (const r of roots) await rm(r, { recursive: true, force: true });
    }
  });

  it("parses /proc/self/cgroup, co-mounted and named hierarchies", () => {
    assert.deepEqual(parseProcCgroup("12:cpu,cpuacct:/a\n1:name=systemd:/b\n0::/c\n"), { cpu: "/a", cpuacct: "/a", "name=systemd": "/b", "": "/c" });
  });

  it("resolves cgroupsPath like runc's cgroupfs driver", () => {
    assert.deepEqual(normalizeCgroupsPath("x", undefined), { path: "/cove/x", relative: false });
    assert.deepEqual(normalizeCgroupsPath("x", "/a//b/"), { path: "/a/b", relative: false });
    assert.deepEqual(normalizeCgroupsPath("x", "a/b"), { path: "/a/b", relative: true });
    assert.throws(() => normalizeCgroupsPath("x", "/"), /names the root cgroup/);
    assert.throws(() => normalizeCgroupsPath("x", "machine.slice:cove:x"), /systemd-style/);
    const m = { type: "cgroup" as const, mountPoint: "/sys/fs/cgroup/memory", root: "/docker/abc", controllers: ["memory"] };
    assert.equal(cgroupDir(m, { path: "/c", relative: false }, "/docker/abc/sub"), "/sys/fs/cgroup/memory/c");
    assert.equal(cgroupDir(m, { path: "/c", relative: true }, "/docker/abc/sub"), "/sys/fs/cgroup/memory/sub/c");
    assert.throws(() => cgroupDir(m, { path: "/c", relative: true }, "/elsewhere"), /not visible/);
  });
});

describe("resource values", () => {
  it("converts shares and blkio weights as runc does", () => {
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(1024), 39);
    assert.equal(sharesToWeight(262144), 10000);
    assert.equal(blkioWeightToIoWeight(10), 1);
    assert.equal(blkioWeightToIoWeight(500), 4950);
    assert.equal(blkioWeightToIoWeight(1000), 10000);
  });

  it("converts OCI swap (memory+swap) to v2 swap", () => {
    assert.equal(swapToV2(200, 100), 100);
    assert.equal(swapToV2(100, 100), 0);
    assert.equal(swapToV2(-1, 100), -1);
    assert.equal(swapToV2(undefined, -1), -1);
    assert.equal(swapToV2(undefined, 100), undefined);
    assert.throws(() => swapToV2(50, 100), /below memory\.limit/);
    assert.throws(() => swapToV2(50, undefined), /without a memory limit/);
  });

  it("validates cpu lists", () => {
    assert.equal(parseCpuList("cpu.cpus", "0-3, 5,7-8"), "0-3,5,7-8");
    assert.throws(() => parseCpuList("cpu.cpus", "0-3,x"), /not a list/);
    assert.throws(() => parseCpuList("cpu.cpus", "3-1"), /backwards/);
    assert.throws(() => parseCpuList("cpu.mems", "-1"), /not a list/);
  });

  it("rejects impossible values with the field named", () => {
    const bad: [object, RegExp][] = [
      [{ cpu: { shares: 1.5 } }, /cpu\.shares: 1\.5 is not an integer/],
      [{ cpu: { idle: 2 } }, /cpu\.idle/],
      [{ cpu: { quota: 200000, burst: 300000 } }, /burst.*exceeds cpu\.quota/],
      [{ memory: { swappiness: 101 } }, /memory\.swappiness/],
      [{ memory: { limit: -5 } }, /memory\.limit: -5 is out of range/],
      [{ memory: { limit: 100, reservation: 200 } }, /reservation.*above memory\.limit/],
      [{ blockIO: { weight: 5 } }, /blockIO\.weight: 5 is out of range/],
      [{ devices: [{ allow: true, access: "rx" }] }, /devices\[0\]\.access/],
      [{ unified: { "a/b": "1" } }, /not a cgroup interface file name/],
    ];
    for (const [r, re] of bad) assert.throws(() => validateResources(r), (e: unknown) => e instanceof CoveError && e.kind === "invalid" && re.test(e.message));
  });
});

describe("stats parsers", () => {
  it("flat keyed files, limits, per-cpu, blkio, io.stat", () => {
    assert.deepEqual(parseFlatKeyed("a 1\nb 2\nbad line here\n\n"), { a: 1, b: 2 });
    assert.equal(parseLimit("max\n"), undefined);
    assert.equal(parseLimit("9223372036854771712\n"), undefined);
    assert.equal(parseLimit("1048576\n"), 1048576);
    assert.deepEqual(parsePerCpu("1 2 3 \n"), [1, 2, 3]);
    assert.deepEqual(parseBlkio("8:0 Read 10\n8:0 Total 10\nTotal 10\n"), [{ major: 8, minor: 0, op: "read", value: 10 }]);
    assert.deepEqual(parseIoStat("253:0 rbytes=1 wbytes=2 rios=3 wios=4\n"), {
      bytes: [
        { major: 253, minor: 0, op: "read", value: 1 },
        { major: 253, minor: 0, op: "write", value: 2 },
      ],
      ios: [
        { major: 253, minor: 0, op: "read", value: 3 },
        { major: 253, minor: 0, op: "write", value: 4 },
      ],
    });
  });
});
