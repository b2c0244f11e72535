// Layer application: decompress → hash the tar (the diff ID) → unpack, in one streaming pass.
//
// Safety model. No write may land outside the destination, whatever the layer says:
//  - names are normalized lexically (leading "/" and "./" stripped, "." dropped, ".." folded);
//    a ".." that would climb above the root is refused;
//  - parent directories are never followed through symlinks: every parent component is checked
//    with lstat and an entry whose parent is a symlink (to anywhere, even inside the tree) is
//    refused with an error naming the entry and the link. containerd and moby instead resolve such
//    parents inside the root (moby under chroot); refusing is simpler to prove safe, and layers
//    produced from a filesystem diff never contain such paths (a change under /bin → usr/bin is
//    recorded as usr/bin/...);
//  - final components are created with O_EXCL/O_NOFOLLOW, mkdir, symlink, mknod, link: none of
//    these follow a symlink at the final component; xattrs, owners and times use the l* calls;
//  - hardlink targets go through the same checks and must not be symlinks or directories.
// All-or-nothing: a new or empty destination is built in a staging directory next to it and
// renamed into place on success; a non-empty destination ("plain" mode onto a full tree) is
// changed in place with an undo journal (replaced paths are moved aside, not deleted) that is
// rolled back on any error. Either way a failed apply leaves the destination as it was.
//
// Speed: a rootfs layer is thousands of small files, so the per-entry metadata calls (lstat,
// mkdir, open, write, fchown, fchmod, symlink, link) are synchronous: each is a few microseconds
// of kernel work, and a round trip through libuv's thread pool per call would cost more than the
// call itself. Only the body stream (and the rare journal and copy-up paths) stay asynchronous.

