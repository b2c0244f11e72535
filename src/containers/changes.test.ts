import assert from "node:assert/strict";
import type { BigIntStats } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startSwapper } from "../fsroot/testing.js";
import { addon } from "../native/addon.js";
import { overlayChanges, type ChangesFs, type LayerDir } from "./changes.js";

type Node = { type: "dir"; mode?: number; opaque?: boolean } | { type: "file"; size?: number; mode?: number } | { type: "whiteout" };

/** A fake tree: absolute path → node (parents must be listed). */
function fakeFs(tree: Record<string, Node>): ChangesFs {
  const enoent = (p: string) => Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
  const stat = (n: Node): BigIntStats => {
    const isDir = n.type === "dir";
    const isWh = n.type === "whiteout";
    return {
      isDirectory: () => isDir,
      isFile: () => n.type === "file",
      isCharacterDevice: () => isWh,
      isSymbolicLink: () => false,
      rdev: 0n,
      mode: BigInt((isDir ? 0o040000 : isWh ? 0o020000 : 0o100000) | ("mode" in n && n.mode !== undefined ? n.mode : isDir ? 0o755 : 0o644)),
      uid: 0n,
      gid: 0n,
      size: BigInt(n.type === "file" ? (n.size ?? 1) : 0),
    } as unknown as BigIntStats;
  };
  const lstatSync = (p: string): BigIntStats => {
    const n = tree[p.replace(/\/+$/, "") || "/"];
    if (!n) throw enoent(p);
    return stat(n);
  };
  const list = (dir: string): string[] =>
    Object.keys(tree)
      .filter((k) => k.startsWith(dir + "/") && !k.slice(dir.length + 1).includes("/"))
      .map((k) => k.slice(dir.length + 1));
  const layerDir = (dir: string): LayerDir => ({
    list: () => list(dir),
    lstat: (name) => lstatSync(`${dir}/${name}`),
    child: (name) => {
      if (!lstatSync(`${dir}/${name}`).isDirectory()) throw Object.assign(new Error(`ENOTDIR: ${dir}/${name}`), { code: "ENOTDIR" });
      return layerDir(`${dir}/${name}`);
    },
    getXattr: (name, attr) => {
      const n = tree[`${dir}/${name}`];
      return attr === "trusted.overlay.opaque" && n?.type === "dir" && n.opaque ? Buffer.from("y") : null;
    },
    close: () => undefined,
  });
  return {
    openUpper: (p) => layerDir(p),
    lstat: async (p) => lstatSync(p),
    readdir: async (p) => {
      const dir = p.replace(/\/+$/, "");
      if (tree[dir]?.type !== "dir") throw enoent(p);
      return list(dir);
    },
    opaque: (p) => {
      const n = tree[p.replace(/\/+$/, "")];
      return n?.type === "dir" && n.opaque ? "y" : "";
    },
  };
}

const d = (extra: Partial<{ mode: number; opaque: boolean }> = {}): Node => ({ type: "dir", ...extra });
const f = (size = 1): Node => ({ type: "file", size });
const wh: Node = { type: "whiteout" };

describe("container changes (overlay upper dir)", () => {
  const lower: Record<string, Node> = {
    "/lower": d(),
    "/lower/bin": d(),
    "/lower/bin/ls": f(),
    "/lower/bin/sh": f(),
    "/lower/etc": d(),
    "/lower/etc/passwd": f(),
    "/lower/opt": d(),
    "/lower/opt/a": f(),
    "/lower/opt/b": f(),
    "/lower/tmp": d({ mode: 0o1777 }),
  };

  it("reports modified, added and deleted entries, parents once and first", async () => {
    const fs = fakeFs({
      ...lower,
      "/upper": d(),
      "/upper/bin": d(),
      "/upper/bin/ls": wh,
      "/upper/bin/gone": wh, // hides nothing below: not a change
      "/upper/etc": d(),
      "/upper/etc/passwd": f(2),
      "/upper/new": d(),
      "/upper/new/f": f(),
      "/upper/tmp": d({ mode: 0o1777 }),
    });
    assert.deepEqual(await overlayChanges("/upper", ["/lower"], fs), [
      { Path: "/bin", Kind: 0 },
      { Path: "/bin/ls", Kind: 2 },
      { Path: "/etc", Kind: 0 },
      { Path: "/etc/passwd", Kind: 0 },
      { Path: "/new", Kind: 1 },
      { Path: "/new/f", Kind: 1 },
    ]);
  });

  it("understands opaque directories: their old content is deleted, the new added", async () => {
    const fs = fakeFs({ ...lower, "/upper": d(), "/upper/opt": d({ opaque: true }), "/upper/opt/b": f(), "/upper/opt/c": f() });
    assert.deepEqual(await overlayChanges("/upper", ["/lower"], fs), [
      { Path: "/opt", Kind: 0 },
      { Path: "/opt/b", Kind: 1 },
      { Path: "/opt/c", Kind: 1 },
      { Path: "/opt/a", Kind: 2 },
    ]);
  });

  it("understands fuse-overlayfs's opaque directories: its marker file is not the container's", async () => {
    // on a filesystem without user.* xattrs fuse-overlayfs leaves a .wh..wh..opq file and a ".opq" whiteout
    const fs = fakeFs({ ...lower, "/upper": d(), "/upper/opt": d(), "/upper/opt/.wh..wh..opq": f(0), "/upper/opt/.wh..opq": wh, "/upper/opt/c": f() });
    assert.deepEqual(await overlayChanges("/upper", ["/lower"], fs), [
      { Path: "/opt", Kind: 0 },
      { Path: "/opt/c", Kind: 1 },
      { Path: "/opt/a", Kind: 2 },
      { Path: "/opt/b", Kind: 2 },
    ]);
  });

  it("reports a directory whose mode changed, and skips the mount points cove made", async () => {
    const fs = fakeFs({
      ...lower,
      "/upper": d(),
      "/upper/tmp": d({ mode: 0o700 }),
      "/upper/etc": d(),
      "/upper/etc/hosts": f(0),
      "/upper/etc/resolv.conf": f(0),
      "/upper/etc/hostname": f(5), // not empty: the user wrote it
      "/upper/dev": d(),
      "/upper/proc": d(),
    });
    assert.deepEqual(await overlayChanges("/upper", ["/lower"], fs), [
      { Path: "/etc", Kind: 0 },
      { Path: "/etc/hostname", Kind: 1 },
      { Path: "/tmp", Kind: 0 },
    ]);
  });

  it("reads through several layers: a whiteout in a nearer layer hides a file below", async () => {
    const fs = fakeFs({ ...lower, "/l2": d(), "/l2/etc": d(), "/l2/etc/passwd": wh, "/upper": d(), "/upper/etc": d(), "/upper/etc/passwd": f() });
    assert.deepEqual(await overlayChanges("/upper", ["/l2", "/lower"], fs), [
      { Path: "/etc", Kind: 0 },
      { Path: "/etc/passwd", Kind: 1 },
    ]);
  });
});

