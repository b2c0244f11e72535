// The registry server's repositories: an index of which manifests, tags and blobs each repository
// holds, kept in the server's own metadata over the shared content store. The bytes of every
// manifest and blob live once in the content store (<root>/content), content-addressed, so a
// blob pushed to two repositories, or a layer that cove's own images use, is one file; a
// repository only links to it. When the server runs on the daemon's root, cove's local images
// are the same blobs, and the server can serve them (see Registry's `local` option) by linking
// their manifests and blobs into a repository, copying nothing.
//
//   <root>/registry/repositories/<name>/_manifests/tags/<tag>             the tag's manifest digest
//   <root>/registry/repositories/<name>/_manifests/revisions/<alg>/<hex>  a manifest of the repository:
//                                                                        JSON {mediaType, size, subject?, artifactType?, annotations?}
//   <root>/registry/repositories/<name>/_layers/<alg>/<hex>               a blob of the repository (empty file)
//
// Names are the spec's repository names (lowercase path components), which never start with "_",
// so "_manifests" and "_layers" cannot collide with a nested repository. Every file is written
// atomically. A blob a repository links carries the content store's gc root label (value
// "registry"), so the daemon's image garbage collection never removes what the registry serves;
// the label goes when no repository links the blob any longer.

import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fromErrno, isErrno } from "../../common/errors.js";
import { writeFileAtomic } from "../../common/fs.js";
import { ignoring } from "../../common/ignore.js";
import { isDigest, parseDigest, type Digest } from "../../content/digest.js";
import { LABEL_GC_ROOT, type ContentStore } from "../../content/index.js";

/** What the index keeps of a manifest, for HEAD and the referrers API. */
export interface ManifestMeta {
  mediaType: string;
  size: number;
  /** The digest of the manifest's subject (OCI 1.1), when it has one. */
  subject?: Digest;
  /** The manifest's artifactType, or (an image manifest without one) its config's mediaType. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const GC_VALUE = "registry";

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
    throw fromErrno(err, `reading ${file}`);
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return [];
    throw fromErrno(err, `listing ${dir}`);
  }
}

export class Repositories {
  readonly dir: string;
  private readonly content: ContentStore;

  constructor(root: string, content: ContentStore) {
    this.dir = path.join(root, "registry", "repositories");
    this.content = content;
  }

  private repoDir(name: string): string {
    return path.join(this.dir, ...name.split("/"));
  }

  private revisionPath(name: string, digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return path.join(this.repoDir(name), "_manifests", "revisions", algorithm, hex);
  }

  private layerPath(name: string, digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return path.join(this.repoDir(name), "_layers", algorithm, hex);
  }

  private tagPath(name: string, tag: string): string {
    return path.join(this.repoDir(name), "_manifests", "tags", tag);
  }

  /** Whether the repository holds anything (a manifest or a blob). */
  async exists(name: string): Promise<boolean> {
    const entries = await list(this.repoDir(name));
    return entries.includes("_manifests") || entries.includes("_layers");
  }

  // ------------------------------------------------------------ blobs

  async hasBlob(name: string, digest: Digest): Promise<boolean> {
    return (await readText(this.layerPath(name, digest))) !== undefined && (await this.content.exists(digest));
  }

