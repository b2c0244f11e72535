import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import { after, describe, it } from "node:test";
import zlib from "node:zlib";
import { SPDY_DICTIONARY } from "./dictionary.js";
import {
  FLAG_FIN,
  HeaderCodec,
  RstStatus,
  SpdyProtocolError,
  dataHeader,
  decodeHeaderBlock,
  encodeControl,
  encodeHeaderBlock,
  encodeHeaderFrame,
  readRawFrame,
} from "./frames.js";
import { SpdySession, type SpdyStream } from "./spdy.js";
import { readAll, waitFor } from "./testing.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

/** A name/value block built by hand from the draft's layout (2.6.10): count, then length-prefixed names and values. */
function handBlock(pairs: [string, string][]): Buffer {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  return Buffer.concat([u32(pairs.length), ...pairs.flatMap(([n, v]) => [u32(Buffer.byteLength(n)), Buffer.from(n), u32(Buffer.byteLength(v)), Buffer.from(v)])]);
}

describe("SPDY/3 framing", () => {
  it("has the SPDY/3 dictionary", () => {
    assert.equal(SPDY_DICTIONARY.length, 1423);
    assert.deepEqual(SPDY_DICTIONARY.subarray(0, 11), Buffer.from("\0\0\0\x07options", "latin1"));
    assert.equal(createHash("sha256").update(SPDY_DICTIONARY).digest("hex"), "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02");
  });

  it("encodes control and data frames as the draft lays them out", () => {
    // control bit, version 3, type; flags; 24-bit length; then the payload
    assert.deepEqual(encodeControl({ type: "rst_stream", streamId: 5, status: RstStatus.CANCEL }), hex("80030003 00000008 00000005 00000005"));
    assert.deepEqual(encodeControl({ type: "ping", id: 7 }), hex("80030006 00000004 00000007"));
    assert.deepEqual(encodeControl({ type: "goaway", lastGoodStreamId: 9, status: 1 }), hex("80030007 00000008 00000009 00000001"));
    assert.deepEqual(encodeControl({ type: "window_update", streamId: 3, delta: 0x10000 }), hex("80030009 00000008 00000003 00010000"));
    assert.deepEqual(encodeControl({ type: "settings", flags: 0, entries: [{ flags: 1, id: 7, value: 65536 }] }), hex("80030004 0000000c 00000001 01000007 00010000"));
    assert.deepEqual(dataHeader(3, FLAG_FIN, 5), hex("00000003 01000005"));
    assert.deepEqual(encodeHeaderFrame({ type: "syn_reply", streamId: 1, flags: 0, headers: {} }, hex("aabb")), hex("80030002 00000006 00000001 aabb"));
    assert.deepEqual(
      encodeHeaderFrame({ type: "syn_stream", streamId: 1, associatedId: 0, priority: 7, flags: FLAG_FIN, headers: {} }, hex("cc")),
      hex("80030001 0100000b 00000001 00000000 e000 cc"),
    );
  });

  it("reads frames only when whole, and refuses one over the limit", () => {
    const two = Buffer.concat([hex("80030006 00000004 00000007"), hex("00000003 01000002 6869")]);
    assert.equal(readRawFrame(two.subarray(0, 7)), undefined);
    assert.equal(readRawFrame(two.subarray(0, 11)), undefined);
    const a = readRawFrame(two)!;
    assert.deepEqual([a.frame.control, a.frame.typeOrStream, a.frame.version, a.size], [true, 6, 3, 12]);
    const b = readRawFrame(two.subarray(a.size))!;
    assert.deepEqual([b.frame.control, b.frame.typeOrStream, b.frame.flags, b.frame.payload.toString()], [false, 3, 1, "hi"]);
    assert.throws(() => readRawFrame(hex("00000003 00100000"), 1024), SpdyProtocolError);
  });

  it("encodes and decodes name/value blocks", () => {
    const block = handBlock([
      ["streamtype", "error"],
      ["port", "80"],
      ["multi", "a\0b"],
    ]);
    assert.deepEqual(encodeHeaderBlock({ streamtype: ["error"], port: ["80"], multi: ["a", "b"] }), block);
    assert.deepEqual({ ...decodeHeaderBlock(block) }, { streamtype: ["error"], port: ["80"], multi: ["a", "b"] });
    assert.deepEqual(encodeHeaderBlock({ StreamType: ["x"] }), handBlock([["streamtype", "x"]]));
  });

  it("refuses malformed name/value blocks", () => {
    const cases: [string, Buffer][] = [
      ["uppercase name", handBlock([["Port", "80"]])],
      ["duplicate name", handBlock([["port", "80"], ["port", "81"]])],
      ["empty name", handBlock([["", "x"]])],
      ["truncated", handBlock([["port", "80"]]).subarray(0, 14)],
      ["trailing bytes", Buffer.concat([handBlock([["port", "80"]]), hex("00")])],
      ["count beyond the bytes", hex("7fffffff 00000000 00000000")],
      ["no count", hex("0000")],
    ];
    for (const [what, b] of cases) assert.throws(() => decodeHeaderBlock(b), SpdyProtocolError, what);
  });

  it("compresses with the dictionary, continuing one context across blocks", async () => {
    const codec = new HeaderCodec();
    const first = await codec.compress({ streamtype: ["stdout"] });
    const second = await codec.compress({ streamtype: ["stderr"], port: ["8080"] });
    // an independent inflater primed with the dictionary reads both blocks, in order, from one context
    const out = zlib.inflateSync(Buffer.concat([first, second]), { dictionary: SPDY_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    assert.deepEqual(out, Buffer.concat([handBlock([["streamtype", "stdout"]]), handBlock([["streamtype", "stderr"], ["port", "8080"]])]));
    // each block ends at a sync flush
    assert.deepEqual(first.subarray(-4), hex("0000ffff"));
    assert.deepEqual(second.subarray(-4), hex("0000ffff"));
    codec.close();
  });

  it("decompresses a block an independent deflater made, then its own", async () => {
    const raw = handBlock([["streamtype", "data"], ["port", "80"], ["requestid", "0"]]);
    const compressed = zlib.deflateSync(raw, { dictionary: SPDY_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const codec = new HeaderCodec();
    assert.deepEqual({ ...(await codec.decompress(compressed)) }, { streamtype: ["data"], port: ["80"], requestid: ["0"] });
    // one context each way over many blocks, as a session keeps them
    const peer = new HeaderCodec();
    const c = new HeaderCodec();
    for (const t of ["error", "stdin", "stdout", "stderr", "resize", "error", "stdout"]) {
      const a = await c.compress({ streamtype: [t] });
      assert.deepEqual({ ...(await peer.decompress(a)) }, { streamtype: [t] });
    }
    c.close();
    codec.close();
    peer.close();
  });

  it("refuses a block that inflates past its limit, and garbage", async () => {
    const big = zlib.deflateSync(handBlock([["x", "y".repeat(5000)]]), { dictionary: SPDY_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const small = new HeaderCodec(1024);
    await assert.rejects(small.decompress(big), SpdyProtocolError);
    small.close();
    const codec = new HeaderCodec();
    await assert.rejects(codec.decompress(hex("deadbeefdeadbeef")), SpdyProtocolError);
    codec.close();
  });
});

/** A client and a server session over a loopback TCP connection. */
async function pair(): Promise<{ client: SpdySession; server: SpdySession; close: () => Promise<void> }> {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await new Promise((r) => srv.once("listening", r));
  const accepted = new Promise<net.Socket>((r) => srv.once("connection", r));
  const c = net.connect((srv.address() as net.AddressInfo).port, "127.0.0.1");
  const s = await accepted;
  const client = new SpdySession(c, { role: "client" });
  const server = new SpdySession(s, { role: "server" });
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      server.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
}

/** A raw socket to a server session, for frames a well-behaved session would not send. */
async function rawPair(): Promise<{ raw: net.Socket; server: SpdySession; received: () => Buffer; close: () => Promise<void> }> {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await new Promise((r) => srv.once("listening", r));
  const accepted = new Promise<net.Socket>((r) => srv.once("connection", r));
  const raw = net.connect((srv.address() as net.AddressInfo).port, "127.0.0.1");
  const server = new SpdySession(await accepted, { role: "server" });
  const got: Buffer[] = [];
  raw.on("data", (d: Buffer) => got.push(d));
  raw.on("error", () => undefined); // (the server cuts it off in some cases: that is what is tested)
  return {
    raw,
    server,
    received: () => Buffer.concat(got),
    close: async () => {
      raw.destroy();
      server.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
}

describe("SPDY session", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  it("opens, replies, carries data both ways and forgets a stream ended both ways", async () => {
    const p = await pair();
    cleanups.push(p.close);
    const got = new Promise<SpdyStream>((r) => p.server.once("stream", r));
    const cs = p.client.openStream({ streamtype: ["stdin"], port: ["80"] });
    const ss = await got;
    assert.equal(ss.id, 1);
    assert.deepEqual({ ...ss.headers }, { streamtype: ["stdin"], port: ["80"] });
    ss.reply();
    await cs.waitReply();
    const serverRead = readAll(ss);
    const clientRead = readAll(cs);
    cs.end("to the server");
    ss.end("to the client");
    assert.equal((await serverRead).toString(), "to the server");
    assert.equal((await clientRead).toString(), "to the client");
    await waitFor(() => p.server.streams.size === 0 && p.client.streams.size === 0, "both sessions to forget the stream");
    // the next stream the client opens takes the next odd ID
    const next = new Promise<SpdyStream>((r) => p.server.once("stream", r));
    p.client.openStream({ streamtype: ["stdout"] });
    assert.equal((await next).id, 3);
  });

  it("moves 8 MiB each way to slow readers without stalling, intact", async () => {
    const p = await pair();
    cleanups.push(p.close);
    const got = new Promise<SpdyStream>((r) => p.server.once("stream", r));
    const cs = p.client.openStream({ streamtype: ["data"] });
    const ss = await got;
    ss.reply();
    const data = randomBytes(8 << 20);
    const want = createHash("sha256").update(data).digest("hex");
    const slowRead = (s: SpdyStream) =>
      new Promise<string>((resolve) => {
        const h = createHash("sha256");
        let n = 0;
        s.on("data", (d: Buffer) => {
          h.update(d);
          // every 64th chunk, the reader takes a pause
          if (++n % 64 === 0) {
            s.pause();
            setTimeout(() => s.resume(), 5);
          }
        });
        s.on("end", () => resolve(h.digest("hex")));
      });
    const atServer = slowRead(ss);
    const atClient = slowRead(cs);
    for (let off = 0; off < data.length; off += 100_000) cs.write(data.subarray(off, off + 100_000));
    cs.end();
    ss.end(data);
    assert.equal(await atServer, want);
    assert.equal(await atClient, want);
  });

  it("answers pings both ways", async () => {
    const p = await pair();
    cleanups.push(p.close);
    await p.client.ping();
    await p.server.ping();
  });

  it("ends a stream the peer resets, and refuses new streams after GOAWAY", async () => {
    const p = await pair();
    cleanups.push(p.close);
    const got = new Promise<SpdyStream>((r) => p.server.once("stream", r));
    const cs = p.client.openStream({ streamtype: ["data"] });
    const ss = await got;
    ss.reply();
    await cs.waitReply();
    const done = new Promise((r) => ss.once("done", r));
    cs.reset(RstStatus.CANCEL);
    await done;
    assert.equal(ss.resetStatus, RstStatus.CANCEL);
    assert.equal(p.server.streams.size, 0);
    // a write to the reset stream is dropped, not an error
    await new Promise<void>((resolve, reject) => ss.write("late", (err) => (err ? reject(err) : resolve())));
    const closed = new Promise((r) => p.server.once("close", r));
    p.client.close();
    await closed;
    assert.throws(() => p.client.openStream({ streamtype: ["data"] }), /closing|closed/);
  });

  it("reads frames split at every byte", async () => {
    const r = await rawPair();
    cleanups.push(r.close);
    const peer = new HeaderCodec();
    const syn = encodeHeaderFrame({ type: "syn_stream", streamId: 1, associatedId: 0, priority: 0, flags: 0, headers: { streamtype: ["stdin"] } }, await peer.compress({ streamtype: ["stdin"] }));
    const wire = Buffer.concat([syn, dataHeader(1, 0, 3), Buffer.from("abc"), dataHeader(1, FLAG_FIN, 2), Buffer.from("de")]);
    const got = new Promise<SpdyStream>((res) => r.server.once("stream", res));
    for (const byte of wire) {
      r.raw.write(Buffer.from([byte]));
      await new Promise((res) => setImmediate(res));
    }
    const s = await got;
    s.reply();
    assert.equal((await readAll(s)).toString(), "abcde");
    // the reply the session sent decodes with the peer's own context
    await waitFor(() => r.received().length >= 12, "the SYN_REPLY");
    const reply = readRawFrame(r.received())!;
    assert.equal(reply.frame.typeOrStream, 2);
    assert.deepEqual({ ...(await peer.decompress(reply.frame.payload.subarray(4))) }, {});
    peer.close();
  });

  it("resets a stream with a wrong ID, and ends the session on a frame of another version", async () => {
    const r = await rawPair();
    cleanups.push(r.close);
    const peer = new HeaderCodec();
    // an even stream ID is the server's to use: RST_STREAM PROTOCOL_ERROR
    r.raw.write(encodeHeaderFrame({ type: "syn_stream", streamId: 2, associatedId: 0, priority: 0, flags: 0, headers: {} }, await peer.compress({})));
    await waitFor(() => r.received().length >= 16, "the RST_STREAM");
    assert.deepEqual(r.received().subarray(0, 16), encodeControl({ type: "rst_stream", streamId: 2, status: RstStatus.PROTOCOL_ERROR }));
    assert.equal(r.server.streams.size, 0);
    // a PING of SPDY version 2: GOAWAY with PROTOCOL_ERROR, then the end
    const closed = new Promise<Error | undefined>((res) => r.server.once("close", res));
    r.raw.write(hex("80020006 00000004 00000001"));
    const err = await closed;
    assert.match(String(err?.message), /version 2/);
    await waitFor(() => r.received().length >= 32, "the GOAWAY");
    assert.deepEqual(r.received().subarray(16, 32), encodeControl({ type: "goaway", lastGoodStreamId: 0, status: 1 }));
    peer.close();
  });
});
