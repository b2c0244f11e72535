// A SPDY/3.1 session over a connected socket, as the Kubernetes streaming protocols use it
// (spdystream on the other end: client-go, kubectl, crictl, the kubelet). Both roles: a server
// answers the streams its peer opens (odd IDs), a client opens them (cove's tests use that side).
//
// Each stream is a Node Duplex: what the peer sends on it is read from it, what is written goes
// out in DATA frames, end() sends the FIN. Frames are handled strictly in arrival order (a header
// block waits for the inflate of the blocks before it); SYN_REPLY and HEADERS go out in order with
// the DATA frames around them. Flow control is spdystream's: it neither sends WINDOW_UPDATE nor
// honours a send window, so a window enforced here would stall every transfer past 64 KiB.
// Backpressure is TCP's instead: while a stream's reader is behind, the socket is not read (as
// spdystream's frame workers block), and a write waits for the socket to drain. WINDOW_UPDATEs
// are still sent as data arrives, so that a peer that keeps windows never waits on this side.
// PING from the peer is echoed, SETTINGS and WINDOW_UPDATE are read and ignored, GOAWAY stops new
// streams and ends the session once the open ones are done.

import { EventEmitter } from "node:events";
import { Duplex } from "node:stream";
import {
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameType,
  GoAwayStatus,
  HeaderCodec,
  MAX_FRAME_LENGTH,
  RstStatus,
  SPDY_VERSION,
  SpdyProtocolError,
  dataHeader,
  encodeControl,
  encodeHeaderFrame,
  readRawFrame,
  type RawFrame,
  type SpdyHeaders,
} from "./frames.js";

/** SPDY/3.1's initial window, per stream and for the session. */
const INITIAL_WINDOW = 64 * 1024;
/** The largest DATA frame this side sends (a write is split into frames of this size). */
const MAX_DATA_FRAME = 64 * 1024;
/** Frames that may wait for handling before the socket is no longer read. */
const MAX_QUEUED_FRAMES = 256;
/** How much a stream's reader may fall behind before the socket is no longer read. */
const STREAM_HIGH_WATER = 1 << 20;

export interface SpdySessionOptions {
  /** "server": the peer opens odd-numbered streams; "client": this side does. */
  role: "server" | "client";
  /** Ends the session after this long without a frame either way; 0 or absent: never. */
  idleTimeoutMs?: number;
  /** The largest frame accepted from the peer (default: SPDY's own limit, 16 MiB). */
  maxFrameLength?: number;
}

export interface SpdySessionEvents {
  stream: [SpdyStream];
  goaway: [number];
  close: [Error | undefined];
}

