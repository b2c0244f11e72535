// cove's registry server: the OCI distribution spec's HTTP API (oci-distribution/spec.md, end-1
// to end-13) over cove's content store, with Docker's headers (Docker-Content-Digest,
// Docker-Distribution-API-Version, Docker-Upload-UUID) so the docker CLI, skopeo and containerd
// push to it and pull from it.
//
// State, all under the server's root:
//   <root>/content/                   the content store: every manifest and blob, once (shared
//                                     with cove's images when the root is the daemon's)
//   <root>/registry/repositories/     which repository holds which manifests, tags and blobs (repos.ts)
//   <root>/registry/uploads/<id>.json an upload in progress: {name, startedAt}; its bytes are the
//                                     content store ingest "registry-upload-<id>", so an upload
//                                     cut off mid-PATCH keeps what arrived and resumes (GET its
//                                     status, PATCH from its Range); one idle past uploadTtlMs is
//                                     removed by a periodic sweep
//   <root>/registry/token.key         the key signing bearer tokens (--auth token)
//
// A blob upload is committed by the content store's writer: it verifies the digest the client
// names and discards the bytes when they differ (DIGEST_INVALID, nothing stored), and a blob that
// already exists is reused. Manifests are verified the same way and refused while a blob or
// manifest they reference is not in the repository (MANIFEST_BLOB_UNKNOWN).

import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { CoveError, fromErrno, invalid, isErrno } from "../../common/errors.js";
import { writeFileAtomic } from "../../common/fs.js";
import { bestEffort, ignoring, type LogLine } from "../../common/ignore.js";
import { digestOf, isDigest, parseDigest, type Digest } from "../../content/digest.js";
import { ContentStore, PieceBuffer, writeBlob, type ContentWriter } from "../../content/index.js";
import { MAX_MANIFEST_BYTES } from "../client.js";
import { Authenticator, type Access, type AuthMode } from "./auth.js";
import { ServeError } from "./errors.js";
import { NAME_RE, Repositories, TAG_RE, type ManifestMeta } from "./repos.js";

export const API_VERSION_HEADER = "Docker-Distribution-API-Version";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_LIST]);
const MANIFEST_TYPES = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);
/** Layers that registries do not hold (their urls say where they are). */
const FOREIGN_LAYERS = new Set([
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
]);
const UPLOAD_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEFAULT_UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;
/** An upload's body is written in pieces of about this size. */
const APPEND_PIECE = 1024 * 1024;
/** Writers of uploads kept open between their requests. */
const MAX_IDLE_WRITERS = 64;

/** cove's local images, for a server on the daemon's root: the manifest an image name:tag was pulled or built as. */
export interface LocalImages {
  resolve(name: string, tag: string): Promise<{ digest: Digest } | undefined>;
}

export interface RegistryServerOptions {
  /** The state root: the content store in <root>/content, the registry's index in <root>/registry. */
  root: string;
  auth?: AuthMode;
  /** The users of --auth basic and token: user → bcrypt hash (an htpasswd file, parsed). */
  users?: Map<string, string>;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: Buffer; key: Buffer };
  /** An upload not written to for this long is removed (default 24 hours). */
  uploadTtlMs?: number;
  /** How often expired uploads are looked for (default a minute, or the TTL when shorter). */
  sweepIntervalMs?: number;
  /** Serve these images too, by their repository names (see repos.ts). */
  local?: LocalImages;
  /** Where requests that failed inside the server are logged. */
  log?: LogLine;
}

interface Descriptor {
  mediaType?: string;
  digest: Digest;
  size: number;
  urls?: string[];
}

interface ParsedManifest {
  mediaType: string;
  /** What it references that must be in the repository: blobs, and (for an index) manifests. */
  blobs: Descriptor[];
  manifests: Descriptor[];
  meta: ManifestMeta;
}

function descriptor(v: unknown, where: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (typeof d !== "object" || d === null || typeof d.digest !== "string" || !isDigest(d.digest) || typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ServeError("MANIFEST_INVALID", `manifest invalid: ${where} is not a descriptor with a digest and a size`);
  }
  return d as Descriptor;
}

