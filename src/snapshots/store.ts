// The overlay snapshotter, in containerd's model: a snapshot is active (writable: upper + work),
// a view (read-only) or committed (an immutable layer others can stack on). The store only lays
// out directories and returns Mount descriptions; src/snapshots/mount.ts performs mounts.
//
// Layout under the injected root:
//   <root>/metadata.json          a checkpoint: every snapshot, key → { id, kind, parent, created,
//                                 labels } (written atomically; the in-memory copy is the index)
//   <root>/metadata.journal       the changes since the checkpoint, one JSON line each, replayed
//                                 over it on open (then folded into a new checkpoint)
//   <root>/snapshots/<id>/fs      the snapshot's files (an upper dir for active ones)
//   <root>/snapshots/<id>/work    overlay's workdir (active snapshots only)
//
// Crash safety without rewriting every snapshot on every change: a prepare, view or commit appends
// one line and returns once it is on disk (fdatasync; concurrent callers share one). A remove first
// renames the snapshot's directory away, then appends its line without waiting for the disk: a
// snapshot whose directory is missing on open is gone, whether or not its line survived, and one
// whose rename did not survive is still whole. Directories that metadata does not name (left by a
// crash between mkdir and the journal write, or half-removed) are removed when the store opens.
//
// Many layers: mount(2) takes at most one page of options. With absolute paths a 128-layer
// lowerdir list exceeds 4096 bytes, so when the absolute form does not fit the mount is described
// with paths relative to <root>/snapshots ("lowerdir=12/fs:11/fs:...") and Mount.cwd set to that
// directory; the addon performs the mount from a child that changed into cwd (Docker's overlay2
// re-executes itself with chdir for the same reason). overlayfs resolves the paths at mount time,
// so the mounted filesystem does not depend on any cwd afterwards.

