// The start's file work in a container root built here (no root needed): the working directory
// and file mount targets through symlinks that lead out of the root, what stays untouched, and the
// mountinfo reading behind the staging cleanup. The mounts themselves are in
// test/security/start.test.ts.

import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Dir } from "../fsroot/index.js";
import { addon } from "../native/addon.js";
import { hasMountsUnder, makeWorkingDir, mountPoints, mountPointsByEntry, mountPointsUnder, prepareFileMountpoints } from "./startfs.js";

let tmp: string;
let outside: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "cove-startfs-"));
  outside = path.join(tmp, "outside");
  await mkdir(path.join(outside, "wd"), { recursive: true });
  await mkdir(path.join(outside, "etc"), { recursive: true });
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function root(name: string, build: (r: string) => Promise<void>): Promise<string> {
  const r = path.join(tmp, name);
  await mkdir(r);
  await build(r);
  return r;
}

const inRoot = <T>(r: string, fn: (d: Dir) => T): T => {
  const d = Dir.open(r);
  try {
    return fn(d);
  } finally {
    d.close();
  }
};

describe("makeWorkingDir", () => {
  it("follows a symlink out of the root inside it, 0755", async () => {
    const r = await root("wd-link", (r) => symlink(path.join(outside, "wd"), path.join(r, "w")));
    inRoot(r, (d) => makeWorkingDir(d, "/w/./sub/../sub/dir/"));
    assert.deepEqual(readdirSync(path.join(outside, "wd")), [], "nothing made outside");
    const made = statSync(path.join(r, outside, "wd", "sub", "dir"));
    assert.ok(made.isDirectory());
    assert.equal(made.mode & 0o777, 0o755 & ~process.umask());
    inRoot(r, (d) => makeWorkingDir(d, "/w/sub/dir")); // existing: nothing to do
  });

  it("says Docker's words when something in the way is not a directory", async () => {
    const r = await root("wd-file", (r) => writeFile(path.join(r, "f"), ""));
    assert.throws(() => inRoot(r, (d) => makeWorkingDir(d, "/f")), /Cannot mkdir: \/f is not a directory/);
    assert.throws(() => inRoot(r, (d) => makeWorkingDir(d, "/f/below")), /mkdir \/f\/below: not a directory$/);
  });
});

describe("prepareFileMountpoints", () => {
  it("creates missing file targets inside the root, following its links there, and leaves existing entries alone", async () => {
    const src = path.join(tmp, "src-file");
    await writeFile(src, "x");
    const r = await root("targets", async (r) => {
      await symlink(path.join(outside, "etc"), path.join(r, "etc"));
      await mkdir(path.join(r, "data"));
      await symlink("/nowhere", path.join(r, "data", "dangling"));
      await mkdir(path.join(r, "data", "isdir"));
    });
    inRoot(r, (d) =>
      prepareFileMountpoints(d, [
        { destination: "/etc/hosts", type: "bind", source: src },
        { destination: "/deep/er/file", type: "bind", source: src },
        { destination: "/data/dangling", type: "bind", source: src },
        { destination: "/data/isdir", type: "bind", source: src },
        { destination: "/dirmount", type: "bind", source: tmp },
        { destination: "/gone", type: "bind", source: path.join(tmp, "missing") },
        { destination: "/tmpfs", type: "tmpfs", source: "tmpfs" },
      ]),
    );
    assert.deepEqual(readdirSync(path.join(outside, "etc")), [], "nothing made outside");
    assert.equal(readFileSync(path.join(r, outside, "etc", "hosts"), "utf8"), "");
    assert.equal(statSync(path.join(r, outside, "etc", "hosts")).mode & 0o777, 0o644 & ~process.umask());
    assert.ok(statSync(path.join(r, "deep/er/file")).isFile());
    assert.ok(lstatSync(path.join(r, "data/dangling")).isSymbolicLink(), "an existing entry is the runtime's to resolve");
    assert.ok(!existsSync(path.join(r, "nowhere")));
    assert.ok(statSync(path.join(r, "data/isdir")).isDirectory());
    for (const n of ["dirmount", "gone", "tmpfs"]) assert.ok(!existsSync(path.join(r, n)), n);
  });
});

