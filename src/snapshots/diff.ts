// Layer diff and directory export: one tree walker that writes an OCI layer tar.
//
// diffLayer reads an overlay upper directory (the changes of one snapshot): overlay whiteouts
// (char device 0:0) become `.wh.<name>` entries and opaque directories (trusted.overlay.opaque=y)
// are followed by `<dir>/.wh..wh..opq`. tarDirectory writes a full tree as it is (container
// export, rootfs import). Both produce deterministic bytes: names sorted bytewise, whiteouts
// before their siblings, mtimes truncated to seconds (as containerd does), no user/group names,
// no atime/ctime, xattrs sorted, trusted.overlay.* skipped, hardlinks detected by inode within
// the tree. Sockets cannot be represented in tar and are skipped.

import { createHash } from "node:crypto";
import { once } from "node:events";
import type { BigIntStats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import { createGzip } from "node:zlib";
import { fromErrno, isErrno, unsupported } from "../common/errors.js";
import { addon } from "../native/addon.js";
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntryType } from "./tar.js";

export interface DiffOptions {
  /** Compress the output with gzip (the digests of both forms are returned). Default "none". */
  compression?: "none" | "gzip";
  /** Leaves out an entry (and, for a directory, everything below it); rel is "a/b" from the root. */
  skip?: (rel: string, abs: string, st: BigIntStats) => boolean | Promise<boolean>;
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

class Walker {
  private readonly links = new Map<string, string>();

  constructor(
    private readonly root: string,
    private readonly mode: WalkMode,
    private readonly lowerDirs: string[],
    private readonly sink: Sink,
    private readonly skip?: DiffOptions["skip"],
  ) {}

  private xattrs(abs: string): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const name of addon().llistxattr(abs)) {
      if (name.startsWith("trusted.overlay.")) {
        if (this.mode === "upper" && (name === "trusted.overlay.redirect" || name === "trusted.overlay.metacopy")) {
          throw unsupported(`cannot diff ${abs}: it carries ${name} (overlay redirect_dir/metacopy), whose content lives in a lower layer`, {
            code: "snapshot.overlay-feature",
            hint: "mount snapshots with redirect_dir=off and metacopy=off",
          });
        }
        continue;
      }
      const v = addon().lgetxattr(abs, name);
      if (v !== null) out.set(name, v);
    }
    return out;
  }

  private async inLowers(rel: string): Promise<boolean> {
    if (this.lowerDirs.length === 0) return true; // unknown: keep the whiteout
    for (const lower of this.lowerDirs) {
      try {
        await lstat(path.join(lower, rel));
        return true;
      } catch (err) {
        if (!isErrno(err, "ENOENT", "ENOTDIR")) throw err;
      }
    }
    return false;
  }

  private isWhiteout(st: BigIntStats): boolean {
    return this.mode === "upper" && st.isCharacterDevice() && st.rdev === 0n;
  }

  private async emitWhiteout(relDir: string, name: string, st: BigIntStats): Promise<void> {
    await this.sink.write(
      encodeHeader({ name: relDir + name, type: "file", mode: 0o600, uid: 0, gid: 0, size: 0, mtimeSec: Number(st.mtimeNs / 1_000_000_000n) }),
    );
  }

  /** Walks the directory rel ("" or "a/b/"), emitting its children. */
  async dir(rel: string): Promise<void> {
    const absDir = path.join(this.root, rel);
    const names = (await readdir(absDir)).sort(byteOrder);
    const stats = new Map<string, BigIntStats>();
    for (const n of names) stats.set(n, await lstat(path.join(absDir, n), { bigint: true }));
    const whiteouts = names.filter((n) => this.isWhiteout(stats.get(n) as BigIntStats));
    for (const n of whiteouts) {
      if (await this.inLowers(rel + n)) await this.emitWhiteout(rel, `.wh.${n}`, stats.get(n) as BigIntStats);
    }
    for (const n of names) {
      const st = stats.get(n) as BigIntStats;
      if (this.isWhiteout(st)) continue;
      if (this.skip && (await this.skip(rel + n, path.join(absDir, n), st))) continue;
      await this.entry(rel + n, path.join(absDir, n), st);
    }
  }

  async entry(rel: string, abs: string, st: BigIntStats): Promise<void> {
    const base = {
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeSec: Number(st.mtimeNs / 1_000_000_000n),
      xattrs: this.xattrs(abs),
    };
    if (st.isDirectory()) {
      await this.sink.write(encodeHeader({ ...base, name: rel + "/", type: "dir", size: 0 }));
      if (this.mode === "upper" && addon().lgetxattr(abs, "trusted.overlay.opaque")?.toString() === "y") {
        await this.emitWhiteout(rel + "/", ".wh..wh..opq", st);
      }
      return this.dir(rel + "/");
    }
    if (st.isSocket()) return;
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        await this.sink.write(encodeHeader({ ...base, name: rel, type: "link", size: 0, linkname: first }));
        return;
      }
      this.links.set(key, rel);
    }
    if (st.isSymbolicLink()) {
      await this.sink.write(encodeHeader({ ...base, name: rel, type: "symlink", size: 0, linkname: await readlink(abs) }));
      return;
    }
    if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      const type: TarEntryType = st.isCharacterDevice() ? "char" : st.isBlockDevice() ? "block" : "fifo";
      const dev = type === "fifo" ? {} : { devmajor: major(st.rdev), devminor: minor(st.rdev) };
      await this.sink.write(encodeHeader({ ...base, name: rel, type, size: 0, ...dev }));
      return;
    }
    if (!st.isFile()) return;
    const size = Number(st.size);
    await this.sink.write(encodeHeader({ ...base, name: rel, type: "file", size }));
    const fh = await open(abs, "r");
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let done = 0;
      while (done < size) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - done), done);
        if (bytesRead === 0) throw fromErrno(Object.assign(new Error("file shrank while being read"), { code: "EIO" }), `writing layer: reading ${abs}`);
        await this.sink.write(Buffer.from(buf.subarray(0, bytesRead)));
        done += bytesRead;
      }
    } finally {
      await fh.close();
    }
    await this.sink.write(Buffer.alloc(padding(size)));
  }
}

async function walk(root: string, mode: WalkMode, lowerDirs: string[], out: Writable, opts: DiffOptions): Promise<DiffResult> {
  const sink = new Sink(out, opts.compression ?? "none");
  const walker = new Walker(root, mode, lowerDirs, sink, opts.skip);
  try {
    const st = await lstat(root, { bigint: true });
    if (!st.isDirectory()) throw fromErrno(Object.assign(new Error("not a directory"), { code: "ENOTDIR" }), `writing layer from ${root}`);
    if (mode === "upper" && addon().lgetxattr(root, "trusted.overlay.opaque")?.toString() === "y") {
      await sink.write(encodeHeader({ name: ".wh..wh..opq", type: "file", mode: 0o600, uid: 0, gid: 0, size: 0, mtimeSec: Number(st.mtimeNs / 1_000_000_000n) }));
    }
    await walker.dir("");
  } catch (err) {
    out.destroy(err as Error);
    throw fromErrno(err, `writing layer from ${root}`);
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
