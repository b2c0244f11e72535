// Streaming on the Docker Engine API:
//
// - JSON-lines messages (jsonmessage): what `docker load`, `docker pull` and `docker import` read:
//   {"status":"Loading layer","progressDetail":{},"id":"abc"}, {"stream":"Loaded image: x\n"},
//   and on failure after the stream started {"errorDetail":{"message":"..."},"error":"..."}.
// - Multiplexed framing (stdcopy): each frame is an 8-byte header [stream, 0, 0, 0, size as
//   big-endian u32] then size bytes; stream 0 stdin, 1 stdout, 2 stderr, 3 the daemon's own error.
//   Raw streams (a TTY) carry bytes with no framing.
// - The hijack handshake of attach and exec: a request with `Upgrade: tcp` gets
//   "101 Switching Protocols" with Connection/Upgrade headers and then the connection carries the
//   raw or multiplexed stream both ways; without the header, a plain 200 response streams the output.

import type { ServerResponse } from "node:http";
import { Readable, Writable, type Duplex } from "node:stream";
import { bestEffortSync } from "../common/ignore.js";
import { addon } from "../native/addon.js";
import { errorMessage, setCommonHeaders, versionAtLeast, API_VERSION, type RouteContext } from "./router.js";

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
/** The daemon's own error text inside a multiplexed stream (stdcopy.Systemerr). */
export const SYSTEMERR = 3;
export type StreamType = typeof STDIN | typeof STDOUT | typeof STDERR | typeof SYSTEMERR;

export const RAW_STREAM = "application/vnd.docker.raw-stream";
export const MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream";

/** Largest payload of one frame (the size field is a u32). */
const MAX_FRAME = 0xffffffff;

/** The 8-byte frame header. */
export function muxHeader(stream: StreamType, size: number): Buffer {
  if (!Number.isInteger(size) || size < 0 || size > MAX_FRAME) throw new RangeError(`frame size ${size} is out of range`);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(size, 4);
  return h;
}

/** One frame: header and payload. */
export function muxFrame(stream: StreamType, data: Buffer | string): Buffer {
  const payload = typeof data === "string" ? Buffer.from(data) : data;
  return Buffer.concat([muxHeader(stream, payload.length), payload]);
}

export interface Frame {
  stream: StreamType;
  data: Buffer;
}

/** Incremental parser of a multiplexed stream: push chunks as they arrive, take whole frames. */
export class FrameParser {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= 8) {
      const type = this.buf[0] as number;
      if (type > SYSTEMERR || this.buf[1] !== 0 || this.buf[2] !== 0 || this.buf[3] !== 0) {
        throw new Error(`not a multiplexed stream: bad frame header ${this.buf.subarray(0, 8).toString("hex")}`);
      }
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      out.push({ stream: type as StreamType, data: this.buf.subarray(8, 8 + size) });
      this.buf = this.buf.subarray(8 + size);
    }
    return out;
  }

  /** Bytes of an incomplete frame still waiting (non-zero at the end means a truncated stream). */
  get pending(): number {
    return this.buf.length;
  }
}

/** Splits a multiplexed byte stream into frames; throws on a truncated last frame. */
export async function* demux(source: AsyncIterable<Buffer | string>): AsyncGenerator<Frame> {
  const p = new FrameParser();
  for await (const c of source) yield* p.push(typeof c === "string" ? Buffer.from(c) : c);
  if (p.pending > 0) throw new Error(`multiplexed stream ended inside a frame (${p.pending} bytes left)`);
}

/** A Writable that frames everything written to it as `stream` onto out. */
export function framedWriter(out: Writable, stream: StreamType): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (chunk.length === 0) return cb();
      out.write(muxFrame(stream, chunk), cb);
    },
  });
}

/** The Content-Type of an attach/exec/logs stream: multiplexed-stream (API 1.42+) unless a TTY. */
export function streamContentType(version: string, tty: boolean): string {
  return !tty && versionAtLeast(version, "1.42") ? MULTIPLEXED_STREAM : RAW_STREAM;
}

export interface Hijacked {
  /** What the client sends (stdin). */
  input: Readable;
  /** What the client receives: write frames here (or raw bytes for a TTY). */
  output: Writable;
  /** Whether the connection was upgraded (else a plain streaming response without stdin). */
  upgraded: boolean;
  /**
   * Resolves once the client has read the response's head (or after a bounded wait), so that the
   * stream's first bytes never arrive in the same read: docker-py reads the head through a
   * buffered reader and then the raw socket, losing whatever the buffer took beyond the head.
   */
  headRead(): Promise<void>;
  /** Ends the stream (and, when upgraded, the connection after the last bytes). */
  end(): void;
}

/** The longest wait for a client to read a hijacked response's head before its stream goes on. */
const HEAD_READ_WAIT_MS = 2000;

