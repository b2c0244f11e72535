// The directories behind RUN --mount=type=cache: kept from build to build under the state root
// (<root>/build/cache-mounts/<digest of the id>/<instance>), never part of an image, counted and
// removed by the build cache prune (docker builder prune) when no step is using them.
//
// Sharing, as BuildKit's: "shared" (the default) lets every step that names the id use the same
// directory at once; "locked" makes a step wait until the step using the directory releases it;
// "private" gives a step a directory no other step is using at that moment (a new instance when
// every existing one is in use), kept for later builds as the first one is. A new directory gets
// the mount's mode and owner (0755 root:root by default) and, with `from`, the content the caller
// seeds it with. Who uses what is known to this process only: cove's builds run in the daemon.

import { createHash } from "node:crypto";
import { chmod, chown, mkdir, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { isErrno } from "../common/errors.js";
import { treeSize } from "../fsroot/index.js";

export interface CacheMountSpec {
  id: string;
  sharing: "shared" | "private" | "locked";
  mode: number;
  uid: number;
  gid: number;
  /** Fills a new directory (a `from` mount's content); a failure removes the directory again. */
  seed?: (dir: string) => Promise<void>;
}

export interface CacheMountLease {
  /** The host directory to bind at the mount's target. */
  dir: string;
  release(): void;
}

/** A build cache record of /system/df (the Engine API's BuildCache). */
export interface CacheMountRecord {
  ID: string;
  Parents: null;
  Type: "exec.cachemount";
  Description: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
  CreatedAt: string;
  LastUsedAt: string;
  UsageCount: number;
}

const stores = new Map<string, CacheMounts>();

export class CacheMounts {
  /** Instances in use: directory → number of steps using it. */
  private readonly using = new Map<string, number>();
  /** locked sharing: directory → the release of the step holding it, chained. */
  private readonly locks = new Map<string, Promise<void>>();

  private constructor(readonly dir: string) {}

  /** The store of a state root (one per process and root). */
  static forRoot(root: string): CacheMounts {
    const dir = path.join(path.resolve(root), "build", "cache-mounts");
    let s = stores.get(dir);
    if (!s) stores.set(dir, (s = new CacheMounts(dir)));
    return s;
  }

  private idDir(id: string): string {
    return path.join(this.dir, createHash("sha256").update(id).digest("hex").slice(0, 32));
  }

  /** A directory for a step; release() when the step's container is gone. */
  async acquire(spec: CacheMountSpec): Promise<CacheMountLease> {
    const base = this.idDir(spec.id);
    let n = 0;
    if (spec.sharing === "private") while ((this.using.get(path.join(base, String(n))) ?? 0) > 0) n++;
    const dir = path.join(base, String(n));
    let unlock: (() => void) | undefined;
    if (spec.sharing === "locked") {
      const before = this.locks.get(dir) ?? Promise.resolve();
      const mine = new Promise<void>((r) => (unlock = r));
      this.locks.set(dir, before.then(() => mine));
      await before;
    }
    this.using.set(dir, (this.using.get(dir) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.using.get(dir) ?? 1) - 1;
      if (left > 0) this.using.set(dir, left);
      else this.using.delete(dir);
      unlock?.();
    };
    try {
      await this.ensure(dir, spec);
    } catch (err) {
      release();
      throw err;
    }
    return { dir, release };
  }

  private async ensure(dir: string, spec: CacheMountSpec): Promise<void> {
    await mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if (isErrno(err, "EEXIST")) return;
      throw err;
    }
    try {
      if (spec.seed) await spec.seed(dir);
      await chown(dir, spec.uid, spec.gid);
      await chmod(dir, spec.mode);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Bytes the cache directories hold. */
  async size(): Promise<number> {
    let total = 0;
    for (const d of await this.instances()) total += await treeSize(d);
    return total;
  }

  /** The directories as `docker system df` lists build cache records (BuildKit's exec.cachemount). */
  async records(): Promise<CacheMountRecord[]> {
    const out: CacheMountRecord[] = [];
    for (const d of await this.instances()) {
      let st;
      try {
        st = await stat(d);
      } catch (err) {
        if (isErrno(err, "ENOENT")) continue; // pruned meanwhile
        throw err;
      }
      const inUse = (this.using.get(d) ?? 0) > 0;
      out.push({
        ID: path.relative(this.dir, d).replace("/", "-"),
        Parents: null,
        Type: "exec.cachemount",
        Description: "cached mount of a RUN --mount=type=cache",
        InUse: inUse,
        Shared: true,
        Size: await treeSize(d),
        CreatedAt: st.birthtime.getTime() > 0 ? st.birthtime.toISOString() : st.ctime.toISOString(),
        LastUsedAt: st.mtime.toISOString(),
        UsageCount: 0,
      });
    }
    return out;
  }

  /** Removes every directory no step is using; returns their names (<id digest>/<instance>) and the bytes they held. */
  async prune(): Promise<{ removed: string[]; bytes: number }> {
    const removed: string[] = [];
    let bytes = 0;
    for (const d of await this.instances()) {
      if ((this.using.get(d) ?? 0) > 0) continue;
      bytes += await treeSize(d);
      await rm(d, { recursive: true, force: true });
      removed.push(path.relative(this.dir, d));
    }
    for (const id of await list(this.dir)) if ((await list(path.join(this.dir, id))).length === 0) await rm(path.join(this.dir, id), { recursive: true, force: true });
    return { removed, bytes };
  }

  private async instances(): Promise<string[]> {
    const out: string[] = [];
    for (const id of await list(this.dir)) for (const n of await list(path.join(this.dir, id))) out.push(path.join(this.dir, id, n));
    return out;
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return [];
    throw err;
  }
}
