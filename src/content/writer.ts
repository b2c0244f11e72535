// A writer of one ingest (the store's `writer`): bytes appended to <ingest>/data while digested,
// the status kept beside it so an interrupted ingest resumes, and a commit that checks size and
// digest before the blob is renamed into place.
//
// Resuming across a crash (even SIGKILL of the daemon): the data file holds the bytes, and
// <ingest>/written records how many of them were synced to disk (updated every
// CHECKPOINT_BYTES, in the background: the download goes on while the kernel writes back, and the
// record is written only once the data it vouches for is synced, so it never claims more than the
// disk holds). The hash state is not saved: a resumed writer re-hashes the data file and
// continues from its end (the bytes on disk are the truth; the commit's digest check catches any
// that are wrong). A data file that does not match its record (shorter than the synced bytes, not
// a regular file, or unreadable) is dropped with a log line and the ingest starts over.

import { mkdir, open, readFile, rename, rm, stat, chmod, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { conflict, fromErrno, invalid, isErrno } from "../common/errors.js";
import { writeFileAtomic, replaceFile } from "../common/fs.js";
import { ignored, ignoring, notice } from "../common/ignore.js";
import { Digester, parseDigest, validateDigest, type Digest, type DigestAlgorithm } from "./digest.js";
import { fsyncDir, hashFile, readIfExists, statIfExists } from "./files.js";
import type { ContentStore } from "./store.js";
import type { CommitOptions, ContentWriter, Expected, IngestStatus } from "./types.js";

/**
 * The data is synced and the record of written bytes updated every this many bytes. Each sync
 * makes the disk busy while the pull downloads and unpacks; 8 MiB made a 200 MB pull sync 25 times.
 */
export const CHECKPOINT_BYTES = 32 * 1024 * 1024;

/** The synced bytes an ingest's record vouches for (0 without a record or with a damaged one). */
async function recordedBytes(dir: string): Promise<number> {
  const raw = await readIfExists(path.join(dir, "written"));
  const n = raw === undefined ? 0 : Number.parseInt(raw, 10);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** Why an ingest's data cannot be resumed (it does not match its record), or undefined when it can. */
export async function ingestDamage(dir: string): Promise<string | undefined> {
  const recorded = await recordedBytes(dir);
  const st = await statIfExists(path.join(dir, "data"));
  if (!st) return recorded > 0 ? `its data file is missing, its record says ${recorded} bytes were written` : undefined;
  if (!st.isFile()) return "its data is not a regular file";
  if (st.size < recorded) return `its data file holds ${st.size} bytes, fewer than the ${recorded} its record says were written`;
  return undefined;
}

export class LocalWriter implements ContentWriter {
  readonly ref: string;
  private readonly store: ContentStore;
  private readonly dir: string;
  private fh: FileHandle | undefined;
  private digester: Digester;
  private written: number;
  private readonly expected: Expected | undefined;
  private closed = false;
  /** The written bytes the record on disk vouches for. */
  private checkpointed: number;
  private pending: Promise<void> = Promise.resolve();
  /** The checkpoint under way in the background, if any. */
  private syncing: Promise<void> | undefined;
  /** Why the last background checkpoint failed: the next write or the commit reports it. */
  private syncFailure: unknown;

  private constructor(store: ContentStore, ref: string, dir: string, fh: FileHandle, digester: Digester, offset: number, expected: Expected | undefined) {
    this.store = store;
    this.ref = ref;
    this.dir = dir;
    this.fh = fh;
    this.digester = digester;
    this.written = offset;
    this.checkpointed = offset;
    this.expected = expected;
  }

  /** Opens or resumes the ingest in `dir`; the caller holds its lock. */
  static async open(store: ContentStore, ref: string, dir: string, expected: Expected | undefined): Promise<LocalWriter> {
    const dataFile = path.join(dir, "data");
    const expectedFile = path.join(dir, "expected");
    let previous: Expected | undefined;
    try {
      previous = JSON.parse(await readFile(expectedFile, "utf8")) as Expected;
    } catch {
      previous = undefined;
    }
    // Data that does not match its record cannot be continued: drop it, say so, start over.
    const damage = await ingestDamage(dir).catch((err: unknown) => `it cannot be read (${err instanceof Error ? err.message : String(err)})`);
    if (damage !== undefined) await dropData(dir, ref, damage);
    const exists = await stat(dataFile).then(
      () => true,
      () => false,
    );
    // A ref reused for different content: what was written belongs to something else; start over.
    const mismatch =
      exists &&
      expected !== undefined &&
      ((expected.digest !== undefined && previous?.digest !== undefined && previous.digest !== expected.digest) ||
        (expected.size !== undefined && previous?.size !== undefined && previous.size !== expected.size));
    if (mismatch) await dropData(dir, ref);
    // ref, startedat and expected only help a resume (a crash may lose them: the commit verifies
    // the bytes whatever they say), so they are not synced to the disk
    if (!exists || mismatch) {
      await replaceFile(path.join(dir, "ref"), ref);
      await replaceFile(path.join(dir, "startedat"), new Date().toISOString());
    }
    if (expected && (expected.digest !== undefined || expected.size !== undefined)) {
      await replaceFile(expectedFile, JSON.stringify(expected));
    }
    const effective = expected ?? previous;
    const algorithm: DigestAlgorithm = effective?.digest ? parseDigest(effective.digest).algorithm : "sha256";
    let fh = await open(dataFile, "a+");
    try {
      // Resume: re-hash what is already there (hash state cannot be saved across processes).
      let digester = new Digester(algorithm);
      let pos = 0;
      try {
        const size = (await fh.stat()).size;
        const buf = Buffer.allocUnsafe(1 << 20);
        while (pos < size) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
          if (bytesRead === 0) break;
          digester.update(buf.subarray(0, bytesRead));
          pos += bytesRead;
        }
        if (pos < size) throw new Error(`read ${pos} of its ${size} bytes`);
      } catch (err) {
        // Unreadable: what is there cannot be trusted or continued.
        await fh.close().catch(ignoring(`close the unreadable data file of ingest ${ref}`));
        await dropData(dir, ref, `its data file cannot be read (${err instanceof Error ? err.message : String(err)})`);
        fh = await open(dataFile, "a+");
        digester = new Digester(algorithm);
        pos = 0;
      }
      if (effective?.size !== undefined && pos > effective.size) {
        // More data than expected: it cannot become the expected blob. Start over.
        await fh.truncate(0);
        await rm(path.join(dir, "written"), { force: true });
        return new LocalWriter(store, ref, dir, fh, new Digester(algorithm), 0, effective);
      }
      return new LocalWriter(store, ref, dir, fh, digester, pos, effective);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get offset(): number {
    return this.written;
  }

  private ensureOpen(): FileHandle {
    if (this.closed || !this.fh) {
      throw conflict(`ingest writer for "${this.ref}" is closed`, { code: "content.writer-closed", hint: "open a new writer to resume" });
    }
    return this.fh;
  }

  write(chunk: Uint8Array): Promise<void> {
    const run = async () => {
      const fh = this.ensureOpen();
      this.throwSyncFailure();
      if (this.expected?.size !== undefined && this.written + chunk.length > this.expected.size) {
        throw invalid(
          `write to ingest "${this.ref}" exceeds the expected size: ${this.written + chunk.length} bytes > ${this.expected.size}`,
          { code: "content.size-exceeded" },
        );
      }
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, this.written + done);
        done += bytesWritten;
      }
      this.digester.update(chunk);
      this.written += chunk.length;
      if (this.written - this.checkpointed >= CHECKPOINT_BYTES && !this.syncing) this.checkpoint(fh);
    };
    // Serialize writes so the digest sees bytes in file order even if callers do not await.
    const p = this.pending.then(run);
    // the caller gets the failure through p; pending only keeps the order
    this.pending = p.catch(() => undefined);
    return p;
  }

  /**
   * Starts syncing the data written so far and then recording how many bytes are on disk, so a
   * crash can resume from there. Writes go on meanwhile (the sync covers at least the bytes
   * written before it began, the record names only those); a failure is reported by the next
   * write or the commit.
   */
  private checkpoint(fh: FileHandle): void {
    const bytes = this.written;
    this.syncing = (async () => {
      try {
        try {
          await fh.datasync();
        } catch (err) {
          throw fromErrno(err, `syncing ingest "${this.ref}"`);
        }
        await writeFileAtomic(path.join(this.dir, "written"), String(bytes));
        this.checkpointed = bytes;
      } catch (err) {
        this.syncFailure = err;
      } finally {
        this.syncing = undefined;
      }
    })();
  }

  /** Waits for the background checkpoint, if one runs. */
  private async settle(): Promise<void> {
    while (this.syncing) await this.syncing;
  }

  private throwSyncFailure(): void {
    if (this.syncFailure === undefined) return;
    const err = this.syncFailure;
    this.syncFailure = undefined;
    throw err;
  }

  digest(): Digest {
    return this.digester.digest();
  }

  async status(): Promise<IngestStatus> {
    await this.pending;
    await this.settle();
    return this.store.status(this.ref);
  }

  private async release(removeIngest: boolean): Promise<void> {
    this.closed = true;
    await this.settle();
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.close().catch(ignoring(`close the data file of ingest ${this.ref}`));
    if (removeIngest) await rm(this.dir, { recursive: true, force: true });
    else await rm(path.join(this.dir, "lock"), { force: true }).catch(ignoring(`unlock ingest ${this.ref}`));
  }

  async commit(expectedSize?: number, expectedDigest?: Digest, options: CommitOptions = {}): Promise<Digest> {
    await this.pending;
    await this.settle();
    const fh = this.ensureOpen();
    this.throwSyncFailure();
    const wantSize = expectedSize ?? this.expected?.size;
    const wantDigest = expectedDigest ?? this.expected?.digest;
    if (wantDigest !== undefined) validateDigest(wantDigest, "expected digest");

    if (wantSize !== undefined && this.written !== wantSize) {
      if (this.written < wantSize) {
        // Incomplete: keep the data and the lock, the caller may write the rest and commit again.
        throw invalid(`unexpected commit size for ingest "${this.ref}": ${this.written} bytes written, expected ${wantSize}`, {
          code: "content.size-mismatch",
          hint: "write the remaining bytes, or abort the ingest",
        });
      }
      await this.release(true);
      throw invalid(`unexpected commit size for ingest "${this.ref}": ${this.written} bytes written, expected ${wantSize}; the ingest was discarded`, {
        code: "content.size-mismatch",
      });
    }

    let actual = this.digester.digest();
    if (wantDigest !== undefined && parseDigest(wantDigest).algorithm !== this.digester.algorithm) {
      actual = (await hashFile(path.join(this.dir, "data"), parseDigest(wantDigest).algorithm)).digest;
    }
    if (wantDigest !== undefined && actual !== wantDigest) {
      await this.release(true);
      throw invalid(`unexpected commit digest for ingest "${this.ref}": the data hashes to ${actual}, expected ${wantDigest}; the ingest was discarded`, {
        code: "content.digest-mismatch",
        hint: "the source sent different bytes than its descriptor promised; fetch it again",
      });
    }

    const digest = actual;
    this.store.guardCommit(digest);
    const target = this.store.blobPath(digest);

    // Already there: verify it and reuse it without rewriting.
    const existing = await statIfExists(target);
    if (existing?.isFile() && existing.size === this.written) {
      // one that cannot be read back is rewritten below
      const check = await hashFile(target, parseDigest(digest).algorithm).catch((err: unknown) => {
        if (!isErrno(err, "ENOENT")) ignored(`verify the stored copy of ${digest}`, err);
        return undefined;
      });
      if (check && check.digest === digest) {
        await this.release(true);
        await this.store.labelsAfterCommit(digest, options.labels);
        return digest;
      }
    }

    try {
      await fh.sync();
    } catch (err) {
      throw fromErrno(err, `syncing ingest "${this.ref}"`);
    }
    await fh.close();
    this.fh = undefined;
    const dataFile = path.join(this.dir, "data");
    await chmod(dataFile, 0o444);
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await rename(dataFile, target);
    } catch (err) {
      await this.release(false);
      throw fromErrno(err, `committing content ${digest}`);
    }
    await fsyncDir(path.dirname(target));
    await this.release(true);
    await this.store.labelsAfterCommit(digest, options.labels);
    return digest;
  }

  async close(): Promise<void> {
    // a failed write was reported to whoever made it; close only waits for the writes to end
    await this.pending.catch(() => undefined);
    if (this.closed) return;
    await this.release(false);
  }

  createWriteStream(): Writable {
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.write(chunk).then(
          () => cb(),
          (err: Error) => cb(err),
        );
      },
    });
  }
}

/** Removes an ingest's data and its record (the ingest starts over); with a reason, logs it. */
async function dropData(dir: string, ref: string, reason?: string): Promise<void> {
  await rm(path.join(dir, "data"), { recursive: true, force: true });
  await rm(path.join(dir, "written"), { force: true });
  if (reason !== undefined) notice(`content: dropped the partial data of ingest ${ref}, starting it over: ${reason}`);
}

/**
 * Gathers small chunks (the network's 16–64 KiB ones) into pieces of at least `size` bytes for
 * `write`: each write to a content writer costs a thread-pool round trip.
 */
export class PieceBuffer {
  private pending: Uint8Array[] = [];
  private bytes = 0;

  constructor(
    private readonly size: number,
    private readonly write: (piece: Uint8Array) => Promise<void>,
  ) {}

  /** Bytes gathered and not yet written. */
  get buffered(): number {
    return this.bytes;
  }

  async add(chunk: Uint8Array): Promise<void> {
    this.pending.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= this.size) await this.flush();
  }

  /** Writes what is gathered (also after a failure: what arrived is kept). */
  async flush(): Promise<void> {
    if (this.bytes === 0) return;
    const piece = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.bytes);
    this.pending = [];
    this.bytes = 0;
    await this.write(piece);
  }
}
