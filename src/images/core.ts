// The image service's core: the stores under one root and what every part of the service shares.
//
//   <root>/content     blobs (ContentStore)
//   <root>/images      names and targets (ImageStore), plus tag-times.json (Metadata.LastTagTime)
//                      and blob-sources.json (the repositories each blob was pulled from or
//                      pushed to: a push mounts a blob from another repository of the same registry)
//   <root>/snapshots   unpacked layers, one committed snapshot per chain ID (SnapshotStore)
//   <root>/tmp         staging for archives being loaded (removed when each load ends)
//
// The core opens the stores, resolves image records (caching what it resolved), measures layer
// snapshots (caching the sizes of committed ones), keeps the tag times, runs mutations one at a
// time (exclusive), and holds the transaction of a mutation that adds images (Txn: ingest,
// putImage, rollback). The operations live in modules on top of it (views.ts, remove.ts,
// unpack.ts, load.ts, commit.ts, save.ts), each reaching the others through core.m; service.ts
// is the public face.

import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { CoveError, invalid, isErrno } from "../common/errors.js";
import { replaceFile, writeFileAtomic } from "../common/fs.js";
import { ignored, ignoring } from "../common/ignore.js";
import { ContentStore } from "../content/store.js";
import type { ContentWriter } from "../content/types.js";
import type { Digest } from "../content/digest.js";
import type { SnapshotStore } from "../snapshots/store.js";
import type { PlanImage } from "./archive/plan.js";
import { chainIDs } from "./ids.js";
import { familiarString, parseNormalizedNamed } from "./reference.js";
import { resolveImage, type ResolvedImage } from "./resolve.js";
import { ImageStore, type ImageRecord } from "./store.js";
import type { Platform } from "./types.js";
import type { ImageViews } from "./views.js";
import type { Remover } from "./remove.js";
import type { Unpacker } from "./unpack.js";
import type { Loader } from "./load.js";
import type { Committer } from "./commit.js";
import type { Saver } from "./save.js";
import type { Puller } from "./pull.js";
import type { Pusher } from "./push.js";
import type { RegistryOptions } from "../registry/client.js";

export const LABEL_DIFF_ID = "cove.io/diff-id";
export const LABEL_SIZE = "cove.io/size";
export const LABEL_IMAGE = "cove.io/image";

export const ZERO_TIME = "0001-01-01T00:00:00Z";

/**
 * Tells whether a container uses an image: false/undefined for no; true, a container ID, or
 * {id, running} for yes (the ID goes into Docker's conflict message; a running container's image
 * cannot be removed even with force).
 */
export type InUseFn = (imageId: string) => boolean | string | { id: string; running: boolean } | undefined;

export interface LoadProgress {
  status: string;
  id?: string;
  progress?: string;
}

export interface LoadOptions {
  onProgress?: (msg: LoadProgress) => void;
  /** Most bytes the staged archive may take (default: free space under the root less 64 MiB). */
  maxBytes?: number;
  /** Platform to pick from multi-platform OCI indexes (default: the host's). */
  platform?: string;
}

export interface ImageServiceOptions {
  /** The state root, e.g. /var/lib/cove. */
  root: string;
  /** How pulls reach registries (insecure registries, retry delays, timeouts). */
  registry?: RegistryOptions;
}

/** What a mutation that adds images created or moved so far: what rollback undoes. */
export interface Txn {
  snapshots: string[];
  blobs: Digest[];
  newImages: Digest[];
  /** Names that belonged to another image before (given back on rollback). */
  movedNames: { name: string; from: ImageRecord }[];
  /** Names that did not exist before. */
  newNames: string[];
}

export function newTxn(): Txn {
  return { snapshots: [], blobs: [], newImages: [], movedNames: [], newNames: [] };
}

/** Parses Docker's `until` filter value: a timestamp (RFC 3339 or unix seconds) or a duration before now. */
export function parseUntil(v: string, now = Date.now()): number {
  const dur = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(v);
  if (dur) {
    const n = Number(dur[1]);
    const unit = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[dur[2] as "s"];
    return now - n * unit;
  }
  const compound = /^(?:\d+h)?(?:\d+m)?(?:\d+s)?$/.exec(v);
  if (compound && v !== "") {
    let ms = 0;
    for (const m of v.matchAll(/(\d+)([hms])/g)) ms += Number(m[1]) * { h: 3_600_000, m: 60_000, s: 1000 }[m[2] as "h"];
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) {
    throw invalid(`invalid filter 'until=${v}': expected a timestamp (RFC 3339 or unix seconds) or a duration such as 24h`, { code: "filter.invalid", field: "filters.until" });
  }
  return t;
}

/** The modules of the service, each a class on the core (see service.ts, which opens them). */
export interface ImageModules {
  views: ImageViews;
  remove: Remover;
  unpack: Unpacker;
  load: Loader;
  commit: Committer;
  save: Saver;
  pull: Puller;
  push: Pusher;
}

/** The repositories a blob is remembered in, most recent last (Docker's v2 metadata keeps a few as well). */
const MAX_SOURCES = 5;

