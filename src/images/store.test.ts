import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoveError } from "../common/errors.js";
import { digestOf } from "../content/digest.js";
import { MediaType } from "./mediatypes.js";
import { ImageStore } from "./store.js";
import type { Descriptor } from "./types.js";

function target(name: string): Descriptor {
  return { mediaType: MediaType.OCIManifest, digest: digestOf(`manifest-${name}`), size: 100 };
}

async function withStore(fn: (store: ImageStore, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), "cove-images-"));
  try {
    await fn(new ImageStore({ root }), root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const isCove = (kind: string, message?: string) => (e: unknown) =>
  e instanceof CoveError && e.kind === kind && (message === undefined || e.message === message);

// Fixed IDs so prefixes are predictable.
const ID_A = "sha256:aaaa" + "1".repeat(60);
const ID_B = "sha256:aaab" + "2".repeat(60);
const ID_C = "sha256:c" + "3".repeat(63);

async function seed(store: ImageStore) {
  await store.put({ id: ID_A, target: target("a"), names: ["busybox", "busybox:1.36"], createdAt: "2024-01-01T00:00:00Z", labels: { maintainer: "x", tier: "base" } });
  await store.put({ id: ID_B, target: target("b"), names: ["localhost:5000/app/web:v1"], createdAt: "2024-02-01T00:00:00Z", labels: { tier: "app" } });
  await store.put({ id: ID_C, target: target("c"), createdAt: "2024-03-01T00:00:00Z" });
}

test("put writes index.json atomically and normalizes names", () =>
  withStore(async (store, root) => {
    await seed(store);
    const file = path.join(root, "images", "index.json");
    const data = JSON.parse(await readFile(file, "utf8")) as { version: number; images: Array<{ id: string; names: string[] }> };
    assert.equal(data.version, 1);
    assert.deepEqual(data.images.find((i) => i.id === ID_A)?.names, ["docker.io/library/busybox:1.36", "docker.io/library/busybox:latest"]);
    // No temp files left behind.
    assert.deepEqual(await readdir(path.join(root, "images")), ["index.json"]);
    // A second instance on the same root sees the same state.
    assert.equal((await new ImageStore({ root }).get("busybox")).id, ID_A);
  }));

test("lookups follow every change to index.json, whoever made it (the lookup cache keys on the file's identity)", () =>
  withStore(async (store, root) => {
    await seed(store);
    assert.equal((await store.get("busybox")).id, ID_A);
    const other = new ImageStore({ root });
    await other.tag("busybox", "renamed:1");
    assert.equal((await store.get("renamed:1")).id, ID_A, "a tag by another instance is seen");
    await other.untag("busybox:latest");
    await assert.rejects(store.get("busybox"), (e: unknown) => e instanceof CoveError && e.kind === "not-found");
    // what get() returns is the caller's: changing it changes nothing cached
    const rec = await store.get("renamed:1");
    rec.names.push("mutated:1");
    await assert.rejects(store.get("mutated:1"), (e: unknown) => e instanceof CoveError && e.kind === "not-found");
  }));

test("a put that changes nothing (an up-to-date pull) leaves index.json as it was; one that changes something replaces it", () =>
  withStore(async (store, root) => {
    await seed(store);
    const file = path.join(root, "images", "index.json");
    const before = await stat(file);
    const text = await readFile(file, "utf8");
    // the same record again, names in another order and one of them familiar
    await store.put({ id: ID_A, target: target("a"), names: ["busybox:1.36", "docker.io/library/busybox:latest"], createdAt: "2024-01-01T00:00:00Z", labels: { maintainer: "x", tier: "base" } });
    assert.equal((await stat(file)).ino, before.ino, "not rewritten");
    assert.equal(await readFile(file, "utf8"), text);
    await store.put({ id: ID_A, target: target("a"), names: ["busybox:2"], createdAt: "2024-01-01T00:00:00Z" });
    assert.notEqual((await stat(file)).ino, before.ino, "rewritten (a new file renamed into place)");
    assert.deepEqual((await store.get("busybox:2")).names, ["docker.io/library/busybox:1.36", "docker.io/library/busybox:2", "docker.io/library/busybox:latest"]);
    assert.deepEqual(await readdir(path.join(root, "images")), ["index.json"]);
  }));

test("get by name, full ID, 64-hex, digest target, and ID prefix; ambiguous prefix is an error", () =>
  withStore(async (store) => {
    await seed(store);
    assert.equal((await store.get("busybox:latest")).id, ID_A);
    assert.equal((await store.get("docker.io/library/busybox")).id, ID_A);
    assert.equal((await store.get("index.docker.io/library/busybox:1.36")).id, ID_A);
    assert.equal((await store.get(ID_B)).id, ID_B);
    assert.equal((await store.get(ID_B.slice(7))).id, ID_B);
    assert.equal((await store.get(target("c").digest)).id, ID_C);
    assert.equal((await store.get("c")).id, ID_C);
    assert.equal((await store.get("sha256:c33")).id, ID_C);
    assert.equal((await store.get("aaab")).id, ID_B);
    await assert.rejects(store.get("aaa"), (e: unknown) => e instanceof CoveError && e.code === "image.ambiguous");
    await assert.rejects(store.get("nosuch"), isCove("not-found", "No such image: nosuch:latest"));
    await assert.rejects(store.get("Busybox"), isCove("invalid", "invalid reference format: repository name (library/Busybox) must be lowercase"));
  }));

test("get by name@digest", () =>
  withStore(async (store) => {
    const t = target("pinned");
    await store.put({ id: ID_A, target: t, names: [`busybox@${t.digest}`] });
    assert.equal((await store.get(`busybox@${t.digest}`)).id, ID_A);
    assert.equal((await store.get(`busybox:any@${t.digest}`)).id, ID_A);
    await assert.rejects(store.get(`other@${t.digest}`), isCove("not-found"));
  }));

test("tag moves a name; digest tags are refused; untag leaves a dangling image", () =>
  withStore(async (store) => {
    await seed(store);
    const tagged = await store.tag("busybox:1.36", "myrepo/bb:stable");
    assert.ok(tagged.names.includes("docker.io/myrepo/bb:stable"));
    // Moving "busybox:latest" to image C takes it from A.
    await store.tag(ID_C, "busybox");
    assert.equal((await store.get("busybox")).id, ID_C);
    assert.ok(!(await store.get(ID_A)).names.includes("docker.io/library/busybox:latest"));
    await assert.rejects(store.tag("busybox", `x@${digestOf("d")}`), isCove("invalid", "refusing to create a tag with a digest reference"));
    await assert.rejects(store.tag("nosuch", "x"), isCove("not-found"));

    const after = await store.untag("localhost:5000/app/web:v1");
    assert.deepEqual(after.names, []);
    assert.equal((await store.get(ID_B)).id, ID_B);
    await assert.rejects(store.untag("localhost:5000/app/web:v1"), isCove("not-found", "No such image: localhost:5000/app/web:v1"));
  }));

test("list: newest first, repo tags/digests, and Docker's filters", () =>
  withStore(async (store) => {
    await seed(store);
    const all = await store.list();
    assert.deepEqual(all.map((i) => i.id), [ID_C, ID_B, ID_A]);
    assert.deepEqual(all[2]?.repoTags, ["busybox:1.36", "busybox:latest"]);
    assert.deepEqual(all[1]?.repoTags, ["localhost:5000/app/web:v1"]);

    assert.deepEqual((await store.list({ dangling: ["true"] })).map((i) => i.id), [ID_C]);
    assert.deepEqual((await store.list({ dangling: ["false"] })).map((i) => i.id), [ID_B, ID_A]);
    assert.deepEqual((await store.list({ label: ["tier"] })).map((i) => i.id), [ID_B, ID_A]);
    assert.deepEqual((await store.list({ label: ["tier=base"] })).map((i) => i.id), [ID_A]);
    assert.deepEqual((await store.list({ label: ["tier=base", "maintainer=y"] })).map((i) => i.id), []);
    assert.deepEqual((await store.list({ before: ["localhost:5000/app/web:v1"] })).map((i) => i.id), [ID_A]);
    assert.deepEqual((await store.list({ since: ["busybox"] })).map((i) => i.id), [ID_C, ID_B]);

    const byRef = await store.list({ reference: ["busybox:1.*"] });
    assert.deepEqual(byRef.map((i) => i.id), [ID_A]);
    assert.deepEqual(byRef[0]?.repoTags, ["busybox:1.36"]);
    assert.deepEqual((await store.list({ reference: ["busybox"] }))[0]?.repoTags, ["busybox:1.36", "busybox:latest"]);
    assert.deepEqual((await store.list({ reference: ["localhost:5000/*/*"] })).map((i) => i.id), [ID_B]);

    await assert.rejects(store.list({ colour: ["red"] }), isCove("invalid", "invalid filter 'colour'"));
    await assert.rejects(store.list({ dangling: ["maybe"] }), isCove("invalid", "invalid filter 'dangling=maybe'"));
    await assert.rejects(store.list({ before: ["nosuch"] }), isCove("not-found"));
  }));

test("remove (rmi): by tag untags; last tag deletes; by ID with several repositories needs force", () =>
  withStore(async (store) => {
    await seed(store);
    const t = target("a");
    await store.put({ id: ID_A, target: t, names: [`busybox@${t.digest}`, "other/repo:x"] });

    assert.deepEqual(await store.remove("busybox:1.36"), [{ Untagged: "busybox:1.36" }]);
    // Last busybox tag: its digest name goes too, but other/repo keeps the image.
    assert.deepEqual(await store.remove("busybox"), [{ Untagged: "busybox:latest" }, { Untagged: `busybox@${t.digest}` }]);
    assert.deepEqual((await store.get(ID_A)).names, ["docker.io/other/repo:x"]);
    await store.tag("other/repo:x", "third/repo:y");

    await assert.rejects(store.remove(ID_A.slice(7, 19)), isCove("conflict", `conflict: unable to delete ${ID_A.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`));
    assert.deepEqual(await store.remove(ID_A.slice(7, 19), { force: true }), [
      { Untagged: "other/repo:x" },
      { Untagged: "third/repo:y" },
      { Deleted: ID_A },
    ]);
    await assert.rejects(store.get(ID_A), isCove("not-found"));

    assert.deepEqual(await store.remove("localhost:5000/app/web:v1"), [{ Untagged: "localhost:5000/app/web:v1" }, { Deleted: ID_B }]);
    assert.deepEqual(await store.remove(ID_C), [{ Deleted: ID_C }]);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await store.roots(), []);
  }));

test("concurrent mutations are serialized, none lost", () =>
  withStore(async (store, root) => {
    await store.put({ id: ID_A, target: target("a"), names: ["base"] });
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.tag("base", `many:t${i}`)));
    const rec = await new ImageStore({ root }).get("base");
    assert.equal(rec.names.length, 21);
  }));