import { randomBytes } from "node:crypto";
import { appendFile, lstat, mkdir, open, readFile, readdir, rename, rm, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { conflict, fromErrno, invalid, isErrno, notFound, unsupported } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { inUserNamespace } from "../common/userns.js";
import { ignoring } from "../common/ignore.js";
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
  /**
   * A snapshot that a crash may lose (a --rm container's rootfs): its creation returns without
   * waiting for the journal to reach the disk. After a crash its line may be missing; its
   * directory is then one that metadata does not name, and open() removes it.
   */
  volatile?: boolean;
  /**
   * For prepare: the snapshot's files, a directory built beforehand at a stagingPath() (a layer
   * unpacked before the ones below it were committed), moved in rather than created empty.
   */
  from?: string;
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

/** One line of metadata.journal. Applying a line twice gives the same state (checkpoints may race a crash). */
type JournalEntry = { op: "put"; key: string; rec: Record_ } | { op: "del"; key: string } | { op: "commit"; key: string; name: string; rec: Record_ };

/** Fold the journal into a new checkpoint once it holds this many lines (and more than twice the snapshots). */
const CHECKPOINT_LINES = 1000;

/** overlayfs refuses more lower layers than this (OVL_MAX_STACK). */
export const MAX_LAYERS = 500;
const PAGE_LIMIT = 4095;

export class SnapshotStore {
  private meta: Metadata;
  private lock: Promise<unknown> = Promise.resolve();
  /** Lines in metadata.journal since the last checkpoint. */
  private journalLines = 0;
  private journalBytes = 0;
  /** The fdatasync in flight, and the one queued behind it for callers that appended meanwhile. */
  private syncing: Promise<void> | undefined;
  private syncQueued: Promise<void> | undefined;

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
    const journal = path.join(abs, "metadata.journal");
    let lines: string[] = [];
    try {
      lines = (await readFile(journal, "utf8")).split("\n");
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw fromErrno(err, `opening snapshot store ${abs}`);
    }
    let replayed = 0;
    for (const [i, line] of lines.entries()) {
      if (line === "") continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        // a crash in the middle of an append tears the last line only; that change never returned
        if (i === lines.length - 1) break;
        throw invalid(`snapshot journal ${journal} is damaged at line ${i + 1}`, { code: "snapshot.bad-journal" });
      }
      applyEntry(meta, entry);
      replayed++;
    }
    const snapshotsDir = path.join(abs, "snapshots");
    const present = new Set(await readdir(snapshotsDir));
    let dropped = false;
    for (const [key, r] of Object.entries(meta.snapshots)) {
      // renamed away by a remove whose journal line the crash lost
      if (!present.has(r.id)) {
        delete meta.snapshots[key];
        dropped = true;
      }
    }
    const store = new SnapshotStore(abs, meta);
    const known = new Set(Object.values(meta.snapshots).map((s) => s.id));
    for (const name of present) {
      if (!known.has(name)) await rm(path.join(snapshotsDir, name), { recursive: true, force: true });
    }
    if (replayed > 0 || dropped || lines.some((l) => l !== "")) await store.checkpoint();
    return store;
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    // the caller gets the failure through run; the lock only keeps the order
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Writes every snapshot to metadata.json (durably) and empties the journal it folds in. */
  private async checkpoint(): Promise<void> {
    await writeFileAtomic(path.join(this.root, "metadata.json"), JSON.stringify(this.meta, null, 1) + "\n", 0o600);
    // the rename must be on disk before the journal it replaces is emptied
    const dir = await open(this.root, "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    // a crash before this truncation replays lines the checkpoint already holds, which is harmless
    await writeFile(path.join(this.root, "metadata.journal"), "", { mode: 0o600 });
    this.journalLines = 0;
    this.journalBytes = 0;
  }

  /** Appends one change to the journal (the caller holds the lock); durable only after sync(). */
  private async append(entry: JournalEntry): Promise<void> {
    const file = path.join(this.root, "metadata.journal");
    const line = JSON.stringify(entry) + "\n";
    try {
      await appendFile(file, line, { mode: 0o600 });
    } catch (err) {
      // a short write (a full disk) must not leave a torn line for later lines to follow
      await truncate(file, this.journalBytes).catch(ignoring(`truncate the snapshot journal ${file} back to ${this.journalBytes} bytes after a failed append`));
      throw err;
    }
    this.journalLines++;
    this.journalBytes += Buffer.byteLength(line);
  }

  /** Waits for the journal after a change; if the disk refuses it, the change is undone and the error thrown. */
  private async durable(key: string, what: string): Promise<void> {
    try {
      await this.sync();
    } catch (err) {
      await this.remove(key).catch(ignoring(`undo snapshot ${JSON.stringify(key)} after the journal could not be synced`));
      throw fromErrno(err, what);
    }
  }

  /** Waits until every line appended so far is on disk; callers arriving during a sync share the next one. */
  private sync(): Promise<void> {
    if (this.syncQueued) return this.syncQueued;
    const flush = async (): Promise<void> => {
      const fh = await open(path.join(this.root, "metadata.journal"), "r");
      try {
        await fh.datasync();
      } finally {
        await fh.close();
      }
    };
    if (!this.syncing) {
      const run = flush().finally(() => {
        if (this.syncing === run) this.syncing = undefined;
      });
      this.syncing = run;
      return run;
    }
    // the flush under way reports its failure to its own callers; this one only waits for it to end
    const queued = this.syncing
      .catch(() => undefined)
      .then(() => {
        this.syncQueued = undefined;
        const run = flush().finally(() => {
          if (this.syncing === run) this.syncing = undefined;
        });
        this.syncing = run;
        return run;
      });
    this.syncQueued = queued;
    return queued;
  }

  /** Folds the journal into a checkpoint once it is long compared with the state it describes. */
  private async maybeCheckpoint(): Promise<void> {
    if (this.journalLines < CHECKPOINT_LINES || this.journalLines < 2 * Object.keys(this.meta.snapshots).length) return;
    await this.checkpoint();
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
    const mounts = await this.serialize(async () => {
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
        if (opts.from !== undefined) {
          await mkdir(tmp, { mode: 0o755 });
          await rename(opts.from, path.join(tmp, "fs"));
        } else await mkdir(path.join(tmp, "fs"), { recursive: true, mode: 0o755 });
        if (kind === "active" && parent !== undefined) await mkdir(path.join(tmp, "work"), { mode: 0o700 });
        await rename(tmp, dir);
        const rec: Record_ = { id, kind, ...(parent !== undefined ? { parent } : {}), created: new Date().toISOString(), labels: { ...(opts.labels ?? {}) } };
        this.meta.snapshots[key] = rec;
        await this.append({ op: "put", key, rec });
      } catch (err) {
        delete this.meta.snapshots[key];
        await rm(tmp, { recursive: true, force: true });
        await rm(dir, { recursive: true, force: true });
        throw fromErrno(err, `creating snapshot ${JSON.stringify(key)}`);
      }
      await this.maybeCheckpoint().catch(ignoring("checkpoint the snapshot journal")); // the journal still holds the change
      return this.mountsOf(key);
    });
    if (!opts.volatile) await this.durable(key, `creating snapshot ${JSON.stringify(key)}`);
    return mounts;
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
  async commit(name: string, key: string, opts: SnapshotOptions = {}): Promise<void> {
    const id = await this.serialize(async () => {
      const r = this.get(key);
      if (r.kind !== "active") throw invalid(`snapshot ${JSON.stringify(key)} is ${r.kind}; only active snapshots can be committed`, { code: "snapshot.not-active" });
      if (name === "") throw invalid("snapshot name must not be empty", { code: "snapshot.bad-key" });
      if (this.meta.snapshots[name]) throw conflict(`snapshot ${JSON.stringify(name)} already exists`, { code: "snapshot.exists", hint: "reuse it, or remove it first" });
      const next: Record_ = { ...r, kind: "committed", labels: { ...r.labels, ...(opts.labels ?? {}) } };
      delete this.meta.snapshots[key];
      this.meta.snapshots[name] = next;
      try {
        await this.append({ op: "commit", key, name, rec: next });
      } catch (err) {
        delete this.meta.snapshots[name];
        this.meta.snapshots[key] = r;
        throw fromErrno(err, `committing snapshot ${JSON.stringify(key)} as ${JSON.stringify(name)}`);
      }
      await this.maybeCheckpoint().catch(ignoring("checkpoint the snapshot journal")); // the journal still holds the change
      return r.id;
    });
    await this.durable(name, `committing snapshot ${JSON.stringify(key)} as ${JSON.stringify(name)}`);
    // only once the commit is on disk: an active snapshot without its workdir could not be mounted
    await rm(path.join(this.dir(id), "work"), { recursive: true, force: true });
  }

  /** Removes a snapshot; refused while other snapshots stack on it. */
  async remove(key: string): Promise<void> {
    const trash = await this.serialize(async () => {
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
      // the rename is the removal (see the top of this file); the journal line only saves a lookup
      const away = `${this.dir(r.id)}.removing-${randomBytes(4).toString("hex")}`;
      try {
        await rename(this.dir(r.id), away);
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw fromErrno(err, `removing snapshot ${JSON.stringify(key)}`);
      }
      delete this.meta.snapshots[key];
      await this.append({ op: "del", key }).catch(ignoring(`journal the removal of snapshot ${JSON.stringify(key)}`));
      await this.maybeCheckpoint().catch(ignoring("checkpoint the snapshot journal"));
      return away;
    });
    await rm(trash, { recursive: true, force: true });
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
      // in a user namespace overlayfs keeps its attributes as user.overlay.* (apply.ts writes them so)
      if (inUserNamespace()) opts.push("userxattr");
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

  /**
   * A fresh path (nothing there) inside the store for building a snapshot's files before the
   * snapshot exists (SnapshotOptions.from); what a crash leaves there goes when the store opens.
   */
  stagingPath(): string {
    return path.join(this.root, "snapshots", `staging-${randomBytes(6).toString("hex")}`);
  }

  /** The fs directories of a committed snapshot and of its parents, nearest first: the layers a child of it stacks on. */
  stackDirs(key: string): string[] {
    const r = this.get(key);
    if (r.kind !== "committed") throw invalid(`snapshot ${JSON.stringify(key)} is ${r.kind}, not committed`, { code: "snapshot.bad-parent" });
    return [key, ...this.parents(key)].map((k) => path.join(this.dir(this.get(k).id), "fs"));
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

function applyEntry(meta: Metadata, e: JournalEntry): void {
  if (e.op === "del") {
    delete meta.snapshots[e.key];
    return;
  }
  if (e.op === "commit") delete meta.snapshots[e.key];
  const key = e.op === "commit" ? e.name : e.key;
  meta.snapshots[key] = e.rec;
  meta.nextId = Math.max(meta.nextId, Number(e.rec.id) + 1);
}
