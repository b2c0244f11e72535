// The daemon's thin HTTP router: Docker's route patterns (with and without the /v1.NN prefix),
// API version negotiation, the response headers dockerd sends, and the one place where errors
// become HTTP statuses (httpStatus from common/errors) and Docker's {"message": "..."} bodies.
//
// Patterns use gorilla/mux's syntax as moby's routers do: "/images/{name:.*}/json" (a parameter that
// may contain slashes, for image names such as localhost:5000/a/b:tag), "/containers/{id}/json" (one
// path segment). Routes are tried in registration order, so "/images/json" must be added before
// "/images/{name:.*}/json", as in moby.

import { ServerResponse, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { CoveError, diskFull, httpStatus, invalid } from "../common/errors.js";
import { bodyDeadline, bodyTimeout, tooLarge } from "./limits.js";
import { span, tracing } from "../common/trace.js";
import { parseJSONBody, validateBody, type BodyName } from "./body-schema.js";
import { Query } from "./query.js";

/** The newest Docker Engine API version cove speaks (the spec in shared/specs). */
export const API_VERSION = "1.47";
/** The oldest version accepted, as dockerd 27. */
export const MIN_API_VERSION = "1.24";
/** cove's engine version, as /version and /info report it. */
export const ENGINE_VERSION = "0.1.0";
export const SERVER_HEADER = `cove/${ENGINE_VERSION} (linux)`;

export type Method = "GET" | "HEAD" | "POST" | "PUT" | "DELETE";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
  query: Query;
  /** The negotiated API version: the URL's /v1.NN prefix, else API_VERSION. */
  version: string;
  /** Set when the client asked to switch protocols (`Upgrade: tcp`): see hijack() in stream.ts. */
  upgrade?: { socket: Duplex; head: Buffer };
  /** Aborted when the client goes away before the response ends. */
  signal: AbortSignal;
}

export type Handler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: Method;
  pattern: string;
  regex: RegExp;
  names: string[];
  handler: Handler;
}

/** Compares dotted versions numerically ("1.9" < "1.24"): negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = Number.parseInt(pa[i] ?? "0", 10) || 0;
    const y = Number.parseInt(pb[i] ?? "0", 10) || 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** True when the negotiated version is at least v (for fields that came with a version). */
export function versionAtLeast(version: string, v: string): boolean {
  return compareVersions(version, v) >= 0;
}

/** moby's version middleware check: the wording clients (and people) know. */
export function checkVersion(version: string): void {
  if (compareVersions(version, MIN_API_VERSION) < 0) {
    throw invalid(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`, {
      code: "api.version",
    });
  }
  if (compareVersions(version, API_VERSION) > 0) {
    throw invalid(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`, { code: "api.version" });
  }
}

function compile(pattern: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  let src = "";
  let last = 0;
  for (const m of pattern.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g)) {
    src += escapeRegex(pattern.slice(last, m.index));
    names.push(m[1] as string);
    src += m[2] !== undefined ? `(${m[2]})` : "([^/]+)";
    last = (m.index ?? 0) + m[0].length;
  }
  src += escapeRegex(pattern.slice(last));
  return { regex: new RegExp(`^${src}$`), names };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The headers every response carries, as dockerd's version middleware sets them. */
export function setCommonHeaders(res: ServerResponse): void {
  res.setHeader("Api-Version", API_VERSION);
  res.setHeader("Docker-Experimental", "false");
  res.setHeader("Ostype", "linux");
  res.setHeader("Server", SERVER_HEADER);
}

/** Writes a JSON body (Go's json.Encoder form: one line, trailing newline). */
export function sendJSON(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value) + "\n";
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/** An empty reply (201 Created, 204 No Content, ...). */
export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { "Content-Length": 0 });
  res.end();
}

/** The text Docker's clients show after "Error response from daemon: ". */
export function errorMessage(err: unknown): string {
  if (err instanceof CoveError) return err.describe();
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The one mapping of errors to HTTP: status from httpStatus(), body {"message": "..."}. */
export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    // A stream already started: the status is gone; cut the connection so the client sees a failure.
    res.destroy(err instanceof Error ? err : undefined);
    return;
  }
  for (const h of res.getHeaderNames()) if (!["api-version", "docker-experimental", "ostype", "server"].includes(h)) res.removeHeader(h);
  // the rest of a body too large or too slow is not read: the connection cannot carry another request
  if (err instanceof CoveError && (err.kind === "too-large" || err.kind === "timeout")) res.shouldKeepAlive = false;
  sendJSON(res, httpStatus(err), { message: errorMessage(err) });
}