describe("container changes on a real upper directory", () => {
  let tmp: string;
  let outside: string;

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), "cove-changes-"));
    outside = path.join(tmp, "outside");
    await mkdir(outside);
    await writeFile(path.join(outside, "secret"), "host secret\n");
  });

  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("reads whiteouts, opaque directories, added symlinks and the mount points cove made", async () => {
    const lower = path.join(tmp, "lower");
    const upper = path.join(tmp, "upper");
    for (const d of ["etc", "opt", "lnk-target"]) await mkdir(path.join(lower, d), { recursive: true });
    for (const f of ["etc/passwd", "etc/group", "opt/a", "opt/b"]) await writeFile(path.join(lower, f), f);
    for (const d of ["etc", "opt", "new", "link"]) await mkdir(path.join(upper, d), { recursive: true });
    addon().mknod(path.join(upper, "etc", "group"), addon().constants.S_IFCHR | 0o600, 0, 0);
    await writeFile(path.join(upper, "etc", "passwd"), "changed");
    await writeFile(path.join(upper, "etc", "hosts"), ""); // a mount point cove made
    addon().lsetxattr(path.join(upper, "opt"), "trusted.overlay.opaque", Buffer.from("y"), 0);
    await writeFile(path.join(upper, "opt", "b"), "b2");
    await writeFile(path.join(upper, "new", "f"), "f");
    await symlink(outside, path.join(upper, "link", "out")); // a symlink added: reported, never followed
    assert.deepEqual(await overlayChanges(upper, [lower]), [
      { Path: "/etc", Kind: 0 },
      { Path: "/etc/group", Kind: 2 },
      { Path: "/etc/passwd", Kind: 0 },
      { Path: "/link", Kind: 1 },
      { Path: "/link/out", Kind: 1 },
      { Path: "/new", Kind: 1 },
      { Path: "/new/f", Kind: 1 },
      { Path: "/opt", Kind: 0 },
      { Path: "/opt/b", Kind: 1 },
      { Path: "/opt/a", Kind: 2 },
    ]);
  });

  it("stays in the upper directory while the container swaps a directory for a symlink out", async (t) => {
    const upper = path.join(tmp, "race");
    await mkdir(path.join(upper, "w", "sub"), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(path.join(upper, "w", `in${i}`), "inside\n");
    await symlink(outside, path.join(upper, "wl"));
    const swapper = await startSwapper([[path.join(upper, "w"), path.join(upper, "wl")]]);
    let runs = 0;
    let leaks = 0;
    const failures: Error[] = [];
    let swaps = 0;
    try {
      const end = Date.now() + 4000;
      for (; runs < 400 && Date.now() < end; runs++) {
        try {
          const changes = await overlayChanges(upper, []);
          if (changes.some((c) => c.Path.includes("secret"))) leaks++;
        } catch (err) {
          failures.push(err as Error);
        }
      }
    } finally {
      swaps = await swapper.stop();
    }
    t.diagnostic(`${runs} walks, ${swaps} swaps, ${leaks} leaks, ${failures.length} failures`);
    assert.ok(swaps > 0, "the swapper never swapped");
    assert.equal(leaks, 0, "reported an entry of the directory outside the upper");
    assert.deepEqual(failures, []);
  });
});
