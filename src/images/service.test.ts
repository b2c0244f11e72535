// ImageService on real stores under a temp root (needs root: snapshots apply whiteouts and mount
// overlays). The busybox base image comes from Debian's busybox-static (test/images/fixtures.ts).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { after, before, describe, it } from "node:test";
import { createGzip } from "node:zlib";
import { CoveError } from "../common/errors.js";
import { readTar } from "../snapshots/tar.js";
import { cleanup } from "../snapshots/testing.js";
import { findBusybox, importBusybox, tempDir } from "../../test/images/fixtures.js";
import { ImageService, parseUntil } from "./service.js";

const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? "needs root (overlay snapshots)" : undefined;

async function tarNames(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const { header, body } of readTar(createReadStream(file) as AsyncIterable<Buffer>)) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c);
    out.set(header.name.replace(/\/$/, ""), Buffer.concat(chunks));
  }
  return out;
}

async function state(svc: ImageService) {
  const u = await svc.content.usage();
  return { images: (await svc.images.list()).map((i) => `${i.id} ${i.names.join(",")}`), blobs: u.blobs, ingests: u.ingests.count, snapshots: svc.snapshots.list().map((s) => s.key) };
}

describe("ImageService", { skip }, () => {
  let dir: string;
  let svc: ImageService;
  let id: string;

  before(async () => {
    if (!(await findBusybox())) throw new Error("busybox-static is required: apt-get install -y busybox-static");
    dir = await tempDir();
    svc = await ImageService.open({ root: path.join(dir, "root") });
    id = await importBusybox(svc);
  });
  after(async () => {
    await cleanup(dir);
  });

  it("lists the imported image in Docker's /images/json shape", async () => {
    const list = await svc.list();
    assert.equal(list.length, 1);
    const [img] = list;
    assert.ok(img);
    assert.equal(img.Id, id);
    assert.deepEqual(img.RepoTags, ["busybox:latest"]);
    assert.deepEqual(img.RepoDigests, []);
    assert.deepEqual(img.Labels, {});
    assert.equal(img.ParentId, "");
    assert.equal(img.SharedSize, -1);
    assert.equal(img.Containers, -1);
    assert.ok(img.Size > 1_000_000, `busybox is over 1 MB unpacked, got ${img.Size}`);
    assert.ok(Math.abs(img.Created - Date.now() / 1000) < 600);
  });

  it("inspects with config, rootfs and the overlay2 graph driver", async () => {
    const ins = await svc.inspect("busybox");
    assert.equal(ins.Id, id);
    assert.deepEqual(ins.Config.Cmd, ["sh"]);
    assert.equal(ins.Config.Entrypoint, null);
    assert.deepEqual(ins.Config.Labels, {});
    assert.equal(ins.Os, "linux");
    assert.equal(ins.RootFS.Type, "layers");
    assert.equal(ins.RootFS.Layers.length, 1);
    assert.equal(ins.GraphDriver.Name, "overlay2");
    assert.equal(ins.Comment, "");
    assert.match(ins.Created, /^\d{4}-\d\d-\d\dT/);
    assert.notEqual(ins.Metadata.LastTagTime, "0001-01-01T00:00:00Z");
    // the config blob's digest is the image ID, as docker computes it
    const cfg = await svc.content.readBlob(id);
    assert.equal(`sha256:${createHash("sha256").update(cfg).digest("hex")}`, id);
    await assert.rejects(svc.inspect("nosuch"), (e: unknown) => e instanceof CoveError && e.kind === "not-found" && /No such image: nosuch:latest/.test(e.message));
  });

  it("gives Docker's history: newest first, ID and tags on the top entry", async () => {
    const h = await svc.history("busybox:latest");
    assert.equal(h.length, 1);
    assert.equal(h[0]?.Id, id);
    assert.deepEqual(h[0]?.Tags, ["busybox:latest"]);
    assert.equal(h[0]?.Comment, "Imported from -");
    assert.ok((h[0]?.Size ?? 0) > 0);
  });

  it("applies --change instructions on import and names nothing without a reference", async () => {
    const tarDir = await tempDir();
    try {
      await mkdir(path.join(tarDir, "t"));
      await writeFile(path.join(tarDir, "t", "hello"), "hi\n");
      const { tarDirectory } = await import("../snapshots/diff.js");
      const tarFile = path.join(tarDir, "r.tar.gz");
      const gz = createGzip();
      const done = new Promise<void>((resolve) => gz.pipe(createWriteStream(tarFile)).on("close", () => resolve()));
      await tarDirectory(path.join(tarDir, "t"), gz);
      await done;
      const imported = await svc.importRootfs(createReadStream(tarFile), { changes: ["ENV A=1", "LABEL x=y", 'ENTRYPOINT ["/hello"]', "EXPOSE 8080"], message: "from a test" });
      const ins = await svc.inspect(imported);
      assert.deepEqual(ins.Config.Env, ["A=1"]);
      assert.deepEqual(ins.Config.Labels, { x: "y" });
      assert.deepEqual(ins.Config.Entrypoint, ["/hello"]);
      assert.deepEqual(ins.Config.ExposedPorts, { "8080/tcp": {} });
      assert.equal(ins.Comment, "from a test");
      assert.deepEqual(ins.RepoTags, []);
      const listed = (await svc.list({ filters: { label: ["x=y"] } })).map((i) => i.Id);
      assert.deepEqual(listed, [imported]);
      // dangling: prune removes it and gives the space back
      const before_ = await svc.content.usage();
      const pruned = await svc.prune();
      assert.deepEqual(pruned.ImagesDeleted, [{ Deleted: imported }]);
      assert.ok(pruned.SpaceReclaimed > 0);
      const after_ = await svc.content.usage();
      assert.equal(after_.blobs.count, before_.blobs.count - 3);
      await assert.rejects(svc.inspect(imported), /No such image/);
    } finally {
      await cleanup(tarDir);
    }
  });

  it("saves and loads into another root with the same image ID and diff IDs", async () => {
    const other = await tempDir();
    try {
      const file = path.join(other, "save.tar");
      await svc.save(["busybox"], createWriteStream(file));
      const names = await tarNames(file);
      for (const n of ["manifest.json", "index.json", "oci-layout", "repositories"]) assert.ok(names.has(n), `archive has ${n}`);
      const manifest = JSON.parse((names.get("manifest.json") as Buffer).toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
      assert.deepEqual(manifest[0]?.RepoTags, ["busybox:latest"]);
      assert.equal(manifest[0]?.Config, `blobs/sha256/${id.slice(7)}`);
      const svc2 = await ImageService.open({ root: path.join(other, "root") });
      const msgs: string[] = [];
      const res = await svc2.load(createReadStream(file), { onProgress: (m) => msgs.push(m.status) });
      assert.deepEqual(res.loaded, ["busybox:latest"]);
      assert.ok(msgs.includes("Loaded image: busybox:latest"));
      const a = await svc.inspect("busybox");
      const b = await svc2.inspect("busybox");
      assert.equal(b.Id, a.Id);
      assert.deepEqual(b.RootFS, a.RootFS);
      assert.equal(b.Size, a.Size);
      // loading again changes nothing and reuses the snapshots
      const snaps = svc2.snapshots.list().map((s) => s.key);
      await svc2.load(createReadStream(file));
      assert.deepEqual(svc2.snapshots.list().map((s) => s.key), snaps);
    } finally {
      await cleanup(other);
    }
  });

  it("writes several images and tags in one archive, shared layers once", async () => {
    await svc.tag("busybox", "example.com/tools/bb:v1");
    const other = await tempDir();
    try {
      const file = path.join(other, "two.tar.gz");
      const gz = createGzip();
      const done = new Promise<void>((resolve) => gz.pipe(createWriteStream(file)).on("close", () => resolve()));
      await svc.save(["busybox:latest", "example.com/tools/bb:v1"], gz);
      await done;
      const svc2 = await ImageService.open({ root: path.join(other, "root") });
      const res = await svc2.load(createReadStream(file));
      assert.deepEqual(res.loaded.sort(), ["busybox:latest", "example.com/tools/bb:v1"]);
      assert.deepEqual((await svc2.list())[0]?.RepoTags.sort(), ["busybox:latest", "example.com/tools/bb:v1"]);
    } finally {
      await cleanup(other);
      await svc.remove("example.com/tools/bb:v1");
    }
  });

  it("exports and imports an OCI layout directory", async () => {
    const other = await tempDir();
    try {
      const layout = path.join(other, "layout");
      await svc.exportOciLayout(["busybox:latest"], { dir: layout });
      const index = JSON.parse(await readFile(path.join(layout, "index.json"), "utf8")) as { manifests: { annotations: Record<string, string> }[] };
      assert.equal(index.manifests[0]?.annotations["org.opencontainers.image.ref.name"], "latest");
      assert.equal(index.manifests[0]?.annotations["io.containerd.image.name"], "docker.io/library/busybox:latest");
      assert.equal((await readdir(path.join(layout, "blobs", "sha256"))).length, 3);
      const svc2 = await ImageService.open({ root: path.join(other, "root") });
      const res = await svc2.importOciLayout({ dir: layout });
      assert.deepEqual(res.loaded, ["busybox:latest"]);
      assert.equal((await svc2.inspect("busybox")).Id, id);
    } finally {
      await cleanup(other);
    }
  });

  it("prepares a container rootfs, exports its merged view and removes it", async () => {
    const { mounts, imageId, config } = await svc.prepareRootfs("ctr-1", "busybox");
    assert.equal(imageId, id);
    assert.deepEqual(config.config?.Cmd, ["sh"]);
    assert.equal(mounts.length, 1);
    const upper = svc.snapshots.upperDir("ctr-1");
    await writeFile(path.join(upper, "written-by-container"), "data\n");
    const out = path.join(dir, "export.tar");
    await svc.exportRootfs("ctr-1", createWriteStream(out));
    const names = await tarNames(out);
    assert.equal(names.get("written-by-container")?.toString(), "data\n");
    assert.ok(names.has("bin/busybox"));
    assert.ok(names.has("etc/passwd"));
    // the image is in use: Docker's conflict messages
    const inUse = (imgId: string) => (imgId === id ? "abcdef0123456789" : false);
    await assert.rejects(svc.remove("busybox", { inUse }), (e: unknown) => {
      assert.ok(e instanceof CoveError);
      assert.equal(e.kind, "conflict");
      assert.equal(e.message, `conflict: unable to remove repository reference "busybox" (must force) - container abcdef012345 is using its referenced image ${id.slice(7, 19)}`);
      return true;
    });
    await assert.rejects(svc.remove(id, { inUse }), (e: unknown) => e instanceof CoveError && e.message === `conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is being used by stopped container abcdef012345`);
    // gc keeps the layers an active container snapshot stands on
    await svc.gc();
    assert.ok(svc.snapshots.has("ctr-1"));
    await svc.removeRootfs("ctr-1");
    assert.equal(svc.snapshots.has("ctr-1"), false);
  });

  it("reports df as the sum of unique snapshot usage", async () => {
    const df = await svc.df();
    let sum = 0;
    for (const s of svc.snapshots.list()) if (s.kind === "committed") sum += (await svc.snapshots.usage(s.key)).size;
    assert.equal(df.LayersSize, sum);
    assert.equal(df.Images.length, 1);
    assert.equal(df.Images[0]?.Size, sum);
  });

  it("removes by name, then collects blobs and snapshots nothing uses", async () => {
    await svc.tag("busybox", "busybox:other");
    assert.deepEqual(await svc.remove("busybox:other"), [{ Untagged: "busybox:other" }]);
    const res = await svc.remove("busybox");
    assert.deepEqual(res, [{ Untagged: "busybox:latest" }, { Deleted: id }]);
    const s = await state(svc);
    assert.deepEqual(s.images, []);
    assert.equal(s.blobs.count, 0);
    assert.deepEqual(s.snapshots, []);
  });
});

describe("parseUntil", () => {
  it("accepts durations, unix seconds and RFC 3339", () => {
    const now = Date.parse("2024-01-02T00:00:00Z");
    assert.equal(parseUntil("24h", now), Date.parse("2024-01-01T00:00:00Z"));
    assert.equal(parseUntil("1h30m", now), now - 90 * 60_000);
    assert.equal(parseUntil("1700000000"), 1_700_000_000_000);
    assert.equal(parseUntil("2023-05-01T00:00:00Z"), Date.parse("2023-05-01T00:00:00Z"));
    assert.throws(() => parseUntil("yesterday"), /invalid filter 'until=yesterday'/);
  });
});



