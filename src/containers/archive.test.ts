import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Dir } from "../fsroot/index.js";
import { containerAbsPath, encodePathStat, goFileMode, goTime, kernelMountPoints, locate, pathStat } from "./archive.js";

/** The path p resolves to inside root, as the container would resolve it. */
async function resolveInRoot(root: string, p: string): Promise<string> {
  const d = Dir.open(root);
  try {
    return d.walk(p).resolved;
  } finally {
    d.close();
  }
}

describe("archive path stat", () => {
  it("converts st_mode to Go's os.FileMode", () => {
    assert.equal(goFileMode(0o100644), 0o644);
    assert.equal(goFileMode(0o040755), 2147484141); // as dockerd sends a directory
    assert.equal(goFileMode(0o120777), 134218239); // a symlink
    assert.equal(goFileMode(0o041777), 2 ** 31 + 2 ** 20 + 0o777); // sticky dir
    assert.equal(goFileMode(0o104755), 2 ** 23 + 0o755); // setuid
    assert.equal(goFileMode(0o020666), 2 ** 26 + 2 ** 21 + 0o666); // char device
    assert.equal(goFileMode(0o010644), 2 ** 25 + 0o644); // fifo
  });

  it("formats times as Go's time.Time JSON (nanoseconds, trailing zeros dropped)", () => {
    assert.equal(goTime(1_764_662_602_467_712_597n), "2025-12-02T08:03:22.467712597Z");
    assert.equal(goTime(1_764_662_582_000_000_000n), "2025-12-02T08:03:02Z");
    assert.equal(goTime(1_764_662_582_500_000_000n), "2025-12-02T08:03:02.5Z");
  });

  it("encodes the header as base64 JSON with Docker's keys in order", () => {
    const h = encodePathStat({ name: "sh", size: 12, mode: 134218239, mtime: "2026-12-02T08:03:02Z", linkTarget: "/bin/busybox" });
    assert.equal(Buffer.from(h, "base64").toString(), '{"name":"sh","size":12,"mode":134218239,"mtime":"2026-12-02T08:03:02Z","linkTarget":"/bin/busybox"}');
  });

  it("finds the kernel filesystems and /dev of a container's mountinfo", () => {
    const mi = [
      "100 90 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c",
      "101 100 0:51 / /proc rw,nosuid - proc proc rw",
      "102 100 0:52 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k",
      "103 102 0:53 / /dev/pts rw - devpts devpts rw",
      "104 100 0:54 / /sys ro - sysfs sysfs ro",
      "105 100 8:1 /srv/data /data rw - ext4 /dev/sda1 rw",
      "106 100 0:55 / /my\\040dir rw - cgroup2 cgroup2 rw",
    ].join("\n");
    assert.deepEqual([...kernelMountPoints(mi)].sort(), ["/dev", "/dev/pts", "/my dir", "/proc", "/sys"]);
  });

  it("keeps a trailing / or /. as dockerd does", () => {
    assert.equal(containerAbsPath("etc/"), "/etc/");
    assert.equal(containerAbsPath("/etc/."), "/etc/.");
    assert.equal(containerAbsPath("/a/../b//c"), "/b/c");
    assert.equal(containerAbsPath("/"), "/");
    assert.equal(containerAbsPath("../../.."), "/");
  });
});

describe("path resolution inside a container root", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "cove-archive-"));
    await mkdir(path.join(root, "etc"), { recursive: true });
    await mkdir(path.join(root, "data/sub"), { recursive: true });
    await writeFile(path.join(root, "etc/passwd"), "root\n");
    await symlink("/", path.join(root, "rootlink"));
    await symlink("../../../../../../etc", path.join(root, "data/up"));
    await symlink("/etc/passwd", path.join(root, "pw"));
    await symlink("loop2", path.join(root, "loop1"));
    await symlink("loop1", path.join(root, "loop2"));
    await symlink("sub", path.join(root, "data/rel"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("never leaves the root: absolute targets and .. stop at the container's /", async () => {
    assert.equal(await resolveInRoot(root, "/rootlink/etc/passwd"), "/etc/passwd");
    assert.equal(await resolveInRoot(root, "/data/up/passwd"), "/etc/passwd");
    assert.equal(await resolveInRoot(root, "/../../../etc"), "/etc");
    assert.equal(await resolveInRoot(root, "/data/rel/x/y"), "/data/sub/x/y");
    assert.equal(await resolveInRoot(root, "/missing/../etc"), "/etc");
  });

  it("refuses symlink loops", async () => {
    await assert.rejects(resolveInRoot(root, "/loop1/x"), { code: "ELOOP" });
  });

  it("stats the last component without following it, unless the path ends in /", async () => {
    const d = Dir.open(root);
    try {
      const loc = locate(d, "/pw", "c");
      const stat = pathStat(d, loc);
      loc.dir.close();
      assert.equal(stat.name, "pw");
      assert.equal(stat.linkTarget, "/etc/passwd");
      assert.equal(stat.mode & 2 ** 27, 2 ** 27);
      const dir = locate(d, "/rootlink/", "c");
      dir.dir.close();
      assert.equal(dir.inRoot, "/");
      assert.equal(dir.name, null);
      assert.throws(() => locate(d, "/nope/x", "c1"), { message: "Could not find the file /nope/x in container c1" });
    } finally {
      d.close();
    }
  });
});
