// `docker pull`: an image from a registry (through src/registry) into the stores, then named as
// Docker names a pulled image. The steps, and what the progress stream says at each (Docker's
// messages, which the docker CLI renders):
//
//   1. resolve the reference (Docker's normalisation: docker.io/library/, ":latest") and fetch its
//      manifest or index                                   "<tag>: Pulling from <path>"
//   2. an index: pick the manifest for the platform asked for (default: the host's), as Docker
//      does (platforms.ts), or fail with "no matching manifest for ..."; fetch the config
//   3. layers: those whose blob and unpacked snapshot exist  "Already exists"; the others
//      "Pulling fs layer", downloaded 3 at a time ("Waiting"), "Downloading" with bytes,
//      "Verifying Checksum", "Download complete"
//   4. under the service's lock, unpack bottom up (diff IDs checked)   "Extracting", "Pull complete"
//   5. name it: the tag and repo@<digest of what the tag pointed to>   "Digest: ...",
//      "Status: Downloaded newer image for x" or "Status: Image is up to date for x"
//
// Downloads run outside the lock (a long pull does not hold up other image work); what they
// fetched is pinned against garbage collection until the image is named. A failure at any step
// changes nothing: the snapshots and the blobs this pull added are removed, names given back.

import { PassThrough, Transform, type Readable } from "node:stream";
import { CoveError, invalid, notFound, type ErrorKind } from "../common/errors.js";
import { bestEffort, ignored } from "../common/ignore.js";
import { span } from "../common/trace.js";
import type { Digest } from "../content/digest.js";
import { entryText, RegistryError } from "../registry/errors.js";
import { limiter } from "../registry/limit.js";
import { pullSource, type PullSource } from "../registry/mirror.js";
import type { AuthConfig } from "../registry/auth.js";
import { ImageCore, newTxn, type Txn } from "./core.js";
import { chainIDs, imageID, shortID } from "./ids.js";
import { isIndexType, isManifestType, MediaType } from "./mediatypes.js";
import { formatPlatform, hostPlatform, matchingManifests, noMatchingManifest, normalizePlatform, onlyPlatform, parsePlatform } from "./platforms.js";
import { familiarName, familiarString, parseDockerRef, parseNormalizedNamed, referenceString, repositoryName, type Reference } from "./reference.js";
import type { Descriptor, ImageConfig, Manifest, Platform } from "./types.js";
import { discardStaged, type LayerToUnpack, type StagedUnpack } from "./unpack.js";
import { checkManifestMatchesConfig, parseImageConfig, parseManifestOrIndex, type ParsedDocument } from "./validate.js";

/** Layers downloaded at once per pull (Docker's max-concurrent-downloads default). */
export const PULL_CONCURRENCY = 3;
/** A "Downloading" or "Extracting" update at most every this many bytes (Docker's progress reader). */
const PROGRESS_EVERY = 512 * 1024;
const MAX_INDEX_DEPTH = 8;
/** Layers from this size (compressed) unpack on a worker thread, side by side (see the pull's unpack). */
const STAGE_MIN_BYTES = 4 * 1024 * 1024;

/** A promise with its resolve and reject; settling it again does nothing, and nobody need wait on it. */
function settleable(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export interface PullProgress {
  status: string;
  /** The layer (short blob digest) or, for "Pulling from", the tag or digest. */
  id?: string;
  progressDetail?: { current: number; total: number };
}

export interface PullOptions {
  /** "os/arch[/variant]"; default: the host's. */
  platform?: string;
  auth?: AuthConfig;
  onProgress?: (m: PullProgress) => void;
  signal?: AbortSignal;
}

export interface PullResult {
  /** The reference as Docker shows it: "busybox:latest", "127.0.0.1:5000/x@sha256:...". */
  reference: string;
  /** The image ID (config digest). */
  id: Digest;
  /** The digest of what the reference points to in the registry (an index or a manifest). */
  digest: Digest;
  /** False when the reference already named this image ("Image is up to date"). */
  updated: boolean;
}

/** GET /distribution/{name}/json. */
export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: Digest; size: number };
  Platforms: Platform[];
}

