// Client of the monitor's attach socket (src/native/shim/io.c): frames [u8 type][u32 LE len][data]
// of the types src/native/protocol.ts defines (FRAMES).

import net from "node:net";
import { CoveError } from "../common/errors.js";
import { Frame, FRAME_HEADER_SIZE, FRAME_MAX_CLIENT_DATA } from "../native/protocol.js";
import type { AttachChunk } from "./types.js";

export interface MonitorExit {
  code: number;
  signal: number;
}

/** A simple async queue: push items, end, iterate once. */
export class Channel<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private error: Error | undefined;

  push(item: T): void {
    if (this.ended) return;
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  end(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.error = err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
  }

  get closed(): boolean {
    return this.ended;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.ended) {
          if (this.error) return Promise.reject(this.error);
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve) => (this.waiting = resolve));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export interface MonitorConnection {
  output: Channel<AttachChunk>;
  /** Resolves with the exit frame, or undefined when the connection closed without one. */
  exit: Promise<MonitorExit | undefined>;
  write(data: Buffer | string): void;
  closeStdin(): void;
  resize(rows: number, cols: number): void;
  close(): void;
}

function frame(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_SIZE);
  head[0] = type;
  head.writeUInt32LE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** Connects to an attach socket, retrying until it exists (up to timeoutMs). */
export async function connectMonitor(socket: string, opts: { timeoutMs?: number; output?: boolean } = {}): Promise<MonitorConnection> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
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
      if (Date.now() > deadline) throw new CoveError("conflict", `cannot attach: the container's monitor is not serving ${socket} (${(err as Error).message})`, { code: "container.attach" });
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const sock = conn;
  const output = new Channel<AttachChunk>();
  let exitValue: MonitorExit | undefined;
  let resolveExit!: (v: MonitorExit | undefined) => void;
  const exit = new Promise<MonitorExit | undefined>((r) => (resolveExit = r));
  let buf: Buffer = Buffer.alloc(0);
  sock.on("data", (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= FRAME_HEADER_SIZE) {
      const len = buf.readUInt32LE(1);
      if (buf.length < FRAME_HEADER_SIZE + len) break;
      const type = buf[0];
      const data = Buffer.from(buf.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + len));
      buf = buf.subarray(FRAME_HEADER_SIZE + len);
      if (type === Frame.STDOUT || type === Frame.STDERR) {
        if (opts.output !== false) output.push({ stream: type === Frame.STDOUT ? "stdout" : "stderr", data });
      } else if (type === Frame.EXIT) {
        const [code, signal] = data.toString().trim().split(" ").map(Number);
        exitValue = { code: code ?? 255, signal: signal ?? 0 };
      }
    }
  });
  sock.on("error", () => undefined);
  sock.on("close", () => {
    output.end();
    resolveExit(exitValue);
  });
  const send = (type: number, data: Buffer) => {
    if (!sock.destroyed) sock.write(frame(type, data));
  };
  return {
    output,
    exit,
    write: (data) => {
      const b = typeof data === "string" ? Buffer.from(data) : data;
      for (let i = 0; i < b.length; i += FRAME_MAX_CLIENT_DATA) send(Frame.STDIN, b.subarray(i, i + FRAME_MAX_CLIENT_DATA));
    },
    closeStdin: () => send(Frame.CLOSE_STDIN, Buffer.alloc(0)),
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
