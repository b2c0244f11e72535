// Stream decoders for the Docker Engine API: the 8-byte multiplexing frames of non-TTY attach,
// logs and exec streams ([stream, 0, 0, 0, size u32 BE] + payload; stream 0 stdin, 1 stdout,
// 2 stderr, 3 systemerr), and newline-delimited JSON (progress, events, stats).

import type { Readable, Writable } from "node:stream";
import { CoveError } from "../common/errors.js";

export type StdStream = "stdin" | "stdout" | "stderr" | "system";

const STREAMS: Record<number, StdStream> = { 0: "stdin", 1: "stdout", 2: "stderr", 3: "system" };

/** Incremental demultiplexer: push() bytes as they arrive, get back complete frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { stream: StdStream; data: Buffer }[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: { stream: StdStream; data: Buffer }[] = [];
    while (this.buf.length >= 8) {
      const kind = this.buf[0]!;
      const stream = STREAMS[kind];
      if (!stream) throw new CoveError("system", `unrecognized stream type ${kind} in the multiplexed stream`, { code: "client.stream" });
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      out.push({ stream, data: this.buf.subarray(8, 8 + size) });
      this.buf = this.buf.subarray(8 + size);
    }
    return out;
  }

  /** Bytes of an incomplete frame left at the end of the stream. */
  get pending(): number {
    return this.buf.length;
  }
}

/** Encodes one frame (used by tests and by servers). */
export function encodeFrame(stream: 0 | 1 | 2 | 3, data: Buffer | string): Buffer {
  const payload = typeof data === "string" ? Buffer.from(data) : data;
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

export interface StdSinks {
  stdout?: Writable;
  stderr?: Writable;
}

const waiting = new WeakSet<Writable>();

/** Writes a writable, honouring back-pressure on the source (one wait per sink, however many frames a chunk held). */
function write(src: Readable, dst: Writable | undefined, data: Buffer): void {
  if (!dst || data.length === 0) return;
  if (!dst.write(data) && !waiting.has(dst)) {
    waiting.add(dst);
    src.pause();
    dst.once("drain", () => {
      waiting.delete(dst);
      src.resume();
    });
  }
}

/**
 * Copies a stream to stdout/stderr until it ends: demultiplexed when `tty` is false, raw to
 * stdout otherwise. A systemerr frame (stream 3) rejects with its text.
 */
export function copyStream(src: Readable, sinks: StdSinks, tty: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const dec = new FrameDecoder();
    let failed = false;
    src.on("data", (chunk: Buffer) => {
      if (failed) return;
      if (tty) return write(src, sinks.stdout, chunk);
      let frames;
      try {
        frames = dec.push(chunk);
      } catch (err) {
        failed = true;
        src.destroy();
        reject(err);
        return;
      }
      for (const f of frames) {
        if (f.stream === "system") {
          failed = true;
          src.destroy();
          reject(new CoveError("system", f.data.toString("utf8").trim(), { code: "client.stream" }));
          return;
        }
        write(src, f.stream === "stderr" ? sinks.stderr : sinks.stdout, f.data);
      }
    });
    const done = () => {
      if (!failed) resolve();
    };
    src.on("end", done);
    src.on("close", done);
    src.on("error", (err: NodeJS.ErrnoException) => {
      // the daemon closing the hijacked connection on exit is the normal end
      if (err.code === "ECONNRESET" || err.code === "EPIPE") return done();
      if (!failed) reject(err);
    });
  });
}

/** Splits a byte stream into newline-delimited JSON values. */
export async function* jsonLines<T>(src: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  let rest = "";
  for await (const chunk of src) {
    rest += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) yield JSON.parse(line) as T;
    }
  }
  const line = rest.trim();
  if (line) yield JSON.parse(line) as T;
}

/** A JSON progress message (pull, push, load, import, build). */
export interface ProgressMessage {
  id?: string;
  status?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: unknown;
}
