// A typed Docker Engine API client over a unix socket: what the cove CLI uses to talk to cove's
// daemon (and what the tests use to talk to Debian's dockerd). Version negotiation as the docker
// CLI does it (GET /_ping → Api-Version, then min(server, 1.47) as the /vX.Y path prefix), JSON
// requests whose error bodies ({"message": ...}) become EngineErrors carrying the HTTP status and
// the daemon's text, streams (logs, events, stats, export, archives) as Readables, and hijacked
// connections (attach, exec start) as raw duplex sockets after `101 UPGRADED`.

import http from "node:http";
import type { Duplex, Readable } from "node:stream";
import { CoveError, type ErrorKind } from "../common/errors.js";
import type {
  ChangeItem,
  ContainerInspect,
  ContainerPruneResponse,
  ContainerSummary,
  CreateResponse,
  DiskUsageResponse,
  EventMessage,
  ExecConfig,
  ExecInspect,
  ImageDeleteItem,
  ImageHistoryItem,
  ImageInspect,
  ImagePruneResponse,
  ImageSearchResult,
  ImageSummary,
  InfoResponse,
  PathStat,
  StatsResponse,
  TopResponse,
  UpdateResponse,
  VersionResponse,
  Volume,
  VolumeCreateRequest,
  VolumeListResponse,
  VolumePruneResponse,
  WaitResponse,
} from "../docker/index.js";
import { jsonLines } from "./stream.js";

/** The newest API version this client speaks. */
export const CLIENT_API_VERSION = "1.47";
/** The oldest API version this client accepts from a daemon. */
export const MIN_API_VERSION = "1.24";

const KIND_BY_STATUS: Record<number, ErrorKind> = { 400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not-found", 408: "timeout", 409: "conflict", 413: "too-large", 501: "unsupported", 503: "unavailable" };

/** An error answer from the daemon: the HTTP status and the daemon's message, verbatim. */
export class EngineError extends CoveError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(KIND_BY_STATUS[status] ?? "system", message, { code: `engine.http-${status}` });
    this.name = "EngineError";
  }
}

/** A string[] repeats the key (names=a&names=b); an object is sent as JSON (filters). */
export type QueryValue = string | number | boolean | undefined | null | string[] | Record<string, string[]>;
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  query?: Query;
  /** JSON-encoded unless a Buffer or a Readable (sent as is). */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface EngineClientOptions {
  /** The daemon's unix socket, e.g. /run/cove/cove.sock. */
  socket: string;
  /** A fixed API version ("1.41"); negotiated with GET /_ping when absent. */
  version?: string;
}

/** Compares dotted versions ("1.41" < "1.47"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function encodeQuery(query: Query | undefined): string {
  if (!query) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    let s: string;
    if (Array.isArray(v)) {
      for (const item of v) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(item)}`);
      continue;
    }
    if (typeof v === "boolean") s = v ? "1" : "0";
    else if (typeof v === "object") {
      if (Object.keys(v).length === 0) continue;
      s = JSON.stringify(v);
    } else s = String(v);
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(s)}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

async function readAll(src: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of src) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** The daemon's message from an error body (JSON {"message"} or plain text). */
function errorMessage(status: number, body: Buffer): string {
  const text = body.toString("utf8").trim();
  try {
    const j = JSON.parse(text) as { message?: unknown };
    if (typeof j.message === "string") return j.message;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err; // else: not JSON, the text is the message
  }
  return text || `${status} ${http.STATUS_CODES[status] ?? "error"}`;
}

const enc = (s: string) => encodeURIComponent(s);
/** An image name in a path: components escaped, slashes kept (the daemon's {name:.*} routes). */
const encName = (name: string) => name.split("/").map(enc).join("/");

export interface HijackedStream {
  /** The raw connection: reads the container's output, writes its stdin. */
  socket: Duplex;
  /** True when the daemon sent the 8-byte-framed (non-TTY) stream. */
  multiplexed?: boolean;
  /** The headers of the 101 answer (undefined when the daemon did not upgrade). */
  headers?: http.IncomingHttpHeaders;
}

