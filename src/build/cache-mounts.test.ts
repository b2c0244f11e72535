import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CacheMounts, type CacheMountSpec } from "./cache-mounts.js";

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const spec = (id: string, sharing: CacheMountSpec["sharing"], more: Partial<CacheMountSpec> = {}): CacheMountSpec => ({ id, sharing, mode: 0o755, uid, gid, ...more });

describe("CacheMounts", () => {
  let dir: string;
  let store: CacheMounts;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-cachemounts-"));
    store = CacheMounts.forRoot(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("gives shared users one directory, with the mode asked for, kept after release", async () => {
    const a = await store.acquire(spec("s", "shared", { mode: 0o700 }));
    const b = await store.acquire(spec("s", "shared"));
    assert.equal(a.dir, b.dir);
    assert.equal((await stat(a.dir)).mode & 0o777, 0o700);
    await writeFile(path.join(a.dir, "f"), "kept");
    a.release();
    b.release();
    const c = await store.acquire(spec("s", "shared"));
    assert.deepEqual(await readdir(c.dir), ["f"]);
    c.release();
    assert.equal(CacheMounts.forRoot(dir), store);
  });

  it("gives a private user a directory nobody else is using, reusing a released one", async () => {
    const a = await store.acquire(spec("p", "private"));
    const b = await store.acquire(spec("p", "private"));
    assert.notEqual(a.dir, b.dir);
    a.release();
    const c = await store.acquire(spec("p", "private"));
    assert.equal(c.dir, a.dir);
    b.release();
    c.release();
  });

  it("makes a locked user wait until the holder releases", async () => {
    const a = await store.acquire(spec("l", "locked"));
    let got = false;
    const pending = store.acquire(spec("l", "locked")).then((l) => {
      got = true;
      return l;
    });
    // the waiter cannot get it while a holds it, however long it waits: a's release is what lets it in
    await new Promise((r) => setImmediate(r));
    assert.equal(got, false);
    a.release();
    const b = await pending;
    assert.equal(b.dir, a.dir);
    b.release();
  });

  it("seeds a new directory once; a failing seed leaves no directory", async () => {
    let seeded = 0;
    const seed = async (d: string) => {
      seeded++;
      await writeFile(path.join(d, "seed"), "x");
    };
    const a = await store.acquire(spec("seeded", "shared", { seed }));
    a.release();
    const b = await store.acquire(spec("seeded", "shared", { seed }));
    b.release();
    assert.equal(seeded, 1);
    assert.deepEqual(await readdir(b.dir), ["seed"]);
    await assert.rejects(store.acquire(spec("broken", "shared", { seed: () => Promise.reject(new Error("no such stage")) })), /no such stage/);
    const again = await store.acquire(spec("broken", "shared"));
    assert.deepEqual(await readdir(again.dir), []);
    again.release();
  });

  it("counts the bytes, lists records, and prunes every directory no step is using", async () => {
    const busy = await store.acquire(spec("busy", "shared"));
    await writeFile(path.join(busy.dir, "b"), "12345");
    const total = await store.size();
    assert.ok(total >= 5 + 4 + 1, String(total));
    const records = await store.records();
    assert.ok(records.every((r) => r.Type === "exec.cachemount"));
    assert.equal(records.find((r) => r.InUse)?.Size, 5);
    const { removed, bytes } = await store.prune();
    assert.equal(bytes, total - 5);
    assert.ok(removed.length >= 5, removed.join(","));
    assert.equal((await store.records()).length, 1);
    busy.release();
    const last = await store.prune();
    assert.equal(last.bytes, 5);
    assert.deepEqual(await readdir(path.join(dir, "build", "cache-mounts")), []);
  });
});
