// The registry client's HTTP transport: node:http and node:https with keep-alive agents.
//
// Not fetch: Node's fetch refuses the ports the Fetch standard blocks for browsers (6000,
// 6665-6669, 10080, ...), where dockerd reaches a registry like any other, and its WHATWG body
// streams cost a promise per chunk on the hot path of a pull. A response's body here is the
// IncomingMessage itself (a node stream of Buffers).
//
// Redirects are not followed (the client follows them by hand, deciding where credentials go);
// a request is cancelled by its signal, which also ends a body being read.

import http from "node:http";
import https from "node:https";
import { invalid } from "../common/errors.js";

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | Uint8Array | string;
  signal?: AbortSignal;
}

// Connections are reused across a pull's many requests; idle ones do not keep the process alive.
const httpAgent = new http.Agent({ keepAlive: true, scheduling: "lifo" });
const httpsAgent = new https.Agent({ keepAlive: true, scheduling: "lifo" });

/** A discarded body is read to its end (so its connection is reused) when it is at most this long, else the connection is closed. */
const DRAIN_LIMIT = 64 * 1024;

/** A registry's answer: status, headers, and the body as a node stream. */
export class HttpResponse {
  constructor(
    readonly message: http.IncomingMessage,
    private readonly method: string,
  ) {}

  get status(): number {
    return this.message.statusCode ?? 0;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** A header's value (several joined with ", "), or undefined. */
  header(name: string): string | undefined {
    const v = this.message.headers[name.toLowerCase()];
    if (v === undefined) return undefined;
    return Array.isArray(v) ? v.join(", ") : v;
  }

  /** The body's chunks. */
  get body(): AsyncIterable<Buffer> {
    return this.message;
  }

  /** Drops the rest of the body: a short one is drained so the connection is reused, a long one closes it. */
  discard(): void {
    const m = this.message;
    if (m.readableEnded || m.destroyed) return;
    const length = Number(m.headers["content-length"]);
    if (this.method === "HEAD" || (Number.isFinite(length) && length <= DRAIN_LIMIT)) m.resume();
    else m.destroy();
  }

  /** The body, at most `limit` bytes; `onTooLarge` makes the error when there are more (the connection is closed). */
  async bytes(limit: number, onTooLarge: () => Error): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of this.message as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) {
        this.message.destroy();
        throw onTooLarge();
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, total);
  }
}

/**
 * Sends one request; resolves when the response's headers arrive. Rejects with the connection's
 * error (ECONNREFUSED, ECONNRESET, a TLS failure) or the signal's reason.
 */
export function httpRequest(url: string | URL, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const u = typeof url === "string" ? new URL(url) : url;
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    return Promise.reject(invalid(`cannot reach ${u.href}: only http and https URLs are supported`, { code: "registry.url-scheme" }));
  }
  const method = (options.method ?? "GET").toUpperCase();
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  const headers: Record<string, string> = { ...options.headers };
  const body = options.body;
  if (body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === "content-length")) {
    headers["Content-Length"] = String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength);
  }
  return new Promise<HttpResponse>((resolve, reject) => {
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(u, { method, headers, agent: u.protocol === "https:" ? httpsAgent : httpAgent });
    let settled = false;
    let response: http.IncomingMessage | undefined;
    const onAbort = () => {
      const reason = signal!.reason as Error;
      response?.destroy(reason);
      req.destroy(reason);
      if (!settled) {
        settled = true;
        reject(reason);
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const release = () => signal?.removeEventListener("abort", onAbort);
    req.on("error", (err) => {
      release();
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    req.on("response", (res) => {
      settled = true;
      response = res;
      // the signal now ends the body too; the listener goes when the body does
      res.once("close", release);
      // an error of a body nobody reads (a discarded one) is not the process's: a reader sees it through its iterator
      res.on("error", () => undefined);
      resolve(new HttpResponse(res, method));
    });
    if (body === undefined) req.end();
    else req.end(body);
  });
}