export class EngineClient {
  readonly socket: string;
  private pinned: string | undefined;
  private negotiating: Promise<string> | undefined;

  constructor(options: EngineClientOptions) {
    this.socket = options.socket;
    this.pinned = options.version;
  }

  /** The API version in use (negotiating first if needed). */
  async apiVersion(): Promise<string> {
    if (this.pinned) return this.pinned;
    this.negotiating ??= (async () => {
      const res = await this.raw("GET", "/_ping", {}, false);
      res.resume();
      const header = res.headers["api-version"];
      const server = typeof header === "string" && /^\d+\.\d+$/.test(header) ? header : "1.24";
      this.pinned = compareVersions(server, CLIENT_API_VERSION) < 0 ? server : CLIENT_API_VERSION;
      return this.pinned;
    })();
    return this.negotiating;
  }

  private unavailable(err: unknown): CoveError {
    if ((err as NodeJS.ErrnoException).code === "EACCES") {
      return new CoveError("forbidden", `permission denied while trying to connect to the daemon socket at unix://${this.socket}`, {
        code: "engine.denied",
        cause: err,
        hint: "the socket's group may use it: ask an administrator to add you (usermod -aG cove USER, then log in again), or run the command as root",
      });
    }
    return new CoveError("unavailable", `Cannot connect to the Docker daemon at unix://${this.socket}. Is the docker daemon running?`, {
      code: "engine.unreachable",
      cause: err,
      hint: "start it: as root, any cove command starts it on the default socket (or cove daemon, or systemctl start cove.socket after cove system install); another daemon: COVE_HOST=unix:///PATH or cove context use NAME",
    });
  }

