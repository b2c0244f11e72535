// Where the files of an image archive come from, behind one small interface:
//  - StagedArchive: a tar (docker-archive, OCI layout tar; gzip or zstd compressed or not) read
//    once, front to back, into a private staging directory. Every regular file is written under a
//    numbered name (never under the archive's own name, so hostile names cannot place files
//    anywhere) and hashed while it is written; symlinks and hardlinks become aliases that must
//    resolve to a file inside the archive. Names with ".." components are refused.
//  - DirSource: an OCI image layout directory on disk, read in place; paths are resolved with
//    realpath and must stay inside the directory.
// Both check sizes before reading: the staging budget (free disk space by default) bounds what an
// archive may claim, and small JSON files are read with a byte limit.

import { createHash } from "node:crypto";
import { closeSync, createReadStream, openSync, writeSync } from "node:fs";
import { lstat, mkdir, readFile, realpath, rm, statfs } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { CoveError, fromErrno, invalid, isErrno } from "../../common/errors.js";
import { ignoring } from "../../common/ignore.js";
import type { Digest } from "../../content/digest.js";
import { decompress } from "../../snapshots/compress.js";
import { readTar } from "../../snapshots/tar.js";

export interface SourceFile {
  /** Bytes in the file. */
  size: number;
  /** sha256 of the file, when already known (staged archives hash while staging). */
  digest?: Digest;
}

/** Read access to the files of an archive or layout by their names inside it. */
export interface ArchiveSource {
  /** A description of the source for messages ("the archive", "OCI layout /x"). */
  readonly what: string;
  /** The file behind a name (links resolved), or undefined when absent. */
  stat(name: string): Promise<SourceFile | undefined>;
  /** The file's sha256 (computed on demand when not known). */
  digest(name: string): Promise<Digest>;
  /** A stream of the file's bytes. */
  open(name: string): Promise<Readable>;
  /** The whole file; refused when larger than max bytes. */
  read(name: string, max: number): Promise<Buffer>;
  /** The first n bytes (fewer for a short file). */
  head(name: string, n: number): Promise<Buffer>;
  /** Releases what the source holds (a staging directory). */
  close(): Promise<void>;
  /**
   * The source's own private copy of a file, hashed while it was written, when it has one that
   * may be hard-linked into the content store as is (staged archives; never a user's directory).
   */
  privateFile?(name: string): SourceFile & { file: string; digest: Digest };
}

/** Normalizes an archive member name; names that climb out with ".." are refused. */
export function archiveName(name: string, what = "archive member"): string {
  if (name.includes("\0")) throw invalid(`${what} name ${JSON.stringify(name)} contains a NUL byte`, { code: "archive.unsafe-path" });
  const parts: string[] = [];
  for (const p of name.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") {
      throw invalid(`${what} name ${JSON.stringify(name)} contains "..": the archive is malformed or hostile and was not loaded`, {
        code: "archive.unsafe-path",
        hint: "archives written by docker save, skopeo or cove never contain such names",
      });
    }
    parts.push(p);
  }
  return parts.join("/");
}

async function sha256File(file: string): Promise<Digest> {
  const h = createHash("sha256");
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return `sha256:${h.digest("hex")}`;
}

async function readHead(file: string, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let len = 0;
  if (n <= 0) return Buffer.alloc(0);
  for await (const c of createReadStream(file, { start: 0, end: n - 1 })) {
    chunks.push(c as Buffer);
    len += (c as Buffer).length;
  }
  return Buffer.concat(chunks, len);
}

function tooLarge(name: string, size: number, max: number, what: string): CoveError {
  return invalid(`${what}: ${name} is ${size} bytes, more than the ${max} bytes allowed for it`, { code: "archive.too-large" });
}

export interface StageOptions {
  /** Most bytes the staged files may take (default: free space on the staging filesystem less 64 MiB). */
  maxBytes?: number;
  /** Called with byte counts as the archive is read. */
  onBytes?: (bytes: number) => void;
}

/** Chunk size for reading staged files: big chunks mean fewer trips through the tar reader. */
const READ_CHUNK = 1 << 20;

interface StagedFile {
  file: string;
  size: number;
  digest: Digest;
}

/** A tar archive unpacked into a private staging directory (see the header). */
export class StagedArchive implements ArchiveSource {
  readonly what = "the archive";
  private readonly files = new Map<string, StagedFile>();
  private readonly links = new Map<string, { target: string; symbolic: boolean }>();

  private constructor(readonly dir: string) {}