interface Resolved {
  /** What the reference points to. */
  top: { digest: Digest; size: number; mediaType: string; doc: ParsedDocument; bytes: Buffer };
  /** The platform's manifest. */
  manifest: Manifest;
  manifestDesc: Descriptor;
  manifestBytes: Buffer;
}

/** The media type of a fetched document: its own field, else what it was served as, else its shape. */
function docMediaType(doc: ParsedDocument): string {
  return doc.mediaType;
}

/** Docker's wording for a registry's refusal of a reference (moby distribution/errors.go notFoundError). */
export function translatePullError(err: unknown, ref: Reference, unauthorizedKind: ErrorKind = "upstream"): unknown {
  if (!(err instanceof RegistryError) || err.errors.length === 0) return err;
  const first = err.errors[0]!;
  const cause = entryText(first);
  switch (first.code) {
    case "DENIED":
      return new CoveError("not-found", `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${cause}`, {
        code: "pull.denied",
        cause: err,
        hint: "check the name, and pass credentials (docker login) if the repository is private",
      });
    case "MANIFEST_UNKNOWN":
      return notFound(`manifest for ${familiarString(ref)} not found: ${cause}`, { code: "pull.manifest-unknown", cause: err });
    case "NAME_UNKNOWN":
      return notFound(`repository ${familiarName(ref)} not found: ${cause}`, { code: "pull.name-unknown", cause: err });
    case "UNAUTHORIZED":
      // dockerd 20.10 answers a registry's refusal of the credentials with a 500 on a pull, a 401 on /distribution
      return new CoveError(unauthorizedKind, cause, { code: "pull.unauthorized", cause: err, hint: `check the credentials for ${ref.domain} (docker login ${ref.domain})` });
  }
  return err;
}

/** Pulls images from registries into the service's stores. */
export class Puller {
  constructor(private readonly core: ImageCore) {}

