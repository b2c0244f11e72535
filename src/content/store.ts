// The local content store: verified, content-addressed blobs on disk under an injected root.
//
//   <root>/content/blobs/<alg>/<hex>            committed blobs (read-only files)
//   <root>/content/labels/<alg>/<hex>.json      labels per blob (written atomically)
//   <root>/content/ingest/<sha256(ref)>/        one directory per ingest ref:
//       ref        the ref, for listing
//       data       the bytes written so far
//       startedat  ISO time the ingest began
//       expected   JSON {digest?, size?} the writer declared
//       lock       pid of the process holding the ref (created O_EXCL)
//
// A blob becomes visible only by rename(2) of a fully written, fsynced and verified data file,
// so a crash at any instant (even SIGKILL) leaves either no blob or a complete one; a leftover
// ingest directory is never mistaken for a blob and is resumed or collected later.

import { mkdir, open, readdir, readFile, rm, stat, unlink, chmod, link, type FileHandle } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { createHash, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { conflict, CoveError, fromErrno, invalid, isErrno, notFound, systemError } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { ignored, ignoring, notice } from "../common/ignore.js";
import { DIGEST_ALGORITHMS, parseDigest, validateDigest, type Digest } from "./digest.js";
import { fsyncDir, readIfExists, statIfExists } from "./files.js";
import { ingestDamage, LocalWriter } from "./writer.js";
import { processExists } from "../common/process.js";
import type {
  ChildrenFn,
  CommitOptions,
  ContentWriter,
  Expected,
  GcOptions,
  GcResult,
  Info,
  IngestManager,
  IngestStatus,
  Ingester,
  Labels,
  Manager,
  Provider,
  ReadBlobOptions,
  ReaderAt,
  ReadOptions,
  Usage,
  WriterOptions,
} from "./types.js";

/** Temp files of putBytes in the ingest directory (its listing skips names starting with "."). */
const PUT_BYTES_PREFIX = ".bytes-";

/** Label marking a blob as a GC root by itself (value ignored), as containerd's gc.root. */
export const LABEL_GC_ROOT = "cove.io/gc.root";
/** Labels starting with this prefix name a digest the blob references (kept alive by it). */
export const LABEL_GC_REF_CONTENT = "cove.io/gc.ref.content";

const DEFAULT_INGEST_MAX_AGE_MS = 24 * 60 * 60 * 1000;
const DEFAULT_WAIT_TIMEOUT_MS = 60_000;

function hashRef(ref: string): string {
  return createHash("sha256").update(ref).digest("hex");
}

function validateRef(ref: string): void {
  if (typeof ref !== "string" || ref === "" || ref.length > 1024) {
    throw invalid(`invalid ingest ref ${JSON.stringify(ref)}: a ref is a non-empty string of at most 1024 characters`, {
      field: "ref",
      code: "content.invalid-ref",
    });
  }
}

function validateExpected(expected: Expected | undefined): void {
  if (!expected) return;
  if (expected.digest !== undefined) validateDigest(expected.digest, "expected.digest");
  if (expected.size !== undefined && (!Number.isSafeInteger(expected.size) || expected.size < 0)) {
    throw invalid(`invalid expected size ${expected.size}: a size is a non-negative integer`, { field: "expected.size" });
  }
}

async function dirBytes(dir: string): Promise<{ bytes: number; diskBytes: number }> {
  let bytes = 0;
  let diskBytes = 0;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return { bytes, diskBytes };
    throw err;
  }
  for (const name of entries) {
    const st = await statIfExists(path.join(dir, name));
    if (st?.isFile()) {
      bytes += st.size;
      diskBytes += st.blocks * 512;
    }
  }
  return { bytes, diskBytes };
}

function blobNotFound(digest: Digest): Error {
  return notFound(`content ${digest} not found in the content store`, { code: "content.not-found" });
}

export interface ContentStoreOptions {
  /** The state root; the store lives in `<root>/content`. */
  root: string;
}