/**
 * Reads and drops what is left of a refused request's body, up to a bound (as Go's net/http does
 * after a handler), so a client still sending it (docker cp's tar) reads the error rather than a
 * broken pipe. A larger or stalled body is left unread: the connection then closes.
 */
export function drainBody(req: IncomingMessage, limit = 256 << 10, timeoutMs = 2000): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      req.removeListener("data", onData);
      req.removeListener("end", done);
      req.removeListener("error", done);
      req.removeListener("close", done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) {
        req.pause();
        done();
      }
    };
    const timer = setTimeout(done, timeoutMs);
    req.on("data", onData);
    req.once("end", done);
    req.once("error", done);
    req.once("close", done);
    req.resume();
  });
}

/** The largest JSON body a route reads: Docker's largest (a create with every field) is a few KB. */
export const MAX_JSON_BODY = 16 << 20;

/**
 * Reads a small request body (JSON documents; not for tars). A body over `limit` is refused with
 * a 413 (from its Content-Length before a byte is read, when it says so), and one that stalls for
 * `timeoutMs` (or takes ten times that in all) with a 408: a client that never finishes its body
 * holds the daemon no longer than that. Both answers close the connection.
 */
export async function readBody(req: IncomingMessage, limit = MAX_JSON_BODY, timeoutMs = bodyTimeout(req)): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  let deadline: ReturnType<typeof bodyDeadline> | undefined;
  const late = new Promise<never>((_, reject) => {
    deadline = bodyDeadline(timeoutMs, reject);
  });
  late.catch(() => undefined);
  const read = (async () => {
    for await (const c of req) {
      const b = c as Buffer;
      deadline?.progress();
      size += b.length;
      if (size > limit) throw tooLarge(limit);
      chunks.push(b);
    }
  })();
  try {
    await Promise.race([read, late]);
  } finally {
    deadline?.clear();
    read.catch(() => undefined);
  }
  return Buffer.concat(chunks);
}

/**
 * Reads a JSON request body; an empty body gives undefined. Every body is refused (400) when it
 * nests deeper than MAX_JSON_DEPTH; given the operation's name (its swagger operationId), the
 * body is also checked against the Engine API's schema for it (validateBody in body-schema.ts),
 * so a route hands its service only bodies whose fields have the types Docker's API gives them.
 */
export async function readJSON(req: IncomingMessage, body?: BodyName): Promise<unknown> {
  const bytes = await readBody(req);
  if (bytes.length === 0) return undefined;
  const value = parseJSONBody(bytes);
  return body ? validateBody(body, value) : value;
}

export interface RouterOptions {
  /** Called with unexpected (500) errors and their stacks. */
  log?: (line: string) => void;
  /** The daemon's state root: a full disk's error says where to make room. */
  stateRoot?: string;
}

export class Router {
  private readonly routes: Route[] = [];
  private readonly log: (line: string) => void;
  private readonly stateRoot: string | undefined;
  private held?: { until: Promise<void>; exempt: Set<string>; waited: number };

  constructor(options: RouterOptions = {}) {
    this.log = options.log ?? (() => undefined);
    this.stateRoot = options.stateRoot;
  }

  add(method: Method, pattern: string, handler: Handler): this {
    const { regex, names } = compile(pattern);
    this.routes.push({ method, pattern, regex, names, handler });
    return this;
  }
  get(pattern: string, handler: Handler): this {
    return this.add("GET", pattern, handler);
  }
  head(pattern: string, handler: Handler): this {
    return this.add("HEAD", pattern, handler);
  }
  post(pattern: string, handler: Handler): this {
    return this.add("POST", pattern, handler);
  }
  put(pattern: string, handler: Handler): this {
    return this.add("PUT", pattern, handler);
  }
  delete(pattern: string, handler: Handler): this {
    return this.add("DELETE", pattern, handler);
  }

