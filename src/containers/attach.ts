// Client of the monitor's attach socket (src/native/shim/io.c): frames [u8 type][u32 LE len][data]
// of the types src/native/protocol.ts defines (FRAMES).

import net from "node:net";
import { CoveError } from "../common/errors.js";
import { addon } from "../native/addon.js";
import { Frame, FRAME_HEADER_SIZE, FRAME_MAX_CLIENT_DATA } from "../native/protocol.js";
import type { AttachChunk } from "./types.js";

export interface MonitorExit {
  code: number;
  signal: number;
}

/** Bytes a monitor connection holds for a consumer before it stops reading the monitor's socket. */
export const OUTPUT_HIGH_WATER = 1 << 20;

export interface ChannelOptions<T> {
  /** push() returns false, and drained() waits, while more than this is queued (default: no bound). */
  highWaterMark?: number;
  /** An item's weight against the high-water mark (default 1). */
  size?: (item: T) => number;
}

/**
 * An async queue: push items, end, iterate once. With a high-water mark it carries backpressure:
 * push() says whether the producer may go on, drained() tells it when to resume.
 */
export class Channel<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private head = 0;
  private queued = 0;
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private drainWaiters: (() => void)[] = [];
  private ended = false;
  private error: Error | undefined;

  constructor(private readonly opts: ChannelOptions<T> = {}) {}

  private weight(item: T): number {
    return this.opts.size ? this.opts.size(item) : 1;
  }

  /** Whether the producer should wait (drained()) before it pushes more. */
  get full(): boolean {
    return !this.ended && this.queued > (this.opts.highWaterMark ?? Infinity);
  }

  /** Queues an item; false when the queue is past its high-water mark. */
  push(item: T): boolean {
    if (this.ended) return true;
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w({ value: item, done: false });
      return true;
    }
    this.items.push(item);
    this.queued += this.weight(item);
    return !this.full;
  }

  /** Resolves once the queue is back under its high-water mark (or ended). */
  drained(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private wakeProducers(): void {
    if (this.full || this.drainWaiters.length === 0) return;
    for (const r of this.drainWaiters.splice(0)) r();
  }

  end(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
    this.wakeProducers();
  }

  get closed(): boolean {
    return this.ended;
  }

  private shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head++] = undefined as T;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    this.queued -= this.weight(item);
    this.wakeProducers();
    return item;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.ended) {
          if (this.error) return Promise.reject(this.error);
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve) => (this.waiting = resolve));
      },
      return: () => {
        this.end();
        this.items = [];
        this.head = 0;
        this.queued = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export interface MonitorConnection {
  /** The container's output; the socket is not read while more than OUTPUT_HIGH_WATER bytes wait here. */
  output: Channel<AttachChunk>;
  /** Resolves with the exit frame, or undefined when the connection closed without one. */
  exit: Promise<MonitorExit | undefined>;
  /** Sends stdin; resolves when the connection can take more (at once unless its buffer is full). */
  write(data: Buffer | string): Promise<void>;
  closeStdin(): void;
  resize(rows: number, cols: number): void;
  close(): void;
}

function frameHeader(type: number, length: number): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_SIZE);
  head[0] = type;
  head.writeUInt32LE(length, 1);
  return head;
}

/**
 * Splits the monitor's byte stream into frames without copying output: a frame's data is passed
 * on in the pieces it arrived in (onData), other frames whole (onFrame).
 */
export class MonitorFrameParser {
  private head = Buffer.alloc(FRAME_HEADER_SIZE);
  private headLen = 0;
  private type = 0;
  private left = 0;
  private body: Buffer[] = [];

