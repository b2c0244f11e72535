// A pull unpacks while it downloads: the lowest layer from its bytes as they arrive, each later
// one as soon as its blob is in and the layers below it are unpacked. Shown against Debian's
// docker-registry through a proxy that holds back or cuts the body of a chosen blob, with cove's
// image service in process: the first layer's files appear while its blob is still held back, the
// first layer is a committed snapshot while the second still downloads and garbage collection
// leaves it alone then, and a pull whose second layer never arrives leaves nothing behind.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { chainIDs } from "../../src/images/ids.js";
import { ImageService } from "../../src/images/service.js";
import { encodeHeader, END_OF_ARCHIVE, padding } from "../../src/snapshots/tar.js";
import { cleanup } from "../../src/snapshots/testing.js";
import { tempDir } from "../images/fixtures.js";
import { registryAvailable, skopeoCopy, startRegistry, type Registry } from "./support.js";

const skip = process.getuid?.() !== 0 ? "needs root (snapshots)" : registryAvailable();

/** A tar of the files given (name → bytes), with their directories. */
function tarOf(files: Record<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const [name, body] of Object.entries(files)) {
    const segs = name.split("/");
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join("/");
      if (dirs.has(d)) continue;
      dirs.add(d);
      parts.push(encodeHeader({ name: d + "/", type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, mtimeSec: 1_700_000_000 }));
    }
    parts.push(encodeHeader({ name, type: "file", mode: 0o644, uid: 0, gid: 0, size: body.length, mtimeSec: 1_700_000_000 }), body, Buffer.alloc(padding(body.length)));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

interface Fixture {
  /** Layer blobs (gzip), bottom first. */
  blobs: Buffer[];
  diffIds: string[];
  configId: string;
}

/** A docker image of the given layer tars (bottom first) in a skopeo dir: layout; diffIds may be given wrong on purpose. */
async function writeImage(dir: string, tars: Buffer[], diffIds = tars.map(sha)): Promise<Fixture> {
  const blobs = tars.map((t) => gzipSync(t));
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["/bin/sh"] }, rootfs: { type: "layers", diff_ids: diffIds } }));
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: sha(config) },
    layers: blobs.map((b) => ({ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: b.length, digest: sha(b) })),
  };
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "version"), "Directory Transport Version: 1.1\n");
  await writeFile(path.join(dir, "manifest.json"), JSON.stringify(manifest));
  for (const b of [config, ...blobs]) await writeFile(path.join(dir, sha(b).slice(7)), b);
  return { blobs, diffIds, configId: sha(config) };
}

/** A two-layer docker image in a skopeo dir: layout: a small file then 4 MiB of random bytes below, one file above. */
function makeImage(dir: string): Promise<Fixture> {
  return writeImage(dir, [tarOf({ "first/hello": Buffer.from("from the first layer\n"), "first/big": randomBytes(4 << 20) }), tarOf({ "second/file": Buffer.from("from the second layer\n") })]);
}

interface Gate {
  host: string;
  /** Sends only the first `bytes` of the blob's body, then holds the rest until release(). */
  hold(digest: string, bytes: number): void;
  release(): void;
  /** Cuts every response for the blob after `bytes`. */
  cut(digest: string, bytes: number): void;
  /** Bytes of the blob's body sent so far (all responses). */
  sent(digest: string): number;
  stop(): Promise<void>;
}

