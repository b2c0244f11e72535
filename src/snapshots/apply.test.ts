import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, lstat, mkdir, readFile, readdir, readlink, stat, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { CoveError } from "../common/errors.js";
import { addon } from "../native/addon.js";
import { applyLayer, normalizeEntryName } from "./apply.js";
import { END_OF_ARCHIVE, encodeHeader, padding } from "./tar.js";
import { cleanup, listTree, makeTar, mountsUnder, tempDir } from "./testing.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const from = (b: Buffer) => Readable.from([b]);
const T = new Date(1_700_000_000_000);

let tmp: string;
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await cleanup(tmp);
});

let n = 0;
const fresh = () => path.join(tmp, `d${n++}`);

async function siblings(dest: string): Promise<string[]> {
  const base = path.basename(dest);
  return (await readdir(path.dirname(dest))).filter((x) => x.startsWith(base + ".")).sort();
}

describe("normalizeEntryName", () => {
  it("strips leading / and ./, folds . and .., refuses escapes", () => {
    assert.deepEqual(normalizeEntryName("./a/b/"), ["a", "b"]);
    assert.deepEqual(normalizeEntryName("/etc//passwd"), ["etc", "passwd"]);
    assert.deepEqual(normalizeEntryName("a/./b/../c"), ["a", "c"]);
    assert.deepEqual(normalizeEntryName("./"), []);
    assert.throws(() => normalizeEntryName("../x"), /escapes/);
    assert.throws(() => normalizeEntryName("a/../../x"), /escapes/);
  });
});

