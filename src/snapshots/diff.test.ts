import assert from "node:assert/strict";
import { appendFile, chmod, link, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { startSwapper } from "../fsroot/testing.js";
import { addon } from "../native/addon.js";
import { applyLayer } from "./apply.js";
import { diffLayer, tarDirectory } from "./diff.js";
import { readTar, type TarHeader } from "./tar.js";
import { cleanup, listTree, makeTar, mountsUnder, tempDir } from "./testing.js";

let tmp: string;
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await cleanup(tmp);
});

async function collect(fn: (out: PassThrough) => Promise<unknown>): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  await fn(out);
  return Buffer.concat(chunks);
}

async function headers(tar: Buffer): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const { header } of readTar(Readable.from([tar]))) out.push(header);
  return out;
}

describe("diffLayer", () => {
  let lower: string;
  let upper: string;
  let merged: string;

  before(async () => {
    lower = path.join(tmp, "lower");
    upper = path.join(tmp, "upper");
    const work = path.join(tmp, "work");
    merged = path.join(tmp, "merged");
    await applyLayer(
      Readable.from([
        await makeTar([
          { header: { name: "etc/", type: "directory" } },
          { header: { name: "etc/keep" }, body: "keep" },
          { header: { name: "etc/modify", mode: 0o600 }, body: "old" },
          { header: { name: "etc/delete" }, body: "gone soon" },
          { header: { name: "olddir/", type: "directory" } },
          { header: { name: "olddir/a" }, body: "a" },
          { header: { name: "olddir/sub/", type: "directory" } },
          { header: { name: "olddir/sub/b" }, body: "b" },
          { header: { name: "rmdir/", type: "directory" } },
          { header: { name: "rmdir/c" }, body: "c" },
        ]),
      ]),
      lower,
    );
    await mkdir(upper);
    await mkdir(work);
    await mkdir(merged);
    addon().mount("overlay", merged, "overlay", 0, `lowerdir=${lower},upperdir=${upper},workdir=${work}`);
    try {
      await writeFile(path.join(merged, "etc/new"), "new file");
      await appendFile(path.join(merged, "etc/modify"), " and more");
      await rm(path.join(merged, "etc/delete"));
      await rm(path.join(merged, "olddir"), { recursive: true });
      await mkdir(path.join(merged, "olddir"));
      await writeFile(path.join(merged, "olddir/fresh"), "fresh");
      await rm(path.join(merged, "rmdir"), { recursive: true });
      await writeFile(path.join(merged, "hl1"), "linked");
      await link(path.join(merged, "hl1"), path.join(merged, "hl2"));
      await symlink("../etc/new", path.join(merged, "sym"));
      addon().lsetxattr(path.join(merged, "etc/new"), "user.tag", Buffer.from([1, 2, 3]), 0);
    } finally {
      addon().umount2(merged, addon().constants.MNT_DETACH);
    }
  });

  it("turns overlay whiteouts and opaque dirs into OCI whiteouts, with xattrs and hardlinks", async () => {
    const tar = await collect((out) => diffLayer(upper, [lower], out));
    const hs = await headers(tar);
    const names = hs.map((h) => h.name);
    assert.ok(names.includes("etc/.wh.delete"), names.join(" "));
    assert.ok(names.includes("olddir/.wh..wh..opq"));
    assert.ok(names.includes(".wh.rmdir"));
    assert.ok(names.includes("olddir/fresh"));
    assert.ok(!names.includes("etc/keep"), "unchanged files are not in the diff");
    assert.ok(names.indexOf("etc/.wh.delete") < names.indexOf("etc/modify"), "whiteouts come before their siblings");
    const hl2 = hs.find((h) => h.name === "hl2");
    assert.equal(hl2?.type, "link");
    assert.equal(hl2?.linkname, "hl1");
    const tagged = hs.find((h) => h.name === "etc/new");
    assert.deepEqual(tagged?.xattrs.get("user.tag"), Buffer.from([1, 2, 3]));
    for (const h of hs) for (const k of h.xattrs.keys()) assert.ok(!k.startsWith("trusted.overlay."), `${h.name} carries ${k}`);
    assert.equal(hs.find((h) => h.name === "sym")?.linkname, "../etc/new");
  });

  it("reads fuse-overlayfs's opaque attribute (user.fuseoverlayfs.opaque) as an opaque directory and drops it", async () => {
    const low = path.join(tmp, "fuse-lower");
    const up = path.join(tmp, "fuse-upper");
    await mkdir(path.join(low, "dir"), { recursive: true });
    await writeFile(path.join(low, "dir", "old"), "old");
    await mkdir(path.join(up, "dir"), { recursive: true });
    await writeFile(path.join(up, "dir", "new"), "new");
    addon().lsetxattr(path.join(up, "dir"), "user.fuseoverlayfs.opaque", Buffer.from("y"), 0);
    const hs = await headers(await collect((out) => diffLayer(up, [low], out)));
    assert.deepEqual(hs.map((h) => h.name), ["dir/", "dir/.wh..wh..opq", "dir/new"]);
    for (const h of hs) for (const k of h.xattrs.keys()) assert.ok(!k.startsWith("user.fuseoverlayfs."), `${h.name} carries ${k}`);
  });

  it("reads fuse-overlayfs's opaque marker file (a filesystem without user.* xattrs) as one opaque whiteout", async () => {
    const low = path.join(tmp, "fusefile-lower");
    const up = path.join(tmp, "fusefile-upper");
    await mkdir(path.join(low, "dir"), { recursive: true });
    await writeFile(path.join(low, "dir", "old"), "old");
    await mkdir(path.join(up, "dir"), { recursive: true });
    await writeFile(path.join(up, "dir", "new"), "new");
    // what fuse-overlayfs leaves in a directory it made opaque: the marker file and a whiteout of ".opq"
    await writeFile(path.join(up, "dir", ".wh..wh..opq"), "");
    addon().mknod(path.join(up, "dir", ".wh..opq"), 0o020000, 0, 0);
    const hs = await headers(await collect((out) => diffLayer(up, [low], out)));
    assert.deepEqual(hs.map((h) => h.name), ["dir/", "dir/.wh..wh..opq", "dir/new"]);
  });

  it("round trip: the diff applied in plain mode onto the lower equals the overlay's merged view", async () => {
    const tar = await collect((out) => diffLayer(upper, [lower], out));
    const plain = path.join(tmp, "plain");
    const base = await collect((out) => tarDirectory(lower, out));
    await applyLayer(Readable.from([base]), plain, { whiteouts: "plain" });
    await applyLayer(Readable.from([tar]), plain, { whiteouts: "plain" });

    const view = path.join(tmp, "view");
    await mkdir(view);
    addon().mount("overlay", view, "overlay", addon().constants.MS_RDONLY, `lowerdir=${upper}:${lower}`);
    try {
      const want = await listTree(view, { dirTimes: false });
      const got = await listTree(plain, { dirTimes: false });
      assert.deepEqual(got, want);
      assert.equal(await readFile(path.join(plain, "etc/modify"), "utf8"), "old and more");
    } finally {
      addon().umount2(view, addon().constants.MNT_DETACH);
    }
  });

  it("is deterministic: the same tree gives the same digest, gzip included", async () => {
    const a = await collect((out) => diffLayer(upper, [lower], out));
    const r1 = await diffLayer(upper, [lower], new PassThrough().resume());
    const r2 = await diffLayer(upper, [lower], new PassThrough().resume());
    assert.equal(r1.diffId, r2.diffId);
    assert.equal(r1.size, a.length);
    const g1chunks = await collect((out) => diffLayer(upper, [lower], out, { compression: "gzip" }));
    const g1 = await diffLayer(upper, [lower], new PassThrough().resume(), { compression: "gzip" });
    const g2 = await diffLayer(upper, [lower], new PassThrough().resume(), { compression: "gzip" });
    assert.equal(g1.digest, g2.digest);
    assert.equal(g1.diffId, r1.diffId);
    assert.notEqual(g1.digest, g1.diffId);
    assert.deepEqual(gunzipSync(g1chunks), a);
  });
});

