// Streams of any size through attach, with the real docker CLI (v28) against a private cove daemon:
// `docker run -i` carries megabytes of binary stdin into the container and its output back byte
// for byte (md5sum and cat over 3 MB and 64 MB of random bytes), a container that reads slowly,
// late or never does not block the start, the daemon or other containers, a slow reader of the
// output loses nothing, and the end of the client's input reaches the container as EOF. Then
// POST /containers/{id}/attach?logs=1&stream=0 through dockerode against cove and, where Debian's
// dockerd is installed, against a private dockerd: the same logs, framed the same way.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Duplex, Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { until } from "../containers/harness.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { DOCKER, run, type Result, dockerCliSkip } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";

const skip = await dockerCliSkip();
const peerSkip = dockerdAvailable();

interface Streamed {
  code: number;
  /** md5 of everything the CLI printed on stdout, and its length. */
  md5: string;
  bytes: number;
  /** The first 64 KiB of stdout, as text. */
  head: string;
  stderr: string;
}

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");

/**
 * Runs the docker CLI with a file as its stdin and hashes what it prints as it comes. A slow
 * consumer stops reading the CLI's output for a moment after every chunk (the CLI, the daemon
 * and the container then wait for it).
 */
function stream(env: NodeJS.ProcessEnv, args: string[], input: string | undefined, opts: { slowConsumer?: boolean; boundMs?: number } = {}): Promise<Streamed> {
  return new Promise((resolve) => {
    const fd = input ? openSync(input, "r") : "ignore";
    const child = spawn(DOCKER, args, { env, stdio: [fd, "pipe", "pipe"] });
    if (typeof fd === "number") closeSync(fd);
    const hash = createHash("md5");
    let bytes = 0;
    let head = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.boundMs ?? 240_000);
    const out = child.stdout as Readable;
    out.on("data", (d: Buffer) => {
      hash.update(d);
      if (bytes < 65536) head += d.subarray(0, 65536 - bytes).toString("latin1");
      bytes += d.length;
      if (opts.slowConsumer) {
        out.pause();
        setTimeout(() => out.resume(), 2);
      }
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 124 : 1), md5: hash.digest("hex"), bytes, head, stderr });
    });
  });
}

/** Splits a multiplexed (stdcopy) stream into its stdout and stderr text; throws on a bad header. */
function demux(raw: Buffer): { stdout: string; stderr: string } {
  const out = { stdout: "", stderr: "" };
  let off = 0;
  while (off < raw.length) {
    assert.ok(off + 8 <= raw.length, `a truncated frame header at ${off}`);
    const type = raw[off]!;
    assert.ok(type === 1 || type === 2, `frame type ${type} at ${off}`);
    assert.equal(raw.readUIntBE(off + 1, 3), 0, "the header's padding is zero");
    const size = raw.readUInt32BE(off + 4);
    assert.ok(off + 8 + size <= raw.length, `a truncated frame at ${off}`);
    out[type === 1 ? "stdout" : "stderr"] += raw.subarray(off + 8, off + 8 + size).toString();
    off += 8 + size;
  }
  return out;
}

/** attach?logs=1&stream=0 through dockerode (hijacked or a plain response): the bytes it returns. */
async function attachLogs(docker: Docker, id: string, hijack: boolean, std: { stdout: boolean; stderr: boolean }): Promise<Buffer> {
  const s = (await docker.getContainer(id).attach({ logs: true, stream: false, ...std, hijack })) as Duplex;
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    s.on("data", (b: Buffer) => chunks.push(b));
    s.on("end", resolve);
    s.on("close", resolve);
    s.on("error", reject);
  });
  s.destroy();
  return Buffer.concat(chunks);
}

