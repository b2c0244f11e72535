// Exec as the clients that depend on it see it: the docker CLI v28, Debian's python3-docker and
// dockerode (testcontainers-node's exec is dockerode's) drive a private cove daemon and Debian's
// dockerd side by side, through the same scenarios with the same expectations, so each expectation
// is Docker's behaviour, not only cove's:
//
// - a command that is missing or cannot run: the start answers with the stream (not a 400), the
//   OCI error is in the stream's stdout, exec inspect says Running false, Pid 0 and ExitCode 127
//   (not found; dockerd 20.10 records 126 there, moby 23+ 127) or 126 (not executable), and the
//   CLI exits with that code; a detached start answers 400 with the same text;
// - a TTY: ProcessConfig reports it; output always arrives whole (docker-py reads the raw socket
//   past the response head it buffered: the head must not share a read with the output), also in
//   a container of the runc runtime; the start request's Tty picks raw bytes or stdcopy frames;
// - detached execs (the CLI's -d, exec start with Detach): they run, with stdin at its end;
// - socket mode: python's exec_run(socket=True), exec_start(socket=True) with stdin, dockerode's
//   start({hijack: true, stdin: true}) with and without a TTY.
//
// Each daemon runs on a private socket and root, with busybox imported offline and containers
// without a network; everything is removed at the end, also after a failure.

import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { Duplex, Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { findRunc } from "../../src/runtime/runc.js";
import { busyboxRootfsTar, findBusybox, importBusybox, tempDir } from "../images/fixtures.js";
import { api, DOCKER, run, type Result } from "../support/docker-api.js";
import { dockerdAvailable, startDockerd } from "../support/dockerd.js";
import { tearDownDaemon } from "../support/teardown.js";
import { demux as demuxDockerode } from "../support/dockerode.js";

const PYTHON = "/usr/bin/python3";
const rootSkip = process.getuid?.() !== 0 ? "needs root (containers)" : !(await findBusybox()) ? "busybox-static is not installed" : false;
const cliSkip = rootSkip || (!existsSync(DOCKER) ? `${DOCKER} is missing` : false);

function pythonDocker(): string | false {
  try {
    execFileSync(PYTHON, ["-c", "import docker"], { stdio: "ignore" });
    return false;
  } catch {
    return "python3-docker is not installed (apt-get install python3-docker)";
  }
}

/** A daemon under test: its socket, the docker CLI's environment for it, and how to stop it. */
interface Target {
  socket: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
  /** What the daemon logged (cove's only). */
  log?: string[];
}

/** cove's daemon in process on a temp root, with busybox imported offline. */
async function startCove(dir: string): Promise<Target> {
  let daemon: Daemon | undefined;
  const log: string[] = [];
  try {
    daemon = await startDaemon({ root: path.join(dir, "root"), socket: path.join(dir, "api.sock"), runtimeRoot: path.join(dir, "r"), log: (line) => log.push(line) });
    await importBusybox(daemon.images);
  } catch (err) {
    await tearDownDaemon(daemon, dir);
    throw err;
  }
  const d = daemon;
  return {
    socket: d.socket,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "cli"), DOCKER_HOST: `unix://${d.socket}` },
    stop: () => tearDownDaemon(d, dir),
    log,
  };
}

