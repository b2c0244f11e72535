// A compact WebSocket server side (RFC 6455) for GET /containers/{id}/attach/ws: the opening
// handshake, frame encoding (server frames are never masked) and an incremental decoder of client
// frames (always masked; fragmented messages reassembled; ping answered with pong; close echoed).
// No extensions and no subprotocols are negotiated.

import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Client frames larger than this are refused (stdin arrives in small pieces). */
const MAX_PAYLOAD = 16 * 1024 * 1024;

export const Opcode = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** Whether a request asks for a WebSocket (Upgrade: websocket and a valid 16-byte key). */
export function isWebSocketRequest(headers: Record<string, string | string[] | undefined>): boolean {
  const upgrade = String(headers.upgrade ?? "").toLowerCase();
  const key = String(headers["sec-websocket-key"] ?? "");
  return upgrade === "websocket" && Buffer.from(key, "base64").length === 16;
}

/** The 101 response that completes the handshake. */
export function handshakeResponse(key: string): string {
  return ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${acceptKey(key)}`, "", ""].join("\r\n");
}

/** One unmasked frame (FIN set). */
export function encodeFrame(opcode: number, payload: Buffer = Buffer.alloc(0), mask?: Buffer): Buffer {
  const len = payload.length;
  const head: number[] = [0x80 | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (len < 126) head.push(maskBit | len);
  else if (len < 65536) head.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    head.push(maskBit | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] = (masked[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([Buffer.from(head), mask, masked]);
}

export interface Message {
  opcode: number;
  data: Buffer;
}

export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly closeCode = 1002,
  ) {
    super(message);
  }
}

/** Decodes client frames as chunks arrive: data messages (reassembled) and control frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;

  constructor(private readonly requireMask = true) {}

  push(chunk: Buffer): Message[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Message[] = [];
    for (;;) {
      if (this.buf.length < 2) break;
      const b0 = this.buf[0] as number;
      const b1 = this.buf[1] as number;
      const fin = (b0 & 0x80) !== 0;
      if (b0 & 0x70) throw new ProtocolError("reserved bits set without a negotiated extension");
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      if (this.requireMask && !masked) throw new ProtocolError("client frames must be masked");
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) break;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) break;
        const big = this.buf.readBigUInt64BE(2);
        if (big > BigInt(MAX_PAYLOAD)) throw new ProtocolError("frame too large", 1009);
        len = Number(big);
        off = 10;
      }
      if (len > MAX_PAYLOAD) throw new ProtocolError("frame too large", 1009);
      const maskLen = masked ? 4 : 0;
      if (this.buf.length < off + maskLen + len) break;
      const mask = masked ? this.buf.subarray(off, off + 4) : undefined;
      const payload = Buffer.from(this.buf.subarray(off + maskLen, off + maskLen + len));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
      this.buf = this.buf.subarray(off + maskLen + len);
      if (opcode >= 0x8) {
        if (!fin || len > 125) throw new ProtocolError("control frames must be whole and at most 125 bytes");
        out.push({ opcode, data: payload });
        continue;
      }
      if (opcode === Opcode.continuation) {
        if (this.fragments.length === 0) throw new ProtocolError("continuation frame without a message");
        this.fragments.push(payload);
      } else if (opcode === Opcode.text || opcode === Opcode.binary) {
        if (this.fragments.length > 0) throw new ProtocolError("new message inside a fragmented one");
        this.fragmentOpcode = opcode;
        this.fragments.push(payload);
      } else throw new ProtocolError(`unknown opcode ${opcode}`);
      if (fin) {
        out.push({ opcode: this.fragmentOpcode, data: Buffer.concat(this.fragments) });
        this.fragments = [];
      }
    }
    return out;
  }
}

export interface WebSocketConn {
  /** Sends one data message. */
  send(data: Buffer): boolean;
  /** Sends a close frame and ends the connection. */
  close(code?: number): void;
  readonly socket: Duplex;
}

/**
 * Completes the handshake on a hijacked socket and wires the decoder: onMessage gets each data
 * message, onClose runs once when the peer closes (or the socket ends).
 */
export function acceptWebSocket(socket: Duplex, head: Buffer, key: string, opts: { binary: boolean; onMessage: (data: Buffer) => void; onClose: () => void }): WebSocketConn {
  const decoder = new FrameDecoder();
  let closed = false;
  const finish = () => {
    if (closed) return;
    closed = true;
    opts.onClose();
  };
  const conn: WebSocketConn = {
    socket,
    send: (data) => (socket.writable ? socket.write(encodeFrame(opts.binary ? Opcode.binary : Opcode.text, data)) : false),
    close: (code = 1000) => {
      if (socket.writable) {
        const p = Buffer.alloc(2);
        p.writeUInt16BE(code);
        socket.end(encodeFrame(Opcode.close, p));
      }
      finish();
    },
  };
  const onData = (chunk: Buffer) => {
    let msgs: Message[];
    try {
      msgs = decoder.push(chunk);
    } catch (err) {
      conn.close(err instanceof ProtocolError ? err.closeCode : 1002);
      return;
    }
    for (const m of msgs) {
      if (m.opcode === Opcode.ping) socket.write(encodeFrame(Opcode.pong, m.data));
      else if (m.opcode === Opcode.close) conn.close(m.data.length >= 2 ? m.data.readUInt16BE(0) : 1000);
      else if (m.opcode === Opcode.text || m.opcode === Opcode.binary) opts.onMessage(m.data);
    }
  };
  socket.write(handshakeResponse(key));
  socket.on("data", onData);
  socket.on("end", finish);
  socket.on("close", finish);
  socket.on("error", finish);
  if (head.length > 0) onData(head);
  return conn;
}
