// The image metadata store: which images exist, their names (references), the manifest or index
// each was pulled or built as (target), when they were created and their labels. One JSON file,
// `<root>/images/index.json`, rewritten atomically (temp file, fsync, rename, fsync dir) under an
// in-process lock, so a crash leaves the old or the new state, never a torn one.
//
// Lookups follow Docker (moby daemon/images GetImage and ImageDelete): a full ID or digest, then a
// name (with ":latest" added), then an ID prefix; an ambiguous prefix is an error.

import { statSync } from "node:fs";
import { mkdir, open, readFile } from "node:fs/promises";
import path from "node:path";
import { conflict, invalid, isErrno, notFound, systemError, fromErrno } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { validateDigest, type Digest } from "../content/digest.js";
import { shortID } from "./ids.js";
import {
  familiarMatch,
  familiarString,
  isBadReference,
  isNamed,
  parseAnyReference,
  parseDockerRef,
  parseNormalizedNamed,
  referenceString,
  repositoryName,
  tagNameOnly,
  type Reference,
} from "./reference.js";
import type { Descriptor } from "./types.js";
import { validateDescriptor } from "./validate.js";

export interface ImageRecord {
  /** Docker's image ID: the config digest. */
  id: Digest;
  /** The manifest or index the image was pulled or built as. */
  target: Descriptor;
  /** Canonical references: "docker.io/library/busybox:latest", "docker.io/library/busybox@sha256:...". */
  names: string[];
  /** When the image was created (its config's `created`), ISO 8601. */
  createdAt: string;
  labels: Record<string, string>;
  /**
   * The image this one was built on, step by step (dockerd's Parent: the builder's images of the
   * steps before). Kept beside the image, never in its config, so it changes no image ID.
   */
  parent?: Digest;
}

export interface ImageSummary extends ImageRecord {
  /** Familiar tagged names, e.g. "busybox:latest" (only those matching a reference filter, if any). */
  repoTags: string[];
  /** Familiar digested names, e.g. "busybox@sha256:...". */
  repoDigests: string[];
  dangling: boolean;
  /** Other images name this one as their parent (an intermediate image of a build when untagged). */
  hasChildren: boolean;
}

export interface PutImage {
  id: Digest;
  target: Descriptor;
  names?: string[];
  createdAt?: string | Date;
  labels?: Record<string, string>;
  /** The parent to record (only for a new image: an existing one keeps its own). */
  parent?: Digest;
}

/** Docker's image list filters, as the API passes them: {"dangling": ["true"], "label": ["a=b"]}. */
export type ImageFilters = Record<string, string[]>;

export interface RemoveResult {
  Untagged?: string;
  Deleted?: string;
}

interface StoreFile {
  version: 1;
  images: ImageRecord[];
}

const FILTER_KEYS = new Set(["dangling", "label", "before", "since", "reference"]);

function noSuchImage(input: string): Error {
  let shown = input;
  try {
    const ref = parseAnyReference(input);
    shown = familiarString(isNamed(ref) ? tagNameOnly(ref) : ref);
  } catch (err) {
    // not a reference: keep the input as typed
    if (!isBadReference(err)) throw err;
  }
  return notFound(`No such image: ${shown}`, { code: "image.not-found" });
}

/** The canonical stored form of a name: tagged (":latest" added) or digested, never both. */
export function canonicalName(name: string): string {
  return referenceString(parseDockerRef(name));
}

function parseStoredName(name: string): Reference {
  return parseNormalizedNamed(name);
}

export interface ImageStoreOptions {
  /** The state root; the store lives in `<root>/images`. */
  root: string;
}

export class ImageStore {
  readonly dir: string;
  readonly file: string;
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * The store as get() last read it, with the identity of the file it came from: every write
   * renames a new file into place, so an unchanged (inode, size, mtime) is the same content, and a
   * lookup (two per container create) costs one stat instead of a read and a parse.
   */
  private lookupCache: { ino: bigint; size: bigint; mtimeNs: bigint; data: StoreFile } | undefined;

  constructor(options: ImageStoreOptions) {
    this.dir = path.join(options.root, "images");
    this.file = path.join(this.dir, "index.json");
  }

  private async load(): Promise<StoreFile> {
    return (await this.loadText()).data;
  }