  /**
   * Holds every request whose route is not in exempt (route patterns, e.g. "/_ping") until
   * `until` settles: the daemon answers /_ping, /version and /info at once after a restart while
   * its containers are restored, and every other request waits for the restore. When `until`
   * rejects, those requests keep failing with its error (the service behind them is not usable).
   * Resolves, once `until` has settled, with how many requests waited.
   */
  hold(until: Promise<void>, exempt: string[]): Promise<number> {
    const held = { until, exempt: new Set(exempt), waited: 0 };
    this.held = held;
    return until.then(
      () => {
        if (this.held === held) delete this.held;
        return held.waited;
      },
      () => held.waited,
    );
  }

  /** The registered routes, as "METHOD pattern" (for documentation and tests). */
  list(): string[] {
    return this.routes.map((r) => `${r.method} ${r.pattern}`);
  }

  /** Finds the route for a method and a path (with or without the /v1.NN prefix). */
  match(method: string, rawPath: string): { route: Route; params: Record<string, string>; version: string | undefined } | undefined {
    let p = rawPath;
    let version: string | undefined;
    const vm = /^\/v([0-9.]+)(\/.*)$/.exec(p);
    if (vm) {
      version = vm[1] as string;
      p = vm[2] as string;
    }
    for (const route of this.routes) {
      if (route.method !== method) continue;
      const m = route.regex.exec(p);
      if (!m) continue;
      const params: Record<string, string> = {};
      route.names.forEach((n, i) => {
        const raw = m[i + 1] ?? "";
        let v = raw;
        try {
          v = decodeURIComponent(raw);
        } catch (err) {
          // a malformed escape ("%zz") is matched as written, as Go's router does
          if (!(err instanceof URIError)) throw err;
          v = raw;
        }
        params[n] = v;
      });
      return { route, params, version };
    }
    return undefined;
  }

  /** Serves one request (from the server's 'request' event). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.dispatch(req, res, undefined);
  }

  /** Serves a request that asked to switch protocols (the server's 'upgrade' event). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    // A plain reply (an error, a 404) on an upgrade request ends the connection after it.
    res.on("finish", () => socket.end());
    socket.on("error", () => undefined);
    return this.dispatch(req, res, { socket, head });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, upgrade: { socket: Duplex; head: Buffer } | undefined): Promise<void> {
    setCommonHeaders(res);
    const controller = new AbortController();
    const abort = () => {
      if (!res.writableFinished) controller.abort();
    };
    res.on("close", abort);
    req.on("close", () => {
      if (req.destroyed && !req.complete) controller.abort();
    });
    try {
      const url = new URL(req.url ?? "/", "http://cove");
      // No HEAD fallback to GET: as in moby, HEAD exists only where registered (/_ping).
      const found = this.match((req.method ?? "GET").toUpperCase(), url.pathname);
      if (!found) {
        sendJSON(res, 404, { message: "page not found" });
        return;
      }
      // each request's time in the daemon, to its last byte out (COVE_TRACE; a no-op otherwise)
      if (tracing()) res.once("close", span(`api ${found.route.method} ${found.route.pattern}`));
      const version = found.version ?? API_VERSION;
      checkVersion(version);
      const held = this.held;
      if (held && !held.exempt.has(found.route.pattern)) {
        if (held.waited++ === 0) this.log(`${req.method ?? "?"} ${url.pathname} and the requests after it wait until the containers are restored`);
        await held.until;
      }
      const ctx: RouteContext = { req, res, params: found.params, query: new Query(url.searchParams), version, signal: controller.signal };
      if (upgrade) ctx.upgrade = upgrade;
      await found.route.handler(ctx);
    } catch (caught) {
      // a client that went away is not the daemon's error (a pull or search it stopped waiting for)
      if (controller.signal.aborted) {
        res.destroy();
        return;
      }
      const err = diskFull(caught, `${req.method ?? "?"} ${(req.url ?? "?").split("?")[0]}`, this.stateRoot);
      if (!(err instanceof CoveError) || httpStatus(err) === 500) {
        // a full disk is the host's state, not a bug: its message without a stack
        const text = err instanceof CoveError && err.code === "disk.full" ? err.describe() : err instanceof Error ? (err.stack ?? err.message) : String(err);
        this.log(`${req.method ?? "?"} ${req.url ?? "?"}: ${text}`);
      }
      if (!upgrade && !(err instanceof CoveError && (err.kind === "too-large" || err.kind === "timeout"))) await drainBody(req);
      sendError(res, err);
    }
  }
}