export class SpdySession extends EventEmitter<SpdySessionEvents> {
  /** The session's open streams by ID. */
  readonly streams = new Map<number, SpdyStream>();
  private input: Buffer = Buffer.alloc(0);
  private handling: Promise<void> = Promise.resolve();
  private queued = 0;
  private output: Promise<void> | undefined;
  private outputQueued = 0;
  private nextStreamId: number;
  private lastPeerStreamId = 0;
  private nextPingId: number;
  private readonly pings = new Map<number, () => void>();
  private readonly codec = new HeaderCodec();
  private readonly slowReaders = new Set<SpdyStream>();
  private sessionUnacked = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private goneAway = false;
  private closedWith: { err: Error | undefined } | undefined;
  private endTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Duplex,
    private readonly opts: SpdySessionOptions,
  ) {
    super();
    this.nextStreamId = opts.role === "server" ? 2 : 1;
    this.nextPingId = opts.role === "server" ? 2 : 1;
    socket.on("data", (d: Buffer) => this.onData(d));
    // the peer's end comes after its last frames: those still waiting for their turn are handled first
    const ended = () => this.afterQueued(() => this.destroy());
    socket.on("end", ended);
    socket.on("close", ended);
    socket.on("error", (err: Error) => this.destroy(err));
    this.touch();
  }

  /** Whether the session has ended. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Opens a stream (SYN_STREAM) with these headers; fin: nothing will be written on it. */
  openStream(headers: SpdyHeaders, opts: { fin?: boolean } = {}): SpdyStream {
    if (this.closedWith || this.goneAway) throw new Error("the SPDY session is closing: no new streams");
    const id = this.nextStreamId;
    if (id > 0x7fffffff) throw new Error("the SPDY session has used up its stream IDs");
    this.nextStreamId += 2;
    const stream = new SpdyStream(this, id, headers, { local: true, fin: !!opts.fin });
    this.streams.set(id, stream);
    this.sendHeaders({ type: "syn_stream", streamId: id, associatedId: 0, priority: 0, flags: opts.fin ? FLAG_FIN : 0, headers });
    return stream;
  }

  /** Sends a PING and resolves when the peer echoes it. */
  ping(): Promise<void> {
    const id = this.nextPingId;
    this.nextPingId = this.nextPingId >= 0x7ffffffd ? this.nextPingId - 0x7ffffffc : this.nextPingId + 2;
    return new Promise<void>((resolve, reject) => {
      if (this.closedWith) return reject(new Error("the SPDY session is closed"));
      this.pings.set(id, resolve);
      this.send(encodeControl({ type: "ping", id }));
    });
  }

  /**
   * Ends the session as the kubelet does when its work is done: every stream still open is reset
   * (CANCEL; what was written before stays in front of it), GOAWAY says which streams were seen,
   * and the socket is ended once all that is out.
   */
  close(): void {
    if (this.closedWith) return;
    for (const s of [...this.streams.values()]) s.reset(RstStatus.CANCEL);
    this.goAway(GoAwayStatus.OK);
    this.endSocket();
  }

  /** Ends the session now, without a word to the peer. */
  destroy(err?: Error): void {
    if (this.closedWith) return;
    this.closedWith = { err };
    clearTimeout(this.idleTimer);
    this.codec.close();
    for (const s of [...this.streams.values()]) s.sessionGone();
    this.streams.clear();
    this.pings.clear();
    if (!this.socket.destroyed) this.socket.destroy();
    clearTimeout(this.endTimer);
    this.emit("close", err);
  }

  // ---- frames in

  private afterQueued(f: () => void): void {
    if (this.queued === 0) f();
    else void this.handling.then(f);
  }

  private onData(d: Buffer): void {
    if (this.closedWith) return;
    this.touch();
    this.input = this.input.length === 0 ? d : Buffer.concat([this.input, d]);
    try {
      for (;;) {
        const next = readRawFrame(this.input, this.opts.maxFrameLength ?? MAX_FRAME_LENGTH);
        if (!next) break;
        this.input = this.input.subarray(next.size);
        this.dispatch(next.frame);
        if (this.closedWith) return;
      }
    } catch (err) {
      this.protocolError(err);
    }
    this.updateFlow();
  }

  /** Handles a frame now when nothing is ahead of it, else after what is. */
  private dispatch(raw: RawFrame): void {
    const withHeaders = raw.control && (raw.typeOrStream === FrameType.SYN_STREAM || raw.typeOrStream === FrameType.SYN_REPLY || raw.typeOrStream === FrameType.HEADERS);
    if (this.queued === 0 && !withHeaders) {
      this.handle(raw);
      return;
    }
    this.queued++;
    this.handling = this.handling
      .then(async () => {
        if (this.closedWith) return;
        if (withHeaders) await this.handleWithHeaders(raw);
        else this.handle(raw);
      })
      .catch((err: unknown) => this.protocolError(err))
      .finally(() => {
        this.queued--;
        this.updateFlow();
      });
  }

  private handle(raw: RawFrame): void {
    if (!raw.control) return this.onDataFrame(raw.typeOrStream, raw.flags, raw.payload);
    if (raw.version !== SPDY_VERSION) throw new SpdyProtocolError(`a control frame of SPDY version ${raw.version} (this session speaks 3)`);
    const p = raw.payload;
    const need = (n: number, what: string) => {
      if (p.length < n) throw new SpdyProtocolError(`a ${what} frame of ${p.length} bytes (at least ${n} expected)`);
    };
    switch (raw.typeOrStream) {
      case FrameType.RST_STREAM: {
        need(8, "RST_STREAM");
        this.streams.get(p.readUInt32BE(0) & 0x7fffffff)?.peerReset(p.readUInt32BE(4));
        return;
      }
      case FrameType.SETTINGS: {
        need(4, "SETTINGS");
        const n = p.readUInt32BE(0);
        if (p.length !== 4 + 8 * n) throw new SpdyProtocolError(`a SETTINGS frame of ${p.length} bytes for ${n} entries`);
        return; // (nothing here depends on the peer's settings: see the header)
      }
      case FrameType.PING: {
        need(4, "PING");
        const id = p.readUInt32BE(0);
        const mine = (id & 1) === (this.opts.role === "server" ? 0 : 1);
        if (!mine) this.send(encodeControl({ type: "ping", id }));
        else {
          const done = this.pings.get(id);
          this.pings.delete(id);
          done?.();
        }
        return;
      }
      case FrameType.GOAWAY: {
        need(8, "GOAWAY");
        this.goneAway = true;
        this.emit("goaway", p.readUInt32BE(4));
        this.endWhenIdle();
        return;
      }
      case FrameType.WINDOW_UPDATE:
        need(8, "WINDOW_UPDATE");
        return;
      default:
        return; // unknown control frames are ignored
    }
  }

  private async handleWithHeaders(raw: RawFrame): Promise<void> {
    if (raw.version !== SPDY_VERSION) throw new SpdyProtocolError(`a control frame of SPDY version ${raw.version} (this session speaks 3)`);
    const p = raw.payload;
    const headerStart = raw.typeOrStream === FrameType.SYN_STREAM ? 10 : 4;
    if (p.length < headerStart) throw new SpdyProtocolError(`a control frame of type ${raw.typeOrStream} with ${p.length} bytes`);
    const id = p.readUInt32BE(0) & 0x7fffffff;
    // the block is inflated whatever becomes of the stream: the context must follow the peer's
    const headers = await this.codec.decompress(p.subarray(headerStart));
    if (this.closedWith) return;
    const fin = (raw.flags & FLAG_FIN) !== 0;
    if (raw.typeOrStream === FrameType.SYN_STREAM) {
      const peerParity = this.opts.role === "server" ? 1 : 0;
      if (id === 0 || (id & 1) !== peerParity || id <= this.lastPeerStreamId) {
        this.send(encodeControl({ type: "rst_stream", streamId: id, status: RstStatus.PROTOCOL_ERROR }));
        return;
      }
      this.lastPeerStreamId = id;
      if (this.goneAway) {
        this.send(encodeControl({ type: "rst_stream", streamId: id, status: RstStatus.REFUSED_STREAM }));
        return;
      }
      const stream = new SpdyStream(this, id, headers, { local: false, fin: (raw.flags & FLAG_UNIDIRECTIONAL) !== 0 });
      this.streams.set(id, stream);
      if (fin) stream.peerEnded();
      this.emit("stream", stream);
      return;
    }
    const stream = this.streams.get(id);
    if (!stream) return; // (a stream already gone: nothing to tell)
    if (raw.typeOrStream === FrameType.SYN_REPLY) stream.peerReplied(headers);
    else stream.emit("headers", headers);
    if (fin) stream.peerEnded();
  }

  private onDataFrame(id: number, flags: number, data: Buffer): void {
    const stream = this.streams.get(id);
    if (!stream) return; // data on a stream already gone is dropped, as spdystream drops it
    if (data.length > 0) {
      stream.peerData(data);
      this.sessionUnacked += data.length;
      if (this.sessionUnacked >= INITIAL_WINDOW / 2) {
        this.send(encodeControl({ type: "window_update", streamId: 0, delta: this.sessionUnacked }));
        this.sessionUnacked = 0;
      }
    }
    if (flags & FLAG_FIN) stream.peerEnded();
  }

  private protocolError(err: unknown): void {
    if (this.closedWith) return;
    if (!(err instanceof SpdyProtocolError)) return this.destroy(err instanceof Error ? err : new Error(String(err)));
    this.goAway(GoAwayStatus.PROTOCOL_ERROR);
    this.destroyAfterWrites(err);
  }

  // ---- flow

  /** Reads the socket unless frames pile up or a stream's reader is behind. */
  updateFlow(): void {
    if (this.closedWith) return;
    const hold = this.queued > MAX_QUEUED_FRAMES || this.slowReaders.size > 0;
    if (hold && !this.socket.isPaused()) this.socket.pause();
    else if (!hold && this.socket.isPaused()) this.socket.resume();
  }

  /** @internal a stream's reader is behind (true) or caught up (false). */
  readerBehind(stream: SpdyStream, behind: boolean): void {
    if (behind) this.slowReaders.add(stream);
    else this.slowReaders.delete(stream);
    this.updateFlow();
  }

  // ---- frames out

  private touch(): void {
    const ms = this.opts.idleTimeoutMs ?? 0;
    if (ms <= 0) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => {
        this.goAway(GoAwayStatus.OK);
        this.destroyAfterWrites(new Error(`the SPDY session was idle for ${ms} ms`));
      }, ms);
      this.idleTimer.unref();
    }
  }

  /**
   * Writes bytes after everything queued before them; resolves once the socket takes more
   * (undefined when it already does).
   */
  send(b: Buffer): Promise<void> | undefined {
    if (this.closedWith || this.socket.destroyed || this.socket.writableEnded) return undefined;
    this.touch();
    if (this.output) {
      const p = this.queueOutput(async () => {
        await this.writeNow(b);
      });
      return p;
    }
    return this.writeNow(b);
  }

  private writeNow(b: Buffer): Promise<void> | undefined {
    if (this.closedWith || this.socket.destroyed || this.socket.writableEnded) return undefined;
    if (this.socket.write(b)) return undefined;
    return new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }

  private queueOutput(f: () => Promise<void>): Promise<void> {
    this.outputQueued++;
    const p = (this.output ?? Promise.resolve()).then(f).finally(() => {
      if (--this.outputQueued === 0) this.output = undefined;
    });
    this.output = p.catch(() => undefined);
    return p;
  }

  /** @internal a frame with a header block: compressed in order, sent in order. */
  sendHeaders(frame: Parameters<typeof encodeHeaderFrame>[0]): Promise<void> {
    if (this.closedWith) return Promise.resolve();
    const compressed = this.codec.compress(frame.headers);
    return this.queueOutput(async () => {
      let block: Buffer;
      try {
        block = await compressed;
      } catch (err) {
        this.destroy(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      await this.writeNow(encodeHeaderFrame(frame, block));
    });
  }

  /** @internal DATA frames of a stream (split to MAX_DATA_FRAME), the last one with fin. */
  sendData(id: number, data: Buffer, fin: boolean): Promise<void> | undefined {
    let last: Promise<void> | undefined;
    let off = 0;
    do {
      const n = Math.min(MAX_DATA_FRAME, data.length - off);
      const end = off + n >= data.length;
      const h = dataHeader(id, end && fin ? FLAG_FIN : 0, n);
      last = this.send(n === 0 ? h : Buffer.concat([h, data.subarray(off, off + n)])) ?? last;
      off += n;
    } while (off < data.length);
    return last;
  }

  /** @internal */
  sendWindowUpdate(id: number, delta: number): void {
    this.send(encodeControl({ type: "window_update", streamId: id, delta }));
  }

  /** @internal */
  sendReset(id: number, status: number): void {
    this.send(encodeControl({ type: "rst_stream", streamId: id, status }));
  }

  /** @internal a stream is done both ways, or reset. */
  forget(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.slowReaders.delete(stream);
    this.updateFlow();
    if (this.goneAway) this.endWhenIdle();
  }

  private goAway(status: number): void {
    if (this.closedWith) return;
    const first = !this.goneAway || status !== GoAwayStatus.OK;
    this.goneAway = true;
    if (first) this.send(encodeControl({ type: "goaway", lastGoodStreamId: this.lastPeerStreamId, status }));
  }

  private endWhenIdle(): void {
    if (this.streams.size === 0) this.endSocket();
  }

  /** Ends the socket after what is queued; a peer that does not close in 10 s is cut off. */
  private endSocket(): void {
    const end = () => {
      if (this.closedWith) return;
      if (!this.socket.writableEnded) this.socket.end();
      this.endTimer ??= setTimeout(() => this.destroy(), 10_000);
      this.endTimer.unref();
    };
    if (this.output) void this.queueOutput(async () => end());
    else end();
  }

  private destroyAfterWrites(err: Error): void {
    const kill = () => {
      if (!this.socket.writableEnded && !this.socket.destroyed) this.socket.end();
      this.destroy(err);
    };
    if (this.output) void this.queueOutput(async () => kill());
    else kill();
  }
}

export interface SpdyStreamEvents {
  headers: [SpdyHeaders];
}

/** One SPDY stream: read what the peer sends, write what goes to it; end() sends the FIN. */
export class SpdyStream extends Duplex {
  /** Set when the peer reset the stream (its RST_STREAM status), or this side did. */
  resetStatus: number | undefined;
  private replied = false;
  /** Opened by this side (which writes on it without waiting for the reply, as spdystream does). */
  private readonly local: boolean;
  private replyWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private remoteEnded = false;
  private localEnded: boolean;
  private unacked = 0;
  private gone = false;
  private cut = false;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    /** The headers the stream was opened with. */
    readonly headers: SpdyHeaders,
    opts: { local: boolean; fin: boolean },
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: STREAM_HIGH_WATER, autoDestroy: false });
    this.local = opts.local;
    this.localEnded = opts.fin;
  }

  /** Accepts a stream the peer opened (SYN_REPLY); fin: nothing will be written on it. */
  reply(headers: SpdyHeaders = {}, fin = false): void {
    if (this.local || this.replied || this.gone) return;
    this.replied = true;
    void this.session.sendHeaders({ type: "syn_reply", streamId: this.id, flags: fin ? FLAG_FIN : 0, headers });
    if (fin) this.localEnded = true;
    for (const w of this.replyWaiters.splice(0)) w.resolve();
    this.maybeDone();
  }

  /** Resolves when the peer accepted a stream this side opened; rejects if it was reset or the session ended. */
  waitReply(): Promise<void> {
    if (this.replied) return Promise.resolve();
    if (this.gone) return Promise.reject(new Error(`SPDY stream ${this.id} was reset (status ${this.resetStatus ?? "none"})`));
    return new Promise<void>((resolve, reject) => this.replyWaiters.push({ resolve, reject }));
  }

  /** Sends headers on the stream (HEADERS). */
  sendHeaders(headers: SpdyHeaders, fin = false): void {
    if (this.gone || this.localEnded) return;
    void this.session.sendHeaders({ type: "headers", streamId: this.id, flags: fin ? FLAG_FIN : 0, headers });
    if (fin) {
      this.localEnded = true;
      this.maybeDone();
    }
  }

  /** Resets the stream (RST_STREAM) and ends it here. */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.gone) return;
    this.resetStatus = status;
    this.session.sendReset(this.id, status);
    this.finish();
  }

  /** Whether the stream was cut short: reset by either side, or its session ended before it did. */
  get wasCut(): boolean {
    return this.cut;
  }

  /** Whether the stream is over (both sides ended, or reset, or the session ended). */
  get isGone(): boolean {
    return this.gone;
  }

  /** Whether the peer's side ended (FIN or reset). */
  get peerDone(): boolean {
    return this.remoteEnded || this.gone;
  }

  // ---- from the session

  /** @internal */
  peerReplied(headers: SpdyHeaders): void {
    if (this.replied) return;
    this.replied = true;
    this.emit("reply", headers);
    for (const w of this.replyWaiters.splice(0)) w.resolve();
  }

  /** @internal */
  peerData(data: Buffer): void {
    if (this.remoteEnded || this.gone) return;
    const room = this.push(data);
    if (!room) this.session.readerBehind(this, true);
    this.unacked += data.length;
    if (this.unacked >= INITIAL_WINDOW / 2) {
      this.session.sendWindowUpdate(this.id, this.unacked);
      this.unacked = 0;
    }
  }

  /** @internal */
  peerEnded(): void {
    if (this.remoteEnded || this.gone) return;
    this.remoteEnded = true;
    this.push(null);
    this.maybeDone();
  }

  /** @internal */
  peerReset(status: number): void {
    if (this.gone) return;
    this.resetStatus = status;
    this.finish();
  }

  /** @internal the session ended. */
  sessionGone(): void {
    if (this.gone) return;
    this.finish();
  }

  // ---- Duplex

  override _read(): void {
    this.session.readerBehind(this, false);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.whenReplied(() => {
      // (a stream that was reset drops what is still written to it, as a closed connection
      // would; a writer learns of the end from the "done" event, or peerDone)
      if (this.gone || this.localEnded) return cb();
      const p = this.session.sendData(this.id, chunk, false);
      if (p) void p.then(() => cb());
      else cb();
    }, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.whenReplied(() => {
      if (!this.localEnded && !this.gone) {
        this.localEnded = true;
        this.session.sendData(this.id, Buffer.alloc(0), true);
        this.maybeDone();
      }
      cb();
    }, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.gone && !(this.localEnded && this.remoteEnded)) this.reset(RstStatus.CANCEL);
    cb(err);
  }

  private whenReplied(f: () => void, cb: (err?: Error | null) => void): void {
    if (this.local || this.replied || this.gone) return f();
    this.waitReply().then(f, (err: Error) => cb(err));
  }

  private maybeDone(): void {
    if (this.localEnded && this.remoteEnded) this.finish(false);
  }

  /** The stream is over: forgotten by the session, its readers see the end. */
  private finish(abrupt = true): void {
    if (this.gone) return;
    this.gone = true;
    for (const w of this.replyWaiters.splice(0)) w.reject(new Error(`SPDY stream ${this.id} was reset (status ${this.resetStatus ?? "none"})`));
    this.session.forget(this);
    if (abrupt) {
      this.cut = true;
      // what was read stays readable; a reader that waits for more sees the end
      if (!this.remoteEnded) {
        this.remoteEnded = true;
        this.push(null);
      }
      this.localEnded = true;
    }
    this.emit("done");
  }
}
