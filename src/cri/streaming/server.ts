// The CRI streaming server: the HTTP server whose URLs Exec, Attach and PortForward answer with
// (/exec/{token}, /attach/{token}, /portforward/{token} on 127.0.0.1 and a port of the kernel's
// choosing by default, as containerd's). A client opens the URL with `Upgrade: SPDY/3.1` and the
// protocols it speaks in X-Stream-Protocol-Version; the server consumes the token, picks the first
// protocol of the client's it serves, answers 101 and speaks SPDY on the connection from there.
// The kubelet's answers to what goes wrong: an unknown, used or expired token is a 404; no
// protocol header is a 400, no protocol in common a 403 (with the accepted ones in
// X-Accepted-Stream-Protocol-Versions); a request without the upgrade headers is a 400.

import { once } from "node:events";
import http from "node:http";
import type net from "node:net";
import type { Duplex } from "node:stream";
import { CoveError, fromErrno, invalid } from "../../common/errors.js";
import { ignored, notice, type LogLine } from "../../common/ignore.js";
import { HALF_CLOSE_GRACE_MS, servePortForward, PORT_FORWARD_PROTOCOL } from "./portforward.js";
import { REMOTE_COMMAND_PROTOCOLS, serveRemoteCommand, type RemoteCommand } from "./remotecommand.js";
import type { StreamingRuntime } from "./services.js";
import { SpdySession } from "./spdy.js";
import { TokenCache } from "./tokens.js";

/** How long a client has to open the streams a request needs (the kubelet's default). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;
/** How long a streaming connection may sit without a frame (containerd's and the kubelet's default, 4 h). */
export const STREAM_IDLE_TIMEOUT_MS = 4 * 3600_000;

export interface StreamingServerOptions {
  /** Address to listen on (default 127.0.0.1: the streams carry no authentication of their own). */
  address?: string;
  /** Port (default 0: the kernel picks one). */
  port?: number;
  /** The base of the URLs handed out (default http://<address>:<port>). */
  baseUrl?: string;
  streamCreationTimeoutMs?: number;
  streamIdleTimeoutMs?: number;
  /** How long a forwarded connection the pod ended waits for more of the client's data (default 1 s, as containerd). */
  portForwardGraceMs?: number;
  log?: LogLine;
}

export type StreamRequest = RemoteCommand | { kind: "portforward"; sandboxId: string; ports: number[] };

export class StreamingServer {
  readonly tokens = new TokenCache<StreamRequest>();
  private readonly http: http.Server;
  private readonly sessions = new Set<SpdySession>();
  private readonly sockets = new Set<net.Socket>();
  private base = "";
  private readonly log: LogLine;
  private readonly creationMs: number;
  private readonly idleMs: number;