describe("applyLayer: entry types and attributes", () => {
  it("creates every entry type with owner, mode, times, links, devices and xattrs", async () => {
    const longDir = "d".repeat(80) + "/" + "e".repeat(80);
    const longTarget = "/" + "t".repeat(150);
    const layer = await makeTar([
      { header: { name: "etc/", type: "directory", mode: 0o750, uid: 0, gid: 4, mtime: T } },
      { header: { name: "etc/hosts", mode: 0o640, uid: 1000, gid: 1001, mtime: new Date(1_500_000_000_000) }, body: "127.0.0.1 localhost\n" },
      { header: { name: "bin/busybox", mode: 0o4755, uid: 0, gid: 0 }, body: "ELF..." },
      { header: { name: "bin/ls", type: "link", linkname: "bin/busybox" } },
      { header: { name: "bin/sh", type: "symlink", linkname: "busybox", uid: 5, gid: 6, mtime: new Date(1_400_000_000_000) } },
      { header: { name: "tmp/", type: "directory", mode: 0o1777 } },
      { header: { name: "srv/", type: "directory", mode: 0o2755, uid: 7, gid: 8 } },
      { header: { name: "dev/null", type: "character-device", mode: 0o666, devmajor: 1, devminor: 3 } },
      { header: { name: "dev/sda", type: "block-device", mode: 0o660, gid: 6, devmajor: 8, devminor: 0 } },
      { header: { name: "run/fifo", type: "fifo", mode: 0o620 } },
      { header: { name: `${longDir}/file`, mode: 0o600 }, body: "deep" },
      { header: { name: "long-link", type: "symlink", linkname: longTarget } },
      { header: { name: "with-xattr", mode: 0o644, pax: { "SCHILY.xattr.user.note": "hello", mtime: "1600000000.123456789" } }, body: "x" },
    ]);
    const dest = fresh();
    const res = await applyLayer(from(layer), dest);
    assert.equal(res.diffId, sha(layer));
    assert.equal(res.size, layer.length);
    assert.equal(res.entries, 13);

    const etc = await lstat(path.join(dest, "etc"));
    assert.ok(etc.isDirectory());
    assert.equal(etc.mode & 0o7777, 0o750);
    assert.equal(etc.gid, 4);
    assert.equal(etc.mtimeMs, T.getTime(), "directory mtime is set after its contents are written");

    const hosts = await lstat(path.join(dest, "etc/hosts"));
    assert.equal(hosts.mode & 0o7777, 0o640);
    assert.equal(hosts.uid, 1000);
    assert.equal(hosts.gid, 1001);
    assert.equal(hosts.mtimeMs, 1_500_000_000_000);
    assert.equal(await readFile(path.join(dest, "etc/hosts"), "utf8"), "127.0.0.1 localhost\n");

    const bb = await lstat(path.join(dest, "bin/busybox"));
    assert.equal(bb.mode & 0o7777, 0o4755, "setuid survives chown");
    const ls = await lstat(path.join(dest, "bin/ls"));
    assert.equal(ls.ino, bb.ino, "hardlink shares the inode");
    assert.equal(bb.nlink, 2);

    const sh = await lstat(path.join(dest, "bin/sh"));
    assert.ok(sh.isSymbolicLink());
    assert.equal(await readlink(path.join(dest, "bin/sh")), "busybox");
    assert.equal(sh.uid, 5);
    assert.equal(sh.gid, 6);
    assert.equal(sh.mtimeMs, 1_400_000_000_000, "symlink mtime set without following it");

    assert.equal((await lstat(path.join(dest, "tmp"))).mode & 0o7777, 0o1777);
    assert.equal((await lstat(path.join(dest, "srv"))).mode & 0o7777, 0o2755);

    const nul = await lstat(path.join(dest, "dev/null"));
    assert.ok(nul.isCharacterDevice());
    assert.equal(nul.rdev, (1 << 8) | 3);
    assert.equal(nul.mode & 0o7777, 0o666);
    const sda = await lstat(path.join(dest, "dev/sda"));
    assert.ok(sda.isBlockDevice());
    assert.equal(sda.rdev, 8 << 8);
    const fifo = await lstat(path.join(dest, "run/fifo"));
    assert.ok(fifo.isFIFO());
    assert.equal(fifo.mode & 0o7777, 0o620);

    assert.equal(await readFile(path.join(dest, longDir, "file"), "utf8"), "deep");
    assert.equal(await readlink(path.join(dest, "long-link")), longTarget);

    assert.equal(addon().lgetxattr(path.join(dest, "with-xattr"), "user.note")?.toString(), "hello");
    const st = await lstat(path.join(dest, "with-xattr"), { bigint: true });
    assert.equal(st.mtimeNs, 1_600_000_000_123_456_789n, "PAX mtime kept to the nanosecond");
    assert.deepEqual(await siblings(dest), [], "no staging directory left");
  });

  it("applies binary xattrs (security.capability) after chown", async () => {
    // vfs_cap_data v2 for cap_net_bind_service (bit 10), effective
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const body = Buffer.from("#!/bin/true\n");
    const layer = Buffer.concat([
      encodeHeader({ name: "usr/bin/ping", type: "file", mode: 0o755, uid: 0, gid: 0, size: body.length, mtimeSec: 1, xattrs: new Map([["security.capability", cap], ["user.bin", Buffer.from([0, 255, 128, 10])]]) }),
      body,
      Buffer.alloc(padding(body.length)),
      END_OF_ARCHIVE,
    ]);
    const dest = fresh();
    await applyLayer(from(layer), dest);
    const f = path.join(dest, "usr/bin/ping");
    assert.deepEqual(addon().lgetxattr(f, "security.capability"), cap);
    assert.deepEqual(addon().lgetxattr(f, "user.bin"), Buffer.from([0, 255, 128, 10]));
    const parent = await lstat(path.join(dest, "usr/bin"));
    assert.equal(parent.mode & 0o7777, 0o755, "implicit parents are 0755");
  });

  it("reads GNU tar's long names, old-GNU and PAX sparse files (tar CLI)", async (t) => {
    if (spawnSync("tar", ["--version"]).status !== 0) return t.skip("GNU tar is not installed");
    const src = path.join(tmp, `gnu-src-${n++}`);
    const deep = path.join(src, "x".repeat(120), "y".repeat(120));
    await mkdir(deep, { recursive: true });
    await writeFile(path.join(deep, "f"), "long");
    const sparse = path.join(src, "sparse");
    await writeFile(sparse, "");
    await truncate(sparse, 32 * 1024 * 1024);
    const fh = await import("node:fs/promises").then((m) => m.open(sparse, "r+"));
    await fh.write(Buffer.from("middle"), 0, 6, 16 * 1024 * 1024);
    await fh.write(Buffer.from("end"), 0, 3, 32 * 1024 * 1024 - 3);
    await fh.close();
    for (const args of [["--format=gnu"], ["--format=pax", "--sparse-version=1.0"], ["--format=pax", "--sparse-version=0.1"], ["--format=pax", "--sparse-version=0.0"]]) {
      const r = spawnSync("tar", ["-c", "--sparse", ...args, "-C", src, "."], { maxBuffer: 1 << 28 });
      assert.equal(r.status, 0, r.stderr.toString());
      const dest = fresh();
      await applyLayer(from(r.stdout), dest, { compression: "none" });
      assert.equal(await readFile(path.join(dest, "x".repeat(120), "y".repeat(120), "f"), "utf8"), "long", args.join(" "));
      const out = path.join(dest, "sparse");
      const st = await stat(out);
      assert.equal(st.size, 32 * 1024 * 1024, args.join(" "));
      assert.ok(st.blocks * 512 < 1024 * 1024, `${args.join(" ")}: sparse output stays sparse (${st.blocks} blocks)`);
      const data = await readFile(out);
      assert.equal(data.subarray(16 * 1024 * 1024, 16 * 1024 * 1024 + 6).toString(), "middle");
      assert.equal(data.subarray(data.length - 3).toString(), "end");
      assert.equal(createHash("sha256").update(data).digest("hex"), createHash("sha256").update(await readFile(sparse)).digest("hex"));
    }
  });

  it("streams a 64 MiB file without buffering it and leaves zero runs as holes", async () => {
    const size = 64 * 1024 * 1024;
    const chunk = 1024 * 1024;
    const hash = createHash("sha256");
    async function* gen(): AsyncGenerator<Buffer> {
      const h = encodeHeader({ name: "big.img", type: "file", mode: 0o644, uid: 0, gid: 0, size, mtimeSec: 1 });
      hash.update(h);
      yield h;
      for (let i = 0; i < size / chunk; i++) {
        const b = Buffer.alloc(chunk);
        if (i % 16 === 0) b.write(`block ${i}`, 100);
        hash.update(b);
        yield b;
      }
      hash.update(END_OF_ARCHIVE);
      yield END_OF_ARCHIVE;
    }
    const dest = fresh();
    const before = process.memoryUsage().rss;
    const res = await applyLayer(Readable.from(gen()), dest, { compression: "none" });
    assert.ok(process.memoryUsage().rss - before < 60 * 1024 * 1024, "the 64 MiB file is not held in memory");
    assert.equal(res.diffId, `sha256:${hash.digest("hex")}`);
    const st = await stat(path.join(dest, "big.img"));
    assert.equal(st.size, size);
    assert.ok(st.blocks * 512 < 8 * 1024 * 1024, `mostly holes (${st.blocks} blocks)`);
    const fh = await import("node:fs/promises").then((m) => m.open(path.join(dest, "big.img"), "r"));
    const b = Buffer.alloc(16);
    await fh.read(b, 0, 9, 32 * chunk + 100);
    await fh.close();
    assert.equal(b.subarray(0, 9).toString(), "block 32\0");
  });
});