/** Parses and checks a manifest or index body; contentType is the request's Content-Type. */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    // the parse error's text says nothing more to a client than this
    throw new ServeError("MANIFEST_INVALID", "manifest invalid: the body is not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new ServeError("MANIFEST_INVALID", "manifest invalid: the body is not a JSON object");
  const ct = contentType?.split(";")[0]?.trim();
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  if (declared && ct && ct !== declared && ct !== "application/json") {
    throw new ServeError("MANIFEST_INVALID", `manifest invalid: its mediaType ${declared} differs from the Content-Type ${ct}`);
  }
  const mediaType = declared ?? ct ?? "";
  if (doc.schemaVersion !== 2) throw new ServeError("MANIFEST_INVALID", "manifest invalid: schemaVersion is not 2 (schema 1 manifests are not accepted)");
  const meta: ManifestMeta = { mediaType, size: bytes.length };
  if (doc.subject !== undefined) meta.subject = descriptor(doc.subject, "subject").digest;
  if (doc.annotations && typeof doc.annotations === "object") meta.annotations = doc.annotations as Record<string, string>;
  if (typeof doc.artifactType === "string" && doc.artifactType !== "") meta.artifactType = doc.artifactType;
  if (MANIFEST_TYPES.has(mediaType)) {
    const config = descriptor(doc.config, "config");
    if (!Array.isArray(doc.layers)) throw new ServeError("MANIFEST_INVALID", "manifest invalid: layers is not a list");
    const layers = doc.layers.map((l, i) => descriptor(l, `layers[${i}]`));
    meta.artifactType ??= config.mediaType;
    return { mediaType, blobs: [config, ...layers.filter((l) => !FOREIGN_LAYERS.has(l.mediaType ?? ""))], manifests: [], meta };
  }
  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw new ServeError("MANIFEST_INVALID", "manifest invalid: manifests is not a list");
    return { mediaType, blobs: [], manifests: doc.manifests.map((m, i) => descriptor(m, `manifests[${i}]`)), meta };
  }
  throw new ServeError("MANIFEST_INVALID", `manifest invalid: media type ${JSON.stringify(mediaType)} is not an OCI or Docker schema 2 manifest or index`);
}

type Res = http.ServerResponse;

/** A route's match: the repository name and what follows it. */
interface Route {
  name: string;
  kind: "manifests" | "blobs" | "uploads" | "tags" | "referrers";
  /** The reference, digest or upload id ("" for a new upload). */
  arg: string;
}

function matchRoute(pathname: string): Route | undefined {
  const m = /^\/v2\/(.+?)\/(manifests\/([^/]+)|blobs\/uploads\/([^/]*)|blobs\/([^/]+)|tags\/list|referrers\/([^/]+))$/.exec(pathname);
  if (!m) return undefined;
  const name = m[1]!;
  if (m[3] !== undefined) return { name, kind: "manifests", arg: m[3] };
  if (m[4] !== undefined) return { name, kind: "uploads", arg: m[4] };
  if (m[5] !== undefined) return { name, kind: "blobs", arg: m[5] };
  if (m[6] !== undefined) return { name, kind: "referrers", arg: m[6] };
  return { name, kind: "tags", arg: "" };
}

function requireDigest(value: string | null | undefined, what = "digest"): Digest {
  if (!value || !isDigest(value)) throw new ServeError("DIGEST_INVALID", `provided digest did not match uploaded content: invalid ${what} ${JSON.stringify(value ?? "")}`);
  return value;
}

/** The page size of a list request (n), or undefined for all. */
function pageSize(url: URL): number | undefined {
  const n = url.searchParams.get("n");
  if (n === null || n === "") return undefined;
  if (!/^\d+$/.test(n)) throw new ServeError("PAGINATION_NUMBER_INVALID", `invalid number of results requested: ${JSON.stringify(n)}`);
  return Number(n);
}

