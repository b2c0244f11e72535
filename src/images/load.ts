// `docker load` and OCI layout import. Loads are all-or-nothing: the archive is staged and fully
// parsed first, layers are unpacked and their diff IDs checked, then blobs are ingested and names
// given; a failure at any step removes the snapshots and blobs the load created and gives names
// back to the images that had them.

import { randomBytes } from "node:crypto";
import { mkdir, open } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { CoveError, fromErrno, invalid } from "../common/errors.js";
import type { Digest } from "../content/digest.js";
import { planLoad, planOciLayout, type LoadPlan } from "./archive/plan.js";
import { DirSource, StagedArchive, type ArchiveSource } from "./archive/source.js";
import { ImageCore, newTxn, type LoadOptions } from "./core.js";
import { parsePlatform } from "./platforms.js";
import type { LayerToUnpack } from "./unpack.js";

/** Loads archives and OCI layouts. */
export class Loader {
  constructor(private readonly core: ImageCore) {}

  /** `docker load`: docker-archive (legacy or Docker 25+) or OCI layout tar, compressed or not. */
  load(input: Readable | AsyncIterable<Buffer>, opts: LoadOptions = {}): Promise<{ loaded: string[] }> {
    return this.core.exclusive(async () => {
      const src = await this.stage(input, opts);
      try {
        return await this.loadFrom(src, (s) => planLoad(s, opts.platform ? parsePlatform(opts.platform) : undefined), opts);
      } finally {
        await src.close();
      }
    });
  }

  /** Imports an OCI image layout from a directory or a tar stream. */
  importOciLayout(input: { dir: string } | Readable | AsyncIterable<Buffer>, opts: LoadOptions = {}): Promise<{ loaded: string[] }> {
    return this.core.exclusive(async () => {
      const src: ArchiveSource = "dir" in input && typeof input.dir === "string" ? new DirSource(input.dir) : await this.stage(input as Readable, opts);
      try {
        return await this.loadFrom(src, (s) => planOciLayout(s, opts.platform ? parsePlatform(opts.platform) : undefined), opts);
      } finally {
        await src.close();
      }
    });
  }

  private async stage(input: Readable | AsyncIterable<Buffer>, opts: LoadOptions): Promise<StagedArchive> {
    await mkdir(this.core.tmp, { recursive: true, mode: 0o700 });
    return StagedArchive.stage(input, path.join(this.core.tmp, `load-${randomBytes(6).toString("hex")}`), opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {});
  }

  private async loadFrom(src: ArchiveSource, plan: (s: ArchiveSource) => Promise<LoadPlan>, opts: LoadOptions): Promise<{ loaded: string[] }> {
    const p = await plan(src);
    // Every file-backed blob: size and digest as its descriptor says.
    for (const b of p.blobs.values()) {
      if (!b.name) continue;
      const st = await src.stat(b.name);
      if (!st) throw invalid(`blob ${b.digest} (${b.name}) is missing from ${src.what}`, { code: "archive.missing-file" });
      if (st.size !== b.size) throw invalid(`blob ${b.digest} (${b.name}) is ${st.size} bytes, its descriptor says ${b.size}`, { code: "archive.size-mismatch" });
      const d = await src.digest(b.name);
      if (d !== b.digest) throw invalid(`blob ${b.name} hashes to ${d}, not ${b.digest}`, { code: "archive.digest-mismatch", hint: "the archive is corrupt" });
    }
    // Blobs the source holds as private staged files are hard-linked into the content store at the
    // end instead of copied. Their fsyncs (the store's crash guarantee) start now, in the thread
    // pool, and run while the layers unpack on this thread.
    const syncs = new Map<Digest, Promise<void>>();
    for (const b of p.blobs.values()) {
      if (!b.name || !src.privateFile || (await this.core.content.exists(b.digest))) continue;
      const sync = fsyncFile(src.privateFile(b.name).file);
      sync.catch(() => undefined); // awaited (and its error reported) when the blob is adopted
      syncs.set(b.digest, sync);
    }
    const txn = newTxn();
    const loaded: string[] = [];
    try {
      const verified = new Set<Digest>();
      for (const img of p.images) {
        const layers: LayerToUnpack[] = [];
        for (const [i, l] of img.layers.entries()) {
          const blob = p.blobs.get(l.digest);
          const inStore = await this.core.content.exists(l.digest);
          layers.push({
            desc: l,
            diffId: img.config.rootfs.diff_ids[i] as Digest,
            open: () => (inStore || !blob?.name ? this.core.content.createReadStream(l.digest) : src.open(blob.name)),
            trusted: inStore,
          });
        }
        await this.core.m.unpack.unpackLayers(layers, txn, opts.onProgress, verified);
      }
      for (const b of p.blobs.values()) {
        if (await this.core.content.exists(b.digest)) continue;
        const sync = syncs.get(b.digest);
        if (sync && b.name && src.privateFile && (await this.adopt(src.privateFile(b.name), b, sync))) {
          txn.blobs.push(b.digest);
          continue;
        }
        await this.core.ingest(b.digest, b.size, b.data ?? (await src.open(b.name as string)));
        txn.blobs.push(b.digest);
      }
      for (const img of p.images) await this.core.putImage(img, txn);
      await this.core.touchTagTime(p.images.filter((i) => i.names.length > 0).map((i) => i.id));
    } catch (err) {
      await this.core.rollback(txn);
      throw err;
    } finally {
      await Promise.allSettled(syncs.values()); // nothing may still touch the staging directory
    }
    for (const img of p.images) {
      if (img.tags.length === 0) {
        loaded.push(img.id);
        opts.onProgress?.({ status: `Loaded image ID: ${img.id}` });
      }
      for (const t of img.tags) {
        loaded.push(t);
        opts.onProgress?.({ status: `Loaded image: ${t}` });
      }
    }
    return { loaded };
  }

  /**
   * Hard-links a staged file into the content store (see ContentStore.adopt). Its digest and size
   * were computed while it was staged and checked against the plan's descriptor (loadFrom); they
   * are checked once more here. Returns false when it cannot be linked (another filesystem): the
   * caller copies it instead.
   */
  private async adopt(f: { file: string; size: number; digest: Digest }, b: { digest: Digest; size: number }, sync: Promise<void>): Promise<boolean> {
    if (f.digest !== b.digest || f.size !== b.size) {
      throw invalid(`blob ${b.digest} (${b.size} bytes) does not match its staged file (${f.digest}, ${f.size} bytes)`, { code: "archive.digest-mismatch", hint: "the archive is corrupt" });
    }
    try {
      await sync;
    } catch (err) {
      throw fromErrno(err, `syncing the staged blob ${b.digest}`);
    }
    try {
      return await this.core.content.adopt(f.file, b.digest, b.size, { synced: true });
    } catch (err) {
      if (err instanceof CoveError && err.errno === "EXDEV") return false;
      throw err;
    }
  }
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
