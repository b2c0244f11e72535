// A distribution client for one repository of one registry (OCI distribution spec): manifests by
// tag or digest with the Accept headers of OCI and Docker schema 2 documents, blobs streamed
// through digest verification into the content store, tag lists; and for a push, blob existence
// (HEAD), cross-repository mounts, uploads (one PUT, or PATCH chunks with Content-Range and a
// closing PUT ?digest=) and manifest PUTs.
//
// Transport, as Docker's client does it:
//  - endpoint: docker.io is served by registry-1.docker.io; a registry on a loopback address
//    (127.0.0.0/8, ::1, localhost) or matched by `insecureRegistries` (config.ts; a host name is
//    resolved to match the CIDRs) is reached over plain HTTP, every other one over HTTPS.
//  - HTTP: node:http/https (http.ts), so any port works, as with dockerd.
//  - auth: a 401 names its challenges (auth.ts); the client answers Bearer with a token from the
//    challenge's realm for this repository's pull scope (pull,push for a push, plus pull on the
//    repositories it mounts from), and Basic with the credentials it holds, then repeats the
//    request once (its body too). Tokens are cached until they expire. Credentials go to the
//    registry's origin only.
//  - redirects (registries send blobs to object storage) are followed by hand, at most 10, and the
//    Authorization header is dropped when a redirect leaves the registry's origin.
//  - retries: connection failures, timeouts (no bytes for idleTimeoutMs), 5xx and 429 are retried
//    with back-off; a blob whose connection ended early resumes where it stopped with a Range
//    request (or skips what it has when the server ignores the Range), so an interrupted layer is
//    not downloaded twice.
//
// Nothing half-written becomes a blob: bytes go to a content-store ingest, which commits only when
// size and digest match the descriptor; on failure the ingest is aborted.

import { setTimeout as sleep } from "node:timers/promises";
import { CoveError, invalid } from "../common/errors.js";
import { bestEffort } from "../common/ignore.js";
import { Digester, parseDigest, type Digest } from "../content/digest.js";
import type { Ingester, IngestManager, Provider } from "../content/types.js";
import { PieceBuffer } from "../content/writer.js";
import { basicAuthorization, parseChallenges, type AuthConfig, type Challenge } from "./auth.js";
import { isInsecureRegistry, type HostResolver } from "./config.js";
import { parseErrorBody, RegistryError, TokenRefusedError, tokenErrorText } from "./errors.js";
import { httpRequest, type HttpResponse } from "./http.js";

export const DOCKER_HUB_DOMAIN = "docker.io";
export const DOCKER_HUB_REGISTRY = "registry-1.docker.io";

/** Media types asked for when fetching a manifest, best first (as containerd and Docker send them). */
export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];

/** The largest manifest or index read (Docker's limit). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface RegistryOptions {
  /** Registries reached over plain HTTP besides loopback ones: host[:port] names and CIDRs (config.ts). */
  insecureRegistries?: string[];
  /** Mirrors of Docker Hub ("https://mirror.local/"), tried in order before it for pulls. */
  mirrors?: string[];
  /**
   * The delays before each retry of a blob, in ms (default 500, 1000, 2000, 4000: five attempts
   * in all); manifest and tag requests use the first two.
   */
  retryDelaysMs?: number[];
  /** Blobs up to this size are pushed in one request; larger ones in chunks of it (default 8 MiB). */
  uploadChunkBytes?: number;
  /** A request fails (and is retried) when no byte arrives for this long (default 60 s). */
  idleTimeoutMs?: number;
  userAgent?: string;
  /** Finds a registry host's addresses, to match them against the insecure CIDRs (default: the system's resolver). */
  resolveHost?: HostResolver;
}

export interface RepositoryClientOptions extends RegistryOptions {
  auth?: AuthConfig;
  /** Ask tokens for push as well as pull (a push's client). */
  push?: boolean;
  /** The base URL to reach instead of the registry's own (a mirror: "http://127.0.0.1:5001"). */
  endpoint?: string;
  /** Cancels every request of this client. */
  signal?: AbortSignal;
  /** The token scopes to ask for instead of the repository's ("registry:catalog:*" for a catalog). */
  scopes?: string[];
}

export interface FetchedManifest {
  bytes: Buffer;
  /** The Content-Type the registry served it as (without parameters), if any. */
  mediaType: string | undefined;
  /** The digest of the bytes (checked against the digest asked for or the Docker-Content-Digest header). */
  digest: Digest;
}

export interface BlobTarget {
  digest: Digest;
  size: number;
}