export class ImageCore {
  readonly content: ContentStore;
  readonly images: ImageStore;
  readonly tmp: string;
  private readonly tagTimesFile: string;
  private readonly sourcesFile: string;
  private sourcesWrite: Promise<unknown> = Promise.resolve();
  /** Resolved images by their record's target digest (resolutions without a platform only; gc drops removed ones). */
  readonly resolved = new Map<Digest, ResolvedImage>();
  /** Disk usage of committed snapshots by key (they never change). */
  readonly sizes = new Map<string, number>();
  private lock: Promise<unknown> = Promise.resolve();
  /** Blobs that pulls in flight fetched and no image names yet: garbage collection keeps them. */
  private readonly pins = new Map<Digest, number>();
  /** Layer snapshots (chain IDs) that pulls in flight unpacked or use and no image names yet. */
  private readonly snapshotPins = new Map<string, number>();
  m!: ImageModules;

  constructor(
    readonly root: string,
    readonly snapshots: SnapshotStore,
    readonly registry: RegistryOptions = {},
  ) {
    this.content = new ContentStore({ root });
    this.images = new ImageStore({ root });
    this.tmp = path.join(root, "tmp");
    this.tagTimesFile = path.join(this.images.dir, "tag-times.json");
    this.sourcesFile = path.join(this.images.dir, "blob-sources.json");
  }

  /** Runs fn after every mutation before it has ended: mutations run one at a time. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    // the caller gets the failure through run; the lock only keeps the order
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Keeps a blob from garbage collection until unpin (pins count: several pulls may hold one). */
  pin(digest: Digest): void {
    this.pins.set(digest, (this.pins.get(digest) ?? 0) + 1);
  }

  unpin(digest: Digest): void {
    const n = (this.pins.get(digest) ?? 0) - 1;
    if (n > 0) this.pins.set(digest, n);
    else this.pins.delete(digest);
  }

  /** How many pulls hold the blob. */
  pinCount(digest: Digest): number {
    return this.pins.get(digest) ?? 0;
  }

  /** The pinned blobs: extra roots for garbage collection. */
  pinned(): Digest[] {
    return [...this.pins.keys()];
  }

  /**
   * Keeps a layer snapshot (by chain ID) from garbage collection until unpinSnapshot: a pull
   * unpacks its layers outside the lock, before an image names them.
   */
  pinSnapshot(key: string): void {
    this.snapshotPins.set(key, (this.snapshotPins.get(key) ?? 0) + 1);
  }

  unpinSnapshot(key: string): void {
    const n = (this.snapshotPins.get(key) ?? 0) - 1;
    if (n > 0) this.snapshotPins.set(key, n);
    else this.snapshotPins.delete(key);
  }

  /** How many pulls hold the snapshot. */
  snapshotPinCount(key: string): number {
    return this.snapshotPins.get(key) ?? 0;
  }

  // ------------------------------------------------------------------ lookups

  async resolve(rec: ImageRecord, platform?: Platform): Promise<ResolvedImage> {
    const cacheable = platform === undefined;
    const hit = cacheable ? this.resolved.get(rec.target.digest) : undefined;
    if (hit) return hit;
    const r = await resolveImage(this.content, rec.target, platform);
    if (cacheable) this.resolved.set(rec.target.digest, r);
    return r;
  }

  async snapshotSize(key: string): Promise<number> {
    const cached = this.sizes.get(key);
    if (cached !== undefined) return cached;
    const info = this.snapshots.stat(key);
    const label = info.labels[LABEL_SIZE];
    const size = label !== undefined && /^\d+$/.test(label) ? Number(label) : (await this.snapshots.usage(key)).size;
    if (info.kind === "committed") this.sizes.set(key, size);
    return size;
  }

  /** Per layer: chain ID, and size (snapshot usage when unpacked, else the blob's size). */
  async layerSizes(r: ResolvedImage): Promise<{ chain: string[]; sizes: number[]; unpacked: boolean }> {
    const chain = chainIDs(r.config.rootfs.diff_ids);
    const unpacked = chain.every((c) => this.snapshots.has(c));
    const sizes: number[] = [];
    for (const [i, c] of chain.entries()) {
      sizes.push(unpacked ? await this.snapshotSize(c) : (r.manifest.layers[i]?.size ?? 0));
    }
    return { chain, sizes, unpacked };
  }

  async readTagTimes(): Promise<Record<string, string>> {
    try {
      return JSON.parse(await readFile(this.tagTimesFile, "utf8")) as Record<string, string>;
    } catch (err) {
      if (isErrno(err, "ENOENT") || err instanceof SyntaxError) return {};
      throw err;
    }
  }

  async touchTagTime(ids: Digest[]): Promise<void> {
    if (ids.length === 0) return;
    const times = await this.readTagTimes();
    const now = new Date().toISOString();
    for (const id of ids) times[id] = now;
    const live = new Set((await this.images.list()).map((i) => i.id));
    for (const k of Object.keys(times)) if (!live.has(k)) delete times[k];
    await writeFileAtomic(this.tagTimesFile, JSON.stringify(times));
  }

