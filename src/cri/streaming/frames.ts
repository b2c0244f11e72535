// SPDY/3.1 framing (the draft's section 2.2 and 2.6): the frame layouts, and the name/value header
// block with its zlib compression. Only what a session needs: encoding and decoding of whole
// frames, no state beyond the header compression contexts (HeaderCodec).
//
// Every frame starts with 8 bytes. A control frame: bit 1 set, 15 bits of version (3), 16 bits of
// type, 8 bits of flags, 24 bits of payload length. A data frame: bit 1 clear, 31 bits of stream
// ID, 8 bits of flags, 24 bits of length. The header block of SYN_STREAM, SYN_REPLY and HEADERS
// is a 32-bit pair count, then per pair a 32-bit length and the name (lowercase), a 32-bit length
// and the value (several values joined with NUL), all compressed with one zlib context per
// direction for the whole session, primed with SPDY_DICTIONARY, each block ending in a sync flush.

import zlib from "node:zlib";
import { SPDY_DICTIONARY } from "./dictionary.js";

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

/** FLAG_FIN: the sender's last frame on the stream (control and data frames). */
export const FLAG_FIN = 0x01;
/** FLAG_UNIDIRECTIONAL (SYN_STREAM): the receiver may not send on the stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** SETTINGS ID of the initial stream window. */
export const SETTINGS_INITIAL_WINDOW_SIZE = 7;

/** The largest payload a frame's 24-bit length can state. */
export const MAX_FRAME_LENGTH = 0xffffff;

/** Header names and their values (lowercase names; usually one value). */
export type SpdyHeaders = Record<string, string[]>;

export type Frame =
  | { type: "data"; streamId: number; flags: number; data: Buffer }
  | { type: "syn_stream"; streamId: number; associatedId: number; priority: number; flags: number; headers: SpdyHeaders }
  | { type: "syn_reply"; streamId: number; flags: number; headers: SpdyHeaders }
  | { type: "rst_stream"; streamId: number; status: number }
  | { type: "settings"; flags: number; entries: { flags: number; id: number; value: number }[] }
  | { type: "ping"; id: number }
  | { type: "goaway"; lastGoodStreamId: number; status: number }
  | { type: "headers"; streamId: number; flags: number; headers: SpdyHeaders }
  | { type: "window_update"; streamId: number; delta: number }
  /** A control frame of a type this side does not know (ignored, as the draft says). */
  | { type: "unknown"; frameType: number; flags: number; payload: Buffer };

/** A frame as read off the wire, before its header block (if any) is decompressed. */
export interface RawFrame {
  control: boolean;
  /** Control: the frame type; data: the stream ID. */
  typeOrStream: number;
  version: number;
  flags: number;
  payload: Buffer;
}

/** A violation of the framing: the session answers with GOAWAY (PROTOCOL_ERROR) and ends. */
export class SpdyProtocolError extends Error {}

/** The first whole frame in buf and the bytes it took, or undefined when more bytes are needed. */
export function readRawFrame(buf: Buffer, maxLength = MAX_FRAME_LENGTH): { frame: RawFrame; size: number } | undefined {
  if (buf.length < 8) return undefined;
  const word = buf.readUInt32BE(0);
  const flags = buf[4]!;
  const length = buf.readUIntBE(5, 3);
  const control = (word & 0x80000000) !== 0;
  if (length > maxLength) throw new SpdyProtocolError(`a ${control ? "control" : "data"} frame of ${length} bytes is larger than the ${maxLength} this session accepts`);
  if (buf.length < 8 + length) return undefined;
  const payload = buf.subarray(8, 8 + length);
  const frame: RawFrame = control
    ? { control, typeOrStream: word & 0xffff, version: (word >>> 16) & 0x7fff, flags, payload }
    : { control, typeOrStream: word & 0x7fffffff, version: SPDY_VERSION, flags, payload };
  return { frame, size: 8 + length };
}

function controlHeader(type: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_LENGTH) throw new SpdyProtocolError(`a control frame of ${length} bytes does not fit SPDY's 24-bit length`);
  const h = Buffer.alloc(8);
  h.writeUInt32BE((0x80000000 | (SPDY_VERSION << 16) | type) >>> 0, 0);
  h[4] = flags;
  h.writeUIntBE(length, 5, 3);
  return h;
}