/** Resolves once the peer has read everything written to socket (SIOCOUTQ is 0), or after HEAD_READ_WAIT_MS. */
function peerHasRead(socket: Duplex): Promise<void> {
  // the descriptor of a unix or TCP socket (Node's handle keeps it; a TLS socket has none: it
  // cannot tell, and goes on)
  const fd = (socket as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return Promise.resolve();
  const deadline = Date.now() + HEAD_READ_WAIT_MS;
  return new Promise<void>((resolve) => {
    const check = () => {
      let unread = 0;
      bestEffortSync("see whether the client read the stream's head", () => (unread = addon().unreadOutput(fd)));
      if (unread === 0 || socket.destroyed || Date.now() > deadline) resolve();
      else setTimeout(check, 1);
    };
    check();
  });
}

/**
 * Takes over the connection for attach/exec: with `Upgrade: tcp`, writes 101 Switching Protocols
 * (Connection: Upgrade, Upgrade: tcp, the stream's Content-Type) and hands over the socket; else
 * starts a 200 response with that Content-Type whose body is the stream, up to connection close.
 */
export function hijack(ctx: RouteContext, contentType: string, extraHeaders: Record<string, string> = {}): Hijacked {
  if (ctx.upgrade) {
    const { socket, head } = ctx.upgrade;
    const lines = [
      "HTTP/1.1 101 Switching Protocols",
      `Content-Type: ${contentType}`,
      "Connection: Upgrade",
      "Upgrade: tcp",
      `Api-Version: ${API_VERSION}`,
      "Docker-Experimental: false",
      "Ostype: linux",
      ...Object.entries(extraHeaders).map(([k, v]) => `${k}: ${v}`),
    ];
    const written = new Promise<void>((resolve) => socket.write(lines.join("\r\n") + "\r\n\r\n", () => resolve()));
    if (head.length > 0) socket.unshift(head);
    return { input: socket, output: socket, upgraded: true, headRead: () => written.then(() => peerHasRead(socket)), end: () => socket.end() };
  }
  const res: ServerResponse = ctx.res;
  setCommonHeaders(res);
  // No chunked encoding: the body is the raw stream until the connection closes, as dockerd sends it.
  res.useChunkedEncodingByDefault = false;
  res.writeHead(200, { "Content-Type": contentType, Connection: "close" });
  res.flushHeaders();
  // (a response's body is parsed by the client's HTTP reader: nothing it buffers is lost)
  return { input: ctx.req, output: res, upgraded: false, headRead: () => Promise.resolve(), end: () => res.end() };
}

/** The descriptor of a plain (not TLS) unix-socket connection, else undefined. */
function unixFd(socket: Duplex): number | undefined {
  const s = socket as Duplex & { encrypted?: boolean; remoteAddress?: string; _handle?: { fd?: unknown } };
  const fd = s._handle?.fd;
  // a unix socket has no remote address; a TLS socket's handle has no descriptor of its own
  if (s.encrypted || s.remoteAddress !== undefined || typeof fd !== "number" || fd < 0) return undefined;
  return fd;
}

/** Whether a hijacked connection can be handed to another process (a plain unix socket). */
export function handOverable(socket: Duplex): boolean {
  return unixFd(socket) !== undefined;
}

/**
 * Hands a hijacked connection to another process: the bytes the daemon has read from it and not
 * used go along, then the daemon closes its own descriptor (no shutdown: the connection stays up
 * for the taker). All in one turn of the event loop, so that nothing else reads the connection
 * meanwhile. give says whether the taker has it; when not, the connection is as it was.
 */
export function handOver(socket: Duplex, give: (fd: number, input: Buffer) => boolean): boolean {
  const fd = unixFd(socket);
  if (fd === undefined || socket.destroyed) return false;
  socket.pause();
  const chunks: Buffer[] = [];
  for (let b: unknown; (b = socket.read()) !== null; ) chunks.push(typeof b === "string" ? Buffer.from(b) : (b as Buffer));
  const input = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  if (!give(fd, input)) {
    if (input.length > 0) socket.unshift(input);
    return false;
  }
  socket.destroy();
  return true;
}

export interface ProgressDetail {
  current?: number;
  total?: number;
}

/** One jsonmessage line. */
export interface JSONMessage {
  stream?: string;
  status?: string;
  progressDetail?: ProgressDetail;
  progress?: string;
  id?: string;
  errorDetail?: { code?: number; message: string };
  error?: string;
  aux?: unknown;
}

/**
 * A JSON-lines response (Content-Type exactly application/json: the docker CLI checks it). Headers
 * go out with the first message, so an error before any output still gets its HTTP status.
 */
export class JSONMessageStream {
  constructor(
    private readonly res: ServerResponse,
    private readonly status = 200,
  ) {}

  /** Whether anything was sent (after that, errors must go into the stream). */
  get started(): boolean {
    return this.res.headersSent;
  }

  private start(): void {
    if (this.res.headersSent) return;
    this.res.writeHead(this.status, { "Content-Type": "application/json" });
  }

  write(msg: JSONMessage): void {
    this.start();
    this.res.write(JSON.stringify(msg) + "\n");
  }

  /** A status line; with an id it carries "progressDetail":{} as dockerd's do. */
  progress(status: string, id?: string, detail?: ProgressDetail, bar?: string): void {
    const msg: JSONMessage = { status };
    if (id !== undefined) {
      msg.progressDetail = detail ?? {};
      if (bar !== undefined) msg.progress = bar;
      msg.id = id;
    }
    this.write(msg);
  }

  /** Text for the client to print as is ("Loaded image: busybox:latest\n"). */
  stream(text: string): void {
    this.write({ stream: text });
  }

  aux(value: unknown): void {
    this.write({ aux: value });
  }

  /** The error line clients turn into a failure (exit 1 for the docker CLI). */
  error(err: unknown): void {
    const message = errorMessage(err);
    this.write({ errorDetail: { message }, error: message });
  }

  /** Starts the response now (so a client sees headers before long work). */
  flush(): void {
    this.start();
    this.res.flushHeaders();
  }

  end(): void {
    this.start();
    this.res.end();
  }
}

/** Settles once w can take more (drain) or is gone (close): a writer's backpressure, never a hang on a closed client. */
export function drained(w: NodeJS.EventEmitter): Promise<void> {
  return new Promise<void>((resolve) => {
    const go = () => {
      w.off("drain", go);
      w.off("close", go);
      resolve();
    };
    w.on("drain", go);
    w.on("close", go);
  });
}