  private constructor(
    readonly runtime: StreamingRuntime,
    private readonly opts: StreamingServerOptions,
  ) {
    this.log = opts.log ?? ((line) => notice(line));
    this.creationMs = opts.streamCreationTimeoutMs ?? STREAM_CREATION_TIMEOUT_MS;
    this.idleMs = opts.streamIdleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS;
    this.http = http.createServer((req, res) => this.onRequest(req, res));
    this.http.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket as net.Socket, head));
    this.http.on("connection", (s: net.Socket) => {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
    });
  }

  /** Starts a server listening on address:port (127.0.0.1:0 unless told). */
  static async start(runtime: StreamingRuntime, opts: StreamingServerOptions = {}): Promise<StreamingServer> {
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`streaming server port ${port} is not a port number (0 to 65535)`, { code: "cri.streaming-port" });
    const s = new StreamingServer(runtime, opts);
    const address = opts.address ?? "127.0.0.1";
    s.http.listen(port, address);
    try {
      await once(s.http, "listening");
    } catch (err) {
      throw fromErrno(err, `listening for CRI streams on ${address}:${port}`, "give the streaming server another address or port");
    }
    const bound = s.http.address() as net.AddressInfo;
    const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
    s.base = (opts.baseUrl ?? `http://${host}:${bound.port}`).replace(/\/+$/, "");
    return s;
  }

  /** The base URL of the handed-out URLs (http://127.0.0.1:PORT). */
  get url(): string {
    return this.base;
  }

  /** A URL for the request, good for one use within a minute. */
  urlFor(req: StreamRequest): string {
    const token = this.tokens.insert(req);
    const path = req.kind === "portforward" ? "portforward" : req.kind;
    return `${this.base}/${path}/${token}`;
  }

  /** Stops listening and ends every connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // ---- requests

  /** The request a URL's token stands for, consumed; undefined for any other path or token. */
  private take(url: string | undefined): StreamRequest | undefined {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)(?:\?.*)?$/.exec(url ?? "");
    if (!m) return undefined;
    const req = this.tokens.consume(m[2]!);
    return req && (req.kind === "portforward" ? "portforward" : req.kind) === m[1] ? req : undefined;
  }

  private check(req: http.IncomingMessage): { status: number; body: string; headers?: Record<string, string[]> } | { request: StreamRequest; protocol: string } {
    if (req.method !== "GET" && req.method !== "POST") return { status: 405, body: "405: Method Not Allowed" };
    const request = this.take(req.url);
    if (!request) return { status: 404, body: "404 page not found" };
    const served = request.kind === "portforward" ? [PORT_FORWARD_PROTOCOL] : REMOTE_COMMAND_PROTOCOLS;
    const raw = req.headersDistinct["x-stream-protocol-version"] ?? [];
    const offered = raw.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
    if (offered.length === 0) return { status: 400, body: "unable to upgrade: X-Stream-Protocol-Version is required" };
    const protocol = offered.find((p) => served.includes(p));
    if (!protocol) {
      return {
        status: 403,
        body: `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(" ")}], server accepts [${served.join(" ")}]`,
        headers: { "X-Accepted-Stream-Protocol-Versions": served },
      };
    }
    const connection = String(req.headers.connection ?? "").toLowerCase();
    const upgrade = String(req.headers.upgrade ?? "").toLowerCase();
    if (!connection.includes("upgrade") || !upgrade.includes("spdy/3.1")) {
      return { status: 400, body: `unable to upgrade: missing upgrade headers in request: ${JSON.stringify(req.headersDistinct)}` };
    }
    return { request, protocol };
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const c = this.check(req);
    // (a request that passes every check but did not ask to upgrade fails the last one)
    const r = "status" in c ? c : { status: 400, body: "unable to upgrade: missing upgrade headers in request" };
    res.writeHead(r.status, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", ...("headers" in r ? r.headers : {}) });
    res.end(`${r.body}\n`);
  }

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on("error", (err) => ignored("a streaming connection", err, this.log));
    const c = this.check(req);
    if ("status" in c) {
      const extra = Object.entries(c.headers ?? {}).flatMap(([k, vs]) => vs.map((v) => `${k}: ${v}\r\n`));
      const body = `${c.body}\n`;
      socket.end(
        `HTTP/1.1 ${c.status} ${http.STATUS_CODES[c.status] ?? ""}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n${extra.join("")}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${c.protocol}\r\nDate: ${new Date().toUTCString()}\r\n\r\n`);
    socket.setNoDelay(true);
    if (head.length > 0) socket.unshift(head);
    const session = new SpdySession(socket, { role: "server", idleTimeoutMs: this.idleMs });
    this.sessions.add(session);
    session.once("close", () => this.sessions.delete(session));
    const request = c.request;
    const work =
      request.kind === "portforward"
        ? servePortForward(session, this.runtime, request.sandboxId, { streamCreationTimeoutMs: this.creationMs, halfCloseGraceMs: this.opts.portForwardGraceMs ?? HALF_CLOSE_GRACE_MS, log: this.log })
        : serveRemoteCommand(session, this.runtime, request, { protocol: c.protocol, streamCreationTimeoutMs: this.creationMs, log: this.log });
    work.catch((err: unknown) => {
      this.log(`streaming: ${request.kind}: ${err instanceof CoveError ? err.describe() : (err as Error).message}`);
      session.destroy();
    });
  }
}