/** The 8-byte header of a DATA frame carrying length bytes on streamId. */
export function dataHeader(streamId: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_LENGTH) throw new SpdyProtocolError(`a data frame of ${length} bytes does not fit SPDY's 24-bit length`);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h[4] = flags;
  h.writeUIntBE(length, 5, 3);
  return h;
}

/** A control frame without a header block (RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE). */
export function encodeControl(frame: Exclude<Frame, { type: "data" | "syn_stream" | "syn_reply" | "headers" | "unknown" }>): Buffer {
  switch (frame.type) {
    case "rst_stream": {
      const b = Buffer.alloc(8);
      b.writeUInt32BE(frame.streamId & 0x7fffffff, 0);
      b.writeUInt32BE(frame.status >>> 0, 4);
      return Buffer.concat([controlHeader(FrameType.RST_STREAM, 0, 8), b]);
    }
    case "settings": {
      const b = Buffer.alloc(4 + 8 * frame.entries.length);
      b.writeUInt32BE(frame.entries.length, 0);
      frame.entries.forEach((e, i) => {
        b.writeUInt32BE(((e.flags << 24) | (e.id & 0xffffff)) >>> 0, 4 + 8 * i);
        b.writeUInt32BE(e.value >>> 0, 8 + 8 * i);
      });
      return Buffer.concat([controlHeader(FrameType.SETTINGS, frame.flags, b.length), b]);
    }
    case "ping": {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(frame.id >>> 0, 0);
      return Buffer.concat([controlHeader(FrameType.PING, 0, 4), b]);
    }
    case "goaway": {
      const b = Buffer.alloc(8);
      b.writeUInt32BE(frame.lastGoodStreamId & 0x7fffffff, 0);
      b.writeUInt32BE(frame.status >>> 0, 4);
      return Buffer.concat([controlHeader(FrameType.GOAWAY, 0, 8), b]);
    }
    case "window_update": {
      const b = Buffer.alloc(8);
      b.writeUInt32BE(frame.streamId & 0x7fffffff, 0);
      b.writeUInt32BE(frame.delta & 0x7fffffff, 4);
      return Buffer.concat([controlHeader(FrameType.WINDOW_UPDATE, 0, 8), b]);
    }
  }
}

/** A SYN_STREAM, SYN_REPLY or HEADERS frame around an already compressed header block. */
export function encodeHeaderFrame(frame: Extract<Frame, { type: "syn_stream" | "syn_reply" | "headers" }>, compressed: Buffer): Buffer {
  if (frame.type === "syn_stream") {
    const b = Buffer.alloc(10);
    b.writeUInt32BE(frame.streamId & 0x7fffffff, 0);
    b.writeUInt32BE(frame.associatedId & 0x7fffffff, 4);
    b[8] = (frame.priority & 0x7) << 5;
    b[9] = 0; // credential slot
    return Buffer.concat([controlHeader(FrameType.SYN_STREAM, frame.flags, 10 + compressed.length), b, compressed]);
  }
  const b = Buffer.alloc(4);
  b.writeUInt32BE(frame.streamId & 0x7fffffff, 0);
  return Buffer.concat([controlHeader(frame.type === "syn_reply" ? FrameType.SYN_REPLY : FrameType.HEADERS, frame.flags, 4 + compressed.length), b, compressed]);
}

/** The uncompressed name/value block of headers (names lowercased, values joined with NUL). */
export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const names = Object.keys(headers);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(names.length, 0);
  parts.push(count);
  for (const name of names) {
    const n = Buffer.from(name.toLowerCase(), "utf8");
    const v = Buffer.from((headers[name] ?? []).join("\0"), "utf8");
    const ln = Buffer.alloc(4);
    ln.writeUInt32BE(n.length, 0);
    const lv = Buffer.alloc(4);
    lv.writeUInt32BE(v.length, 0);
    parts.push(ln, n, lv, v);
  }
  return Buffer.concat(parts);
}

