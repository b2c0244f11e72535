// Writing image archives: a small streaming tar writer (ustar headers from snapshots/tar.ts, with
// backpressure) and the layout both `save` and `exportOciLayout` produce.
//
// What cove save writes (Docker 25+'s docker-archive, which is also an OCI image layout):
//   oci-layout                 {"imageLayoutVersion": "1.0.0"}
//   index.json                 one entry per saved name (or per image saved by ID), with the
//                              annotations io.containerd.image.name (full name) and
//                              org.opencontainers.image.ref.name (the tag), as containerd and
//                              Docker 25+ write them
//   blobs/sha256/<hex>         manifests, configs and layers, each written once however many
//                              images share it; layers as stored (the compressed blob when the
//                              image was pulled or loaded compressed)
//   manifest.json              [{Config: "blobs/sha256/<hex>", RepoTags: [...], Layers: [...]}]
//   repositories               {"busybox": {"latest": "<hex of the top layer blob>"}}
// docker.io 20.10 (Debian 12), Docker 25+ and skopeo 1.9 read it through manifest.json, which may
// name any file in the archive, and decompress layers themselves; skopeo and umoci also read it as
// an OCI layout. The per-layer <id>/VERSION, json, layer.tar directories of older Docker are only
// read by loaders without manifest.json support (Docker < 1.10), so they are not written.

import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable, type Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { invalid } from "../../common/errors.js";
import { writeFileAtomic } from "../../common/fs.js";
import type { Digest } from "../../content/digest.js";
import { END_OF_ARCHIVE, encodeHeader, padding } from "../../snapshots/tar.js";
import { MediaType } from "../mediatypes.js";
import type { Descriptor, Index } from "../types.js";
import { blobPath } from "./source.js";

/** Writes a tar stream to out, honouring backpressure. Timestamps are fixed (reproducible). */
export class TarWriter {
  private readonly dirs = new Set<string>();

  constructor(
    private readonly out: Writable,
    private readonly mtimeSec = 0,
  ) {}

  private async put(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    if (this.out.destroyed) throw invalid("the output stream was closed before the archive was complete", { code: "archive.write-failed" });
    if (this.out.write(buf)) return;
    const out = this.out;
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        out.off("drain", done);
        out.off("close", done);
        out.off("error", fail);
      };
      const done = () => {
        cleanup();
        resolve();
      };
      const fail = (err: Error) => {
        cleanup();
        reject(err);
      };
      out.on("drain", done);
      out.on("close", done);
      out.on("error", fail);
    });
  }

  async dir(name: string): Promise<void> {
    if (this.dirs.has(name)) return;
    const parent = path.posix.dirname(name);
    if (parent !== "." && parent !== "") await this.dir(parent);
    this.dirs.add(name);
    await this.put(encodeHeader({ name: `${name}/`, type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, mtimeSec: this.mtimeSec }));
  }

  /** Adds a file; `data` is its bytes or a stream yielding exactly `size` bytes. */
  async file(name: string, size: number, data: Buffer | Readable | AsyncIterable<Buffer>): Promise<void> {
    const parent = path.posix.dirname(name);
    if (parent !== "." && parent !== "") await this.dir(parent);
    await this.put(encodeHeader({ name, type: "file", mode: 0o644, uid: 0, gid: 0, size, mtimeSec: this.mtimeSec }));
    let written = 0;
    if (Buffer.isBuffer(data)) {
      await this.put(data);
      written = data.length;
    } else {
      for await (const c of data as AsyncIterable<Buffer>) {
        written += c.length;
        if (written > size) break;
        await this.put(c);
      }
    }
    if (written !== size) throw invalid(`writing ${name} into the archive: its source gave ${written} bytes, expected ${size}`, { code: "archive.write-failed" });
    await this.put(Buffer.alloc(padding(size)));
  }

  async end(): Promise<void> {
    await this.put(END_OF_ARCHIVE);
    this.out.end();
    await finished(this.out);
  }
}

/** One saved image: what index.json and manifest.json say about it. */
export interface SaveEntry {
  /** The manifest to write (resolved for the platform). */
  manifest: Descriptor;
  /** The manifest's bytes when they are not a stored blob (a manifest converted to OCI types). */
  manifestBytes?: Buffer;
  /** The manifest's config and layers. */
  config: Descriptor;
  layers: Descriptor[];
  /** Canonical names ("docker.io/library/busybox:latest"); empty when saved by ID. */
  names: string[];
  /** Familiar tags for manifest.json ("busybox:latest"). */
  repoTags: string[];
  /** Familiar repository and tag pairs for the `repositories` file. */
  repositories: { repo: string; tag: string }[];
}

