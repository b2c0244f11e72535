// Copy-up into a volume: what is kept, and that neither the image's tree nor a volume a running
// container races on can lead the copy outside them.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { chmod, chown, link, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Dir } from "../fsroot/index.js";
import { startSwapper } from "../fsroot/testing.js";
import { addon } from "../native/addon.js";
import { copyTree, isEmptyDir } from "./copy.js";

let tmp: string;
let outside: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "cove-copy-"));
  outside = path.join(tmp, "outside");
  await mkdir(outside);
  await writeFile(path.join(outside, "secret"), "host secret\n");
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function copy(src: string, dst: string): Promise<void> {
  const s = Dir.open(src);
  const d = Dir.open(dst);
  try {
    await copyTree(s, d);
  } finally {
    s.close();
    d.close();
  }
}

interface Entry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs?: bigint;
  content?: string;
  target?: string;
  rdev?: number;
  links?: number;
}

/** A comparable listing of a tree (directory times left out: copying into them changes them). */
function listing(root: string): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  const walk = (rel: string) => {
    for (const n of readdirSync(path.join(root, rel)).sort()) {
      const p = path.join(root, rel, n);
      const st = lstatSync(p, { bigint: true });
      const type = st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isFile() ? "file" : st.isFIFO() ? "fifo" : st.isCharacterDevice() ? "char" : "other";
      const e: Entry = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
      if (type !== "dir") e.mtimeNs = st.mtimeNs;
      if (type === "file") {
        e.content = readFileSync(p, "utf8");
        e.links = Number(st.nlink);
      }
      if (type === "symlink") e.target = readlinkSync(p);
      if (type === "char") e.rdev = Number(st.rdev);
      out[path.join(rel, n)] = e;
      if (st.isDirectory()) walk(path.join(rel, n));
    }
  };
  walk("");
  return out;
}

describe("volume copy-up", () => {
  it("keeps owners, modes, times, symlinks, hard links and devices; skips sockets; the root takes the source's owner and mode", async () => {
    const src = path.join(tmp, "src");
    const dst = path.join(tmp, "dst");
    await mkdir(path.join(src, "d", "e"), { recursive: true });
    await mkdir(dst);
    await writeFile(path.join(src, "d", "tool"), "tool");
    await chown(path.join(src, "d", "tool"), 12, 34);
    await chmod(path.join(src, "d", "tool"), 0o4711);
    await link(path.join(src, "d", "tool"), path.join(src, "d", "e", "alias"));
    await link(path.join(src, "d", "tool"), path.join(src, "alias2"));
    await writeFile(path.join(src, "big"), Buffer.alloc(3 << 20, 7).toString());
    await symlink(outside, path.join(src, "out"));
    await symlink("../d", path.join(src, "d", "e", "up"));
    addon().mknod(path.join(src, "tty"), addon().constants.S_IFCHR | 0o620, 5, 0);
    execFileSync("mkfifo", ["-m", "0640", path.join(src, "fifo")]);
    execFileSync("python3", ["-c", `import socket;socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path.join(src, "sock"))})`]);
    await chown(path.join(src, "d"), 1000, 1001);
    await chmod(path.join(src, "d"), 0o750);
    addon().utimensat(path.join(src, "big"), 1_600_000_000, 123_456_789, 1_600_000_001, 987_654_321);
    await chown(src, 5, 6);
    await chmod(src, 0o1777);

    const s = Dir.open(src);
    const d = Dir.open(dst);
    try {
      assert.equal(isEmptyDir(d), true);
      assert.equal(isEmptyDir(s), false);
      await copyTree(s, d);
    } finally {
      s.close();
      d.close();
    }
    const want = listing(src);
    delete want["sock"];
    assert.deepEqual(listing(dst), want);
    assert.equal(lstatSync(path.join(dst, "big"), { bigint: true }).mtimeNs, 1_600_000_001_987_654_321n, "times to the nanosecond");
    assert.equal(lstatSync(path.join(dst, "alias2")).ino, lstatSync(path.join(dst, "d", "e", "alias")).ino, "hard links stay links");
    const root = lstatSync(dst);
    assert.deepEqual([root.uid, root.gid, root.mode & 0o7777], [5, 6, 0o1777]);
    assert.deepEqual(await readdir(outside), ["secret"]);
  });

  it("neither reads outside the image's tree nor writes outside the volume while both are swapped under it", async (t) => {
    // the source: src/w (a directory) swapped with src/wl (a symlink to a host directory with a secret)
    const src = path.join(tmp, "race-src");
    await mkdir(path.join(src, "w", "sub"), { recursive: true });
    for (let i = 0; i < 40; i++) await writeFile(path.join(src, "w", `f${i}`), "inside\n");
    for (let i = 0; i < 10; i++) await writeFile(path.join(src, "w", "sub", `g${i}`), "inside\n");
    await symlink(outside, path.join(src, "wl"));
    // the volume: vol/w (made by the copy) swapped with vol/zl (a symlink to another host directory)
    const vol = path.join(tmp, "race-vol");
    const target = path.join(tmp, "target");
    await mkdir(vol);
    await mkdir(target);
    await writeFile(path.join(target, "keep"), "keep\n");
    const swapper = await startSwapper([
      [path.join(src, "w"), path.join(src, "wl")],
      [path.join(vol, "w"), path.join(vol, "zl")],
    ]);
    let runs = 0;
    let readOutside = 0;
    let failures = 0;
    let swaps = 0;
    try {
      const end = Date.now() + 5000;
      for (; runs < 200 && Date.now() < end; runs++) {
        const v = Dir.open(vol);
        try {
          for (const n of v.list()) v.removeAll(n);
          v.symlink(target, "zl");
        } finally {
          v.close();
        }
        try {
          await copy(src, vol);
        } catch {
          failures++; // an entry swapped away between its listing and its copy
        }
        // grep -r and find do not follow symlinks
        const found = spawnSync("grep", ["-rlF", "host secret", vol], { encoding: "utf8" }).stdout + spawnSync("find", [vol, "-name", "secret"], { encoding: "utf8" }).stdout;
        if (found.trim() !== "") readOutside++;
      }
    } finally {
      swaps = await swapper.stop();
    }
    t.diagnostic(`${runs} copies, ${swaps} swaps, ${failures} failed copies`);
    assert.ok(swaps > 0, "the swapper never swapped");
    assert.equal(readOutside, 0, "copied a file from outside the image's tree");
    assert.deepEqual(await readdir(target), ["keep"], "wrote outside the volume");
    assert.equal(await readFile(path.join(target, "keep"), "utf8"), "keep\n");
    assert.deepEqual(await readdir(outside), ["secret"]);
  });
});
