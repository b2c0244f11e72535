// The overlay snapshotter, in containerd's model: a snapshot is active (writable: upper + work),
// a view (read-only) or committed (an immutable layer others can stack on). The store only lays
// out directories and returns Mount descriptions; src/snapshots/mount.ts performs mounts.
//
// Layout under the injected root:
//   <root>/metadata.json          every snapshot: key → { id, kind, parent, created, labels }
//                                 (written atomically; the in-memory copy is the index)
//   <root>/snapshots/<id>/fs      the snapshot's files (an upper dir for active ones)
//   <root>/snapshots/<id>/work    overlay's workdir (active snapshots only)
// Directories that metadata does not name (left by a crash between mkdir and the metadata
// write, or between the metadata write and rm) are removed when the store opens.
//
// Many layers: mount(2) takes at most one page of options. With absolute paths a 128-layer
// lowerdir list exceeds 4096 bytes, so when the absolute form does not fit the mount is described
// with paths relative to <root>/snapshots ("lowerdir=12/fs:11/fs:...") and Mount.cwd set to that
// directory; the addon performs the mount from a child that changed into cwd (Docker's overlay2
// re-executes itself with chdir for the same reason). overlayfs resolves the paths at mount time,
// so the mounted filesystem does not depend on any cwd afterwards.