/** Reads a blob for writing: its size and a stream of its bytes. */
export type BlobOpener = (desc: Descriptor) => Promise<Readable>;

function refName(canonical: string): string | undefined {
  const at = canonical.indexOf("@");
  if (at !== -1) return undefined;
  const colon = canonical.lastIndexOf(":");
  return colon > canonical.lastIndexOf("/") ? canonical.slice(colon + 1) : undefined;
}

/** index.json of the layout: one descriptor per name (one without annotations per unnamed image). */
export function layoutIndex(entries: SaveEntry[]): Index {
  const manifests: Descriptor[] = [];
  for (const e of entries) {
    const base: Descriptor = { mediaType: e.manifest.mediaType, digest: e.manifest.digest, size: e.manifest.size };
    if (e.manifest.platform) base.platform = e.manifest.platform;
    if (e.names.length === 0) {
      manifests.push(base);
      continue;
    }
    for (const n of e.names) {
      const annotations: Record<string, string> = { "io.containerd.image.name": n };
      const tag = refName(n);
      if (tag !== undefined) annotations["org.opencontainers.image.ref.name"] = tag;
      manifests.push({ ...base, annotations });
    }
  }
  return { schemaVersion: 2, mediaType: MediaType.OCIIndex, manifests };
}

function dockerManifest(entries: SaveEntry[]): unknown[] {
  return entries.map((e) => ({
    Config: blobPath(e.config.digest),
    RepoTags: e.repoTags.length > 0 ? e.repoTags : null,
    Layers: e.layers.map((l) => blobPath(l.digest)),
  }));
}

function repositories(entries: SaveEntry[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const e of entries) {
    const top = e.layers[e.layers.length - 1];
    if (!top) continue;
    for (const { repo, tag } of e.repositories) (out[repo] ??= {})[tag] = top.digest.slice(top.digest.indexOf(":") + 1);
  }
  return out;
}

function uniqueBlobs(entries: SaveEntry[], open: BlobOpener): { desc: Descriptor; open: () => Promise<Readable> }[] {
  const seen = new Set<Digest>();
  const out: { desc: Descriptor; open: () => Promise<Readable> }[] = [];
  for (const e of entries) {
    for (const d of [...e.layers, e.config, e.manifest]) {
      if (seen.has(d.digest)) continue;
      seen.add(d.digest);
      const bytes = d === e.manifest ? e.manifestBytes : undefined;
      out.push({ desc: d, open: bytes ? async () => Readable.from([bytes]) : () => open(d) });
    }
  }
  return out;
}

/** Writes the archive described in the header to out (a docker-archive that is also an OCI layout). */
export async function writeArchive(out: Writable, entries: SaveEntry[], open: BlobOpener, opts: { dockerManifest: boolean }): Promise<void> {
  const tw = new TarWriter(out);
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  try {
    await tw.dir("blobs/sha256");
    for (const b of uniqueBlobs(entries, open)) await tw.file(blobPath(b.desc.digest), b.desc.size, await b.open());
    await tw.file("index.json", json(layoutIndex(entries)).length, json(layoutIndex(entries)));
    if (opts.dockerManifest) {
      const m = json(dockerManifest(entries));
      await tw.file("manifest.json", m.length, m);
    }
    const layout = json({ imageLayoutVersion: "1.0.0" });
    await tw.file("oci-layout", layout.length, layout);
    if (opts.dockerManifest) {
      const r = json(repositories(entries));
      await tw.file("repositories", r.length, r);
    }
    await tw.end();
  } catch (err) {
    out.destroy(err as Error);
    throw err;
  }
}

/** Writes the same layout as files under dir (created if needed); blobs already present are kept. */
export async function writeLayoutDir(dir: string, entries: SaveEntry[], open: BlobOpener): Promise<void> {
  const blobsDir = path.join(dir, "blobs", "sha256");
  await mkdir(blobsDir, { recursive: true });
  for (const b of uniqueBlobs(entries, open)) {
    const target = path.join(dir, blobPath(b.desc.digest));
    const tmp = `${target}.tmp-${process.pid}`;
    const ws = createWriteStream(tmp, { mode: 0o644 });
    try {
      const src = await b.open();
      src.on("error", (err) => ws.destroy(err));
      src.pipe(ws);
      await finished(ws);
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
  await writeFileAtomic(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFileAtomic(path.join(dir, "index.json"), JSON.stringify(layoutIndex(entries)));
}
