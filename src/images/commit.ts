// Images cove makes itself: `docker import` (a rootfs tar as a one-layer image) and
// `docker commit` (one more layer on top of an image). Each writes its layer blob, unpacks it,
// then writes the config and manifest and names the image, all in one transaction.

import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { CoveError, invalid } from "../common/errors.js";
import { ignoring } from "../common/ignore.js";
import { digestOf, type Digest } from "../content/digest.js";
import { decompress } from "../snapshots/compress.js";
import { applyChanges } from "./archive/changes.js";
import { ImageCore, newTxn, type Txn } from "./core.js";
import { MediaType } from "./mediatypes.js";
import { hostPlatform, parsePlatform } from "./platforms.js";
import { parseNormalizedNamed } from "./reference.js";
import { canonicalName } from "./store.js";
import type { ContainerConfig, Descriptor, ImageConfig, Manifest } from "./types.js";
import type { LayerToUnpack } from "./unpack.js";

/** Imports rootfs tars and commits container changes as images. */
export class Committer {
  constructor(private readonly core: ImageCore) {}

  /** `docker import`: a rootfs tar (plain, gzip or zstd) as a one-layer image. Returns the image ID. */
  importRootfs(input: Readable | AsyncIterable<Buffer>, opts: { reference?: string; changes?: string[]; message?: string; platform?: string } = {}): Promise<string> {
    return this.core.exclusive(async () => {
      const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
      const names = targetNames("import", opts.reference);
      const containerConfig = applyChanges({}, opts.changes ?? []);
      const txn = newTxn();
      try {
        // The uncompressed tar becomes the layer blob: its digest is the diff ID.
        const { diffId, size } = await this.writeLayer("import", () => decompress(input as AsyncIterable<unknown>, "auto"), txn, (err) =>
          err instanceof CoveError ? err : invalid(`importing the rootfs tar failed: ${(err as Error).message}`, { code: "archive.corrupt", cause: err }),
        );
        const layer: Descriptor = { mediaType: MediaType.OCILayer, digest: diffId, size };
        await this.core.m.unpack.unpackLayers([{ desc: layer, diffId, open: () => this.core.content.createReadStream(diffId), trusted: true }], txn);
        const created = new Date().toISOString();
        const message = opts.message ?? "";
        const config: ImageConfig = {
          architecture: platform.architecture,
          ...(platform.variant ? { variant: platform.variant } : {}),
          os: platform.os,
          ...(message ? { comment: message } : {}),
          config: containerConfig,
          created,
          history: [{ created, comment: message || "Imported from -" }],
          rootfs: { type: "layers", diff_ids: [diffId] },
        };
        return await this.storeImage(config, [layer], false, names, txn);
      } catch (err) {
        await this.core.rollback(txn);
        throw err;
      }
    });
  }

  /**
   * `docker commit`: one more layer on top of an image. `layer` is an uncompressed layer tar (OCI
   * whiteouts) or undefined for no filesystem change (the history entry is then an empty layer).
   * The new config is the parent's with `config` as its container config and a history entry.
   * Returns the new image ID.
   */
  commit(
    parent: string | undefined,
    layer: (() => Readable) | undefined,
    opts: { config: ContainerConfig; reference?: string; author?: string; comment?: string; createdBy?: string; container?: string; containerConfig?: ContainerConfig; platform?: string; noHistory?: boolean; recordParent?: boolean },
  ): Promise<string> {
    return this.core.exclusive(async () => {
      if (opts.noHistory && layer) throw invalid("a commit with a layer needs its history entry", { code: "commit.invalid" });
      const names = targetNames("commit", opts.reference);
      const parentRec = parent !== undefined ? await this.core.images.get(parent) : undefined;
      const r = parentRec !== undefined ? await this.core.resolve(parentRec) : scratch(opts.platform);
      const txn = newTxn();
      try {
        const layers: Descriptor[] = [...r.manifest.layers];
        const diffIds = [...r.config.rootfs.diff_ids];
        if (layer) {
          const { diffId, size } = await this.writeLayer("commit", layer, txn);
          const docker = r.manifest.mediaType === MediaType.DockerManifest;
          layers.push({ mediaType: docker ? MediaType.DockerLayer : MediaType.OCILayer, digest: diffId, size });
          diffIds.push(diffId);
          // the parent's layers are unpacked (the container runs on them); only the new one is applied
          const all: LayerToUnpack[] = layers.map((l, i) => ({ desc: l, diffId: diffIds[i] as Digest, open: () => this.core.content.createReadStream(l.digest), trusted: true }));
          await this.core.m.unpack.unpackLayers(all, txn);
        }
        const created = new Date().toISOString();
        const history = [...(r.config.history ?? [])];
        if (!opts.noHistory) history.push({
          created,
          ...(opts.author ? { author: opts.author } : {}),
          ...(opts.createdBy ? { created_by: opts.createdBy } : {}),
          ...(opts.comment ? { comment: opts.comment } : {}),
          ...(layer ? {} : { empty_layer: true }),
        });
        const config: ImageConfig = {
          ...r.config,
          created,
          config: opts.config,
          history,
          rootfs: { type: "layers", diff_ids: diffIds },
        };
        delete config.author;
        delete config.comment;
        if (opts.author) config.author = opts.author;
        if (opts.comment) config.comment = opts.comment;
        if (opts.container) config.container = opts.container;
        if (opts.containerConfig) config.container_config = opts.containerConfig;
        return await this.storeImage(config, layers, r.manifest.mediaType === MediaType.DockerManifest, names, txn, opts.recordParent ? parentRec?.id : undefined);
      } catch (err) {
        await this.core.rollback(txn);
        throw err;
      }
    });
  }