import { createHash, randomBytes } from "node:crypto";
import { chmodSync, closeSync, constants as C, fchmodSync, fchownSync, ftruncateSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, symlinkSync, write, writeFileSync, writeSync } from "node:fs";
import { chmod, copyFile, lchown, lstat, mkdir, readdir, rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { CoveError, fromErrno, invalid, isErrno } from "../common/errors.js";
import { ignored, ignoring } from "../common/ignore.js";
import { overlayXattrPrefix } from "../common/userns.js";
import { addon } from "../native/addon.js";
import { decompress, type Compression } from "./compress.js";
import { readTar, type TarHeader, type TarTime } from "./tar.js";

export type WhiteoutMode = "overlay" | "plain";

export interface ApplyOptions {
  /** How the blob is compressed; "auto" (the default) sniffs gzip and zstd magic bytes. */
  compression?: Compression;
  /** "sha256:..." the uncompressed tar must hash to; the apply fails (and changes nothing) otherwise. */
  expectedDiffId?: string;
  /**
   * "overlay" (default): the destination is one layer of an overlay stack; `.wh.x` becomes an
   * overlay whiteout (char device 0:0) and `.wh..wh..opq` sets trusted.overlay.opaque=y.
   * "plain": the destination is a full tree; whiteouts delete what they name.
   */
  whiteouts?: WhiteoutMode;
  /**
   * In overlay mode, the layers below (nearest first). Used to give implicitly created parent
   * directories the attributes they have below (as containerd's WithParents does) and to satisfy
   * hardlinks to files that live in a lower layer (copied up). A function is called only when the
   * layer needs them: a layer unpacked ahead of the ones below it waits there for them.
   */
  lowerDirs?: string[] | (() => Promise<string[]>);
}

export interface ApplyResult {
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** Bytes of uncompressed tar. */
  size: number;
  /** Tar entries processed (whiteouts included). */
  entries: number;
}

const WH_PREFIX = ".wh.";
const WH_OPAQUE = ".wh..wh..opq";
/** trusted.overlay. on the host, user.overlay. in a rootless daemon's user namespace. */
const OVERLAY_XATTR = overlayXattrPrefix();
const WH_META = ".wh..wh.";

/**
 * Marks a directory of an overlay layer opaque: overlay's opaque attribute, or, in a user namespace
 * on a filesystem without user.* xattrs (tmpfs before Linux 6.6: a rootless daemon then mounts with
 * fuse-overlayfs), the layer format's own `.wh..wh..opq` file, which fuse-overlayfs reads.
 */
function markOpaque(dir: string): void {
  try {
    addon().lsetxattr(dir, `${OVERLAY_XATTR}opaque`, Buffer.from("y"), 0);
  } catch (err) {
    if (!(OVERLAY_XATTR === "user.overlay." && isErrno(err, "EOPNOTSUPP", "ENOTSUP"))) throw err;
    writeFileSync(path.join(dir, WH_OPAQUE), "", { mode: 0o600, flag: "w" });
  }
}

interface DirTimes {
  abs: string;
  atime: TarTime;
  mtime: TarTime;
}

type JournalOp =
  | { kind: "created"; abs: string }
  | { kind: "moved"; abs: string; backup: string }
  | { kind: "attrs"; abs: string; mode: number; uid: number; gid: number; xattrs: Map<string, Buffer> };

/** Undo log for in-place application onto a non-empty tree. */
class Journal {
  private ops: JournalOp[] = [];
  private times = new Map<string, { atimeNs: bigint; mtimeNs: bigint }>();
  private backupCount = 0;
  private backupReady = false;

  constructor(readonly backupDir: string) {}

  created(abs: string): void {
    this.ops.push({ kind: "created", abs });
  }

  async moveAside(abs: string): Promise<void> {
    if (!this.backupReady) {
      await mkdir(this.backupDir, { mode: 0o700 });
      this.backupReady = true;
    }
    const backup = path.join(this.backupDir, String(this.backupCount++));
    await rename(abs, backup);
    this.ops.push({ kind: "moved", abs, backup });
  }

  async attrs(abs: string): Promise<void> {
    const st = await lstat(abs);
    this.ops.push({ kind: "attrs", abs, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, xattrs: readXattrs(abs) });
  }

  /** Remembers a directory's times before its contents change. */
  async touch(absDir: string): Promise<void> {
    if (this.times.has(absDir)) return;
    try {
      const st = await lstat(absDir, { bigint: true });
      this.times.set(absDir, { atimeNs: st.atimeNs, mtimeNs: st.mtimeNs });
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
  }

  async rollback(): Promise<void> {
    for (const op of this.ops.reverse()) {
      try {
        if (op.kind === "created") await rm(op.abs, { recursive: true, force: true });
        else if (op.kind === "moved") {
          await rm(op.abs, { recursive: true, force: true });
          await rename(op.backup, op.abs);
        } else {
          await lchown(op.abs, op.uid, op.gid);
          await chmod(op.abs, op.mode);
          const now = readXattrs(op.abs);
          for (const name of now.keys()) if (!op.xattrs.has(name)) addon().lremovexattr(op.abs, name);
          for (const [name, value] of op.xattrs) addon().lsetxattr(op.abs, name, value, 0);
        }
      } catch (err) {
        // keep undoing the rest; a failed step leaves less behind than stopping would
        ignored(`roll back the layer change (${op.kind}) of ${op.abs}`, err);
      }
    }
    for (const [abs, t] of this.times) {
      try {
        setTimesNs(abs, t.atimeNs, t.mtimeNs);
      } catch (err) {
        // ENOENT: the directory was one this apply created, removed above
        if (!isErrno(err, "ENOENT")) ignored(`restore the times of ${abs}`, err);
      }
    }
    await this.finish();
  }

  async finish(): Promise<void> {
    if (this.backupReady) await rm(this.backupDir, { recursive: true, force: true });
  }
}

function setTimesNs(abs: string, atimeNs: bigint, mtimeNs: bigint): void {
  const sec = (ns: bigint) => Number(ns / 1_000_000_000n);
  const nsec = (ns: bigint) => Number(ns % 1_000_000_000n);
  addon().utimensat(abs, sec(atimeNs), nsec(atimeNs), sec(mtimeNs), nsec(mtimeNs));
}

function readXattrs(abs: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of addon().llistxattr(abs)) {
    const v = addon().lgetxattr(abs, name);
    if (v !== null) out.set(name, v);
  }
  return out;
}

/**
 * Splits a tar entry name into normalized components. Leading "/" and "./" are stripped (the
 * names are relative to the layer root), "." and empty components dropped, ".." folded; a ".."
 * that would leave the root is an error.
 */
export function normalizeEntryName(name: string, what = "entry"): string[] {
  if (name.includes("\0")) throw invalid(`layer ${what} ${JSON.stringify(name)} contains a NUL byte`, { code: "layer.unsafe-path" });
  const out: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) {
        throw invalid(`layer ${what} ${JSON.stringify(name)} escapes the layer root with ".."`, {
          code: "layer.unsafe-path",
          hint: "the layer is malformed or hostile; it was not applied",
        });
      }
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

class Applier {
  /** Directories known to exist and be real directories (relative paths). */
  private dirs = new Set<string>([""]);
  /** Relative paths this layer wrote (whiteouts never hide them). */
  private written = new Set<string>();
  private dirTimes: DirTimes[] = [];
  entries = 0;

  constructor(
    private readonly root: string,
    private readonly mode: WhiteoutMode,
    private readonly lowerDirsOf: string[] | (() => Promise<string[]>),
    private readonly journal: Journal | undefined,
  ) {}

  private lowers?: Promise<string[]>;

  /** The layers below, asked for once and only when an entry needs them. */
  private lowerDirs(): Promise<string[]> {
    const of = this.lowerDirsOf;
    this.lowers ??= typeof of === "function" ? of() : Promise.resolve(of);
    return this.lowers;
  }

  private abs(rel: string): string {
    return rel === "" ? this.root : path.join(this.root, rel);
  }

  /**
   * Makes sure every parent of parts exists as a real directory, creating missing ones, never
   * passing through a symlink. With create=false, returns false when a parent is missing.
   */
  private async parents(parts: string[], entry: string, create: boolean): Promise<boolean> {
    let rel = "";
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === "" ? parts[i] : `${rel}/${parts[i]}`;
      if (this.dirs.has(rel)) continue;
      const abs = this.abs(rel);
      let st;
      try {
        st = lstatSync(abs, { throwIfNoEntry: false });
      } catch (err) {
        throw fromErrno(err, `applying layer entry ${JSON.stringify(entry)}: checking ${rel}`);
      }
      if (st === undefined) {
        if (!create) return false;
        await this.implicitDir(rel, abs);
        this.dirs.add(rel);
        continue;
      }
      if (st.isSymbolicLink()) {
        throw invalid(`layer entry ${JSON.stringify(entry)} passes through the symlink ${JSON.stringify(rel)}: refusing to write through a symlink`, {
          code: "layer.unsafe-path",
          hint: "the layer is malformed or hostile; it was not applied",
        });
      }
      if (!st.isDirectory()) {
        throw invalid(`layer entry ${JSON.stringify(entry)} needs ${JSON.stringify(rel)} to be a directory, but it is not`, { code: "layer.bad-entry" });
      }
      this.dirs.add(rel);
    }
    return true;
  }

  /** Creates a parent directory the layer did not list, copying its attributes from below. */
  private async implicitDir(rel: string, abs: string): Promise<void> {
    await this.journal?.touch(path.dirname(abs));
    mkdirSync(abs, { mode: 0o755 });
    this.journal?.created(abs);
    chmodSync(abs, 0o755);
    for (const lower of await this.lowerDirs()) {
      const below = await this.lowerPath(lower, rel);
      if (below === undefined) continue;
      const st = await lstat(below, { bigint: true });
      if (!st.isDirectory()) break;
      await lchown(abs, Number(st.uid), Number(st.gid));
      await chmod(abs, Number(st.mode & 0o7777n));
      for (const [name, value] of readXattrs(below)) {
        if (name.startsWith(OVERLAY_XATTR)) continue;
        addon().lsetxattr(abs, name, value, 0);
      }
      this.dirTimes.push({
        abs,
        atime: { sec: Number(st.atimeNs / 1_000_000_000n), nsec: Number(st.atimeNs % 1_000_000_000n) },
        mtime: { sec: Number(st.mtimeNs / 1_000_000_000n), nsec: Number(st.mtimeNs % 1_000_000_000n) },
      });
      break;
    }
  }

  /** rel inside a lower layer, resolved without following symlinks; undefined when absent. */
  private async lowerPath(lower: string, rel: string): Promise<string | undefined> {
    let cur = lower;
    const parts = rel.split("/");
    for (let i = 0; i < parts.length; i++) {
      cur = path.join(cur, parts[i]);
      try {
        const st = await lstat(cur);
        if (i < parts.length - 1 && !st.isDirectory()) return undefined;
      } catch (err) {
        if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
        throw err;
      }
    }
    return cur;
  }

  /** Removes (or, with a journal, moves aside) whatever is at abs. */
  private async removeExisting(rel: string, abs: string): Promise<void> {
    await this.journal?.touch(path.dirname(abs));
    if (this.journal) await this.journal.moveAside(abs);
    else await rm(abs, { recursive: true, force: true });
    for (const d of [...this.dirs]) if (d === rel || d.startsWith(rel + "/")) this.dirs.delete(d);
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.entries++;
    const parts = normalizeEntryName(h.name);
    const base = parts[parts.length - 1] ?? "";
    if (base.startsWith(WH_PREFIX)) return this.whiteout(h, parts);
    if (parts.length === 0) {
      // the root itself: only a directory may describe it
      if (h.type !== "dir") throw invalid(`layer entry ${JSON.stringify(h.name)} names the root but is not a directory`, { code: "layer.bad-entry" });
      await this.journal?.attrs(this.root);
      return this.directory(h, this.root);
    }
    await this.parents(parts, h.name, true);
    const rel = parts.join("/");
    const abs = this.abs(rel);
    const existing = lstatSync(abs, { throwIfNoEntry: false });
    if (h.type === "link") {
      // resolve the target first: a link to itself or to a path this entry replaces is wrong
      const target = await this.linkTarget(h);
      if (target === rel) throw invalid(`layer hardlink ${JSON.stringify(h.name)} points at itself`, { code: "layer.bad-entry" });
      if (existing) await this.removeExisting(rel, abs);
      await this.journal?.touch(path.dirname(abs));
      const targetAbs = this.abs(target);
      linkSync(targetAbs, abs);
      this.journal?.created(abs);
      this.written.add(rel);
      return;
    }
    // A directory replacing a whiteout this layer made (".wh.x" then "x/") must hide the lower x.
    const replacesWhiteout = this.mode === "overlay" && h.type === "dir" && existing !== undefined && existing.isCharacterDevice() && existing.rdev === 0;
    if (existing && !(existing.isDirectory() && h.type === "dir")) await this.removeExisting(rel, abs);
    else if (existing) {
      // directory over directory: the entry's attributes replace the old ones
      await this.journal?.attrs(abs);
      this.written.add(rel);
      this.dirs.add(rel);
      return this.directory(h, abs);
    }
    await this.journal?.touch(path.dirname(abs));
    switch (h.type) {
      case "dir":
        mkdirSync(abs, { mode: 0o700 });
        this.journal?.created(abs);
        if (replacesWhiteout) markOpaque(abs);
        this.dirs.add(rel);
        this.written.add(rel);
        return this.directory(h, abs);
      case "file":
        this.written.add(rel);
        return this.file(h, abs, body);
      case "symlink":
        symlinkSync(h.linkname, abs);
        this.journal?.created(abs);
        this.written.add(rel);
        lchownSync(abs, h.uid, h.gid);
        this.xattrs(h, abs);
        this.times(abs, h);
        return;
      case "char":
      case "block":
      case "fifo": {
        const k = addon().constants;
        const type = h.type === "char" ? k.S_IFCHR : h.type === "block" ? k.S_IFBLK : k.S_IFIFO;
        addon().mknod(abs, type | 0o600, h.devmajor, h.devminor);
        this.journal?.created(abs);
        this.written.add(rel);
        this.attrs(h, abs);
        this.times(abs, h);
        return;
      }
    }
  }

  /** The checked relative path a hardlink points at (copied up from a lower layer if needed). */
  private async linkTarget(h: TarHeader): Promise<string> {
    const parts = normalizeEntryName(h.linkname, `hardlink target of ${JSON.stringify(h.name)}:`);
    if (parts.length === 0) throw invalid(`layer hardlink ${JSON.stringify(h.name)} points at the root directory`, { code: "layer.unsafe-path" });
    const rel = parts.join("/");
    const found = await this.parents(parts, h.name, false);
    let st;
    if (found) st = lstatSync(this.abs(rel), { throwIfNoEntry: false });
    if (!st) {
      for (const lower of await this.lowerDirs()) {
        const below = await this.lowerPath(lower, rel);
        if (below === undefined) continue;
        const bst = await lstat(below);
        if (!bst.isFile()) break;
        await this.parents(parts, h.name, true);
        await copyUp(below, this.abs(rel));
        this.journal?.created(this.abs(rel));
        return rel;
      }
      throw invalid(`layer hardlink ${JSON.stringify(h.name)} points at ${JSON.stringify(h.linkname)}, which does not exist in the layer or below it`, {
        code: "layer.bad-entry",
      });
    }
    if (st.isSymbolicLink()) {
      throw invalid(`layer hardlink ${JSON.stringify(h.name)} points at ${JSON.stringify(h.linkname)}, which is a symlink: refusing`, {
        code: "layer.unsafe-path",
        hint: "the layer is malformed or hostile; it was not applied",
      });
    }
    if (st.isDirectory()) throw invalid(`layer hardlink ${JSON.stringify(h.name)} points at the directory ${JSON.stringify(h.linkname)}`, { code: "layer.bad-entry" });
    return rel;
  }

  private async whiteout(h: TarHeader, parts: string[]): Promise<void> {
    const base = parts[parts.length - 1];
    const dirParts = parts.slice(0, -1);
    const dirRel = dirParts.join("/");
    if (base === WH_OPAQUE) {
      if (this.mode === "overlay") {
        await this.parents([...dirParts, "x"], h.name, true);
        markOpaque(this.abs(dirRel));
        return;
      }
      if (!(await this.parents([...dirParts, "x"], h.name, false))) return;
      return this.removeUnwritten(dirRel);
    }
    if (base.startsWith(WH_META)) return; // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content
    const name = base.slice(WH_PREFIX.length);
    if (name === "" || name === "." || name === "..") throw invalid(`layer whiteout ${JSON.stringify(h.name)} names nothing to remove`, { code: "layer.bad-entry" });
    const targetParts = [...dirParts, name];
    const rel = targetParts.join("/");
    const abs = this.abs(rel);
    if (this.mode === "overlay") {
      await this.parents(targetParts, h.name, true);
      // something this layer wrote: a whiteout hides only lower layers
      if (lstatSync(abs, { throwIfNoEntry: false }) !== undefined) return;
      await this.journal?.touch(path.dirname(abs));
      addon().mknod(abs, addon().constants.S_IFCHR | 0o000, 0, 0);
      this.journal?.created(abs);
      return;
    }
    if (this.written.has(rel)) return;
    if (!(await this.parents(targetParts, h.name, false))) return;
    try {
      await lstat(abs);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return;
      throw err;
    }
    await this.removeExisting(rel, abs);
  }

  /** Plain-mode opaque directory: removes everything below relDir that this layer did not write. */
  private async removeUnwritten(relDir: string): Promise<void> {
    const absDir = this.abs(relDir);
    for (const name of await readdir(absDir)) {
      const rel = relDir === "" ? name : `${relDir}/${name}`;
      const abs = path.join(absDir, name);
      if (!this.written.has(rel)) await this.removeExisting(rel, abs);
      else if ((await lstat(abs)).isDirectory()) await this.removeUnwritten(rel);
    }
  }

  private directory(h: TarHeader, abs: string): void {
    this.attrs(h, abs);
    this.dirTimes.push({ abs, atime: h.atime ?? h.mtime, mtime: h.mtime });
  }

  private async file(h: TarHeader, abs: string, body: AsyncIterable<Buffer>): Promise<void> {
    const fd = openSync(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    this.journal?.created(abs);
    // a large file's bytes go to the page cache from the thread pool while this thread reads,
    // hashes and unpacks on; a small one's in one synchronous call each
    const pooled = h.size >= POOLED_WRITE_MIN ? new PooledWrites(fd) : undefined;
    try {
      let end = 0;
      const segments = h.sparse ?? [{ offset: 0, length: h.size }];
      let seg = 0;
      let segLeft = segments.length ? segments[0].length : 0;
      let pos = segments.length ? segments[0].offset : 0;
      for await (let chunk of body) {
        while (chunk.length > 0) {
          while (segLeft === 0) {
            seg++;
            if (seg >= segments.length) throw invalid(`layer entry ${JSON.stringify(h.name)} has more data than its sparse map`, { code: "layer.corrupt" });
            segLeft = segments[seg].length;
            pos = segments[seg].offset;
          }
          const n = Math.min(segLeft, chunk.length);
          const part = chunk.subarray(0, n);
          // Runs of zeros are skipped, leaving holes: the file reads the same and takes no space.
          if (!isZero(part)) {
            if (pooled) await pooled.add(part, pos);
            else writeAll(fd, part, pos);
            end = Math.max(end, pos + n);
          }
          pos += n;
          segLeft -= n;
          chunk = chunk.subarray(n);
        }
      }
      await pooled?.drain();
      if (end !== h.realSize) ftruncateSync(fd, h.realSize);
      fchownSync(fd, h.uid, h.gid);
      fchmodSync(fd, h.mode); // after chown, which clears setuid/setgid
    } finally {
      // no write may still use the descriptor when it is closed (its number could be reused)
      await pooled?.settle();
      closeSync(fd);
    }
    this.xattrs(h, abs);
    this.times(abs, h);
  }

  private attrs(h: TarHeader, abs: string): void {
    lchownSync(abs, h.uid, h.gid);
    chmodSync(abs, h.mode); // after chown, which clears setuid/setgid
    this.xattrs(h, abs); // after chown, which clears security.capability
  }

  private xattrs(h: TarHeader, abs: string): void {
    for (const [name, value] of h.xattrs) {
      try {
        addon().lsetxattr(abs, name, value, 0);
      } catch (err) {
        throw fromErrno(err, `applying layer entry ${JSON.stringify(h.name)}: setting xattr ${name}`, "the filesystem under the destination must support this extended attribute");
      }
    }
  }

  private times(abs: string, h: TarHeader): void {
    const a = h.atime ?? h.mtime;
    addon().utimensat(abs, a.sec, a.nsec, h.mtime.sec, h.mtime.nsec);
  }

  /** Directory times last, deepest first, once nothing more is written inside them. */
  finishDirs(): void {
    for (const d of this.dirTimes.reverse()) addon().utimensat(d.abs, d.atime.sec, d.atime.nsec, d.mtime.sec, d.mtime.nsec);
  }
}

/** Files at least this large are written from the thread pool (PooledWrites). */
const POOLED_WRITE_MIN = 1 << 20;
/** At most this many bytes of one file are being written from the thread pool at once. */
const POOLED_WRITE_AHEAD = 16 << 20;

function writeAsync(fd: number, buf: Buffer, off: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, buf, off, buf.length - off, pos, (err, n) => (err ? reject(err) : resolve(n))));
}