  /** Links a blob of the content store into the repository. */
  async linkBlob(name: string, digest: Digest): Promise<void> {
    const file = this.layerPath(name, digest);
    if ((await readText(file)) !== undefined) return;
    await this.protect(digest);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, "");
  }

  /** Unlinks a blob from the repository; false when it had none. The content store keeps the bytes. */
  async unlinkBlob(name: string, digest: Digest): Promise<boolean> {
    const file = this.layerPath(name, digest);
    if ((await readText(file)) === undefined) return false;
    await rm(file, { force: true });
    await this.release(digest);
    return true;
  }

  // ------------------------------------------------------------ manifests

  async manifest(name: string, digest: Digest): Promise<ManifestMeta | undefined> {
    const text = await readText(this.revisionPath(name, digest));
    if (text === undefined) return undefined;
    const meta = JSON.parse(text) as ManifestMeta;
    return (await this.content.exists(digest)) ? meta : undefined;
  }

  /** Records a manifest (already in the content store) in the repository, and tags it when `tag` is given. */
  async putManifest(name: string, digest: Digest, meta: ManifestMeta, tag?: string): Promise<void> {
    const file = this.revisionPath(name, digest);
    if ((await readText(file)) === undefined) await this.protect(digest);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, JSON.stringify(meta));
    if (tag !== undefined) {
      const tfile = this.tagPath(name, tag);
      await mkdir(path.dirname(tfile), { recursive: true });
      await writeFileAtomic(tfile, digest);
    }
  }

  async resolveTag(name: string, tag: string): Promise<Digest | undefined> {
    const text = (await readText(this.tagPath(name, tag)))?.trim();
    return text !== undefined && isDigest(text) ? text : undefined;
  }

  /** Removes a tag; false when there was none. */
  async deleteTag(name: string, tag: string): Promise<boolean> {
    if ((await readText(this.tagPath(name, tag))) === undefined) return false;
    await rm(this.tagPath(name, tag), { force: true });
    return true;
  }

  /** Removes a manifest from the repository, and every tag pointing at it; false when it was not there. */
  async deleteManifest(name: string, digest: Digest): Promise<boolean> {
    const file = this.revisionPath(name, digest);
    if ((await readText(file)) === undefined) return false;
    for (const tag of (await this.tags(name)) ?? []) {
      if ((await this.resolveTag(name, tag)) === digest) await rm(this.tagPath(name, tag), { force: true });
    }
    await rm(file, { force: true });
    await this.release(digest);
    return true;
  }

  /** The repository's tags, sorted; undefined when the repository is unknown. */
  async tags(name: string): Promise<string[] | undefined> {
    if (!(await this.exists(name))) return undefined;
    const tags = await list(path.join(this.repoDir(name), "_manifests", "tags"));
    return tags.filter((t) => TAG_RE.test(t)).sort();
  }

  /** The repository's manifests that name `subject` as theirs, with what the referrers API lists. */
  async referrers(name: string, subject: Digest): Promise<({ digest: Digest } & ManifestMeta)[]> {
    const out: ({ digest: Digest } & ManifestMeta)[] = [];
    const base = path.join(this.repoDir(name), "_manifests", "revisions");
    for (const algorithm of await list(base)) {
      for (const hex of (await list(path.join(base, algorithm))).sort()) {
        const digest = `${algorithm}:${hex}`;
        if (!isDigest(digest)) continue;
        const meta = await this.manifest(name, digest);
        if (meta?.subject === subject) out.push({ digest, ...meta });
      }
    }
    return out;
  }

  /** Every repository holding something, sorted (as the catalog lists them). */
  async catalog(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string) => {
      for (const entry of (await list(dir)).sort()) {
        if (entry === "_manifests" || entry === "_layers") {
          if (prefix && out[out.length - 1] !== prefix) out.push(prefix);
          continue;
        }
        if (entry.startsWith("_")) continue;
        await walk(path.join(dir, entry), prefix ? `${prefix}/${entry}` : entry);
      }
    };
    await walk(this.dir, "");
    return [...new Set(out)].sort();
  }

  // ------------------------------------------------------------ the gc root label

  private async protect(digest: Digest): Promise<void> {
    const info = await this.content.info(digest);
    if (!(LABEL_GC_ROOT in info.labels)) await this.content.updateLabels(digest, { [LABEL_GC_ROOT]: GC_VALUE });
  }

  /** Drops the label protect() set once no repository links the blob. */
  private async release(digest: Digest): Promise<void> {
    for (const name of await this.catalog()) {
      if ((await readText(this.layerPath(name, digest))) !== undefined) return;
      if ((await readText(this.revisionPath(name, digest))) !== undefined) return;
    }
    const info = await this.content.info(digest).catch(ignoring(`read the labels of ${digest} to release it`));
    if (info?.labels[LABEL_GC_ROOT] === GC_VALUE) await this.content.updateLabels(digest, { [LABEL_GC_ROOT]: "" });
  }
}