describe("mountPointsUnder", () => {
  it("finds the mount points at and below a directory, deepest first, unescaped", () => {
    const info = [
      "36 25 0:32 / /state/containers/c1/subpaths/0 rw,relatime shared:1 - ext4 /dev/sda rw",
      "37 25 0:32 / /state/containers/c1/subpaths/with\\040space rw,relatime - ext4 /dev/sda rw",
      "38 25 0:32 / /state/containers/c1/subpaths rw,relatime - tmpfs tmpfs rw",
      "39 25 0:32 / /state/containers/c1/subpaths-not rw,relatime - tmpfs tmpfs rw",
      "40 25 0:32 / /state/containers/c2/subpaths/0 rw,relatime - ext4 /dev/sda rw",
      "",
    ].join("\n");
    assert.deepEqual(mountPointsUnder("/state/containers/c1/subpaths", info), [
      "/state/containers/c1/subpaths/with space",
      "/state/containers/c1/subpaths/0",
      "/state/containers/c1/subpaths",
    ]);
    // the points read once (as the restore of many containers does) give the same answer
    const points = mountPoints(info);
    assert.equal(points.length, 5);
    assert.deepEqual(mountPointsUnder("/state/containers/c1/subpaths", points), mountPointsUnder("/state/containers/c1/subpaths", info));
    assert.deepEqual(mountPointsUnder("/state/containers/c3/subpaths", points), []);
  });
});

describe("mountPointsByEntry", () => {
  it("groups the points below a directory by their first component, and leaves out the rest", () => {
    const points = ["/state/containers/c1/rootfs", "/state/containers/c1/subpaths/0", "/state/containers/c2/rootfs", "/state/containers-not/c3/rootfs", "/state/containers", "/proc"];
    const by = mountPointsByEntry("/state/containers", points);
    assert.deepEqual([...by.keys()], ["c1", "c2"]);
    assert.deepEqual(by.get("c1"), ["/state/containers/c1/rootfs", "/state/containers/c1/subpaths/0"]);
    assert.deepEqual(by.get("c2"), ["/state/containers/c2/rootfs"]);
  });
});

describe("hasMountsUnder", () => {
  it("finds none in a plain tree, follows no symlink, and takes a missing directory as holding none", async () => {
    const dir = path.join(tmp, "plain");
    await mkdir(path.join(dir, "rootfs/a/b"), { recursive: true });
    await writeFile(path.join(dir, "config.v2.json"), "{}");
    // / has mounts below it (/proc): a link there is not followed
    await symlink("/", path.join(dir, "rootfs/a/to-root"));
    assert.equal(hasMountsUnder(dir), false);
    assert.equal(hasMountsUnder(path.join(tmp, "missing")), false);
  });

  it("finds a directory that is itself a mount point", () => {
    assert.equal(hasMountsUnder("/proc"), true);
  });

  it("finds bind mounts on the same filesystem, at any depth", { skip: process.getuid?.() !== 0 && "bind mounts need root" }, async () => {
    const dir = path.join(tmp, "bound");
    const source = path.join(tmp, "bind-source");
    await mkdir(path.join(dir, "subpaths/0"), { recursive: true });
    await mkdir(path.join(dir, "rootfs"), { recursive: true });
    await mkdir(source, { recursive: true });
    const a = addon();
    const target = path.join(dir, "subpaths/0");
    a.mount(source, target, null, a.constants.MS_BIND, null);
    try {
      assert.equal(hasMountsUnder(dir), true);
      assert.equal(hasMountsUnder(path.join(dir, "rootfs")), false);
    } finally {
      a.umount2(target, a.constants.MNT_DETACH);
    }
    assert.equal(hasMountsUnder(dir), false);
  });
});
