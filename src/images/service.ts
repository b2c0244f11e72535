// The image service: images as Docker shows them, built on the content store (blobs), the image
// store (names → targets) and the snapshot store (unpacked layers), all under one injected root:
//
//   <root>/content     blobs (ContentStore)
//   <root>/images      names and targets (ImageStore), plus tag-times.json (Metadata.LastTagTime)
//   <root>/snapshots   unpacked layers, one committed snapshot per chain ID (SnapshotStore)
//   <root>/tmp         staging for archives being loaded (removed when each load ends)
//
// Layers are unpacked into committed snapshots keyed by their chain ID, so images sharing a layer
// stack share its snapshots. Each committed layer snapshot carries the labels cove.io/diff-id and
// cove.io/size (disk bytes of its files, measured once at unpack: committed snapshots never change).
//
// Loads are all-or-nothing: the archive is staged and fully parsed first, layers are unpacked and
// their diff IDs checked, then blobs are ingested and names given; a failure at any step removes
// the snapshots and blobs the load created and gives names back to the images that had them.
// Mutations (load, import, remove, prune, gc, unpack) run one at a time within the service, so
// a collection never sees a half-loaded image.
//
// Sizes: an image's Size is the disk usage of its unpacked layer snapshots when it is unpacked
// (what `docker images` shows with the classic store), else the sum of its layer blobs as stored
// (compressed when they were pulled compressed).

import { createHash, randomBytes } from "node:crypto";
import { lstatSync, readdirSync } from "node:fs";
import { mkdir, open, readFile, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { conflict, CoveError, fromErrno, invalid, isErrno, notFound } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { ContentStore } from "../content/store.js";
import { digestOf, type Digest } from "../content/digest.js";
import { applyLayer } from "../snapshots/apply.js";
import { decompress, type Compression as SnapshotCompression } from "../snapshots/compress.js";
import { tarDirectory } from "../snapshots/diff.js";
import { mountAll, unmountAll, type Mount } from "../snapshots/mount.js";
import { SnapshotStore } from "../snapshots/store.js";
import { addon } from "../native/addon.js";
import { applyChanges } from "./archive/changes.js";
import { planLoad, planOciLayout, type LoadPlan, type PlanImage } from "./archive/plan.js";
import { DirSource, StagedArchive, type ArchiveSource } from "./archive/source.js";
import { writeArchive, writeLayoutDir, type SaveEntry } from "./archive/write.js";
import { chainIDs, shortID } from "./ids.js";
import { layerCompression, MediaType } from "./mediatypes.js";
import { hostPlatform, parsePlatform } from "./platforms.js";
import { familiarName, familiarString, isNamed, parseAnyReference, parseNormalizedNamed, repositoryName, type Reference } from "./reference.js";
import { imageChildren, resolveImage, type ResolvedImage } from "./resolve.js";
import { canonicalName, ImageStore, type ImageRecord } from "./store.js";
import type { ContainerConfig, Descriptor, ImageConfig, Manifest, Platform } from "./types.js";
import type { ImageDeleteItem, ImageHistoryItem, ImageInspect, ImageSummary } from "../docker/index.js";

export const LABEL_DIFF_ID = "cove.io/diff-id";
export const LABEL_SIZE = "cove.io/size";
export const LABEL_IMAGE = "cove.io/image";

const ZERO_TIME = "0001-01-01T00:00:00Z";

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
}

interface Txn {
  snapshots: string[];
  blobs: Digest[];
  newImages: Digest[];
  /** Names that belonged to another image before (given back on rollback). */
  movedNames: { name: string; from: ImageRecord }[];
  /** Names that did not exist before. */
  newNames: string[];
}

interface LayerToUnpack {
  desc: Descriptor;
  diffId: Digest;
  open: () => Promise<Readable>;
  /** True when the blob is already verified (in the content store). */
  trusted: boolean;
}

function newTxn(): Txn {
  return { snapshots: [], blobs: [], newImages: [], movedNames: [], newNames: [] };
}

function usedBy(v: ReturnType<InUseFn>): { id: string; running: boolean } | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return { id: "", running: false };
  if (typeof v === "string") return { id: v, running: false };
  return v;
}

function unixSeconds(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : Math.floor(t / 1000);
}