export class ContentStore implements Provider, Ingester, IngestManager, Manager {
  readonly dir: string;
  private readonly blobsDir: string;
  private readonly labelsDir: string;
  private readonly ingestDir: string;
  /** Digests committed while a gc runs: sweeping must not remove them. */
  private readonly gcGuards = new Set<Set<Digest>>();

  constructor(options: ContentStoreOptions) {
    this.dir = path.join(options.root, "content");
    this.blobsDir = path.join(this.dir, "blobs");
    this.labelsDir = path.join(this.dir, "labels");
    this.ingestDir = path.join(this.dir, "ingest");
  }

  /** Path of a blob on disk (it may not exist). Validates the digest. */
  blobPath(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return path.join(this.blobsDir, algorithm, hex);
  }

  private labelsPath(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return path.join(this.labelsDir, algorithm, `${hex}.json`);
  }

  private ingestPath(ref: string): string {
    return path.join(this.ingestDir, hashRef(ref));
  }

  // ---------------------------------------------------------------- Provider

  async exists(digest: Digest): Promise<boolean> {
    try {
      const st = await stat(this.blobPath(digest));
      return st.isFile();
    } catch (err) {
      if (isErrno(err, "ENOENT")) return false;
      throw fromErrno(err, `checking content ${digest}`);
    }
  }

  async info(digest: Digest): Promise<Info> {
    const file = this.blobPath(digest);
    let st;
    try {
      st = await stat(file);
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw blobNotFound(digest);
      throw fromErrno(err, `reading content ${digest}`);
    }
    const labels = await this.readLabels(digest);
    const created = st.birthtimeMs > 0 ? st.birthtime : st.mtime;
    let updated = st.mtime;
    const lst = await statIfExists(this.labelsPath(digest));
    if (lst && lst.mtimeMs > updated.getTime()) updated = lst.mtime;
    if (updated < created) updated = created;
    return { digest, size: st.size, createdAt: created, updatedAt: updated, labels };
  }

