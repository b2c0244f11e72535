import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { EngineClient, EngineError, compareVersions, encodeQuery } from "./engine.js";
import { FrameDecoder, copyStream, encodeFrame, jsonLines } from "./stream.js";
import { PassThrough, Readable } from "node:stream";

describe("EngineClient against a fake daemon", () => {
  let dir: string;
  let server: http.Server;
  let socket: string;
  const seen: string[] = [];
  let apiVersion = "1.41";

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-client-"));
    socket = path.join(dir, "d.sock");
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === "/_ping") {
        res.writeHead(200, { "Api-Version": apiVersion });
        res.end("OK");
      } else if (req.url?.endsWith("/containers/nope/json")) {
        res.writeHead(404, { "Content-Type": "application/json" });
        res.end('{"message":"No such container: nope"}\n');
      } else if (req.url?.endsWith("/containers/x/stop")) {
        res.writeHead(304);
        res.end();
      } else {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ url: req.url }));
      }
    });
    server.on("upgrade", (req, sock) => {
      seen.push(`UPGRADE ${req.url} ${req.headers.upgrade}`);
      sock.write("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
      sock.write(encodeFrame(1, "out\n"));
      sock.write(encodeFrame(2, "err\n"));
      sock.end();
    });
    await new Promise<void>((r) => server.listen(socket, r));
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it("negotiates min(server, 1.47) and prefixes paths with it", async () => {
    apiVersion = "1.41";
    const c = new EngineClient({ socket });
    assert.equal(await c.apiVersion(), "1.41");
    const r = await c.json<{ url: string }>("GET", "/containers/json", { query: { all: true, filters: { name: ["a"] } } });
    assert.equal(r.url, `/v1.41/containers/json?all=1&filters=${encodeURIComponent('{"name":["a"]}')}`);
    apiVersion = "1.99";
    assert.equal(await new EngineClient({ socket }).apiVersion(), "1.47");
  });

  it("turns error bodies into EngineErrors with the status and the daemon's message", async () => {
    const c = new EngineClient({ socket, version: "1.47" });
    await assert.rejects(c.containerInspect("nope"), (err: unknown) => err instanceof EngineError && err.status === 404 && err.kind === "not-found" && err.message === "No such container: nope");
    await c.containerStop("x"); // 304 is not an error
  });

  it("says the daemon cannot be reached when the socket is missing", async () => {
    const c = new EngineClient({ socket: path.join(dir, "missing.sock") });
    await assert.rejects(c.ping(), /Cannot connect to the Docker daemon at unix:\/\/.*missing.sock\. Is the docker daemon running\?/);
  });

  it("hijacks attach and demultiplexes its frames", async () => {
    const c = new EngineClient({ socket, version: "1.47" });
    const conn = await c.containerAttach("abc", { stdout: true, stderr: true });
    assert.equal(conn.multiplexed, true);
    const out = new PassThrough();
    const err = new PassThrough();
    let o = "";
    let e = "";
    out.on("data", (d: Buffer) => (o += d.toString()));
    err.on("data", (d: Buffer) => (e += d.toString()));
    await copyStream(conn.socket as Readable, { stdout: out, stderr: err }, false);
    assert.equal(o, "out\n");
    assert.equal(e, "err\n");
    assert.ok(seen.includes("UPGRADE /v1.47/containers/abc/attach?stream=1&stdout=1&stderr=1 tcp"));
  });
});

describe("streams", () => {
  it("FrameDecoder reassembles frames split anywhere", () => {
    const all = Buffer.concat([encodeFrame(1, "hello"), encodeFrame(2, ""), encodeFrame(2, "world!")]);
    for (let cut = 0; cut <= all.length; cut++) {
      const d = new FrameDecoder();
      const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      assert.deepEqual(
        frames.map((f) => `${f.stream}:${f.data.toString()}`),
        ["stdout:hello", "stderr:", "stderr:world!"],
      );
      assert.equal(d.pending, 0);
    }
  });

  it("rejects an unknown stream type", () => {
    const bad = encodeFrame(1, "x");
    bad[0] = 9;
    assert.throws(() => new FrameDecoder().push(bad), /unrecognized stream type 9/);
  });

  it("jsonLines splits values across chunks", async () => {
    const src = Readable.from([Buffer.from('{"a":1}\n{"b"'), Buffer.from(':2}\n\n{"c":3}')]);
    const got: unknown[] = [];
    for await (const v of jsonLines(src)) got.push(v);
    assert.deepEqual(got, [{ a: 1 }, { b: 2 }, { c: 3 }]);
  });

  it("encodes queries as the docker CLI does", () => {
    assert.equal(encodeQuery({ a: true, b: false, c: undefined, d: "x y", f: {} }), "?a=1&b=0&d=x%20y");
    // arrays repeat the key, as Go's url.Values (names=a&names=b for /images/get)
    assert.equal(encodeQuery({ names: ["busybox", "my/app:1"], none: [] }), "?names=busybox&names=my%2Fapp%3A1");
    assert.ok(compareVersions("1.41", "1.47") < 0);
    assert.ok(compareVersions("1.100", "1.47") > 0);
  });
});