async function writeAllAsync(fd: number, buf: Buffer, pos: number): Promise<void> {
  let off = 0;
  while (off < buf.length) off += await writeAsync(fd, buf, off, pos + off);
}

/**
 * Writes of one file issued without waiting, each at its own offset, at most POOLED_WRITE_AHEAD
 * bytes outstanding. The buffers are not reused by the tar reader or the decompressor once
 * handed out, so they may be written later. The first failure is reported by the next add or by
 * drain.
 */
class PooledWrites {
  private inFlight: { done: Promise<void>; bytes: number }[] = [];
  private bytes = 0;
  private failure: unknown;
  private failed = false;

  constructor(private readonly fd: number) {}

  async add(buf: Buffer, pos: number): Promise<void> {
    this.throwFailure();
    const done = writeAllAsync(this.fd, buf, pos).catch((err: unknown) => {
      if (!this.failed) {
        this.failed = true;
        this.failure = err;
      }
    });
    this.inFlight.push({ done, bytes: buf.length });
    this.bytes += buf.length;
    while (this.bytes > POOLED_WRITE_AHEAD) {
      const oldest = this.inFlight.shift()!;
      await oldest.done;
      this.bytes -= oldest.bytes;
    }
    this.throwFailure();
  }

  /** Waits for every write; throws the first failure. */
  async drain(): Promise<void> {
    await this.settle();
    this.throwFailure();
  }

