import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rename, writeFile } from "node:fs/promises";
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

  it("journals changes and recovers from a crash at any step of them", async () => {
    const root = path.join(tmp, "journal");
    const keys = (s: SnapshotStore) => s.list().map((x) => `${x.key}:${x.kind}`);
    const store = await SnapshotStore.open(root);
    await store.prepare("base-active");
    await writeFile(path.join(store.upperDir("base-active"), "f"), "layer");
    await store.commit("base", "base-active");
    // concurrent creates share fdatasyncs; every one of them is on disk when it returns
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.prepare(`c${i}`, "base")));
    const journal = path.join(root, "metadata.journal");
    assert.equal((await readFile(journal, "utf8")).trim().split("\n").length, 22, "one line per change, no whole rewrite");
    assert.deepEqual(keys(await SnapshotStore.open(root)).length, 21);

    // the reopen above folded the journal into metadata.json; a crash tearing an append leaves its last line short
    const fresh = await SnapshotStore.open(root);
    assert.equal(await readFile(journal, "utf8"), "");
    await fresh.prepare("torn", "base");
    const tornId = path.basename(path.dirname(fresh.upperDir("torn")));
    const full = await readFile(journal, "utf8");
    await writeFile(journal, full.slice(0, full.length - 10));
    const afterTear = await SnapshotStore.open(root);
    assert.equal(afterTear.has("torn"), false);
    assert.equal(existsSync(path.join(root, "snapshots", tornId)), false, "the torn create's directory is removed");
    assert.equal(afterTear.stat("base").kind, "committed");

    // a remove whose journal line the crash lost: the directory was renamed away, so the snapshot is gone
    const c0 = path.dirname(afterTear.upperDir("c0"));
    await rename(c0, `${c0}.removing-0000`);
    const afterLostLine = await SnapshotStore.open(root);
    assert.equal(afterLostLine.has("c0"), false);
    assert.equal(existsSync(`${c0}.removing-0000`), false, "a half-removed directory is finished off");
    assert.equal(afterLostLine.has("c1"), true);

    // a damaged line in the middle is not a crash artefact: refuse to guess
    await afterLostLine.remove("c1");
    await afterLostLine.remove("c2");
    const lines = (await readFile(journal, "utf8")).split("\n");
    await writeFile(journal, ["{oops", ...lines].join("\n"));
    await assert.rejects(SnapshotStore.open(root), (e: unknown) => e instanceof CoveError && e.code === "snapshot.bad-journal");
    await writeFile(journal, lines.join("\n"));
    const last = await SnapshotStore.open(root);
    assert.deepEqual(keys(last).sort(), ["base:committed", ...Array.from({ length: 17 }, (_, i) => `c${i + 3}:active`)].sort());
    assert.equal(await readFile(path.join(last.lowerDirs("c3")[0] as string, "f"), "utf8"), "layer", "the committed layer kept its files");
    for (const k of last.list().filter((x) => x.kind === "active").map((x) => x.key)) await last.remove(k);
    await last.remove("base");
    assert.deepEqual(await readdir(path.join(root, "snapshots")), []);
    assert.deepEqual((await SnapshotStore.open(root)).list(), []);
  });

  it("a volatile snapshot whose journal line a crash lost is gone on reopen, its directory removed", async () => {
    const root = path.join(tmp, "volatile");
    const store = await SnapshotStore.open(root);
    await store.prepare("base-active");
    await store.commit("base", "base-active");
    const journal = path.join(root, "metadata.journal");
    const durable = await readFile(journal, "utf8");
    await store.prepare("rm-container", "base", { volatile: true });
    assert.equal(store.has("rm-container"), true);
    const id = path.basename(path.dirname(store.upperDir("rm-container")));
    assert.equal((await readFile(journal, "utf8")).split("\n").filter(Boolean).length, durable.split("\n").filter(Boolean).length + 1, "journaled like any other");
    // the crash: the unsynced line never reached the disk
    await writeFile(journal, durable);
    const reopened = await SnapshotStore.open(root);
    assert.equal(reopened.has("rm-container"), false);
    assert.equal(existsSync(path.join(root, "snapshots", id)), false, "its directory is removed");
    assert.equal(reopened.stat("base").kind, "committed");
    await reopened.remove("base");
  });

  it("folds a long journal into a checkpoint", async () => {
    const root = path.join(tmp, "checkpoint");
    const store = await SnapshotStore.open(root);
    for (let i = 0; i < 1200; i++) {
      await store.prepare(`k${i}`);
      if (i % 2 === 1) await store.remove(`k${i}`);
    }
    const journalLines = (await readFile(path.join(root, "metadata.journal"), "utf8")).split("\n").filter(Boolean).length;
    assert.ok(journalLines < 1000, `journal has ${journalLines} lines after 1800 changes`);
    const meta = JSON.parse(await readFile(path.join(root, "metadata.json"), "utf8")) as { snapshots: Record<string, unknown> };
    assert.ok(Object.keys(meta.snapshots).length > 0, "the checkpoint holds the snapshots");
    const reopened = await SnapshotStore.open(root);
    assert.deepEqual(
      reopened.list().map((s) => s.key),
      Array.from({ length: 600 }, (_, i) => `k${2 * i}`).sort(),
    );
    // ids are never reused after a checkpoint and a reopen
    await reopened.prepare("next");
    assert.equal(path.basename(path.dirname(reopened.upperDir("next"))), "1201");
    for (const s of reopened.list()) await reopened.remove(s.key);
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