/** One page of a sorted list after `last`, and the Link header to the next page. */
function paginate(all: string[], url: URL, base: string): { page: string[]; link?: string } {
  const n = pageSize(url);
  const last = url.searchParams.get("last") ?? "";
  const after = last ? all.filter((x) => x > last) : all;
  if (n === undefined || after.length <= n) return { page: after };
  const page = after.slice(0, n);
  if (page.length === 0) return { page };
  return { page, link: `<${base}?last=${encodeURIComponent(page[page.length - 1]!)}&n=${n}>; rel="next"` };
}

async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new ServeError("SIZE_INVALID", `manifest too large: more than ${max} bytes`, undefined, { status: 413 });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Ingest refs of uploads start so: they sit idle between an upload's chunks, and the server collects them itself (uploadTtlMs). */
export const UPLOAD_INGEST_PREFIX = "registry-upload-";

export class RegistryServer {
  readonly root: string;
  readonly content: ContentStore;
  readonly repos: Repositories;
  private readonly uploadsDir: string;
  private readonly options: RegistryServerOptions;
  private auth: Authenticator | undefined;
  private server: http.Server | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** Uploads' writers between their requests (see keepWriter). */
  private readonly idleWriters = new Map<string, ContentWriter>();
  private readonly log: LogLine;

  constructor(options: RegistryServerOptions) {
    this.options = options;
    this.root = options.root;
    this.content = new ContentStore({ root: options.root });
    this.repos = new Repositories(options.root, this.content);
    this.uploadsDir = path.join(options.root, "registry", "uploads");
    this.log = options.log ?? (() => undefined);
  }

