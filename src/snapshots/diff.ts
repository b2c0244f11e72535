// Layer diff and directory export: one tree walker that writes an OCI layer tar.
//
// diffLayer reads an overlay upper directory (the changes of one snapshot): overlay whiteouts
// (char device 0:0) become `.wh.<name>` entries and opaque directories (trusted.overlay.opaque=y)
// are followed by `<dir>/.wh..wh..opq`. tarDirectory writes a full tree as it is (container
// export, rootfs import). Both produce deterministic bytes: names sorted bytewise, whiteouts
// before their siblings, mtimes truncated to seconds (as containerd does), no user/group names,
// no atime/ctime, xattrs sorted, trusted.overlay.* skipped, hardlinks detected by inode within
// the tree. Sockets cannot be represented in tar and are skipped.
//
// The tree may belong to a running container, which can swap any of its directories for a
// symlink at any moment: it is walked through directory handles only (src/fsroot), never by
// host path, and an entry that changes while it is walked is left out.

import { createHash } from "node:crypto";
import { once } from "node:events";
import { closeSync, read } from "node:fs";
import path from "node:path";
import type { Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { fromErrno, isErrno, unsupported } from "../common/errors.js";
import { overlayXattrPrefix } from "../common/userns.js";
import { Dir, NotRegularFile, type FileStat } from "../fsroot/index.js";
import { addon } from "../native/addon.js";
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntryType } from "./tar.js";

export interface DiffOptions {
  /** Compress the output with gzip (the digests of both forms are returned). Default "none". */
  compression?: "none" | "gzip";
  /**
   * Leaves out an entry (and, for a directory, everything below it): rel is "a/b" from the root,
   * st the entry's status, list() a directory's names (read through the walk's handle on it).
   */
  skip?: (rel: string, st: FileStat, list: () => string[]) => boolean | Promise<boolean>;
  /**
   * Directories ("etc") written only when something below them is, or when their mode or owner
   * differ from the lower layers' (upper mode): those the container's runtime copied up to hold
   * its mount points, which dockerd keeps in a separate init layer, so an unchanged container
   * commits an empty layer.
   */
  carrier?: (rel: string) => boolean;
  /**
   * The owner an entry gets in the tar from its owner on disk: a container in a user namespace
   * keeps its writable layer in host ids, and its layers record the ids the container sees.
   */
  owner?: (uid: number, gid: number) => { uid: number; gid: number };
}

export interface DiffResult {
  /** sha256 of the uncompressed tar (the layer's diff ID). */
  diffId: string;
  /** Bytes of uncompressed tar. */
  size: number;
  /** sha256 and size of the bytes written to out (equal to diffId/size without compression). */
  digest: string;
  compressedSize: number;
}

/** Where the bytes go: hashes the tar, optionally gzips, and respects backpressure. */
/** The reader went away (the client disconnected, a pipe closed): the walk stops. */
function closedOutput(): Error {
  return Object.assign(new Error("the output was closed before the archive was complete"), { code: "EPIPE" });
}

/**
 * Resolves on 'drain' (or 'finish' when ending); rejects when the stream errors or closes first.
 * events.once alone would wait forever on a stream destroyed without an error.
 */
function settle(stream: Writable, event: "drain" | "finish"): Promise<void> {
  if (stream.destroyed) return Promise.reject(closedOutput());
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off(event, onEvent);
      stream.off("error", onError);
      stream.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    const onEvent = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(closedOutput());
    stream.once(event, onEvent);
    stream.once("error", onError);
    stream.once("close", onClose);
  });
}

class Sink {
  private readonly tarHash = createHash("sha256");
  private readonly outHash = createHash("sha256");
  size = 0;
  outSize = 0;
  private readonly gzip;

  constructor(private readonly out: Writable, compression: "none" | "gzip") {
    this.gzip = compression === "gzip" ? createGzip({ level: 6 }) : undefined;
    if (this.gzip) {
      this.gzip.on("data", (c: Buffer) => {
        this.outHash.update(c);
        this.outSize += c.length;
        if (!this.out.write(c)) this.gzip?.pause();
      });
      this.out.on("drain", () => this.gzip?.resume());
      // a reader that goes away stops the compressor, whose drain would otherwise never come
      this.out.once("close", () => {
        if (this.gzip && !this.gzip.writableFinished && !this.gzip.destroyed) this.gzip.destroy(closedOutput());
      });
    }
  }

  async write(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    this.tarHash.update(buf);
    this.size += buf.length;
    if (this.gzip) {
      if (!this.gzip.write(buf)) await once(this.gzip, "drain");
      return;
    }
    if (this.out.destroyed) throw closedOutput();
    this.outHash.update(buf);
    this.outSize += buf.length;
    if (!this.out.write(buf)) await settle(this.out, "drain");
  }

