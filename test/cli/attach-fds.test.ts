// cove's CLI handing its own stdin, stdout and stderr to the container's monitor (src/cli/pass-fds.ts):
// `cove run -i` with files and named pipes as its stdio, 50 MB of random bytes both ways. Each
// case proves that the monitor holds the CLI's files while the container runs (their paths show
// in /proc/<monitor>/fd: a file as it came, a named pipe reopened), and that the bytes arrive
// whole (md5):
//
// - files both ways, a container that stops reading for a while (its stdin pipe fills up and the
//   monitor waits for room), stderr apart from stdout, and the json-file log still written;
// - named pipes both ways without a log (spliced in the kernel), a reader of stdout that takes
//   its bytes slowly, and stderr a socket the CLI keeps (it comes over the connection);
// - a container that closes its stdin early: the rest of the input stays unread, the session
//   and the exit code go on as usual.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, openSync } from "node:fs";
import { mkdtemp, open, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { until } from "../containers/harness.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { run as docker, dockerCliSkip } from "../support/docker-api.js";
import { tearDownDaemon } from "../support/teardown.js";
import { ENTRY } from "./harness.js";

const skip = await dockerCliSkip();
const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const SIZE = 50 << 20;

/** Runs `cove ARGS` with the given fds as its stdio; resolves with its exit code (and what a piped stream sent). */
function coveWith(socket: string, args: string[], stdio: [number | "pipe", number | "pipe", number | "pipe"]): { child: ChildProcess; done: Promise<{ code: number; stderr: string }> } {
  const child = spawn(process.execPath, [ENTRY, "--socket", socket, ...args], { stdio, env: { ...process.env, COVE_ATTACH_FDS: "" } });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const done = new Promise<{ code: number; stderr: string }>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 124 : 1), stderr });
    }),
  );
  return { child, done };
}

/** The paths the container's monitor (the parent of its init) holds open. */
async function monitorFiles(env: NodeJS.ProcessEnv, id: string): Promise<string[]> {
  const pid = (await docker(env, ["inspect", "--format", "{{.State.Pid}}", id])).stdout.trim();
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const ppid = /^PPid:\s+(\d+)/m.exec(status)?.[1];
  assert.ok(ppid, "the init has a parent");
  const out: string[] = [];
  for (const fd of await readdir(`/proc/${ppid}/fd`)) out.push(await readlink(`/proc/${ppid}/fd/${fd}`).catch(() => ""));
  return out;
}