function compressionOf(desc: Descriptor): SnapshotCompression {
  return layerCompression(desc.mediaType) ?? "auto";
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

export class ImageService {
  readonly content: ContentStore;
  readonly images: ImageStore;
  readonly snapshots: SnapshotStore;
  private readonly tmp: string;
  private readonly tagTimesFile: string;
  private readonly resolved = new Map<Digest, ResolvedImage>();
  private readonly sizes = new Map<string, number>();
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly root: string,
    snapshots: SnapshotStore,
  ) {
    this.content = new ContentStore({ root });
    this.images = new ImageStore({ root });
    this.snapshots = snapshots;
    this.tmp = path.join(root, "tmp");
    this.tagTimesFile = path.join(this.images.dir, "tag-times.json");
  }

  /** Opens (creating) the service's stores under root; stale staging directories are removed. */
  static async open(options: ImageServiceOptions): Promise<ImageService> {
    const root = path.resolve(options.root);
    const snapshots = await SnapshotStore.open(path.join(root, "snapshots"));
    const svc = new ImageService(root, snapshots);
    // an export view a crash left mounted would make the removal fail with EBUSY
    let leftovers: string[] = [];
    try {
      leftovers = readdirSync(svc.tmp).filter((name) => name.startsWith("export-"));
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    for (const name of leftovers) unmountAll(path.join(svc.tmp, name), addon().constants.MNT_DETACH);
    await rm(svc.tmp, { recursive: true, force: true });
    await mkdir(svc.tmp, { recursive: true, mode: 0o700 });
    await mkdir(svc.images.dir, { recursive: true });
    return svc;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  // ------------------------------------------------------------------ lookups

  private async resolve(rec: ImageRecord, platform?: Platform): Promise<ResolvedImage> {
    const cacheable = platform === undefined;
    const hit = cacheable ? this.resolved.get(rec.target.digest) : undefined;
    if (hit) return hit;
    const r = await resolveImage(this.content, rec.target, platform);
    if (cacheable) this.resolved.set(rec.target.digest, r);
    return r;
  }

  private async snapshotSize(key: string): Promise<number> {
    const cached = this.sizes.get(key);
    if (cached !== undefined) return cached;
    const info = this.snapshots.stat(key);
    const label = info.labels[LABEL_SIZE];
    const size = label !== undefined && /^\d+$/.test(label) ? Number(label) : (await this.snapshots.usage(key)).size;
    if (info.kind === "committed") this.sizes.set(key, size);
    return size;
  }

  /** Per layer: chain ID, and size (snapshot usage when unpacked, else the blob's size). */
  private async layerSizes(r: ResolvedImage): Promise<{ chain: string[]; sizes: number[]; unpacked: boolean }> {
    const chain = chainIDs(r.config.rootfs.diff_ids);
    const unpacked = chain.every((c) => this.snapshots.has(c));
    const sizes: number[] = [];
    for (const [i, c] of chain.entries()) {
      sizes.push(unpacked ? await this.snapshotSize(c) : (r.manifest.layers[i]?.size ?? 0));
    }
    return { chain, sizes, unpacked };
  }

  private async readTagTimes(): Promise<Record<string, string>> {
    try {
      return JSON.parse(await readFile(this.tagTimesFile, "utf8")) as Record<string, string>;
    } catch (err) {
      if (isErrno(err, "ENOENT") || err instanceof SyntaxError) return {};
      throw err;
    }
  }

  private async touchTagTime(ids: Digest[]): Promise<void> {
    if (ids.length === 0) return;
    const times = await this.readTagTimes();
    const now = new Date().toISOString();
    for (const id of ids) times[id] = now;
    const live = new Set((await this.images.list()).map((i) => i.id));
    for (const k of Object.keys(times)) if (!live.has(k)) delete times[k];
    await writeFileAtomic(this.tagTimesFile, JSON.stringify(times));
  }

  private static names(rec: ImageRecord): { tags: string[]; digests: string[] } {
    const refs = rec.names.map((n) => parseNormalizedNamed(n));
    return {
      tags: refs.filter((r) => r.tag !== undefined).map((r) => familiarString(r)),
      digests: refs.filter((r) => r.digest !== undefined).map((r) => familiarString(r)),
    };
  }

  // ------------------------------------------------------------------ list, inspect, history

  /** `docker images`: Docker's /images/json shape. `all` and `digests` change nothing here (no intermediate images; digests are always listed). */
  async list(opts: { all?: boolean; filters?: Record<string, string[]>; digests?: boolean } = {}): Promise<ImageSummary[]> {
    const filters = { ...(opts.filters ?? {}) };
    const until = filters.until;
    delete filters.until;
    const summaries = await this.images.list(filters);
    const cutoff = until && until.length > 0 ? Math.min(...until.map((u) => parseUntil(u))) : undefined;
    const out: ImageSummary[] = [];
    for (const s of summaries) {
      if (cutoff !== undefined && !(Date.parse(s.createdAt) < cutoff)) continue;
      let size = 0;
      let labels: Record<string, string> = s.labels ?? {};
      try {
        const r = await this.resolve(s);
        size = (await this.layerSizes(r)).sizes.reduce((a, b) => a + b, 0);
        labels = r.config.config?.Labels ?? {};
      } catch {
        size = 0; // content missing (interrupted pull): list it anyway, as Docker does
      }
      out.push({
        Id: s.id,
        ParentId: "",
        RepoTags: s.repoTags,
        RepoDigests: s.repoDigests,
        Created: unixSeconds(s.createdAt),
        Size: size,
        SharedSize: -1,
        Labels: { ...labels },
        Containers: -1,
      });
    }
    return out;
  }

  /** `docker image inspect`: Docker's /images/{name}/json shape. */
  async inspect(ref: string): Promise<ImageInspect> {
    const rec = await this.images.get(ref);
    const r = await this.resolve(rec);
    const cfg = r.config;
    const { chain, sizes, unpacked } = await this.layerSizes(r);
    const { tags, digests } = ImageService.names(rec);
    const c: ContainerConfig = cfg.config ?? {};
    const config: ContainerConfig = {
      Hostname: c.Hostname ?? "",
      Domainname: c.Domainname ?? "",
      User: c.User ?? "",
      AttachStdin: c.AttachStdin ?? false,
      AttachStdout: c.AttachStdout ?? false,
      AttachStderr: c.AttachStderr ?? false,
      ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
      Tty: c.Tty ?? false,
      OpenStdin: c.OpenStdin ?? false,
      StdinOnce: c.StdinOnce ?? false,
      Env: c.Env ?? null,
      Cmd: c.Cmd ?? null,
      ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
      ...(c.ArgsEscaped !== undefined ? { ArgsEscaped: c.ArgsEscaped } : {}),
      Image: c.Image ?? "",
      Volumes: c.Volumes ?? null,
      WorkingDir: c.WorkingDir ?? "",
      Entrypoint: c.Entrypoint ?? null,
      OnBuild: c.OnBuild ?? null,
      Labels: c.Labels ?? {},
      ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
      ...(c.StopTimeout !== undefined ? { StopTimeout: c.StopTimeout } : {}),
      ...(c.Shell ? { Shell: c.Shell } : {}),
    };
    const data: Record<string, string> = {};
    const top = chain[chain.length - 1];
    if (unpacked && top !== undefined) {
      const lowers = this.snapshots.lowerDirs(top);
      // The committed top layer's own directory is not exposed by the snapshot store: only LowerDir.
      if (lowers.length > 0) data.LowerDir = lowers.join(":");
    }
    const times = await this.readTagTimes();
    return {
      Id: r.id,
      RepoTags: tags,
      RepoDigests: digests,
      Parent: "",
      Comment: typeof cfg.comment === "string" ? cfg.comment : "",
      Created: cfg.created ?? ZERO_TIME,
      DockerVersion: typeof cfg.docker_version === "string" ? cfg.docker_version : "",
      Author: cfg.author ?? "",
      Config: config,
      Architecture: cfg.architecture,
      ...(cfg.variant ? { Variant: cfg.variant } : {}),
      Os: cfg.os,
      ...(cfg["os.version"] ? { OsVersion: cfg["os.version"] } : {}),
      Size: sizes.reduce((a, b) => a + b, 0),
      GraphDriver: { Name: "overlay2", Data: data },
      RootFS: { Type: "layers", Layers: [...cfg.rootfs.diff_ids] },
      Metadata: { LastTagTime: times[r.id] ?? ZERO_TIME },
    };
  }

  /** `docker history`: newest first; only the newest entry carries the image ID and tags. */
  async history(ref: string): Promise<ImageHistoryItem[]> {
    const rec = await this.images.get(ref);
    const r = await this.resolve(rec);
    const { sizes } = await this.layerSizes(r);
    const out: ImageHistoryItem[] = [];
    let layer = 0;
    for (const h of r.config.history ?? []) {
      let size = 0;
      if (!h.empty_layer) {
        if (layer >= sizes.length) throw invalid(`image ${shortID(r.id)} has too many non-empty layers in its History section`, { code: "image.invalid" });
        size = sizes[layer++] ?? 0;
      }
      out.unshift({ Id: "<missing>", Created: h.created ? unixSeconds(h.created) : 0, CreatedBy: h.created_by ?? "", Tags: [], Size: size, Comment: h.comment ?? "" });
    }
    const first = out[0];
    if (first) {
      first.Id = r.id;
      first.Tags = ImageService.names(rec).tags;
    }
    return out;
  }

  // ------------------------------------------------------------------ tag, remove, prune, gc

  /** `docker tag SOURCE TARGET`. */
  async tag(source: string, target: string): Promise<void> {
    const rec = await this.images.tag(source, target);
    await this.touchTagTime([rec.id]);
  }

  /** `docker rmi`: Docker's rules (see InUseFn), then garbage collection unless noPrune. */
  async remove(ref: string, opts: { force?: boolean; noPrune?: boolean; inUse?: InUseFn } = {}): Promise<ImageDeleteItem[]> {
    return this.exclusive(async () => {
      const rec = await this.images.get(ref);
      const user = usedBy(opts.inUse?.(rec.id));
      let byName: string | undefined;
      try {
        const any = parseAnyReference(ref);
        if (isNamed(any)) {
          const n = canonicalName(ref);
          if (rec.names.includes(n)) byName = n;
        }
      } catch {
        byName = undefined;
      }
      if (user) {
        const tagged = rec.names.filter((n) => parseNormalizedNamed(n).tag !== undefined);
        const container = user.id ? shortID(user.id) : "(unknown)";
        if (byName !== undefined && tagged.length <= 1 && !opts.force) {
          throw conflict(`conflict: unable to remove repository reference "${ref}" (must force) - container ${container} is using its referenced image ${shortID(rec.id)}`, {
            code: "image.in-use",
            hint: "remove the container first, or use --force",
          });
        }
        const wouldDelete = byName === undefined || remainingAfterUntag(rec, byName).length === 0;
        if (wouldDelete) {
          if (user.running) {
            throw conflict(`conflict: unable to delete ${shortID(rec.id)} (cannot be forced) - image is being used by running container ${container}`, { code: "image.in-use", hint: "stop and remove the container first" });
          }
          if (!opts.force) {
            throw conflict(`conflict: unable to delete ${shortID(rec.id)} (must be forced) - image is being used by stopped container ${container}`, { code: "image.in-use", hint: "remove the container first, or use --force" });
          }
        }
      }
      const result = await this.images.remove(byName !== undefined ? byName : rec.id, { force: opts.force });
      if (!opts.noPrune && result.some((r) => r.Deleted)) await this.gcLocked();
      return result;
    });
  }

  /** `docker image prune`: dangling images (all unused ones with `all`), then garbage collection. */
  async prune(opts: { all?: boolean; filters?: Record<string, string[]>; inUse?: InUseFn } = {}): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }> {
    const filters = opts.filters ?? {};
    for (const k of Object.keys(filters)) {
      if (!["until", "label", "label!", "dangling"].includes(k)) throw invalid(`invalid filter '${k}'`, { code: "filter.invalid", field: "filters" });
    }
    let all = opts.all ?? false;
    for (const v of filters.dangling ?? []) {
      if (["false", "0"].includes(v.toLowerCase())) all = true;
      else if (!["true", "1"].includes(v.toLowerCase())) throw invalid(`invalid filter 'dangling=${v}'`, { code: "filter.invalid" });
    }
    const cutoff = filters.until?.length ? Math.min(...filters.until.map((u) => parseUntil(u))) : undefined;
    const parseLabel = (l: string) => {
      const eq = l.indexOf("=");
      return eq === -1 ? { key: l, value: undefined } : { key: l.slice(0, eq), value: l.slice(eq + 1) };
    };
    const want = (filters.label ?? []).map(parseLabel);
    const notWant = (filters["label!"] ?? []).map(parseLabel);
    return this.exclusive(async () => {
      const deleted: ImageDeleteItem[] = [];
      const matches = (labels: Record<string, string>, l: { key: string; value: string | undefined }) => (l.value === undefined ? l.key in labels : labels[l.key] === l.value);
      for (const s of await this.images.list()) {
        if (!all && !s.dangling) continue;
        if (cutoff !== undefined && !(Date.parse(s.createdAt) < cutoff)) continue;
        let labels = s.labels ?? {};
        try {
          labels = (await this.resolve(s)).config.config?.Labels ?? labels;
        } catch {
          // keep the stored labels
        }
        if (!want.every((l) => matches(labels, l))) continue;
        if (notWant.some((l) => matches(labels, l))) continue;
        if (usedBy(opts.inUse?.(s.id))) continue;
        deleted.push(...(await this.images.remove(s.id, { force: true })));
      }
      const { bytesFreed } = deleted.some((d) => d.Deleted) ? await this.gcLocked() : { bytesFreed: 0 };
      return { ImagesDeleted: deleted, SpaceReclaimed: bytesFreed };
    });
  }

  /** Content GC rooted at the image store, then removal of layer snapshots no image or container uses. */
  gc(): Promise<{ bytesFreed: number }> {
    return this.exclusive(() => this.gcLocked());
  }

  private async gcLocked(): Promise<{ bytesFreed: number }> {
    let freed = 0;
    // Snapshots first (they need the configs to know which chains are used).
    const keep = new Set<string>();
    let complete = true;
    for (const rec of await this.images.list()) {
      try {
        for (const c of chainIDs((await this.resolve(rec)).config.rootfs.diff_ids)) keep.add(c);
      } catch {
        complete = false; // an image whose config cannot be read: keep every snapshot, to be safe
      }
    }
    if (complete) {
      for (let changed = true; changed; ) {
        changed = false;
        const all = this.snapshots.list();
        const parents = new Set(all.map((s) => s.parent).filter((p): p is string => p !== undefined));
        for (const s of all) {
          if (s.kind !== "committed" || keep.has(s.key) || parents.has(s.key)) continue;
          const size = await this.snapshotSize(s.key).catch(() => 0);
          await this.snapshots.remove(s.key);
          this.sizes.delete(s.key);
          freed += size;
          changed = true;
        }
      }
    }
    const res = await this.content.gc(await this.images.roots(), imageChildren(this.content));
    for (const d of res.removed) for (const [k, v] of this.resolved) if (v.manifestDescriptor.digest === d || k === d) this.resolved.delete(k);
    return { bytesFreed: freed + res.bytesFreed + res.ingestBytesFreed };
  }

  /** What `docker system df` needs: LayersSize is the disk usage of every committed layer snapshot, counted once. */
  async df(): Promise<{ LayersSize: number; Images: ImageSummary[] }> {
    let layers = 0;
    for (const s of this.snapshots.list()) if (s.kind === "committed") layers += await this.snapshotSize(s.key);
    const images = await this.list();
    const users = new Map<string, number>();
    const chains = new Map<string, string[]>();
    for (const rec of await this.images.list()) {
      try {
        const chain = chainIDs((await this.resolve(rec)).config.rootfs.diff_ids).filter((c) => this.snapshots.has(c));
        chains.set(rec.id, chain);
        for (const c of chain) users.set(c, (users.get(c) ?? 0) + 1);
      } catch {
        chains.set(rec.id, []);
      }
    }
    for (const im of images) {
      let shared = 0;
      for (const c of chains.get(im.Id) ?? []) if ((users.get(c) ?? 0) > 1) shared += await this.snapshotSize(c);
      im.SharedSize = shared;
    }
    return { LayersSize: layers, Images: images };
  }

  // ------------------------------------------------------------------ unpack and container rootfs

  /** Applies each layer of the image as a committed snapshot keyed by chain ID (reusing existing ones). */
  unpack(ref: string): Promise<{ chainId: string }> {
    return this.exclusive(() => this.unpackLocked(ref));
  }

  private async unpackLocked(ref: string): Promise<{ chainId: string }> {
    const rec = await this.images.get(ref);
    const r = await this.resolve(rec);
    const layers: LayerToUnpack[] = r.manifest.layers.map((l, i) => ({
      desc: l,
      diffId: r.config.rootfs.diff_ids[i] as Digest,
      open: () => this.content.createReadStream(l.digest),
      trusted: true,
    }));
    const txn = newTxn();
    try {
      const top = await this.unpackLayers(layers, txn);
      return { chainId: top };
    } catch (err) {
      await this.rollback(txn);
      throw err;
    }
  }

  /** Unpacks layers bottom up; returns the top chain ID ("" for no layers). Records new snapshots in txn. */
  private async unpackLayers(layers: LayerToUnpack[], txn: Txn, progress?: (m: LoadProgress) => void, verified = new Set<Digest>()): Promise<string> {
    const chain = chainIDs(layers.map((l) => l.diffId));
    for (const [i, l] of layers.entries()) {
      const key = chain[i] as string;
      const parent = i > 0 ? chain[i - 1] : undefined;
      if (this.snapshots.has(key)) {
        if (!l.trusted && !verified.has(l.desc.digest)) {
          await verifyDiffId(await l.open(), compressionOf(l.desc), l.diffId);
          verified.add(l.desc.digest);
        }
        continue;
      }
      progress?.({ status: "Loading layer", id: shortID(l.diffId) });
      const tmpKey = `extract-${randomBytes(6).toString("hex")}-${key}`;
      await this.snapshots.prepare(tmpKey, parent);
      try {
        await applyLayer(await l.open(), this.snapshots.upperDir(tmpKey), {
          compression: compressionOf(l.desc),
          expectedDiffId: l.diffId,
          lowerDirs: this.snapshots.lowerDirs(tmpKey),
        });
        const size = diskUsage(this.snapshots.upperDir(tmpKey));
        await this.snapshots.commit(key, tmpKey, { labels: { [LABEL_DIFF_ID]: l.diffId, [LABEL_SIZE]: String(size) } });
        verified.add(l.desc.digest);
        txn.snapshots.push(key);
      } catch (err) {
        await this.snapshots.remove(tmpKey).catch(() => undefined);
        if (err instanceof CoveError && err.code === "snapshot.exists" && this.snapshots.has(key)) continue; // unpacked meanwhile
        throw err;
      }
    }
    return chain[chain.length - 1] ?? "";
  }

  /** A writable snapshot `key` for a container on top of the image's layers. */
  prepareRootfs(key: string, ref: string): Promise<{ mounts: Mount[]; imageId: string; config: ImageConfig }> {
    return this.exclusive(async () => {
      const rec = await this.images.get(ref);
      const r = await this.resolve(rec);
      const { chainId } = await this.unpackLocked(rec.id);
      const mounts = await this.snapshots.prepare(key, chainId === "" ? undefined : chainId, { labels: { [LABEL_IMAGE]: r.id } });
      return { mounts, imageId: r.id, config: r.config };
    });
  }

  /** Removes a container's snapshot (its layers stay until gc finds no image using them). */
  async removeRootfs(key: string): Promise<void> {
    await this.snapshots.remove(key);
  }

  /** `docker export`: a tar of the container's merged filesystem, written to out (which is ended). */
  async exportRootfs(key: string, out: Writable): Promise<void> {
    const mounts = await this.snapshots.mounts(key);
    const m = mounts[0];
    if (!m) throw notFound(`snapshot ${key} has nothing to export`);
    if (m.type === "bind") {
      await tarDirectory(m.source, out);
      return;
    }
    const lower = m.options.find((o) => o.startsWith("lowerdir="))?.slice("lowerdir=".length) ?? "";
    const upper = m.options.find((o) => o.startsWith("upperdir="))?.slice("upperdir=".length);
    const view: Mount = { type: "overlay", source: "overlay", options: ["ro", `lowerdir=${upper ? `${upper}:` : ""}${lower}`] };
    if (m.cwd) view.cwd = m.cwd;
    const target = path.join(this.tmp, `export-${randomBytes(6).toString("hex")}`);
    await mkdir(target, { mode: 0o700 });
    try {
      mountAll([view], target);
      try {
        await tarDirectory(target, out);
      } finally {
        unmountAll(target, addon().constants.MNT_DETACH);
      }
    } finally {
      await rmdir(target).catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------ load, import, save, export

  /** `docker load`: docker-archive (legacy or Docker 25+) or OCI layout tar, compressed or not. */
  load(input: Readable | AsyncIterable<Buffer>, opts: LoadOptions = {}): Promise<{ loaded: string[] }> {
    return this.exclusive(async () => {
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
    return this.exclusive(async () => {
      const src: ArchiveSource = "dir" in input && typeof input.dir === "string" ? new DirSource(input.dir) : await this.stage(input as Readable, opts);
      try {
        return await this.loadFrom(src, (s) => planOciLayout(s, opts.platform ? parsePlatform(opts.platform) : undefined), opts);
      } finally {
        await src.close();
      }
    });
  }

  private async stage(input: Readable | AsyncIterable<Buffer>, opts: LoadOptions): Promise<StagedArchive> {
    await mkdir(this.tmp, { recursive: true, mode: 0o700 });
    return StagedArchive.stage(input, path.join(this.tmp, `load-${randomBytes(6).toString("hex")}`), opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {});
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
      if (!b.name || !src.privateFile || (await this.content.exists(b.digest))) continue;
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
          const inStore = await this.content.exists(l.digest);
          layers.push({
            desc: l,
            diffId: img.config.rootfs.diff_ids[i] as Digest,
            open: () => (inStore || !blob?.name ? this.content.createReadStream(l.digest) : src.open(blob.name)),
            trusted: inStore,
          });
        }
        await this.unpackLayers(layers, txn, opts.onProgress, verified);
      }
      for (const b of p.blobs.values()) {
        if (await this.content.exists(b.digest)) continue;
        const sync = syncs.get(b.digest);
        if (sync && b.name && src.privateFile && (await this.adopt(src.privateFile(b.name), b, sync))) {
          txn.blobs.push(b.digest);
          continue;
        }
        await this.ingest(b.digest, b.size, b.data ?? (await src.open(b.name as string)));
        txn.blobs.push(b.digest);
      }
      for (const img of p.images) await this.putImage(img, txn);
      await this.touchTagTime(p.images.filter((i) => i.names.length > 0).map((i) => i.id));
    } catch (err) {
      await this.rollback(txn);
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
      return await this.content.adopt(f.file, b.digest, b.size, { synced: true });
    } catch (err) {
      if (err instanceof CoveError && err.errno === "EXDEV") return false;
      throw err;
    }
  }

  private async ingest(digest: Digest, size: number, data: Buffer | Readable): Promise<void> {
    const ref = `ingest-${digest}-${randomBytes(4).toString("hex")}`;
    const w = await this.content.writer(ref, { expected: { digest, size } });
    try {
      if (Buffer.isBuffer(data)) await w.write(data);
      else for await (const c of data) await w.write(c as Buffer);
      await w.commit(size, digest);
    } catch (err) {
      await w.close().catch(() => undefined);
      await this.content.abort(ref).catch(() => undefined);
      throw err;
    }
    await w.close().catch(() => undefined);
  }

  private async putImage(img: Pick<PlanImage, "id" | "target" | "names" | "config">, txn: Txn): Promise<void> {
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
    });
  }

  private async rollback(txn: Txn): Promise<void> {
    for (const id of txn.newImages) await this.images.delete(id).catch(() => undefined);
    for (const n of txn.newNames) await this.images.untag(n).catch(() => undefined);
    for (const { name, from } of txn.movedNames) await this.images.put({ id: from.id, target: from.target, names: [name] }).catch(() => undefined);
    for (const key of [...txn.snapshots].reverse()) {
      await this.snapshots.remove(key).catch(() => undefined);
      this.sizes.delete(key);
    }
    for (const d of txn.blobs) await this.content.delete(d).catch(() => undefined);
  }

  /** `docker import`: a rootfs tar (plain, gzip or zstd) as a one-layer image. Returns the image ID. */
  importRootfs(input: Readable | AsyncIterable<Buffer>, opts: { reference?: string; changes?: string[]; message?: string; platform?: string } = {}): Promise<string> {
    return this.exclusive(async () => {
      const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
      let names: string[] = [];
      if (opts.reference) {
        const ref = parseNormalizedNamed(opts.reference);
        if (ref.digest !== undefined) throw invalid(`cannot import to ${opts.reference}: a digest reference cannot be given`, { code: "reference.invalid", hint: "give a name with a tag" });
        names = [canonicalName(opts.reference)];
      }
      const containerConfig = applyChanges({}, opts.changes ?? []);
      const txn = newTxn();
      try {
        // The uncompressed tar becomes the layer blob: its digest is the diff ID.
        const ref = `import-${randomBytes(8).toString("hex")}`;
        const w = await this.content.writer(ref);
        let diffId: Digest;
        let size: number;
        try {
          for await (const c of decompress(input as AsyncIterable<unknown>, "auto")) await w.write(c);
          diffId = w.digest();
          size = w.offset;
          const existed = await this.content.exists(diffId);
          await w.commit(size, diffId);
          if (!existed) txn.blobs.push(diffId);
        } catch (err) {
          await w.close().catch(() => undefined);
          await this.content.abort(ref).catch(() => undefined);
          if (err instanceof CoveError) throw err;
          throw invalid(`importing the rootfs tar failed: ${(err as Error).message}`, { code: "archive.corrupt", cause: err });
        }
        await w.close().catch(() => undefined);
        const layer: Descriptor = { mediaType: MediaType.OCILayer, digest: diffId, size };
        await this.unpackLayers([{ desc: layer, diffId, open: () => this.content.createReadStream(diffId), trusted: true }], txn);
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
        const configBytes = Buffer.from(JSON.stringify(config));
        const id = digestOf(configBytes);
        const manifest: Manifest = {
          schemaVersion: 2,
          mediaType: MediaType.OCIManifest,
          config: { mediaType: MediaType.OCIConfig, digest: id, size: configBytes.length },
          layers: [layer],
        };
        const manifestBytes = Buffer.from(JSON.stringify(manifest));
        const target: Descriptor = { mediaType: MediaType.OCIManifest, digest: digestOf(manifestBytes), size: manifestBytes.length };
        for (const [d, bytes] of [
          [id, configBytes],
          [target.digest, manifestBytes],
        ] as const) {
          if (await this.content.exists(d)) continue;
          await this.ingest(d, bytes.length, bytes);
          txn.blobs.push(d);
        }
        await this.putImage({ id, target, names, config }, txn);
        if (names.length > 0) await this.touchTagTime([id]);
        return id;
      } catch (err) {
        await this.rollback(txn);
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
    parent: string,
    layer: (() => Readable) | undefined,
    opts: { config: ContainerConfig; reference?: string; author?: string; comment?: string; createdBy?: string; container?: string; containerConfig?: ContainerConfig },
  ): Promise<string> {
    return this.exclusive(async () => {
      let names: string[] = [];
      if (opts.reference) {
        const ref = parseNormalizedNamed(opts.reference);
        if (ref.digest !== undefined) throw invalid(`cannot commit to ${opts.reference}: a digest reference cannot be given`, { code: "reference.invalid", hint: "give a name with a tag" });
        names = [canonicalName(opts.reference)];
      }
      const rec = await this.images.get(parent);
      const r = await this.resolve(rec);
      const txn = newTxn();
      try {
        const layers: Descriptor[] = [...r.manifest.layers];
        const diffIds = [...r.config.rootfs.diff_ids];
        if (layer) {
          const ref = `commit-${randomBytes(8).toString("hex")}`;
          const w = await this.content.writer(ref);
          let diffId: Digest;
          let size: number;
          try {
            for await (const c of layer()) await w.write(c as Buffer);
            diffId = w.digest();
            size = w.offset;
            const existed = await this.content.exists(diffId);
            await w.commit(size, diffId);
            if (!existed) txn.blobs.push(diffId);
          } catch (err) {
            await w.close().catch(() => undefined);
            await this.content.abort(ref).catch(() => undefined);
            throw err;
          }
          await w.close().catch(() => undefined);
          const docker = r.manifest.mediaType === MediaType.DockerManifest;
          layers.push({ mediaType: docker ? MediaType.DockerLayer : MediaType.OCILayer, digest: diffId, size });
          diffIds.push(diffId);
          // the parent's layers are unpacked (the container runs on them); only the new one is applied
          const all: LayerToUnpack[] = layers.map((l, i) => ({ desc: l, diffId: diffIds[i] as Digest, open: () => this.content.createReadStream(l.digest), trusted: true }));
          await this.unpackLayers(all, txn);
        }
        const created = new Date().toISOString();
        const history = [...(r.config.history ?? [])];
        history.push({
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
        const docker = r.manifest.mediaType === MediaType.DockerManifest;
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
          if (await this.content.exists(d)) continue;
          await this.ingest(d, bytes.length, bytes);
          txn.blobs.push(d);
        }
        await this.putImage({ id, target, names, config }, txn);
        if (names.length > 0) await this.touchTagTime([id]);
        return id;
      } catch (err) {
        await this.rollback(txn);
        throw err;
      }
    });
  }

  /** Resolves the refs of save/export into archive entries (names grouped per image). */
  private async saveEntries(refs: string[]): Promise<SaveEntry[]> {
    if (refs.length === 0) throw invalid("no image to save: give at least one image name or ID", { code: "image.invalid" });
    const entries = new Map<Digest, SaveEntry>();
    const add = async (rec: ImageRecord, names: string[]) => {
      const r = await this.resolve(rec);
      let e = entries.get(r.id);
      if (!e) {
        const stored: Descriptor = { mediaType: r.manifestDescriptor.mediaType, digest: r.manifestDescriptor.digest, size: r.manifestDescriptor.size };
        for (const d of [stored, r.manifest.config, ...r.manifest.layers]) {
          if (!(await this.content.exists(d.digest))) {
            throw notFound(`cannot save ${familiarOrId(rec)}: blob ${d.digest} is not in the content store`, { code: "content.not-found", hint: "pull the image again" });
          }
        }
        e = { ...toOciManifest(stored, r.manifest), names: [], repoTags: [], repositories: [] };
        entries.set(r.id, e);
      }
      for (const n of names) {
        if (e.names.includes(n)) continue;
        const ref = parseNormalizedNamed(n);
        if (ref.tag === undefined) continue;
        e.names.push(n);
        e.repoTags.push(familiarString(ref));
        e.repositories.push({ repo: familiarName(ref), tag: ref.tag });
      }
    };
    for (const input of refs) {
      const any = parseAnyReference(input);
      if (isNamed(any) && any.tag === undefined && any.digest === undefined && !/^[a-f0-9]{6,64}$/.test(input)) {
        // A bare repository name: every tag of it, as docker save does.
        const repo = repositoryName(any);
        const matching = (await this.images.list()).filter((i) => i.names.some((n) => repositoryName(parseNormalizedNamed(n)) === repo));
        if (matching.length > 0) {
          for (const rec of matching) await add(rec, rec.names.filter((n) => repositoryName(parseNormalizedNamed(n)) === repo));
          continue;
        }
      }
      const rec = await this.images.get(input);
      let names: string[] = [];
      if (isNamed(any)) {
        const n = canonicalName(input);
        if (rec.names.includes(n)) names = [n];
      }
      await add(rec, names);
    }
    return [...entries.values()];
  }

  /** `docker save`: the docker-archive described in archive/write.ts, written to out (which is ended). */
  async save(refs: string[], out: Writable): Promise<void> {
    const entries = await this.saveEntries(refs);
    await writeArchive(out, entries, (d) => this.content.createReadStream(d.digest), { dockerManifest: true });
  }

  /** Writes an OCI image layout (to a tar stream, or as files under dir). */
  async exportOciLayout(refs: string[], out: Writable | { dir: string }): Promise<void> {
    const entries = await this.saveEntries(refs);
    const open = (d: Descriptor) => this.content.createReadStream(d.digest);
    if ("dir" in out && typeof out.dir === "string") await writeLayoutDir(out.dir, entries, open);
    else await writeArchive(out as Writable, entries, open, { dockerManifest: false });
  }
}

const OCI_LAYER_TYPES: Record<string, string> = {
  [MediaType.DockerLayer]: MediaType.OCILayer,
  [MediaType.DockerLayerGzip]: MediaType.OCILayerGzip,
  [MediaType.DockerLayerZstd]: MediaType.OCILayerZstd,
  [MediaType.DockerLayerForeign]: MediaType.OCILayerNonDistributableGzip,
};

/**
 * The manifest as written into archives and layouts: an OCI manifest as stored, or a Docker schema 2
 * manifest converted to OCI media types (same config and layer blobs, so the same image ID and diff
 * IDs; a new manifest digest), because OCI layout readers such as skopeo 1.9 only look up OCI types.
 */
function toOciManifest(stored: Descriptor, m: Manifest): Pick<SaveEntry, "manifest" | "manifestBytes" | "config" | "layers"> {
  if (stored.mediaType === MediaType.OCIManifest) return { manifest: stored, config: m.config, layers: m.layers };
  const config: Descriptor = { mediaType: MediaType.OCIConfig, digest: m.config.digest, size: m.config.size };
  const layers = m.layers.map((l) => {
    const d: Descriptor = { mediaType: OCI_LAYER_TYPES[l.mediaType] ?? l.mediaType, digest: l.digest, size: l.size };
    if (l.urls) d.urls = l.urls;
    return d;
  });
  const oci: Manifest = { schemaVersion: 2, mediaType: MediaType.OCIManifest, config, layers };
  const bytes = Buffer.from(JSON.stringify(oci));
  return { manifest: { mediaType: MediaType.OCIManifest, digest: digestOf(bytes), size: bytes.length }, manifestBytes: bytes, config, layers };
}

function familiarOrId(rec: ImageRecord): string {
  const n = rec.names[0];
  return n ? familiarString(parseNormalizedNamed(n) as Reference) : shortID(rec.id);
}

/** Names left on rec after Docker's untag of `name` (digest names of its repository go with its last tag). */
function remainingAfterUntag(rec: ImageRecord, name: string): string[] {
  const rest = rec.names.filter((n) => n !== name);
  const repo = repositoryName(parseNormalizedNamed(name));
  const repoHasTag = rest.some((n) => {
    const r = parseNormalizedNamed(n);
    return repositoryName(r) === repo && r.tag !== undefined;
  });
  return repoHasTag ? rest : rest.filter((n) => repositoryName(parseNormalizedNamed(n)) !== repo);
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Disk bytes of the files under dir (hard links counted once), as SnapshotStore.usage measures a
 * snapshot, with synchronous calls: a fresh layer is thousands of small files and a thread-pool
 * round trip per lstat would cost more than the lstat.
 */
function diskUsage(dir: string): number {
  const seen = new Set<string>();
  let size = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = lstatSync(p, { bigint: true });
      const id = `${st.dev}:${st.ino}`;
      if (!seen.has(id)) {
        seen.add(id);
        size += Number(st.blocks) * 512;
      }
      if (st.isDirectory()) walk(p);
    }
  };
  try {
    walk(dir);
  } catch (err) {
    throw fromErrno(err, `measuring the layer unpacked in ${dir}`);
  }
  return size;
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
