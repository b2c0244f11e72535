// What one client may hold of the daemon. Docker's API has no general body limit, and clients
// keep connections open for hours (events, attach, logs -f), so the bounds are on what a client
// has not finished sending, never on how long an answer streams:
//
//   headers     a request's headers must be complete within headersTimeoutMs of the connection's
//               first byte (Node's headersTimeout, checked every checkIntervalMs), so a client that
//               sends them a byte a second, or opens a socket and sends nothing, is dropped with a 408
//   header size Node's 16 KiB: a larger request line or headers get a 431
//   JSON bodies MAX_JSON_BODY (413); a body may stall BODY_TIMEOUT_MS and take ten times that in
//               all (408), in router.readBody;
//               archive uploads (PUT archive, /images/load, /images/create?fromSrc=-, /build) stream
//               to disk and are bounded by it
//   connections at most maxConnections open at once (default: the open-file limit less a reserve
//               for the containers' monitors, logs and layers), so idle sockets cannot take the fds
//               the daemon needs; an idle one goes after headersTimeoutMs (no request) or
//               Node's keepAliveTimeout (between requests)
//
// A request Node's parser refuses (bad framing, headers too large, too slow) gets Docker's JSON
// error body and the connection closes, instead of a dropped socket the client cannot explain.

import { readFileSync } from "node:fs";
import type http from "node:http";
import type { Duplex } from "node:stream";
import { CoveError } from "../common/errors.js";

export interface RequestLimits {
  /** The time a client has to send a request's headers (default 60 s, as Node's). */
  headersTimeoutMs?: number;
  /** How often the server looks for connections past headersTimeoutMs (default 5 s). */
  checkIntervalMs?: number;
  /** Connections open at once (default from the open-file limit). */
  maxConnections?: number;
  /** How long a JSON body may stall, without a byte (default 60 s; ten times that in all). */
  bodyTimeoutMs?: number;
}

/** How long a JSON body may stall when the server sets no other bound. */
export const BODY_TIMEOUT_MS = 60_000;
const bodyTimeouts = new WeakMap<http.IncomingMessage, number>();

/** The time the request's body has to arrive (the server's limits, set as the request came in). */
export function bodyTimeout(req: http.IncomingMessage): number {
  return bodyTimeouts.get(req) ?? BODY_TIMEOUT_MS;
}

/** File descriptors kept for everything but API connections: monitors, logs, layers, netlink. */
const FD_RESERVE = 512;

export const tooLarge = (limit: number) =>
  new CoveError("too-large", `request body is larger than ${limit} bytes`, { code: "request.too-large", hint: "send a smaller body: the daemon's JSON requests are a few KB; upload files with docker cp, docker load or docker build" });

export const timedOut = (ms: number, stalled = true) =>
  new CoveError(
    "timeout",
    stalled ? `the request body did not arrive within ${Math.round(ms / 1000)} s: no byte came for that long` : `the request body did not arrive within ${Math.round(ms / 1000)} s`,
    { code: "request.timeout", hint: "send the whole body (as its Content-Length says) without long pauses" },
  );

/**
 * A body's bounds: `idleMs` without a byte (a stalled client), and ten times that in all (a client
 * that sends a byte now and then). A large body on a busy machine may take longer than idleMs
 * to arrive, which is no reason to refuse it while it keeps coming.
 */
export function bodyDeadline(idleMs: number, onLate: (err: CoveError) => void): { progress(): void; clear(): void } {
  const totalMs = idleMs * 10;
  const idle = setTimeout(() => onLate(timedOut(idleMs)), idleMs);
  const total = setTimeout(() => onLate(timedOut(totalMs, false)), totalMs);
  return {
    progress: () => idle.refresh(),
    clear: () => {
      clearTimeout(idle);
      clearTimeout(total);
    },
  };
}

/** The soft open-file limit of this process, from /proc/self/limits (undefined when unreadable or unlimited). */
export function openFileLimit(limitsFile = "/proc/self/limits"): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(limitsFile, "utf8"));
    return m && m[1] !== "unlimited" ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The connection cap for an open-file limit: what is left after the reserve, at least 64. */
export function connectionCap(fdLimit: number | undefined): number {
  if (fdLimit === undefined) return 10_000;
  return Math.max(64, fdLimit - FD_RESERVE);
}

/** The status and message for an error Node's HTTP parser raised on a connection. */
export function parserError(err: NodeJS.ErrnoException): { status: number; reason: string; message: string } {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return { status: 431, reason: "Request Header Fields Too Large", message: "the request line and headers are larger than the daemon accepts (16 KiB): send a shorter URL or fewer headers" };
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, reason: "Request Timeout", message: "the request's headers did not arrive in time: the daemon closed the connection" };
    default:
      return { status: 400, reason: "Bad Request", message: `malformed HTTP request (${err.code ?? "parse error"}${err.message ? `: ${err.message}` : ""})` };
  }
}

/** Answers a request the parser refused with a JSON error, when nothing else is being answered on the socket, and closes it. */
function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: http.ServerResponse | null })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  if (inFlight && !inFlight.writableEnded) {
    // an earlier request on the connection is still being answered: let that answer finish, then close
    inFlight.once("finish", () => socket.end());
    inFlight.once("close", () => socket.destroy());
    return;
  }
  const { status, reason, message } = parserError(err);
  const body = JSON.stringify({ message }) + "\n";
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  // a client that does not read its answer does not keep the socket either
  setTimeout(() => socket.destroy(), 5000).unref();
}

/** Applies the limits to a server the daemon listens with. */
export function applyLimits(server: http.Server, limits: RequestLimits = {}): void {
  server.headersTimeout = limits.headersTimeoutMs ?? 60_000;
  server.maxConnections = limits.maxConnections ?? connectionCap(openFileLimit());
  server.on("clientError", onClientError);
  if (limits.bodyTimeoutMs !== undefined) {
    const ms = limits.bodyTimeoutMs;
    // registered before the router's handler: the bound is known when a route reads the body
    server.prependListener("request", (req: http.IncomingMessage) => bodyTimeouts.set(req, ms));
    server.prependListener("upgrade", (req: http.IncomingMessage) => bodyTimeouts.set(req, ms));
  }
}

/** The options http.createServer takes for the limits (the check interval is fixed at creation). */
export function serverOptions(limits: RequestLimits = {}): http.ServerOptions {
  // no overall request timeout: loads and imports stream large bodies for as long as they take
  return { requestTimeout: 0, headersTimeout: limits.headersTimeoutMs ?? 60_000, connectionsCheckingInterval: limits.checkIntervalMs ?? 5000 };
}