/** Where blobs go: a content store's ingests. */
export type BlobSink = Ingester &
  Pick<IngestManager, "abort"> &
  Pick<Provider, "exists"> & {
    /** Stores a whole small blob in one write (ContentStore.putBytes); without it every blob goes through an ingest. */
    putBytes?(data: Uint8Array, digest: Digest): Promise<boolean>;
  };

/** What a download writes into: a content ingest, or memory for a small blob. */
interface DownloadTarget {
  readonly offset: number;
  write(data: Uint8Array): Promise<void>;
}

class MemoryTarget implements DownloadTarget {
  offset = 0;
  private readonly chunks: Buffer[] = [];
  async write(data: Uint8Array): Promise<void> {
    this.chunks.push(Buffer.from(data)); // a copy: the piece's buffer may be reused
    this.offset += data.length;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface FetchBlobOptions {
  /** Bytes received so far (resumed bytes included) and the total. */
  onProgress?: (current: number, total: number) => void;
  /** Called before a retry, with the attempt number (1 for the first retry) and the delay. */
  onRetry?: (attempt: number, delayMs: number, cause: Error) => void;
  /**
   * Each piece of the blob as it is written to the sink, with its offset in the blob (a resumed
   * or restarted download starts again at an offset other than the next expected one), before
   * the blob is verified; the download waits for what this returns (backpressure).
   */
  onData?: (chunk: Uint8Array, offset: number) => void | Promise<void>;
}

const DEFAULT_RETRY_DELAYS = [500, 1000, 2000, 4000];
const DEFAULT_CHUNK = 8 * 1024 * 1024;
/** A downloaded blob is written to the sink in pieces of about this size. */
const WRITE_PIECE = 1024 * 1024;
/** Blobs up to this size (configs, small layers) are downloaded into memory and stored in one write: nothing to resume. */
const SMALL_BLOB_BYTES = 1024 * 1024;
const DEFAULT_IDLE_TIMEOUT = 60_000;
const MAX_REDIRECTS = 10;

/** The host part of "host[:port]" (brackets of an IPv6 address removed). */
function hostOf(domain: string): string {
  if (domain.startsWith("[")) return domain.slice(1, domain.indexOf("]"));
  const colon = domain.lastIndexOf(":");
  return colon === -1 ? domain : domain.slice(0, colon);
}

/** Whether Docker would treat this registry as insecure by default (a loopback address). */
export function isLoopbackRegistry(domain: string): boolean {
  const host = hostOf(domain).toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The base URL of a registry: "https://registry-1.docker.io", "http://127.0.0.1:5000" (a host name may be resolved to decide). */
export async function registryBaseUrl(domain: string, options: RegistryOptions = {}): Promise<string> {
  const host = domain === DOCKER_HUB_DOMAIN || domain === "index.docker.io" ? DOCKER_HUB_REGISTRY : domain;
  const insecure = isLoopbackRegistry(domain) || (await isInsecureRegistry(domain, options));
  return `${insecure ? "http" : "https"}://${host}`;
}

/** Thrown inside an attempt when a blob's body ended before its size: the attempt is retried from where it stopped. */
class Truncated extends Error {
  constructor(
    readonly got: number,
    readonly want: number,
  ) {
    super(`the connection ended after ${got} of ${want} bytes`);
  }
}

/** An error of the network or the connection (not an answer of the registry). */
function describeNetworkError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 4; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    const text = e.message && e.message !== "fetch failed" ? e.message : "";
    if (text && !parts.some((p) => p.includes(text))) parts.push(code && !text.includes(code) ? `${code}: ${text}` : text);
    e = e.cause;
  }
  return parts.join(": ") || String(err);
}

function retryable(err: unknown): boolean {
  if (err instanceof RegistryError) return err.status >= 500 || err.status === 429;
  if (err instanceof CoveError) return false;
  return true; // connection refused or reset, timeouts, a body cut short
}

function mediaTypeOf(res: HttpResponse): string | undefined {
  const ct = res.header("content-type");
  if (!ct) return undefined;
  return ct.split(";")[0]!.trim() || undefined;
}

function readLimited(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  return res.bytes(limit, () => invalid(`${what} is larger than ${limit} bytes: refusing it`, { code: "registry.too-large" }));
}

/** A client for one repository ("library/busybox") of one registry ("docker.io", "127.0.0.1:5000"). */
export class RepositoryClient {
  /** The registry's base URL, once decided (deciding may resolve its name). */
  private base: Promise<string> | undefined;
  private resolvedBase: string | undefined;
  /** The token scopes asked for: this repository's, and those of repositories blobs are mounted from. */
  private readonly scopes: string[];
  private readonly retryDelays: number[];
  private readonly idleTimeout: number;
  private readonly userAgent: string;
  /** The challenge this registry answered with, once it did. */
  private challenge: Challenge | undefined;
  private token: { value: string; expiresAt: number } | undefined;

