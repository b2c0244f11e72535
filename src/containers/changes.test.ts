import assert from "node:assert/strict";
import type { BigIntStats } from "node:fs";
import { describe, it } from "node:test";
import { overlayChanges, type ChangesFs } from "./changes.js";

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
  return {
    lstat: async (p) => {
      const n = tree[p.replace(/\/+$/, "") || "/"];
      if (!n) throw enoent(p);
      return stat(n);
    },
    readdir: async (p) => {
      const dir = p.replace(/\/+$/, "");
      if (tree[dir]?.type !== "dir") throw enoent(p);
      return Object.keys(tree)
        .filter((k) => k.startsWith(dir + "/") && !k.slice(dir.length + 1).includes("/"))
        .map((k) => k.slice(dir.length + 1));
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
