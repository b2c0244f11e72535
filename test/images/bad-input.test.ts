// Bad archives: each gives a clear error and leaves the image list, the content store and the
// snapshot list exactly as they were.

import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { CoveError } from "../../src/common/errors.js";
import { digestOf } from "../../src/content/digest.js";
import { ImageService } from "../../src/images/service.js";
import { encodeHeader, END_OF_ARCHIVE } from "../../src/snapshots/tar.js";
import { cleanup, makeTar } from "../../src/snapshots/testing.js";
import { findBusybox, importBusybox, tempDir } from "./fixtures.js";

const skip = process.getuid?.() !== 0 ? "needs root (overlay snapshots)" : undefined;

interface Entry {
  name: string;
  body?: Buffer | string;
  type?: "symlink";
  linkname?: string;
}

function tar(entries: Entry[]): Promise<Buffer> {
  return makeTar(entries.map((e) => (e.type === "symlink" ? { header: { name: e.name, type: "symlink", linkname: e.linkname } } : { header: { name: e.name }, body: e.body ?? "" })));
}

/** A one-layer docker-archive in the legacy layout, with hooks to break it. */
async function legacyArchive(layer: Buffer, opts: { configDiffId?: string; manifest?: unknown } = {}): Promise<Buffer> {
  const diffId = opts.configDiffId ?? digestOf(layer);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", created: "2024-01-01T00:00:00Z", config: {}, rootfs: { type: "layers", diff_ids: [diffId] } }));
  const cfgName = `${digestOf(config).slice(7)}.json`;
  const manifest = opts.manifest ?? [{ Config: cfgName, RepoTags: ["bad:latest"], Layers: ["abc/layer.tar"] }];
  return tar([
    { name: "abc/layer.tar", body: layer },
    { name: cfgName, body: config },
    { name: "manifest.json", body: JSON.stringify(manifest) },
  ]);
}

describe("load refuses bad input and changes nothing", { skip }, () => {
  let dir: string;
  let svc: ImageService;

  const state = async () => {
    const u = await svc.content.usage();
    return {
      images: (await svc.images.list()).map((i) => `${i.id} ${i.names.join(",")}`),
      blobs: u.blobs.count,
      bytes: u.blobs.bytes,
      ingests: u.ingests.count,
      snapshots: svc.snapshots.list().map((s) => `${s.key} ${s.kind}`),
    };
  };

  const refused = async (input: Buffer, pattern: RegExp, opts: { maxBytes?: number } = {}) => {
    const before_ = await state();
    await assert.rejects(svc.load(Readable.from([input]), opts), (e: unknown) => {
      assert.ok(e instanceof CoveError, `a CoveError, got ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    });
    assert.deepEqual(await state(), before_);
  };

  before(async () => {
    if (!(await findBusybox())) throw new Error("busybox-static is required: apt-get install -y busybox-static");
    dir = await tempDir();
    svc = await ImageService.open({ root: path.join(dir, "root") });
    await importBusybox(svc);
  });
  after(async () => {
    await cleanup(dir);
  });

  it("loads a well-formed legacy archive (the control case), then removes it", async () => {
    const layer = await tar([{ name: "hello.txt", body: "hello\n" }]);
    const res = await svc.load(Readable.from([await legacyArchive(layer)]));
    assert.deepEqual(res.loaded, ["bad:latest"]);
    await svc.remove("bad:latest");
  });

  it("a truncated archive", async () => {
    const file = path.join(dir, "good.tar");
    await svc.save(["busybox"], createWriteStream(file));
    const whole = await readFile(file);
    await refused(whole.subarray(0, Math.floor(whole.length / 2)), /truncated|corrupt|reading the archive/);
  });

  it("a blob whose digest does not match its name", async () => {
    const file = path.join(dir, "good2.tar");
    await svc.save(["busybox"], createWriteStream(file));
    // flip one byte inside the layer blob's body (the largest member)
    const whole = Buffer.from(await readFile(file));
    const at = 512 * 4 + 1000; // blobs/, blobs/sha256/ headers, then the first blob (the layer)
    whole[at] = (whole[at] ?? 0) ^ 0xff;
    await refused(whole, /hashes to|does not match|digest/);
  });

  it("a layer whose diff ID does not match the config", async () => {
    const layer = await tar([{ name: "a", body: "a" }]);
    await refused(await legacyArchive(layer, { configDiffId: digestOf("something else") }), /diff_ids\[0\]|diff ID/);
  });

  it("a layer with ../ entries", async () => {
    const hostile = await tar([
      { name: "ok.txt", body: "fine" },
      { name: "../../escape.txt", body: "pwned" },
    ]);
    await refused(await legacyArchive(hostile), /escapes the layer root/);
  });

  it("manifest.json naming files outside the archive", async () => {
    const layer = await tar([{ name: "a", body: "a" }]);
    await refused(await legacyArchive(layer, { manifest: [{ Config: "../../etc/passwd", RepoTags: ["bad:latest"], Layers: ["abc/layer.tar"] }] }), /contains ".."/);
    await refused(await legacyArchive(layer, { manifest: [{ Config: "missing.json", RepoTags: [], Layers: ["abc/layer.tar"] }] }), /not in the archive/);
  });

  it("archive member names with ../ and symlinks leading out", async () => {
    await refused(await tar([{ name: "../manifest.json", body: "[]" }]), /contains ".."/);
    const layer = await tar([{ name: "a", body: "a" }]);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [digestOf(layer)] } }));
    const withLink = await tar([
      { name: "layer.tar", type: "symlink", linkname: "/etc/shadow" },
      { name: "c.json", body: config },
      { name: "manifest.json", body: JSON.stringify([{ Config: "c.json", RepoTags: [], Layers: ["layer.tar"] }]) },
    ]);
    await refused(withLink, /absolute path|outside the archive/);
  });

  it("an archive member claiming a huge size", async () => {
    const head = encodeHeader({ name: "blobs/sha256/huge", type: "file", mode: 0o644, uid: 0, gid: 0, size: 2 ** 50, mtimeSec: 0 });
    await refused(Buffer.concat([head, Buffer.alloc(4096), END_OF_ARCHIVE]), /claims \d+ bytes, more than/);
    // and a real member over an explicit budget
    const layer = await tar([{ name: "big", body: Buffer.alloc(64 * 1024) }]);
    await refused(await legacyArchive(layer), /more than the \d+ bytes left/, { maxBytes: 16 * 1024 });
  });

  it("an OCI layout whose descriptor claims the wrong size", async () => {
    const layer = await tar([{ name: "a", body: "a" }]);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [digestOf(layer)] } }));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: config.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: digestOf(layer), size: 1 << 40 }],
      }),
    );
    const index = { schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digestOf(manifest), size: manifest.length, annotations: { "io.containerd.image.name": "docker.io/library/oci:bad" } }] };
    const b = (x: Buffer) => `blobs/sha256/${digestOf(x).slice(7)}`;
    const archive = await tar([
      { name: "oci-layout", body: '{"imageLayoutVersion":"1.0.0"}' },
      { name: "index.json", body: JSON.stringify(index) },
      { name: b(layer), body: layer },
      { name: b(config), body: config },
      { name: b(manifest), body: manifest },
    ]);
    await refused(archive, /bytes, but its descriptor says/);
  });

  it("garbage that is neither tar nor a known format", async () => {
    await refused(Buffer.from("this is not an archive at all, just some text padding ".repeat(20)), /corrupt|truncated|archive/);
    await refused(await tar([{ name: "readme", body: "hi" }]), /neither a docker-archive/);
  });
});