  constructor(
    readonly domain: string,
    readonly repository: string,
    private readonly options: RepositoryClientOptions = {},
  ) {
    this.scopes = options.scopes ?? [`repository:${repository}:${options.push ? "pull,push" : "pull"}`];
    this.retryDelays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS;
    this.idleTimeout = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT;
    this.userAgent = options.userAgent ?? "cove";
  }

  /** The registry's base URL: "http://127.0.0.1:5000", "https://registry-1.docker.io", or the endpoint given. */
  baseUrl(): Promise<string> {
    this.base ??= (async () => {
      const endpoint = this.options.endpoint;
      this.resolvedBase = endpoint !== undefined ? endpoint.replace(/\/+$/, "") : await registryBaseUrl(this.domain, this.options);
      return this.resolvedBase;
    })();
    return this.base;
  }

  private async url(kind: "manifests" | "blobs" | "tags", ref?: string): Promise<string> {
    const base = await this.baseUrl();
    return kind === "tags" ? `${base}/v2/${this.repository}/tags/list` : `${base}/v2/${this.repository}/${kind}/${ref}`;
  }

  // ------------------------------------------------------------------ manifests and tags

  /**
   * Fetches a manifest or index by tag or digest. A tag is first resolved to its digest with a
   * HEAD request (as Docker's client does; a registry that answers HEAD without a digest, or with
   * an error, is then asked with a GET, which carries the error's details). By digest, the bytes
   * must hash to it; by tag, to the Docker-Content-Digest header when the registry sends one.
   * `expectedSize` (from a parent index) must match too.
   */
  async getManifest(reference: string, expectedSize?: number): Promise<FetchedManifest> {
    if (!reference.includes(":")) {
      const head = await this.headManifest(reference);
      if (head) return this.getManifest(head, expectedSize);
    }
    return this.fetchManifest(reference, expectedSize);
  }

  /** The digest a tag points to, from a HEAD request; undefined when the registry does not say. */
  private async headManifest(tag: string): Promise<Digest | undefined> {
    const url = await this.url("manifests", tag);
    return this.withRetries(() =>
      this.send("HEAD", url, { Accept: MANIFEST_ACCEPT.join(", ") }, async (res) => {
        res.discard();
        if (res.status >= 500 || res.status === 429) throw new RegistryError(res.status, [], url);
        const digest = res.header("docker-content-digest");
        if (!res.ok || !digest) return undefined;
        try {
          parseDigest(digest, "Docker-Content-Digest");
        } catch {
          return undefined;
        }
        return digest;
      }),
    );
  }

  private async fetchManifest(reference: string, expectedSize?: number): Promise<FetchedManifest> {
    const byDigest = reference.includes(":");
    const url = await this.url("manifests", reference);
    return this.withRetries(async () => {
      const { res, bytes } = await this.send("GET", url, { Accept: MANIFEST_ACCEPT.join(", ") }, async (res) => {
        if (!res.ok) throw await this.errorOf(res, url);
        return { res, bytes: await readLimited(res, MAX_MANIFEST_BYTES, `the manifest ${reference}`) };
      });
      const header = res.header("docker-content-digest") ?? undefined;
      const want = byDigest ? reference : header;
      const algorithm = want ? parseDigest(want, byDigest ? "reference" : "Docker-Content-Digest").algorithm : "sha256";
      const d = new Digester(algorithm);
      d.update(bytes);
      const digest = d.digest();
      if (want !== undefined && digest !== want) {
        throw invalid(`manifest verification failed for digest ${want}: the registry sent a manifest whose digest is ${digest}`, {
          code: "registry.manifest-digest-mismatch",
          hint: "the registry, or something between it and cove, altered the manifest; nothing was pulled",
        });
      }
      if (expectedSize !== undefined && bytes.length !== expectedSize) {
        throw invalid(`manifest ${digest} is ${bytes.length} bytes but its descriptor says ${expectedSize}`, { code: "registry.manifest-size-mismatch" });
      }
      return { bytes, mediaType: mediaTypeOf(res), digest };
    });
  }