  async end(): Promise<DiffResult> {
    await this.write(END_OF_ARCHIVE);
    if (this.gzip) {
      const done = once(this.gzip, "end");
      this.gzip.end();
      await done;
    }
    const finished = settle(this.out, "finish");
    this.out.end();
    await finished;
    const diffId = `sha256:${this.tarHash.digest("hex")}`;
    return { diffId, size: this.size, digest: this.gzip ? `sha256:${this.outHash.digest("hex")}` : diffId, compressedSize: this.outSize };
  }
}

function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

type WalkMode = "upper" | "full";

/** trusted.overlay. on the host, user.overlay. in a rootless daemon's user namespace. */
const OVERLAY_XATTR = overlayXattrPrefix();
const OPAQUE = `${OVERLAY_XATTR}opaque`;
/**
 * fuse-overlayfs marks the opaque directories it makes with a `.wh..wh..opq` file too (the only
 * mark on a filesystem without user.* xattrs), beside a `.wh..opq` whiteout that hides nothing.
 */
const WH_OPAQUE_FILE = ".wh..wh..opq";

function hasOpaqueFile(dir: Dir): boolean {
  try {
    return dir.lstat(WH_OPAQUE_FILE).isFile();
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
}

/** An attribute of the daemon's own directory p as text; "" when unset or when its filesystem keeps none. */
function pathXattr(p: string, attr: string): string {
  try {
    return addon().lgetxattr(p, attr)?.toString() ?? "";
  } catch (err) {
    if (isErrno(err, "ENOTSUP", "EOPNOTSUPP")) return "";
    throw err;
  }
}

/** fuse-overlayfs's own attributes: user.fuseoverlayfs.opaque=y on the opaque directories it makes. */
const FUSE_XATTR = "user.fuseoverlayfs.";
const FUSE_OPAQUE = `${FUSE_XATTR}opaque`;
/** Entries walked between two turns given back to the event loop (the walk itself is synchronous syscalls). */
const ENTRIES_PER_TURN = 256;
/** Bodies are read in chunks of this size at most. */
const CHUNK = 1 << 20;

/**
 * The entry changed between the directory's listing and the look at it (removed, or replaced by
 * something of another type: a running container's tree): it is left out, as if it had gone first.
 */
function changedMeanwhile(err: unknown): boolean {
  if (isErrno(err, "ENOENT", "ENOTDIR", "ELOOP", "ENXIO")) return true;
  // readlinkat of what is no longer a symlink; openFile of what is no longer a regular file
  return err instanceof NotRegularFile || (isErrno(err, "EINVAL") && (err as { syscall?: string }).syscall === "readlinkat");
}

function readAt(fd: number, buf: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * Walks a tree through directory handles (src/fsroot): each directory is held open and every
 * entry is looked at, opened or read relative to it without following a symlink, so a container
 * swapping a directory for a symlink meanwhile cannot lead the walk out of its tree.
 */
class Walker {
  private readonly links = new Map<string, string>();
  private entries = 0;

  /** Headers of carrier directories not written yet (outermost first). */
  private readonly pending: Buffer[] = [];

  constructor(
    private readonly mode: WalkMode,
    private readonly lowers: Dir[],
    private readonly sink: Sink,
    private readonly skip?: DiffOptions["skip"],
    private readonly carrier?: DiffOptions["carrier"],
    private readonly owner?: DiffOptions["owner"],
  ) {}

  /** Writes an entry's header, after the carrier directories above it. */
  private async emit(header: Buffer): Promise<void> {
    while (this.pending.length > 0) await this.sink.write(this.pending.shift() as Buffer);
    await this.sink.write(header);
  }

  /** Whether a directory of the upper layer has the mode and owner of the one below it. */
  private sameAsLower(rel: string, st: FileStat): boolean {
    for (const l of this.lowers) {
      const below = l.lstatBeneath(rel);
      if (below === undefined) continue;
      const own = this.owner ? this.owner(Number(st.uid), Number(st.gid)) : { uid: Number(st.uid), gid: Number(st.gid) };
      return below.isDirectory() && below.mode === st.mode && Number(below.uid) === own.uid && Number(below.gid) === own.gid;
    }
    return false;
  }

  /** The entry's xattrs (trusted.overlay.* left out) and whether it is an opaque overlay directory. */
  private xattrs(dir: Dir, name: string, rel: string): { xattrs: Map<string, Buffer>; opaque: boolean } {
    let opaque = false;
    const xattrs = dir.xattrs(name, (attr) => {
      // fuse-overlayfs (a rootless daemon's fallback) marks the opaque directories it makes so
      if (attr.startsWith(FUSE_XATTR)) {
        if (this.mode === "upper" && attr === FUSE_OPAQUE && dir.getXattr(name, FUSE_OPAQUE)?.toString() === "y") opaque = true;
        return false;
      }
      if (!attr.startsWith(OVERLAY_XATTR)) return true;
      if (this.mode === "upper") {
        if (attr === `${OVERLAY_XATTR}redirect` || attr === `${OVERLAY_XATTR}metacopy`) {
          throw unsupported(`cannot diff ${rel}: it carries ${attr} (overlay redirect_dir/metacopy), whose content lives in a lower layer`, {
            code: "snapshot.overlay-feature",
            hint: "mount snapshots with redirect_dir=off and metacopy=off",
          });
        }
        if (attr === OPAQUE && dir.getXattr(name, OPAQUE)?.toString() === "y") opaque = true;
      }
      return false;
    });
    return { xattrs, opaque };
  }

  /** Whether a lower layer has something at rel, which a whiteout there would hide. */
  private inLowers(rel: string): boolean {
    if (this.lowers.length === 0) return true; // unknown: keep the whiteout
    return this.lowers.some((l) => l.lstatBeneath(rel) !== undefined);
  }

  private isWhiteout(st: FileStat): boolean {
    return this.mode === "upper" && st.isCharacterDevice() && st.rdev === 0n;
  }

  private async emitWhiteout(relDir: string, name: string, st: FileStat): Promise<void> {
    await this.emit(encodeHeader({ name: relDir + name, type: "file", mode: 0o600, uid: 0, gid: 0, size: 0, mtimeSec: Number(st.mtimeNs / 1_000_000_000n) }));
  }

  /** Walks the directory dir, which is rel ("" or "a/b/") in the tree, emitting its children. */
  async dir(dir: Dir, rel: string): Promise<void> {
    const names = dir.list().sort(byteOrder);
    const stats = new Map<string, FileStat>();
    for (const n of names) {
      try {
        stats.set(n, dir.lstat(n));
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
      }
    }
    const whiteouts = names.filter((n) => stats.has(n) && this.isWhiteout(stats.get(n) as FileStat));
    for (const n of whiteouts) {
      if (this.inLowers(rel + n)) await this.emitWhiteout(rel, `.wh.${n}`, stats.get(n) as FileStat);
    }
    for (const n of names) {
      const st = stats.get(n);
      if (st === undefined || this.isWhiteout(st)) continue;
      // fuse-overlayfs's opaque marker: written as the directory's whiteout (entry())
      if (this.mode === "upper" && n === WH_OPAQUE_FILE && st.isFile()) continue;
      if (++this.entries % ENTRIES_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      try {
        if (this.skip && (await this.skip(rel + n, st, () => listChild(dir, n)))) continue;
        await this.entry(dir, n, rel + n, st);
      } catch (err) {
        if (!changedMeanwhile(err)) throw err;
      }
    }
  }

  /**
   * Emits the entry name of dir (rel in the tree; st its status from the listing). A directory is
   * opened, and a regular file, before anything of it is written: an entry that changed meanwhile
   * throws (changedMeanwhile) and is left out whole, and the header describes what is read.
   */
  private async entry(dir: Dir, name: string, rel: string, listed: FileStat): Promise<void> {
    if (listed.isDirectory()) {
      const sub = dir.child(name);
      try {
        const st = sub.stat();
        const { xattrs, opaque: marked } = this.xattrs(dir, name, rel);
        const opaque = marked || (this.mode === "upper" && hasOpaqueFile(sub));
        const header = encodeHeader({ ...this.base(st), xattrs, name: rel + "/", type: "dir", size: 0 });
        if (this.mode === "upper" && !opaque && xattrs.size === 0 && this.carrier?.(rel) && this.sameAsLower(rel, st)) {
          // written with the first entry below it, if any
          const depth = this.pending.push(header);
          await this.dir(sub, rel + "/");
          if (this.pending.length === depth) this.pending.pop();
          return;
        }
        await this.emit(header);
        if (opaque) await this.emitWhiteout(rel + "/", ".wh..wh..opq", st);
        await this.dir(sub, rel + "/");
      } finally {
        sub.close();
      }
      return;
    }
    if (listed.isSocket()) return;
    if (listed.isFile()) return this.file(dir, name, rel);
    const st = listed;
    const base = { ...this.base(st), xattrs: this.xattrs(dir, name, rel).xattrs };
    // read before the inode is recorded as met: a link that changed meanwhile is left out whole
    const linkname = st.isSymbolicLink() ? dir.readlink(name) : "";
    if (await this.hardlink(st, rel, base)) return;
    if (st.isSymbolicLink()) {
      await this.emit(encodeHeader({ ...base, name: rel, type: "symlink", size: 0, linkname }));
      return;
    }
    if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      const type: TarEntryType = st.isCharacterDevice() ? "char" : st.isBlockDevice() ? "block" : "fifo";
      const dev = type === "fifo" ? {} : { devmajor: major(st.rdev), devminor: minor(st.rdev) };
      await this.emit(encodeHeader({ ...base, name: rel, type, size: 0, ...dev }));
    }
  }

  private base(st: FileStat) {
    const own = this.owner ? this.owner(Number(st.uid), Number(st.gid)) : { uid: Number(st.uid), gid: Number(st.gid) };
    return { mode: Number(st.mode & 0o7777n), uid: own.uid, gid: own.gid, mtimeSec: Number(st.mtimeNs / 1_000_000_000n) };
  }

  /** Writes a hardlink entry when st's inode was met before in the tree (true); else records rel as its first name. */
  private async hardlink(st: FileStat, rel: string, base: ReturnType<Walker["base"]> & { xattrs: Map<string, Buffer> }): Promise<boolean> {
    if (st.nlink <= 1n) return false;
    const key = `${st.dev}:${st.ino}`;
    const first = this.links.get(key);
    if (first === undefined) {
      this.links.set(key, rel);
      return false;
    }
    await this.emit(encodeHeader({ ...base, name: rel, type: "link", size: 0, linkname: first }));
    return true;
  }

  /** A regular file: opened first, its header from the open file's status, its body read from that fd. */
  private async file(dir: Dir, name: string, rel: string): Promise<void> {
    const { fd, stat: st } = dir.openFile(name);
    try {
      const base = { ...this.base(st), xattrs: this.xattrs(dir, name, rel).xattrs };
      if (await this.hardlink(st, rel, base)) return;
      const size = Number(st.size);
      await this.emit(encodeHeader({ ...base, name: rel, type: "file", size }));
      let done = 0;
      while (done < size) {
        // a fresh buffer each time: the sink (and the stream behind it) may keep it
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - done));
        const n = await readAt(fd, buf, done);
        if (n === 0) throw fromErrno(Object.assign(new Error("file shrank while being read"), { code: "EIO" }), `writing layer: reading ${rel}`);
        await this.sink.write(n === buf.length ? buf : buf.subarray(0, n));
        done += n;
      }
      await this.sink.write(Buffer.alloc(padding(size)));
    } finally {
      closeSync(fd);
    }
  }
}