/** A proxy to the registry that can hold back or cut the body of one blob. */
async function startGate(target: string): Promise<Gate> {
  const [thost, tport] = target.split(":") as [string, string];
  let held: { digest: string; bytes: number } | undefined;
  let cutting: { digest: string; bytes: number } | undefined;
  const waiting: (() => void)[] = [];
  const sent = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const up = http.request({ host: thost, port: Number(tport), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? "")?.[1];
      const rule = req.method === "GET" && digest && (ur.statusCode === 200 || ur.statusCode === 206) ? [held, cutting].find((r) => r?.digest === digest) : undefined;
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      if (!rule || !digest) {
        ur.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ur.on("data", (c: Buffer) => chunks.push(c));
      ur.on("end", () => {
        const body = Buffer.concat(chunks);
        // a resumed request (206) of a cut blob gets nothing at all
        const head = body.subarray(0, ur.statusCode === 206 && rule === cutting ? 0 : rule.bytes);
        res.write(head);
        sent.set(digest, (sent.get(digest) ?? 0) + head.length);
        if (rule === cutting) {
          res.socket?.destroy();
          return;
        }
        waiting.push(() => {
          sent.set(digest, (sent.get(digest) ?? 0) + body.length - head.length);
          res.end(body.subarray(head.length));
        });
      });
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    hold: (digest, bytes) => (held = { digest, bytes }),
    release: () => {
      held = undefined;
      for (const w of waiting.splice(0)) w();
    },
    cut: (digest, bytes) => (cutting = { digest, bytes }),
    sent: (digest) => sent.get(digest) ?? 0,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Waits until cond() holds, polling; fails after `ms` (a generous bound, not a timing). */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether some snapshot or staging directory under root holds rel (an unpack in progress writes there). */
async function inSomeSnapshot(root: string, rel: string): Promise<boolean> {
  const base = path.join(root, "snapshots", "snapshots");
  for (const id of await readdir(base).catch(() => [] as string[])) {
    // a large layer unpacks on a worker into a staging directory (staging-x, staging-x.tmp-y)
    if (id.startsWith("staging-") && (await stat(path.join(base, id, rel)).then(() => true, () => false))) return true;
    for (const fs of [path.join(base, id, "fs"), ...(await readdir(path.join(base, id)).catch(() => [] as string[])).filter((n) => n.startsWith("fs.tmp-")).map((n) => path.join(base, id, n))]) {
      if (await stat(path.join(fs, rel)).then(() => true, () => false)) return true;
    }
  }
  return false;
}

/**
 * For a describe block: a temp directory, docker-registry holding the images make() writes there
 * (each a skopeo dir: layout, by the repository:tag to copy it to), the gate in front of it, and
 * image services on fresh roots; all removed after.
 */
function behindGate(make: (dir: string) => Promise<Record<string, string>>) {
  let dir = "";
  let reg: Registry | undefined;
  let gate: Gate | undefined;
  before(async () => {
    dir = await tempDir();
    const images = await make(dir);
    reg = await startRegistry(path.join(dir, "reg"));
    for (const [ref, layout] of Object.entries(images)) await skopeoCopy(`dir:${layout}`, `docker://${reg.host}/${ref}`);
    gate = await startGate(reg.host);
  });
  after(async () => {
    gate?.release();
    await gate?.stop();
    await reg?.stop();
    await cleanup(dir);
    await rm(dir, { recursive: true, force: true });
  });
  return {
    gate: () => gate!,
    fresh: (name: string) => ImageService.open({ root: path.join(dir, name), registry: { retryDelaysMs: [10, 10] } }),
  };
}

describe("pull: unpacking while downloading", { skip, timeout: 300_000 }, () => {
  let fx: Fixture;
  let blobDigests: string[] = [];
  let chain: string[] = [];
  const { gate: gateOf, fresh } = behindGate(async (dir) => {
    fx = await makeImage(path.join(dir, "image"));
    blobDigests = fx.blobs.map(sha);
    chain = chainIDs(fx.diffIds);
    return { "pipe/two:1": path.join(dir, "image") };
  });
  let gate: Gate | undefined;
  before(() => {
    gate = gateOf();
  });

  it("unpacks the first layer from its bytes as they arrive", async () => {
    const svc = await fresh("live");
    // half of the first layer's blob, then nothing until released: its small first file is out
    gate!.hold(blobDigests[0]!, fx.blobs[0]!.length >> 1);
    const pulling = svc.pull(`${gate!.host}/pipe/two:1`);
    pulling.catch(() => undefined);
    try {
      await until("the first layer's first file is unpacked", () => inSomeSnapshot(svc.root, "first/hello"));
      assert.equal(gate!.sent(blobDigests[0]!), fx.blobs[0]!.length >> 1, "the blob is still held back");
      assert.equal(svc.snapshots.has(chain[0]!), false, "nothing is committed before the blob is verified");
    } finally {
      gate!.release();
    }
    const r = await pulling;
    assert.equal(r.id, fx.configId);
    assert.ok(svc.snapshots.has(chain[0]!) && svc.snapshots.has(chain[1]!));
    assert.deepEqual((await svc.list()).map((i) => i.RepoTags), [[`${gate!.host}/pipe/two:1`]]);
  });

  it("commits a lower layer while a later one still downloads, and garbage collection keeps it", async () => {
    const svc = await fresh("pipelined");
    gate!.hold(blobDigests[1]!, 0);
    const pulling = svc.pull(`${gate!.host}/pipe/two:1`);
    pulling.catch(() => undefined);
    try {
      await until("the first layer is a committed snapshot", () => svc.snapshots.has(chain[0]!));
      assert.equal(gate!.sent(blobDigests[1]!), 0, "the second layer is still held back");
      await svc.gc();
      assert.ok(svc.snapshots.has(chain[0]!), "gc left the unpacked layer of the pull in flight");
    } finally {
      gate!.release();
    }
    const r = await pulling;
    assert.equal(r.id, fx.configId);
    assert.ok(svc.snapshots.has(chain[1]!));
    // once named, the layers belong to the image; removed with it
    await svc.remove(r.id, { force: true });
    assert.equal(svc.snapshots.list().length, 0);
  });

  it("a first layer whose blob is in the store but not unpacked is unpacked from the store", async () => {
    // its download finds the blob at once and gives up the live unpack before the unpack has
    // opened it: the unpack must see that and read the store, not wait for bytes that never come
    const svc = await fresh("blob-there");
    for (const [i, blob] of fx.blobs.entries()) {
      if (i > 0) break;
      const w = await svc.content.writer(`test-${blobDigests[i]}`, { expected: { digest: blobDigests[i] as `sha256:${string}`, size: blob.length } });
      await w.write(blob);
      await w.commit(blob.length, blobDigests[i] as `sha256:${string}`);
    }
    assert.equal(svc.snapshots.has(chain[0]!), false);
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      svc.pull(`${gate!.host}/pipe/two:1`),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("the pull did not finish in 60 s")), 60_000))),
    ]).finally(() => clearTimeout(timer));
    assert.equal(r.id, fx.configId);
    assert.ok(svc.snapshots.has(chain[0]!) && svc.snapshots.has(chain[1]!));
  });

  it("a pull whose second layer never arrives leaves no snapshot, blob or image", async () => {
    const svc = await fresh("failing");
    gate!.cut(blobDigests[1]!, 100);
    try {
      await assert.rejects(svc.pull(`${gate!.host}/pipe/two:1`), (err: Error) => {
        assert.match(err.message, new RegExp(`failed to download blob ${blobDigests[1]}`));
        return true;
      });
    } finally {
      gate!.cut("", 0);
    }
    assert.deepEqual(svc.snapshots.list(), []);
    assert.deepEqual(await svc.list(), []);
    for (const d of blobDigests) assert.equal(await svc.content.exists(d), false, `blob ${d} is gone`);
    // and the same pull then goes through
    assert.equal((await svc.pull(`${gate!.host}/pipe/two:1`)).id, fx.configId);
  });
});