  /** One HTTP request; resolves with the response whatever its status. */
  private async raw(method: string, path: string, opts: RequestOptions, versioned = true): Promise<http.IncomingMessage> {
    const prefix = versioned ? `/v${await this.apiVersion()}` : "";
    const { body, headers } = this.encodeBody(opts);
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socket, method, path: prefix + path + encodeQuery(opts.query), headers, agent: false }, resolve);
      req.on("error", (err: NodeJS.ErrnoException) => reject(err.code === "ENOENT" || err.code === "ECONNREFUSED" || err.code === "EACCES" ? this.unavailable(err) : err));
      this.sendBody(req, body);
    });
  }

  private encodeBody(opts: RequestOptions): { body: Buffer | Readable | undefined; headers: Record<string, string> } {
    const headers: Record<string, string> = { ...opts.headers };
    let body: Buffer | Readable | undefined;
    if (opts.body === undefined) body = undefined;
    else if (Buffer.isBuffer(opts.body)) body = opts.body;
    else if (typeof (opts.body as Readable).pipe === "function") body = opts.body as Readable;
    else {
      body = Buffer.from(JSON.stringify(opts.body));
      headers["Content-Type"] ??= "application/json";
    }
    if (Buffer.isBuffer(body)) headers["Content-Length"] = String(body.length);
    return { body, headers };
  }

  private sendBody(req: http.ClientRequest, body: Buffer | Readable | undefined): void {
    if (body === undefined || Buffer.isBuffer(body)) req.end(body);
    else {
      body.on("error", (err) => req.destroy(err));
      body.pipe(req);
    }
  }

  /** A request whose error statuses throw EngineError; the response body is left to the caller. */
  async stream(method: string, path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const res = await this.raw(method, path, opts);
    const status = res.statusCode ?? 500;
    if (status >= 400) throw new EngineError(status, errorMessage(status, await readAll(res)));
    return res;
  }

  /** A JSON request: the parsed answer, undefined for an empty body (204, 304). */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.stream(method, path, opts);
    const body = await readAll(res);
    if (body.length === 0) return undefined as T;
    const type = String(res.headers["content-type"] ?? "");
    const text = body.toString("utf8");
    if (!type.includes("json")) return text as T;
    return JSON.parse(text) as T;
  }

  /** POST with `Connection: Upgrade` / `Upgrade: tcp`; resolves with the raw connection after 101. */
  async hijack(path: string, opts: RequestOptions = {}): Promise<HijackedStream> {
    const prefix = `/v${await this.apiVersion()}`;
    const { body, headers } = this.encodeBody(opts);
    headers.Connection = "Upgrade";
    headers.Upgrade = "tcp";
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.socket, method: "POST", path: prefix + path + encodeQuery(opts.query), headers, agent: false });
      req.on("upgrade", (res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        const type = String(res.headers["content-type"] ?? "");
        resolve(type.includes("multiplexed") ? { socket, multiplexed: true, headers: res.headers } : { socket, headers: res.headers });
      });
      req.on("response", (res) => {
        const status = res.statusCode ?? 500;
        if (status >= 400) {
          readAll(res).then((b) => reject(new EngineError(status, errorMessage(status, b))), reject);
          return;
        }
        // a daemon that does not upgrade: the response body is the output, there is no stdin
        resolve({ socket: res as unknown as Duplex });
      });
      req.on("error", (err: NodeJS.ErrnoException) => reject(err.code === "ENOENT" || err.code === "ECONNREFUSED" || err.code === "EACCES" ? this.unavailable(err) : err));
      this.sendBody(req, body);
    });
  }

  // ---- system ---------------------------------------------------------------------------------

  async ping(): Promise<{ apiVersion: string | undefined; osType: string | undefined }> {
    const res = await this.raw("GET", "/_ping", {}, false);
    const status = res.statusCode ?? 500;
    const body = await readAll(res);
    if (status >= 400) throw new EngineError(status, errorMessage(status, body));
    const h = (k: string) => (typeof res.headers[k] === "string" ? (res.headers[k] as string) : undefined);
    return { apiVersion: h("api-version"), osType: h("ostype") };
  }

  version(): Promise<VersionResponse> {
    return this.json("GET", "/version");
  }

  info(): Promise<InfoResponse> {
    return this.json("GET", "/info");
  }

  /** GET /events as an async iterator of messages (until `until` or the caller stops). */
  async events(query: { since?: string; until?: string; filters?: Record<string, string[]> } = {}): Promise<AsyncGenerator<EventMessage>> {
    const res = await this.stream("GET", "/events", { query });
    return jsonLines<EventMessage>(res);
  }

  // ---- containers -----------------------------------------------------------------------------

  /** POST /containers/create; `pod` (cove's) creates the container in that pod. */
  containerCreate(body: object, query: { name?: string; platform?: string; pod?: string } = {}): Promise<CreateResponse> {
    return this.json("POST", "/containers/create", { query, body });
  }

  async containerStart(id: string, query: { detachKeys?: string; checkpoint?: string; "checkpoint-dir"?: string } = {}): Promise<void> {
    await this.json("POST", `/containers/${enc(id)}/start`, { query });
  }

  async containerStop(id: string, query: { t?: number; signal?: string } = {}): Promise<void> {
    await this.json("POST", `/containers/${enc(id)}/stop`, { query });
  }

  async containerRestart(id: string, query: { t?: number; signal?: string } = {}): Promise<void> {
    await this.json("POST", `/containers/${enc(id)}/restart`, { query });
  }

  async containerKill(id: string, signal?: string): Promise<void> {
    await this.json("POST", `/containers/${enc(id)}/kill`, { query: { signal } });
  }

  async containerRemove(id: string, query: { force?: boolean; v?: boolean; link?: boolean } = {}): Promise<void> {
    await this.json("DELETE", `/containers/${enc(id)}`, { query });
  }

  containerInspect(id: string, query: { size?: boolean } = {}): Promise<ContainerInspect> {
    return this.json("GET", `/containers/${enc(id)}/json`, { query });
  }

  containerList(query: { all?: boolean; limit?: number; size?: boolean; filters?: Record<string, string[]> } = {}): Promise<ContainerSummary[]> {
    return this.json("GET", "/containers/json", { query });
  }

  /** The log stream (framed unless the container has a TTY). */
  containerLogs(
    id: string,
    query: { follow?: boolean; stdout?: boolean; stderr?: boolean; since?: string; until?: string; timestamps?: boolean; tail?: string; details?: boolean },
  ): Promise<http.IncomingMessage> {
    return this.stream("GET", `/containers/${enc(id)}/logs`, { query });
  }

  /** The hijacked attach connection. */
  containerAttach(
    id: string,
    query: { stream?: boolean; stdin?: boolean; stdout?: boolean; stderr?: boolean; logs?: boolean; detachKeys?: string } = {},
    headers: Record<string, string> = {},
  ): Promise<HijackedStream> {
    return this.hijack(`/containers/${enc(id)}/attach`, { query: { stream: true, ...query }, headers });
  }

  /** POST /wait; resolves when the condition is met (the request is sent right away). */
  containerWait(id: string, condition?: "not-running" | "next-exit" | "removed"): Promise<WaitResponse> {
    return this.json("POST", `/containers/${enc(id)}/wait`, { query: { condition } });
  }

  async containerPause(id: string): Promise<void> {
    await this.json("POST", `/containers/${enc(id)}/pause`);
  }

  async containerUnpause(id: string): Promise<void> {
    await this.json("POST", `/containers/${enc(id)}/unpause`);
  }

  async containerRename(id: string, name: string): Promise<void> {
    await this.json("POST", `/containers/${enc(id)}/rename`, { query: { name } });
  }

  containerUpdate(id: string, body: object): Promise<UpdateResponse> {
    return this.json("POST", `/containers/${enc(id)}/update`, { body });
  }

  containerTop(id: string, psArgs?: string): Promise<TopResponse> {
    return this.json("GET", `/containers/${enc(id)}/top`, { query: { ps_args: psArgs } });
  }

  /** One stats sample (stream=false), read with one-shot when `oneShot`. */
  containerStats(id: string, query: { oneShot?: boolean } = {}): Promise<StatsResponse> {
    return this.json("GET", `/containers/${enc(id)}/stats`, { query: { stream: false, "one-shot": query.oneShot } });
  }

  /** The stats stream: one sample a second. */
  async containerStatsStream(id: string): Promise<AsyncGenerator<StatsResponse>> {
    const res = await this.stream("GET", `/containers/${enc(id)}/stats`, { query: { stream: true } });
    return jsonLines<StatsResponse>(res);
  }

  containerPrune(filters?: Record<string, string[]>): Promise<ContainerPruneResponse> {
    return this.json("POST", "/containers/prune", { query: { filters } });
  }

  async containerResize(id: string, height: number, width: number): Promise<void> {
    await this.json("POST", `/containers/${enc(id)}/resize`, { query: { h: height, w: width } });
  }

  containerChanges(id: string): Promise<ChangeItem[] | null> {
    return this.json("GET", `/containers/${enc(id)}/changes`);
  }

  /** The container's filesystem as a tar stream. */
  containerExport(id: string): Promise<http.IncomingMessage> {
    return this.stream("GET", `/containers/${enc(id)}/export`);
  }

  /** A tar of `path` in the container, with the stat of `path` (X-Docker-Container-Path-Stat). */
  async containerArchiveGet(id: string, path: string): Promise<{ stat: PathStat | undefined; tar: http.IncomingMessage }> {
    const tar = await this.stream("GET", `/containers/${enc(id)}/archive`, { query: { path } });
    return { stat: decodePathStat(tar.headers["x-docker-container-path-stat"]), tar };
  }

  /** HEAD /archive: the stat of a path in the container. */
  async containerStatPath(id: string, path: string): Promise<PathStat | undefined> {
    const res = await this.raw("HEAD", `/containers/${enc(id)}/archive`, { query: { path } });
    res.resume();
    const status = res.statusCode ?? 500;
    if (status === 404) throw new EngineError(404, `Could not find the file ${path} in container ${id}`);
    if (status >= 400) throw new EngineError(status, `${status} ${http.STATUS_CODES[status] ?? ""}`.trim());
    return decodePathStat(res.headers["x-docker-container-path-stat"]);
  }

  /** Extracts a tar into directory `path` of the container. */
  async containerArchivePut(id: string, path: string, tar: Readable | Buffer, query: { noOverwriteDirNonDir?: boolean; copyUIDGID?: boolean } = {}): Promise<void> {
    await this.json("PUT", `/containers/${enc(id)}/archive`, {
      query: { path, noOverwriteDirNonDir: query.noOverwriteDirNonDir, copyUIDGID: query.copyUIDGID },
      body: tar,
      headers: { "Content-Type": "application/x-tar" },
    });
  }

  containerCommit(query: { container: string; repo?: string; tag?: string; comment?: string; author?: string; pause?: boolean; changes?: string }, config?: object): Promise<{ Id: string }> {
    return this.json("POST", "/commit", { query, body: config ?? {} });
  }

  // ---- exec -----------------------------------------------------------------------------------

  execCreate(id: string, options: ExecConfig): Promise<{ Id: string }> {
    return this.json("POST", `/containers/${enc(id)}/exec`, { body: options });
  }

  /** Starts an exec attached: the hijacked connection. */
  execStartAttached(execId: string, options: { Tty?: boolean; ConsoleSize?: [number, number] | null } = {}): Promise<HijackedStream> {
    return this.hijack(`/exec/${enc(execId)}/start`, { body: { Detach: false, Tty: options.Tty ?? false, ...(options.ConsoleSize ? { ConsoleSize: options.ConsoleSize } : {}) } });
  }

  /** Starts an exec detached. */
  async execStart(execId: string, options: { Tty?: boolean } = {}): Promise<void> {
    await this.json("POST", `/exec/${enc(execId)}/start`, { body: { Detach: true, Tty: options.Tty ?? false } });
  }

  execInspect(execId: string): Promise<ExecInspect> {
    return this.json("GET", `/exec/${enc(execId)}/json`);
  }

  async execResize(execId: string, height: number, width: number): Promise<void> {
    await this.json("POST", `/exec/${enc(execId)}/resize`, { query: { h: height, w: width } });
  }

  // ---- images ---------------------------------------------------------------------------------

  imageList(query: { all?: boolean; filters?: Record<string, string[]> } = {}): Promise<ImageSummary[]> {
    return this.json("GET", "/images/json", { query });
  }

  imageInspect(name: string): Promise<ImageInspect> {
    return this.json("GET", `/images/${encName(name)}/json`);
  }

  imageHistory(name: string): Promise<ImageHistoryItem[]> {
    return this.json("GET", `/images/${encName(name)}/history`);
  }

  /** POST /images/{source}/tag: names the image repo:tag (tag "latest" when absent, as the daemon defaults). */
  async imageTag(source: string, repo: string, tag?: string): Promise<void> {
    await this.json("POST", `/images/${encName(source)}/tag`, { query: { repo, tag } });
  }

  /** DELETE /images/{name}: what was untagged and deleted. */
  imageRemove(name: string, query: { force?: boolean; noprune?: boolean } = {}): Promise<ImageDeleteItem[]> {
    return this.json("DELETE", `/images/${encName(name)}`, { query });
  }

  imagePrune(filters?: Record<string, string[]>): Promise<ImagePruneResponse> {
    return this.json("POST", "/images/prune", { query: { filters } });
  }

  /** GET /images/get: the images as a docker-save tar stream. */
  imageSave(names: string[]): Promise<http.IncomingMessage> {
    return this.stream("GET", "/images/get", { query: { names } });
  }

  /** POST /images/load: sends the archive, answers a JSON progress stream. */
  imageLoad(archive: Readable | Buffer, query: { quiet?: boolean; platform?: string } = {}): Promise<http.IncomingMessage> {
    return this.stream("POST", "/images/load", { query: { quiet: query.quiet ?? false, platform: query.platform }, body: archive, headers: { "Content-Type": "application/x-tar" } });
  }

  /**
   * POST /images/create?fromSrc: a root filesystem tar as a new image; `fromSrc` is "-" when the tar
   * is the body. Answers a JSON progress stream whose last status is the image ID.
   */
  imageImport(
    source: Readable | Buffer | undefined,
    query: { fromSrc: string; repo?: string; tag?: string; message?: string; changes?: string[]; platform?: string },
  ): Promise<http.IncomingMessage> {
    return this.stream("POST", "/images/create", {
      query,
      ...(source !== undefined ? { body: source, headers: { "Content-Type": "application/x-tar" } } : {}),
    });
  }

  systemDf(query: { type?: string[] } = {}): Promise<DiskUsageResponse> {
    return this.json("GET", "/system/df", { query });
  }

  /** POST /images/create (pull) as a stream of progress messages; registryAuth is the X-Registry-Auth header's value. */
  async imagePull(query: { fromImage: string; tag?: string; platform?: string }, registryAuth?: string): Promise<http.IncomingMessage> {
    return this.stream("POST", "/images/create", { query, ...(registryAuth !== undefined ? { headers: { "X-Registry-Auth": registryAuth } } : {}) });
  }

  /** POST /images/{name}/push as a stream of progress messages; registryAuth is the X-Registry-Auth header's value. */
  async imagePush(name: string, query: { tag?: string; platform?: string }, registryAuth: string): Promise<http.IncomingMessage> {
    return this.stream("POST", `/images/${encName(name)}/push`, { query, headers: { "X-Registry-Auth": registryAuth } });
  }

  /** GET /images/search: repositories of a registry matching term (limit 0: the daemon's default). */
  imageSearch(term: string, opts: { limit?: number; filters?: Record<string, string[]> } = {}, registryAuth?: string): Promise<ImageSearchResult[]> {
    const query: Query = { term };
    if (opts.limit) query.limit = opts.limit;
    if (opts.filters && Object.keys(opts.filters).length > 0) query.filters = opts.filters;
    return this.json("GET", "/images/search", { query, ...(registryAuth !== undefined ? { headers: { "X-Registry-Auth": registryAuth } } : {}) });
  }

  /** POST /auth: checks credentials with a registry. */
  registryLogin(auth: { username?: string; password?: string; serveraddress?: string; identitytoken?: string }): Promise<{ Status: string; IdentityToken?: string }> {
    return this.json("POST", "/auth", { body: auth });
  }

  // ---------------------------------------------------------------- volumes

  volumeList(filters?: Record<string, string[]>): Promise<VolumeListResponse> {
    return this.json("GET", "/volumes", { query: { filters } });
  }

  volumeCreate(body: VolumeCreateRequest): Promise<Volume> {
    return this.json("POST", "/volumes/create", { body });
  }

  volumeInspect(name: string): Promise<Volume> {
    return this.json("GET", `/volumes/${enc(name)}`);
  }

  async volumeRemove(name: string, query: { force?: boolean } = {}): Promise<void> {
    await this.json("DELETE", `/volumes/${enc(name)}`, { query });
  }

  volumePrune(filters?: Record<string, string[]>): Promise<VolumePruneResponse> {
    return this.json("POST", "/volumes/prune", { query: { filters } });
  }
}

export function decodePathStat(header: string | string[] | undefined): PathStat | undefined {
  if (typeof header !== "string" || header === "") return undefined;
  try {
    return JSON.parse(Buffer.from(header, "base64").toString("utf8")) as PathStat;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    return undefined; // a header that is not a stat: as if the daemon had sent none
  }
}
