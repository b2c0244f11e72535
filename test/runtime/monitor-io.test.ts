// Engine mode of the monitor: it owns the container's stdio, writes Docker's json-file log
// (rotated by size) and serves attach clients, so logs and attach survive the caller.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { it } from "node:test";
import { describeRuntimes, until } from "../fixtures/bundle.js";

interface Frame {
  type: number;
  data: Buffer;
}

/** Connects to an attach socket and collects its frames. */
function attach(socket: string) {
  const frames: Frame[] = [];
  let buf = Buffer.alloc(0);
  const conn = net.connect(socket);
  conn.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32LE(1)) {
      const len = buf.readUInt32LE(1);
      frames.push({ type: buf[0]!, data: buf.subarray(5, 5 + len) });
      buf = buf.subarray(5 + len);
    }
  });
  const ended = new Promise<void>((resolve) => conn.on("close", () => resolve()));
  conn.on("error", () => undefined);
  const send = (type: number, data: Buffer) => {
    const head = Buffer.alloc(5);
    head[0] = type;
    head.writeUInt32LE(data.length, 1);
    conn.write(Buffer.concat([head, data]));
  };
  return { frames, ended, send, conn, connected: new Promise<void>((r) => conn.once("connect", () => r())) };
}

/** Sends data as stdin frames of at most 64 KiB (the most a client may send in one). */
function sendStdin(client: ReturnType<typeof attach>, data: Buffer): void {
  for (let i = 0; i < data.length; i += 65536) client.send(0, data.subarray(i, i + 65536));
}

const text = (frames: Frame[], type: number) => Buffer.concat(frames.filter((f) => f.type === type).map((f) => f.data)).toString();