/** The entries under root/snapshots/snapshots that are layers being unpacked ahead (staging-*). */
async function stagingDirs(root: string): Promise<string[]> {
  return (await readdir(path.join(root, "snapshots", "snapshots")).catch(() => [] as string[])).filter((n) => n.startsWith("staging-")).map((n) => path.join(root, "snapshots", "snapshots", n));
}

async function inSomeStaging(root: string, rel: string): Promise<boolean> {
  for (const d of await stagingDirs(root)) if (await stat(path.join(d, rel)).then(() => true, () => false)) return true;
  return false;
}

describe("pull: large layers unpacked side by side", { skip, timeout: 300_000 }, () => {
  const head = (name: string, type: "dir" | "file" | "link", extra: { mode?: number; uid?: number; gid?: number; size?: number; linkname?: string } = {}) =>
    encodeHeader({ name, type, mode: extra.mode ?? (type === "dir" ? 0o755 : 0o644), uid: extra.uid ?? 0, gid: extra.gid ?? 0, size: extra.size ?? 0, mtimeSec: 1_700_000_000, ...(extra.linkname ? { linkname: extra.linkname } : {}) });
  const file = (name: string, body: Buffer) => [head(name, "file", { size: body.length }), body, Buffer.alloc(padding(body.length))];
  // each layer over the size from which a pull unpacks it on a worker (random bytes: gzip keeps their size)
  const big = () => randomBytes(4_500_000);
  const tars = [
    // the lowest: a directory with its own mode and owner, and a file the next layer links to
    Buffer.concat([head("base/", "dir", { mode: 0o750, uid: 7, gid: 8 }), ...file("base/file", Buffer.from("below\n")), head("zero/", "dir"), ...file("zero/big", big()), END_OF_ARCHIVE]),
    // needs the layer below: a file in base/ without base/ listed, and a hardlink to base/file
    Buffer.concat([...file("base/sub/new", Buffer.from("new\n")), head("one/", "dir"), head("one/link", "link", { linkname: "base/file" }), ...file("one/big", big()), END_OF_ARCHIVE]),
    // needs nothing below
    Buffer.concat([head("two/", "dir"), ...file("two/file", Buffer.from("two\n")), ...file("two/big", big()), END_OF_ARCHIVE]),
  ];
  let good: Fixture;
  let bad: Fixture;
  const { gate: gateOf, fresh } = behindGate(async (dir) => {
    good = await writeImage(path.join(dir, "good"), tars);
    // the top layer's diff ID given wrong: its unpack on a worker fails after the others went well
    bad = await writeImage(path.join(dir, "bad"), tars, [...tars.slice(0, 2).map(sha), sha(Buffer.from("not the layer"))]);
    return { "side/good:1": path.join(dir, "good"), "side/bad:1": path.join(dir, "bad") };
  });
  let gate: Gate | undefined;
  before(() => {
    gate = gateOf();
  });

  it("unpacks the upper layers while the lowest still downloads, giving them the layers below once committed", async () => {
    const svc = await fresh("ahead");
    const chain = chainIDs(good.diffIds);
    // the lowest layer's blob held back entirely: it stays uncommitted until released
    gate!.hold(sha(good.blobs[0]!), 0);
    const pulling = svc.pull(`${gate!.host}/side/good:1`);
    pulling.catch(() => undefined);
    try {
      await until("the top layer is unpacked ahead of the layers below", () => inSomeStaging(svc.root, "two/file"));
      assert.equal(svc.snapshots.has(chain[0]!), false, "the lowest layer is not committed yet");
      assert.equal(await inSomeStaging(svc.root, "one/link"), false, "the link to a file below waits for the layer below");
    } finally {
      gate!.release();
    }
    const r = await pulling;
    assert.equal(r.id, good.configId);
    const [one, zero] = svc.snapshots.stackDirs(chain[1]!);
    // the parent one/ of the link was listed; base/ was not, and took its attributes from below
    const base = await stat(path.join(one!, "base"));
    assert.equal(base.mode & 0o7777, 0o750);
    assert.deepEqual([base.uid, base.gid], [7, 8]);
    assert.equal(await readFile(path.join(one!, "one/link"), "utf8"), "below\n");
    assert.equal(await readFile(path.join(one!, "base/sub/new"), "utf8"), "new\n");
    assert.equal(await readFile(path.join(zero!, "base/file"), "utf8"), "below\n");
    assert.equal(await readFile(path.join(svc.snapshots.stackDirs(chain[2]!)[0]!, "two/file"), "utf8"), "two\n");
    assert.deepEqual(await stagingDirs(svc.root), [], "nothing is left staged");
  });

  it("a layer that fails on a worker leaves no snapshot, staged layer, blob or image", async () => {
    const svc = await fresh("failing-ahead");
    await assert.rejects(svc.pull(`${gate!.host}/side/bad:1`), (err: Error) => {
      assert.match(err.message, /layer content does not match its diff ID/);
      return true;
    });
    assert.deepEqual(svc.snapshots.list(), []);
    assert.deepEqual(await stagingDirs(svc.root), []);
    assert.deepEqual(await svc.list(), []);
    for (const b of bad.blobs) assert.equal(await svc.content.exists(sha(b) as `sha256:${string}`), false);
  });
});