  /** Starts listening on host:port (port 0: any free one); returns where. */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    await mkdir(this.uploadsDir, { recursive: true });
    this.auth = new Authenticator(this.options.auth ?? "none", this.options.users, this.options.auth === "token" ? await this.tokenKey() : undefined);
    const handler = (req: http.IncomingMessage, res: Res) => void this.handle(req, res);
    const server = this.options.tls ? https.createServer({ cert: this.options.tls.cert, key: this.options.tls.key }, handler) : http.createServer(handler);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) => reject(fromErrno(err, `listening on ${host}:${port}`)));
      server.listen(port, host, resolve);
    });
    await this.sweepUploads();
    const ttl = this.options.uploadTtlMs ?? DEFAULT_UPLOAD_TTL_MS;
    this.sweeper = setInterval(() => void bestEffort("remove expired uploads", this.sweepUploads(), this.log), this.options.sweepIntervalMs ?? Math.min(60_000, ttl));
    this.sweeper.unref();
    const addr = server.address() as AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const id of [...this.idleWriters.keys()]) await this.closeIdleWriter(id);
  }

  private async tokenKey(): Promise<Buffer> {
    const file = path.join(this.root, "registry", "token.key");
    try {
      const key = await readFile(file);
      if (key.length >= 32) return key;
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw fromErrno(err, `reading ${file}`);
    }
    const key = randomBytes(32);
    await writeFileAtomic(file, key, 0o600);
    return key;
  }

  // ------------------------------------------------------------ dispatch

  private async handle(req: http.IncomingMessage, res: Res): Promise<void> {
    res.setHeader(API_VERSION_HEADER, "registry/2.0");
    try {
      await this.route(req, res);
    } catch (err) {
      let e: ServeError;
      if (err instanceof ServeError) e = err;
      else {
        this.log(`${req.method} ${req.url}: ${err instanceof Error ? err.message : String(err)}`);
        e = new ServeError("UNKNOWN", err instanceof Error ? err.message : String(err));
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
      const body = req.method === "HEAD" ? "" : e.body();
      res.writeHead(e.status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
      // a body the client is still sending is not read: the connection cannot be reused
      if (!req.complete) req.resume();
    }
  }

  private origin(req: http.IncomingMessage): string {
    return `${this.options.tls ? "https" : "http"}://${req.headers.host ?? "localhost"}`;
  }

  private authorize(req: http.IncomingMessage, need: Access[]): void {
    this.auth!.authorize(req.headers.authorization, need, this.origin(req));
  }

  private async route(req: http.IncomingMessage, res: Res): Promise<void> {
    const url = new URL(req.url ?? "/", "http://registry");
    const method = req.method ?? "GET";
    const pathname = url.pathname;
    if (pathname === "/token") {
      if (method !== "GET") throw new ServeError("UNSUPPORTED", `${method} /token is not supported: ask for a token with GET`, undefined, { status: 405 });
      const token = this.auth!.issueToken(req.headers.authorization, url.searchParams.getAll("scope"));
      return this.json(res, 200, token);
    }
    if (pathname === "/v2/" || pathname === "/v2") {
      if (method !== "GET" && method !== "HEAD") throw new ServeError("UNSUPPORTED", undefined, undefined, { status: 405 });
      this.authorize(req, []);
      return this.json(res, 200, {}, method === "HEAD");
    }
    if (pathname === "/v2/_catalog") {
      if (method !== "GET") throw new ServeError("UNSUPPORTED", undefined, undefined, { status: 405 });
      this.authorize(req, [{ type: "registry", name: "catalog", actions: ["*"] }]);
      const { page, link } = paginate(await this.repos.catalog(), url, "/v2/_catalog");
      if (link) res.setHeader("Link", link);
      return this.json(res, 200, { repositories: page });
    }
    const route = matchRoute(pathname);
    if (!route) throw new ServeError("UNSUPPORTED", `no such endpoint: ${pathname}`, undefined, { status: 404 });
    const { name } = route;
    if (!NAME_RE.test(name) || name.length > 255) throw new ServeError("NAME_INVALID", `invalid repository name: ${JSON.stringify(name)}`);
    const read = method === "GET" || method === "HEAD";
    const action = read ? "pull" : method === "DELETE" && route.kind !== "uploads" ? "delete" : "push";
    const need: Access[] = [{ type: "repository", name, actions: action === "push" ? ["pull", "push"] : [action] }];
    const mountFrom = route.kind === "uploads" && method === "POST" ? url.searchParams.get("from") : null;
    if (mountFrom && NAME_RE.test(mountFrom) && url.searchParams.get("mount")) need.push({ type: "repository", name: mountFrom, actions: ["pull"] });
    this.authorize(req, need);
    const allowed = (methods: string[]) => {
      if (!methods.includes(method)) throw new ServeError("UNSUPPORTED", `${method} is not supported here`, undefined, { status: 405 });
    };
    switch (route.kind) {
      case "manifests":
        allowed(["GET", "HEAD", "PUT", "DELETE"]);
        if (read) return this.getManifest(res, name, route.arg, method === "HEAD");
        if (method === "PUT") return this.putManifest(req, res, name, route.arg);
        return this.deleteManifest(res, name, route.arg);
      case "blobs":
        allowed(["GET", "HEAD", "DELETE"]);
        if (read) return this.getBlob(req, res, name, requireDigest(route.arg), method === "HEAD");
        return this.deleteBlob(res, name, requireDigest(route.arg));
      case "uploads":
        if (route.arg === "") {
          allowed(["POST"]);
          return this.startUpload(req, res, name, url);
        }
        allowed(["GET", "PATCH", "PUT", "DELETE"]);
        if (method === "GET") return this.uploadStatus(res, name, route.arg);
        if (method === "PATCH") return this.patchUpload(req, res, name, route.arg);
        if (method === "PUT") return this.finishUpload(req, res, name, route.arg, url);
        return this.cancelUpload(res, name, route.arg);
      case "tags": {
        allowed(["GET"]);
        const tags = await this.repos.tags(name);
        if (!tags) throw new ServeError("NAME_UNKNOWN", "repository name not known to registry", { name });
        const { page, link } = paginate(tags, url, `/v2/${name}/tags/list`);
        if (link) res.setHeader("Link", link);
        return this.json(res, 200, { name, tags: page });
      }
      case "referrers":
        allowed(["GET"]);
        return this.referrers(res, name, requireDigest(route.arg), url);
    }
  }

  private json(res: Res, status: number, value: unknown, head = false, contentType = "application/json; charset=utf-8"): void {
    const body = JSON.stringify(value) + "\n";
    res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(body) });
    res.end(head ? undefined : body);
  }

  private empty(res: Res, status: number, headers: Record<string, string>): void {
    res.writeHead(status, { ...headers, "Content-Length": "0" });
    res.end();
  }

  // ------------------------------------------------------------ manifests

  /** The digest a manifest reference names in the repository, or undefined. */
  private async resolve(name: string, reference: string): Promise<Digest | undefined> {
    if (reference.includes(":")) return requireDigest(reference);
    if (!TAG_RE.test(reference)) throw new ServeError("MANIFEST_INVALID", `invalid tag ${JSON.stringify(reference)}`);
    const digest = await this.repos.resolveTag(name, reference);
    if (digest && (await this.repos.manifest(name, digest))) return digest;
    if (!this.options.local) return undefined;
    const local = await this.options.local.resolve(name, reference);
    if (!local || !(await this.content.exists(local.digest))) return undefined;
    await this.adopt(name, local.digest, new Set());
    return local.digest;
  }

  /**
   * Links a manifest of the content store (a local image's) and everything it references that
   * the store holds into the repository: nothing is copied.
   */
  private async adopt(name: string, digest: Digest, seen: Set<Digest>): Promise<void> {
    if (seen.has(digest) || seen.size > 1000) return;
    seen.add(digest);
    const bytes = await this.content.readBlob(digest, { maxSize: MAX_MANIFEST_BYTES });
    const parsed = parseManifest(bytes, undefined);
    for (const m of parsed.manifests) if (await this.content.exists(m.digest)) await this.adopt(name, m.digest, seen);
    for (const b of parsed.blobs) if (await this.content.exists(b.digest)) await this.repos.linkBlob(name, b.digest);
    await this.repos.putManifest(name, digest, parsed.meta);
  }

  private async getManifest(res: Res, name: string, reference: string, head: boolean): Promise<void> {
    const digest = await this.resolve(name, reference);
    const meta = digest ? await this.repos.manifest(name, digest) : undefined;
    if (!digest || !meta) {
      throw new ServeError("MANIFEST_UNKNOWN", "manifest unknown", reference.includes(":") ? { Digest: reference } : { Tag: reference });
    }
    const bytes = await this.content.readBlob(digest, { maxSize: MAX_MANIFEST_BYTES });
    res.writeHead(200, { "Content-Type": meta.mediaType, "Content-Length": bytes.length, "Docker-Content-Digest": digest, Etag: `"${digest}"` });
    res.end(head ? undefined : bytes);
  }

  private async putManifest(req: http.IncomingMessage, res: Res, name: string, reference: string): Promise<void> {
    const isRef = reference.includes(":");
    if (!isRef && !TAG_RE.test(reference)) throw new ServeError("MANIFEST_INVALID", `invalid tag ${JSON.stringify(reference)}`);
    const bytes = await readBody(req, MAX_MANIFEST_BYTES);
    const parsed = parseManifest(bytes, req.headers["content-type"]);
    let digest = digestOf(bytes);
    if (isRef) {
      const want = requireDigest(reference);
      digest = digestOf(bytes, parseDigest(want).algorithm);
      if (digest !== want) throw new ServeError("DIGEST_INVALID", `provided digest did not match uploaded content: the manifest hashes to ${digest}`, { Digest: want });
    }
    const missing: { message: string; detail: unknown }[] = [];
    for (const b of parsed.blobs) {
      if (!(await this.repos.hasBlob(name, b.digest))) missing.push({ message: "blob unknown to registry", detail: b.digest });
    }
    for (const m of parsed.manifests) {
      if (!(await this.repos.manifest(name, m.digest))) missing.push({ message: "manifest unknown to registry", detail: m.digest });
    }
    if (missing.length > 0) throw ServeError.many("MANIFEST_BLOB_UNKNOWN", missing);
    await writeBlob(this.content, bytes, { digest, size: bytes.length });
    await this.repos.putManifest(name, digest, parsed.meta, isRef ? undefined : reference);
    const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${digest}`, "Docker-Content-Digest": digest };
    if (parsed.meta.subject) headers["OCI-Subject"] = parsed.meta.subject;
    this.empty(res, 201, headers);
  }

  private async deleteManifest(res: Res, name: string, reference: string): Promise<void> {
    if (reference.includes(":")) {
      const digest = requireDigest(reference);
      if (!(await this.repos.deleteManifest(name, digest))) throw new ServeError("MANIFEST_UNKNOWN", "manifest unknown", { Digest: digest });
    } else {
      if (!TAG_RE.test(reference)) throw new ServeError("MANIFEST_INVALID", `invalid tag ${JSON.stringify(reference)}`);
      if (!(await this.repos.deleteTag(name, reference))) throw new ServeError("MANIFEST_UNKNOWN", "manifest unknown", { Tag: reference });
    }
    this.empty(res, 202, {});
  }

  private async referrers(res: Res, name: string, subject: Digest, url: URL): Promise<void> {
    const filter = url.searchParams.get("artifactType");
    let list = await this.repos.referrers(name, subject);
    if (filter) {
      list = list.filter((r) => r.artifactType === filter);
      res.setHeader("OCI-Filters-Applied", "artifactType");
    }
    const manifests = list.map((r) => ({
      mediaType: r.mediaType,
      size: r.size,
      digest: r.digest,
      ...(r.artifactType ? { artifactType: r.artifactType } : {}),
      ...(r.annotations ? { annotations: r.annotations } : {}),
    }));
    this.json(res, 200, { schemaVersion: 2, mediaType: OCI_INDEX, manifests }, false, OCI_INDEX);
  }

  // ------------------------------------------------------------ blobs

  private async getBlob(req: http.IncomingMessage, res: Res, name: string, digest: Digest, head: boolean): Promise<void> {
    if (!(await this.repos.hasBlob(name, digest))) throw new ServeError("BLOB_UNKNOWN", "blob unknown to registry", digest);
    const size = (await this.content.info(digest)).size;
    const headers: Record<string, string | number> = {
      "Content-Type": "application/octet-stream",
      "Docker-Content-Digest": digest,
      Etag: `"${digest}"`,
      "Accept-Ranges": "bytes",
      "Cache-Control": "max-age=31536000",
    };
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range?.trim() ?? "");
    if (range && (range[1] !== "" || range[2] !== "")) {
      if (range[1] === "") {
        start = Math.max(0, size - Number(range[2]));
      } else {
        start = Number(range[1]);
        if (range[2] !== "") end = Math.min(end, Number(range[2]));
      }
      if (start >= size || start > end) {
        res.writeHead(416, { "Content-Range": `bytes */${size}`, "Content-Length": 0 });
        res.end();
        return;
      }
      status = 206;
      headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    }
    headers["Content-Length"] = end - start + 1;
    res.writeHead(status, headers);
    if (head || size === 0) {
      res.end();
      return;
    }
    const stream = await this.content.createReadStream(digest, { start, end });
    // a client that goes away mid-blob ends the stream; nothing to clean up
    await pipeline(stream, res).catch(ignoring(`send ${digest} to a client`, this.log));
  }

  private async deleteBlob(res: Res, name: string, digest: Digest): Promise<void> {
    if (!(await this.repos.unlinkBlob(name, digest))) throw new ServeError("BLOB_UNKNOWN", "blob unknown to registry", digest);
    this.empty(res, 202, { "Docker-Content-Digest": digest });
  }

  // ------------------------------------------------------------ uploads

  private uploadFile(id: string): string {
    return path.join(this.uploadsDir, `${id}.json`);
  }

  private static ingestRef(id: string): string {
    return `${UPLOAD_INGEST_PREFIX}${id}`;
  }

  /** The upload's offset; throws BLOB_UPLOAD_UNKNOWN for an upload of another repository or none. */
  private async upload(name: string, id: string): Promise<number> {
    const unknown = () => new ServeError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", id);
    if (!UPLOAD_ID_RE.test(id)) throw unknown();
    let state: { name?: string };
    try {
      state = JSON.parse(await readFile(this.uploadFile(id), "utf8")) as { name?: string };
    } catch (err) {
      if (isErrno(err, "ENOENT") || err instanceof SyntaxError) throw unknown();
      throw fromErrno(err, `reading upload ${id}`);
    }
    if (state.name !== name) throw unknown();
    try {
      return (await this.content.status(RegistryServer.ingestRef(id))).offset;
    } catch (err) {
      if (err instanceof CoveError && err.kind === "not-found") return 0;
      throw err;
    }
  }

  private uploadHeaders(name: string, id: string, offset: number): Record<string, string> {
    return { Location: `/v2/${name}/blobs/uploads/${id}`, Range: `0-${Math.max(0, offset - 1)}`, "Docker-Upload-UUID": id };
  }

  private async startUpload(req: http.IncomingMessage, res: Res, name: string, url: URL): Promise<void> {
    const mount = url.searchParams.get("mount");
    const from = url.searchParams.get("from");
    if (mount) {
      const digest = requireDigest(mount);
      if (from && NAME_RE.test(from) && (await this.repos.hasBlob(from, digest))) {
        await this.repos.linkBlob(name, digest);
        req.resume();
        return this.empty(res, 201, { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest });
      }
    }
    const id = randomUUID();
    await writeFileAtomic(this.uploadFile(id), JSON.stringify({ name, startedAt: new Date().toISOString() }));
    const digest = url.searchParams.get("digest");
    if (digest !== null) return this.finishUpload(req, res, name, id, url);
    req.resume();
    this.empty(res, 202, this.uploadHeaders(name, id, 0));
  }

  /**
   * Appends the request's body to the upload (in pieces of about 1 MiB: the 64 KiB ones the
   * socket gives would cost a thread-pool round trip each); what arrived stays when the client
   * goes away. With `digest`, then commits the upload as that blob through the same writer (a
   * writer opened again would hash the whole upload again to resume).
   */
  private async append(req: http.IncomingMessage, id: string, from: number, digest?: Digest): Promise<number> {
    const idle = this.idleWriters.get(id);
    this.idleWriters.delete(id);
    const writer =
      idle ??
      (await this.content.writer(RegistryServer.ingestRef(id)).catch((err: unknown) => {
        if (err instanceof CoveError && err.kind === "conflict") throw new ServeError("BLOB_UPLOAD_INVALID", "blob upload invalid: another request is writing this upload", id);
        throw err;
      }));
    let keep = false;
    try {
      if (writer.offset !== from) throw new ServeError("BLOB_UPLOAD_INVALID", `blob upload invalid: the upload is at ${writer.offset} bytes, not ${from}`, id, { status: 416 });
      const pieces = new PieceBuffer(APPEND_PIECE, (piece) => writer.write(piece));
      try {
        for await (const chunk of req) await pieces.add(chunk as Buffer);
      } finally {
        await pieces.flush();
      }
      if (digest !== undefined) await writer.commit(undefined, digest);
      else keep = true;
      return writer.offset;
    } finally {
      if (keep) this.keepWriter(id, writer);
      else await writer.close();
    }
  }

  /**
   * Keeps an upload's writer open for its next request (a PATCH's for the closing PUT): opened
   * again, a writer hashes what the upload holds to resume. At most MAX_IDLE_WRITERS are kept
   * (each holds a file open), the oldest closed first.
   */
  private keepWriter(id: string, writer: ContentWriter): void {
    this.idleWriters.set(id, writer);
    for (const [oldId, w] of this.idleWriters) {
      if (this.idleWriters.size <= MAX_IDLE_WRITERS) break;
      this.idleWriters.delete(oldId);
      void bestEffort(`close the writer of upload ${oldId}`, w.close(), this.log);
    }
  }

  /** Closes the upload's idle writer, if one is kept. */
  private async closeIdleWriter(id: string): Promise<void> {
    const w = this.idleWriters.get(id);
    if (!w) return;
    this.idleWriters.delete(id);
    await bestEffort(`close the writer of upload ${id}`, w.close(), this.log);
  }

  private async patchUpload(req: http.IncomingMessage, res: Res, name: string, id: string): Promise<void> {
    const offset = await this.upload(name, id);
    const range = req.headers["content-range"];
    if (range !== undefined) {
      const m = /^(?:bytes )?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(range.trim());
      const length = req.headers["content-length"];
      const bad =
        !m ||
        Number(m[1]) !== offset ||
        Number(m[2]) < Number(m[1]) ||
        (length !== undefined && Number(length) !== Number(m[2]) - Number(m[1]) + 1);
      if (bad) {
        throw new ServeError("BLOB_UPLOAD_INVALID", `blob upload invalid: Content-Range ${range} does not continue the upload at ${offset}`, undefined, {
          status: 416,
          headers: this.uploadHeaders(name, id, offset),
        });
      }
    }
    const now = await this.append(req, id, offset);
    await this.touchUpload(id);
    this.empty(res, 202, this.uploadHeaders(name, id, now));
  }

  private async touchUpload(id: string): Promise<void> {
    const file = this.uploadFile(id);
    const state = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
    await writeFileAtomic(file, JSON.stringify({ ...state, updatedAt: new Date().toISOString() }));
  }

  private async finishUpload(req: http.IncomingMessage, res: Res, name: string, id: string, url: URL): Promise<void> {
    const offset = await this.upload(name, id);
    const param = url.searchParams.get("digest");
    const digest = requireDigest(param);
    try {
      await this.append(req, id, offset, digest);
    } catch (err) {
      if (err instanceof CoveError && err.code === "content.digest-mismatch") {
        // the store discarded the bytes: the upload is over, nothing was stored
        await rm(this.uploadFile(id), { force: true });
        throw new ServeError("DIGEST_INVALID", "provided digest did not match uploaded content", { Digest: digest });
      }
      throw err;
    }
    await this.repos.linkBlob(name, digest);
    await rm(this.uploadFile(id), { force: true });
    this.empty(res, 201, { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest });
  }

  private async uploadStatus(res: Res, name: string, id: string): Promise<void> {
    const offset = await this.upload(name, id);
    this.empty(res, 204, this.uploadHeaders(name, id, offset));
  }

  private async cancelUpload(res: Res, name: string, id: string): Promise<void> {
    await this.upload(name, id);
    await this.dropUpload(id);
    this.empty(res, 204, {});
  }

  private async dropUpload(id: string): Promise<void> {
    await this.closeIdleWriter(id);
    await this.content.abort(RegistryServer.ingestRef(id)).catch((err: unknown) => {
      if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
    });
    await rm(this.uploadFile(id), { force: true });
  }

  /** Removes uploads not written to for the TTL (their ingests too). */
  async sweepUploads(now = Date.now()): Promise<string[]> {
    const ttl = this.options.uploadTtlMs ?? DEFAULT_UPLOAD_TTL_MS;
    const removed: string[] = [];
    let names: string[];
    try {
      names = await readdir(this.uploadsDir);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return removed;
      throw fromErrno(err, "listing uploads");
    }
    for (const file of names) {
      const id = file.replace(/\.json$/, "");
      if (!UPLOAD_ID_RE.test(id)) continue;
      const st = await stat(path.join(this.uploadsDir, file)).catch(ignoring(`stat upload ${id}`, this.log));
      if (!st) continue;
      let last = st.mtimeMs;
      const ingest = await this.content.status(RegistryServer.ingestRef(id)).catch(() => undefined); // none yet: the upload's own time counts
      if (ingest) last = Math.max(last, ingest.updatedAt.getTime());
      if (now - last < ttl) continue;
      try {
        await this.dropUpload(id);
        removed.push(id);
      } catch (err) {
        // a request writing it right now holds its ingest: it is not idle after all
        if (!(err instanceof CoveError && err.kind === "conflict")) throw err;
      }
    }
    return removed;
  }
}

/** Reads the --tls-cert and --tls-key files. */
export async function readTls(cert: string, key: string): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw fromErrno(err, `reading the TLS ${what} ${file}`);
    }
  };
  const out = { cert: await read(cert, "certificate"), key: await read(key, "key") };
  if (!out.cert.includes("-----BEGIN")) throw invalid(`${cert} is not a PEM certificate`, { code: "registry.tls-invalid" });
  return out;
}