test("a corrupt index.json is reported, not silently replaced", () =>
  withStore(async (store, root) => {
    await seed(store);
    await writeFile(path.join(root, "images", "index.json"), "{ truncated");
    await assert.rejects(store.list(), (e: unknown) => e instanceof CoveError && e.code === "image.store-corrupt");
    await assert.rejects(store.put({ id: ID_A, target: target("a") }), (e: unknown) => e instanceof CoveError && e.code === "image.store-corrupt");
    assert.equal(await readFile(path.join(root, "images", "index.json"), "utf8"), "{ truncated");
  }));

test("roots lists every target for content GC", () =>
  withStore(async (store) => {
    await seed(store);
    assert.deepEqual((await store.roots()).sort(), [target("a").digest, target("b").digest, target("c").digest].sort());
  }));

test("a recorded parent: its children make it no dangling image, keep it on untag by name and refuse its removal by ID", () =>
  withStore(async (store) => {
    const parent = "sha256:d" + "4".repeat(63);
    const child = "sha256:e" + "5".repeat(63);
    await store.put({ id: parent, target: target("p"), names: ["base:1"], createdAt: "2024-01-01T00:00:00Z" });
    await store.put({ id: child, target: target("ch"), createdAt: "2024-01-02T00:00:00Z", parent });
    // a later put of the same image keeps the parent it was recorded with
    await store.put({ id: child, target: target("ch"), names: ["app:1"], parent: ID_A });
    assert.equal((await store.get(child)).parent, parent);
    const byId = new Map((await store.list()).map((s) => [s.id, s]));
    assert.deepEqual([byId.get(parent)!.hasChildren, byId.get(child)!.hasChildren], [true, false]);
    assert.deepEqual(await store.remove("base:1"), [{ Untagged: "base:1" }]);
    assert.equal((await store.get(parent)).names.length, 0);
    // untagged with a child: an intermediate image, not a dangling one
    assert.deepEqual((await store.list({ dangling: ["true"] })).map((s) => s.id), []);
    await assert.rejects(store.remove(parent, { force: true }), isCove("conflict", `conflict: unable to delete ${parent.slice(7, 19)} (cannot be forced) - image has dependent child images`));
    await store.remove("app:1");
    assert.deepEqual((await store.list({ dangling: ["true"] })).map((s) => s.id), [parent]);
    assert.deepEqual(await store.remove(parent), [{ Deleted: parent }]);
  }));