describe("applyLayer: whiteouts", () => {
  const lower = () =>
    makeTar([
      { header: { name: "a/", type: "directory" } },
      { header: { name: "a/file1" }, body: "1" },
      { header: { name: "a/file2" }, body: "2" },
      { header: { name: "b/", type: "directory" } },
      { header: { name: "b/x" }, body: "x" },
      { header: { name: "c/", type: "directory" } },
      { header: { name: "c/dir/", type: "directory" } },
      { header: { name: "c/dir/y" }, body: "y" },
      { header: { name: "c/keep" }, body: "k" },
    ]);
  const upper = () =>
    makeTar([
      { header: { name: "a/.wh.file1" } },
      { header: { name: ".wh.b" } },
      { header: { name: "c/", type: "directory", mode: 0o700 } },
      { header: { name: "c/new" }, body: "new" },
      { header: { name: "c/.wh..wh..opq" } },
      { header: { name: "d/" , type: "directory"} },
      { header: { name: "d/same-layer" }, body: "s" },
      { header: { name: "d/.wh.same-layer" } },
    ]);

  it("overlay mode writes whiteout devices and opaque xattrs that overlayfs honours", async () => {
    const l1 = fresh();
    const l2 = fresh();
    await applyLayer(from(await lower()), l1);
    await applyLayer(from(await upper()), l2, { whiteouts: "overlay" });
    const wh = await lstat(path.join(l2, "a/file1"));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, "a/file1 is an overlay whiteout");
    assert.ok((await lstat(path.join(l2, "b"))).isCharacterDevice());
    assert.equal(addon().lgetxattr(path.join(l2, "c"), "trusted.overlay.opaque")?.toString(), "y");
    assert.equal(await readFile(path.join(l2, "d/same-layer"), "utf8"), "s", "a whiteout never hides its own layer");
    const all = await listTree(l2);
    assert.ok(!all.some((l) => l.includes(".wh.")), "no whiteout file survives");

    const mnt = fresh();
    await mkdir(mnt);
    addon().mount("overlay", mnt, "overlay", addon().constants.MS_RDONLY, `lowerdir=${l2}:${l1}`);
    try {
      assert.deepEqual((await readdir(mnt)).sort(), ["a", "c", "d"]);
      assert.deepEqual(await readdir(path.join(mnt, "a")), ["file2"]);
      assert.deepEqual(await readdir(path.join(mnt, "c")), ["new"]);
      assert.equal(((await stat(path.join(mnt, "c"))).mode & 0o777), 0o700);
    } finally {
      addon().umount2(mnt, addon().constants.MNT_DETACH);
    }
  });

  it("overlay mode: a directory recreated after its whiteout in the same layer is opaque", async () => {
    const l1 = fresh();
    const l2 = fresh();
    await applyLayer(from(await lower()), l1);
    await applyLayer(from(await makeTar([{ header: { name: ".wh.b" } }, { header: { name: "b/", type: "directory" } }, { header: { name: "b/fresh" }, body: "f" }])), l2);
    assert.equal(addon().lgetxattr(path.join(l2, "b"), "trusted.overlay.opaque")?.toString(), "y");
    const mnt = fresh();
    await mkdir(mnt);
    addon().mount("overlay", mnt, "overlay", addon().constants.MS_RDONLY, `lowerdir=${l2}:${l1}`);
    try {
      assert.deepEqual(await readdir(path.join(mnt, "b")), ["fresh"]);
    } finally {
      addon().umount2(mnt, addon().constants.MNT_DETACH);
    }
  });

  it("plain mode deletes what whiteouts name and empties opaque directories", async () => {
    const dest = fresh();
    await applyLayer(from(await lower()), dest, { whiteouts: "plain" });
    await applyLayer(from(await upper()), dest, { whiteouts: "plain" });
    assert.deepEqual((await readdir(dest)).sort(), ["a", "c", "d"]);
    assert.deepEqual(await readdir(path.join(dest, "a")), ["file2"]);
    assert.deepEqual(await readdir(path.join(dest, "c")), ["new"]);
    assert.deepEqual(await readdir(path.join(dest, "d")), ["same-layer"]);
    assert.deepEqual(await siblings(dest), []);
  });

  it("refuses a whiteout with no name", async () => {
    const dest = fresh();
    await assert.rejects(applyLayer(from(await makeTar([{ header: { name: "a/.wh." } }])), dest), /names nothing/);
    assert.equal(existsSync(dest), false);
  });
});

