// Content digests as the OCI image spec defines them (descriptor.md, "Digests"):
// `<algorithm>:<encoded>`, where cove verifies sha256 (64 lowercase hex) and sha512 (128 lowercase hex).
// The grammar check follows opencontainers/go-digest so error texts read the same as Docker's.

import { createHash, type Hash } from "node:crypto";
import { invalid, unsupported } from "../common/errors.js";

export type DigestAlgorithm = "sha256" | "sha512";

/** A validated digest string, e.g. "sha256:e3b0c4...". */
export type Digest = string;

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ["sha256", "sha512"];

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

// go-digest's DigestRegexp: algorithm components joined by [+._-], then ':' and the encoded part.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

function isAlgorithm(s: string): s is DigestAlgorithm {
  return s === "sha256" || s === "sha512";
}

/**
 * Parses and validates a digest. Throws an `invalid` CoveError naming the field (default "digest")
 * for a malformed digest, and `unsupported` for a well-formed digest of an algorithm cove lacks.
 */
export function parseDigest(value: unknown, field = "digest"): ParsedDigest {
  if (typeof value !== "string" || value === "") {
    throw invalid(`invalid digest ${JSON.stringify(value)} in ${field}: a digest is a string "<algorithm>:<hex>"`, {
      field,
      code: "digest.invalid",
    });
  }
  if (!DIGEST_GRAMMAR.test(value)) {
    throw invalid(`invalid digest "${value}" in ${field}: invalid checksum digest format`, {
      field,
      code: "digest.invalid",
      hint: 'a digest looks like "sha256:" followed by 64 lowercase hex characters',
    });
  }
  const sep = value.indexOf(":");
  const algorithm = value.slice(0, sep);
  const hex = value.slice(sep + 1);
  if (!isAlgorithm(algorithm)) {
    throw unsupported(`unsupported digest algorithm "${algorithm}" in ${field} (${value})`, {
      field,
      code: "digest.unsupported-algorithm",
      hint: `cove verifies ${DIGEST_ALGORITHMS.join(" and ")} digests`,
    });
  }
  const want = HEX_LENGTH[algorithm];
  if (hex.length !== want) {
    throw invalid(`invalid digest "${value}" in ${field}: invalid checksum digest length (${algorithm} needs ${want} hex characters, got ${hex.length})`, {
      field,
      code: "digest.invalid",
    });
  }
  if (!/^[a-f0-9]+$/.test(hex)) {
    throw invalid(`invalid digest "${value}" in ${field}: invalid checksum digest format (${algorithm} needs lowercase hex)`, {
      field,
      code: "digest.invalid",
    });
  }
  return { algorithm, hex };
}

/** Returns the digest unchanged after validating it (see parseDigest). */
export function validateDigest(value: unknown, field = "digest"): Digest {
  parseDigest(value, field);
  return value as Digest;
}

/** True when `value` is a valid sha256 or sha512 digest. Never throws. */
export function isDigest(value: unknown): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** The digest of a buffer or string (default sha256). */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

/** An incremental digester: feed chunks, read the digest at any point without ending it. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  private hash: Hash;
  private bytes = 0;

  constructor(algorithm: DigestAlgorithm = "sha256") {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  get size(): number {
    return this.bytes;
  }

  /** The digest of everything fed so far (the digester stays usable). */
  digest(): Digest {
    return `${this.algorithm}:${this.hash.copy().digest("hex")}`;
  }
}