/** The names in the subdirectory name of dir (read through a handle on it, never by path). */
function listChild(dir: Dir, name: string): string[] {
  const sub = dir.child(name);
  try {
    return sub.list();
  } finally {
    sub.close();
  }
}

async function walk(root: string, mode: WalkMode, lowerDirs: string[], out: Writable, opts: DiffOptions): Promise<DiffResult> {
  const sink = new Sink(out, opts.compression ?? "none");
  const lowers: Dir[] = [];
  let top: Dir | undefined;
  try {
    // the root and the lower layers are the daemon's directories: opened by path
    top = Dir.open(root);
    for (const l of lowerDirs) lowers.push(Dir.open(l));
    const st = top.stat();
    if (mode === "upper" && (pathXattr(root, OPAQUE) === "y" || pathXattr(root, FUSE_OPAQUE) === "y" || hasOpaqueFile(top))) {
      await sink.write(encodeHeader({ name: ".wh..wh..opq", type: "file", mode: 0o600, uid: 0, gid: 0, size: 0, mtimeSec: Number(st.mtimeNs / 1_000_000_000n) }));
    }
    await new Walker(mode, lowers, sink, opts.skip, opts.carrier, opts.owner).dir(top, "");
  } catch (err) {
    out.destroy(err as Error);
    throw fromErrno(err, `writing layer from ${root}`);
  } finally {
    top?.close();
    for (const l of lowers) l.close();
  }
  return sink.end();
}

/**
 * Writes the changes recorded in an overlay upper directory as an OCI layer tar to out (which is
 * ended). lowerDirs (nearest first) lets whiteouts that hide nothing be dropped; pass [] to keep
 * every whiteout.
 */
export function diffLayer(upperDir: string, lowerDirs: string[], out: Writable, opts: DiffOptions = {}): Promise<DiffResult> {
  return walk(path.resolve(upperDir), "upper", lowerDirs, out, opts);
}

/** Writes a whole directory tree as a tar to out (which is ended): same format as diffLayer. */
export function tarDirectory(dir: string, out: Writable, opts: DiffOptions = {}): Promise<DiffResult> {
  return walk(path.resolve(dir), "full", [], out, opts);
}