describe("applyLayer: hostile layers are refused and change nothing", () => {
  let outside: string;
  before(async () => {
    outside = path.join(tmp, "outside");
    await mkdir(outside);
    await writeFile(path.join(outside, "passwd"), "root:x:0:0\n");
  });

  const base = () =>
    makeTar([
      { header: { name: "etc/", type: "directory" } },
      { header: { name: "etc/passwd" }, body: "root\n" },
      { header: { name: "sub/", type: "directory" } },
      { header: { name: "sub/f" }, body: "f" },
      { header: { name: "evil", type: "symlink", linkname: "/" } },
    ]);

  const cases: Array<{ name: string; entries: () => import("./testing.js").TarSpec[]; match: RegExp }> = [
    { name: "../x", entries: () => [{ header: { name: "../x" }, body: "x" }], match: /"\.\.\/x" escapes/ },
    { name: "a/../../x", entries: () => [{ header: { name: "a/../../x" }, body: "x" }], match: /"a\/\.\.\/\.\.\/x" escapes/ },
    {
      name: "symlink parent to /",
      entries: () => [
        { header: { name: "link", type: "symlink", linkname: "/" } },
        { header: { name: "link/etc/passwd" }, body: "pwned" },
      ],
      match: /"link\/etc\/passwd" passes through the symlink "link"/,
    },
    {
      name: "symlink parent to outside dir",
      entries: () => [
        { header: { name: "out", type: "symlink", linkname: outside } },
        { header: { name: "out/passwd" }, body: "pwned" },
      ],
      match: /"out\/passwd" passes through the symlink "out"/,
    },
    {
      name: "symlink parent pointing inside",
      entries: () => [
        { header: { name: "inside", type: "symlink", linkname: "sub" } },
        { header: { name: "inside/file" }, body: "f" },
      ],
      match: /"inside\/file" passes through the symlink "inside"/,
    },
    {
      name: "hardlink escaping with ..",
      entries: () => [{ header: { name: "hl", type: "link", linkname: "../../etc/passwd" } }],
      match: /hardlink target of "hl".*escapes/,
    },
    {
      name: "hardlink to a symlink pointing out",
      entries: () => [
        { header: { name: "sl", type: "symlink", linkname: path.join(outside, "passwd") } },
        { header: { name: "hl2", type: "link", linkname: "sl" } },
      ],
      match: /hardlink "hl2" points at "sl", which is a symlink/,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: into a new directory`, async () => {
      const dest = fresh();
      const layer = await makeTar([{ header: { name: "good" }, body: "written before the bad entry" }, ...c.entries()]);
      const err = await applyLayer(from(layer), dest).then(
        () => assert.fail("applied a hostile layer"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof CoveError && err.kind === "invalid", String(err));
      assert.match(err.message, c.match);
      assert.equal(existsSync(dest), false);
      assert.deepEqual(await siblings(dest), []);
      assert.deepEqual(await readdir(outside), ["passwd"]);
      assert.equal(await readFile(path.join(outside, "passwd"), "utf8"), "root:x:0:0\n");
    });

    it(`${c.name}: onto an existing tree (plain mode)`, async () => {
      const dest = fresh();
      await applyLayer(from(await base()), dest, { whiteouts: "plain" });
      const before = await listTree(dest, { nanos: true });
      const layer = await makeTar([
        { header: { name: "good" }, body: "written before the bad entry" },
        { header: { name: "etc/passwd" }, body: "replaced before the bad entry" },
        { header: { name: ".wh.sub" } },
        ...c.entries(),
      ]);
      await assert.rejects(applyLayer(from(layer), dest, { whiteouts: "plain" }), c.match);
      assert.deepEqual(await listTree(dest, { nanos: true }), before);
      assert.deepEqual(await siblings(dest), []);
      assert.equal(await readFile(path.join(outside, "passwd"), "utf8"), "root:x:0:0\n");
    });
  }

  it("refuses writing through a symlink already in the destination", async () => {
    const dest = fresh();
    await applyLayer(from(await base()), dest, { whiteouts: "plain" });
    const before = await listTree(dest, { nanos: true });
    await assert.rejects(applyLayer(from(await makeTar([{ header: { name: "evil/tmp/pwned" }, body: "x" }])), dest, { whiteouts: "plain" }), /"evil\/tmp\/pwned" passes through the symlink "evil"/);
    assert.deepEqual(await listTree(dest, { nanos: true }), before);
  });

  it("keeps absolute names inside the destination (leading / stripped, as the spec allows)", async () => {
    const dest = fresh();
    await applyLayer(from(await makeTar([{ header: { name: "/abs/file" }, body: "inside" }])), dest);
    assert.equal(await readFile(path.join(dest, "abs/file"), "utf8"), "inside");
  });

  it("a symlink entry may point anywhere: it is only followed by the container", async () => {
    const dest = fresh();
    await applyLayer(from(await makeTar([{ header: { name: "etc/mtab", type: "symlink", linkname: "/proc/self/mounts" } }])), dest);
    assert.equal(await readlink(path.join(dest, "etc/mtab")), "/proc/self/mounts");
  });
});

describe("applyLayer: corrupt input", () => {
  const good = () =>
    makeTar([
      { header: { name: "a/", type: "directory" } },
      { header: { name: "a/big" }, body: Buffer.alloc(200_000, 7) },
      { header: { name: "a/small" }, body: "s" },
    ]);

  it("a truncated gzip stream fails and leaves nothing", async () => {
    const gz = gzipSync(await good());
    const dest = fresh();
    await assert.rejects(applyLayer(from(gz.subarray(0, gz.length - 40)), dest), (e: unknown) => e instanceof CoveError && /gzip stream is corrupt or truncated/.test(e.message));
    assert.equal(existsSync(dest), false);
    assert.deepEqual(await siblings(dest), []);
  });

  it("a truncated tar fails and leaves nothing", async () => {
    const t = await good();
    const dest = fresh();
    await assert.rejects(applyLayer(from(t.subarray(0, 100_000)), dest, { compression: "none" }), /truncated: it ends inside the body of "a\/big"/);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(await siblings(dest), []);
  });

  it("garbage is not a tar", async () => {
    const dest = fresh();
    await assert.rejects(applyLayer(from(Buffer.alloc(1024, 0x41)), dest), /corrupt/);
    assert.equal(existsSync(dest), false);
  });

  it("a wrong expected diff ID fails and leaves nothing; the right one passes", async () => {
    const t = await good();
    const gz = gzipSync(t);
    const dest = fresh();
    await assert.rejects(applyLayer(from(gz), dest, { expectedDiffId: sha(Buffer.from("other")) }), (e: unknown) => e instanceof CoveError && e.code === "layer.digest-mismatch");
    assert.equal(existsSync(dest), false);
    const res = await applyLayer(from(gz), dest, { expectedDiffId: sha(t) });
    assert.equal(res.diffId, sha(t));
    assert.equal((await readFile(path.join(dest, "a/big"))).length, 200_000);
  });

  it("applies into an existing empty directory (a snapshot's fs dir)", async () => {
    const dest = fresh();
    await mkdir(dest);
    await chmod(dest, 0o755);
    await applyLayer(from(await good()), dest);
    assert.deepEqual(await readdir(dest), ["a"]);
    assert.deepEqual(await siblings(dest), []);
  });
});

describe("applyLayer: zstd", () => {
  const hasZstd = spawnSync("zstd", ["--version"]).status === 0;

  it("decompresses zstd layers (made with the zstd CLI) and hashes the tar", async (t) => {
    if (!hasZstd) return t.skip("the zstd CLI is not installed (apt-get install zstd)");
    const tar = await makeTar([
      { header: { name: "z/" , type: "directory"} },
      { header: { name: "z/data" }, body: Buffer.alloc(300_000, 3) },
    ]);
    const z = spawnSync("zstd", ["-c", "-q"], { input: tar, maxBuffer: 1 << 26 });
    assert.equal(z.status, 0);
    const dest = fresh();
    const res = await applyLayer(from(z.stdout), dest);
    assert.equal(res.diffId, sha(tar));
    assert.deepEqual(await readFile(path.join(dest, "z/data")), Buffer.alloc(300_000, 3));
    // chunked input, explicit compression
    const chunks: Buffer[] = [];
    for (let i = 0; i < z.stdout.length; i += 7) chunks.push(z.stdout.subarray(i, i + 7));
    const dest2 = fresh();
    assert.equal((await applyLayer(Readable.from(chunks), dest2, { compression: "zstd" })).diffId, sha(tar));
  });

  it("a truncated zstd stream fails and leaves nothing", async (t) => {
    if (!hasZstd) return t.skip("the zstd CLI is not installed (apt-get install zstd)");
    const tar = await makeTar([{ header: { name: "r" }, body: Buffer.from(createHash("sha512").update("x").digest("hex").repeat(2000)) }]);
    const z = spawnSync("zstd", ["-c", "-q"], { input: tar }).stdout;
    const dest = fresh();
    await assert.rejects(applyLayer(from(z.subarray(0, z.length - 10)), dest), (e: unknown) => e instanceof CoveError && e.kind === "invalid");
    assert.equal(existsSync(dest), false);
    assert.deepEqual(await siblings(dest), []);
  });
});

describe("test hygiene", () => {
  it("leaves no mounts behind", async () => {
    assert.deepEqual(await mountsUnder(tmp), []);
  });
});

describe("applyLayer: large files", () => {
  it("writes files past the pooled-write size byte for byte, zero runs included, in pieces of any size", async () => {
    // 40 MiB: more than the bytes one file may have in flight; 3 MiB with a zeroed middle; a file just under the threshold
    const big = Buffer.alloc(40 << 20);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const holed = Buffer.alloc(3 << 20, 7);
    holed.fill(0, 1 << 20, 2 << 20);
    const small = Buffer.alloc((1 << 20) - 1, 9);
    const layer = await makeTar([
      { header: { name: "big", mode: 0o755, uid: 3, gid: 4 }, body: big },
      { header: { name: "holed", mode: 0o600 }, body: holed },
      { header: { name: "small", mode: 0o644 }, body: small },
    ]);
    // odd piece sizes, so writes start and end mid-block
    const pieces: Buffer[] = [];
    for (let off = 0; off < layer.length; off += 777_777) pieces.push(layer.subarray(off, off + 777_777));
    const dest = fresh();
    const r = await applyLayer(Readable.from(pieces), dest, { compression: "none", expectedDiffId: sha(layer) });
    assert.equal(r.diffId, sha(layer));
    assert.ok((await readFile(path.join(dest, "big"))).equals(big));
    assert.ok((await readFile(path.join(dest, "holed"))).equals(holed));
    assert.ok((await readFile(path.join(dest, "small"))).equals(small));
    const st = await stat(path.join(dest, "big"));
    assert.equal(st.mode & 0o7777, 0o755);
    assert.equal(st.uid, 3);
    assert.equal(st.gid, 4);
  });

  it("a large file cut short fails the apply and leaves nothing", async () => {
    const big = Buffer.alloc(8 << 20, 5);
    const layer = await makeTar([{ header: { name: "big" }, body: big }]);
    const dest = fresh();
    await assert.rejects(applyLayer(from(layer.subarray(0, 5 << 20)), dest, { compression: "none" }), /truncated|unexpected end|ended/i);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(await siblings(dest), []);
  });
});