  /** Repositories ("127.0.0.1:5000/busybox") the blob was pulled from or pushed to, most recent last. */
  async blobSources(digest: Digest): Promise<string[]> {
    return (await this.readSources())[digest] ?? [];
  }

  /** Remembers that the repository holds these blobs (after a pull from it or a push to it). */
  addBlobSources(repository: string, digests: Digest[]): Promise<void> {
    const run = this.sourcesWrite.then(async () => {
      const all = await this.readSources();
      let changed = false;
      for (const d of digests) {
        const old = all[d] ?? [];
        // already the most recent source (an up-to-date pull): nothing to write
        if (old[old.length - 1] === repository) continue;
        const list = old.filter((r) => r !== repository);
        list.push(repository);
        all[d] = list.slice(-MAX_SOURCES);
        changed = true;
      }
      // only a hint for pushes (which blobs a registry may mount): not synced, a crash that loses
      // it or leaves it empty leaves it "not known" (readSources), as a blob never pulled is
      if (changed) await replaceFile(this.sourcesFile, JSON.stringify(all));
    });
    this.sourcesWrite = run.catch(() => undefined);
    return run;
  }

  private async readSources(): Promise<Record<string, string[]>> {
    try {
      const o = JSON.parse(await readFile(this.sourcesFile, "utf8")) as unknown;
      return typeof o === "object" && o !== null && !Array.isArray(o) ? (o as Record<string, string[]>) : {};
    } catch (err) {
      if (isErrno(err, "ENOENT") || err instanceof SyntaxError) return {};
      throw err;
    }
  }

  static names(rec: ImageRecord): { tags: string[]; digests: string[] } {
    const refs = rec.names.map((n) => parseNormalizedNamed(n));
    return {
      tags: refs.filter((r) => r.tag !== undefined).map((r) => familiarString(r)),
      digests: refs.filter((r) => r.digest !== undefined).map((r) => familiarString(r)),
    };
  }

  // ------------------------------------------------------------------ transactions

  /** Writes a blob of known digest and size into the content store. */
  async ingest(digest: Digest, size: number, data: Buffer | Readable): Promise<void> {
    if (Buffer.isBuffer(data)) {
      if (data.length !== size) throw invalid(`content ${digest} is ${data.length} bytes, its descriptor says ${size}`, { code: "content.size-mismatch" });
      await this.content.putBytes(data, digest);
      return;
    }
    const ref = `ingest-${digest}-${randomBytes(4).toString("hex")}`;
    const w = await this.content.writer(ref, { expected: { digest, size } });
    try {
      for await (const c of data) await w.write(c as Buffer);
      await w.commit(size, digest);
    } catch (err) {
      await this.discardWrite(w, ref);
      throw err;
    }
    await w.close().catch(ignoring(`close the content write ${ref}`));
  }

  /** Closes a content write that failed and drops what it ingested; a failure here is logged, never thrown over the write's own. */
  async discardWrite(w: ContentWriter, ref: string): Promise<void> {
    await w.close().catch(ignoring(`close the failed content write ${ref}`));
    try {
      await this.content.abort(ref);
    } catch (err) {
      // not found: the failed commit already released the ingest
      if (!(err instanceof CoveError && err.kind === "not-found")) ignored(`abort the failed content write ${ref}`, err);
    }
  }

  /** Records the image with its names, noting in txn what rollback must undo. */
  async putImage(img: Pick<PlanImage, "id" | "target" | "names" | "config"> & { parent?: Digest }, txn: Txn): Promise<void> {
    let existing: ImageRecord | undefined;
    try {
      const r = await this.images.get(img.id);
      if (r.id === img.id) existing = r;
    } catch (err) {
      if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
    }
    for (const n of img.names) {
      try {
        const owner = await this.images.get(n);
        if (owner.id !== img.id) txn.movedNames.push({ name: n, from: owner });
      } catch (err) {
        if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
        txn.newNames.push(n);
      }
    }
    if (!existing) txn.newImages.push(img.id);
    await this.images.put({
      id: img.id,
      target: existing?.target ?? img.target,
      names: img.names,
      createdAt: img.config.created ?? ZERO_TIME,
      labels: img.config.config?.Labels ?? {},
      ...(img.parent !== undefined ? { parent: img.parent } : {}),
    });
  }

  /** Undoes what a failed mutation recorded in txn: images, names, snapshots and blobs. */
  async rollback(txn: Txn): Promise<void> {
    for (const id of txn.newImages) await this.images.delete(id).catch(ignoring(`roll back: remove the new image ${id}`));
    for (const n of txn.newNames) await this.images.untag(n).catch(ignoring(`roll back: untag ${n}`));
    for (const { name, from } of txn.movedNames) await this.images.put({ id: from.id, target: from.target, names: [name] }).catch(ignoring(`roll back: give ${name} back to image ${from.id}`));
    for (const key of [...txn.snapshots].reverse()) {
      await this.snapshots.remove(key).catch(ignoring(`roll back: remove snapshot ${key}`));
      this.sizes.delete(key);
    }
    for (const d of txn.blobs) await this.content.delete(d).catch(ignoring(`roll back: remove blob ${d}`));
  }
}