  /** Reads the whole archive into dir (created, must not exist). On failure dir is removed. */
  static async stage(input: Readable | AsyncIterable<Buffer>, dir: string, opts: StageOptions = {}): Promise<StagedArchive> {
    const staged = new StagedArchive(dir);
    try {
      await mkdir(dir, { recursive: false, mode: 0o700 });
      let budget = opts.maxBytes;
      if (budget === undefined) {
        const st = await statfs(dir);
        budget = Math.max(0, Number(st.bavail) * Number(st.bsize) - 64 * 1024 * 1024);
      }
      let used = 0;
      let n = 0;
      for await (const { header, body } of readTar(decompress(input as AsyncIterable<unknown>, "auto"))) {
        const name = archiveName(header.name);
        if (name === "") continue;
        if (header.type === "file") {
          if (header.size > budget - used) {
            throw invalid(
              `archive member ${JSON.stringify(header.name)} claims ${header.size} bytes, more than the ${budget - used} bytes left for staging the archive`,
              { code: "archive.too-large", hint: "free disk space under the state root, or check that the archive is not corrupt" },
            );
          }
          used += header.size;
          const file = path.join(dir, String(n++));
          const h = createHash("sha256");
          // Synchronous writes: each lands in the page cache in microseconds, less than a trip
          // through the thread pool, while the input's next read is already under way.
          const fd = openSync(file, "wx", 0o600);
          let size = 0;
          try {
            for await (const chunk of body) {
              h.update(chunk);
              for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off, size + off);
              size += chunk.length;
              opts.onBytes?.(chunk.length);
            }
          } finally {
            closeSync(fd);
          }
          staged.links.delete(name);
          staged.files.set(name, { file, size, digest: `sha256:${h.digest("hex")}` });
        } else if (header.type === "symlink" || header.type === "link") {
          staged.files.delete(name);
          staged.links.set(name, { target: header.linkname, symbolic: header.type === "symlink" });
        }
        // directories, devices and fifos carry nothing an image archive needs
      }
      return staged;
    } catch (err) {
      await rm(dir, { recursive: true, force: true }).catch(ignoring(`remove the staging directory ${dir} of an unreadable archive`));
      if (err instanceof CoveError) {
        if (err.code === "archive.unsafe-path" || err.code === "archive.too-large") throw err;
        throw invalid(`reading the archive failed: ${err.message}`, { code: "archive.corrupt", cause: err, hint: "the archive is truncated or corrupt" });
      }
      throw fromErrno(err, "reading the archive");
    }
  }

  /** Every regular file's name (links excluded). */
  names(): string[] {
    return [...this.files.keys(), ...this.links.keys()].sort();
  }

  private resolve(name: string): StagedFile | undefined {
    let current = archiveName(name, "referenced file");
    for (let hops = 0; hops < 40; hops++) {
      const f = this.files.get(current);
      if (f) return f;
      const l = this.links.get(current);
      if (!l) return undefined;
      if (l.symbolic) {
        if (l.target.startsWith("/")) {
          throw invalid(`archive member ${JSON.stringify(current)} is a symlink to the absolute path ${JSON.stringify(l.target)}, outside the archive`, { code: "archive.unsafe-path" });
        }
        current = archiveName(path.posix.join(path.posix.dirname(current), l.target), `target of symlink ${JSON.stringify(current)}`);
      } else {
        current = archiveName(l.target, `target of hardlink ${JSON.stringify(current)}`);
      }
    }
    throw invalid(`archive member ${JSON.stringify(name)}: too many levels of links`, { code: "archive.corrupt" });
  }

  async stat(name: string): Promise<SourceFile | undefined> {
    const f = this.resolve(name);
    return f ? { size: f.size, digest: f.digest } : undefined;
  }

  private must(name: string): StagedFile {
    const f = this.resolve(name);
    if (!f) throw invalid(`the archive has no file ${JSON.stringify(name)}`, { code: "archive.missing-file", hint: "the archive is incomplete or was not written by docker save, skopeo or cove" });
    return f;
  }

  async digest(name: string): Promise<Digest> {
    return this.must(name).digest;
  }

  async open(name: string): Promise<Readable> {
    return createReadStream(this.must(name).file, { highWaterMark: READ_CHUNK });
  }

  privateFile(name: string): StagedFile {
    return this.must(name);
  }

  async read(name: string, max: number): Promise<Buffer> {
    const f = this.must(name);
    if (f.size > max) throw tooLarge(name, f.size, max, "refusing to read the archive member");
    return readFile(f.file);
  }

  async head(name: string, n: number): Promise<Buffer> {
    return readHead(this.must(name).file, n);
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** An OCI image layout directory read in place. */
export class DirSource implements ArchiveSource {
  readonly what: string;
  private readonly digests = new Map<string, Digest>();
  private real: string | undefined;

  constructor(readonly dir: string) {
    this.what = `OCI layout ${dir}`;
  }

  private async file(name: string): Promise<string | undefined> {
    if (this.real === undefined) {
      try {
        this.real = await realpath(this.dir);
      } catch (err) {
        throw fromErrno(err, `opening OCI layout ${this.dir}`);
      }
    }
    const rel = archiveName(name, "layout file");
    let p: string;
    try {
      p = await realpath(path.join(this.real, rel));
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
      throw fromErrno(err, `reading ${name} in ${this.what}`);
    }
    if (p !== this.real && !p.startsWith(this.real + path.sep)) {
      throw invalid(`${name} in ${this.what} resolves to ${p}, outside the layout`, { code: "archive.unsafe-path" });
    }
    const st = await lstat(p);
    if (!st.isFile()) return undefined;
    return p;
  }

  private async must(name: string): Promise<string> {
    const f = await this.file(name);
    if (!f) throw invalid(`${this.what} has no file ${name}`, { code: "archive.missing-file" });
    return f;
  }

  async stat(name: string): Promise<SourceFile | undefined> {
    const f = await this.file(name);
    if (!f) return undefined;
    const st = await lstat(f);
    const digest = this.digests.get(f);
    return digest ? { size: st.size, digest } : { size: st.size };
  }

  async digest(name: string): Promise<Digest> {
    const f = await this.must(name);
    let d = this.digests.get(f);
    if (!d) {
      d = await sha256File(f);
      this.digests.set(f, d);
    }
    return d;
  }

  async open(name: string): Promise<Readable> {
    return createReadStream(await this.must(name));
  }

  async read(name: string, max: number): Promise<Buffer> {
    const f = await this.must(name);
    const st = await lstat(f);
    if (st.size > max) throw tooLarge(name, st.size, max, `refusing to read ${this.what}`);
    return readFile(f);
  }

  async head(name: string, n: number): Promise<Buffer> {
    return readHead(await this.must(name), n);
  }

  async close(): Promise<void> {
    // nothing held
  }
}

/** The layout path of a blob: blobs/<alg>/<hex>. */
export function blobPath(digest: Digest): string {
  const i = digest.indexOf(":");
  return `blobs/${digest.slice(0, i)}/${digest.slice(i + 1)}`;
}
