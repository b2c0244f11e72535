import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { acceptKey, encodeFrame, FrameDecoder, isWebSocketRequest, Opcode, ProtocolError } from "./websocket.js";

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

describe("websocket framing", () => {
  it("computes the RFC 6455 accept key", () => {
    // the example of RFC 6455 section 1.3
    assert.equal(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert.equal(isWebSocketRequest({ upgrade: "websocket", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" }), true);
    assert.equal(isWebSocketRequest({ upgrade: "tcp", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" }), false);
    assert.equal(isWebSocketRequest({ upgrade: "websocket", "sec-websocket-key": "short" }), false);
  });

  it("encodes the RFC's examples (unmasked and masked 'Hello')", () => {
    assert.deepEqual(encodeFrame(Opcode.text, Buffer.from("Hello")), Buffer.from([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]));
    assert.deepEqual(encodeFrame(Opcode.text, Buffer.from("Hello"), MASK), Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]));
  });

  it("uses 16- and 64-bit lengths", () => {
    const mid = encodeFrame(Opcode.binary, Buffer.alloc(300));
    assert.deepEqual([...mid.subarray(0, 4)], [0x82, 126, 1, 44]);
    const big = encodeFrame(Opcode.binary, Buffer.alloc(70000));
    assert.equal(big[1], 127);
    assert.equal(big.readBigUInt64BE(2), 70000n);
  });

  it("decodes masked frames split anywhere, reassembling fragments around control frames", () => {
    const frames = Buffer.concat([
      Buffer.from([0x01, 0x83, ...MASK, ..."Hel".split("").map((c, i) => c.charCodeAt(0) ^ (MASK[i] as number))]), // text, no FIN
      encodeFrame(Opcode.ping, Buffer.from("p"), MASK),
      Buffer.from([0x80, 0x82, ...MASK, ..."lo".split("").map((c, i) => c.charCodeAt(0) ^ (MASK[i] as number))]), // continuation, FIN
      encodeFrame(Opcode.binary, Buffer.alloc(70000, 7), MASK),
    ]);
    const d = new FrameDecoder();
    const got = [];
    for (let i = 0; i < frames.length; i += 5) got.push(...d.push(frames.subarray(i, i + 5)));
    assert.equal(got.length, 3);
    assert.deepEqual(got[0], { opcode: Opcode.ping, data: Buffer.from("p") });
    assert.deepEqual(got[1], { opcode: Opcode.text, data: Buffer.from("Hello") });
    assert.equal(got[2]?.data.length, 70000);
    assert.ok(got[2]?.data.every((b) => b === 7));
  });

  it("refuses unmasked client frames and bad continuations", () => {
    assert.throws(() => new FrameDecoder().push(encodeFrame(Opcode.text, Buffer.from("x"))), ProtocolError);
    assert.throws(() => new FrameDecoder().push(Buffer.from([0x80, 0x80, ...MASK])), /continuation frame without a message/);
  });
});
