// The build cache: which image a step made on top of which parent. A step's key is the digest of
// its parent image ID, its canonical form (the step's fields, not the text the user typed) with
// the build arguments it sees, and a digest of its inputs (for COPY/ADD: each file's path,
// content, mode, owner and link target, never its times). A later build with the same parent and
// key reuses the image instead of running the step again, so a changed file invalidates its COPY
// and, through the new parent IDs, every step after it, and nothing before.
//
// The index is a small JSON file under the state root (build/cache.json), written atomically, so
// it survives daemon restarts. It is a hint, never the truth (an entry whose image is gone is
// dropped, a missing entry only costs running the step again), so it is written without fsync
// and at most once per turn of the event loop however many steps a build adds at once: one
// fsync'd write per step was a large part of a cached or config-only step's time. It is kept beside the images rather than in them (dockerd's legacy
// builder compares configs of child images instead): a label or config field would change the
// image IDs cove builds and make them differ from what the same Dockerfile gives elsewhere.
// Entries whose image is gone are dropped when looked up; prune() forgets them all.

import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fromErrno, isErrno } from "../common/errors.js";
import { bestEffort } from "../common/ignore.js";

interface Index {
  version: 1;
  /** key → image ID. */
  entries: Record<string, string>;
}

const caches = new Map<string, BuildCache>();

export class BuildCache {
  private index: Index | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** The write that has not started yet: changes made before it starts are in it. */
  private pending: Promise<void> | undefined;

  private constructor(readonly file: string) {}

  /** The cache of a state root, <root>/build/cache.json: one instance per file in a process, so builds never overwrite each other's entries. */
  static forRoot(root: string): BuildCache {
    const file = path.join(path.resolve(root), "build", "cache.json");
    let cache = caches.get(file);
    if (!cache) caches.set(file, (cache = new BuildCache(file)));
    return cache;
  }

  /** A step's key: digest of parent, canonical step and inputs. */
  static key(parent: string, canonical: unknown, inputs = ""): string {
    return createHash("sha256").update(JSON.stringify([parent, canonical, inputs])).digest("hex");
  }

  private async load(): Promise<Index> {
    if (this.index) return this.index;
    let index: Index = { version: 1, entries: {} };
    try {
      const parsed = JSON.parse(await readFile(this.file, "utf8")) as Partial<Index>;
      if (parsed && parsed.version === 1 && parsed.entries && typeof parsed.entries === "object") index = { version: 1, entries: { ...parsed.entries } };
    } catch (err) {
      // missing: nothing cached yet; unreadable JSON (a torn write cannot happen, the file is
      // replaced atomically, but a hand edit can): start afresh rather than fail every build
      if (!isErrno(err, "ENOENT") && !(err instanceof SyntaxError)) throw fromErrno(err, `reading the build cache ${this.file}`);
    }
    this.index = index;
    return index;
  }

  /** The image a key made, when `exists` still finds it; a stale entry is forgotten. */
  async get(key: string, exists: (id: string) => Promise<boolean>): Promise<string | undefined> {
    const index = await this.load();
    const id = index.entries[key];
    if (id === undefined) return undefined;
    if (await exists(id)) return id;
    delete index.entries[key];
    await this.save();
    return undefined;
  }

  /** Records what a key made; the write to disk follows (flush() waits for it). */
  async put(key: string, id: string): Promise<void> {
    const index = await this.load();
    index.entries[key] = id;
    void bestEffort(`write the build cache ${this.file}`, this.save());
  }

  /** Waits until what was put is on disk. */
  async flush(): Promise<void> {
    await this.writing.catch(() => undefined);
    if (this.pending) await this.pending.catch(() => undefined);
  }

  /** Forgets every entry (docker builder prune); returns how many there were. */
  async prune(): Promise<number> {
    return (await this.pruneKeys()).length;
  }

  /** Forgets every entry; returns their keys. */
  async pruneKeys(): Promise<string[]> {
    const index = await this.load();
    const n = Object.keys(index.entries);
    index.entries = {};
    await this.writing;
    await rm(this.file, { force: true });
    return n;
  }

  /** How many entries the cache holds. */
  async size(): Promise<number> {
    return Object.keys((await this.load()).entries).length;
  }

  private save(): Promise<void> {
    if (this.pending) return this.pending;
    // writes in order, each with the index as it is when it runs (later changes join the next)
    const write = async () => {
      this.pending = undefined;
      await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(this.index), { mode: 0o600 });
      await rename(tmp, this.file);
    };
    this.pending = this.writing.then(write, write);
    this.writing = this.pending;
    return this.pending;
  }
}