  async readerAt(digest: Digest): Promise<ReaderAt> {
    let fh: FileHandle;
    try {
      fh = await open(this.blobPath(digest), "r");
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw blobNotFound(digest);
      throw fromErrno(err, `opening content ${digest}`);
    }
    const size = (await fh.stat()).size;
    return {
      size,
      async readAt(buf: Uint8Array, offset: number): Promise<number> {
        if (offset >= size) return 0;
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - offset), offset);
        return bytesRead;
      },
      close: () => fh.close(),
    };
  }

  async createReadStream(digest: Digest, options: ReadOptions = {}): Promise<Readable> {
    let fh: FileHandle;
    try {
      fh = await open(this.blobPath(digest), "r");
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw blobNotFound(digest);
      throw fromErrno(err, `opening content ${digest}`);
    }
    // 1 MiB reads (not 64 KiB): a layer is unpacked or pushed in far fewer thread-pool round trips
    const opts: { start?: number; end?: number; highWaterMark: number } = { highWaterMark: 1 << 20 };
    if (options.start !== undefined) opts.start = options.start;
    if (options.end !== undefined) opts.end = options.end;
    return fh.createReadStream(opts);
  }

  async readBlob(digest: Digest, options: ReadBlobOptions = {}): Promise<Buffer> {
    const { algorithm } = parseDigest(digest);
    const file = this.blobPath(digest);
    if (options.maxSize !== undefined) {
      const st = await stat(file).catch((err: unknown) => {
        if (isErrno(err, "ENOENT")) throw blobNotFound(digest);
        throw fromErrno(err, `reading content ${digest}`);
      });
      if (st.size > options.maxSize) {
        throw invalid(`content ${digest} is ${st.size} bytes, more than the ${options.maxSize} allowed here`, {
          code: "content.too-large",
        });
      }
    }
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw blobNotFound(digest);
      throw fromErrno(err, `reading content ${digest}`);
    }
    const actual = `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
    if (actual !== digest) {
      throw systemError(`content ${digest} is corrupt on disk: its bytes hash to ${actual}`, {
        code: "content.corrupt",
        hint: `remove it (it will be fetched again): rm ${file}`,
      });
    }
    return data;
  }

  // ---------------------------------------------------------------- Manager

  private async readLabels(digest: Digest): Promise<Labels> {
    try {
      const raw = JSON.parse(await readFile(this.labelsPath(digest), "utf8")) as unknown;
      if (raw && typeof raw === "object" && !Array.isArray(raw)) {
        const out: Labels = {};
        for (const [k, v] of Object.entries(raw)) if (typeof v === "string") out[k] = v;
        return out;
      }
      return {};
    } catch (err) {
      if (isErrno(err, "ENOENT")) return {};
      if (err instanceof SyntaxError) return {};
      throw fromErrno(err, `reading labels of content ${digest}`);
    }
  }

  private async writeLabels(digest: Digest, labels: Labels): Promise<void> {
    const file = this.labelsPath(digest);
    if (Object.keys(labels).length === 0) {
      await unlink(file).catch((err: unknown) => {
        if (!isErrno(err, "ENOENT")) throw fromErrno(err, `removing labels of content ${digest}`);
      });
      return;
    }
    await mkdir(path.dirname(file), { recursive: true });
    const sorted: Labels = {};
    for (const k of Object.keys(labels).sort()) sorted[k] = labels[k] as string;
    await writeFileAtomic(file, JSON.stringify(sorted) + "\n");
  }

  async updateLabels(digest: Digest, labels: Record<string, string>): Promise<Info> {
    if (!(await this.exists(digest))) throw blobNotFound(digest);
    const current = await this.readLabels(digest);
    for (const [k, v] of Object.entries(labels)) {
      if (k === "") throw invalid("invalid label: a label key must not be empty", { field: "labels" });
      if (typeof v !== "string") throw invalid(`invalid label ${k}: a label value must be a string`, { field: `labels.${k}` });
      if (v === "") delete current[k];
      else current[k] = v;
    }
    await this.writeLabels(digest, current);
    return this.info(digest);
  }

  private async *blobDigests(): AsyncGenerator<Digest> {
    for (const algorithm of DIGEST_ALGORITHMS) {
      let names: string[];
      try {
        names = await readdir(path.join(this.blobsDir, algorithm));
      } catch (err) {
        if (isErrno(err, "ENOENT")) continue;
        throw fromErrno(err, "listing the content store");
      }
      const want = algorithm === "sha256" ? 64 : 128;
      for (const name of names.sort()) {
        if (name.length === want && /^[a-f0-9]+$/.test(name)) yield `${algorithm}:${name}`;
      }
    }
  }

  async walk(fn: (info: Info) => void | Promise<void>): Promise<void> {
    for await (const digest of this.blobDigests()) {
      let info: Info;
      try {
        info = await this.info(digest);
      } catch (err) {
        // Removed between listing and stat: not an error for a walk.
        if (err instanceof Error && "kind" in err && err.kind === "not-found") continue;
        throw err;
      }
      await fn(info);
    }
  }

  async list(): Promise<Info[]> {
    const out: Info[] = [];
    await this.walk((info) => {
      out.push(info);
    });
    return out;
  }

  async delete(digest: Digest): Promise<void> {
    const file = this.blobPath(digest);
    try {
      await unlink(file);
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw blobNotFound(digest);
      throw fromErrno(err, `deleting content ${digest}`);
    }
    // a blob without labels has no labels file (force); one left behind would label the blob when it comes back
    await rm(this.labelsPath(digest), { force: true }).catch(ignoring(`remove the labels of deleted content ${digest}`));
  }

  // ---------------------------------------------------------------- Ingester

  async writer(ref: string, options: WriterOptions = {}): Promise<ContentWriter> {
    validateRef(ref);
    validateExpected(options.expected);
    const dir = this.ingestPath(ref);
    await mkdir(dir, { recursive: true });
    await this.lockIngest(ref, dir, options);
    try {
      return await LocalWriter.open(this, ref, dir, options.expected);
    } catch (err) {
      await unlink(path.join(dir, "lock")).catch(ignoring(`unlock ingest ${ref} after its writer failed to open`));
      throw err;
    }
  }

  /** Takes the ref's lock file; breaks it only when the process that held it is gone. */
  private async lockIngest(ref: string, dir: string, options: WriterOptions): Promise<void> {
    const lockFile = path.join(dir, "lock");
    const deadline = Date.now() + (options.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS);
    for (;;) {
      try {
        const fh = await open(lockFile, "wx");
        await fh.writeFile(String(process.pid));
        await fh.close();
        return;
      } catch (err) {
        if (isErrno(err, "ENOENT")) {
          // The ingest was committed or aborted under us: recreate its directory and retry.
          await mkdir(dir, { recursive: true });
          continue;
        }
        if (!isErrno(err, "EEXIST")) throw fromErrno(err, `locking ingest ${ref}`);
      }
      const holder = Number.parseInt((await readIfExists(lockFile)) ?? "", 10);
      if (!Number.isInteger(holder) || holder <= 0 || !processExists(holder)) {
        // Stale lock from a crashed writer (or a half-written lock file): break it.
        // A lock file younger than a second with no pid may be mid-creation; give it a moment.
        if (!Number.isInteger(holder)) {
          const st = await statIfExists(lockFile);
          if (st && Date.now() - st.mtimeMs < 1000) {
            await sleep(20);
            continue;
          }
        }
        try {
          await unlink(lockFile);
        } catch (err) {
          // ENOENT: another writer broke it first
          if (!isErrno(err, "ENOENT")) throw fromErrno(err, `breaking the stale lock of ingest ${ref}`);
        }
        continue;
      }
      if (!options.wait || Date.now() >= deadline) {
        throw conflict(`ingest ref "${ref}" is locked: another writer (pid ${holder}) is writing it`, {
          code: "content.ingest-locked",
          hint: "wait for the other writer to finish, or open the writer with { wait: true }",
        });
      }
      await sleep(25);
    }
  }

  // ---------------------------------------------------------------- IngestManager

  private async readIngestStatus(dir: string): Promise<IngestStatus | undefined> {
    let ref: string;
    try {
      ref = await readFile(path.join(dir, "ref"), "utf8");
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw fromErrno(err, `reading ingest ${dir}`);
    }
    const startedRaw = (await readIfExists(path.join(dir, "startedat"))) ?? "";
    const dataSt = await statIfExists(path.join(dir, "data"));
    const dirSt = await statIfExists(dir);
    const expectedRaw = (await readIfExists(path.join(dir, "expected"))) ?? "";
    let expected: Expected | undefined;
    if (expectedRaw) {
      try {
        const e = JSON.parse(expectedRaw) as Expected;
        expected = {};
        if (typeof e.digest === "string") expected.digest = e.digest;
        if (typeof e.size === "number") expected.size = e.size;
      } catch {
        expected = undefined;
      }
    }
    const started = startedRaw ? new Date(startedRaw) : (dirSt?.birthtime ?? new Date(0));
    const status: IngestStatus = {
      ref,
      offset: dataSt?.size ?? 0,
      startedAt: Number.isNaN(started.getTime()) ? new Date(0) : started,
      updatedAt: dataSt?.mtime ?? dirSt?.mtime ?? new Date(0),
    };
    if (expected) status.expected = expected;
    return status;
  }

  async status(ref: string): Promise<IngestStatus> {
    validateRef(ref);
    const st = await this.readIngestStatus(this.ingestPath(ref));
    if (!st) throw notFound(`ingest ref "${ref}" not found`, { code: "content.ingest-not-found" });
    return st;
  }

  async listIngests(): Promise<IngestStatus[]> {
    let names: string[];
    try {
      names = await readdir(this.ingestDir);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw fromErrno(err, "listing ingests");
    }
    const out: IngestStatus[] = [];
    for (const name of names.sort()) {
      const st = await this.readIngestStatus(path.join(this.ingestDir, name));
      if (st) out.push(st);
    }
    return out;
  }

  /** Who holds an ingest dir's lock: a live pid, or undefined if free or stale. */
  private async lockHolder(dir: string): Promise<number | undefined> {
    const raw = await readIfExists(path.join(dir, "lock"));
    if (raw === undefined) return undefined;
    const pid = Number.parseInt(raw, 10);
    return Number.isInteger(pid) && pid > 0 && processExists(pid) ? pid : undefined;
  }

  async abort(ref: string): Promise<void> {
    validateRef(ref);
    const dir = this.ingestPath(ref);
    const st = await statIfExists(dir);
    if (!st) throw notFound(`ingest ref "${ref}" not found`, { code: "content.ingest-not-found" });
    const holder = await this.lockHolder(dir);
    if (holder !== undefined) {
      throw conflict(`cannot abort ingest ref "${ref}": a writer (pid ${holder}) holds it`, {
        code: "content.ingest-locked",
        hint: "close that writer first",
      });
    }
    await rm(dir, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- adopting verified files

  /**
   * Makes an existing file the blob `digest` by hard-linking it into the store, without copying
   * or re-reading its bytes. For callers that already hashed the file while writing it (a staged
   * archive): the caller vouches that its bytes hash to `digest`; the store checks the size,
   * fsyncs the file (unless `synced` says the caller did), makes it read-only and links it in, so
   * the crash guarantee of commit holds (a blob appears only fully written and on disk). The file
   * must not be written to afterwards. Returns false when the blob already existed (nothing
   * changed). Fails with EXDEV when the file is on another filesystem: ingest it with a writer.
   */
  async adopt(file: string, digest: Digest, size: number, options: { synced?: boolean } = {}): Promise<boolean> {
    validateDigest(digest, "digest");
    this.guardCommit(digest);
    const target = this.blobPath(digest);
    if (await this.exists(digest)) return false;
    const fh = await open(file, "r");
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size !== size) {
        throw invalid(`cannot adopt ${file} as content ${digest}: it is ${st.size} bytes, expected ${size}`, { code: "content.size-mismatch" });
      }
      if (!options.synced) await fh.sync();
    } catch (err) {
      throw fromErrno(err, `syncing ${file} for content ${digest}`);
    } finally {
      await fh.close();
    }
    await chmod(file, 0o444);
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await link(file, target);
    } catch (err) {
      if (isErrno(err, "EEXIST")) return false;
      throw fromErrno(err, `committing content ${digest}`);
    }
    await fsyncDir(path.dirname(target));
    return true;
  }

  /**
   * Stores a blob held whole in memory (a manifest, a config): one file written and synced, then
   * linked in as adopt does. No resumable ingest is recorded (lock, ref, expected, started-at and
   * written files, each a write and a rename): for a blob that small there is nothing to resume,
   * and those cost milliseconds per blob on every pull. A crash leaves at most a temp file,
   * which reconcileIngests removes. Returns false when the blob was there already.
   */
  async putBytes(data: Uint8Array, digest: Digest): Promise<boolean> {
    const { algorithm } = parseDigest(digest);
    const actual = `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
    if (actual !== digest) {
      throw invalid(`unexpected digest for a blob of ${data.length} bytes: it hashes to ${actual}, expected ${digest}`, {
        code: "content.digest-mismatch",
        hint: "the source sent different bytes than its descriptor promised; fetch it again",
      });
    }
    if (await this.exists(digest)) return false;
    await mkdir(this.ingestDir, { recursive: true });
    const tmp = path.join(this.ingestDir, `${PUT_BYTES_PREFIX}${process.pid}-${randomBytes(6).toString("hex")}`);
    try {
      const fh = await open(tmp, "wx", 0o444);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return await this.adopt(tmp, digest, data.length, { synced: true });
    } catch (err) {
      throw fromErrno(err, `storing content ${digest}`);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  // ---------------------------------------------------------------- internals for LocalWriter

  /** @internal Called by a writer before it looks at or creates the blob. */
  guardCommit(digest: Digest): void {
    for (const g of this.gcGuards) g.add(digest);
  }

  /** @internal */
  async labelsAfterCommit(digest: Digest, labels: Labels | undefined): Promise<void> {
    if (!labels || Object.keys(labels).length === 0) return;
    await this.updateLabels(digest, labels);
  }

  // ---------------------------------------------------------------- GC and usage

  /**
   * Mark and sweep. Everything reachable from `roots` (and from blobs labelled LABEL_GC_ROOT),
   * following `children` and LABEL_GC_REF_CONTENT* labels, is kept; every other blob is removed.
   * Ingests not written to for `ingestMaxAgeMs` and not held by a live writer are removed too.
   * Blobs committed while the collection runs are kept. If `children` throws, nothing is removed.
   */
  async gc(roots: Iterable<Digest>, children: ChildrenFn, options: GcOptions = {}): Promise<GcResult> {
    const guard = new Set<Digest>();
    this.gcGuards.add(guard);
    try {
      const all = new Map<Digest, Info>();
      await this.walk((info) => {
        all.set(info.digest, info);
      });

      const marked = new Set<Digest>();
      const queue: Digest[] = [];
      const push = (d: Digest) => {
        if (!marked.has(d)) {
          marked.add(d);
          queue.push(d);
        }
      };
      for (const r of roots) push(validateDigest(r, "gc root"));
      for (const info of all.values()) if (LABEL_GC_ROOT in info.labels) push(info.digest);

      while (queue.length > 0) {
        const d = queue.shift() as Digest;
        const info = all.get(d);
        if (!info) continue; // referenced but absent (not pulled, or only partially): nothing to walk
        for (const [k, v] of Object.entries(info.labels)) {
          if (k.startsWith(LABEL_GC_REF_CONTENT)) {
            try {
              push(validateDigest(v));
            } catch (err) {
              // A malformed label value names nothing; ignore it rather than block collection.
              if (!(err instanceof CoveError)) throw err;
              ignored(`follow label ${k} of content ${d}`, err);
            }
          }
        }
        let kids: Iterable<Digest>;
        try {
          kids = await children(d);
        } catch (err) {
          throw systemError(`garbage collection stopped, nothing removed: cannot read the references of ${d}`, {
            cause: err,
            code: "content.gc-children",
            hint: "the blob may be corrupt; check it with the content store's readBlob",
          });
        }
        for (const k of kids) push(validateDigest(k, `reference from ${d}`));
      }

      const result: GcResult = { removed: [], bytesFreed: 0, ingestsRemoved: [], ingestBytesFreed: 0, kept: 0 };
      for (const info of all.values()) {
        if (marked.has(info.digest) || guard.has(info.digest)) {
          result.kept++;
          continue;
        }
        if (!options.dryRun) {
          if (guard.has(info.digest)) continue;
          try {
            await this.delete(info.digest);
          } catch (err) {
            if (err instanceof Error && "kind" in err && err.kind === "not-found") continue;
            throw err;
          }
        }
        result.removed.push(info.digest);
        result.bytesFreed += info.size;
      }

      const ingests = await this.pruneIngests({ ...options, reason: "garbage collection" });
      result.ingestsRemoved = ingests.removed;
      result.ingestBytesFreed = ingests.bytesFreed;
      return result;
    } finally {
      this.gcGuards.delete(guard);
    }
  }

  /**
   * Removes the ingests no live writer holds that were not written to for `ingestMaxAgeMs`
   * (default 24 hours; 0 removes every idle one, as a prune does), except those `keep` names.
   * Each removal is logged.
   */
  async pruneIngests(options: GcOptions & { reason?: string; keep?: (ref: string) => boolean } = {}): Promise<{ removed: string[]; bytesFreed: number }> {
    const out = { removed: [] as string[], bytesFreed: 0 };
    const maxAge = options.ingestMaxAgeMs ?? DEFAULT_INGEST_MAX_AGE_MS;
    const cutoff = Date.now() - maxAge;
    for (const name of await this.ingestNames()) {
      const dir = path.join(this.ingestDir, name);
      const dirSt = await statIfExists(dir);
      if (!dirSt?.isDirectory()) continue;
      const st = await this.readIngestStatus(dir);
      const updated = st ? st.updatedAt.getTime() : dirSt.mtimeMs;
      if (maxAge > 0 && updated > cutoff) continue;
      if (st && options.keep?.(st.ref)) continue;
      if ((await this.lockHolder(dir)) !== undefined) continue;
      const { bytes } = await dirBytes(dir);
      if (!options.dryRun) {
        await rm(dir, { recursive: true, force: true });
        notice(`content: removed the idle ingest ${st?.ref ?? name} (${bytes} bytes, last written ${new Date(updated).toISOString()}) on ${options.reason ?? "prune"}`);
      }
      out.removed.push(st?.ref ?? name);
      out.bytesFreed += bytes;
    }
    return out;
  }

  /**
   * At start: the ingests a crash left are kept for a later pull to resume, unless they are
   * older than the age limit, or their data does not match their record (missing, not a file, or
   * shorter than the bytes the record says were written and synced), which are removed with a
   * log line. Ingests a live process holds are left alone.
   */
  async reconcileIngests(options: { ingestMaxAgeMs?: number } = {}): Promise<{ kept: string[]; removed: string[] }> {
    const out = { kept: [] as string[], removed: [] as string[] };
    const stale = await this.pruneIngests({ ...options, reason: "start (older than the age limit)" });
    out.removed.push(...stale.removed);
    // putBytes's temp files of a process that is gone (a crash between its write and its link)
    for (const name of await readdir(this.ingestDir).catch(() => [] as string[])) {
      const pid = name.startsWith(PUT_BYTES_PREFIX) ? Number(name.slice(PUT_BYTES_PREFIX.length).split("-")[0]) : NaN;
      if (Number.isInteger(pid) && pid !== process.pid && !processExists(pid)) await rm(path.join(this.ingestDir, name), { force: true });
    }
    for (const name of await this.ingestNames()) {
      const dir = path.join(this.ingestDir, name);
      if ((await this.lockHolder(dir)) !== undefined) continue;
      const why = await ingestDamage(dir).catch((err: unknown) => `it cannot be read (${err instanceof Error ? err.message : String(err)})`);
      const ref = (await readIfExists(path.join(dir, "ref")).catch(() => undefined)) ?? name;
      if (why === undefined) {
        out.kept.push(ref);
        continue;
      }
      await rm(dir, { recursive: true, force: true });
      notice(`content: dropped the partial ingest ${ref}: ${why}`);
      out.removed.push(ref);
    }
    return out;
  }

  private async ingestNames(): Promise<string[]> {
    try {
      return (await readdir(this.ingestDir)).filter((n) => !n.startsWith("."));
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw fromErrno(err, "listing ingests");
    }
  }

  /** What the store holds on disk: committed blobs and in-progress ingests. */
  async usage(): Promise<Usage> {
    const usage: Usage = { blobs: { count: 0, bytes: 0, diskBytes: 0 }, ingests: { count: 0, bytes: 0, diskBytes: 0 } };
    for await (const digest of this.blobDigests()) {
      const st = await statIfExists(this.blobPath(digest));
      if (!st) continue;
      usage.blobs.count++;
      usage.blobs.bytes += st.size;
      usage.blobs.diskBytes += st.blocks * 512;
    }
    let names: string[] = [];
    try {
      names = await readdir(this.ingestDir);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw fromErrno(err, "listing ingests");
    }
    for (const name of names) {
      const dir = path.join(this.ingestDir, name);
      const { bytes, diskBytes } = await dirBytes(dir);
      usage.ingests.count++;
      usage.ingests.bytes += bytes;
      usage.ingests.diskBytes += diskBytes;
    }
    return usage;
  }
}

/** A writer holding one ingest ref's lock. */
/** Writes a whole buffer as one blob: open a writer, write, commit. Returns the digest. */
export async function writeBlob(ingester: Ingester, data: Uint8Array, expected: Expected = {}, options: CommitOptions = {}): Promise<Digest> {
  const digest = expected.digest ?? `sha256:${createHash("sha256").update(data).digest("hex")}`;
  const w = await ingester.writer(`write-blob-${digest}`, { expected: { ...expected, digest }, wait: true });
  try {
    await w.write(data);
    return await w.commit(expected.size ?? data.length, digest, options);
  } finally {
    await w.close();
  }
}
