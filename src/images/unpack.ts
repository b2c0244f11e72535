// Unpacking and container root filesystems. Layers are unpacked into committed snapshots keyed
// by their chain ID, so images sharing a layer stack share its snapshots. Each committed layer
// snapshot carries the labels cove.io/diff-id and cove.io/size (disk bytes of its files, measured
// once at unpack: committed snapshots never change). A container's rootfs is a writable snapshot
// on top of its image's top layer; `docker export` tars it through a read-only overlay view.

import { createHash, randomBytes } from "node:crypto";
import { mkdir, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { CoveError, fromErrno, invalid, notFound } from "../common/errors.js";
import { ignoring } from "../common/ignore.js";
import type { Digest } from "../content/digest.js";
import { addon } from "../native/addon.js";
import { applyLayer } from "../snapshots/apply.js";
import { applyPool, type StagedLayer } from "../snapshots/apply-pool.js";
import { decompress, type Compression as SnapshotCompression } from "../snapshots/compress.js";
import { tarDirectory } from "../snapshots/diff.js";
import { unmountAll, type Mount } from "../snapshots/mount.js";
import { mountSnapshot } from "../snapshots/storage-driver.js";
import { ImageCore, LABEL_DIFF_ID, LABEL_IMAGE, LABEL_SIZE, newTxn, type LoadProgress, type Txn } from "./core.js";
import { chainIDs, shortID } from "./ids.js";
import { layerCompression } from "./mediatypes.js";
import type { Descriptor, ImageConfig } from "./types.js";

/** Key prefix of the active snapshot a layer is unpacked into before it is committed under its chain ID. */
export const EXTRACT_PREFIX = "extract-";

/** Unpacks images into layer snapshots and prepares, exports and removes container rootfs snapshots. */
export class Unpacker {
  constructor(private readonly core: ImageCore) {}

  /** Applies each layer of the image as a committed snapshot keyed by chain ID (reusing existing ones). */
  unpack(ref: string): Promise<{ chainId: string }> {
    return this.core.exclusive(() => this.unpackLocked(ref));
  }

  private async unpackLocked(ref: string): Promise<{ chainId: string }> {
    const rec = await this.core.images.get(ref);
    const r = await this.core.resolve(rec);
    const layers: LayerToUnpack[] = r.manifest.layers.map((l, i) => ({
      desc: l,
      diffId: r.config.rootfs.diff_ids[i] as Digest,
      open: () => this.core.content.createReadStream(l.digest),
      trusted: true,
    }));
    const txn = newTxn();
    try {
      const top = await this.unpackLayers(layers, txn);
      return { chainId: top };
    } catch (err) {
      await this.core.rollback(txn);
      throw err;
    }
  }

  /** Unpacks layers bottom up; returns the top chain ID ("" for no layers). Records new snapshots in txn. */
  async unpackLayers(layers: LayerToUnpack[], txn: Txn, progress?: (m: LoadProgress) => void, verified = new Set<Digest>()): Promise<string> {
    const chain = chainIDs(layers.map((l) => l.diffId));
    for (const [i, l] of layers.entries()) await this.unpackLayer(l, chain[i] as string, i > 0 ? chain[i - 1] : undefined, txn, progress, verified);
    return chain[chain.length - 1] ?? "";
  }

  /**
   * Unpacks one layer as the committed snapshot `key` on `parent` (which must exist), or checks
   * the one there (a blob not yet verified must decompress to the layer's diff ID). Records a new
   * snapshot in txn, the blob in verified.
   */
  async unpackLayer(l: LayerToUnpack, key: string, parent: string | undefined, txn: Txn, progress?: (m: LoadProgress) => void, verified = new Set<Digest>()): Promise<void> {
    if (this.core.snapshots.has(key)) {
      if (!l.trusted && !verified.has(l.desc.digest)) {
        await verifyDiffId(await l.open(), compressionOf(l.desc), l.diffId);
        verified.add(l.desc.digest);
      }
      l.done?.();
      return;
    }
    if (!l.done) progress?.({ status: "Loading layer", id: shortID(l.diffId) });
    const tmpKey = `${EXTRACT_PREFIX}${randomBytes(6).toString("hex")}-${key}`;
    await this.core.snapshots.prepare(tmpKey, parent);
    try {
      await applyLayer(await l.open(), this.core.snapshots.upperDir(tmpKey), {
        compression: compressionOf(l.desc),
        expectedDiffId: l.diffId,
        lowerDirs: this.core.snapshots.lowerDirs(tmpKey),
      });
      const size = diskUsage(this.core.snapshots.upperDir(tmpKey));
      await this.core.snapshots.commit(key, tmpKey, { labels: { [LABEL_DIFF_ID]: l.diffId, [LABEL_SIZE]: String(size) } });
      verified.add(l.desc.digest);
      txn.snapshots.push(key);
    } catch (err) {
      await this.core.snapshots.remove(tmpKey).catch(ignoring(`remove snapshot ${tmpKey} of a layer that failed to unpack`));
      if (!(err instanceof CoveError && err.code === "snapshot.exists" && this.core.snapshots.has(key))) throw err;
      // unpacked meanwhile
    }
    l.done?.();
  }

  /**
   * Starts unpacking a layer whose blob is in the store on a worker thread, into a staging
   * directory of the snapshot store, possibly before the layers below it are committed: lowers()
   * gives their directories (nearest first) once they are, and is called only if the layer needs
   * them. onRead reports the blob's bytes read so far; with a source, the blob's bytes come from it
   * as they download instead of from the store. commitStaged() makes it a snapshot.
   */
  stage(l: LayerToUnpack, lowers: () => Promise<string[]>, how: { onRead?: (bytes: number) => void; source?: AsyncIterable<Buffer> } = {}): StagedUnpack {
    const dir = this.core.snapshots.stagingPath();
    const job = { dest: dir, compression: compressionOf(l.desc), expectedDiffId: l.diffId };
    const layer = applyPool().apply(how.source ? job : { ...job, blob: this.core.content.blobPath(l.desc.digest) }, lowers, how);
    // awaited in layer order; a failure meanwhile is the pull's once it gets there
    layer.catch(() => undefined);
    return { dir, layer };
  }

  /** Commits a layer stage() unpacked as the snapshot `key` on `parent` (which must exist). */
  async commitStaged(l: LayerToUnpack, staged: StagedUnpack, key: string, parent: string | undefined, txn: Txn, verified: Set<Digest>): Promise<void> {
    const layer = await staged.layer;
    verified.add(l.desc.digest); // its diff ID was checked as it unpacked
    if (this.core.snapshots.has(key)) {
      // unpacked meanwhile (another pull of an image sharing it)
      await discardStaged(staged);
      l.done?.();
      return;
    }
    const tmpKey = `${EXTRACT_PREFIX}${randomBytes(6).toString("hex")}-${key}`;
    try {
      await this.core.snapshots.prepare(tmpKey, parent, { from: staged.dir });
    } catch (err) {
      await discardStaged(staged);
      throw err;
    }
    try {
      await this.core.snapshots.commit(key, tmpKey, { labels: { [LABEL_DIFF_ID]: l.diffId, [LABEL_SIZE]: String(layer.diskBytes) } });
      txn.snapshots.push(key);
    } catch (err) {
      await this.core.snapshots.remove(tmpKey).catch(ignoring(`remove snapshot ${tmpKey} of a layer that failed to commit`));
      if (!(err instanceof CoveError && err.code === "snapshot.exists" && this.core.snapshots.has(key))) throw err;
    }
    l.done?.();
  }

  /**
   * A writable snapshot `key` for a container on top of the image's layers; a volatile one (a --rm
   * container's) does not wait for the disk (SnapshotOptions.volatile).
   */
  prepareRootfs(key: string, ref: string, opts: { volatile?: boolean } = {}): Promise<{ mounts: Mount[]; imageId: string; config: ImageConfig }> {
    return this.core.exclusive(async () => {
      const rec = await this.core.images.get(ref);
      const r = await this.core.resolve(rec);
      const { chainId } = await this.unpackLocked(rec.id);
      const mounts = await this.core.snapshots.prepare(key, chainId === "" ? undefined : chainId, { labels: { [LABEL_IMAGE]: r.id }, ...(opts.volatile ? { volatile: true } : {}) });
      return { mounts, imageId: r.id, config: r.config };
    });
  }

  /** Removes a container's snapshot (its layers stay until gc finds no image using them). */
  async removeRootfs(key: string): Promise<void> {
    await this.core.snapshots.remove(key);
  }

  /** `docker export`: a tar of the container's merged filesystem, written to out (which is ended). */
  async exportRootfs(key: string, out: Writable): Promise<void> {
    const mounts = await this.core.snapshots.mounts(key);
    const m = mounts[0];
    if (!m) throw notFound(`snapshot ${key} has nothing to export`);
    if (m.type === "bind") {
      await tarDirectory(m.source, out);
      return;
    }
    const lower = m.options.find((o) => o.startsWith("lowerdir="))?.slice("lowerdir=".length) ?? "";
    const upper = m.options.find((o) => o.startsWith("upperdir="))?.slice("upperdir=".length);
    const view: Mount = { type: "overlay", source: "overlay", options: ["ro", `lowerdir=${upper ? `${upper}:` : ""}${lower}`, ...m.options.filter((o) => o === "userxattr")] };
    if (m.cwd) view.cwd = m.cwd;
    const target = path.join(this.core.tmp, `export-${randomBytes(6).toString("hex")}`);
    await mkdir(target, { mode: 0o700 });
    try {
      // a rootless daemon on fuse-overlayfs mounts the view with it
      await mountSnapshot([view], target);
      try {
        await tarDirectory(target, out);
      } finally {
        unmountAll(target, addon().constants.MNT_DETACH);
      }
    } finally {
      await rmdir(target).catch(ignoring(`remove the export mount point ${target}`));
    }
  }
}

export interface LayerToUnpack {
  desc: Descriptor;
  diffId: Digest;
  open: () => Promise<Readable>;
  /** True when the blob is already verified (in the content store). */
  trusted: boolean;
  /** Called once the layer is unpacked (or found unpacked already); a caller with it reports its own progress. */
  done?: () => void;
}

/** A layer being unpacked on a worker thread into dir (see Unpacker.stage). */
export interface StagedUnpack {
  dir: string;
  layer: Promise<StagedLayer>;
}

/** Removes what a staged unpack left (once it has settled): its directory and its own staging beside it. */
export async function discardStaged(staged: StagedUnpack): Promise<void> {
  await staged.layer.catch(() => undefined);
  await rm(staged.dir, { recursive: true, force: true }).catch(ignoring(`remove the staged layer ${staged.dir}`));
}

function compressionOf(desc: Descriptor): SnapshotCompression {
  return layerCompression(desc.mediaType) ?? "auto";
}

/**
 * Disk bytes of the files under dir (hard links counted once), as SnapshotStore.usage measures a
 * snapshot, in one native call: a fresh layer is thousands of entries, and a readdir and an lstat
 * per entry from JavaScript cost about a second on a six-layer image.
 */
function diskUsage(dir: string): number {
  try {
    return addon().diskUsage(dir);
  } catch (err) {
    throw fromErrno(err, `measuring the layer unpacked in ${dir}`);
  }
}

/** Hashes the decompressed stream and checks it against the diff ID. */
async function verifyDiffId(stream: Readable, compression: SnapshotCompression, diffId: Digest): Promise<void> {
  const h = createHash("sha256");
  for await (const c of decompress(stream, compression)) h.update(c);
  const got = `sha256:${h.digest("hex")}`;
  if (got !== diffId) {
    throw invalid(`layer content does not match its diff ID: expected ${diffId}, got ${got}`, { code: "layer.digest-mismatch", hint: "the archive is corrupt" });
  }
}