  constructor(
    private readonly onData: (type: number, data: Buffer) => void,
    private readonly onFrame: (type: number, data: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.headLen < FRAME_HEADER_SIZE) {
        const n = Math.min(FRAME_HEADER_SIZE - this.headLen, chunk.length - off);
        chunk.copy(this.head, this.headLen, off, off + n);
        this.headLen += n;
        off += n;
        if (this.headLen < FRAME_HEADER_SIZE) return;
        this.type = this.head[0] as number;
        this.left = this.head.readUInt32LE(1);
        this.body = [];
        if (this.left > 0) continue;
      } else {
        const n = Math.min(this.left, chunk.length - off);
        const piece = chunk.subarray(off, off + n);
        off += n;
        this.left -= n;
        if (this.type === Frame.STDOUT || this.type === Frame.STDERR) this.onData(this.type, piece);
        else this.body.push(piece);
        if (this.left > 0) return;
      }
      // a whole frame is in
      if (this.type !== Frame.STDOUT && this.type !== Frame.STDERR) this.onFrame(this.type, Buffer.concat(this.body));
      this.headLen = 0;
      this.body = [];
    }
  }
}

/**
 * Whether nothing serves the monitor's socket any more (the monitor died: refused, or the socket
 * is gone). A connection that opens, or fails any other way (a full backlog), says it lives.
 */
export function monitorGone(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.once("connect", () => {
      c.destroy();
      resolve(false);
    });
    c.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED" || err.code === "ENOENT"));
  });
}

export interface ConnectOptions {
  /** How long to retry (default 5 s), counted from when `after` settles. */
  timeoutMs?: number;
  /** Whether this connection reads the output (false: the exit frame only). */
  output?: boolean;
  /**
   * The launch of the process whose monitor serves the socket: retries go on while it runs, and
   * the timeout counts from its end (a launch slowed by a busy machine is no reason to give up).
   */
  after?: Promise<unknown>;
  /** Retries stop once this settles (the process ended: its monitor will not serve the socket). */
  until?: Promise<unknown>;
}