  /** Every tag of the repository (following the registry's pagination). */
  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = await this.url("tags");
    for (let page = 0; url && page < 1000; page++) {
      const current: string = url;
      const { body, next } = await this.withRetries(() =>
        this.send("GET", current, { Accept: "application/json" }, async (res) => {
          if (!res.ok) throw await this.errorOf(res, current);
          const text = (await readLimited(res, 16 * 1024 * 1024, "the tag list")).toString("utf8");
          const link = res.header("link");
          const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
          return { body: text, next: m ? new URL(m[1]!, current).href : undefined };
        }),
      );
      let o: { tags?: unknown };
      try {
        o = JSON.parse(body) as { tags?: unknown };
      } catch {
        throw invalid(`the registry's tag list of ${this.repository} is not JSON`, { code: "registry.invalid-response" });
      }
      if (Array.isArray(o.tags)) for (const t of o.tags) if (typeof t === "string") tags.push(t);
      url = next;
    }
    return tags;
  }

  // ------------------------------------------------------------------ blobs

  /**
   * Downloads a blob into the sink (a content store), verified against its digest and size. A
   * blob already there is not downloaded. On failure nothing is committed and the ingest is
   * aborted.
   */
  async fetchBlob(sink: BlobSink, blob: BlobTarget, options: FetchBlobOptions = {}): Promise<void> {
    parseDigest(blob.digest, "blob digest");
    if (await sink.exists(blob.digest)) return;
    if (sink.putBytes && blob.size <= SMALL_BLOB_BYTES) {
      const memory = new MemoryTarget();
      await this.downloadInto(memory, blob, options);
      try {
        await sink.putBytes(memory.bytes(), blob.digest);
      } catch (err) {
        throw blobError(blob, err);
      }
      return;
    }
    const ref = `pull-${blob.digest}`;
    let writer = await sink.writer(ref, { expected: { digest: blob.digest, size: blob.size }, wait: true });
    try {
      if (await sink.exists(blob.digest)) return; // another pull committed it while this one waited
      let restartedOnce = false;
      for (;;) {
        const resumedFrom = writer.offset;
        await this.downloadInto(writer, blob, options);
        try {
          await writer.commit(blob.size, blob.digest);
          return;
        } catch (err) {
          // Bytes left by an earlier, interrupted pull may be what is wrong: start over once.
          if (!(err instanceof CoveError && err.code === "content.digest-mismatch") || resumedFrom === 0 || restartedOnce) {
            throw blobError(blob, err);
          }
          restartedOnce = true;
          writer = await sink.writer(ref, { expected: { digest: blob.digest, size: blob.size }, wait: true });
        }
      }
    } catch (err) {
      await bestEffort(`close the ingest of ${blob.digest}`, writer.close());
      await bestEffort(`abort the ingest of ${blob.digest}`, sink.abort(ref));
      throw err;
    } finally {
      await bestEffort(`close the ingest of ${blob.digest}`, writer.close());
    }
  }

  /** Writes the rest of the blob into writer, retrying and resuming with Range requests. */
  private async downloadInto(writer: DownloadTarget, blob: BlobTarget, options: FetchBlobOptions): Promise<void> {
    const url = await this.url("blobs", blob.digest);
    let truncations = 0;
    for (let attempt = 0; ; attempt++) {
      if (writer.offset === blob.size) return;
      try {
        const offset = writer.offset;
        const headers: Record<string, string> = {};
        if (offset > 0) headers.Range = `bytes=${offset}-`;
        await this.send("GET", url, headers, async (res, touch) => {
          if (res.status === 416 && offset > 0) {
            // What the ingest holds cannot be continued: let the commit's verification decide.
            res.discard();
            throw new Truncated(offset, blob.size);
          }
          if (!res.ok) throw await this.errorOf(res, url);
          let skip = 0;
          if (offset > 0 && res.status === 206) {
            const m = /^bytes (\d+)-/.exec(res.header("content-range") ?? "");
            if (!m || Number(m[1]) !== offset) {
              res.discard();
              throw invalid(`the registry answered a request for bytes ${offset}- of ${blob.digest} with ${res.header("content-range") ?? "no Content-Range"}`, {
                code: "registry.bad-range",
              });
            }
          } else if (offset > 0) {
            skip = offset; // a 200: the whole blob again; keep what is already written
          }
          // pieces of WRITE_PIECE bytes go to the sink (the network's 16-64 KiB ones would cost a
          // thread-pool round trip each); what arrived is written also when the body fails
          const pieces = new PieceBuffer(WRITE_PIECE, async (piece) => {
            await writer.write(piece);
            if (options.onData) await options.onData(piece, writer.offset - piece.length);
            options.onProgress?.(writer.offset, blob.size);
          });
          try {
            for await (const chunk of res.body) {
              touch();
              let c = chunk;
              if (skip > 0) {
                const drop = Math.min(skip, c.length);
                skip -= drop;
                c = c.subarray(drop);
                if (c.length === 0) continue;
              }
              if (writer.offset + pieces.buffered + c.length > blob.size) {
                res.discard();
                throw invalid(`the registry sent more than the ${blob.size} bytes of blob ${blob.digest}`, { code: "registry.blob-too-long" });
              }
              await pieces.add(c);
            }
          } finally {
            await pieces.flush();
          }
          if (writer.offset < blob.size) throw new Truncated(writer.offset, blob.size);
        });
        return;
      } catch (err) {
        if (this.options.signal?.aborted) throw err;
        if (err instanceof Truncated || !(err instanceof CoveError)) truncations++;
        const delay = this.retryDelays[attempt];
        if (!retryable(err) || delay === undefined) {
          if (err instanceof Truncated || (retryable(err) && !(err instanceof RegistryError))) {
            const why = err instanceof Truncated ? "the body ended early" : describeNetworkError(err);
            throw new CoveError(
              "unavailable",
              `failed to download blob ${blob.digest}: the registry sent ${writer.offset} of ${blob.size} bytes after ${attempt + 1} attempts (last: ${why}${truncations > 1 ? `; cut short ${truncations} times` : ""})`,
              { code: "registry.blob-truncated", cause: err, hint: "the registry or the network cut the transfer; try the pull again" },
            );
          }
          throw blobError(blob, err);
        }
        options.onRetry?.(attempt + 1, delay, err as Error);
        await sleep(delay, undefined, this.options.signal ? { signal: this.options.signal } : undefined);
      }
    }
  }