  /**
   * Writes a layer tar into the content store as it comes (uncompressed: its digest is its diff
   * ID), recording it in txn when it is new. A failure aborts the write and throws mapError(err).
   */
  private async writeLayer(prefix: string, chunks: () => AsyncIterable<Buffer>, txn: Txn, mapError: (err: unknown) => unknown = (err) => err): Promise<{ diffId: Digest; size: number }> {
    const ref = `${prefix}-${randomBytes(8).toString("hex")}`;
    const w = await this.core.content.writer(ref);
    let diffId: Digest;
    let size: number;
    try {
      for await (const c of chunks()) await w.write(c);
      diffId = w.digest();
      size = w.offset;
      const existed = await this.core.content.exists(diffId);
      await w.commit(size, diffId);
      if (!existed) txn.blobs.push(diffId);
    } catch (err) {
      await this.core.discardWrite(w, ref);
      throw mapError(err);
    }
    await w.close().catch(ignoring(`close the content write ${ref}`));
    return { diffId, size };
  }

  /**
   * Writes the config and a manifest over layers (Docker schema 2 media types when docker, else
   * OCI), records the image with its names and returns its ID.
   */
  private async storeImage(config: ImageConfig, layers: Descriptor[], docker: boolean, names: string[], txn: Txn, parent?: Digest): Promise<string> {
    const configBytes = Buffer.from(JSON.stringify(config));
    const id = digestOf(configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: docker ? MediaType.DockerManifest : MediaType.OCIManifest,
      config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OCIConfig, digest: id, size: configBytes.length },
      layers,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const target: Descriptor = { mediaType: manifest.mediaType as string, digest: digestOf(manifestBytes), size: manifestBytes.length };
    for (const [d, bytes] of [
      [id, configBytes],
      [target.digest, manifestBytes],
    ] as const) {
      if (await this.core.content.exists(d)) continue;
      await this.core.ingest(d, bytes.length, bytes);
      txn.blobs.push(d);
    }
    await this.core.putImage({ id, target, names, config, ...(parent !== undefined ? { parent } : {}) }, txn);
    if (names.length > 0) await this.core.touchTagTime([id]);
    return id;
  }
}

/**
 * What a commit without a parent starts from: the empty image (Dockerfile's FROM scratch), no
 * layers, no history, for the platform given or the host's, with Docker's media types as
 * dockerd's builder writes them.
 */
function scratch(platform: string | undefined): { manifest: Manifest; config: ImageConfig } {
  const p = platform ? parsePlatform(platform) : hostPlatform();
  return {
    manifest: { schemaVersion: 2, mediaType: MediaType.DockerManifest, config: { mediaType: MediaType.DockerConfig, digest: "sha256:" as Digest, size: 0 }, layers: [] },
    config: { architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}), os: p.os, config: {}, rootfs: { type: "layers", diff_ids: [] }, history: [] },
  };
}

/** The canonical name an import or commit gives its image (none without a reference); a digest reference is refused. */
function targetNames(verb: "import" | "commit", reference: string | undefined): string[] {
  if (!reference) return [];
  const ref = parseNormalizedNamed(reference);
  if (ref.digest !== undefined) throw invalid(`cannot ${verb} to ${reference}: a digest reference cannot be given`, { code: "reference.invalid", hint: "give a name with a tag" });
  return [canonicalName(reference)];
}