/** Headers from an uncompressed name/value block; a malformed block is a protocol error. */
export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  const fail = (why: string) => new SpdyProtocolError(`malformed header block: ${why}`);
  if (block.length < 4) throw fail("no pair count");
  const count = block.readUInt32BE(0);
  // every pair takes at least 8 bytes: a count beyond that is a lie, not a reason to allocate
  if (count > (block.length - 4) / 8) throw fail(`${count} pairs announced in ${block.length} bytes`);
  const out: SpdyHeaders = Object.create(null) as SpdyHeaders;
  let off = 4;
  const take = (): string => {
    if (off + 4 > block.length) throw fail("a length runs past the block");
    const len = block.readUInt32BE(off);
    off += 4;
    if (off + len > block.length) throw fail("a name or value runs past the block");
    const s = block.toString("utf8", off, off + len);
    off += len;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const name = take();
    const value = take();
    if (name === "") throw fail("an empty header name");
    if (name !== name.toLowerCase()) throw fail(`header name ${JSON.stringify(name)} is not lowercase`);
    if (Object.hasOwn(out, name)) throw fail(`header ${JSON.stringify(name)} appears twice`);
    out[name] = value.split("\0");
  }
  if (off !== block.length) throw fail(`${block.length - off} bytes after the last pair`);
  return out;
}

/** The first value of a header, or undefined. */
export function headerValue(h: SpdyHeaders, name: string): string | undefined {
  return h[name.toLowerCase()]?.[0];
}

/**
 * The two zlib contexts of a session: one deflate for the blocks this side sends, one inflate for
 * those it receives, each primed with the SPDY dictionary and kept for the session's life (a
 * block refers back to the ones before it). Each block goes in whole and comes out at a sync
 * flush; calls are served in order, one at a time.
 */
export class HeaderCodec {
  private readonly deflate = new FlushedZlib(zlib.createDeflate({ dictionary: SPDY_DICTIONARY, level: zlib.constants.Z_BEST_COMPRESSION }), Infinity);
  private readonly inflate: FlushedZlib;

  constructor(maxBlock = 1 << 20) {
    this.inflate = new FlushedZlib(zlib.createInflate({ dictionary: SPDY_DICTIONARY }), maxBlock);
  }

  /** The compressed form of a header block, continuing the session's deflate context. */
  compress(headers: SpdyHeaders): Promise<Buffer> {
    return this.deflate.process(encodeHeaderBlock(headers));
  }

  /** The headers of a received compressed block, continuing the session's inflate context. */
  async decompress(compressed: Buffer): Promise<SpdyHeaders> {
    return decodeHeaderBlock(await this.inflate.process(compressed));
  }

  close(): void {
    this.deflate.close();
    this.inflate.close();
  }
}

/** One zlib context fed a block at a time, each answered with what it gave up to a sync flush. */
class FlushedZlib {
  private queue: Promise<unknown> = Promise.resolve();
  private current: { out: Buffer[]; size: number; fail: (err: Error) => void } | undefined;
  private broken: Error | undefined;

  constructor(
    private readonly z: zlib.Deflate | zlib.Inflate,
    private readonly max: number,
  ) {
    // one listener for the context's life: output between a block's write and its flush is that block's
    z.on("data", (b: Buffer) => {
      const c = this.current;
      if (!c) return;
      c.size += b.length;
      if (c.size > this.max) return c.fail(new SpdyProtocolError(`a header block inflates past ${this.max} bytes`));
      c.out.push(b);
    });
    z.on("error", (err: Error) => {
      this.broken = new SpdyProtocolError(`header block compression: ${err.message}`);
      this.current?.fail(this.broken);
    });
  }

  process(input: Buffer): Promise<Buffer> {
    const p = this.queue.then(() => this.one(input));
    this.queue = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.broken ??= new SpdyProtocolError("the session is closed");
    this.z.destroy();
  }

  private one(input: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      if (this.broken) return reject(this.broken);
      let settled = false;
      const c = {
        out: [] as Buffer[],
        size: 0,
        fail: (err: Error) => {
          if (settled) return;
          settled = true;
          this.current = undefined;
          // a context that failed mid-block is out of step with the peer's for good
          this.broken ??= err;
          reject(err);
        },
      };
      this.current = c;
      this.z.write(input);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (settled) return;
        settled = true;
        this.current = undefined;
        if (this.broken) return reject(this.broken);
        resolve(Buffer.concat(c.out, c.size));
      });
    });
  }
}