describe("attach streams of any size (docker CLI, dockerode)", { skip }, () => {
  let dir: string;
  let socket: string;
  let runtimeRoot: string;
  let daemon: Daemon | undefined;
  let peer: Dockerd | undefined;
  let env: NodeJS.ProcessEnv;
  const logs: string[] = [];
  const files: Record<string, { path: string; md5: string; size: number }> = {};

  const cove = (args: string[]): Promise<Result> => run(env, args);
  const ok = async (args: string[]): Promise<string> => {
    const r = await cove(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const runI = (args: string[], input: string, opts?: { slowConsumer?: boolean }) => stream(env, ["run", "--rm", "-i", "--network", "none", ...args], input, opts);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-attach-"));
    socket = path.join(dir, "cove.sock");
    runtimeRoot = `/run/cove-attach-${process.pid}`;
    daemon = await startDaemon({ root: path.join(dir, "root"), socket, runtimeRoot, log: (l) => logs.push(l) });
    env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    await ok(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    for (const [name, size] of [
      ["3m", 3_000_000],
      ["64m", 64 << 20],
    ] as const) {
      const data = randomBytes(size);
      const p = path.join(dir, `${name}.bin`);
      await writeFile(p, data);
      files[name] = { path: p, md5: md5(data), size };
    }
    if (!peerSkip) {
      peer = await startDockerd({ dir: path.join(dir, "dockerd") });
      const r = await peer.docker(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async () => {
    try {
      await peer?.stop();
    } finally {
      await tearDownDaemon(daemon, dir);
      await rm(runtimeRoot, { recursive: true, force: true });
    }
  });

  it("docker run -i carries 3 MB and 64 MB of binary stdin through md5sum and cat, byte for byte", async () => {
    for (const name of ["3m", "64m"]) {
      const f = files[name]!;
      const sum = await runI(["busybox", "md5sum"], f.path);
      assert.equal(sum.code, 0, `md5sum of ${name}: ${sum.stderr}`);
      assert.equal(sum.head.trim(), `${f.md5}  -`, `md5sum of ${name} inside the container`);
      const cat = await runI(["busybox", "cat"], f.path);
      assert.equal(cat.code, 0, `cat of ${name}: ${cat.stderr}`);
      assert.equal(cat.bytes, f.size, `cat of ${name}: every byte came back`);
      assert.equal(cat.md5, f.md5, `cat of ${name}: the same bytes came back`);
    }
    assert.equal(await ok(["ps", "-aq"]), "", "--rm left nothing");
  });

  it("a container that reads its stdin slowly gets all of it", async () => {
    // one read of at most 64 KiB at a time, with a pause and a new process between reads
    const script = "while :; do n=$(dd bs=65536 count=1 2>/dev/null | tee -a /tmp/in | wc -c); [ $n -eq 0 ] && break; sleep 0.02; done; md5sum < /tmp/in";
    const r = await runI(["busybox", "sh", "-c", script], files["3m"]!.path);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.head.trim(), `${files["3m"]!.md5}  -`);
  });

  it("a slow reader of the output gets all of it, nothing dropped", async () => {
    const f = files["64m"]!;
    const r = await runI(["busybox", "cat"], f.path, { slowConsumer: true });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.bytes, f.size);
    assert.equal(r.md5, f.md5);
  });

  it("a container that never reads its stdin runs and exits normally, with its exit code", async () => {
    const r = await runI(["busybox", "sh", "-c", "echo never read; exit 3"], files["64m"]!.path);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.head, "never read\n");
  });

  it("the end of the client's input reaches the container as EOF (StdinOnce)", async () => {
    const r = await runI(["busybox", "sh", "-c", "wc -c; echo after eof"], files["3m"]!.path);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.head.split("\n").map((l) => l.trim()), ["3000000", "after eof", ""]);
  });

  it("a container that reads late holds neither the daemon nor other containers", async () => {
    const sync = path.join(dir, "sync");
    await mkdir(sync, { recursive: true });
    // it reads 10 bytes once the test says so, with 64 MB waiting on its stdin until then
    const late = runI(["-v", `${sync}:/sync`, "busybox", "sh", "-c", "touch /sync/ready; while [ ! -e /sync/go ]; do sleep 0.05; done; head -c 10 | od -An -tx1"], files["64m"]!.path);
    await until("the late reader to be running", () => existsSync(path.join(sync, "ready")), 60_000);
    // meanwhile the daemon answers and another container runs to its end
    assert.match(await ok(["version", "--format", "{{.Server.Version}}"]), /\d/);
    const other = await cove(["run", "--rm", "--network", "none", "busybox", "echo", "other ran"]);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout, "other ran\n");
    const other2 = await stream(env, ["run", "--rm", "-i", "--network", "none", "busybox", "md5sum"], files["3m"]!.path);
    assert.equal(other2.head.trim(), `${files["3m"]!.md5}  -`);
    await writeFile(path.join(sync, "go"), "");
    const r = await late;
    assert.equal(r.code, 0, r.stderr);
    const first10 = readFileSync(files["64m"]!.path).subarray(0, 10);
    assert.equal(r.head.trim().split(/\s+/).join(""), first10.toString("hex"));
  });

  it("attach?logs=1&stream=0 returns the logs so far, multiplexed unless a TTY, as dockerd does", async () => {
    const script = "echo out one; echo err one >&2; echo out two; echo err two >&2";
    const make = async (d: (args: string[]) => Promise<Result>, name: string, extra: string[], cmd: string) => {
      const r = await d(["run", "-d", "--network", "none", "--name", name, ...extra, "busybox", "sh", "-c", cmd]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    const daemons: { name: string; docker: Docker; cli: (args: string[]) => Promise<Result> }[] = [{ name: "cove", docker: new Docker({ socketPath: socket }), cli: cove }];
    if (peer) {
      const p = peer;
      daemons.push({ name: "dockerd", docker: new Docker({ socketPath: p.socket, version: "v1.41" }), cli: (args) => p.docker(args) });
    }
    const results: Record<string, unknown>[] = [];
    for (const d of daemons) {
      const running = await make(d.cli, "logs-running", [], `${script}; touch /tmp/done; sleep 1000`);
      const exited = await make(d.cli, "logs-exited", [], script);
      const tty = await make(d.cli, "logs-tty", ["-t"], `${script}; touch /tmp/done; sleep 1000`);
      await until(`${d.name}: the scripts to have run`, async () => {
        const e = await d.docker.getContainer(exited).inspect();
        if (e.State.Running) return false;
        for (const id of [running, tty]) if ((await d.cli(["exec", id, "test", "-e", "/tmp/done"])).code !== 0) return false;
        return true;
      });
      const seen: Record<string, unknown> = {};
      for (const hijack of [false, true]) {
        for (const [label, id] of [
          ["running", running],
          ["exited", exited],
        ] as const) {
          const both = demux(await attachLogs(d.docker, id, hijack, { stdout: true, stderr: true }));
          const outOnly = demux(await attachLogs(d.docker, id, hijack, { stdout: true, stderr: false }));
          const errOnly = demux(await attachLogs(d.docker, id, hijack, { stdout: false, stderr: true }));
          seen[`${label} hijack=${hijack}`] = { both, outOnly, errOnly };
        }
        const raw = (await attachLogs(d.docker, tty, hijack, { stdout: true, stderr: true })).toString();
        // a terminal's output is one raw stream; its lines end in \r\n
        seen[`tty hijack=${hijack}`] = raw.split("\r\n").sort();
      }
      results.push(seen);
      for (const id of [running, exited, tty]) await d.cli(["rm", "-f", id]);
    }
    const expected = { stdout: "out one\nout two\n", stderr: "err one\nerr two\n" };
    for (const hijack of [false, true]) {
      for (const label of ["running", "exited"]) {
        assert.deepEqual(results[0]![`${label} hijack=${hijack}`], { both: expected, outOnly: { stdout: expected.stdout, stderr: "" }, errOnly: { stdout: "", stderr: expected.stderr } }, `cove: ${label}, hijack=${hijack}`);
      }
      assert.deepEqual(results[0]![`tty hijack=${hijack}`], ["", "err one", "err two", "out one", "out two"]);
    }
    if (results[1]) assert.deepEqual(results[0], results[1], "cove and dockerd return the same logs");
  });
});