  /** Waits for every write, failed or not. */
  async settle(): Promise<void> {
    const pending = this.inFlight;
    this.inFlight = [];
    this.bytes = 0;
    await Promise.all(pending.map((w) => w.done));
  }

  private throwFailure(): void {
    if (this.failed) throw this.failure;
  }
}

function writeAll(fd: number, buf: Buffer, pos: number): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, pos + off);
}

const ZEROS = Buffer.alloc(1 << 16);
function isZero(b: Buffer): boolean {
  for (let off = 0; off < b.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - off);
    if (!b.subarray(off, off + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

/** Copies a regular file with its owner, mode, xattrs and times. */
async function copyUp(src: string, dst: string): Promise<void> {
  await copyFile(src, dst, C.COPYFILE_EXCL);
  const st = await lstat(src, { bigint: true });
  await lchown(dst, Number(st.uid), Number(st.gid));
  await chmod(dst, Number(st.mode & 0o7777n));
  for (const [name, value] of readXattrs(src)) if (!name.startsWith(OVERLAY_XATTR)) addon().lsetxattr(dst, name, value, 0);
  setTimesNs(dst, st.atimeNs, st.mtimeNs);
}

async function isEmptyDir(dir: string): Promise<boolean | undefined> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw fromErrno(err, `applying layer: reading destination ${dir}`);
  }
}

/**
 * Applies a layer blob to destDir. A missing or empty destDir is built in a staging directory
 * beside it and renamed into place on success; a non-empty one is changed in place under an undo
 * journal. On any error (hostile paths, corrupt or truncated input, a diff ID mismatch) the
 * destination is left as it was and the error names the offending entry.
 */
export async function applyLayer(stream: Readable | AsyncIterable<Buffer>, destDir: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const dest = path.resolve(destDir);
  const mode = opts.whiteouts ?? "overlay";
  const suffix = randomBytes(6).toString("hex");
  const empty = await isEmptyDir(dest);
  const staging = empty !== false ? `${dest}.tmp-${suffix}` : undefined;
  const journal = staging ? undefined : new Journal(`${dest}.undo-${suffix}`);
  const root = staging ?? dest;
  if (staging) {
    try {
      await mkdir(staging, { mode: 0o755 });
      await chmod(staging, 0o755);
    } catch (err) {
      throw fromErrno(err, `applying layer: creating staging directory ${staging}`, "the parent of the destination must exist and be writable");
    }
  }
  const applier = new Applier(root, mode, opts.lowerDirs ?? [], journal);
  const hash = createHash("sha256");
  let size = 0;
  const hashed = (async function* () {
    for await (const c of decompress(stream as AsyncIterable<unknown>, opts.compression ?? "auto")) {
      hash.update(c);
      size += c.length;
      yield c;
    }
  })();
  try {
    for await (const { header, body } of readTar(hashed)) {
      try {
        await applier.entry(header, body);
      } catch (err) {
        if (err instanceof CoveError) throw err;
        throw fromErrno(err, `applying layer entry ${JSON.stringify(header.name)}`);
      }
    }
    const diffId = `sha256:${hash.digest("hex")}`;
    if (opts.expectedDiffId !== undefined && opts.expectedDiffId !== diffId) {
      throw invalid(`layer content does not match its diff ID: expected ${opts.expectedDiffId}, got ${diffId}`, {
        code: "layer.digest-mismatch",
        hint: "the blob is corrupt or belongs to another image; pull it again",
      });
    }
    applier.finishDirs();
    if (staging) {
      if (empty === true) await rmdir(dest);
      await rename(staging, dest);
    } else {
      await journal?.finish();
    }
    return { diffId, size, entries: applier.entries };
  } catch (err) {
    if (staging) await rm(staging, { recursive: true, force: true }).catch(ignoring(`remove the staging directory ${staging} of a layer that failed to apply`));
    else await journal?.rollback();
    if (stream && typeof (stream as Readable).destroy === "function") (stream as Readable).destroy();
    if (err instanceof CoveError) throw err;
    throw fromErrno(err, `applying layer to ${dest}`);
  }
}
