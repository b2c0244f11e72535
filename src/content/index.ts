// Public entry of the content store: digests, the store's interfaces and the local implementation.

export {
  DIGEST_ALGORITHMS,
  Digester,
  digestOf,
  isDigest,
  parseDigest,
  validateDigest,
  type Digest,
  type DigestAlgorithm,
  type ParsedDigest,
} from "./digest.js";
export { ContentStore, LABEL_GC_REF_CONTENT, LABEL_GC_ROOT, writeBlob, type ContentStoreOptions } from "./store.js";
export { PieceBuffer } from "./writer.js";
export type {
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
