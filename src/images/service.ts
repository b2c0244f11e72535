// The image service: images as Docker shows them, built on the content store (blobs), the image
// store (names → targets) and the snapshot store (unpacked layers), all under one injected root
// (see core.ts for the layout). The daemon's routes, the container service, the library's Engine
// and the CLI call it. This is its public face: the stores and shared state are in core.ts, the
// operations in the modules it opens with:
//
//   views.ts    list, inspect, history, df
//   remove.ts   tag, remove, prune, gc
//   unpack.ts   unpack, and container rootfs snapshots (prepare, export, remove)
//   load.ts     load and OCI layout import (all-or-nothing)
//   commit.ts   import of a rootfs tar, and commit
//   save.ts     save and OCI layout export
//   pull.ts     pull from a registry (through src/registry), then unpack and name as load does
//   push.ts     push to a registry, as the manifest or index stored
//
// Mutations (load, import, commit, remove, prune, gc, unpack) run one at a time within the
// service, so a collection never sees a half-loaded image.

import { readdirSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { isErrno } from "../common/errors.js";
import { notice } from "../common/ignore.js";
import type { ContentStore } from "../content/store.js";
import { addon } from "../native/addon.js";
import { unmountAll, type Mount } from "../snapshots/mount.js";
import { SnapshotStore } from "../snapshots/store.js";
import type { ImageDeleteItem, ImageHistoryItem, ImageInspect, ImageSummary } from "../docker/index.js";
import { ImageCore, type ImageServiceOptions, type InUseFn, type LoadOptions } from "./core.js";
import { ImageViews } from "./views.js";
import { Remover } from "./remove.js";
import { EXTRACT_PREFIX, Unpacker } from "./unpack.js";
import { Loader } from "./load.js";
import { Committer } from "./commit.js";
import { Saver } from "./save.js";
import { Puller, type DistributionInspect, type PullOptions, type PullResult } from "./pull.js";
import { Pusher, type PushOptions, type PushResult } from "./push.js";
import type { ImageStore } from "./store.js";
import type { ContainerConfig, ImageConfig } from "./types.js";
import type { AuthConfig } from "../registry/auth.js";
import type { RegistryOptions } from "../registry/client.js";
import { login, type LoginResult } from "../registry/login.js";
import { searchRegistry, type SearchOptions, type SearchResult } from "../registry/search.js";

export { LABEL_DIFF_ID, LABEL_IMAGE, LABEL_SIZE, parseUntil, type ImageServiceOptions, type InUseFn, type LoadOptions, type LoadProgress } from "./core.js";

export class ImageService {
  private constructor(private readonly core: ImageCore) {}

  /** Opens (creating) the service's stores under root; stale staging directories are removed. */
  static async open(options: ImageServiceOptions): Promise<ImageService> {
    const root = path.resolve(options.root);
    const snapshots = await SnapshotStore.open(path.join(root, "snapshots"));
    const core = new ImageCore(root, snapshots, options.registry);
    core.m = {
      views: new ImageViews(core),
      remove: new Remover(core),
      unpack: new Unpacker(core),
      load: new Loader(core),
      commit: new Committer(core),
      save: new Saver(core),
      pull: new Puller(core),
      push: new Pusher(core),
    };
    // an export view a crash left mounted would make the removal fail with EBUSY
    let leftovers: string[] = [];
    try {
      leftovers = readdirSync(core.tmp).filter((name) => name.startsWith("export-"));
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    for (const name of leftovers) unmountAll(path.join(core.tmp, name), addon().constants.MNT_DETACH);
    await rm(core.tmp, { recursive: true, force: true });
    await mkdir(core.tmp, { recursive: true, mode: 0o700 });
    await mkdir(core.images.dir, { recursive: true });
    // A layer a crash interrupted mid-unpack left an active "extract-" snapshot nothing will
    // commit; the ingests of interrupted downloads stay for the next pull to resume (see content).
    for (const s of core.snapshots.list()) {
      if (s.kind === "active" && s.key.startsWith(EXTRACT_PREFIX)) {
        await core.snapshots.remove(s.key);
        notice(`images: removed the snapshot ${s.key} of a layer whose unpack was interrupted`);
      }
    }
    await core.content.reconcileIngests();
    return new ImageService(core);
  }

  /** The state root. */
  get root(): string {
    return this.core.root;
  }
  /** Blobs. */
  get content(): ContentStore {
    return this.core.content;
  }
  /** Names and targets. */
  get images(): ImageStore {
    return this.core.images;
  }
  /** Unpacked layers and container rootfs snapshots. */
  get snapshots(): SnapshotStore {
    return this.core.snapshots;
  }

  // ------------------------------------------------------------------ views (views.ts)

  /** `docker images`: Docker's /images/json shape. `all` and `digests` change nothing here (no intermediate images; digests are always listed). */
  list(opts: { all?: boolean; filters?: Record<string, string[]>; digests?: boolean } = {}): Promise<ImageSummary[]> {
    return this.core.m.views.list(opts);
  }

  /** `docker image inspect`: Docker's /images/{name}/json shape. */
  inspect(ref: string): Promise<ImageInspect> {
    return this.core.m.views.inspect(ref);
  }

  /** `docker history`: newest first; only the newest entry carries the image ID and tags. */
  history(ref: string): Promise<ImageHistoryItem[]> {
    return this.core.m.views.history(ref);
  }

  /** What `docker system df` needs: LayersSize is the disk usage of every committed layer snapshot, counted once. */
  df(): Promise<{ LayersSize: number; Images: ImageSummary[] }> {
    return this.core.m.views.df();
  }

  // ------------------------------------------------------------------ tag, remove, prune, gc (remove.ts)

  /** `docker tag SOURCE TARGET`. */
  tag(source: string, target: string): Promise<void> {
    return this.core.m.remove.tag(source, target);
  }

  /** `docker rmi`: Docker's rules (see InUseFn), then garbage collection unless noPrune. */
  remove(ref: string, opts: { force?: boolean; noPrune?: boolean; inUse?: InUseFn } = {}): Promise<ImageDeleteItem[]> {
    return this.core.m.remove.remove(ref, opts);
  }

  /** `docker image prune`: dangling images (all unused ones with `all`), then garbage collection. */
  prune(opts: { all?: boolean; filters?: Record<string, string[]>; inUse?: InUseFn } = {}): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }> {
    return this.core.m.remove.prune(opts);
  }

  /** Content GC rooted at the image store, then removal of layer snapshots no image or container uses. */
  gc(): Promise<{ bytesFreed: number }> {
    return this.core.m.remove.gc();
  }

  // ------------------------------------------------------------------ unpack and container rootfs (unpack.ts)

  /** Applies each layer of the image as a committed snapshot keyed by chain ID (reusing existing ones). */
  unpack(ref: string): Promise<{ chainId: string }> {
    return this.core.m.unpack.unpack(ref);
  }

  /**
   * A writable snapshot `key` for a container on top of the image's layers; a volatile one (a --rm
   * container's, which a crash may lose) is made without waiting for the disk.
   */
  prepareRootfs(key: string, ref: string, opts: { volatile?: boolean } = {}): Promise<{ mounts: Mount[]; imageId: string; config: ImageConfig }> {
    return this.core.m.unpack.prepareRootfs(key, ref, opts);
  }

  /** Removes a container's snapshot (its layers stay until gc finds no image using them). */
  removeRootfs(key: string): Promise<void> {
    return this.core.m.unpack.removeRootfs(key);
  }

  /** `docker export`: a tar of the container's merged filesystem, written to out (which is ended). */
  exportRootfs(key: string, out: Writable): Promise<void> {
    return this.core.m.unpack.exportRootfs(key, out);
  }

  // ------------------------------------------------------------------ load, import, commit, save, export

  /** `docker load`: docker-archive (legacy or Docker 25+) or OCI layout tar, compressed or not. */
  load(input: Readable | AsyncIterable<Buffer>, opts: LoadOptions = {}): Promise<{ loaded: string[] }> {
    return this.core.m.load.load(input, opts);
  }

  /** Imports an OCI image layout from a directory or a tar stream. */
  importOciLayout(input: { dir: string } | Readable | AsyncIterable<Buffer>, opts: LoadOptions = {}): Promise<{ loaded: string[] }> {
    return this.core.m.load.importOciLayout(input, opts);
  }

  /** `docker import`: a rootfs tar (plain, gzip or zstd) as a one-layer image. Returns the image ID. */
  importRootfs(input: Readable | AsyncIterable<Buffer>, opts: { reference?: string; changes?: string[]; message?: string; platform?: string } = {}): Promise<string> {
    return this.core.m.commit.importRootfs(input, opts);
  }

  /**
   * `docker commit`: one more layer (an uncompressed layer tar, or none) on top of an image, or on
   * the empty image (FROM scratch, of `platform` or the host's) when parent is undefined; with
   * noHistory (and no layer) no history entry is added (the empty base a build on scratch starts
   * from); recordParent records `parent` as the new image's Parent (the builder's steps, as
   * dockerd's legacy builder). Returns the new image ID.
   */
  commit(
    parent: string | undefined,
    layer: (() => Readable) | undefined,
    opts: { config: ContainerConfig; reference?: string; author?: string; comment?: string; createdBy?: string; container?: string; containerConfig?: ContainerConfig; platform?: string; noHistory?: boolean; recordParent?: boolean },
  ): Promise<string> {
    return this.core.m.commit.commit(parent, layer, opts);
  }

  // ------------------------------------------------------------------ registries (pull.ts)

  /** `docker pull`: fetches the image from its registry, unpacks it and names it as Docker does. */
  pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    return this.core.m.pull.pull(ref, opts);
  }

  /** `docker push`: the tag given (every tag of the repository when none is) to its registry; the image is named repo@digest after. */
  push(name: string, tag?: string, opts: PushOptions = {}): Promise<PushResult[]> {
    return this.core.m.push.push(name, tag, opts);
  }

  /** POST /auth: checks credentials against the registry they name (the service's insecure registries apply). */
  login(auth: AuthConfig, opts: { signal?: AbortSignal } = {}): Promise<LoginResult> {
    return login(auth, { ...this.core.registry, ...opts });
  }

  /** `docker search`: repositories of the registry the term names (see registry/search.ts). */
  search(term: string, opts: Omit<SearchOptions, keyof RegistryOptions> = {}): Promise<SearchResult[]> {
    return searchRegistry(term, { ...this.core.registry, ...opts });
  }

  /** How the service reaches registries (insecure registries, mirrors). */
  /** Replaces the insecure registries and mirrors (a daemon reload); pulls and pushes that start later use them. */
  setRegistryOptions(opts: Pick<RegistryOptions, "insecureRegistries" | "mirrors">): void {
    const r = this.core.registry;
    delete r.insecureRegistries;
    delete r.mirrors;
    if (opts.insecureRegistries) r.insecureRegistries = opts.insecureRegistries;
    if (opts.mirrors) r.mirrors = opts.mirrors;
  }

  get registryOptions(): RegistryOptions {
    return this.core.registry;
  }

  /** Every tag of a repository in its registry (`docker pull --all-tags`). */
  remoteTags(repository: string, opts: Pick<PullOptions, "auth" | "signal"> = {}): Promise<string[]> {
    return this.core.m.pull.remoteTags(repository, opts);
  }

  /** GET /distribution/{name}/json: the descriptor a reference resolves to and its platforms. */
  distributionInspect(ref: string, opts: Pick<PullOptions, "auth" | "signal"> = {}): Promise<DistributionInspect> {
    return this.core.m.pull.inspect(ref, opts);
  }

  /** `docker save`: the docker-archive described in archive/write.ts, written to out (which is ended). */
  save(refs: string[], out: Writable): Promise<void> {
    return this.core.m.save.save(refs, out);
  }

  /** Writes an OCI image layout (to a tar stream, or as files under dir). */
  exportOciLayout(refs: string[], out: Writable | { dir: string }): Promise<void> {
    return this.core.m.save.exportOciLayout(refs, out);
  }
}