  // ------------------------------------------------------------------ push

  /** Whether the repository holds the blob (HEAD /v2/<name>/blobs/<digest>). */
  async blobExists(blob: BlobTarget): Promise<boolean> {
    const url = await this.url("blobs", blob.digest);
    return this.withRetries(() =>
      this.send("HEAD", url, {}, async (res) => {
        res.discard();
        if (res.status === 404) return false;
        // a HEAD has no body to carry the error: named as distribution's client names it, with the
        // empty body as the detail ("unauthorized: authentication required")
        if (res.status === 401) throw new RegistryError(401, [{ code: "UNAUTHORIZED", message: "authentication required", detail: "" }], url);
        if (res.status === 403) throw new RegistryError(403, [{ code: "DENIED", message: "requested access to the resource is denied", detail: "" }], url);
        if (!res.ok) throw new RegistryError(res.status, [], url);
        const length = res.header("content-length");
        return length === null || Number(length) === blob.size;
      }),
    );
  }

  /**
   * Asks the registry to mount the blob from another of its repositories (POST
   * /v2/<name>/blobs/uploads/?mount=<digest>&from=<repository>): true when it did (201). A
   * registry that cannot (it answers 202, an upload session) gets that session cancelled.
   */
  async mountBlob(blob: BlobTarget, from: string): Promise<boolean> {
    const scope = `repository:${from}:pull`;
    if (!this.scopes.includes(scope)) {
      this.scopes.push(scope);
      this.token = undefined; // the next token covers the source repository too
    }
    const url = `${await this.baseUrl()}/v2/${this.repository}/blobs/uploads/?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(from)}`;
    const location = await this.withRetries(() =>
      this.send("POST", url, { "Content-Length": "0" }, async (res) => {
        res.discard();
        if (res.status === 201) return undefined;
        if (res.status !== 202) throw await this.errorOf(res, url);
        return res.header("location") ?? "";
      }),
    );
    if (location === undefined) return true;
    if (location !== "") {
      const session = new URL(location, await this.baseUrl()).href;
      await bestEffort(`cancel the upload session ${session}`, this.send("DELETE", session, {}, async (res) => res.discard()));
    }
    return false;
  }

