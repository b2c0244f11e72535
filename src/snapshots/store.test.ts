import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { CoveError } from "../common/errors.js";
import { applyLayer } from "./apply.js";
import { mountAll, unmountAll } from "./mount.js";
import { SnapshotStore } from "./store.js";
import { cleanup, makeTar, mountsUnder, tempDir } from "./testing.js";

let tmp: string;
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await cleanup(tmp);
});

let n = 0;
async function target(): Promise<string> {
  const t = path.join(tmp, `mnt${n++}`);
  await mkdir(t);
  return t;
}

describe("SnapshotStore", () => {
  it("prepare, commit, view and remove with real mounts", async () => {
    const root = path.join(tmp, "store1");
    const store = await SnapshotStore.open(root);

    const m0 = await store.prepare("base-active");
    assert.deepEqual(m0, [{ type: "bind", source: path.join(root, "snapshots/1/fs"), options: ["rbind", "rw"] }]);
    const t0 = await target();
    mountAll(m0, t0);
    try {
      await writeFile(path.join(t0, "base.txt"), "base");
    } finally {
      unmountAll(t0);
    }
    await store.commit("base", "base-active", { labels: { "cove/layer": "0" } });
    assert.equal(store.stat("base").kind, "committed");
    assert.equal(store.has("base-active"), false);

    const m1 = await store.prepare("c1", "base");
    assert.equal(m1[0].type, "overlay");
    assert.deepEqual(m1[0].options, [`lowerdir=${root}/snapshots/1/fs`, `upperdir=${root}/snapshots/2/fs`, `workdir=${root}/snapshots/2/work`]);
    const t1 = await target();
    mountAll(m1, t1);
    try {
      assert.equal(await readFile(path.join(t1, "base.txt"), "utf8"), "base");
      await writeFile(path.join(t1, "top.txt"), "top");
    } finally {
      unmountAll(t1);
    }
    assert.deepEqual(await readdir(store.upperDir("c1")), ["top.txt"], "changes land in the upper dir only");
    await store.commit("layer2", "c1");

    const v1 = await store.view("v-one", "base");
    assert.deepEqual(v1, [{ type: "bind", source: path.join(root, "snapshots/1/fs"), options: ["rbind", "ro"] }]);
    const v2 = await store.view("v-two", "layer2");
    assert.equal(v2[0].type, "overlay");
    assert.ok(!v2[0].options.some((o) => o.startsWith("upperdir")));
    const tv = await target();
    mountAll(v2, tv);
    try {
      assert.deepEqual((await readdir(tv)).sort(), ["base.txt", "top.txt"]);
      await assert.rejects(writeFile(path.join(tv, "x"), "x"), { code: "EROFS" });
    } finally {
      unmountAll(tv);
    }
    const tv1 = await target();
    mountAll(v1, tv1);
    try {
      await assert.rejects(writeFile(path.join(tv1, "x"), "x"), { code: "EROFS" });
    } finally {
      unmountAll(tv1);
    }

    assert.deepEqual(store.parents("v-two"), ["layer2", "base"]);
    assert.deepEqual(store.lowerDirs("v-two"), [`${root}/snapshots/2/fs`, `${root}/snapshots/1/fs`]);
    const usage = await store.usage("layer2");
    assert.equal(usage.inodes, 1);
    assert.ok(usage.size > 0);

    await assert.rejects(store.remove("base"), (e: unknown) => e instanceof CoveError && e.kind === "conflict" && /has children/.test(e.message));
    await assert.rejects(store.prepare("v-one"), (e: unknown) => e instanceof CoveError && e.kind === "conflict");
    await assert.rejects(store.prepare("x", "v-one"), /not committed/);
    await assert.rejects(store.mounts("nope"), (e: unknown) => e instanceof CoveError && e.kind === "not-found");

    // metadata survives a reopen; directories nobody names are cleaned
    await mkdir(path.join(root, "snapshots", "999", "fs"), { recursive: true });
    const reopened = await SnapshotStore.open(root);
    assert.deepEqual(
      reopened.list().map((s) => `${s.key}:${s.kind}:${s.parent ?? ""}`),
      ["base:committed:", "layer2:committed:base", "v-one:view:base", "v-two:view:layer2"],
    );
    assert.equal(reopened.stat("base").labels["cove/layer"], "0");
    assert.equal(existsSync(path.join(root, "snapshots", "999")), false);

    await reopened.remove("v-two");
    await reopened.remove("v-one");
    await reopened.remove("layer2");
    await reopened.remove("base");
    assert.deepEqual(reopened.list(), []);
    assert.deepEqual(await readdir(path.join(root, "snapshots")), []);
  });

  it("applies layers into snapshots and mounts a 128-layer image", async () => {
    const root = path.join(tmp, "store-deep");
    const store = await SnapshotStore.open(root);
    let parent: string | undefined;
    for (let i = 0; i < 128; i++) {
      const key = `extract-${i}`;
      await store.prepare(key, parent);
      const layer = await makeTar([
        { header: { name: `layers/${i}` }, body: String(i) },
        ...(i > 0 ? [{ header: { name: `layers/.wh.${i - 1}` } }] : []),
        { header: { name: "top" }, body: `layer ${i}` },
      ]);
      await applyLayer(Readable.from([layer]), store.upperDir(key), { lowerDirs: store.lowerDirs(key) });
      const chain = `chain-${i}`;
      await store.commit(chain, key);
      parent = chain;
    }
    const mounts = await store.view("deep-view", parent);
    assert.equal(mounts.length, 1);
    assert.equal(mounts[0].cwd, path.join(root, "snapshots"), "relative lowerdirs when absolute ones exceed a page");
    assert.ok(mounts[0].options.join(",").length < 4096);
    const t = await target();
    mountAll(mounts, t);
    try {
      assert.equal(await readFile(path.join(t, "top"), "utf8"), "layer 127");
      assert.deepEqual(await readdir(path.join(t, "layers")), ["127"], "each layer's whiteout hides the one below");
    } finally {
      unmountAll(t);
    }
    const rw = await store.prepare("deep-rw", parent);
    const t2 = await target();
    mountAll(rw, t2);
    try {
      await writeFile(path.join(t2, "top"), "written");
      assert.equal(await readFile(path.join(store.upperDir("deep-rw"), "top"), "utf8"), "written");
    } finally {
      unmountAll(t2);
    }
  });

  it("leaves no mounts behind", async () => {
    assert.deepEqual(await mountsUnder(tmp), []);
    const info = await readFile("/proc/self/mountinfo", "utf8");
    assert.ok(!info.includes(tmp), "no mount under the test directory");
  });
});