  /** The store and the text it was read from ("" when there is no file yet). */
  private async loadText(): Promise<{ data: StoreFile; raw: string }> {
    let raw: string;
    try {
      raw = await readFile(this.file, "utf8");
    } catch (err) {
      if (isErrno(err, "ENOENT")) return { data: { version: 1, images: [] }, raw: "" };
      throw fromErrno(err, `reading the image store ${this.file}`);
    }
    try {
      const parsed = JSON.parse(raw) as StoreFile;
      if (parsed.version !== 1 || !Array.isArray(parsed.images)) throw new Error(`unknown layout version ${String(parsed.version)}`);
      return { data: parsed, raw };
    } catch (err) {
      throw systemError(`the image store ${this.file} is unreadable: ${(err as Error).message}`, {
        cause: err,
        code: "image.store-corrupt",
        hint: "restore it from a backup, or move it away to start with no images (blobs in the content store are kept)",
      });
    }
  }

  /** Writes the store and syncs it, unless it reads the same as `raw`, what is on disk already. */
  private async save(data: StoreFile, raw?: string): Promise<void> {
    data.images.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const text = JSON.stringify(data, null, 2) + "\n";
    // a pull of an image that is up to date names it as it was named: nothing to write or sync
    if (text === raw) return;
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.file, text);
    const fh = await open(this.dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Runs a read-modify-write under the store's lock. */
  private mutate<T>(fn: (data: StoreFile) => T | Promise<T>): Promise<T> {
    const run = async () => {
      const { data, raw } = await this.loadText();
      const result = await fn(data);
      await this.save(data, raw);
      return result;
    };
    const p = this.queue.then(run, run);
    // the caller gets the failure through p; the queue only keeps the order
    this.queue = p.catch(() => undefined);
    return p;
  }

  private static find(data: StoreFile, refOrId: string): ImageRecord {
    if (refOrId === "") throw invalid("an image name or ID is required", { code: "image.invalid", field: "image" });
    const ref = parseAnyReference(refOrId);
    if (!isNamed(ref)) {
      const byId = data.images.find((i) => i.id === ref.digest) ?? data.images.find((i) => i.target.digest === ref.digest);
      if (byId) return byId;
      throw noSuchImage(refOrId);
    }
    if (ref.digest !== undefined) {
      const repo = repositoryName(ref);
      const exact = `${repo}@${ref.digest}`;
      const found =
        data.images.find((i) => i.names.includes(exact)) ??
        data.images.find((i) => i.target.digest === ref.digest && i.names.some((n) => repositoryName(parseStoredName(n)) === repo));
      if (found) return found;
      throw noSuchImage(refOrId);
    }
    const name = referenceString(tagNameOnly(ref));
    const byName = data.images.find((i) => i.names.includes(name));
    if (byName) return byName;
    // An ID prefix, with or without "sha256:".
    const m = /^(?:sha256:)?([a-f0-9]+)$/.exec(refOrId);
    if (m) {
      const hexPrefix = m[1] as string;
      const hits = data.images.filter((i) => i.id.startsWith("sha256:") && i.id.slice(7).startsWith(hexPrefix));
      if (hits.length === 1) return hits[0] as ImageRecord;
      if (hits.length > 1) {
        throw notFound(`ambiguous image ID "${refOrId}": it is a prefix of ${hits.length} images (${hits.map((h) => shortID(h.id)).join(", ")})`, {
          code: "image.ambiguous",
          hint: "give more characters of the ID",
        });
      }
    }
    throw noSuchImage(refOrId);
  }

  /** Adds an image or updates it (by ID); names given move to it from any other image. */
  async put(input: PutImage): Promise<ImageRecord> {
    validateDigest(input.id, "id");
    validateDescriptor(input.target, "image", "target");
    const names = (input.names ?? []).map(canonicalName);
    const createdAt = input.createdAt instanceof Date ? input.createdAt.toISOString() : (input.createdAt ?? new Date().toISOString());
    if (Number.isNaN(Date.parse(createdAt))) throw invalid(`invalid image creation time "${createdAt}"`, { field: "createdAt" });
    return this.mutate((data) => {
      for (const other of data.images) other.names = other.names.filter((n) => !names.includes(n) || other.id === input.id);
      let rec = data.images.find((i) => i.id === input.id);
      if (!rec) {
        rec = { id: input.id, target: input.target, names: [], createdAt, labels: input.labels ?? {} };
        if (input.parent !== undefined && input.parent !== input.id) rec.parent = input.parent;
        data.images.push(rec);
      } else {
        rec.target = input.target;
        if (input.createdAt !== undefined) rec.createdAt = createdAt;
        if (input.labels !== undefined) rec.labels = input.labels;
      }
      for (const n of names) if (!rec.names.includes(n)) rec.names.push(n);
      rec.names.sort();
      return structuredClone(rec);
    });
  }

  /** Finds an image by ID, digest, name or ID prefix, as Docker does. */
  async get(refOrId: string): Promise<ImageRecord> {
    await this.queue;
    return structuredClone(ImageStore.find(await this.loadForLookup(), refOrId));
  }

  /** load() for lookups that only read (and clone what they return): from lookupCache while the file is the same. */
  private async loadForLookup(): Promise<StoreFile> {
    let st;
    try {
      st = statSync(this.file, { bigint: true }); // metadata of a file in the page cache: no thread-pool round trip
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw fromErrno(err, `reading the image store ${this.file}`);
      this.lookupCache = undefined;
      return this.load();
    }
    const c = this.lookupCache;
    if (c && c.ino === st.ino && c.size === st.size && c.mtimeNs === st.mtimeNs) return c.data;
    const data = await this.load();
    this.lookupCache = { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, data };
    return data;
  }

  /** `docker tag SOURCE TARGET`: names the image found by `source` also `target`. */
  async tag(source: string, target: string): Promise<ImageRecord> {
    const ref = parseNormalizedNamed(target);
    if (ref.digest !== undefined) {
      throw invalid("refusing to create a tag with a digest reference", { code: "reference.invalid", field: "target", hint: `use a tag: ${familiarName(ref)}:<tag>` });
    }
    const name = referenceString(tagNameOnly(ref));
    return this.mutate((data) => {
      const rec = ImageStore.find(data, source);
      for (const other of data.images) if (other !== rec) other.names = other.names.filter((n) => n !== name);
      if (!rec.names.includes(name)) rec.names.push(name);
      rec.names.sort();
      return structuredClone(rec);
    });
  }

  /** Removes one name. The image stays (dangling if it was its last name). Returns the image. */
  async untag(name: string): Promise<ImageRecord> {
    const canonical = canonicalName(name);
    return this.mutate((data) => {
      const rec = data.images.find((i) => i.names.includes(canonical));
      if (!rec) throw noSuchImage(name);
      rec.names = rec.names.filter((n) => n !== canonical);
      return structuredClone(rec);
    });
  }

  /**
   * `docker rmi`: by name, untags (and drops digest names of that repository once it has no tag
   * left) and deletes the image when no name remains; by ID, deletes the image and all its names,
   * refusing without `force` when names from several repositories point at it.
   */
  async remove(refOrId: string, options: { force?: boolean } = {}): Promise<RemoveResult[]> {
    return this.mutate((data) => {
      const rec = ImageStore.find(data, refOrId);
      const out: RemoveResult[] = [];
      let named: string | undefined;
      try {
        const name = canonicalName(refOrId);
        if (rec.names.includes(name)) named = name;
      } catch {
        named = undefined; // a full ID or digest: not a name
      }
      const hasChildren = data.images.some((i) => i.parent === rec.id);
      if (named) {
        rec.names = rec.names.filter((n) => n !== named);
        out.push({ Untagged: familiarString(parseStoredName(named)) });
        const repo = repositoryName(parseStoredName(named));
        const repoHasTag = rec.names.some((n) => {
          const r = parseStoredName(n);
          return repositoryName(r) === repo && r.tag !== undefined;
        });
        if (!repoHasTag) {
          // Docker drops the repository's digest names once its last tag is gone.
          for (const n of rec.names.filter((n) => repositoryName(parseStoredName(n)) === repo)) {
            out.push({ Untagged: familiarString(parseStoredName(n)) });
          }
          rec.names = rec.names.filter((n) => repositoryName(parseStoredName(n)) !== repo);
        }
        // an image other images were built on stays, untagged, as dockerd keeps it
        if (rec.names.length > 0 || hasChildren) return out;
      } else if (hasChildren) {
        throw conflict(`conflict: unable to delete ${shortID(rec.id)} (cannot be forced) - image has dependent child images`, {
          code: "image.in-use",
          hint: "remove the images built on it first",
        });
      } else if (rec.names.length > 0 && !options.force) {
        const repos = new Set(rec.names.map((n) => repositoryName(parseStoredName(n))));
        if (repos.size > 1) {
          throw conflict(`conflict: unable to delete ${shortID(rec.id)} (must be forced) - image is referenced in multiple repositories`, {
            code: "image.in-use",
            hint: "remove the tags one by one, or use --force",
          });
        }
      }
      for (const n of rec.names) out.push({ Untagged: familiarString(parseStoredName(n)) });
      rec.names = [];
      data.images = data.images.filter((i) => i !== rec);
      out.push({ Deleted: rec.id });
      return out;
    });
  }

  /** Deletes an image record by exact ID, whatever names it has. */
  async delete(id: Digest): Promise<void> {
    validateDigest(id, "id");
    return this.mutate((data) => {
      const before = data.images.length;
      data.images = data.images.filter((i) => i.id !== id);
      if (data.images.length === before) throw noSuchImage(id);
    });
  }

  /** The targets of all images: the GC roots of the content store. */
  async roots(): Promise<Digest[]> {
    await this.queue;
    return [...new Set((await this.load()).images.map((i) => i.target.digest))];
  }

  /** Lists images, newest first, with Docker's filters: dangling, label, before, since, reference. */
  async list(filters: ImageFilters = {}): Promise<ImageSummary[]> {
    for (const key of Object.keys(filters)) {
      if (!FILTER_KEYS.has(key)) throw invalid(`invalid filter '${key}'`, { code: "filter.invalid", field: "filters" });
    }
    let dangling: boolean | undefined;
    for (const v of filters.dangling ?? []) {
      const lower = v.toLowerCase();
      if (lower === "true" || lower === "1") dangling = true;
      else if (lower === "false" || lower === "0") dangling = false;
      else throw invalid(`invalid filter 'dangling=${v}'`, { code: "filter.invalid", field: "filters.dangling" });
    }
    await this.queue;
    const data = await this.load();
    const timeOf = (ref: string) => Date.parse(ImageStore.find(data, ref).createdAt);
    const before = filters.before?.length ? Math.min(...filters.before.map(timeOf)) : undefined;
    const since = filters.since?.length ? Math.max(...filters.since.map(timeOf)) : undefined;
    const labels = (filters.label ?? []).map((l) => {
      const eq = l.indexOf("=");
      return eq === -1 ? { key: l, value: undefined } : { key: l.slice(0, eq), value: l.slice(eq + 1) };
    });
    const patterns = filters.reference ?? [];

    const out: ImageSummary[] = [];
    for (const rec of data.images) {
      const created = Date.parse(rec.createdAt);
      if (before !== undefined && !(created < before)) continue;
      if (since !== undefined && !(created > since)) continue;
      if (!labels.every(({ key, value }) => (value === undefined ? key in rec.labels : rec.labels[key] === value))) continue;
      let refs = rec.names.map(parseStoredName);
      if (patterns.length > 0) {
        refs = refs.filter((r) => patterns.some((p) => familiarMatch(p, r)));
        if (refs.length === 0) continue;
      }
      const repoTags = refs.filter((r) => r.tag !== undefined).map((r) => familiarString(r));
      const repoDigests = refs.filter((r) => r.digest !== undefined).map((r) => familiarString(r));
      const hasChildren = data.images.some((i) => i.parent === rec.id);
      // dangling: no tag and no image built on it (an intermediate image is no dangling one)
      const isDangling = rec.names.every((n) => parseStoredName(n).tag === undefined) && !hasChildren;
      if (dangling === true && !isDangling) continue;
      if (dangling === false && rec.names.length === 0) continue;
      out.push({ ...structuredClone(rec), repoTags, repoDigests, dangling: isDangling, hasChildren });
    }
    out.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? -1 : 1));
    return out;
  }
}

function familiarName(ref: Reference): string {
  return familiarString({ domain: ref.domain, path: ref.path });
}
