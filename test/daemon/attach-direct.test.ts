// Attach sessions that the container's monitor serves itself: once the daemon has answered the
// upgrade, it hands the client's unix-socket connection to the monitor, and the bytes no longer
// pass through the daemon. The daemon counts the sessions it handed over
// (ContainerService.directAttachSessions), so each case checks which path served it:
//
// - `docker run -i` (no TTY, StdinOnce): stdin in, stdout and stderr out in stdcopy frames, byte
//   for byte, with the end of input reaching the container as EOF;
// - a raw hijacked attach to a running container with OpenStdin but not StdinOnce: the client's
//   half-close ends the session and leaves the container's stdin open for the next attach;
// - a TTY without stdin: the raw stream, handed over too;
// - a TTY with stdin: the detach keys apply, so the daemon keeps the session, and ctrl-p ctrl-q
//   still detaches and leaves the container running.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { until } from "../containers/harness.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { DOCKER, run, dockerCliSkip } from "../support/docker-api.js";
import { tearDownDaemon } from "../support/teardown.js";

const skip = await dockerCliSkip();

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");

/**
 * The docker CLI with a file as stdin: its exit code, stdout's md5 and length, stderr. A slow
 * consumer pauses after every chunk of the CLI's output (the CLI and the container wait for it).
 */
function runWithInput(env: NodeJS.ProcessEnv, args: string[], input: string, slow = false): Promise<{ code: number; md5: string; bytes: number; stderr: string }> {
  return new Promise((resolve) => {
    const fd = openSync(input, "r");
    const child = spawn(DOCKER, args, { env, stdio: [fd, "pipe", "pipe"] });
    closeSync(fd);
    const hash = createHash("md5");
    let bytes = 0;
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const out = child.stdout!;
    out.on("data", (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
      if (slow) {
        out.pause();
        setTimeout(() => out.resume(), 2);
      }
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 124 : 1), md5: hash.digest("hex"), bytes, stderr });
    });
  });
}

