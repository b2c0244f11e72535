import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { CoveError } from "../common/errors.js";
import { ApplyPool } from "./apply-pool.js";
import { cleanup, makeTar, tempDir } from "./testing.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

let tmp: string;
let pool: ApplyPool;
before(async () => {
  tmp = await tempDir();
  pool = new ApplyPool(1);
});
after(async () => {
  pool.close();
  await cleanup(tmp);
});

let n = 0;
/** A gzip layer blob written to a file; returns its path and the tar's diff ID. */
async function blob(tar: Buffer): Promise<{ file: string; diffId: string }> {
  const file = path.join(tmp, `blob${n++}`);
  await writeFile(file, gzipSync(tar));
  return { file, diffId: sha(tar) };
}
const dest = () => path.join(tmp, `dest${n++}`);

/** A promise settled from outside. */
function gate<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("ApplyPool", () => {
  it("unpacks a layer on a worker, and asks nothing of the layers below when it needs nothing", async () => {
    const tar = await makeTar([{ header: { name: "a/", type: "directory", mode: 0o755 } }, { header: { name: "a/f", mode: 0o640 }, body: "hello\n" }]);
    const b = await blob(tar);
    const d = dest();
    let asked = 0;
    const r = await pool.apply({ blob: b.file, dest: d, compression: "gzip", expectedDiffId: b.diffId }, async () => {
      asked++;
      return [];
    });
    assert.equal(r.diffId, b.diffId);
    assert.equal(r.size, tar.length);
    assert.ok(r.diskBytes > 0);
    assert.equal(asked, 0);
    assert.equal(await readFile(path.join(d, "a/f"), "utf8"), "hello\n");
  });

  it("waits for the layers below when an entry needs them: a hardlink to a file below is copied up", async () => {
    const lower = dest();
    const low = await blob(await makeTar([{ header: { name: "x/", type: "directory", mode: 0o755 } }, { header: { name: "x/target" }, body: "from below\n" }]));
    await pool.apply({ blob: low.file, dest: lower, compression: "gzip" }, async () => []);
    const up = await blob(await makeTar([{ header: { name: "y/", type: "directory", mode: 0o755 } }, { header: { name: "y/link", type: "link", linkname: "x/target" } }]));
    const d = dest();
    const below = gate<string[]>();
    const applying = pool.apply({ blob: up.file, dest: d, compression: "gzip", expectedDiffId: up.diffId }, () => below.promise);
    below.resolve([lower]);
    await applying;
    assert.equal(await readFile(path.join(d, "y/link"), "utf8"), "from below\n");
  });

  it("takes layers first come, first served: the next waits for a free worker", async () => {
    const needsBelow = await blob(await makeTar([{ header: { name: "y/link", type: "link", linkname: "x/target" } }]));
    const plain = await blob(await makeTar([{ header: { name: "p" }, body: "p\n" }]));
    const lower = dest();
    await pool.apply({ blob: (await blob(await makeTar([{ header: { name: "x/target" }, body: "t\n" }]))).file, dest: lower, compression: "gzip" }, async () => []);
    const first = gate<string[]>();
    let asked!: () => void;
    const askedFor = new Promise<void>((r) => (asked = r));
    const d1 = dest();
    const d2 = dest();
    const one = pool.apply({ blob: needsBelow.file, dest: d1, compression: "gzip" }, () => {
      asked();
      return first.promise;
    });
    const two = pool.apply({ blob: plain.file, dest: d2, compression: "gzip" }, async () => []);
    await askedFor;
    // the pool's one worker is held by the first layer, waiting for the layers below
    assert.equal(existsSync(d2), false);
    first.resolve([lower]);
    await Promise.all([one, two]);
    assert.equal(await readFile(path.join(d2, "p"), "utf8"), "p\n");
  });

  it("a layer that does not match its diff ID fails with cove's error and leaves nothing", async () => {
    const b = await blob(await makeTar([{ header: { name: "f" }, body: "x" }]));
    const d = dest();
    await assert.rejects(pool.apply({ blob: b.file, dest: d, compression: "gzip", expectedDiffId: sha(Buffer.from("other")) }, async () => []), (err: unknown) => {
      assert.ok(err instanceof CoveError);
      assert.equal(err.code, "layer.digest-mismatch");
      return true;
    });
    assert.equal(existsSync(d), false);
  });

  it("a layer whose layers below never come fails with the reason, and the worker takes the next", async () => {
    const b = await blob(await makeTar([{ header: { name: "y/link", type: "link", linkname: "x/target" } }]));
    const d = dest();
    await assert.rejects(
      pool.apply({ blob: b.file, dest: d, compression: "gzip" }, async () => {
        throw new Error("the pull stopped");
      }),
      /the pull stopped/,
    );
    assert.equal(existsSync(d), false);
    const ok = await blob(await makeTar([{ header: { name: "f" }, body: "fine\n" }]));
    const d2 = dest();
    await pool.apply({ blob: ok.file, dest: d2, compression: "gzip" }, async () => []);
    assert.equal(await readFile(path.join(d2, "f"), "utf8"), "fine\n");
  });
});
