// PUT /archive (docker cp into a container): a tar extracted into a directory of the container's
// filesystem, every step through src/fsroot so nothing lands outside the container's root even
// while the container swaps directories for symlinks.
//
// Entries are placed as dockerd places them (it untars chrooted into the container's root): the
// parents of an entry are resolved inside the root, following the container's symlinks there
// (bin -> usr/bin puts bin/x in /usr/bin), and missing ones are created; the entry itself is
// created under its held parent directory and never followed. Names with ".." that climb above
// the destination are refused. Whiteout names (.wh.*) are ordinary files, as docker cp treats them.
// The tar may come gzip- or zstd-compressed, as dockerd takes it (dockerd also reads bzip2 and xz).
//
// All-or-nothing: a replaced entry is first moved aside into an undo directory on the same
// filesystem, a created one recorded; any failure (a bad entry, a refused overwrite, a truncated
// tar, a full disk) undoes the whole extraction, and success removes what was moved aside.

import { closeSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { CoveError, fromErrno, invalid, isErrno } from "../common/errors.js";
import { bestEffortSync } from "../common/ignore.js";
import { Dir, type FileStat } from "../fsroot/index.js";
import { addon } from "../native/addon.js";
import { decompress, normalizeEntryName, readTar, type TarHeader } from "../snapshots/index.js";

export interface ExtractOptions {
  /** Refuse to replace a directory with a non-directory or the reverse (dockerd's noOverwriteDirNonDir). */
  noOverwriteDirNonDir?: boolean;
  /** Owner every entry gets (copyUIDGID: the container's user); default: the tar's uid/gid. */
  owner?: { uid: number; gid: number };
  /** Container ids → host ids (a container in a user namespace); applied to owner or the tar's ids. */
  toHost?: (uid: number, gid: number) => { uid: number; gid: number };
}

type UndoOp =
  | { kind: "created"; at: string }
  | { kind: "moved"; at: string; undo: Dir; backup: string }
  | { kind: "attrs"; at: string; mode: number; uid: number; gid: number; xattrs: Map<string, Buffer> };

/** Parent directories of recent entries, by container path (tars list siblings together). */
class ParentCache {
  private readonly dirs = new Map<string, Dir>();
  constructor(private readonly root: Dir) {}

  get(p: string): Dir {
    const hit = this.dirs.get(p);
    if (hit) return hit;
    const dir = this.root.dirInRoot(p);
    if (this.dirs.size >= 32) {
      const [oldest, d] = this.dirs.entries().next().value as [string, Dir];
      this.dirs.delete(oldest);
      d.close();
    }
    this.dirs.set(p, dir);
    return dir;
  }

  /** Forgets p and everything below it (it was replaced or removed). */
  forget(p: string): void {
    for (const [k, d] of this.dirs) {
      if (k === p || k.startsWith(p === "/" ? "/" : p + "/")) {
        d.close();
        this.dirs.delete(k);
      }
    }
  }

  close(): void {
    for (const d of this.dirs.values()) d.close();
    this.dirs.clear();
  }
}

class Extraction {
  private readonly ops: UndoOp[] = [];
  /** Undo directories by filesystem (st_dev): renames cannot cross filesystems. */
  private readonly undoDirs = new Map<bigint, { dir: Dir; parent: Dir; name: string }>();
  private backups = 0;
  private readonly parents: ParentCache;
  private readonly dirTimes: { at: string; h: TarHeader }[] = [];
  private readonly undoName = `.cove-cp-undo-${randomBytes(6).toString("hex")}`;

  constructor(
    private readonly root: Dir,
    /** The destination directory, resolved in the root ("/srv/data"). */
    private readonly dest: string,
    private readonly opts: ExtractOptions,
  ) {
    this.parents = new ParentCache(root);
  }

  private at(parts: string[]): string {
    return path.posix.join(this.dest, ...parts);
  }

  /** The parent directory of an entry, created (inside the root) when missing. */
  private parentOf(parts: string[]): Dir {
    const p = this.at(parts.slice(0, -1));
    try {
      return this.parents.get(p);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    // missing parents: made one by one, each recorded for the undo
    const { resolved } = this.root.walk(p);
    const missing: string[] = [];
    for (let cur = resolved; ; cur = path.posix.dirname(cur)) {
      const { exists } = this.root.walk(cur);
      if (exists) break;
      missing.unshift(cur);
      if (cur === "/") break;
    }
    for (const m of missing) {
      const { dir, name } = this.root.parentInRoot(m);
      try {
        dir.mkdir(name, 0o755);
        this.ops.push({ kind: "created", at: m });
      } catch (err) {
        if (!isErrno(err, "EEXIST")) throw err;
      } finally {
        dir.close();
      }
    }
    return this.parents.get(p);
  }

  /** A directory on the same filesystem as parent to keep replaced entries in until the end. */
  private undoDirFor(parent: Dir): Dir {
    const dev = parent.stat().dev;
    const known = this.undoDirs.get(dev);
    if (known) return known.dir;
    // the destination's own filesystem keeps it in the destination; another (a volume) in the entry's parent
    parent.mkdir(this.undoName, 0o700);
    const dir = parent.child(this.undoName);
    this.undoDirs.set(dev, { dir, parent: parent.dup(), name: this.undoName });
    return dir;
  }

  private moveAside(parent: Dir, name: string, at: string): void {
    const undo = this.undoDirFor(parent);
    const backup = String(this.backups++);
    parent.rename(name, undo, backup, addon().at.RENAME_NOREPLACE);
    this.ops.push({ kind: "moved", at, undo, backup });
    this.parents.forget(at);
  }

  private recordAttrs(parent: Dir, name: string, at: string, st: FileStat): void {
    this.ops.push({ kind: "attrs", at, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), xattrs: parent.xattrs(name) });
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const parts = normalizeEntryName(h.name);
    // the archive's root ("./") is the destination itself, which keeps its owner and mode (as dockerd)
    if (parts.length === 0) return drain(body);
    if (h.sparse) throw invalid(`tar entry ${JSON.stringify(h.name)} is a sparse file: send it as a regular file`, { code: "archive.sparse" });
    const at = this.at(parts);
    const name = parts[parts.length - 1] as string;
    const parent = this.parentOf(parts);
    const existing = parent.tryLstat(name);
    const given = this.opts.owner ?? { uid: h.uid, gid: h.gid };
    const owner = this.opts.toHost ? this.opts.toHost(given.uid, given.gid) : given;
    if (existing && this.opts.noOverwriteDirNonDir) {
      const rel = parts.join("/");
      if (existing.isDirectory() && h.type !== "dir") throw invalid(`cannot overwrite directory "${at}" with non-directory "${rel}"`, { code: "archive.overwrite" });
      if (!existing.isDirectory() && h.type === "dir") throw invalid(`cannot overwrite non-directory "${at}" with directory "${rel}"`, { code: "archive.overwrite" });
    }
    if (h.type === "link") {
      const target = normalizeEntryName(h.linkname, `hardlink target of ${JSON.stringify(h.name)}:`);
      if (target.length === 0) throw invalid(`tar hardlink ${JSON.stringify(h.name)} points at the destination directory`, { code: "archive.bad-entry" });
      const targetParent = this.parents.get(this.at(target.slice(0, -1)));
      const targetName = target[target.length - 1] as string;
      const tst = targetParent.tryLstat(targetName);
      if (!tst) throw invalid(`tar hardlink ${JSON.stringify(h.name)} points at ${JSON.stringify(h.linkname)}, which is not in the archive or the destination`, { code: "archive.bad-entry" });
      if (tst.isDirectory() || tst.isSymbolicLink()) throw invalid(`tar hardlink ${JSON.stringify(h.name)} points at ${JSON.stringify(h.linkname)}, which is a ${tst.isDirectory() ? "directory" : "symlink"}`, { code: "archive.bad-entry" });
      if (this.at(target) === at) throw invalid(`tar hardlink ${JSON.stringify(h.name)} points at itself`, { code: "archive.bad-entry" });
      if (existing) this.moveAside(parent, name, at);
      parent.link(targetParent, targetName, name);
      this.ops.push({ kind: "created", at });
      return drain(body);
    }
    if (existing?.isDirectory() && h.type === "dir") {
      // directory over directory: the entry's attributes replace the old ones
      this.recordAttrs(parent, name, at, existing);
      this.attrs(parent, name, h, owner);
      this.dirTimes.push({ at, h });
      return drain(body);
    }
    if (existing) this.moveAside(parent, name, at);
    switch (h.type) {
      case "dir":
        parent.mkdir(name, 0o700);
        this.ops.push({ kind: "created", at });
        this.attrs(parent, name, h, owner);
        this.dirTimes.push({ at, h });
        return drain(body);
      case "file":
        return this.file(parent, name, at, h, owner, body);
      case "symlink":
        parent.symlink(h.linkname, name);
        this.ops.push({ kind: "created", at });
        parent.chown(name, owner.uid, owner.gid);
        this.xattrs(parent, name, h);
        this.times(parent, name, h);
        return drain(body);
      case "char":
      case "block":
      case "fifo": {
        const k = addon().constants;
        const type = h.type === "char" ? k.S_IFCHR : h.type === "block" ? k.S_IFBLK : k.S_IFIFO;
        parent.mknod(name, type | 0o600, h.devmajor, h.devminor);
        this.ops.push({ kind: "created", at });
        this.attrs(parent, name, h, owner);
        this.times(parent, name, h);
        return drain(body);
      }
    }
  }

  private async file(parent: Dir, name: string, at: string, h: TarHeader, owner: { uid: number; gid: number }, body: AsyncIterable<Buffer>): Promise<void> {
    const fd = parent.createFile(name, 0o600);
    this.ops.push({ kind: "created", at });
    try {
      let pos = 0;
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off, pos + off);
        pos += chunk.length;
      }
    } finally {
      closeSync(fd);
    }
    // mode after chown, which clears setuid/setgid; xattrs after chown, which clears security.capability
    this.attrs(parent, name, h, owner);
    this.times(parent, name, h);
  }

  private attrs(parent: Dir, name: string, h: TarHeader, owner: { uid: number; gid: number }): void {
    parent.chown(name, owner.uid, owner.gid);
    parent.chmod(name, h.mode);
    this.xattrs(parent, name, h);
  }

  private xattrs(parent: Dir, name: string, h: TarHeader): void {
    for (const [attr, value] of h.xattrs) {
      try {
        parent.setXattr(name, attr, value);
      } catch (err) {
        throw fromErrno(err, `extracting ${JSON.stringify(h.name)}: setting xattr ${attr}`, "the filesystem under the destination must support this extended attribute");
      }
    }
  }

  private times(parent: Dir, name: string, h: TarHeader): void {
    const ns = (t: { sec: number; nsec: number }) => BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
    parent.utimes(name, ns(h.atime ?? h.mtime), ns(h.mtime));
  }

  /** Directory times last, deepest first, once nothing more is written inside them. */
  finishDirs(): void {
    for (const { at, h } of this.dirTimes.reverse()) {
      const { dir, name } = this.root.parentInRoot(at);
      try {
        if (name !== "") this.times(dir, name, h);
      } finally {
        dir.close();
      }
    }
  }

  /** Removes what was moved aside (the extraction succeeded). */
  finish(): void {
    this.parents.close();
    for (const { dir, parent, name } of this.undoDirs.values()) {
      dir.close();
      try {
        parent.removeAll(name);
      } finally {
        parent.close();
      }
    }
    this.undoDirs.clear();
  }

  /** Puts everything back as it was, as far as the container left it possible; loses nothing it kept, logs what it could not undo. */
  rollback(): void {
    this.parents.close();
    // keep undoing the rest: a step that fails leaves less behind than stopping would
    for (const op of this.ops.reverse()) bestEffortSync(`undo the ${op.kind === "attrs" ? "attribute change" : op.kind === "moved" ? "replacement" : "creation"} of ${op.at} in a failed copy into a container`, () => this.undo(op));
    this.finish();
  }

  private undo(op: UndoOp): void {
    const { dir, name } = this.root.parentInRoot(op.at);
    try {
      if (name === "") return;
      if (op.kind === "created") dir.removeAll(name);
      else if (op.kind === "moved") {
        dir.removeAll(name);
        op.undo.rename(op.backup, dir, name, addon().at.RENAME_NOREPLACE);
      } else {
        dir.chown(name, op.uid, op.gid);
        dir.chmod(name, op.mode);
        for (const [attr, value] of op.xattrs) dir.setXattr(name, attr, value);
      }
    } finally {
      dir.close();
    }
  }
}

async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of body) {
    // no body for this type
  }
}

/**
 * Extracts a tar into the directory dest (a path inside root, already resolved there); a failure
 * undoes what the extraction did and names the offending entry.
 */
export async function extractInto(input: AsyncIterable<Buffer>, root: Dir, dest: string, opts: ExtractOptions = {}): Promise<void> {
  const x = new Extraction(root, dest, opts);
  try {
    for await (const { header, body } of readTar(decompress(input))) {
      try {
        await x.entry(header, body);
      } catch (err) {
        if (err instanceof CoveError) throw err;
        throw fromErrno(err, `extracting ${JSON.stringify(header.name)} into ${dest}`);
      }
    }
    x.finishDirs();
    x.finish();
  } catch (err) {
    x.rollback();
    throw err;
  }
}