  private client(ref: Reference, opts: Pick<PullOptions, "auth" | "signal">): PullSource {
    return pullSource(ref.domain, ref.path, {
      ...this.core.registry,
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** Every tag of a repository (`docker pull --all-tags`). */
  async remoteTags(repository: string, opts: Pick<PullOptions, "auth" | "signal"> = {}): Promise<string[]> {
    const ref = parseNormalizedNamed(repository);
    try {
      return await this.client(ref, opts).listTags();
    } catch (err) {
      throw translatePullError(err, ref);
    }
  }

  /** GET /distribution/{name}/json: the descriptor the reference resolves to, and its platforms. */
  async inspect(refString: string, opts: Pick<PullOptions, "auth" | "signal"> = {}): Promise<DistributionInspect> {
    const ref = parseDockerRef(refString);
    const client = this.client(ref, opts);
    try {
      const m = await client.getManifest((ref.digest ?? ref.tag) as string);
      const doc = parseManifestOrIndex(m.bytes, declared(m.mediaType));
      const platforms: Platform[] = [];
      if (doc.kind === "index") {
        for (const d of doc.index.manifests) if (d.platform) platforms.push(ociPlatform(d.platform));
      } else {
        const cfgBytes = await this.fetchConfigBytes(client, doc.manifest).catch(() => undefined);
        if (cfgBytes) {
          try {
            const c = JSON.parse(cfgBytes.toString("utf8")) as Partial<ImageConfig>;
            if (c.os || c.architecture) platforms.push(ociPlatform({ os: c.os ?? "", architecture: c.architecture ?? "", ...(c.variant ? { variant: c.variant } : {}) }));
          } catch {
            // a config that is not JSON names no platform
          }
        }
      }
      return { Descriptor: { mediaType: docMediaType(doc), digest: m.digest, size: m.bytes.length }, Platforms: platforms };
    } catch (err) {
      throw translatePullError(err, ref, "unauthorized");
    }
  }

  /** A config's bytes, straight from the registry (for inspect: nothing is stored). */
  private async fetchConfigBytes(client: PullSource, manifest: Manifest): Promise<Buffer | undefined> {
    if (await this.core.content.exists(manifest.config.digest)) return this.core.content.readBlob(manifest.config.digest);
    await client.fetchBlob(this.core.content, manifest.config);
    this.core.pin(manifest.config.digest);
    try {
      return await this.core.content.readBlob(manifest.config.digest);
    } finally {
      this.core.unpin(manifest.config.digest);
    }
  }

  /** `docker pull REF`: see the header for the steps and their messages. */
  async pull(refString: string, opts: PullOptions = {}): Promise<PullResult> {
    const ref = parseDockerRef(refString);
    const requested = opts.platform ? parsePlatform(opts.platform) : undefined;
    const platform = requested ?? hostPlatform();
    const progress = opts.onProgress ?? (() => undefined);
    const client = this.client(ref, opts);
    const shown = familiarString(ref);

    const pinned: Digest[] = [];
    const pin = (d: Digest) => {
      this.core.pin(d);
      pinned.push(d);
    };
    const pinnedSnapshots: string[] = [];
    const pinSnapshot = (key: string) => {
      this.core.pinSnapshot(key);
      pinnedSnapshots.push(key);
    };
    /** Blobs this pull committed (rollback removes those no other pull holds). */
    const fetched: Digest[] = [];
    const fetch = async (desc: { digest: Digest; size: number }, onProgress?: (current: number, total: number) => void, live?: LiveLayer): Promise<boolean> => {
      pin(desc.digest);
      if (await this.core.content.exists(desc.digest)) return false;
      await client.fetchBlob(this.core.content, desc, {
        ...(onProgress ? { onProgress } : {}),
        ...(live ? { onData: (c: Uint8Array, offset: number) => live.feed(c, offset) } : {}),
      });
      fetched.push(desc.digest);
      return true;
    };

    try {
      let resolved: Resolved;
      let config: ImageConfig;
      let configBytes: Buffer;
      try {
        const endManifest = span("pull.manifest");
        resolved = await this.resolve(client, ref, platform, () => progress({ status: `Pulling from ${ref.path}`, id: ref.digest !== undefined ? referenceString(ref) : (ref.tag as string) }));
        endManifest();
        const endConfig = span("pull.config");
        const { manifest } = resolved;
        await fetch(manifest.config);
        configBytes = await this.core.content.readBlob(manifest.config.digest, { maxSize: 8 * 1024 * 1024 });
        config = parseImageConfig(configBytes, isConfigMediaType(manifest.config.mediaType) ? manifest.config.mediaType : undefined);
        checkManifestMatchesConfig(manifest, config);
        endConfig();
      } catch (err) {
        throw translatePullError(err, ref);
      }
      const { manifest, manifestDesc, manifestBytes, top } = resolved;
      const cfgPlatform = normalizePlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
      if (requested && top.doc.kind === "manifest" && !onlyPlatform(requested).match(cfgPlatform)) {
        throw notFound(
          `image with reference ${shown} was found but does not match the specified platform: wanted ${formatPlatform(normalizePlatform(requested))}, actual: ${formatPlatform(cfgPlatform)}`,
          { code: "image.platform-mismatch", field: "platform", hint: "pull it without --platform, or pick a reference built for that platform" },
        );
      }

      // Layers: what is there already, what to download (each distinct blob once). An image that
      // exists already (by its config) needs none, and Docker reports none for it.
      const endLayers = span("pull.layers");
      const id = imageID(configBytes);
      const imageExists = (await this.currentId(id)) === id;
      const diffIds = config.rootfs.diff_ids;
      const chain = chainIDs(diffIds);
      for (const key of chain) pinSnapshot(key);
      const present = await Promise.all(
        manifest.layers.map(async (l, i) => imageExists || ((await this.core.content.exists(l.digest)) && this.core.snapshots.has(chain[i] as string))),
      );
      const inStoreBefore = new Set<Digest>();
      for (const l of manifest.layers) if (await this.core.content.exists(l.digest)) inStoreBefore.add(l.digest);
      const toFetch: Descriptor[] = [];
      for (const [i, l] of manifest.layers.entries()) {
        if (present[i]) {
          pin(l.digest);
          if (!imageExists) progress({ status: "Already exists", id: shortID(l.digest) });
        } else if (!toFetch.some((d) => d.digest === l.digest)) {
          toFetch.push(l);
          progress({ status: "Pulling fs layer", id: shortID(l.digest) });
        }
      }
      toFetch.forEach((l, i) => {
        if (i >= PULL_CONCURRENCY) progress({ status: "Waiting", id: shortID(l.digest) });
      });
      // The lowest layer to unpack, when everything below it is there, is unpacked from its bytes
      // as they arrive (verified at the end: the snapshot is committed only once the blob is).
      const first = present.indexOf(false);
      const live = first >= 0 && toFetch.some((d) => d.digest === manifest.layers[first]?.digest) ? new LiveLayer(manifest.layers[first]!.digest) : undefined;
      const limit = limiter(PULL_CONCURRENCY);
      const downloadOf = new Map<Digest, Promise<void>>();
      for (const l of toFetch) {
        const lv = live?.digest === l.digest ? live : undefined;
        downloadOf.set(
          l.digest,
          limit(async () => {
            const id = shortID(l.digest);
            let last = -1;
            try {
              const fresh = await fetch(
                l,
                (current, total) => {
                  if (current === total) {
                    if (last !== current) progress({ status: "Downloading", id, progressDetail: { current, total } });
                    last = current;
                    progress({ status: "Verifying Checksum", id });
                    return;
                  }
                  if (last < 0 || current - last >= PROGRESS_EVERY) {
                    last = current;
                    progress({ status: "Downloading", id, progressDetail: { current, total } });
                  }
                },
                lv,
              );
              if (!fresh && last < 0) progress({ status: "Verifying Checksum", id });
              progress({ status: "Download complete", id });
              if (fresh) lv?.end();
              else lv?.abandon();
            } catch (err) {
              lv?.abandon();
              throw err;
            }
          }),
        );
      }

      // Each layer is unpacked as soon as its blob is in and the layers below it are unpacked,
      // while later ones still download (as dockerd does), outside the service's lock: its
      // snapshots are pinned against garbage collection until the image names them.
      const extracting = (stream: Readable, i: number): Readable => {
        const l = manifest.layers[i]!;
        const layerId = shortID(l.digest);
        let read = 0;
        let last = -1;
        const counted = new Transform({
          transform(c: Buffer, _enc, cb) {
            read += c.length;
            if (last < 0 || read - last >= PROGRESS_EVERY || read === l.size) {
              last = read;
              progress({ status: "Extracting", id: layerId, progressDetail: { current: read, total: l.size } });
            }
            cb(null, c);
          },
        });
        // a live layer the download abandoned before the unpack got to it (the blob was there
        // already, or the download restarted) has failed already: its error event is gone, and a
        // pipe from it would never end
        if (stream.destroyed) throw stream.errored ?? new Error(`the stream of layer ${l.digest} closed before it was read`);
        // The unpack reads `counted` only after its own set-up (the snapshot's directories): a
        // failure before that must wait in the stream's errored state, which its read then
        // throws, not go out as an 'error' event nobody listens to yet, which ends the daemon.
        counted.on("error", () => undefined);
        stream.on("error", (e) => counted.destroy(e));
        return stream.pipe(counted);
      };
      const layers: LayerToUnpack[] = manifest.layers.map((l, i) => {
        const layerId = shortID(l.digest);
        let started = false;
        let completed = false;
        return {
          desc: l,
          diffId: diffIds[i] as Digest,
          trusted: inStoreBefore.has(l.digest),
          open: async () => {
            const stream = await this.core.content.createReadStream(l.digest);
            if (present[i] || started) return stream;
            started = true;
            return extracting(stream, i);
          },
          done: () => {
            if (!present[i] && !completed) progress({ status: "Pull complete", id: layerId });
            completed = true;
          },
        };
      });
      const txn = newTxn();
      const verified = new Set<Digest>();
      // Large layers that unpack from the store (all but the live one) start on worker threads as
      // soon as their blob and those of every layer below are in, so they start bottom up and one
      // waits (for the layers below, when it needs them) only on layers already under way; they
      // are committed in order below. Small ones unpack on this thread: a worker's start would
      // cost more than they do.
      const unpacker = this.core.m.unpack;
      const staged = new Map<number, StagedUnpack>();
      const stagedOnce = new Set<number>();
      const committed = layers.map(() => settleable());
      const downloaded = new Set<Digest>();
      let unpackEnded = false;
      const stageReady = () => {
        if (imageExists || unpackEnded) return;
        for (const [j, l] of layers.entries()) {
          // the live layer unpacks apart, as it downloads (never queued in the pool): the ones above need not wait for its blob
          if (present[j] || (j === first && live)) continue;
          if (!downloaded.has(l.desc.digest)) return;
          if (stagedOnce.has(j) || l.desc.size < STAGE_MIN_BYTES) continue;
          stagedOnce.add(j);
          const layerId = shortID(l.desc.digest);
          const lowers = async () => {
            await committed[j - 1]?.promise;
            return j > 0 ? this.core.snapshots.stackDirs(chain[j - 1] as string) : [];
          };
          staged.set(j, unpacker.stage(l, lowers, { onRead: (current) => progress({ status: "Extracting", id: layerId, progressDetail: { current, total: l.desc.size } }) }));
        }
      };
      for (const [d, p] of downloadOf) {
        p.then(
          () => {
            downloaded.add(d);
            stageReady();
          },
          () => undefined,
        );
      }
      const unpacking = (async () => {
        if (imageExists) return;
        try {
          for (const [i, l] of layers.entries()) {
            const key = chain[i] as string;
            const parent = i > 0 ? chain[i - 1] : undefined;
            if (i === first && live) {
              // its "Extracting" progress runs beside its "Downloading": both are under way; a
              // large one on a worker thread, this one left to download, hash and store the blob
              const streamed = { ...l, open: async () => extracting(live.stream, i) };
              try {
                if (l.desc.size >= STAGE_MIN_BYTES && !this.core.snapshots.has(key)) {
                  const below = parent !== undefined ? this.core.snapshots.stackDirs(parent) : [];
                  await unpacker.commitStaged(l, unpacker.stage(l, async () => below, { source: await streamed.open() }), key, parent, txn, verified);
                } else await unpacker.unpackLayer(streamed, key, parent, txn, undefined, verified);
                committed[i]!.resolve();
                continue;
              } catch (err) {
                // a download that restarted or resumed, or bytes that do not unpack: from the store,
                // once the blob is there (its download's failure, if any, is the pull's)
                live.abandon();
                await downloadOf.get(l.desc.digest);
                ignored(`the live unpack of layer ${l.desc.digest} of ${shown} (unpacked from the store instead)`, err);
              }
            }
            await downloadOf.get(l.desc.digest);
            stageReady();
            const ahead = staged.get(i);
            staged.delete(i);
            if (ahead) await unpacker.commitStaged(l, ahead, key, parent, txn, verified);
            else await unpacker.unpackLayer(l, key, parent, txn, undefined, verified);
            committed[i]!.resolve();
          }
        } finally {
          // a failed pull: the workers waiting for layers below are told, and what they unpacked goes
          unpackEnded = true;
          for (const c of committed) c.reject(new Error(`the pull of ${shown} stopped before the layers below were unpacked`));
          for (const ahead of staged.values()) await discardStaged(ahead);
          staged.clear();
        }
      })();
      const settled = await Promise.allSettled([...downloadOf.values()]);
      const unpacked = await unpacking.then(
        () => undefined,
        (err: unknown) => err,
      );
      try {
        const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
        if (failed) throw translatePullError(failed.reason, ref);
        if (unpacked !== undefined) throw unpacked;

        endLayers();
        // The manifest, stored as the image's target.
        const endStore = span("pull.manifest-store");
        pin(manifestDesc.digest);
        if (!(await this.core.content.exists(manifestDesc.digest))) {
          await this.core.ingest(manifestDesc.digest, manifestBytes.length, manifestBytes);
          fetched.push(manifestDesc.digest);
        }
        endStore();
      } catch (err) {
        await this.core.exclusive(() => this.dropSnapshots(txn));
        throw err;
      }

      // Name it, under the service's lock (the layers checked once more: present, else unpacked).
      const names = ref.digest !== undefined ? [referenceString(ref)] : [referenceString(ref), `${repositoryName(ref)}@${top.digest}`];
      const endName = span("pull.name");
      const updated = await this.core.exclusive(async () => {
        try {
          if (!imageExists) await this.core.m.unpack.unpackLayers(layers, txn, undefined, verified);
          const before = await this.currentId(names[0] as string);
          await this.core.putImage({ id, target: manifestDesc, names, config }, txn);
          if (before !== id) await this.core.touchTagTime([id]);
          this.core.resolved.delete(manifestDesc.digest);
          return before !== id;
        } catch (err) {
          await this.dropSnapshots(txn);
          await this.core.rollback(txn);
          throw err;
        }
      });
      endName();
      const endSources = span("pull.sources");
      await this.core.addBlobSources(repositoryName(ref), [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]);
      endSources();
      progress({ status: `Digest: ${top.digest}` });
      progress({ status: updated ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}` });
      return { reference: shown, id, digest: top.digest, updated };
    } catch (err) {
      // Nothing named the blobs this pull fetched: take them out again (unless another pull holds them).
      await this.core.exclusive(async () => {
        for (const d of fetched) {
          if (this.core.pinCount(d) > pinned.filter((p) => p === d).length) continue;
          if (await this.referenced(d)) continue;
          await bestEffort(`remove the blob ${d} of a failed pull`, this.core.content.delete(d));
        }
      });
      throw err;
    } finally {
      for (const d of pinned) this.core.unpin(d);
      for (const key of pinnedSnapshots) this.core.unpinSnapshot(key);
    }
  }

  /**
   * Removes the layer snapshots a failed pull unpacked (newest first), under the lock, except
   * those another pull in flight holds too (it may stack on them; garbage collection takes them
   * once nothing does). Empties txn.snapshots.
   */
  private async dropSnapshots(txn: Txn): Promise<void> {
    for (const key of txn.snapshots.splice(0).reverse()) {
      if (this.core.snapshotPinCount(key) > 1) continue;
      await bestEffort(`remove the layer snapshot ${key} of a failed pull`, this.core.snapshots.remove(key));
      this.core.sizes.delete(key);
    }
  }

  /** The image a name points to now, if any. */
  private async currentId(name: string): Promise<Digest | undefined> {
    try {
      return (await this.core.images.get(name)).id;
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") return undefined;
      throw err;
    }
  }

  /** Whether an image uses the blob (as its target, config or layer). */
  private async referenced(digest: Digest): Promise<boolean> {
    for (const rec of await this.core.images.list()) {
      if (rec.target.digest === digest || rec.id === digest) return true;
      try {
        const r = await this.core.resolve(rec);
        if (r.manifest.layers.some((l) => l.digest === digest) || r.manifest.config.digest === digest) return true;
      } catch {
        return true; // an image that cannot be read: keep everything, to be safe
      }
    }
    return false;
  }

  /**
   * Fetches what the reference points to and, for an index, the platform's manifest (walking
   * nested indexes). `announce` runs once the reference is known to exist.
   */
  private async resolve(client: PullSource, ref: Reference, platform: Platform, announce: () => void): Promise<Resolved> {
    const m = await client.getManifest((ref.digest ?? ref.tag) as string);
    const doc = parseManifestOrIndex(m.bytes, declared(m.mediaType));
    const top = { digest: m.digest, size: m.bytes.length, mediaType: docMediaType(doc), doc, bytes: m.bytes };
    announce();
    let current: { doc: ParsedDocument; desc: Descriptor; bytes: Buffer } = { doc, desc: { mediaType: top.mediaType, digest: top.digest, size: top.size }, bytes: m.bytes };
    const matcher = onlyPlatform(platform);
    for (let depth = 0; current.doc.kind === "index"; depth++) {
      if (depth >= MAX_INDEX_DEPTH) throw invalid(`index nesting deeper than ${MAX_INDEX_DEPTH} levels at ${current.desc.digest}`, { code: "image.too-deep" });
      const index = current.doc.index;
      const candidates = matchingManifests(index, matcher).filter((d) => isIndexType(d.mediaType) || isManifestType(d.mediaType));
      const chosen = candidates[0];
      if (!chosen) throw noMatchingManifest(platform, index.manifests.flatMap((d) => (d.platform ? [d.platform] : [])));
      const child = await client.getManifest(chosen.digest, chosen.size);
      current = { doc: parseManifestOrIndex(child.bytes, chosen.mediaType), desc: chosen, bytes: child.bytes };
    }
    if (current.doc.kind !== "manifest") throw invalid("unsupported manifest format", { code: "image.invalid" });
    const manifestDesc: Descriptor = { mediaType: docMediaType(current.doc), digest: current.desc.digest, size: current.desc.size };
    if (current.desc.platform) manifestDesc.platform = current.desc.platform;
    return { top, manifest: current.doc.manifest, manifestDesc, manifestBytes: current.bytes };
  }
}

/** A Content-Type worth passing to the parser as the declared type (registries may send application/json). */
function declared(mediaType: string | undefined): string | undefined {
  if (!mediaType) return undefined;
  if (isIndexType(mediaType) || isManifestType(mediaType) || mediaType === MediaType.DockerSchema1Manifest || mediaType === MediaType.DockerSchema1SignedManifest) return mediaType;
  return undefined;
}

function isConfigMediaType(mt: string): boolean {
  return mt === MediaType.OCIConfig || mt === MediaType.DockerConfig;
}

/** A platform as dockerd's /distribution answers it (OCI field names, empty ones left out). */
function ociPlatform(p: Platform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os };
  if (p["os.version"]) out["os.version"] = p["os.version"];
  if (p["os.features"]?.length) out["os.features"] = p["os.features"];
  if (p.variant) out.variant = p.variant;
  return out;
}

/** Bytes of a live unpack waiting to be applied: the download waits while this many are queued. */
const LIVE_BUFFER = 8 * 1024 * 1024;

/**
 * A layer blob's bytes as the download writes them, for unpacking while it downloads: a stream
 * that ends once the blob is committed (verified), or fails when the download fails, restarts or
 * resumes elsewhere than where it left off, or found the blob there already (abandon). A failed
 * stream's consumer unpacks from the store instead.
 */
class LiveLayer {
  readonly stream = new PassThrough({ highWaterMark: LIVE_BUFFER });
  /** The download ended and the blob is committed: every byte of it went through the stream. */
  complete = false;
  private next = 0;
  private broken = false;

  constructor(readonly digest: Digest) {
    // the consumer sees a failure through its pipe; this keeps one nobody reads from throwing
    this.stream.on("error", () => undefined);
  }

  async feed(chunk: Uint8Array, offset: number): Promise<void> {
    if (this.broken) return;
    if (offset !== this.next) {
      this.abandon();
      return;
    }
    this.next += chunk.length;
    if (this.stream.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const go = () => {
        this.stream.off("drain", go);
        this.stream.off("close", go);
        resolve();
      };
      this.stream.on("drain", go);
      this.stream.on("close", go);
    });
  }

  end(): void {
    if (this.broken) return;
    this.complete = true;
    this.stream.end();
  }

  abandon(): void {
    if (this.broken || this.complete) return;
    this.broken = true;
    this.stream.destroy(new Error(`the download of ${this.digest} did not go through the live unpack from start to end`));
  }
}