import { randomBytes } from "node:crypto";
import { lstat, mkdir, readFile, readdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { conflict, fromErrno, invalid, isErrno, notFound, unsupported } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import type { Mount } from "./mount.js";

export type SnapshotKind = "active" | "view" | "committed";

export interface SnapshotInfo {
  key: string;
  kind: SnapshotKind;
  /** The committed snapshot this one stacks on. */
  parent?: string;
  /** ISO 8601. */
  created: string;
  labels: Record<string, string>;
}

export interface SnapshotUsage {
  /** Bytes of disk used by the snapshot's own files (hardlinks counted once). */
  size: number;
  inodes: number;
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
}

interface Record_ {
  id: string;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  labels: Record<string, string>;
}

interface Metadata {
  version: 1;
  nextId: number;
  snapshots: Record<string, Record_>;
}

/** overlayfs refuses more lower layers than this (OVL_MAX_STACK). */
export const MAX_LAYERS = 500;
const PAGE_LIMIT = 4095;

export class SnapshotStore {
  private meta: Metadata;
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly root: string,
    meta: Metadata,
  ) {
    this.meta = meta;
  }

  /** Opens (creating if needed) the store under root and removes directories a crash left behind. */
  static async open(root: string): Promise<SnapshotStore> {
    const abs = path.resolve(root);
    if (/[,:\\]/.test(abs)) {
      throw invalid(`snapshot root ${abs} contains ',', ':' or '\\', which overlay mount options cannot carry`, { code: "snapshot.bad-root" });
    }
    let meta: Metadata = { version: 1, nextId: 1, snapshots: {} };
    try {
      await mkdir(path.join(abs, "snapshots"), { recursive: true, mode: 0o700 });
      meta = JSON.parse(await readFile(path.join(abs, "metadata.json"), "utf8")) as Metadata;
      if (meta.version !== 1 || typeof meta.snapshots !== "object") throw invalid(`snapshot metadata ${path.join(abs, "metadata.json")} has an unknown format`);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw fromErrno(err, `opening snapshot store ${abs}`);
    }
    const store = new SnapshotStore(abs, meta);
    const known = new Set(Object.values(meta.snapshots).map((s) => s.id));
    for (const name of await readdir(path.join(abs, "snapshots"))) {
      if (!known.has(name)) await rm(path.join(abs, "snapshots", name), { recursive: true, force: true });
    }
    return store;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async save(): Promise<void> {
    await writeFileAtomic(path.join(this.root, "metadata.json"), JSON.stringify(this.meta, null, 1) + "\n", 0o600);
  }

  private dir(id: string): string {
    return path.join(this.root, "snapshots", id);
  }

  private get(key: string): Record_ {
    const r = this.meta.snapshots[key];
    if (!r) throw notFound(`snapshot ${JSON.stringify(key)} does not exist`, { code: "snapshot.not-found" });
    return r;
  }

  private info(key: string, r: Record_): SnapshotInfo {
    return { key, kind: r.kind, ...(r.parent !== undefined ? { parent: r.parent } : {}), created: r.created, labels: { ...r.labels } };
  }

  /** Parent chain of a snapshot: its committed ancestors, nearest first. */
  parents(key: string): string[] {
    const out: string[] = [];
    let p = this.get(key).parent;
    while (p !== undefined) {
      out.push(p);
      p = this.get(p).parent;
    }
    return out;
  }

  private async create(kind: "active" | "view", key: string, parent: string | undefined, opts: SnapshotOptions): Promise<Mount[]> {
    return this.serialize(async () => {
      if (key === "") throw invalid("snapshot key must not be empty", { code: "snapshot.bad-key" });
      if (this.meta.snapshots[key]) throw conflict(`snapshot ${JSON.stringify(key)} already exists`, { code: "snapshot.exists" });
      if (parent !== undefined) {
        const p = this.get(parent);
        if (p.kind !== "committed") throw invalid(`snapshot ${JSON.stringify(parent)} is ${p.kind}, not committed: only committed snapshots can be parents`, { code: "snapshot.bad-parent", hint: "commit it first" });
        const depth = 1 + this.parents(parent).length;
        if (depth > MAX_LAYERS) throw unsupported(`snapshot ${JSON.stringify(key)} would stack ${depth} layers; overlayfs allows at most ${MAX_LAYERS}`, { code: "snapshot.too-deep" });
      }
      const id = String(this.meta.nextId++);
      const dir = this.dir(id);
      const tmp = `${dir}.new-${randomBytes(4).toString("hex")}`;
      try {
        await mkdir(path.join(tmp, "fs"), { recursive: true, mode: 0o755 });
        if (kind === "active" && parent !== undefined) await mkdir(path.join(tmp, "work"), { mode: 0o700 });
        await rename(tmp, dir);
        this.meta.snapshots[key] = { id, kind, ...(parent !== undefined ? { parent } : {}), created: new Date().toISOString(), labels: { ...(opts.labels ?? {}) } };
        await this.save();
      } catch (err) {
        delete this.meta.snapshots[key];
        await rm(tmp, { recursive: true, force: true });
        await rm(dir, { recursive: true, force: true });
        throw fromErrno(err, `creating snapshot ${JSON.stringify(key)}`);
      }
      return this.mountsOf(key);
    });
  }

  /** A new writable snapshot on top of parent (or empty). Returns how to mount it. */
  prepare(key: string, parent?: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.create("active", key, parent, opts);
  }

  /** A new read-only snapshot of parent (or empty). Returns how to mount it. */
  view(key: string, parent?: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.create("view", key, parent, opts);
  }

  /** Turns the active snapshot key into the committed snapshot name (key stops existing). */
  commit(name: string, key: string, opts: SnapshotOptions = {}): Promise<void> {
    return this.serialize(async () => {
      const r = this.get(key);
      if (r.kind !== "active") throw invalid(`snapshot ${JSON.stringify(key)} is ${r.kind}; only active snapshots can be committed`, { code: "snapshot.not-active" });
      if (name === "") throw invalid("snapshot name must not be empty", { code: "snapshot.bad-key" });
      if (this.meta.snapshots[name]) throw conflict(`snapshot ${JSON.stringify(name)} already exists`, { code: "snapshot.exists", hint: "reuse it, or remove it first" });
      const next: Record_ = { ...r, kind: "committed", labels: { ...r.labels, ...(opts.labels ?? {}) } };
      delete this.meta.snapshots[key];
      this.meta.snapshots[name] = next;
      try {
        await this.save();
      } catch (err) {
        delete this.meta.snapshots[name];
        this.meta.snapshots[key] = r;
        throw fromErrno(err, `committing snapshot ${JSON.stringify(key)} as ${JSON.stringify(name)}`);
      }
      await rm(path.join(this.dir(r.id), "work"), { recursive: true, force: true });
    });
  }

  /** Removes a snapshot; refused while other snapshots stack on it. */
  remove(key: string): Promise<void> {
    return this.serialize(async () => {
      const r = this.get(key);
      const children = Object.entries(this.meta.snapshots)
        .filter(([, s]) => s.parent === key)
        .map(([k]) => k);
      if (children.length > 0) {
        throw conflict(`snapshot ${JSON.stringify(key)} has children (${children.map((c) => JSON.stringify(c)).join(", ")})`, {
          code: "snapshot.has-children",
          hint: "remove the snapshots built on it first",
        });
      }
      delete this.meta.snapshots[key];
      try {
        await this.save();
      } catch (err) {
        this.meta.snapshots[key] = r;
        throw fromErrno(err, `removing snapshot ${JSON.stringify(key)}`);
      }
      await rm(this.dir(r.id), { recursive: true, force: true });
    });
  }

  /** How to mount an active snapshot or a view. */
  async mounts(key: string): Promise<Mount[]> {
    return this.mountsOf(key);
  }

  private mountsOf(key: string): Mount[] {
    const r = this.get(key);
    if (r.kind === "committed") throw invalid(`snapshot ${JSON.stringify(key)} is committed; mount it through a view or an active snapshot`, { code: "snapshot.committed" });
    const own = path.join(this.dir(r.id), "fs");
    const lowers = this.parents(key).map((p) => this.get(p).id);
    if (lowers.length === 0) {
      return [{ type: "bind", source: own, options: r.kind === "active" ? ["rbind", "rw"] : ["rbind", "ro"] }];
    }
    if (r.kind === "view" && lowers.length === 1) {
      return [{ type: "bind", source: path.join(this.dir(lowers[0]), "fs"), options: ["rbind", "ro"] }];
    }
    const build = (p: (id: string, sub: string) => string): string[] => {
      const opts = [`lowerdir=${lowers.map((id) => p(id, "fs")).join(":")}`];
      if (r.kind === "active") opts.push(`upperdir=${p(r.id, "fs")}`, `workdir=${p(r.id, "work")}`);
      return opts;
    };
    const absolute = build((id, sub) => path.join(this.dir(id), sub));
    if (absolute.join(",").length <= PAGE_LIMIT) return [{ type: "overlay", source: "overlay", options: absolute }];
    const relative = build((id, sub) => `${id}/${sub}`);
    if (relative.join(",").length > PAGE_LIMIT) {
      throw unsupported(`snapshot ${JSON.stringify(key)} has too many layers (${lowers.length}) for one overlay mount`, { code: "snapshot.too-deep" });
    }
    return [{ type: "overlay", source: "overlay", options: relative, cwd: path.join(this.root, "snapshots") }];
  }

  /** The writable directory of an active snapshot (overlay's upperdir), e.g. to apply a layer into. */
  upperDir(key: string): string {
    const r = this.get(key);
    if (r.kind !== "active") throw invalid(`snapshot ${JSON.stringify(key)} is ${r.kind}, not active`, { code: "snapshot.not-active" });
    return path.join(this.dir(r.id), "fs");
  }

  /** The fs directories of a snapshot's parents, nearest first (the layers below it). */
  lowerDirs(key: string): string[] {
    return this.parents(key).map((p) => path.join(this.dir(this.get(p).id), "fs"));
  }

  stat(key: string): SnapshotInfo {
    return this.info(key, this.get(key));
  }

  has(key: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.meta.snapshots, key);
  }

  list(): SnapshotInfo[] {
    return Object.entries(this.meta.snapshots)
      .map(([k, r]) => this.info(k, r))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Disk used by the snapshot's own files (not its parents'). */
  async usage(key: string): Promise<SnapshotUsage> {
    const r = this.get(key);
    const seen = new Set<string>();
    let size = 0;
    let inodes = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const name of await readdir(dir)) {
        const p = path.join(dir, name);
        const st = await lstat(p, { bigint: true });
        const id = `${st.dev}:${st.ino}`;
        if (!seen.has(id)) {
          seen.add(id);
          inodes++;
          size += Number(st.blocks) * 512;
        }
        if (st.isDirectory()) await walk(p);
      }
    };
    try {
      await walk(path.join(this.dir(r.id), "fs"));
    } catch (err) {
      throw fromErrno(err, `measuring snapshot ${JSON.stringify(key)}`);
    }
    return { size, inodes };
  }
}