  /**
   * Uploads a blob: POST to open an upload session, then the bytes in one PUT ?digest= when they
   * fit a chunk, else PATCHes with Content-Range and a closing PUT ?digest=. `open` reads the
   * blob from its start; a failed upload (network, 5xx) starts over, twice at most.
   */
  async pushBlob(blob: BlobTarget, open: () => Promise<AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>>, options: { onProgress?: (current: number, total: number) => void } = {}): Promise<void> {
    parseDigest(blob.digest, "blob digest");
    const chunk = this.options.uploadChunkBytes ?? DEFAULT_CHUNK;
    await this.withRetries(async () => {
      let location = await this.startUpload();
      let sent = 0;
      const buffered: Buffer[] = [];
      let bufferedBytes = 0;
      const flush = async (final: boolean) => {
        const body = Buffer.concat(buffered, bufferedBytes);
        buffered.length = 0;
        bufferedBytes = 0;
        if (final && sent === 0) {
          await this.finishUpload(location, blob, body);
        } else {
          if (body.length > 0) location = await this.patchUpload(location, body, sent);
          sent += body.length;
          if (final) await this.finishUpload(location, blob, Buffer.alloc(0));
        }
        if (body.length > 0) options.onProgress?.(final && sent === 0 ? body.length : sent, blob.size);
      };
      let total = 0;
      for await (const c of await open()) {
        const b = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
        total += b.length;
        if (total > blob.size) throw invalid(`blob ${blob.digest} holds more than the ${blob.size} bytes its descriptor says`, { code: "registry.blob-size-mismatch" });
        let rest = b;
        while (rest.length > 0) {
          const take = Math.min(rest.length, chunk - bufferedBytes);
          buffered.push(rest.subarray(0, take));
          bufferedBytes += take;
          rest = rest.subarray(take);
          if (bufferedBytes === chunk && total < blob.size) await flush(false);
        }
      }
      if (total !== blob.size) throw invalid(`blob ${blob.digest} holds ${total} bytes but its descriptor says ${blob.size}`, { code: "registry.blob-size-mismatch" });
      await flush(true);
    });
  }

  /** POST /v2/<name>/blobs/uploads/: the upload session's location. */
  private async startUpload(): Promise<string> {
    const url = `${await this.baseUrl()}/v2/${this.repository}/blobs/uploads/`;
    return this.send("POST", url, { "Content-Length": "0" }, async (res) => {
      res.discard();
      if (res.status !== 202) throw await this.errorOf(res, url);
      const location = res.header("location");
      if (!location) throw invalid(`the registry ${this.domain} opened an upload without a Location`, { code: "registry.invalid-response" });
      return new URL(location, await this.baseUrl()).href;
    });
  }

  /** PATCH a chunk at `offset`; the session's next location. */
  private async patchUpload(location: string, body: Buffer, offset: number): Promise<string> {
    const headers = { "Content-Type": "application/octet-stream", "Content-Range": `${offset}-${offset + body.length - 1}`, "Content-Length": String(body.length) };
    return this.send(
      "PATCH",
      location,
      headers,
      async (res) => {
        res.discard();
        if (res.status !== 202) throw await this.errorOf(res, location);
        const next = res.header("location");
        return next ? new URL(next, await this.baseUrl()).href : location;
      },
      body,
    );
  }

  /** PUT <location>?digest=: closes the session (with the last bytes, or all of them). */
  private async finishUpload(location: string, blob: BlobTarget, body: Buffer): Promise<void> {
    const u = new URL(location);
    u.searchParams.set("digest", blob.digest);
    const headers: Record<string, string> = { "Content-Type": "application/octet-stream", "Content-Length": String(body.length) };
    await this.send(
      "PUT",
      u.href,
      headers,
      async (res) => {
        if (res.status !== 201 && res.status !== 204) throw await this.errorOf(res, u.href);
        res.discard();
      },
      body,
    );
  }

  /** PUT /v2/<name>/manifests/<reference>: the manifest's digest (checked against what the registry says it stored). */
  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<Digest> {
    const url = await this.url("manifests", reference);
    const d = new Digester("sha256");
    d.update(bytes);
    const digest = d.digest();
    await this.withRetries(() =>
      this.send(
        "PUT",
        url,
        { "Content-Type": mediaType, "Content-Length": String(bytes.length) },
        async (res) => {
          if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await this.errorOf(res, url);
          res.discard();
          const header = res.header("docker-content-digest");
          if (header && header !== digest) {
            throw invalid(`the registry stored the manifest as ${header}, but its bytes hash to ${digest}`, { code: "registry.manifest-digest-mismatch" });
          }
        },
        bytes,
      ),
    );
    return digest;
  }

  // ------------------------------------------------------------------ transport

  /**
   * A GET of a registry-level path ("/v2/_catalog?n=100", "/v1/search?q=x"), with auth and
   * retries: the status, the body (at most `limit` bytes) and the next page's URL of a Link
   * header. A non-2xx answer is returned, not thrown: the caller knows what it means.
   */
  async getPath(pathOrUrl: string, headers: Record<string, string> = {}, limit = 16 * 1024 * 1024): Promise<{ status: number; body: string; next: string | undefined }> {
    const url = new URL(pathOrUrl, await this.baseUrl()).href;
    return this.withRetries(() =>
      this.send("GET", url, { Accept: "application/json", ...headers }, async (res) => {
        if (res.status >= 500 || res.status === 429) throw await this.errorOf(res, url);
        const body = (await readLimited(res, limit, `the answer to ${url}`)).toString("utf8");
        const link = res.header("link");
        const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
        return { status: res.status, body, next: m ? new URL(m[1]!, url).href : undefined };
      }),
    );
  }

