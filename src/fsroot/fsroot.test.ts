// The confined file access primitive against the tricks a hostile tree can play: symlink loops,
// "..", absolute and relative links out, magic links, final components that are symlinks, and a
// racing process that keeps swapping a directory with a symlink to a directory outside the root.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, readSync } from "node:fs";
import { link, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../native/addon.js";
import { Dir, treeSize } from "./index.js";

let tmp: string;
let root: string;
let outside: string;

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "cove-fsroot-"));
  root = path.join(tmp, "root");
  outside = path.join(tmp, "outside");
  await mkdir(path.join(root, "etc"), { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(outside, "secret"), "host secret\n");
  await writeFile(path.join(root, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\n");
  await symlink(outside, path.join(root, "abs-out")); // absolute: in the root, means /<outside>
  await symlink("../../outside", path.join(root, "rel-out")); // relative, climbing above the root
  await symlink("/etc", path.join(root, "abs-in"));
  await symlink("loop-b", path.join(root, "loop-a"));
  await symlink("loop-a", path.join(root, "loop-b"));
  await symlink("/proc/self/root" + outside, path.join(root, "magic"));
  await symlink("/nowhere/deep", path.join(root, "dangling"));
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function withRoot<T>(fn: (d: Dir) => T): T {
  const d = Dir.open(root);
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

function readAll(fd: number): string {
  const buf = Buffer.alloc(4096);
  const n = readSync(fd, buf, 0, buf.length, 0);
  return buf.subarray(0, n).toString();
}

describe("fsroot: paths resolved inside a root", () => {
  it("follows an absolute symlink inside the root, never to the host", () => {
    withRoot((d) => {
      const fd = d.openInRoot("/abs-in/passwd", 0);
      try {
        assert.match(readAll(fd), /^root:x:0:0/);
      } finally {
        closeSync(fd);
      }
      // abs-out names a host directory; in the root it is missing
      assert.throws(() => d.openInRoot("/abs-out/secret", 0), { code: "ENOENT" });
    });
  });

  it("clamps .. at the root", () => {
    withRoot((d) => {
      assert.throws(() => d.openInRoot("../../outside/secret", 0), { code: "ENOENT" });
      assert.throws(() => d.openInRoot("/rel-out/secret", 0), { code: "ENOENT" });
      const fd = d.openInRoot("../../../etc/passwd", 0);
      closeSync(fd);
    });
  });

  it("refuses magic links and symlink loops", () => {
    withRoot((d) => {
      assert.throws(() => d.openInRoot("/magic/secret", 0), (e: NodeJS.ErrnoException) => e.code === "ELOOP" || e.code === "ENOENT" || e.code === "EXDEV");
      assert.throws(() => d.openInRoot("/loop-a", 0), { code: "ELOOP" });
      assert.throws(() => d.walk("/loop-a/x"), { code: "ELOOP" });
    });
  });

  it("walk resolves like the container would, and mkdirAll creates inside the root", async () => {
    withRoot((d) => {
      assert.deepEqual(d.walk("/abs-in/passwd"), { resolved: "/etc/passwd", exists: true });
      assert.deepEqual(d.walk("/rel-out/x"), { resolved: "/outside/x", exists: false });
      assert.deepEqual(d.walk("/etc/../../etc"), { resolved: "/etc", exists: true });
      assert.deepEqual(d.walk("/a/../../etc"), { resolved: "/etc", exists: false });
      d.mkdirAll("/abs-out/made/here").close();
      d.mkdirAll("/dangling/sub").close();
    });
    // both created inside the root, nothing on the "host" side
    assert.deepEqual(await readdir(outside), ["secret"]);
    assert.deepEqual(await readdir(path.join(root, tmp.slice(1), "outside", "made")), ["here"]);
    assert.deepEqual(await readdir(path.join(root, "nowhere", "deep")), ["sub"]);
  });

  it("never follows a final symlink for entry operations", async () => {
    await withRoot(async (d) => {
      const etc = d.dirInRoot("/etc");
      try {
        etc.symlink(path.join(outside, "secret"), "link");
        assert.ok(etc.lstat("link").isSymbolicLink());
        assert.throws(() => etc.openFile("link"), { code: "EINVAL" }); // the symlink itself is no regular file
        assert.throws(() => etc.createFile("link", 0o644), { code: "EEXIST" });
        assert.throws(() => etc.child("link"), (e: NodeJS.ErrnoException) => e.code === "ELOOP" || e.code === "ENOTDIR");
        etc.chmod("link", 0o600);
        etc.chown("link", 1, 1);
        etc.removeAll("link");
        assert.throws(() => etc.lstat("link"), { code: "ENOENT" });
        assert.throws(() => etc.lstat("../x"), { code: "EINVAL" });
      } finally {
        etc.close();
      }
      assert.equal(await readFile(path.join(outside, "secret"), "utf8"), "host secret\n");
    });
  });

  it("removeAll removes a tree through fds without following links out", async () => {
    await mkdir(path.join(root, "tree", "a", "b"), { recursive: true });
    await writeFile(path.join(root, "tree", "a", "b", "f"), "x");
    await symlink(outside, path.join(root, "tree", "a", "out"));
    withRoot((d) => d.removeAll("tree"));
    assert.deepEqual(await readdir(outside), ["secret"]);
    await assert.rejects(readdir(path.join(root, "tree")), { code: "ENOENT" });
  });

  it("treeSize counts files once per inode and never follows links out", async () => {
    const t = path.join(tmp, "sized");
    await mkdir(path.join(t, "d"), { recursive: true });
    await writeFile(path.join(t, "a"), Buffer.alloc(1000));
    await link(path.join(t, "a"), path.join(t, "d", "a2"));
    await writeFile(path.join(t, "d", "b"), Buffer.alloc(24));
    await symlink(outside, path.join(t, "out"));
    assert.equal(await treeSize(t), 1000 + 24 + outside.length);
    assert.equal(await treeSize(path.join(tmp, "missing")), 0);
  });

  it("reads small files in the root and refuses non-regular ones", () => {
    withRoot((d) => {
      assert.match(d.readFileInRoot("/abs-in/passwd", 1 << 20)?.toString() ?? "", /^root:/);
      assert.equal(d.readFileInRoot("/abs-out/secret", 1 << 20), undefined);
      assert.throws(() => d.readFileInRoot("/etc", 1 << 20), { code: "EINVAL" });
    });
  });

  it("stays inside the root while another process swaps a directory and a symlink out", async () => {
    // the swapper exchanges root/w (a directory) and root/wl (a symlink to the outside) forever
    await mkdir(path.join(root, "w"));
    await writeFile(path.join(root, "w", "inside"), "in\n");
    await symlink(outside, path.join(root, "wl"));
    const addonPath = path.join(packageRoot(), "build", "cove.node");
    const script = `const a=require(${JSON.stringify(addonPath)});const x=a.at.RENAME_EXCHANGE;const end=Date.now()+60000;process.stdout.write("go\\n");` +
      `while(Date.now()<end){try{a.renameat2(a.at.AT_FDCWD,${JSON.stringify(path.join(root, "w"))},a.at.AT_FDCWD,${JSON.stringify(path.join(root, "wl"))},x)}catch{}}`;
    const swapper = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise((resolve, reject) => {
        swapper.stdout.once("data", resolve);
        swapper.once("exit", () => reject(new Error("the swapper did not start")));
      });
      let reads = 0;
      let hits = 0;
      for (let i = 0; i < 3000; i++) {
        const d = Dir.open(root);
        try {
          // read through the swapped name; write into it
          const data = d.readFileInRoot("/w/secret", 1 << 16);
          if (data?.toString().includes("host secret")) hits++;
          try {
            const w = d.dirInRoot("/w");
            try {
              const fd = w.createFile(`f${i}`, 0o644);
              closeSync(fd);
              w.unlink(`f${i}`);
            } finally {
              w.close();
            }
            d.mkdirAll(`/w/m${i}`).close();
          } catch {
            // ENOENT/ENOTDIR while the swap is half done
          }
          reads++;
        } finally {
          d.close();
        }
      }
      assert.ok(reads > 0);
      assert.equal(hits, 0, "read a file outside the root");
    } finally {
      swapper.kill("SIGKILL");
    }
    assert.deepEqual(await readdir(outside), ["secret"], "wrote outside the root");
  });
});

describe("fsroot: beneath a directory, and the directory itself", () => {
  it("lstatBeneath follows no symlink on the way nor at the end", async () => {
    await mkdir(path.join(root, "lb", "d"), { recursive: true });
    await writeFile(path.join(root, "lb", "d", "f"), "x");
    await symlink(outside, path.join(root, "lb", "out"));
    withRoot((d) => {
      assert.equal(d.lstatBeneath("lb/d/f")?.isFile(), true);
      assert.equal(d.lstatBeneath("/lb/d")?.isDirectory(), true);
      assert.equal(d.lstatBeneath("lb/out")?.isSymbolicLink(), true, "a final symlink is stat'ed itself");
      assert.equal(d.lstatBeneath("lb/out/secret"), undefined, "a symlink on the way is not followed");
      assert.equal(d.lstatBeneath("abs-in/passwd"), undefined);
      assert.equal(d.lstatBeneath("lb/d/f/x"), undefined);
      assert.equal(d.lstatBeneath("lb/missing"), undefined);
      assert.equal(d.lstatBeneath("../outside/secret"), undefined);
      assert.equal(d.lstatBeneath("")?.isDirectory(), true);
    });
  });

  it("chownSelf and chmodSelf change the directory the handle holds", async () => {
    await mkdir(path.join(root, "own"));
    const d = Dir.open(path.join(root, "own"));
    try {
      d.chownSelf(1234, 5678);
      d.chmodSelf(0o1750);
      const st = d.stat();
      assert.equal(st.uid, 1234n);
      assert.equal(st.gid, 5678n);
      assert.equal(st.mode & 0o7777n, 0o1750n);
    } finally {
      d.close();
    }
  });
});
