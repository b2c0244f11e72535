// One exchange with an upstream resolver: the client's query bytes sent under a fresh random ID
// (so a forged reply must guess it), over UDP or TCP, with a deadline. A reply counts only when
// its ID, QR bit and question match; anything else on the socket is ignored. The caller restores
// the client's ID before relaying.

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect, isIPv6, type Socket } from "node:net";
import { getRandomValues } from "node:crypto";
import { isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { decodeResponseHead, sameName, type Question } from "./codec.js";

export interface Upstream {
  address: string;
  /** 53 when not given. */
  port?: number;
}

export class ExchangeError extends Error {
  constructor(
    message: string,
    readonly reason: "timeout" | "refused" | "network" | "aborted" | "malformed",
  ) {
    super(message);
    this.name = "ExchangeError";
  }
}

const idPool = new Uint16Array(512);
let idNext = idPool.length;

/** A random 16-bit message ID (crypto-grade: IDs are half of what protects against forged replies). */
export function randomId(): number {
  if (idNext >= idPool.length) {
    getRandomValues(idPool);
    idNext = 0;
  }
  return idPool[idNext++]!;
}

export function upstreamLabel(u: Upstream): string {
  const port = u.port ?? 53;
  return isIPv6(u.address.replace(/%.*$/, "")) ? `[${u.address}]:${port}` : `${u.address}:${port}`;
}

/**
 * A lookup that hands the address back unchanged: upstreams are IP addresses, and going through
 * dns.lookup to connect a UDP socket doubles the cost of each forwarded query.
 */
function literalLookup(family: 4 | 6) {
  return (address: string, _options: unknown, callback: (err: Error | null, address: string, family: number) => void) => callback(null, address, family);
}

function withId(query: Buffer, id: number): Buffer {
  const copy = Buffer.from(query);
  copy.writeUInt16BE(id, 0);
  return copy;
}

function matches(reply: Buffer, id: number, question: Question): boolean {
  try {
    const head = decodeResponseHead(reply);
    const q = head.question;
    // A reply without a question (some servers answer FORMERR that way) is accepted on ID alone.
    if (!head.qr || head.id !== id) return false;
    return q === undefined || (q.type === question.type && q.class === question.class && sameName(q.name, question.name));
  } catch {
    return false;
  }
}

/**
 * Sends `query` to `upstream` over UDP and waits for the matching reply, sending it again every
 * `retransmitMs` meanwhile (a lost datagram costs that, not the whole timeout: the client's own
 * resolver would otherwise wait its 5 s before asking again).
 */
export function exchangeUdp(upstream: Upstream, query: Buffer, question: Question, timeoutMs: number, signal?: AbortSignal, retransmitMs = Infinity): Promise<Buffer> {
  const id = randomId();
  const packet = withId(query, id);
  const label = upstreamLabel(upstream);
  return new Promise<Buffer>((resolve, reject) => {
    let socket: UdpSocket | undefined;
    let timer: NodeJS.Timeout | undefined = undefined;
    let resend: NodeJS.Timeout | undefined = undefined;
    const finish = (err: Error | undefined, reply?: Buffer) => {
      if (timer) clearTimeout(timer);
      if (resend) clearInterval(resend);
      signal?.removeEventListener("abort", onAbort);
      if (socket) {
        socket.removeAllListeners("message");
        socket.on("error", () => undefined);
        try {
          socket.close();
        } catch (err) {
          // already closed
          if (!isErrno(err, "ERR_SOCKET_DGRAM_NOT_RUNNING")) ignored(`close the UDP socket of a query to ${label}`, err);
        }
        socket = undefined;
      }
      if (err) reject(err);
      else resolve(reply!);
    };
    const onAbort = () => finish(new ExchangeError(`query to ${label} was aborted`, "aborted"));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort);
    timer = setTimeout(() => finish(new ExchangeError(`no answer from ${label} over UDP within ${timeoutMs} ms`, "timeout")), timeoutMs);
    const family = isIPv6(upstream.address.replace(/%.*$/, "")) ? 6 : 4;
    const s = createSocket({ type: family === 6 ? "udp6" : "udp4", lookup: literalLookup(family) });
    socket = s;
    s.on("error", (err: NodeJS.ErrnoException) => {
      // A connected UDP socket reports the ICMP port-unreachable of a dead resolver as ECONNREFUSED.
      const reason = err.code === "ECONNREFUSED" ? "refused" : "network";
      finish(new ExchangeError(`${label} over UDP: ${err.code ?? err.message}`, reason));
    });
    s.on("message", (reply: Buffer) => {
      if (matches(reply, id, question)) finish(undefined, reply);
    });
    const send = () =>
      s.send(packet, (err) => {
        if (err) finish(new ExchangeError(`sending to ${label} over UDP: ${(err as NodeJS.ErrnoException).code ?? err.message}`, "network"));
      });
    s.connect(upstream.port ?? 53, upstream.address, () => {
      if (socket !== s) return;
      send();
      if (retransmitMs < timeoutMs) resend = setInterval(() => socket === s && send(), retransmitMs);
    });
  });
}

/** Sends `query` to `upstream` over TCP (RFC 1035 section 4.2.2 length prefix) and reads the reply. */
export function exchangeTcp(upstream: Upstream, query: Buffer, question: Question, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  const id = randomId();
  const packet = withId(query, id);
  const frame = Buffer.alloc(2 + packet.length);
  frame.writeUInt16BE(packet.length, 0);
  packet.copy(frame, 2);
  const label = upstreamLabel(upstream);
  return new Promise<Buffer>((resolve, reject) => {
    let socket: Socket | undefined;
    let timer: NodeJS.Timeout | undefined = undefined;
    let received: Buffer = Buffer.alloc(0);
    const finish = (err: Error | undefined, reply?: Buffer) => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (socket) {
        socket.removeAllListeners("data");
        socket.on("error", () => undefined);
        socket.destroy();
        socket = undefined;
      }
      if (err) reject(err);
      else resolve(reply!);
    };
    const onAbort = () => finish(new ExchangeError(`query to ${label} was aborted`, "aborted"));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort);
    timer = setTimeout(() => finish(new ExchangeError(`no answer from ${label} over TCP within ${timeoutMs} ms`, "timeout")), timeoutMs);
    const s = connect({ host: upstream.address, port: upstream.port ?? 53 });
    socket = s;
    s.on("error", (err: NodeJS.ErrnoException) => {
      finish(new ExchangeError(`${label} over TCP: ${err.code ?? err.message}`, err.code === "ECONNREFUSED" ? "refused" : "network"));
    });
    s.on("connect", () => s.write(frame));
    s.on("data", (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      // Frames that are not the reply (a late answer to nothing we sent) are skipped.
      while (received.length >= 2) {
        const length = received.readUInt16BE(0);
        if (received.length < 2 + length) return;
        const reply = received.subarray(2, 2 + length);
        received = received.subarray(2 + length);
        if (matches(reply, id, question)) return finish(undefined, Buffer.from(reply));
      }
    });
    s.on("end", () => finish(new ExchangeError(`${label} closed the TCP connection without an answer`, "network")));
  });
}
