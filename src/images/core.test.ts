import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { digestOf } from "../content/digest.js";
import { SnapshotStore } from "../snapshots/store.js";
import { ImageCore } from "./core.js";

test("a blob's sources are rewritten only when the repository is new to it or not its latest (an up-to-date pull writes nothing)", async () => {
  const root = await mkdtemp(path.join(tmpdir(), "cove-core-"));
  try {
    const core = new ImageCore(root, await SnapshotStore.open(path.join(root, "snapshots")));
    await mkdir(core.images.dir, { recursive: true });
    const file = path.join(core.images.dir, "blob-sources.json");
    const [a, b] = [digestOf("a"), digestOf("b")];
    await core.addBlobSources("127.0.0.1:5000/one", [a, b]);
    const first = await stat(file);
    const text = await readFile(file, "utf8");
    await core.addBlobSources("127.0.0.1:5000/one", [a, b]);
    assert.equal((await stat(file)).ino, first.ino, "the same sources again: not rewritten");
    assert.equal(await readFile(file, "utf8"), text);
    await core.addBlobSources("127.0.0.1:5000/two", [a]);
    assert.notEqual((await stat(file)).ino, first.ino);
    assert.deepEqual(await core.blobSources(a), ["127.0.0.1:5000/one", "127.0.0.1:5000/two"]);
    // one back to the end of the list: most recent last
    await core.addBlobSources("127.0.0.1:5000/one", [a, b]);
    assert.deepEqual(await core.blobSources(a), ["127.0.0.1:5000/two", "127.0.0.1:5000/one"]);
    assert.deepEqual(await core.blobSources(b), ["127.0.0.1:5000/one"]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