/** Debian's dockerd on a private socket and root, with the same busybox tree imported. */
async function startDocker(dir: string): Promise<Target> {
  const dockerd = await startDockerd({ dir: path.join(dir, "d") });
  const stop = async () => {
    try {
      await dockerd.stop();
    } finally {
      await tearDownDaemon(undefined, dir);
    }
  };
  try {
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    const r = await dockerd.docker(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    assert.equal(r.code, 0, r.stderr);
    return { socket: dockerd.socket, env: dockerd.env, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

const TARGETS: { name: string; start: (dir: string) => Promise<Target>; skip: string | false; cove: boolean }[] = [
  { name: "cove's daemon", start: startCove, skip: cliSkip, cove: true },
  { name: "Debian's dockerd (the reference)", start: startDocker, skip: cliSkip || (dockerdAvailable() ?? false), cove: false },
];

/**
 * The python side: one scenario per call, its findings as JSON on stdout (bytes as latin1 text).
 * Every socket read goes to the end of the stream, as a client collecting an exec's output does.
 */
const PY = String.raw`
import json, socket, sys, time
import docker

sock_path, container, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
client = docker.DockerClient(base_url="unix://" + sock_path, version="1.41", timeout=60)
c = client.containers.get(container)
api = client.api

def text(b):
    return b.decode("latin1") if isinstance(b, bytes) else b

def read_all(s):
    s = getattr(s, "_sock", s)
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    return data

def demux(data):
    out, err, i = b"", b"", 0
    while i + 8 <= len(data):
        kind, size = data[i], int.from_bytes(data[i + 4:i + 8], "big")
        if kind == 1:
            out += data[i + 8:i + 8 + size]
        elif kind == 2:
            err += data[i + 8:i + 8 + size]
        i += 8 + size
    return {"stdout": text(out), "stderr": text(err), "rest": len(data) - i}

def inspect(exec_id):
    for _ in range(400):
        i = api.exec_inspect(exec_id)
        if not i["Running"]:
            break
        time.sleep(0.05)
    return {"Running": i["Running"], "ExitCode": i["ExitCode"], "Pid": i["Pid"]}

res = {}
if scenario == "missing":
    r = c.exec_run(["/bin/bash", "-c", "true"])
    res["bash"] = {"exit_code": r.exit_code, "output": text(r.output)}
    r = c.exec_run(["/etc/passwd"], tty=True)
    res["passwd_tty"] = {"exit_code": r.exit_code, "output": text(r.output)}
    try:
        c.exec_run(["/no/such/binary"], detach=True)
        res["detached"] = "started"
    except docker.errors.APIError as e:
        res["detached"] = {"status": e.status_code, "explanation": e.explanation}
elif scenario == "tty":
    res["whole"] = [text(c.exec_run(["printf", "abc"], tty=True).output) for _ in range(20)]
    e = api.exec_create(container, ["sh", "-c", "echo out; echo err >&2"], tty=True)
    res["tty_exec_started_without_tty"] = text(api.exec_start(e["Id"]))
    e = api.exec_create(container, ["echo", "x"], tty=True, stdin=True, user="nobody")
    res["inspect"] = api.exec_inspect(e["Id"])
elif scenario == "socket":
    res["plain"] = [demux(read_all(c.exec_run(["echo", "hello"], socket=True).output)) for _ in range(10)]
    res["tty"] = [text(read_all(c.exec_run(["echo", "hello"], socket=True, tty=True).output)) for _ in range(10)]
    r = c.exec_run(["sh", "-c", "echo out; echo err >&2"], socket=True)
    res["both"] = demux(read_all(r.output))
    e = api.exec_create(container, ["cat"], stdin=True)
    s = api.exec_start(e["Id"], socket=True)
    raw = getattr(s, "_sock", s)
    raw.sendall(b"piped\n")
    raw.shutdown(socket.SHUT_WR)
    res["stdin"] = demux(read_all(s))
    res["stdin_inspect"] = inspect(e["Id"])
    r = c.exec_run(["sh", "-c", "echo a; echo b >&2"], stream=True, demux=True)
    res["stream"] = [[text(o), text(e)] for o, e in r.output]
elif scenario == "detach":
    r = c.exec_run(["sh", "-c", "echo from-python > /tmp/py-detached"], detach=True)
    res["output"] = text(r.output)
    e = api.exec_create(container, ["sh", "-c", "cat; echo stdin-ended > /tmp/py-stdin"], stdin=True)
    res["start"] = text(api.exec_start(e["Id"], detach=True))
    res["stdin_inspect"] = inspect(e["Id"])
    for _ in range(400):
        r = c.exec_run(["cat", "/tmp/py-detached", "/tmp/py-stdin"])
        if r.exit_code == 0:
            break
        time.sleep(0.05)
    res["files"] = text(r.output)
print(json.dumps(res))
`;

/** Everything a stream carries until it ends. */
function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("close", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

/** Splits a multiplexed stream's bytes into stdout and stderr text; `rest` counts bytes of an unfinished frame. */
function demux(data: Buffer): { stdout: string; stderr: string; rest: number } {
  let stdout = "";
  let stderr = "";
  let i = 0;
  while (i + 8 <= data.length) {
    const size = data.readUInt32BE(i + 4);
    const payload = data.subarray(i + 8, i + 8 + size).toString("latin1");
    if (data[i] === 1) stdout += payload;
    else if (data[i] === 2) stderr += payload;
    else throw new Error(`not a multiplexed stream: frame type ${data[i]}`);
    i += 8 + size;
  }
  return { stdout, stderr, rest: data.length - i };
}

/** Polls until check() holds (generous bound: a busy machine is slow, never a reason to fail). */
async function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const MISSING = /^OCI runtime exec failed: exec failed: unable to start container process: exec: "\/no\/such\/binary": stat \/no\/such\/binary: no such file or directory: unknown\r\n$/;
const NOT_IN_PATH = /^OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in \$PATH: unknown\r\n$/;
const NOT_EXECUTABLE = /^OCI runtime exec failed: exec failed: unable to start container process: exec: "\/etc\/passwd": permission denied: unknown\r\n$/;

for (const target of TARGETS) describe(`exec as clients use it, against ${target.name}`, { skip: target.skip }, () => {
  let dir = "";
  let daemon: Target | undefined;
  let docker: Docker;
  let container = "";
  /** Exit codes a command that is not found may record: 127 (cove, moby 23+), 126 (dockerd 20.10). */
  const notFound = target.cove ? [127] : [126, 127];

  const cli = (args: string[]): Promise<Result> => run(daemon!.env, args);
  const post = (p: string, body: unknown) => api(daemon!.socket, "POST", `/v1.41${p}`, JSON.stringify(body));
  const execInspect = async (id: string) => JSON.parse((await api(daemon!.socket, "GET", `/v1.41/exec/${id}/json`)).body) as Docker.ExecInspectInfo;
  const create = async (body: Record<string, unknown>): Promise<string> => {
    const r = await post(`/containers/${container}/exec`, body);
    assert.equal(r.status, 201, r.body);
    return (JSON.parse(r.body) as { Id: string }).Id;
  };
  const python = (scenario: string, which = container): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      execFile(PYTHON, [path.join(dir, "client.py"), daemon!.socket, which, scenario], { timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`python ${scenario} failed: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as Record<string, unknown>);
      });
    });

  before(async () => {
    dir = await tempDir();
    daemon = await target.start(dir);
    docker = new Docker({ socketPath: daemon.socket });
    await writeFile(path.join(dir, "client.py"), PY);
    const r = await cli(["run", "-d", "--network", "none", "busybox", "sleep", "100000"]);
    assert.equal(r.code, 0, r.stderr);
    container = r.stdout.trim();
  });

  after(async () => {
    if (daemon) {
      // the container first, so that the daemon's teardown finds nothing running
      if (container) await cli(["rm", "-f", container]);
      await daemon.stop();
    } else if (dir) await tearDownDaemon(undefined, dir);
  });

  describe("a command that is missing or cannot run", () => {
    it("the docker CLI prints the runtime's error and exits with exec inspect's code", async () => {
      const missing = await cli(["exec", container, "/no/such/binary"]);
      assert.ok(notFound.includes(missing.code), `exit ${missing.code}: ${missing.stderr}`);
      assert.match(missing.stdout, MISSING);
      assert.doesNotMatch(missing.stderr, /unable to upgrade/);
      const notExecutable = await cli(["exec", container, "/etc/passwd"]);
      assert.equal(notExecutable.code, 126, notExecutable.stderr);
      assert.match(notExecutable.stdout, NOT_EXECUTABLE);
      const tty = await cli(["exec", "-t", container, "nosuchcmd"]);
      assert.ok(notFound.includes(tty.code), `exit ${tty.code}: ${tty.stderr}`);
      assert.match(tty.stdout, NOT_IN_PATH);
      const detached = await cli(["exec", "-d", container, "/no/such/binary"]);
      assert.equal(detached.code, 1);
      assert.match(detached.stderr, /^Error response from daemon: OCI runtime exec failed: .*stat \/no\/such\/binary: no such file or directory/);
    });

    it("the API starts the stream, writes the error to its stdout, and records the exit; events as dockerd's", async () => {
      const since = Math.floor(Date.now() / 1000) - 1;
      const id = await create({ Cmd: ["/no/such/binary"], AttachStdout: true, AttachStderr: true });
      const r = await post(`/exec/${id}/start`, {});
      assert.equal(r.status, 200, r.body);
      assert.equal(r.headers["content-type"], "application/vnd.docker.raw-stream");
      const frames = demux(r.raw);
      assert.deepEqual([frames.stderr, frames.rest], ["", 0]);
      assert.match(frames.stdout, MISSING);
      const info = await execInspect(id);
      assert.equal(info.Running, false);
      assert.ok(notFound.includes(info.ExitCode ?? -1), `ExitCode ${info.ExitCode}`);
      assert.equal(info.Pid, 0);
      // a second start is refused (dockerd says so inside a stream, cove with 409): it never runs twice
      assert.match((await post(`/exec/${id}/start`, {})).body, /has already run/);
      const end = Math.floor(Date.now() / 1000) + 1;
      const events = await api(daemon!.socket, "GET", `/v1.41/events?since=${since}&until=${end}&filters=${encodeURIComponent(JSON.stringify({ type: ["container"] }))}`);
      const actions = events.body
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { Action: string; Actor: { Attributes: Record<string, string> } })
        .filter((e) => e.Actor.Attributes.execID === id)
        .map((e) => e.Action);
      assert.deepEqual(actions, ["exec_create: /no/such/binary ", "exec_start: /no/such/binary "]);

      const detachedId = await create({ Cmd: ["/etc/passwd"] });
      const detached = await post(`/exec/${detachedId}/start`, { Detach: true });
      assert.equal(detached.status, 400);
      assert.match((JSON.parse(detached.body) as { message: string }).message, /^OCI runtime exec failed: .*exec: "\/etc\/passwd": permission denied/);
      assert.deepEqual(
        ((i) => [i.Running, i.ExitCode, i.Pid])(await execInspect(detachedId)),
        [false, 126, 0],
      );
    });

    it("python's exec_run returns the exit code and the error as output; a detached one raises 400", { skip: pythonDocker() }, async () => {
      const r = (await python("missing")) as {
        bash: { exit_code: number; output: string };
        passwd_tty: { exit_code: number; output: string };
        detached: { status: number; explanation: string };
      };
      assert.ok(notFound.includes(r.bash.exit_code), JSON.stringify(r.bash));
      assert.match(r.bash.output, /^OCI runtime exec failed: .*exec: "\/bin\/bash": stat \/bin\/bash: no such file or directory: unknown\r\n$/);
      assert.equal(r.passwd_tty.exit_code, 126);
      assert.match(r.passwd_tty.output, NOT_EXECUTABLE);
      assert.equal(r.detached.status, 400);
      assert.match(r.detached.explanation, /^OCI runtime exec failed: .*stat \/no\/such\/binary: no such file or directory/);
    });

    it("testcontainers' exec (dockerode, stdin open, demultiplexed) sees a non-zero exit for a missing /bin/bash", async () => {
      const tcExec = async (cmd: string[]) => {
        const exec = await docker.getContainer(container).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
        const stream = (await exec.start({ stdin: true, Detach: false, Tty: false })) as Duplex;
        const { stdout, stderr } = await demuxDockerode(docker, stream);
        stream.destroy();
        const info = await exec.inspect();
        return { stdout, stderr, exitCode: info.ExitCode };
      };
      const missing = await tcExec(["/bin/bash", "-c", "true"]);
      assert.ok(notFound.includes(missing.exitCode ?? -1), JSON.stringify(missing));
      assert.match(missing.stdout, /stat \/bin\/bash: no such file or directory/);
      assert.deepEqual(await tcExec(["sh", "-c", "echo ok; echo e >&2; exit 3"]), { stdout: "ok\n", stderr: "e\n", exitCode: 3 });
      // a process that ends before the daemon reaches its monitor is no failure to wait out: an exec
      // without stdin or a terminal needs no connection to its monitor (it once waited 10 s for one)
      assert.deepEqual(daemon!.log?.filter((l) => /connect to exec/.test(l)) ?? [], []);
    });
  });

  describe("a TTY", () => {
    it("exec inspect reports the process config as Docker does", async () => {
      const id = await create({ Cmd: ["echo", "x"], Tty: true, AttachStdin: true, AttachStdout: true, User: "nobody" });
      const info = await execInspect(id);
      assert.deepEqual(info.ProcessConfig, { tty: true, entrypoint: "echo", arguments: ["x"], privileged: false, user: "nobody" });
      assert.deepEqual(
        [info.ID, info.ContainerID, info.Running, info.ExitCode, info.Pid, info.OpenStdin, info.OpenStdout, info.OpenStderr, info.CanRemove, info.DetachKeys],
        [id, container, false, null, 0, true, true, false, false, ""],
      );
      assert.deepEqual(Object.keys(info).sort(), ["CanRemove", "ContainerID", "DetachKeys", "ExitCode", "ID", "OpenStderr", "OpenStdin", "OpenStdout", "Pid", "ProcessConfig", "Running"]);
      const plain = await execInspect(await create({ Cmd: ["true"] }));
      assert.deepEqual(plain.ProcessConfig, { tty: false, entrypoint: "true", arguments: [], privileged: false }, "no user key when none is set");
    });

    it("the docker CLI's exec -t prints all of a short command's output", async () => {
      for (let i = 0; i < 5; i++) {
        const r = await cli(["exec", "-t", container, "echo", "hello"]);
        assert.deepEqual([r.code, r.stdout], [0, "hello\r\n"], r.stderr);
      }
    });

    it("python gets every byte, and reads a TTY exec started without Tty as frames", { skip: pythonDocker() }, async () => {
      const r = (await python("tty")) as { whole: string[]; tty_exec_started_without_tty: string; inspect: { ProcessConfig: unknown } };
      assert.deepEqual(r.whole, Array(20).fill("abc"));
      assert.equal(r.tty_exec_started_without_tty, "out\r\nerr\r\n");
      assert.deepEqual(r.inspect.ProcessConfig, { tty: true, entrypoint: "echo", arguments: ["x"], privileged: false, user: "nobody" });
    });

    it("a container of the runc runtime: a TTY exec's output arrives whole too", { skip: findRunc() ? false : "runc is not installed" }, async () => {
      // runc's exec starts the process itself: the monitor runs it only once the daemon is attached
      const r = await cli(["run", "-d", "--runtime", "runc", "--network", "none", "busybox", "sleep", "100000"]);
      assert.equal(r.code, 0, r.stderr);
      const runcContainer = r.stdout.trim();
      try {
        for (let i = 0; i < 5; i++) {
          const e = await cli(["exec", "-t", runcContainer, "echo", "hello"]);
          assert.deepEqual([e.code, e.stdout], [0, "hello\r\n"], e.stderr);
        }
        if (!pythonDocker()) {
          const py = (await python("tty", runcContainer)) as { whole: string[]; tty_exec_started_without_tty: string };
          assert.deepEqual(py.whole, Array(20).fill("abc"));
          assert.equal(py.tty_exec_started_without_tty, "out\r\nerr\r\n");
        }
        const missing = await cli(["exec", "-t", runcContainer, "nosuchcmd"]);
        assert.ok(notFound.includes(missing.code), `exit ${missing.code}: ${missing.stderr}`);
        assert.match(missing.stdout, NOT_IN_PATH);
      } finally {
        await cli(["rm", "-f", runcContainer]);
      }
    });

    it("the start request's Tty picks raw bytes or frames, whatever the exec's", async () => {
      const ttyExec = await create({ Cmd: ["sh", "-c", "echo out; echo err >&2"], Tty: true, AttachStdout: true, AttachStderr: true });
      const framed = await post(`/exec/${ttyExec}/start`, {});
      assert.equal(framed.status, 200);
      assert.deepEqual(demux(framed.raw), { stdout: "out\r\nerr\r\n", stderr: "", rest: 0 });
      const plainExec = await create({ Cmd: ["sh", "-c", "echo out; echo err >&2"], AttachStdout: true, AttachStderr: true });
      const rawOut = await post(`/exec/${plainExec}/start`, { Tty: true });
      assert.equal(rawOut.status, 200);
      assert.equal(rawOut.raw.toString("latin1"), "out\n", "raw stdout; stderr has no place there");
    });
  });

  describe("detached execs", () => {
    it("docker exec -d runs the command and returns at once", async () => {
      const r = await cli(["exec", "-d", container, "sh", "-c", "echo from-cli > /tmp/cli-detached"]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, "", ""]);
      await until("the detached command's file", async () => (await cli(["exec", container, "cat", "/tmp/cli-detached"])).stdout === "from-cli\n");
    });

    it("exec start with Detach answers 200 at once; the exec runs, with stdin at its end (dockerode)", async () => {
      const exec = await docker.getContainer(container).exec({ Cmd: ["sleep", "100000"], AttachStdout: true, AttachStderr: true });
      const started = await collect((await exec.start({ Detach: true })) as Readable);
      assert.equal(started.length, 0);
      const running = await exec.inspect();
      assert.deepEqual([running.Running, running.ExitCode], [true, null]);
      assert.ok((running.Pid ?? 0) > 0);
      const reader = await docker.getContainer(container).exec({ Cmd: ["sh", "-c", "cat; exit 4"], AttachStdin: true, AttachStdout: true, AttachStderr: true });
      await collect((await reader.start({ Detach: true })) as Readable);
      const done = await until("the detached reader to see the end of its stdin", async () => {
        const i = await reader.inspect();
        return !i.Running && i;
      });
      assert.equal(done.ExitCode, 4);
    });

    it("python's exec_run(detach=True) and exec_start(detach=True)", { skip: pythonDocker() }, async () => {
      const r = (await python("detach")) as { output: string; start: string; stdin_inspect: { Running: boolean; ExitCode: number }; files: string };
      assert.deepEqual([r.output, r.start], ["", ""]);
      assert.deepEqual([r.stdin_inspect.Running, r.stdin_inspect.ExitCode], [false, 0]);
      assert.equal(r.files, "from-python\nstdin-ended\n");
    });
  });

  describe("socket mode", () => {
    it("python's exec_run(socket=True) and exec_start(socket=True) with stdin", { skip: pythonDocker() }, async () => {
      const r = (await python("socket")) as {
        plain: unknown[];
        tty: string[];
        both: unknown;
        stdin: unknown;
        stdin_inspect: { Running: boolean; ExitCode: number };
        stream: [string | null, string | null][];
      };
      assert.deepEqual(r.plain, Array(10).fill({ stdout: "hello\n", stderr: "", rest: 0 }));
      assert.deepEqual(r.tty, Array(10).fill("hello\r\n"));
      assert.deepEqual(r.both, { stdout: "out\n", stderr: "err\n", rest: 0 });
      assert.deepEqual(r.stdin, { stdout: "piped\n", stderr: "", rest: 0 });
      assert.deepEqual([r.stdin_inspect.Running, r.stdin_inspect.ExitCode], [false, 0]);
      // stdout and stderr are two pipes: their frames may come in either order
      assert.deepEqual(
        r.stream.map((pair) => JSON.stringify(pair)).sort(),
        [JSON.stringify(["a\n", null]), JSON.stringify([null, "b\n"])].sort(),
      );
    });

    it("output that is not UTF-8 arrives byte for byte, stdout and stderr", async () => {
      const ct = docker.getContainer(container);
      const exec = await ct.exec({ Cmd: ["sh", "-c", "cat; printf '\\377\\376' >&2"], AttachStdin: true, AttachStdout: true, AttachStderr: true });
      const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
      const out = collect(stream);
      // every byte value, invalid UTF-8 sequences among them, and a multi-byte character cut short
      const sent = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0xe2, 0x82])]);
      stream.end(sent);
      const got = demux(await out);
      assert.equal(Buffer.from(got.stdout, "latin1").toString("hex"), sent.toString("hex"));
      assert.equal(Buffer.from(got.stderr, "latin1").toString("hex"), "fffe");
    });

    it("dockerode's start({hijack: true, stdin: true}), without and with a TTY", async () => {
      const ct = docker.getContainer(container);
      const exec = await ct.exec({ Cmd: ["sh", "-c", "cat; echo done >&2"], AttachStdin: true, AttachStdout: true, AttachStderr: true });
      const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
      const out = collect(stream);
      stream.end("hello via hijack\n");
      assert.deepEqual(demux(await out), { stdout: "hello via hijack\n", stderr: "done\n", rest: 0 });
      const info = await until("the exec to end", async () => {
        const i = await exec.inspect();
        return !i.Running && i;
      });
      assert.equal(info.ExitCode, 0);

      const ttyExec = await ct.exec({ Cmd: ["sh", "-c", "read line; echo got:$line"], AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true });
      const ttyStream = (await ttyExec.start({ hijack: true, stdin: true, Tty: true })) as Duplex;
      const ttyOut = collect(ttyStream);
      ttyStream.write("hi\n");
      assert.equal((await ttyOut).toString("latin1"), "hi\r\ngot:hi\r\n");
      const ttyInfo = await until("the TTY exec to end", async () => {
        const i = await ttyExec.inspect();
        return !i.Running && i;
      });
      assert.equal(ttyInfo.ExitCode, 0);
    });
  });
});
