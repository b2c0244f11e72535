import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { CoveError } from "../common/errors.js";
import { setIgnoredLog } from "../common/ignore.js";
import { digestOf } from "./digest.js";
import { ContentStore, LABEL_GC_REF_CONTENT, LABEL_GC_ROOT, writeBlob } from "./store.js";
import { CHECKPOINT_BYTES } from "./writer.js";

async function withStore(fn: (store: ContentStore, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), "cove-content-"));
  try {
    await fn(new ContentStore({ root }), root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function isCove(kind: string, code?: string) {
  return (err: unknown) => err instanceof CoveError && err.kind === kind && (code === undefined || err.code === code);
}

test("write, commit and read back a blob", () =>
  withStore(async (store, root) => {
    const data = Buffer.from("hello, content store");
    const digest = digestOf(data);
    const w = await store.writer("ref-1", { expected: { digest, size: data.length } });
    await w.write(data.subarray(0, 5));
    await w.write(data.subarray(5));
    assert.equal(w.offset, data.length);
    assert.equal(w.digest(), digest);
    assert.equal(await w.commit(data.length, digest), digest);

    assert.equal(await store.exists(digest), true);
    assert.deepEqual(await store.readBlob(digest), data);
    const info = await store.info(digest);
    assert.equal(info.size, data.length);
    assert.ok(info.createdAt instanceof Date);
    assert.deepEqual(info.labels, {});
    // Layout: blobs/sha256/<hex>, read-only; ingest dir gone.
    const file = path.join(root, "content", "blobs", "sha256", digest.slice(7));
    assert.equal((await stat(file)).mode & 0o777, 0o444);
    assert.deepEqual(await readdir(path.join(root, "content", "ingest")), []);

    const ra = await store.readerAt(digest);
    const buf = Buffer.alloc(7);
    assert.equal(await ra.readAt(buf, 7), 7);
    assert.equal(buf.toString(), "content");
    assert.equal(await ra.readAt(buf, data.length), 0);
    await ra.close();

    const chunks: Buffer[] = [];
    for await (const c of await store.createReadStream(digest, { start: 7, end: 13 })) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), "content");
  }));

test("sha512 blobs are stored under blobs/sha512", () =>
  withStore(async (store, root) => {
    const data = Buffer.from("five-twelve");
    const digest = digestOf(data, "sha512");
    assert.equal(await writeBlob(store, data, { digest }), digest);
    assert.deepEqual(await store.readBlob(digest), data);
    await stat(path.join(root, "content", "blobs", "sha512", digest.slice(7)));
  }));

test("commit with the wrong digest fails, leaves no blob and discards the ingest", () =>
  withStore(async (store) => {
    const data = Buffer.from("actual bytes");
    const claimed = digestOf("other bytes");
    const w = await store.writer("bad-digest");
    await w.write(data);
    await assert.rejects(w.commit(data.length, claimed), (err: unknown) => {
      return err instanceof CoveError && err.code === "content.digest-mismatch" && err.message.includes(digestOf(data)) && err.message.includes(claimed);
    });
    assert.equal(await store.exists(claimed), false);
    assert.equal(await store.exists(digestOf(data)), false);
    assert.deepEqual(await store.listIngests(), []);
    assert.deepEqual(await store.list(), []);
  }));

test("commit with a short size fails but keeps the ingest resumable", () =>
  withStore(async (store) => {
    const data = Buffer.from("0123456789");
    const digest = digestOf(data);
    const w = await store.writer("short", { expected: { digest, size: 10 } });
    await w.write(data.subarray(0, 4));
    await assert.rejects(w.commit(), isCove("invalid", "content.size-mismatch"));
    assert.equal(await store.exists(digest), false);
    // The same writer may finish the job.
    await w.write(data.subarray(4));
    assert.equal(await w.commit(), digest);
    assert.deepEqual(await store.readBlob(digest), data);
  }));

test("commit with too many bytes fails and no blob appears", () =>
  withStore(async (store) => {
    const w = await store.writer("long");
    await w.write(Buffer.from("123456"));
    await assert.rejects(w.commit(5), isCove("invalid", "content.size-mismatch"));
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await store.listIngests(), []);
  }));

