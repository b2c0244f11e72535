// Request limits and slow clients (src/daemon/limits.ts): an absurd JSON body gets a 413, headers
// too large a 431, a malformed request a 400, each with Docker's {"message"}; a client that sends
// its headers a byte at a time, or never finishes its body, is dropped after a bound while the
// daemon keeps answering others; 2,000 idle sockets neither stop /_ping nor stay forever; a
// long-lived stream (events) outlives the header bound. The daemon runs with short bounds (2 s
// for headers and bodies) so the test takes seconds; the waits for them are generous.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { api } from "../support/docker-api.js";
import { tearDownDaemon } from "../support/teardown.js";

const skip = process.getuid?.() !== 0 ? "needs root (the daemon's state root and cgroups)" : false;
/** Far beyond the daemon's 2 s bounds: a busy machine still meets it; a daemon without bounds never does. */
const GENEROUS_MS = 45_000;

/** Writes raw bytes on a new connection; resolves with everything the daemon sent until it closed the connection. */
function raw(socket: string, write: (s: net.Socket) => void, timeoutMs = GENEROUS_MS): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const s = net.connect(socket);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the daemon kept the connection open for ${timeoutMs} ms; it sent: ${Buffer.concat(chunks).toString()}`));
    }, timeoutMs);
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString(), closedAfterMs: Date.now() - started });
    });
    s.on("connect", () => write(s));
  });
}

function messageOf(text: string): { status: number; message: string } {
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
  const body = text.slice(text.indexOf("\r\n\r\n") + 4).trim();
  return { status, message: (JSON.parse(body) as { message: string }).message };
}

describe("request limits and slow clients", { skip }, () => {
  let dir: string;
  let daemon: Daemon | undefined;
  let socket: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    socket = path.join(dir, "cove.sock");
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, log: () => undefined, limits: { headersTimeoutMs: 2000, checkIntervalMs: 500, bodyTimeoutMs: 2000 } });
    await daemon.reconciled;
  });

  after(async () => {
    await tearDownDaemon(daemon, dir);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const volumes = async () => (JSON.parse((await api(socket, "GET", "/volumes")).body) as { Volumes: unknown[] | null }).Volumes ?? [];

  it("refuses a JSON body over 16 MiB with a 413, declared or streamed, and creates nothing", async () => {
    const declared = await raw(socket, (s) => s.write(`POST /volumes/create HTTP/1.1\r\nHost: cove\r\nContent-Type: application/json\r\nContent-Length: ${64 << 20}\r\n\r\n{"Name":"big"`));
    const d = messageOf(declared.text);
    assert.equal(d.status, 413, declared.text);
    assert.match(d.message, /request body is larger than 16777216 bytes/);
    // chunked: no length to judge by, so the daemon counts what arrives
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ socketPath: socket, method: "POST", path: "/volumes/create", headers: { "Content-Type": "application/json" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on("error", (err) => (/EPIPE|ECONNRESET/.test(err.message) ? undefined : reject(err)));
      const piece = Buffer.alloc(1 << 20, 0x20);
      req.write('{"Name":"big2","Labels":{"a":"');
      let sent = 0;
      const more = () => {
        while (sent < 20 && !req.destroyed) {
          sent++;
          if (!req.write(piece)) return void req.once("drain", more);
        }
        req.end('"}}');
      };
      more();
    });
    assert.equal(streamed.status, 413, streamed.body);
    assert.deepEqual(await volumes(), []);
  });

  it("answers headers over 16 KiB with a 431 and a malformed request with a 400, both with a message", async () => {
    const big = messageOf((await raw(socket, (s) => s.write(`GET /_ping HTTP/1.1\r\nHost: cove\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`))).text);
    assert.equal(big.status, 431);
    assert.match(big.message, /larger than the daemon accepts/);
    const bad = messageOf((await raw(socket, (s) => s.write("GARBAGE\r\n\r\n"))).text);
    assert.equal(bad.status, 400);
    assert.match(bad.message, /malformed HTTP request/);
  });

  it("drops a client that sends its headers a byte at a time, and answers others meanwhile", async () => {
    const headers = "GET /_ping HTTP/1.1\r\nHost: cove\r\n" + "X-Slow: 1\r\n".repeat(200);
    let timer: NodeJS.Timeout | undefined;
    const slow = raw(socket, (s) => {
      let i = 0;
      timer = setInterval(() => (i < headers.length && !s.destroyed ? s.write(headers[i++]!) : clearInterval(timer)), 100);
    });
    // while it trickles, others get their answers
    for (let n = 0; n < 3; n++) assert.equal((await api(socket, "GET", "/_ping")).status, 200);
    const r = await slow;
    clearInterval(timer);
    assert.equal(messageOf(r.text).status, 408, r.text);
  });

  it("answers a JSON body that never finishes with a 408 and closes the connection; nothing is created", async () => {
    const r = await raw(socket, (s) => s.write('POST /volumes/create HTTP/1.1\r\nHost: cove\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"Name":"never"'));
    const m = messageOf(r.text);
    assert.equal(m.status, 408, r.text);
    assert.match(m.message, /did not arrive within 2 s: no byte came for that long/);
    assert.deepEqual(await volumes(), []);
  });

  it("keeps answering /_ping with 2,000 idle connections open, and closes them after the header bound", async () => {
    const idle: net.Socket[] = [];
    const closed = new Set<net.Socket>();
    try {
      // in bursts of 250: the daemon runs in this process, and accepts only between them
      for (let burst = 0; burst < 8; burst++) {
        await Promise.all(
          Array.from({ length: 250 }, () =>
            new Promise<void>((resolve, reject) => {
              const s = net.connect(socket);
              s.on("connect", () => resolve());
              s.on("error", reject);
              s.on("close", () => closed.add(s));
              s.resume(); // read: the daemon's 408 and its close
              idle.push(s);
            }),
          ),
        );
      }
      assert.equal(closed.size, 0, "the daemon closed idle connections at once");
      const ping = await api(socket, "GET", "/_ping");
      assert.equal(ping.status, 200);
      const deadline = Date.now() + GENEROUS_MS;
      while (closed.size < idle.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      assert.equal(closed.size, idle.length, `${idle.length - closed.size} idle connections still open after ${GENEROUS_MS} ms`);
    } finally {
      for (const s of idle) s.destroy();
    }
  });

  it("caps the connections open at once, and serves again once idle ones are dropped", async () => {
    const capped = await startDaemon({ root: path.join(dir, "capped"), socket: path.join(dir, "capped.sock"), log: () => undefined, limits: { headersTimeoutMs: 2000, checkIntervalMs: 500, maxConnections: 20 } });
    const idle: net.Socket[] = [];
    try {
      await capped.reconciled;
      const closed = new Set<net.Socket>();
      for (let n = 0; n < 20; n++) {
        await new Promise<void>((resolve, reject) => {
          const s = net.connect(capped.socket);
          s.on("connect", () => resolve());
          s.on("error", reject);
          s.on("close", () => closed.add(s));
          s.resume();
          idle.push(s);
        });
      }
      // the 21st is closed at once: the daemon keeps its descriptors for its containers
      const over = await raw(capped.socket, (s) => s.write("GET /_ping HTTP/1.1\r\nHost: cove\r\n\r\n"));
      assert.equal(over.text, "");
      // the idle ones go after the header bound, and /_ping answers again
      const deadline = Date.now() + GENEROUS_MS;
      while (closed.size < idle.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      assert.equal(closed.size, idle.length);
      assert.equal((await api(capped.socket, "GET", "/_ping")).status, 200);
    } finally {
      for (const s of idle) s.destroy();
      await capped.close();
    }
  });

  it("keeps a long-lived stream (events) open well past the header bound", async () => {
    const events: string[] = [];
    const req = http.get({ socketPath: socket, path: "/events?filters=%7B%22type%22%3A%5B%22volume%22%5D%7D" });
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        req.on("response", resolve);
        req.on("error", reject);
      });
      assert.equal(res.statusCode, 200);
      res.on("data", (d: Buffer) => events.push(d.toString()));
      // three times the header bound and its check interval
      await new Promise((r) => setTimeout(r, 8000));
      assert.equal(res.destroyed, false, "the events stream was closed");
      assert.equal((await api(socket, "POST", "/volumes/create", JSON.stringify({ Name: "late" }))).status, 201);
      const deadline = Date.now() + GENEROUS_MS;
      while (!events.join("").includes('"late"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.match(events.join(""), /"Action":"create".*"late"|"late".*"Action":"create"/);
    } finally {
      req.destroy();
      await api(socket, "DELETE", "/volumes/late");
    }
  });
});
