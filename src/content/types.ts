// The content store's small interfaces, in the spirit of containerd's core/content: consumers
// depend on the piece they use (a puller needs an Ingester, an unpacker a Provider, prune a
// Manager), and the local store implements all of them on an injected root directory.

import type { Readable, Writable } from "node:stream";
import type { Digest } from "./digest.js";

/** Labels on a blob, e.g. GC references. Keys and values are plain strings. */
export type Labels = Record<string, string>;

export interface Info {
  digest: Digest;
  size: number;
  /** When the blob was first committed. */
  createdAt: Date;
  /** When the blob or its labels last changed. */
  updatedAt: Date;
  labels: Labels;
}

/** Random access to one blob, like containerd's content.ReaderAt. */
export interface ReaderAt {
  readonly size: number;
  /** Reads up to buf.length bytes at offset; returns the count read (0 at the end). */
  readAt(buf: Uint8Array, offset: number): Promise<number>;
  close(): Promise<void>;
}

export interface ReadOptions {
  /** First byte to read (inclusive). */
  start?: number;
  /** Last byte to read (inclusive), as fs.createReadStream counts it. */
  end?: number;
}

export interface ReadBlobOptions {
  /** Refuse blobs larger than this many bytes (manifests and configs are small). */
  maxSize?: number;
}

export interface Provider {
  info(digest: Digest): Promise<Info>;
  exists(digest: Digest): Promise<boolean>;
  readerAt(digest: Digest): Promise<ReaderAt>;
  createReadStream(digest: Digest, options?: ReadOptions): Promise<Readable>;
  /** Reads a whole blob and verifies it against its digest. */
  readBlob(digest: Digest, options?: ReadBlobOptions): Promise<Buffer>;
}

export interface Expected {
  digest?: Digest;
  size?: number;
}

export interface WriterOptions {
  /** What the caller expects to write: enables early size checks and resumption checks. */
  expected?: Expected;
  /**
   * When another writer holds the ref: false (default) fails at once with a conflict error;
   * true waits until the ref is free (up to `waitTimeoutMs`).
   */
  wait?: boolean;
  waitTimeoutMs?: number;
}

export interface CommitOptions {
  labels?: Labels;
}

export interface IngestStatus {
  ref: string;
  /** Bytes written so far. */
  offset: number;
  expected?: Expected;
  startedAt: Date;
  updatedAt: Date;
}

export interface ContentWriter {
  readonly ref: string;
  /** Bytes written so far, including bytes written before a resume. */
  readonly offset: number;
  write(chunk: Uint8Array): Promise<void>;
  /** The digest of what has been written so far. */
  digest(): Digest;
  status(): Promise<IngestStatus>;
  /**
   * Verifies size and digest, fsyncs and atomically moves the data into the blob store.
   * Returns the committed digest. A blob that already exists is verified and reused.
   */
  commit(expectedSize?: number, expectedDigest?: Digest, options?: CommitOptions): Promise<Digest>;
  /** Releases the ref without committing; written data stays for a later resume. */
  close(): Promise<void>;
  /** A node Writable over this writer, for stream.pipeline. It does not commit. */
  createWriteStream(): Writable;
}

export interface Ingester {
  /** Opens (or resumes) the ingest named `ref`. Only one writer may hold a ref at a time. */
  writer(ref: string, options?: WriterOptions): Promise<ContentWriter>;
}

export interface IngestManager {
  status(ref: string): Promise<IngestStatus>;
  listIngests(): Promise<IngestStatus[]>;
  /** Removes an ingest and its data. Fails with conflict if a live writer holds it. */
  abort(ref: string): Promise<void>;
}

export interface Manager {
  info(digest: Digest): Promise<Info>;
  /** Sets labels; a value of "" removes that label. Returns the new info. */
  updateLabels(digest: Digest, labels: Record<string, string>): Promise<Info>;
  walk(fn: (info: Info) => void | Promise<void>): Promise<void>;
  list(): Promise<Info[]>;
  delete(digest: Digest): Promise<void>;
}

export interface GcOptions {
  /** Ingests not written to since this age (ms) are removed. Default 24 hours. */
  ingestMaxAgeMs?: number;
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
}

export interface GcResult {
  /** Blobs removed (or that would be, on a dry run). */
  removed: Digest[];
  bytesFreed: number;
  /** Refs of the stale ingests removed. */
  ingestsRemoved: string[];
  ingestBytesFreed: number;
  /** Blobs kept because they are reachable. */
  kept: number;
}

export interface Usage {
  blobs: { count: number; bytes: number; diskBytes: number };
  ingests: { count: number; bytes: number; diskBytes: number };
}

/** Returns the digests a blob refers to (a manifest's config and layers, an index's manifests). */
export type ChildrenFn = (digest: Digest) => Promise<Iterable<Digest>>;