describe("tarDirectory", () => {
  it("exports a tree that applies back to the same tree", async () => {
    const src = path.join(tmp, "src");
    await applyLayer(
      Readable.from([
        await makeTar([
          { header: { name: "bin/", type: "directory", mode: 0o755 } },
          { header: { name: "bin/tool", mode: 0o4711, uid: 12, gid: 34 }, body: "tool" },
          { header: { name: "bin/alias", type: "link", linkname: "bin/tool" } },
          { header: { name: "dev/", type: "directory" } },
          { header: { name: "dev/tty", type: "character-device", devmajor: 5, devminor: 0, mode: 0o666 } },
          { header: { name: "dev/fifo", type: "fifo" } },
          { header: { name: `${"n".repeat(150)}/f` }, body: "long" },
          { header: { name: "data", pax: { "SCHILY.xattr.user.a": "1" } }, body: Buffer.alloc(70_000, 9) },
        ]),
      ]),
      src,
    );
    const tar = await collect((out) => tarDirectory(src, out));
    const dst = path.join(tmp, "dst");
    await applyLayer(Readable.from([tar]), dst);
    assert.deepEqual(await listTree(dst), await listTree(src));
    const again = await collect((out) => tarDirectory(dst, out));
    assert.deepEqual(again, tar, "export of the copy is byte-identical");
  });

  it("leaves no mounts behind", async () => {
    assert.deepEqual(await mountsUnder(tmp), []);
  });
});