describeRuntimes(
  "monitor io (engine mode)",
  (ctx) => {
    it("logs stdout and stderr in json-file format and serves attach with stdin", async () => {
      const b = await ctx.bundle((spec) => {
        spec.process!.args = ["sh", "-c", 'read line; echo "got $line"; echo "to stderr" >&2; printf "no newline"'];
      });
      const log = path.join(b.base, "container.log");
      const sock = path.join(b.base, "attach.sock");
      const id = ctx.id("io");
      await ctx.rt.create(id, { bundle: b.dir, io: { log: { path: log, maxSize: 0, maxFiles: 1 }, attachSocket: sock, pipes: { openStdin: true, stdinOnce: true } } });
      const client = attach(sock);
      await client.connected;
      await ctx.rt.start(id);
      client.send(0, Buffer.from("hello <world> \u00e9\n"));
      const exit = await ctx.rt.wait(id);
      await client.ended;
      assert.equal(exit.code, 0);
      assert.equal(text(client.frames, 1), "got hello <world> \u00e9\nno newline");
      assert.equal(text(client.frames, 2), "to stderr\n");
      assert.equal(text(client.frames, 5), "0 0", "the exit frame carries code and signal");
      const entries = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
      assert.deepEqual(
        entries.map((e) => [e.stream, e.log]),
        [
          ["stdout", "got hello <world> \u00e9\n"],
          ["stderr", "to stderr\n"],
          ["stdout", "no newline"],
        ],
      );
      assert.match(entries[0]!.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      assert.ok(readFileSync(log, "utf8").includes("\\u003cworld\\u003e"), "HTML characters escaped as Docker's encoder does");
      assert.equal(existsSync(sock), false, "the socket is removed when the monitor exits");
    });

    it("takes stdin larger than its pipe before the start without holding the start, and passes it on whole", async () => {
      const b = await ctx.bundle((spec) => {
        spec.process!.args = ["md5sum"];
      });
      const sock = path.join(b.base, "stdin.sock");
      const id = ctx.id("stdin");
      await ctx.rt.create(id, { bundle: b.dir, io: { attachSocket: sock, pipes: { openStdin: true, stdinOnce: true } } });
      const client = attach(sock);
      await client.connected;
      // 3 MB, 48 times what the pipe holds, all sent before the process runs, then the end of input
      const data = randomBytes(3_000_000);
      sendStdin(client, data);
      client.send(4, Buffer.alloc(0));
      await ctx.rt.start(id);
      const exit = await ctx.rt.wait(id);
      await client.ended;
      assert.equal(exit.code, 0);
      assert.equal(text(client.frames, 1), `${createHash("md5").update(data).digest("hex")}  -\n`);
    });

    it("holds the output for a client that stops reading instead of dropping it", async (t) => {
      const b = await ctx.bundle((spec) => {
        spec.process!.args = ["seq", "1", "600000"];
      });
      const sock = path.join(b.base, "slow.sock");
      const id = ctx.id("slow");
      await ctx.rt.create(id, { bundle: b.dir, io: { attachSocket: sock, pipes: { openStdin: false, stdinOnce: false } } });
      const slow = attach(sock);
      const fast = attach(sock);
      t.after(() => {
        slow.conn.destroy();
        fast.conn.destroy();
      });
      await Promise.all([slow.connected, fast.connected]);
      slow.conn.pause();
      await ctx.rt.start(id);
      // the fast reader gets output while the slow one reads nothing; then the slow one catches up
      await until("output to reach the fast reader", () => fast.frames.some((f) => f.type === 1));
      slow.conn.resume();
      const exit = await ctx.rt.wait(id);
      await Promise.all([slow.ended, fast.ended]);
      assert.equal(exit.code, 0);
      const expected = Array.from({ length: 600000 }, (_, i) => `${i + 1}\n`).join("");
      assert.equal(text(slow.frames, 1).length, expected.length, "the slow reader lost nothing");
      assert.equal(text(slow.frames, 1), expected);
      assert.equal(text(fast.frames, 1), expected);
    });

    it("lets go of a client that never reads once the process is gone, so that the exit is recorded", async (t) => {
      const b = await ctx.bundle((spec) => {
        spec.process!.args = ["sh", "-c", "yes 0123456789abcdef | head -c 20000000; sleep 600"];
      });
      const log = path.join(b.base, "stuck.log");
      const sock = path.join(b.base, "stuck.sock");
      const id = ctx.id("stuck");
      await ctx.rt.create(id, { bundle: b.dir, io: { log: { path: log, maxSize: 0, maxFiles: 1 }, attachSocket: sock, pipes: { openStdin: false, stdinOnce: false } } });
      const stuck = attach(sock);
      t.after(() => stuck.conn.destroy()); // even when an assertion fails while it is paused
      await stuck.connected;
      stuck.conn.pause();
      await ctx.rt.start(id);
      // the output stops once the client's buffers are full: the process waits for the client
      let last = -1;
      let still = 0;
      await until("the output to stop growing", async () => {
        await new Promise((r) => setTimeout(r, 100));
        const size = existsSync(log) ? readFileSync(log).length : 0;
        still = size > 0 && size === last ? still + 1 : 0;
        last = size;
        return still >= 3;
      });
      await ctx.rt.kill(id, "SIGKILL");
      const exit = await ctx.rt.wait(id);
      assert.equal(exit.code, 137);
      stuck.conn.resume();
      await stuck.ended;
      assert.ok(text(stuck.frames, 1).length < 20_000_000, "the client was let go before the end of the output");
    });

    it("rotates the log by size and keeps the configured number of files", async () => {
      const b = await ctx.bundle((spec) => {
        spec.process!.args = ["sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"];
      });
      const log = path.join(b.base, "rot.log");
      const id = ctx.id("rot");
      await ctx.rt.create(id, { bundle: b.dir, io: { log: { path: log, maxSize: 4096, maxFiles: 3 }, pipes: { openStdin: false, stdinOnce: false } } });
      await ctx.rt.start(id);
      await ctx.rt.wait(id);
      const files = readdirSync(b.base).filter((f) => f.startsWith("rot.log")).sort();
      assert.deepEqual(files, ["rot.log", "rot.log.1", "rot.log.2"]);
      for (const f of files) assert.ok(readFileSync(path.join(b.base, f)).length <= 4096, `${f} stays within max size`);
      const last = readFileSync(log, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { log: string }).log);
      assert.equal(last.at(-1), "line-399-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", "the newest lines are in the current file");
      await until("the state to be stopped", async () => (await ctx.rt.state(id)).status === "stopped");
    });

    it("holds an exec until its first attach client connects, so early output is not lost", async () => {
      const b = await ctx.bundle((spec) => {
        spec.process!.args = ["sleep", "600"];
      });
      const id = ctx.id("hold");
      await ctx.rt.create(id, { bundle: b.dir, io: { pipes: { openStdin: false, stdinOnce: false } } });
      await ctx.rt.start(id);
      const sock = path.join(b.base, "exec.sock");
      const handle = await ctx.rt.exec(id, {
        process: { user: { uid: 0, gid: 0 }, cwd: "/", args: ["echo", "printed at once"], env: ["PATH=/bin"] },
        io: { attachSocket: sock, pipes: { openStdin: false, stdinOnce: false }, startOnAttach: true },
      });
      await new Promise((r) => setTimeout(r, 300)); // had it started, its output would be gone by now
      const client = attach(sock);
      await client.connected;
      const exit = await handle.exited;
      await client.ended;
      assert.equal(exit.code, 0);
      assert.equal(text(client.frames, 1), "printed at once\n");
      await ctx.rt.kill(id, "SIGKILL");
      await until("the container to stop", async () => (await ctx.rt.state(id)).status === "stopped");
    });
  },
  ["cove"],
);
