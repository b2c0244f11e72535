// `docker push`: an image of the stores to a registry (through src/registry), as the manifest or
// index it is stored as, so its digest in the registry is the digest cove holds and a pull back
// names the same RepoDigest. The steps, and what the progress stream says at each (dockerd's
// messages, which the docker CLI renders):
//
//   1. the repository and its tags: a tag given, or every tag of the repository
//                                   "The push refers to repository [127.0.0.1:5000/x]"
//   2. per tag, the image's layers, top first, by their diff ID's short form   "Preparing";
//      pushed 5 at a time ("Waiting"). For each: a blob the registry is known to hold there
//      (HEAD) "Layer already exists"; one known from another repository of the same registry is
//      mounted (POST ?mount=&from=) "Mounted from <path>"; else uploaded (monolithic, or PATCH
//      chunks with Content-Range and PUT ?digest=) "Pushing" with bytes, then "Pushed"
//   3. the config blob, then the manifest under the tag (an index whose manifests cove all holds:
//      each of them by digest first, then the index; an index of which cove holds one platform,
//      as a pull keeps it: that platform's manifest)
//                                 "<tag>: digest: sha256:... size: N" and an aux PushResult
//   4. the image is named repo@digest (its RepoDigests), and the blobs are remembered in this
//      repository, so a later push to another repository of the registry can mount them.
//
// A failure leaves the local image as it was (a registry may keep the blobs already uploaded).

import { CoveError, invalid, notFound } from "../common/errors.js";
import type { Digest } from "../content/digest.js";
import { RepositoryClient } from "../registry/client.js";
import type { AuthConfig } from "../registry/auth.js";
import { entryText, RegistryError, TokenRefusedError } from "../registry/errors.js";
import { limiter } from "../registry/limit.js";
import type { ImageCore } from "./core.js";
import { shortID } from "./ids.js";
import { isIndexType, isManifestType } from "./mediatypes.js";
import { familiarName, familiarString, parseNormalizedNamed, repositoryName, validateTag, type Reference } from "./reference.js";
import { formatPlatform } from "./platforms.js";
import { MAX_MANIFEST_SIZE, resolveImage } from "./resolve.js";
import type { ImageRecord } from "./store.js";
import type { Descriptor, Manifest, Platform } from "./types.js";
import { parseImageConfig, parseManifestOrIndex } from "./validate.js";

/** Layers pushed at once (Docker's max-concurrent-uploads default). */
export const PUSH_CONCURRENCY = 5;
/** A "Pushing" update at most every this many bytes. */
const PROGRESS_EVERY = 512 * 1024;
/** Other repositories a layer is tried to be mounted from (Docker tries 3). */
const MAX_MOUNT_ATTEMPTS = 3;

export interface PushProgress {
  status: string;
  /** The layer: the short form of its diff ID. */
  id?: string;
  progressDetail?: { current: number; total: number };
  /** The result of a tag's push (dockerd's aux PushResult). */
  aux?: { Tag: string; Digest: Digest; Size: number };
}

export interface PushOptions {
  auth?: AuthConfig;
  /** Push only this platform's manifest, as a single-platform image (docker push --platform). */
  platform?: Platform;
  onProgress?: (m: PushProgress) => void;
  signal?: AbortSignal;
}

export interface PushResult {
  /** The tag pushed. */
  tag: string;
  /** The digest of the manifest or index pushed under it. */
  digest: Digest;
  size: number;
}

/** Docker's wording for a registry's refusal of a push. */
export function translatePushError(err: unknown, ref: Reference): unknown {
  if (err instanceof CoveError && err.code === "registry.no-credentials") {
    // dockerd's push says just this (its pull names the request)
    return new CoveError("unauthorized", "no basic auth credentials", { code: "push.no-credentials", cause: err, hint: `the registry ${ref.domain} needs a user name and password: docker login ${ref.domain}` });
  }
  if (err instanceof TokenRefusedError) {
    // dockerd's push names the refusal alone, not the request that asked for the token
    return new CoveError("upstream", err.reason, { code: "push.token-refused", cause: err, ...(err.hint !== undefined ? { hint: err.hint } : {}) });
  }
  if (!(err instanceof RegistryError) || err.errors.length === 0) return err;
  const first = err.errors[0]!;
  if (first.code === "UNAUTHORIZED" || first.code === "DENIED") {
    return new CoveError("forbidden", entryText(first), { code: "push.denied", cause: err, hint: `check the credentials for ${ref.domain} (docker login ${ref.domain})` });
  }
  return err;
}

/** Pushes images of the service's stores to registries. */
export class Pusher {
  constructor(private readonly core: ImageCore) {}