  /** Runs fn again after retryable failures, with the first two delays of the back-off. */
  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const delay = attempt < 2 ? this.retryDelays[attempt] : undefined;
        if (this.options.signal?.aborted || !retryable(err) || delay === undefined) throw this.finalError(err);
        await sleep(delay, undefined, this.options.signal ? { signal: this.options.signal } : undefined);
      }
    }
  }

  private finalError(err: unknown): unknown {
    if (err instanceof CoveError || this.options.signal?.aborted) return err;
    return new CoveError("unavailable", `cannot reach the registry ${this.domain} at ${this.resolvedBase ?? this.domain}: ${describeNetworkError(err)}`, {
      code: "registry.unreachable",
      cause: err,
      hint: "check that the registry runs and that its address is right",
    });
  }

  /**
   * One request with auth and redirects; `consume` reads the response (its body included) under
   * the idle timeout: the request fails when no byte arrives for idleTimeoutMs (touch() marks
   * progress).
   */
  private async send<T>(method: string, url: string, headers: Record<string, string>, consume: (res: HttpResponse, touch: () => void) => Promise<T>, body?: Buffer): Promise<T> {
    const idle = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const touch = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new Error(`no data from the registry for ${this.idleTimeout} ms`)), this.idleTimeout);
    };
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, idle.signal]) : idle.signal;
    touch();
    let res: HttpResponse | undefined;
    try {
      res = await this.sendAuthorized(method, url, headers, signal, true, body);
      return await consume(res, touch);
    } catch (err) {
      if (idle.signal.aborted && !this.options.signal?.aborted) throw idle.signal.reason as Error;
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
      res?.discard(); // what consume left unread: the connection is freed
    }
  }

  private async sendAuthorized(method: string, url: string, headers: Record<string, string>, signal: AbortSignal, mayAuthenticate: boolean, body?: Buffer): Promise<HttpResponse> {
    // credentials go to the registry's own origin only (an upload location or a redirect elsewhere gets none)
    const origin = new URL(await this.baseUrl()).origin;
    let current = url;
    for (let hops = 0; ; hops++) {
      const sameOrigin = new URL(current).origin === origin;
      const h: Record<string, string> = { ...headers, "User-Agent": this.userAgent };
      const request = `${method[0]}${method.slice(1).toLowerCase()} "${current}"`;
      if (sameOrigin) {
        const authorization = await this.authorization(signal, request);
        if (authorization) h.Authorization = authorization;
      }
      const res = await httpRequest(current, { method, headers: h, signal, ...(body !== undefined ? { body } : {}) });
      if ([301, 302, 303, 307, 308].includes(res.status)) {
        const location = res.header("location");
        res.discard();
        if (!location) throw invalid(`the registry redirected ${current} without a Location`, { code: "registry.bad-redirect" });
        if (hops >= MAX_REDIRECTS) throw invalid(`too many redirects fetching ${url}`, { code: "registry.bad-redirect" });
        current = new URL(location, current).href;
        continue;
      }
      if (res.status === 401 && sameOrigin && mayAuthenticate) {
        const challenges = parseChallenges(res.header("www-authenticate") ?? undefined);
        if (await this.answer(challenges, signal, request)) {
          res.discard();
          return this.sendAuthorized(method, url, headers, signal, false, body);
        }
      }
      return res;
    }
  }

  /** Adopts a challenge; true when the request is worth repeating with new credentials. */
  private async answer(challenges: Challenge[], signal: AbortSignal, request: string): Promise<boolean> {
    const bearer = challenges.find((c) => c.scheme === "bearer");
    const basic = challenges.find((c) => c.scheme === "basic");
    const auth = this.options.auth;
    if (bearer) {
      this.challenge = bearer;
      this.token = undefined;
      await this.fetchToken(bearer, signal, request);
      return true;
    }
    if (basic) {
      const had = this.challenge?.scheme === "basic";
      this.challenge = basic;
      if (!auth?.username && !auth?.password) {
        // worded as Docker's client reports it: `Head "http://host/v2/x/manifests/1": no basic auth credentials` (a 500 from dockerd)
        throw new CoveError("upstream", `${request}: no basic auth credentials`, {
          code: "registry.no-credentials",
          hint: `the registry ${this.domain} needs a user name and password: pass them in X-Registry-Auth (docker login)`,
        });
      }
      return !had;
    }
    return false;
  }

  /** The Authorization header for a request ("Get \"<url>\"", which names it in a token error). */
  private async authorization(signal: AbortSignal, request: string): Promise<string | undefined> {
    const auth = this.options.auth;
    if (auth?.registrytoken) return `Bearer ${auth.registrytoken}`;
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === "basic") {
      return auth?.username !== undefined || auth?.password !== undefined ? basicAuthorization(auth.username ?? "", auth.password ?? "") : undefined;
    }
    if (this.challenge.scheme === "bearer") {
      if (!this.token || Date.now() >= this.token.expiresAt) await this.fetchToken(this.challenge, signal, request);
      return this.token ? `Bearer ${this.token.value}` : undefined;
    }
    return undefined;
  }

  /**
   * Gets a token from the challenge's realm for this repository's pull scope (Docker's token
   * auth). A refusal is worded as Docker's client words it, naming the request that needed the
   * token: `Head "http://host/v2/x/manifests/1": unauthorized`.
   */
  private async fetchToken(challenge: Challenge, signal: AbortSignal, request: string): Promise<void> {
    const realm = challenge.params.realm;
    if (!realm) throw invalid(`the registry ${this.domain} asked for a bearer token without naming a realm`, { code: "registry.bad-challenge" });
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw invalid(`the registry ${this.domain} named an invalid token realm "${realm}"`, { code: "registry.bad-challenge" });
    }
    const service = challenge.params.service;
    const auth = this.options.auth;
    const headers: Record<string, string> = { "User-Agent": this.userAgent, Accept: "application/json" };
    let res: HttpResponse;
    if (auth?.identitytoken) {
      // OAuth2 refresh-token grant (docker/distribution auth-oauth.md).
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: auth.identitytoken, client_id: "cove", scope: this.scopes.join(" ") });
      if (service) form.set("service", service);
      res = await httpRequest(realmUrl, { method: "POST", headers: { ...headers, "Content-Type": "application/x-www-form-urlencoded" }, body: form.toString(), signal });
    } else {
      if (service) realmUrl.searchParams.set("service", service);
      for (const scope of this.scopes) realmUrl.searchParams.append("scope", scope);
      if (auth?.username !== undefined || auth?.password !== undefined) {
        headers.Authorization = basicAuthorization(auth.username ?? "", auth.password ?? "");
        realmUrl.searchParams.set("account", auth.username ?? "");
      }
      res = await httpRequest(realmUrl, { headers, signal });
    }
    const body = (await readLimited(res, 1024 * 1024, "the token response")).toString("utf8");
    if (!res.ok) {
      const text = `${request}: ${tokenErrorText(res.status, body)}`;
      // a token server that fails (5xx, 429) is retried; one that refuses the credentials is not
      if (res.status >= 500 || res.status === 429) throw new RegistryError(res.status, parseErrorBody(body), realmUrl.href, text);
      throw new TokenRefusedError(request, tokenErrorText(res.status, body), `the token server ${realmUrl.origin} refused the credentials for ${this.domain}: check them (docker login ${this.domain})`);
    }
    let o: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      o = JSON.parse(body) as typeof o;
    } catch {
      throw invalid(`the token server ${realmUrl.origin} answered with something that is not JSON`, { code: "registry.bad-token" });
    }
    const value = typeof o.token === "string" && o.token !== "" ? o.token : typeof o.access_token === "string" ? o.access_token : "";
    if (value === "") throw invalid(`the token server ${realmUrl.origin} answered without a token`, { code: "registry.bad-token" });
    const expiresIn = typeof o.expires_in === "number" && o.expires_in > 0 ? o.expires_in : 60;
    this.token = { value, expiresAt: Date.now() + Math.max(expiresIn - 5, 1) * 1000 };
  }

  /** A RegistryError from a non-2xx response (its body read, up to 64 KiB). */
  private async errorOf(res: HttpResponse, url: string): Promise<RegistryError> {
    let body = "";
    try {
      body = (await readLimited(res, 64 * 1024, "an error response")).toString("utf8");
    } catch {
      body = "";
    }
    return new RegistryError(res.status, parseErrorBody(body), url);
  }
}

function blobError(blob: BlobTarget, err: unknown): unknown {
  if (err instanceof CoveError && err.code === "content.digest-mismatch") {
    return invalid(`filesystem layer verification failed for digest ${blob.digest}: the registry sent data with another digest`, {
      code: "registry.blob-digest-mismatch",
      cause: err,
      hint: "the registry's copy is corrupt, or something between it and cove altered it; nothing was stored",
    });
  }
  return err;
}
