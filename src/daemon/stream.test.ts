import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Router } from "./router.js";
import { demux, FrameParser, hijack, JSONMessageStream, muxFrame, muxHeader, MULTIPLEXED_STREAM, RAW_STREAM, STDERR, STDOUT, streamContentType } from "./stream.js";

async function* chunks(...bufs: Buffer[]): AsyncGenerator<Buffer> {
  for (const b of bufs) yield b;
}

describe("multiplexed framing", () => {
  it("writes the 8-byte header: type, three zeros, big-endian size", () => {
    assert.deepEqual([...muxHeader(STDERR, 0x01020304)], [2, 0, 0, 0, 1, 2, 3, 4]);
    const f = muxFrame(STDOUT, "hi\n");
    assert.deepEqual([...f], [1, 0, 0, 0, 0, 0, 0, 3, 0x68, 0x69, 0x0a]);
    assert.throws(() => muxHeader(STDOUT, -1), RangeError);
  });

  it("parses frames split at any byte", () => {
    const all = Buffer.concat([muxFrame(STDOUT, "out1"), muxFrame(STDERR, "err"), muxFrame(STDOUT, Buffer.alloc(0)), muxFrame(STDOUT, "x".repeat(1000))]);
    for (const step of [1, 3, 7, 8, 9, 100, all.length]) {
      const p = new FrameParser();
      const got: string[] = [];
      for (let i = 0; i < all.length; i += step) for (const fr of p.push(all.subarray(i, i + step))) got.push(`${fr.stream}:${fr.data.toString()}`);
      assert.deepEqual(got, ["1:out1", "2:err", "1:", `1:${"x".repeat(1000)}`], `step ${step}`);
      assert.equal(p.pending, 0);
    }
  });

  it("rejects a non-multiplexed stream and a truncated frame", async () => {
    assert.throws(() => new FrameParser().push(Buffer.from("hello world")), /not a multiplexed stream/);
    await assert.rejects(async () => {
      for await (const _ of demux(chunks(muxFrame(STDOUT, "abc").subarray(0, 9)))) void _;
    }, /ended inside a frame/);
  });

  it("picks the content type by version and TTY", () => {
    assert.equal(streamContentType("1.47", false), MULTIPLEXED_STREAM);
    assert.equal(streamContentType("1.47", true), RAW_STREAM);
    assert.equal(streamContentType("1.41", false), RAW_STREAM);
  });
});

describe("hijack and JSON messages over HTTP", () => {
  let dir: string;
  let socket: string;
  let server: http.Server;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    socket = path.join(dir, "h.sock");
    const router = new Router();
    // an echo "attach": stdin comes back framed as stdout, then a stderr frame at end of input
    router.post("/echo", (c) => {
      const h = hijack(c, streamContentType(c.version, false));
      h.input.on("data", (d: Buffer) => h.output.write(muxFrame(STDOUT, d)));
      h.input.on("end", () => {
        h.output.write(muxFrame(STDERR, "bye"));
        h.end();
      });
    });
    router.post("/out", (c) => {
      const h = hijack(c, RAW_STREAM);
      h.output.write("raw bytes");
      h.end();
    });
    router.post("/progress", (c) => {
      const s = new JSONMessageStream(c.res);
      s.progress("Loading layer", "abc123");
      s.stream("Loaded image: busybox:latest\n");
      s.error(new Error("disk full"));
      s.end();
    });
    server = http.createServer((req, res) => void router.handle(req, res));
    server.on("upgrade", (req: http.IncomingMessage, sock, head: Buffer) => void router.handleUpgrade(req, sock, head));
    await new Promise<void>((r) => server.listen(socket, r));
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it("switches protocols on Upgrade: tcp and carries stdin and frames both ways", async () => {
    const conn = net.connect(socket);
    await new Promise<void>((r) => conn.once("connect", () => r()));
    conn.write("POST /v1.47/echo HTTP/1.1\r\nHost: cove\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: text/plain\r\n\r\nhello");
    const received: Buffer[] = [];
    conn.on("data", (d: Buffer) => {
      received.push(d);
      if (Buffer.concat(received).includes("hello")) conn.end(); // half-close: our stdin ends
    });
    await new Promise<void>((r) => conn.once("close", () => r()));
    const all = Buffer.concat(received);
    const split = all.indexOf("\r\n\r\n");
    const head = all.subarray(0, split).toString();
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(head, /\r\nConnection: Upgrade\r\n/);
    assert.match(head, /\r\nUpgrade: tcp\r\n/);
    assert.match(head, /\r\nContent-Type: application\/vnd\.docker\.multiplexed-stream\r\n/);
    const frames = new FrameParser().push(all.subarray(split + 4));
    assert.deepEqual(
      frames.map((f) => [f.stream, f.data.toString()]),
      [
        [STDOUT, "hello"],
        [STDERR, "bye"],
      ],
    );
  });

  it("answers an upgrade request to an unknown route with a 404 and closes", async () => {
    const conn = net.connect(socket);
    conn.write("POST /nope HTTP/1.1\r\nHost: cove\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    const got: Buffer[] = [];
    conn.on("data", (d: Buffer) => got.push(d));
    await new Promise<void>((r) => conn.once("close", () => r()));
    const text = Buffer.concat(got).toString();
    assert.match(text, /^HTTP\/1\.1 404 /);
    assert.match(text, /\{"message":"page not found"\}/);
  });

  it("streams raw output in a plain 200 response without an upgrade", async () => {
    const conn = net.connect(socket);
    conn.write("POST /out HTTP/1.1\r\nHost: cove\r\nContent-Length: 0\r\n\r\n");
    const got: Buffer[] = [];
    conn.on("data", (d: Buffer) => got.push(d));
    await new Promise<void>((r) => conn.once("close", () => r()));
    const text = Buffer.concat(got).toString();
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /Content-Type: application\/vnd\.docker\.raw-stream/);
    assert.doesNotMatch(text, /Transfer-Encoding: chunked/i);
    assert.ok(text.endsWith("\r\n\r\nraw bytes"), "the body is the raw stream, unframed and unchunked");
  });

  it("writes JSON-lines messages as the docker CLI reads them", async () => {
    const body = await new Promise<{ type: string | undefined; text: string }>((resolve, reject) => {
      const req = http.request({ socketPath: socket, method: "POST", path: "/progress" }, (res) => {
        const c: Buffer[] = [];
        res.on("data", (d: Buffer) => c.push(d));
        res.on("end", () => resolve({ type: res.headers["content-type"], text: Buffer.concat(c).toString() }));
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(body.type, "application/json", "exactly: the CLI compares the whole header");
    assert.deepEqual(body.text.trimEnd().split("\n").map((l) => JSON.parse(l) as unknown), [
      { status: "Loading layer", progressDetail: {}, id: "abc123" },
      { stream: "Loaded image: busybox:latest\n" },
      { errorDetail: { message: "disk full" }, error: "disk full" },
    ]);
  });
});
