// A small client of the streaming server for tests, doing what client-go's SPDY executor does:
// the upgrade request, then streams of each type over the client side of a SPDY session. Not
// part of the package's API.

import http from "node:http";
import type net from "node:net";
import { SpdySession, type SpdyStream } from "./spdy.js";

export interface Upgraded {
  session: SpdySession;
  protocol: string;
}

export interface Refused {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** Opens url with Upgrade: SPDY/3.1 offering protocols; the session, or the server's refusal. */
export function upgrade(url: string, protocols: string[], opts: { method?: string; upgradeHeaders?: boolean } = {}): Promise<Upgraded | Refused> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = {};
    if (opts.upgradeHeaders !== false) {
      headers.Connection = "Upgrade";
      headers.Upgrade = "SPDY/3.1";
    }
    if (protocols.length > 0) headers["X-Stream-Protocol-Version"] = protocols;
    const req = http.request(url, { method: opts.method ?? "POST", headers });
    req.on("upgrade", (res: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (head.length > 0) socket.unshift(head);
      const session = new SpdySession(socket, { role: "client" });
      resolve({ session, protocol: String(res.headers["x-stream-protocol-version"] ?? "") });
    });
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (d: Buffer) => parts.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString(), headers: res.headers }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Everything a stream carries until its end (or reset). */
export function readAll(s: SpdyStream): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const done = () => resolve(Buffer.concat(parts));
    s.on("data", (d: Buffer) => parts.push(d));
    s.once("end", done);
    s.once("done", () => {
      // a reset stream ends without "end" when nothing waits to be read
      if (s.readableLength === 0) setImmediate(done);
    });
  });
}

/** Opens a stream of the streamtype (and other headers) and waits for the server's reply. */
export async function openTyped(session: SpdySession, type: string, extra: Record<string, string> = {}): Promise<SpdyStream> {
  const headers: Record<string, string[]> = { streamtype: [type] };
  for (const [k, v] of Object.entries(extra)) headers[k] = [v];
  const s = session.openStream(headers);
  await s.waitReply();
  return s;
}

/** Waits until cond() holds, checking every few milliseconds, up to timeoutMs. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