test("writing past the expected size is refused at write time", () =>
  withStore(async (store) => {
    const w = await store.writer("over", { expected: { size: 3 } });
    await w.write(Buffer.from("abc"));
    await assert.rejects(w.write(Buffer.from("d")), isCove("invalid", "content.size-exceeded"));
    assert.equal(w.offset, 3);
    await w.close();
  }));

test("a closed writer leaves a resumable ingest; resume continues at the offset", () =>
  withStore(async (store) => {
    const data = Buffer.from("resumable ingest data, in two halves");
    const digest = digestOf(data);
    const w1 = await store.writer("resume", { expected: { digest, size: data.length } });
    await w1.write(data.subarray(0, 10));
    await w1.close();
    assert.equal(await store.exists(digest), false);
    const st = await store.status("resume");
    assert.equal(st.offset, 10);
    assert.deepEqual(st.expected, { digest, size: data.length });

    const w2 = await store.writer("resume", { expected: { digest, size: data.length } });
    assert.equal(w2.offset, 10);
    await w2.write(data.subarray(10));
    assert.equal(await w2.commit(), digest);
    assert.deepEqual(await store.readBlob(digest), data);
  }));

test("resuming a ref for a different expected digest starts over", () =>
  withStore(async (store) => {
    const w1 = await store.writer("reused", { expected: { digest: digestOf("aaaa") } });
    await w1.write(Buffer.from("aa"));
    await w1.close();
    const w2 = await store.writer("reused", { expected: { digest: digestOf("bbbb") } });
    assert.equal(w2.offset, 0);
    await w2.write(Buffer.from("bbbb"));
    assert.equal(await w2.commit(4), digestOf("bbbb"));
  }));

test("a second writer on a locked ref gets a conflict; with wait it proceeds after the first", () =>
  withStore(async (store) => {
    const data = Buffer.from("only one writer at a time");
    const digest = digestOf(data);
    const w1 = await store.writer("locked", { expected: { digest } });
    await assert.rejects(store.writer("locked"), isCove("conflict", "content.ingest-locked"));
    await assert.rejects(store.abort("locked"), isCove("conflict", "content.ingest-locked"));

    const waiting = store.writer("locked", { wait: true });
    await w1.write(data);
    await w1.commit();
    const w2 = await waiting;
    // The first committed; the second starts on a fresh ingest and commits the same blob again.
    assert.equal(w2.offset, 0);
    await w2.write(data);
    assert.equal(await w2.commit(data.length, digest), digest);
    assert.deepEqual(await store.readBlob(digest), data);
  }));

test("concurrent writers of the same blob under different refs both succeed; blob intact", () =>
  withStore(async (store) => {
    const data = Buffer.alloc(256 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const digest = digestOf(data);
    const writeIt = async (ref: string) => {
      const w = await store.writer(ref, { expected: { digest, size: data.length } });
      for (let off = 0; off < data.length; off += 4096) {
        await w.write(data.subarray(off, off + 4096));
      }
      return w.commit();
    };
    const results = await Promise.all([writeIt("a"), writeIt("b"), writeIt("c"), writeBlob(store, data)]);
    assert.deepEqual(results, [digest, digest, digest, digest]);
    assert.deepEqual(await store.readBlob(digest), data);
    assert.deepEqual(await store.listIngests(), []);
    assert.equal((await store.list()).length, 1);
  }));

test("committing a blob that already exists verifies it and does not rewrite it", () =>
  withStore(async (store) => {
    const data = Buffer.from("exists already");
    const digest = await writeBlob(store, data);
    const before = await stat(store.blobPath(digest));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await writeBlob(store, data), digest);
    const after = await stat(store.blobPath(digest));
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtimeMs, before.mtimeMs);
  }));

test("a corrupt existing blob is replaced by a verified commit", () =>
  withStore(async (store) => {
    const data = Buffer.from("good bytes!!");
    const digest = await writeBlob(store, data);
    const file = store.blobPath(digest);
    await rm(file);
    await writeFile(file, "evil bytes!!");
    await assert.rejects(store.readBlob(digest), isCove("system", "content.corrupt"));
    assert.equal(await writeBlob(store, data), digest);
    assert.deepEqual(await store.readBlob(digest), data);
  }));