  /**
   * `docker push NAME[:TAG]`: the tag given, or every tag of the repository when none is. Returns
   * what each tag was pushed as. Errors after the first message come with dockerd's wording.
   */
  async push(name: string, tag: string | undefined, opts: PushOptions = {}): Promise<PushResult[]> {
    let ref = parseNormalizedNamed(name);
    if (ref.digest !== undefined) throw invalid(`cannot push a digest reference: ${familiarString(ref)}: give a tag`, { code: "push.digest", field: "name" });
    if (tag !== undefined && tag !== "") ref = { domain: ref.domain, path: ref.path, tag: validateTag(tag) };
    const progress = opts.onProgress ?? (() => undefined);
    const repo = repositoryName(ref);
    progress({ status: `The push refers to repository [${repo}]` });

    const records = await this.core.images.list();
    const inRepo = (rec: ImageRecord) => rec.names.map((n) => parseNormalizedNamed(n)).filter((r) => r.tag !== undefined && repositoryName(r) === repo);
    const tagged = records.flatMap((rec) => inRepo(rec).map((r) => ({ rec, ref: r })));
    if (tagged.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarName(ref)}`, { code: "push.no-image" });
    let targets = tagged;
    if (ref.tag !== undefined) {
      targets = tagged.filter((t) => t.ref.tag === ref.tag);
      if (targets.length === 0) throw notFound(`tag does not exist: ${familiarString(ref)}`, { code: "push.no-tag" });
    }
    targets.sort((a, b) => (a.ref.tag as string).localeCompare(b.ref.tag as string));

    const client = new RepositoryClient(ref.domain, ref.path, {
      ...this.core.registry,
      push: true,
      ...(opts.auth ? { auth: opts.auth } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const session: Session = { client, ref, repo, progress, done: new Map(), ...(opts.platform ? { platform: opts.platform } : {}) };
    const results: PushResult[] = [];
    for (const t of targets) {
      try {
        results.push(await this.pushTag(session, t.rec, t.ref.tag as string));
      } catch (err) {
        throw translatePushError(err, ref);
      }
    }
    return results;
  }

  /** The manifest of `platform` in the image, or the error dockerd gives when it has none. */
  private async platformManifest(rec: ImageRecord, platform: Platform, shown: string): Promise<{ bytes: Buffer; mediaType: string; manifest: Manifest }> {
    const missing = () => notFound(`image with reference ${shown} was found but does not provide the specified platform (${formatPlatform(platform)})`, { code: "push.no-platform", field: "platform" });
    let r;
    try {
      r = await resolveImage(this.core.content, rec.target, platform);
    } catch (err) {
      // no entry for it, or an entry whose manifest cove does not hold (a pull keeps one platform)
      if (err instanceof CoveError && err.kind === "not-found") throw missing();
      throw err;
    }
    if (!r.platformMatches) throw missing();
    const bytes = await this.core.content.readBlob(r.manifestDescriptor.digest, { maxSize: MAX_MANIFEST_SIZE });
    return { bytes, mediaType: r.manifestDescriptor.mediaType, manifest: r.manifest };
  }

  private async pushTag(s: Session, rec: ImageRecord, tag: string): Promise<PushResult> {
    if (s.platform) {
      const m = await this.platformManifest(rec, s.platform, familiarString({ ...s.ref, tag }));
      await this.pushManifestBlobs(s, m.manifest);
      return this.finishTag(s, rec, tag, { bytes: m.bytes, mediaType: m.mediaType });
    }
    const bytes = await this.core.content.readBlob(rec.target.digest, { maxSize: MAX_MANIFEST_SIZE });
    const doc = parseManifestOrIndex(bytes, isIndexType(rec.target.mediaType) || isManifestType(rec.target.mediaType) ? rec.target.mediaType : undefined);
    let top = { bytes, mediaType: doc.mediaType };
    if (doc.kind === "index") {
      const children = doc.index.manifests.filter((d) => isManifestType(d.mediaType) || isIndexType(d.mediaType));
      let complete = children.length > 0 && children.every((d) => isManifestType(d.mediaType));
      for (const d of children) if (complete && !(await this.core.content.exists(d.digest))) complete = false;
      if (complete) {
        // the whole index: each platform's manifest by digest, then the index under the tag
        for (const d of children) {
          const childBytes = await this.core.content.readBlob(d.digest, { maxSize: MAX_MANIFEST_SIZE });
          const child = parseManifestOrIndex(childBytes, d.mediaType);
          if (child.kind !== "manifest") throw invalid(`manifest ${d.digest} of ${familiarString({ ...s.ref, tag })} is an index`, { code: "image.invalid" });
          await this.pushManifestBlobs(s, child.manifest);
          await s.client.putManifest(d.digest, d.mediaType, childBytes);
        }
      } else {
        // cove holds one platform of this index (a pull or load keeps the host's): that image's
        // manifest is what goes up, as dockerd pushes a multi-platform image it pulled
        const r = await this.core.resolve(rec);
        const manifestBytes = await this.core.content.readBlob(r.manifestDescriptor.digest, { maxSize: MAX_MANIFEST_SIZE });
        await this.pushManifestBlobs(s, r.manifest);
        top = { bytes: manifestBytes, mediaType: r.manifestDescriptor.mediaType };
      }
    } else {
      await this.pushManifestBlobs(s, doc.manifest);
    }
    return this.finishTag(s, rec, tag, top);
  }

  /** The manifest (or index) under the tag, its digest recorded and reported. */
  private async finishTag(s: Session, rec: ImageRecord, tag: string, top: { bytes: Buffer; mediaType: string }): Promise<PushResult> {
    const digest = await s.client.putManifest(tag, top.mediaType, top.bytes);
    await this.core.exclusive(async () => {
      const current = await this.core.images.get(rec.id);
      await this.core.images.put({ id: current.id, target: current.target, names: [`${s.repo}@${digest}`] });
    });
    s.progress({ status: `${tag}: digest: ${digest} size: ${top.bytes.length}` });
    s.progress({ status: "", aux: { Tag: tag, Digest: digest, Size: top.bytes.length } });
    return { tag, digest, size: top.bytes.length };
  }

  /** The layers (with their messages) and the config of one manifest. */
  private async pushManifestBlobs(s: Session, manifest: Manifest): Promise<void> {
    const configBytes = await this.core.content.readBlob(manifest.config.digest, { maxSize: 8 * 1024 * 1024 });
    const config = parseImageConfig(configBytes);
    const diffIds = config.rootfs.diff_ids;
    const layers: { desc: Descriptor; id: string }[] = [];
    for (let i = manifest.layers.length - 1; i >= 0; i--) {
      const desc = manifest.layers[i]!;
      if (layers.some((l) => l.desc.digest === desc.digest)) continue;
      layers.push({ desc, id: shortID((diffIds[i] ?? desc.digest) as Digest) });
    }
    for (const l of layers) {
      if (!(await this.core.content.exists(l.desc.digest))) {
        throw notFound(`cannot push layer ${l.desc.digest}: cove does not hold its blob (the image was imported without it)`, { code: "push.missing-layer" });
      }
    }
    for (const l of layers) s.progress({ status: "Preparing", id: l.id });
    layers.forEach((l, i) => {
      if (i >= PUSH_CONCURRENCY) s.progress({ status: "Waiting", id: l.id });
    });
    const limit = limiter(PUSH_CONCURRENCY);
    const settled = await Promise.allSettled(layers.map((l) => limit(() => this.pushLayer(s, l.desc, l.id))));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    if (!(await s.client.blobExists(manifest.config))) {
      await s.client.pushBlob(manifest.config, async () => [configBytes]);
    }
    await this.core.addBlobSources(s.repo, [manifest.config.digest, ...layers.map((l) => l.desc.digest)]);
  }

  private async pushLayer(s: Session, desc: Descriptor, id: string): Promise<void> {
    const blob = { digest: desc.digest, size: desc.size };
    const earlier = s.done.get(desc.digest);
    if (earlier) {
      await earlier;
      s.progress({ status: "Layer already exists", id });
      return;
    }
    let resolveDone!: () => void;
    s.done.set(
      desc.digest,
      new Promise<void>((r) => (resolveDone = r)),
    );
    try {
      const sources = await this.core.blobSources(desc.digest);
      const sameRegistry = sources.filter((r) => r !== s.repo && parseNormalizedNamed(r).domain === s.ref.domain).reverse();
      // Known in this repository, or known nowhere else here: ask the registry (cove asks even for
      // a blob it never pushed, so a layer the registry holds is not sent twice).
      if (sources.includes(s.repo) || sameRegistry.length === 0) {
        if (await s.client.blobExists(blob)) {
          s.progress({ status: "Layer already exists", id });
          return;
        }
      }
      for (const from of sameRegistry.slice(0, MAX_MOUNT_ATTEMPTS)) {
        const path = parseNormalizedNamed(from).path;
        if (await s.client.mountBlob(blob, path)) {
          s.progress({ status: `Mounted from ${path}`, id });
          return;
        }
      }
      let last = -1;
      await s.client.pushBlob(blob, () => this.core.content.createReadStream(desc.digest), {
        onProgress: (current, total) => {
          if (last < 0 || current - last >= PROGRESS_EVERY || current === total) {
            last = current;
            s.progress({ status: "Pushing", id, progressDetail: { current, total } });
          }
        },
      });
      s.progress({ status: "Pushed", id });
    } finally {
      resolveDone();
    }
  }
}

interface Session {
  client: RepositoryClient;
  ref: Reference;
  /** "127.0.0.1:5000/x", "docker.io/library/busybox". */
  repo: string;
  progress: (m: PushProgress) => void;
  /** Blobs pushed (or being pushed) in this push, so a layer shared by several tags goes once. */
  done: Map<Digest, Promise<void>>;
  /** docker push --platform: only this platform's manifest goes up. */
  platform?: Platform;
}