describe("walking a tree the container controls", () => {
  let outside: string;

  before(async () => {
    outside = path.join(tmp, "outside");
    await mkdir(outside);
    await writeFile(path.join(outside, "secret"), "host secret\n");
  });

  function leaked(hs: TarHeader[], tar: Buffer): boolean {
    return hs.some((h) => h.name.includes("secret")) || tar.includes("host secret");
  }

  function assertNoSecret(hs: TarHeader[], tar: Buffer, what: string): void {
    assert.ok(!leaked(hs, tar), `${what}: the tar holds the outside file`);
  }

  it("keeps symlinks out of the tree as symlinks, never following them", async () => {
    const tree = path.join(tmp, "links");
    await mkdir(path.join(tree, "d"), { recursive: true });
    await symlink(outside, path.join(tree, "abs"));
    await symlink("../../../../../../../..".concat(outside), path.join(tree, "d", "rel"));
    await symlink(path.join(outside, "secret"), path.join(tree, "file"));
    const tar = await collect((out) => tarDirectory(tree, out));
    const hs = await headers(tar);
    assertNoSecret(hs, tar, "export");
    assert.deepEqual(
      hs.map((h) => [h.name, h.type, h.linkname]),
      [
        ["abs", "symlink", outside],
        ["d/", "dir", ""],
        ["d/rel", "symlink", "../../../../../../../..".concat(outside)],
        ["file", "symlink", path.join(outside, "secret")],
      ],
    );
  });

  it("drops a whiteout whose path goes through a symlink of a lower layer (not followed onto the host)", async () => {
    const low = path.join(tmp, "wh-lower");
    const up = path.join(tmp, "wh-upper");
    await mkdir(low);
    await mkdir(path.join(up, "lnk"), { recursive: true });
    await symlink(outside, path.join(low, "lnk"));
    addon().mknod(path.join(up, "lnk", "secret"), addon().constants.S_IFCHR | 0o600, 0, 0);
    addon().mknod(path.join(up, "gone"), addon().constants.S_IFCHR | 0o600, 0, 0);
    await writeFile(path.join(low, "gone"), "g");
    const names = (await headers(await collect((out) => diffLayer(up, [low], out)))).map((h) => h.name);
    assert.deepEqual(names, [".wh.gone", "lnk/"]);
  });

  it("gives skip the entry's status and a listing read through the walk's handle", async () => {
    const tree = path.join(tmp, "skip");
    await mkdir(path.join(tree, "empty"), { recursive: true });
    await mkdir(path.join(tree, "full"));
    await writeFile(path.join(tree, "full", "f"), "f");
    const seen: string[] = [];
    const tar = await collect((out) =>
      tarDirectory(tree, out, {
        skip: (rel, st, list) => {
          seen.push(rel);
          return st.isDirectory() && list().length === 0;
        },
      }),
    );
    assert.deepEqual(seen, ["empty", "full", "full/f"]);
    assert.deepEqual((await headers(tar)).map((h) => h.name), ["full/", "full/f"]);
  });

  it("writes a carrier directory only when something below it is written or its mode or owner changed", async () => {
    const lower = path.join(tmp, "carrier-lower");
    const upper = path.join(tmp, "carrier-upper");
    for (const d of ["etc", "dev", "var"]) await mkdir(path.join(lower, d), { recursive: true, mode: 0o755 });
    // etc and var copied up for entries skip leaves out; dev for a real file; var's mode changed
    for (const d of ["etc", "dev", "var"]) await mkdir(path.join(upper, d), { recursive: true, mode: 0o755 });
    await writeFile(path.join(upper, "etc", "hosts"), "");
    await writeFile(path.join(upper, "dev", "real"), "x");
    await writeFile(path.join(upper, "var", "hosts"), "");
    await chmod(path.join(upper, "var"), 0o700);
    const tar = await collect((out) =>
      diffLayer(upper, [lower], out, { skip: (rel) => rel.endsWith("hosts"), carrier: (rel) => ["etc", "dev", "var"].includes(rel) }),
    );
    assert.deepEqual((await headers(tar)).map((h) => h.name), ["dev/", "dev/real", "var/"]);
  });

  for (const mode of ["export", "diff"] as const) {
    it(`${mode}: stays in the tree while the container swaps a directory for a symlink out`, async (t) => {
      // tree/w (a directory) and tree/wl (a symlink to the outside) are exchanged continuously
      const tree = path.join(tmp, `race-${mode}`);
      await mkdir(path.join(tree, "w", "sub"), { recursive: true });
      for (let i = 0; i < 20; i++) await writeFile(path.join(tree, "w", `in${i}`), "inside\n");
      await writeFile(path.join(tree, "w", "sub", "deep"), "deep\n");
      await symlink(outside, path.join(tree, "wl"));
      await symlink("../" + path.relative(tmp, outside), path.join(tree, "wr"));
      const swapper = await startSwapper([
        [path.join(tree, "w"), path.join(tree, "wl")],
        [path.join(tree, "w"), path.join(tree, "wr")],
      ]);
      let runs = 0;
      let leaks = 0;
      const failures: Error[] = [];
      let swaps = 0;
      try {
        const end = Date.now() + 5000;
        for (; runs < 400 && Date.now() < end; runs++) {
          let tar: Buffer;
          try {
            tar = await collect((out) => {
              out.on("error", () => undefined); // a failed walk destroys its output with the error
              return mode === "export" ? tarDirectory(tree, out) : diffLayer(tree, [], out);
            });
          } catch (err) {
            failures.push(err as Error);
            continue;
          }
          if (leaked(await headers(tar), tar)) leaks++;
        }
      } finally {
        swaps = await swapper.stop();
      }
      t.diagnostic(`${runs} walks, ${swaps} swaps, ${leaks} leaks, ${failures.length} failures`);
      assert.ok(swaps > 0, "the swapper never swapped");
      assert.equal(leaks, 0, "a tar held the file outside the tree");
      // entries that change while walked are left out: a busy container's tree still exports
      assert.deepEqual(failures, []);
    });
  }
});