test("a writer killed with SIGKILL mid-ingest leaves no blob; the ingest resumes", () =>
  withStore(async (store, root) => {
    const data = Buffer.from("x".repeat(1000) + "y".repeat(1000));
    const digest = digestOf(data);
    const storeModule = path.join(path.dirname(fileURLToPath(import.meta.url)), "store.js");
    const script = `
      const { ContentStore } = await import(${JSON.stringify(storeModule)});
      const store = new ContentStore({ root: ${JSON.stringify(root)} });
      const w = await store.writer("crash", { expected: { digest: ${JSON.stringify(digest)}, size: ${data.length} } });
      await w.write(Buffer.from("x".repeat(1000)));
      process.stdout.write("half\\n");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (b: Buffer) => {
        if (b.toString().includes("half")) resolve();
      });
      child.on("exit", (code) => reject(new Error(`child exited early with ${code}`)));
    });
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    assert.equal(await store.exists(digest), false);
    assert.deepEqual(await store.list(), []);
    const ingests = await store.listIngests();
    assert.equal(ingests.length, 1);
    assert.equal(ingests[0]?.ref, "crash");
    assert.equal(ingests[0]?.offset, 1000);

    // The dead writer's lock is stale: a new writer takes the ref and resumes.
    const w = await store.writer("crash", { expected: { digest, size: data.length } });
    assert.equal(w.offset, 1000);
    await w.write(data.subarray(1000));
    assert.equal(await w.commit(), digest);
    assert.deepEqual(await store.readBlob(digest), data);
  }));

test("abort removes an ingest; status of an unknown ref is not-found", () =>
  withStore(async (store) => {
    const w = await store.writer("to-abort");
    await w.write(Buffer.from("partial"));
    await w.close();
    await store.abort("to-abort");
    await assert.rejects(store.status("to-abort"), isCove("not-found"));
    await assert.rejects(store.abort("to-abort"), isCove("not-found"));
  }));

test("pipeline into createWriteStream then commit", () =>
  withStore(async (store) => {
    const parts = ["stream ", "of ", "chunks"];
    const w = await store.writer("piped");
    await pipeline(Readable.from(parts.map((p) => Buffer.from(p))), w.createWriteStream());
    const digest = await w.commit(undefined, digestOf(parts.join("")));
    assert.equal((await store.readBlob(digest)).toString(), "stream of chunks");
  }));

test("labels are stored per blob, updated and removed", () =>
  withStore(async (store) => {
    const digest = await writeBlob(store, Buffer.from("labelled"), {}, { labels: { a: "1" } });
    assert.deepEqual((await store.info(digest)).labels, { a: "1" });
    const info = await store.updateLabels(digest, { b: "2", a: "" });
    assert.deepEqual(info.labels, { b: "2" });
    await assert.rejects(store.updateLabels(digestOf("missing"), { a: "1" }), isCove("not-found"));
  }));

test("delete, not-found errors and invalid digests", () =>
  withStore(async (store) => {
    const digest = await writeBlob(store, Buffer.from("delete me"));
    await store.delete(digest);
    assert.equal(await store.exists(digest), false);
    await assert.rejects(store.delete(digest), isCove("not-found", "content.not-found"));
    await assert.rejects(store.readBlob(digest), isCove("not-found"));
    await assert.rejects(store.info("sha256:nothex"), isCove("invalid", "digest.invalid"));
  }));

test("gc removes unreferenced blobs, keeps what roots reach, and usage agrees", () =>
  withStore(async (store) => {
    const layer1 = await writeBlob(store, Buffer.from("layer one"));
    const layer2 = await writeBlob(store, Buffer.from("layer two, longer"));
    const config = await writeBlob(store, Buffer.from('{"config":true}'));
    const manifest = await writeBlob(store, Buffer.from(JSON.stringify({ config, layers: [layer1, layer2] })));
    const index = await writeBlob(store, Buffer.from(JSON.stringify({ manifests: [manifest] })));
    const orphan = await writeBlob(store, Buffer.from("orphan blob"));
    const orphan2 = await writeBlob(store, Buffer.from("second orphan"));
    const labelledRoot = await writeBlob(store, Buffer.from("kept by label"), {}, { labels: { [LABEL_GC_ROOT]: "" } });
    const refByLabel = await writeBlob(store, Buffer.from("kept by reference label"));
    await store.updateLabels(labelledRoot, { [LABEL_GC_ROOT]: "1", [`${LABEL_GC_REF_CONTENT}.x`]: refByLabel });

    const before = await store.usage();
    assert.equal(before.blobs.count, 9);

    const walked: string[] = [];
    const children = async (d: string) => {
      walked.push(d);
      const text = (await store.readBlob(d)).toString();
      if (!text.startsWith("{")) return []; // a layer
      const body = JSON.parse(text) as { manifests?: string[]; config?: string; layers?: string[] };
      if (body.manifests) return body.manifests;
      if (body.config && body.layers) return [body.config, ...body.layers];
      return [];
    };

    const dry = await store.gc([index], children, { dryRun: true });
    assert.deepEqual(dry.removed.sort(), [orphan, orphan2].sort());
    assert.equal((await store.usage()).blobs.count, 9);

    walked.length = 0;
    const result = await store.gc([index], children);
    assert.deepEqual(result.removed.sort(), [orphan, orphan2].sort());
    assert.equal(result.bytesFreed, "orphan blob".length + "second orphan".length);
    assert.equal(result.kept, 7);
    assert.ok(walked.includes(index) && walked.includes(manifest) && walked.includes(layer1));
    for (const d of [index, manifest, config, layer1, layer2, labelledRoot, refByLabel]) assert.equal(await store.exists(d), true, d);

    const after = await store.usage();
    assert.equal(after.blobs.count, 7);
    assert.equal(after.blobs.bytes, before.blobs.bytes - result.bytesFreed);
    const listed = await store.list();
    assert.equal(after.blobs.bytes, listed.reduce((n, i) => n + i.size, 0));
  }));

test("gc stops and removes nothing when children cannot be read", () =>
  withStore(async (store) => {
    const root = await writeBlob(store, Buffer.from("root"));
    const orphan = await writeBlob(store, Buffer.from("orphan"));
    await assert.rejects(
      store.gc([root], async () => {
        throw new Error("corrupt manifest");
      }),
      isCove("system", "content.gc-children"),
    );
    assert.equal(await store.exists(orphan), true);
  }));

test("gc removes stale ingests but not fresh or locked ones", () =>
  withStore(async (store, root) => {
    const stale = await store.writer("stale");
    await stale.write(Buffer.from("old partial data"));
    await stale.close();
    const fresh = await store.writer("fresh");
    await fresh.write(Buffer.from("new"));
    await fresh.close();
    const held = await store.writer("held");
    await held.write(Buffer.from("in use"));
    const old = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    const ingestRoot = path.join(root, "content", "ingest");
    for (const name of await readdir(ingestRoot)) {
      const st = await store.status((await import("node:fs")).readFileSync(path.join(ingestRoot, name, "ref"), "utf8"));
      if (st.ref !== "fresh") await utimes(path.join(ingestRoot, name, "data"), old, old);
    }
    const usage = await store.usage();
    assert.equal(usage.ingests.count, 3);

    const result = await store.gc([], async () => []);
    assert.deepEqual(result.ingestsRemoved, ["stale"]);
    assert.ok(result.ingestBytesFreed >= "old partial data".length);
    const refs = (await store.listIngests()).map((s) => s.ref).sort();
    assert.deepEqual(refs, ["fresh", "held"]);
    await held.close();
  }));

test("an ingest records its synced bytes; at the next open it resumes from its data, or starts over when the data is shorter than the record", () =>
  withStore(async (store, root) => {
    const data = Buffer.alloc(CHECKPOINT_BYTES + 4096, 7);
    const digest = digestOf(data);
    const lines: string[] = [];
    setIgnoredLog((l) => lines.push(l));
    try {
      const w = await store.writer("resume-me", { expected: { digest, size: data.length } });
      await w.write(data.subarray(0, CHECKPOINT_BYTES + 100));
      await w.close(); // as a crash leaves it: the lock goes, the data stays
      const dir = path.join(root, "content", "ingest", (await readdir(path.join(root, "content", "ingest")))[0] as string);
      assert.equal(await readFile(path.join(dir, "written"), "utf8"), String(CHECKPOINT_BYTES + 100));

      // the reconcile at start keeps it; a writer resumes from the end of its data
      assert.deepEqual(await store.reconcileIngests(), { kept: ["resume-me"], removed: [] });
      const again = await store.writer("resume-me", { expected: { digest, size: data.length } });
      assert.equal(again.offset, CHECKPOINT_BYTES + 100);
      await again.close();

      // data shorter than the record: the writer starts over, and says so
      await truncate(path.join(dir, "data"), 10);
      const over = await store.writer("resume-me", { expected: { digest, size: data.length } });
      assert.equal(over.offset, 0);
      await over.write(data);
      assert.equal(await over.commit(data.length, digest), digest);
      assert.ok(lines.some((l) => new RegExp(`dropped the partial data of ingest resume-me.*holds 10 bytes, fewer than the ${CHECKPOINT_BYTES + 100}`).test(l)), lines.join("\n"));

      // the reconcile drops one that does not match its record, and logs it
      const bad = await store.writer("bad", { expected: { size: CHECKPOINT_BYTES * 2 } });
      await bad.write(data.subarray(0, CHECKPOINT_BYTES));
      await bad.close();
      const badDir = path.join(root, "content", "ingest", (await readdir(path.join(root, "content", "ingest")))[0] as string);
      await truncate(path.join(badDir, "data"), 1);
      assert.deepEqual(await store.reconcileIngests(), { kept: [], removed: ["bad"] });
      assert.ok(lines.some((l) => /dropped the partial ingest bad: its data file holds 1 bytes/.test(l)), lines.join("\n"));
      assert.deepEqual(await readdir(path.join(root, "content", "ingest")), []);
    } finally {
      setIgnoredLog(undefined);
    }
  }));

test("pruneIngests with age 0 removes every idle ingest but those kept and those a live writer holds", () =>
  withStore(async (store) => {
    for (const ref of ["pull-a", "registry-upload-b"]) {
      const w = await store.writer(ref);
      await w.write(Buffer.from("partial"));
      await w.close();
    }
    const held = await store.writer("pull-held");
    await held.write(Buffer.from("busy"));
    try {
      const res = await store.pruneIngests({ ingestMaxAgeMs: 0, keep: (ref) => ref.startsWith("registry-upload-") });
      assert.deepEqual(res, { removed: ["pull-a"], bytesFreed: res.bytesFreed });
      assert.ok(res.bytesFreed >= 7);
      assert.deepEqual((await store.listIngests()).map((i) => i.ref).sort(), ["pull-held", "registry-upload-b"]);
      // with the default age (24 h) nothing this fresh goes
      assert.deepEqual((await store.pruneIngests()).removed, []);
    } finally {
      await held.close();
    }
  }));

test("putBytes stores a blob held in memory in one write, checks its digest, and leaves no ingest", () =>
  withStore(async (store, root) => {
    const data = Buffer.from('{"schemaVersion":2}');
    const digest = digestOf(data);
    assert.equal(await store.putBytes(data, digest), true);
    assert.deepEqual(await store.readBlob(digest), data);
    assert.equal((await stat(path.join(root, "content", "blobs", "sha256", digest.slice(7)))).mode & 0o777, 0o444);
    assert.equal(await store.putBytes(data, digest), false, "there already");
    const other = digestOf(Buffer.from("other"));
    await assert.rejects(store.putBytes(data, other), isCove("invalid", "content.digest-mismatch"));
    assert.equal(await store.exists(other), false, "nothing stored under a digest the bytes do not have");
    assert.deepEqual(await readdir(path.join(root, "content", "ingest")), [], "no temp file and no ingest left");
    assert.deepEqual(await store.listIngests(), []);
  }));

test("a putBytes temp file a dead process left is removed at reconcile; a live one's stays", () =>
  withStore(async (store, root) => {
    const ingest = path.join(root, "content", "ingest");
    await store.putBytes(Buffer.from("x"), digestOf(Buffer.from("x")));
    // pid 2^22+1 is above any pid_max: no such process
    await writeFile(path.join(ingest, `.bytes-${2 ** 22 + 1}-aaaaaa`), "partial");
    await writeFile(path.join(ingest, `.bytes-${process.pid}-bbbbbb`), "in flight");
    await store.reconcileIngests();
    assert.deepEqual(await readdir(ingest), [`.bytes-${process.pid}-bbbbbb`]);
  }));