/** A hijacked attach over the daemon's unix socket: the connection after a 101, and what came with the head. */
async function hijackAttach(socket: string, id: string, query: string): Promise<{ conn: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  const conn = net.connect(socket);
  const chunks: Buffer[] = [];
  let head: Buffer | undefined;
  let waiter: (() => void) | undefined;
  conn.on("data", (d: Buffer) => {
    if (head === undefined) {
      const all = Buffer.concat([...chunks.splice(0), d]);
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) return void chunks.push(all);
      head = all.subarray(0, end);
      if (all.length > end + 4) chunks.push(all.subarray(end + 4));
      waiter?.();
    } else chunks.push(d);
  });
  const closed = new Promise<void>((resolve) => conn.on("close", () => resolve()));
  conn.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    conn.once("connect", resolve);
    conn.once("error", reject);
  });
  conn.write(`POST /v1.47/containers/${id}/attach?${query} HTTP/1.1\r\nHost: cove\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
  await Promise.race([new Promise<void>((r) => (waiter = r)), closed]);
  assert.ok(head, "the daemon answered the attach");
  assert.match(head.toString(), /^HTTP\/1\.1 101 /, head.toString());
  return { conn, received: () => Buffer.concat(chunks), closed };
}

/** The stdout and stderr text of a multiplexed stream (every frame whole). */
function demux(raw: Buffer): { stdout: string; stderr: string } {
  const out = { stdout: "", stderr: "" };
  for (let off = 0; off < raw.length; ) {
    assert.ok(off + 8 <= raw.length, "a whole frame header");
    const type = raw[off]!;
    assert.ok(type === 1 || type === 2, `frame type ${type}`);
    const size = raw.readUInt32BE(off + 4);
    out[type === 1 ? "stdout" : "stderr"] += raw.subarray(off + 8, off + 8 + size).toString();
    off += 8 + size;
  }
  return out;
}

describe("attach served by the container's monitor", { skip }, () => {
  let dir: string;
  let socket: string;
  let runtimeRoot: string;
  let daemon: Daemon | undefined;
  let env: NodeJS.ProcessEnv;
  const direct = () => daemon!.containers.directAttachSessions;
  const ok = async (args: string[]): Promise<string> => {
    const r = await run(env, args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const running = async (id: string) => (await ok(["inspect", "--format", "{{.State.Running}}", id])).trim() === "true";

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-direct-"));
    socket = path.join(dir, "cove.sock");
    runtimeRoot = `/run/cove-direct-${process.pid}`;
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, log: () => undefined });
    env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    await ok(["import", "--change", 'CMD ["sh"]', await busyboxRootfsTar(path.join(dir, "bb")), "busybox:latest"]);
  });

  after(async () => {
    try {
      const ids = daemon ? (await run(env, ["ps", "-aq"])).stdout.split("\n").filter(Boolean) : [];
      if (ids.length) await run(env, ["rm", "-f", ...ids]);
    } finally {
      await tearDownDaemon(daemon, dir);
      await rm(runtimeRoot, { recursive: true, force: true });
    }
  });

  it("docker run -i: stdin, stdout and stderr byte for byte through the monitor, EOF at the end of input", async () => {
    const data = randomBytes(8 << 20);
    const file = path.join(dir, "8m.bin");
    await writeFile(file, data);
    const before = direct();
    const cat = await runWithInput(env, ["run", "--rm", "-i", "--network", "none", "busybox", "sh", "-c", "cat; echo to-stderr >&2"], file);
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.bytes, data.length, "every byte came back");
    assert.equal(cat.md5, md5(data), "the same bytes came back");
    assert.equal(cat.stderr, "to-stderr\n", "stderr came apart from stdout (stdcopy frames)");
    assert.equal(direct(), before + 1, "the monitor served the session");
    // with no log, the output goes from the container's pipes to the client in the kernel
    // (splice), framed all the same, also to a client that reads slowly
    for (const slow of [false, true]) {
      const nolog = await runWithInput(env, ["run", "--rm", "-i", "--network", "none", "--log-driver", "none", "busybox", "sh", "-c", "cat; echo to-stderr >&2; echo end"], file, slow);
      assert.equal(nolog.code, 0, nolog.stderr);
      assert.equal(nolog.bytes, data.length + 4, `every byte came back (slow reader: ${slow})`);
      assert.equal(nolog.md5, md5(Buffer.concat([data, Buffer.from("end\n")])), `the same bytes came back (slow reader: ${slow})`);
      assert.equal(nolog.stderr, "to-stderr\n");
    }
    assert.equal(direct(), before + 3);
  });

  it("a raw attach with stdin but not StdinOnce: the client's half-close ends the session, stdin stays open", async () => {
    const id = (await ok(["run", "-d", "-i", "--network", "none", "busybox", "sh", "-c", "while read l; do echo got $l; echo err $l >&2; done; echo stdin-closed"])).trim();
    const before = direct();
    const a = await hijackAttach(socket, id, "stream=1&stdin=1&stdout=1&stderr=1");
    a.conn.write("one\n");
    await until("the first line's answer", () => demux(a.received()).stderr === "err one\n", 30_000);
    assert.equal(direct(), before + 1, "the monitor served the session");
    assert.equal(demux(a.received()).stdout, "got one\n");
    a.conn.end(); // half-close: the session ends, as dockerd's does without StdinOnce
    await a.closed;
    assert.ok(await running(id), "the container still runs");
    // stdin is still open: a second session's line gets its answer, and only stdout is asked for
    const b = await hijackAttach(socket, id, "stream=1&stdin=1&stdout=1");
    b.conn.write("two\n");
    await until("the second line's answer", () => b.received().length >= 8 + 8, 30_000);
    assert.deepEqual(demux(b.received()), { stdout: "got two\n", stderr: "" });
    assert.equal(direct(), before + 2);
    b.conn.destroy();
    await b.closed;
    await ok(["rm", "-f", id]);
  });

  it("a TTY without stdin is handed over, and its raw stream ends with the container", async () => {
    const id = (await ok(["run", "-d", "-t", "--network", "none", "busybox", "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo tty-output"])).trim();
    const before = direct();
    const a = await hijackAttach(socket, id, "stream=1&stdout=1&stderr=1");
    await until("the hand-over", () => direct() === before + 1, 30_000);
    await ok(["exec", id, "touch", "/tmp/go"]);
    await a.closed;
    assert.equal(a.received().toString(), "tty-output\r\n", "raw bytes, as the terminal wrote them");
    await ok(["rm", "-f", id]);
  });

  it("a TTY with stdin stays with the daemon: ctrl-p ctrl-q detaches and the container goes on", async () => {
    const id = (await ok(["run", "-d", "-i", "-t", "--network", "none", "busybox", "sh"])).trim();
    const before = direct();
    const a = await hijackAttach(socket, id, "stream=1&stdin=1&stdout=1&stderr=1");
    a.conn.write("echo mark-$((40+2))\n");
    await until("the shell's answer", () => a.received().toString().includes("mark-42"), 30_000);
    a.conn.write(Buffer.from([0x10, 0x11]));
    await a.closed;
    assert.equal(direct(), before, "the daemon kept the session");
    assert.ok(await running(id), "detached, not stopped");
    await ok(["rm", "-f", id]);
  });
});