describe("cove run -i hands its stdio to the container's monitor", { skip }, () => {
  let dir: string;
  let socket: string;
  let runtimeRoot: string;
  let daemon: Daemon | undefined;
  let env: NodeJS.ProcessEnv;
  let data: Buffer;
  let input: string;
  const children: ChildProcess[] = [];
  const ok = async (args: string[]): Promise<string> => {
    const r = await docker(env, args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const cid = async (file: string): Promise<string> => {
    let id = "";
    await until(`the container id in ${file}`, async () => (id = (await readFile(file, "utf8").catch(() => "")).trim()).length > 0, 60_000);
    return id;
  };
  const mkfifo = async (p: string) => {
    const r = await new Promise<number>((resolve) => spawn("mkfifo", [p]).on("close", (c) => resolve(c ?? 1)));
    assert.equal(r, 0, `mkfifo ${p}`);
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-fds-"));
    socket = path.join(dir, "cove.sock");
    runtimeRoot = `/run/cove-fds-${process.pid}`;
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, log: () => undefined });
    env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    await ok(["import", "--change", 'CMD ["sh"]', await busyboxRootfsTar(path.join(dir, "bb")), "busybox:latest"]);
    data = randomBytes(SIZE);
    input = path.join(dir, "in.bin");
    await writeFile(input, data);
  });

  after(async () => {
    try {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      const ids = daemon ? (await docker(env, ["ps", "-aq"])).stdout.split("\n").filter(Boolean) : [];
      if (ids.length) await docker(env, ["rm", "-f", ...ids]);
    } finally {
      await tearDownDaemon(daemon, dir);
      await rm(runtimeRoot, { recursive: true, force: true });
    }
  });

  it("files both ways: 50 MB byte for byte past a container that stops reading, stderr apart, the json-file log written", async () => {
    const output = path.join(dir, "out.bin");
    const errors = path.join(dir, "err.txt");
    const cidfile = path.join(dir, "a.cid");
    const fds: [number, number, number] = [openSync(input, "r"), openSync(output, "w"), openSync(errors, "w")];
    // reads 1 MiB, then nothing until /tmp/go exists (the rest of the input waits), then the rest
    const script = "head -c 1048576; until [ -e /tmp/go ]; do sleep 0.05; done; cat; echo end-of-output; echo to-stderr >&2; exit 3";
    const { child, done } = coveWith(socket, ["run", "-i", "--cidfile", cidfile, "--network", "none", "--log-opt", "max-size=1g", "busybox", "sh", "-c", script], fds);
    children.push(child);
    for (const fd of fds) closeSync(fd);
    const id = await cid(cidfile);
    await until("the container runs", async () => (await docker(env, ["inspect", "--format", "{{.State.Pid}}", id])).stdout.trim() !== "0", 60_000);
    await until("the monitor holds the CLI's files", async () => {
      const held = await monitorFiles(env, id);
      return [input, output, errors].every((f) => held.includes(f));
    }, 60_000);
    // detached: the container may finish (and --rm remove it with its execs) before an attached
    // exec would have read its exit code back
    await ok(["exec", "-d", id, "touch", "/tmp/go"]);
    const r = await done;
    assert.equal(r.code, 3, "the container's exit code");
    const out = await readFile(output);
    const expected = Buffer.concat([data, Buffer.from("end-of-output\n")]);
    assert.equal(out.length, expected.length, "every byte came out");
    assert.equal(md5(out), md5(expected), "the same bytes came out");
    assert.equal(await readFile(errors, "utf8"), "to-stderr\n", "stderr apart from stdout");
    // the log holds the output too (as JSON strings: a byte that is not UTF-8 reads back as
    // U+FFFD, so random bytes come back longer, never shorter), up to its last line
    const logs = await new Promise<{ bytes: number; tail: string; stderr: string }>((resolve) => {
      const p = spawn("/usr/local/bin/docker", ["logs", id], { env, stdio: ["ignore", "pipe", "pipe"] });
      let bytes = 0;
      let tail = Buffer.alloc(0);
      let stderr = "";
      p.stdout.on("data", (d: Buffer) => {
        bytes += d.length;
        tail = Buffer.concat([tail, d]).subarray(-64);
      });
      p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      p.on("close", () => resolve({ bytes, tail: tail.toString("latin1"), stderr }));
    });
    assert.ok(logs.bytes >= expected.length, `the json-file log holds the output (${logs.bytes} bytes)`);
    assert.ok(logs.tail.endsWith("end-of-output\n"), "to its last line");
    assert.equal(logs.stderr, "to-stderr\n", "and the stderr line");
    await ok(["rm", "-f", id]);
  });

  it("named pipes both ways with no log: spliced to a slow reader, stderr over the connection", async () => {
    const fifoIn = path.join(dir, "in.fifo");
    const fifoOut = path.join(dir, "out.fifo");
    await mkfifo(fifoIn);
    await mkfifo(fifoOut);
    const cidfile = path.join(dir, "b.cid");
    // the writer of the input pipe, and the slow reader of the output pipe
    const writer = spawn("sh", ["-c", 'cat "$1" > "$2"', "sh", input, fifoIn], { stdio: "ignore" });
    children.push(writer);
    const got = new Promise<{ md5: string; bytes: number }>((resolve, reject) => {
      const h = createHash("md5");
      let bytes = 0;
      const s = createReadStream(fifoOut, { highWaterMark: 64 << 10 });
      s.on("data", (d) => {
        const b = d as Buffer;
        h.update(b);
        bytes += b.length;
        s.pause();
        setTimeout(() => s.resume(), 1);
      });
      s.on("error", reject);
      s.on("close", () => resolve({ md5: h.digest("hex"), bytes }));
    });
    // (opening a named pipe waits for its other end, in the thread pool: the writer and the
    // reader above open theirs)
    const [inH, outH] = await Promise.all([open(fifoIn, "r"), open(fifoOut, "w")]);
    const [inFd, outFd] = [inH.fd, outH.fd];
    const script = "until [ -e /tmp/go ]; do sleep 0.05; done; cat; echo to-stderr >&2";
    const { child, done } = coveWith(socket, ["run", "--rm", "-i", "--cidfile", cidfile, "--network", "none", "--log-driver", "none", "busybox", "sh", "-c", script], [inFd, outFd, "pipe"]);
    children.push(child);
    await inH.close();
    await outH.close();
    const id = await cid(cidfile);
    await until("the monitor holds the CLI's pipes", async () => {
      const held = await monitorFiles(env, id).catch(() => [] as string[]);
      return held.includes(fifoIn) && held.includes(fifoOut);
    }, 60_000);
    // detached: the container may finish (and --rm remove it with its execs) before an attached
    // exec would have read its exit code back
    await ok(["exec", "-d", id, "touch", "/tmp/go"]);
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "to-stderr\n", "stderr came over the connection");
    const out = await got;
    assert.equal(out.bytes, data.length, "every byte came out");
    assert.equal(out.md5, md5(data), "the same bytes came out");
  });

  it("a container that closes its stdin early: the rest stays unread, output and exit code as usual", async () => {
    const output = path.join(dir, "early.bin");
    const fds: [number, number, number] = [openSync(input, "r"), openSync(output, "w"), openSync("/dev/null", "w")];
    const script = "head -c 1048576 > /tmp/part; exec 0<&-; sleep 0.2; cat /tmp/part; exit 5";
    const { child, done } = coveWith(socket, ["run", "--rm", "-i", "--network", "none", "busybox", "sh", "-c", script], fds);
    children.push(child);
    for (const fd of fds) closeSync(fd);
    const r = await done;
    assert.equal(r.code, 5, "the container's exit code");
    const out = await readFile(output);
    assert.equal(md5(out), md5(data.subarray(0, 1 << 20)), "the first MiB came back");
  });
});