/** Connects to an attach socket, retrying until it exists (up to timeoutMs). */
export async function connectMonitor(socket: string, opts: ConnectOptions = {}): Promise<MonitorConnection> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  let deadline = opts.after ? Infinity : Date.now() + timeoutMs;
  if (opts.after) {
    const start = () => (deadline = Date.now() + timeoutMs);
    opts.after.then(start, start);
  }
  let over = false;
  if (opts.until) {
    const end = () => (over = true);
    opts.until.then(end, end);
  }
  let conn: net.Socket | undefined;
  for (;;) {
    try {
      conn = await new Promise<net.Socket>((resolve, reject) => {
        const c = net.connect(socket);
        c.once("connect", () => {
          c.removeAllListeners("error");
          resolve(c);
        });
        c.once("error", reject);
      });
      break;
    } catch (err) {
      if (over || Date.now() > deadline) throw new CoveError("conflict", `cannot attach: the container's monitor is not serving ${socket} (${(err as Error).message})`, { code: "container.attach" });
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const sock = conn;
  const output = new Channel<AttachChunk>({ highWaterMark: OUTPUT_HIGH_WATER, size: (c) => c.data.length });
  let exitValue: MonitorExit | undefined;
  let resolveExit!: (v: MonitorExit | undefined) => void;
  const exit = new Promise<MonitorExit | undefined>((r) => (resolveExit = r));
  let paused = false;
  const parser = new MonitorFrameParser(
    (type, data) => {
      if (opts.output === false) return;
      if (!output.push({ stream: type === Frame.STDOUT ? "stdout" : "stderr", data }) && !paused) {
        // the consumer is behind: stop reading, and so the monitor stops reading the container
        paused = true;
        sock.pause();
        void output.drained().then(() => {
          paused = false;
          if (!sock.destroyed) sock.resume();
        });
      }
    },
    (type, data) => {
      if (type !== Frame.EXIT) return;
      const [code, signal] = data.toString().trim().split(" ").map(Number);
      exitValue = { code: code ?? 255, signal: signal ?? 0 };
    },
  );
  sock.on("data", (d: Buffer) => parser.push(d));
  sock.on("error", () => undefined);
  sock.on("close", () => {
    output.end();
    resolveExit(exitValue);
  });
  const drained = () =>
    new Promise<void>((resolve) => {
      const go = () => {
        sock.off("drain", go);
        sock.off("close", go);
        resolve();
      };
      sock.on("drain", go);
      sock.on("close", go);
    });
  const send = (type: number, data: Buffer): boolean => {
    if (sock.destroyed || sock.writableEnded) return true;
    if (data.length === 0) return sock.write(frameHeader(type, 0));
    // header and data in one writev, without copying the data into a frame
    sock.cork();
    sock.write(frameHeader(type, data.length));
    const room = sock.write(data);
    sock.uncork();
    return room;
  };
  // a connection that wants no output says so: the monitor then sends it the exit frame only (and
  // may splice the output to a client alone)
  if (opts.output === false) send(Frame.QUIET, Buffer.alloc(0));
  return {
    output,
    exit,
    write: (data) => {
      const b = typeof data === "string" ? Buffer.from(data) : data;
      let room = true;
      for (let i = 0; i < b.length; i += FRAME_MAX_CLIENT_DATA) room = send(Frame.STDIN, b.subarray(i, i + FRAME_MAX_CLIENT_DATA));
      return room ? Promise.resolve() : drained();
    },
    closeStdin: () => void send(Frame.CLOSE_STDIN, Buffer.alloc(0)),
    resize: (rows, cols) => {
      const b = Buffer.alloc(4);
      b.writeUInt16LE(rows, 0);
      b.writeUInt16LE(cols, 2);
      send(Frame.RESIZE, b);
    },
    close: () => {
      sock.end();
      sock.destroy();
    },
  };
}

/** A connection to a monitor's direct socket, ready to hand an attach connection over. */
export interface HandOff {
  /**
   * Hands fd over to the monitor with flags (DirectFlag bits) and the bytes already read from it
   * (stdin the monitor writes first). Synchronous, so nothing else reads fd meanwhile. True once
   * the fd went (the caller then closes its own descriptor without shutting the connection
   * down); false when nothing could go (the monitor is gone): this connection is closed then and
   * fd stays the caller's alone.
   */
  give(fd: number, flags: number, input: Buffer): boolean;
  /** Resolves when the monitor ended the session (or the connection closed). */
  ended: Promise<void>;
  /** Ends the session (after give), or gives up the hand-off. */
  close(): void;
}

/**
 * Connects to a monitor's direct socket; undefined when it is not there (a monitor started before
 * cove served attach directly, or the container stopped).
 */
export async function connectDirect(socket: string): Promise<HandOff | undefined> {
  const sock = await new Promise<net.Socket | undefined>((resolve) => {
    const c = net.connect(socket);
    c.once("connect", () => {
      c.removeAllListeners("error");
      resolve(c);
    });
    c.once("error", () => resolve(undefined));
  });
  if (!sock) return undefined;
  sock.on("error", () => undefined);
  // the monitor sends nothing on this connection: it closes it when the session ends
  sock.on("data", () => undefined);
  const ended = new Promise<void>((resolve) => sock.once("close", () => resolve()));
  const close = () => void sock.destroy();
  return {
    ended,
    close,
    give: (fd, flags, input) => {
      const ctl = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
      if (typeof ctl !== "number" || ctl < 0 || sock.destroyed) {
        close();
        return false;
      }
      // the input already read goes first, as STDIN frames; the fd travels with the first byte
      const parts: Buffer[] = [];
      for (let i = 0; i < input.length; i += FRAME_MAX_CLIENT_DATA) {
        const piece = input.subarray(i, i + FRAME_MAX_CLIENT_DATA);
        parts.push(frameHeader(Frame.STDIN, piece.length), piece);
      }
      parts.push(frameHeader(Frame.DIRECT, 1), Buffer.from([flags]));
      const all = Buffer.concat(parts);
      let sent = 0;
      try {
        sent = addon().sendFd(ctl, fd, all);
      } catch {
        // nothing went (the monitor went away): the usual path serves the connection
        close();
        return false;
      }
      // the fd went: what the socket did not take now follows in order
      if (sent < all.length) sock.write(all.subarray(sent));
      return true;
    },
  };
}
