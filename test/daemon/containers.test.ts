// Conformance: the real docker CLI (v28) runs, execs, attaches to, inspects and removes containers
// through cove's daemon (started in process on a temp socket, root and runtime root, with the busybox
// image imported offline). Containers run with no network. The last test restarts the daemon with a
// container running (live restore).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { findBusybox, importBusybox } from "../images/fixtures.js";
import { tearDownDaemon } from "../support/teardown.js";

const DOCKER = "/usr/local/bin/docker";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const skip = !existsSync(DOCKER) ? `${DOCKER} is missing` : process.getuid?.() !== 0 ? "needs root (containers)" : false;

describe("docker CLI: containers through cove's daemon", { skip }, () => {
  let dir: string;
  let root: string;
  let socket: string;
  let runtimeRoot: string;
  let daemon: Daemon;
  const logs: string[] = [];

  const open = () => startDaemon({ root, socket, runtimeRoot, log: (l) => logs.push(l) });

  /** Runs the docker CLI; a hung CLI is killed (SIGKILL: `docker run` forwards SIGTERM to the container). */
  const docker = (args: string[], opts: { input?: string; timeoutMs?: number; bin?: string; argv?: string[] } = {}): Promise<Result> =>
    new Promise((resolve) => {
      const child = spawn(opts.bin ?? DOCKER, opts.argv ?? args, {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}`, TERM: "xterm" },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        stderr += `\n[killed after ${opts.timeoutMs ?? 60_000} ms]`;
        child.kill("SIGKILL");
      }, opts.timeoutMs ?? 60_000);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1), stdout, stderr });
      });
      child.stdin.on("error", () => undefined);
      if (opts.input !== undefined) child.stdin.end(opts.input);
      else child.stdin.end();
    });
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await docker(args, input !== undefined ? { input } : {});
    assert.equal(r.code, 0, `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  /** One API request on the socket: status and body text. */
  const api = (method: string, url: string, body?: unknown): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath: socket, method, path: url, headers: body !== undefined ? { "Content-Type": "application/json" } : {} }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString("latin1")));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on("error", reject);
      req.end(body !== undefined ? JSON.stringify(body) : undefined);
    });
  const until = async (what: string, fn: () => Promise<boolean>, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await fn())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async () => {
    if (!(await findBusybox())) throw new Error("busybox-static is not installed (apt-get install -y busybox-static)");
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    root = path.join(dir, "root");
    socket = path.join(dir, "cove.sock");
    runtimeRoot = path.join(dir, "r");
    daemon = await open();
    await importBusybox(daemon.images);
  });

  after(() => tearDownDaemon(daemon, dir));

  it("docker run --rm prints the output and exits 0, leaving no container", async () => {
    const r = await docker(["run", "--rm", "--network", "none", "busybox", "echo", "hi"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hi\n");
    await until("the --rm container to go", async () => (await daemon.containers.list({ all: true })).length === 0);
  });

  it("docker run exits with the container's code", async () => {
    const r = await docker(["run", "--name", "exit3", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "out\n");
    assert.match(r.stderr, /^err$/m);
    assert.equal((await ok(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "exit3"])).trim(), "exited 3");
    await ok(["rm", "exit3"]);
  });

  it("docker run of a missing command exits 127 with docker's message", async () => {
    const r = await docker(["run", "--rm", "--network", "none", "busybox", "nosuchcmd"]);
    assert.equal(r.code, 127, r.stderr);
    assert.match(r.stderr, /docker: Error response from daemon: .*nosuchcmd.*(executable file not found|no such file or directory)/);
    // the --rm container whose start failed is removed, as dockerd does
    await until("the failed --rm container to go", async () => (await daemon.containers.list({ all: true })).length === 0);
    const r2 = await docker(["run", "--name", "badcmd", "--network", "none", "busybox", "nosuchcmd"]);
    assert.equal(r2.code, 127, r2.stderr);
    assert.doesNotMatch(r2.stderr, /Error waiting for container/, "a failed start is not an exit of the next-exit wait");
    await ok(["rm", "badcmd"]);
  });

  it("docker run of a missing image says it cannot be found", async () => {
    const r = await docker(["run", "--pull", "never", "--rm", "--network", "none", "nosuchimage:1", "true"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /No such image: nosuchimage:1/);
    // the docker CLI pulls a missing image itself; here from a registry nothing listens for
    const pulled = await docker(["run", "--rm", "--network", "none", "127.0.0.1:2/nosuchimage:1", "true"]);
    assert.equal(pulled.code, 125);
    assert.match(pulled.stderr, /Unable to find image '127\.0\.0\.1:2\/nosuchimage:1' locally/);
    assert.match(pulled.stderr, /cannot reach the registry 127\.0\.0\.1:2 at http:\/\/127\.0\.0\.1:2: .*ECONNREFUSED/);
  });

  it("a detached container: ps, logs, exec, inspect, pause, stop, wait, rename, rm", async () => {
    const id = (await ok(["run", "-d", "--name", "web", "--network", "none", "busybox", "sh", "-c", "echo started; echo oops >&2; exec sleep 300"])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await ok(["ps"]);
    assert.match(ps, new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"sh -c 'echo started…"\\s+.*Up .*\\s+web$`, "m"));
    assert.match(await ok(["ps", "--format", "{{.Names}} {{.Status}}"]), /^web Up (Less than a second|\d+ seconds?)$/m);
    assert.equal((await ok(["ps", "-q", "--no-trunc"])).trim(), id);

    await until("the log lines", async () => (await docker(["logs", "web"])).stderr.includes("oops"));
    const l = await docker(["logs", "web"]);
    assert.equal(l.stdout, "started\n");
    assert.equal(l.stderr, "oops\n");
    assert.match(await ok(["logs", "-t", "--tail", "1", "web"]), /^$|^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (started|oops)\n$/);

    assert.equal(await ok(["exec", "web", "sh", "-c", "echo $((1+1))"]), "2\n");
    const e4 = await docker(["exec", "web", "sh", "-c", "exit 4"]);
    assert.equal(e4.code, 4, e4.stderr);
    assert.equal(await ok(["exec", "-i", "web", "cat"], "piped\n"), "piped\n");
    const ed = await docker(["exec", "-d", "web", "sh", "-c", "echo detached > /tmp/d"]);
    assert.equal(ed.code, 0, ed.stderr);
    await until("the detached exec", async () => (await docker(["exec", "web", "cat", "/tmp/d"])).stdout === "detached\n");

    assert.equal((await ok(["inspect", "-f", "{{.State.Status}}", "web"])).trim(), "running");
    await ok(["pause", "web"]);
    assert.equal((await ok(["inspect", "-f", "{{.State.Status}}", "web"])).trim(), "paused");
    assert.match(await ok(["ps", "--format", "{{.Names}} {{.Status}}"]), /^web Up .*\(Paused\)$/m);
    const execPaused = await docker(["exec", "web", "true"]);
    assert.notEqual(execPaused.code, 0);
    assert.match(execPaused.stderr, /paused/);
    await ok(["unpause", "web"]);
    assert.equal((await ok(["inspect", "-f", "{{.State.Status}}", "web"])).trim(), "running");

    // logs -f follows until the container stops
    const follow = docker(["logs", "-f", "web"], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 500));
    const since = (Date.now() / 1000).toFixed(3);
    assert.equal((await ok(["stop", "-t", "1", "web"])).trim(), "web");
    // the daemon's own clock, not the test's (a busy machine stretches the CLI's run): SIGKILL
    // followed SIGTERM after the one second asked for, not the default ten
    const kills = (await ok(["events", "--since", since, "--until", (Date.now() / 1000 + 1).toFixed(3), "--filter", "container=web", "--filter", "event=kill", "--format", "{{.Actor.Attributes.signal}} {{.TimeNano}}"]))
      .trim()
      .split("\n")
      .map((l) => l.split(" "));
    assert.deepEqual(kills.map(([sig]) => sig), ["15", "9"]);
    const gap = Number(BigInt(kills[1]![1]!) - BigInt(kills[0]![1]!)) / 1e6;
    assert.ok(gap >= 900 && gap < 5000, `SIGKILL came ${gap} ms after SIGTERM`);
    const f = await follow;
    assert.equal(f.code, 0, f.stderr);
    assert.equal(f.stdout, "started\n");
    assert.equal((await ok(["wait", "web"])).trim(), "137"); // sleep ignores SIGTERM as PID 1: killed after 1 s
    const again = await docker(["stop", "web"]);
    assert.equal(again.code, 0, "stopping a stopped container is fine (304)");
    assert.match(await ok(["ps", "-a", "--format", "{{.Names}} {{.Status}}"]), /^web Exited \(137\) /m);

    await ok(["rename", "web", "web2"]);
    assert.equal((await ok(["inspect", "-f", "{{.Name}}", "web2"])).trim(), "/web2");
    const gone = await docker(["inspect", "web"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such object: web/);
    await ok(["start", "web2"]);
    assert.equal((await ok(["inspect", "-f", "{{.State.Running}}", "web2"])).trim(), "true");
    const rmRunning = await docker(["rm", "web2"]);
    assert.equal(rmRunning.code, 1);
    assert.match(rmRunning.stderr, /cannot remove container "\/web2": container is running: stop the container before removing or force remove/);
    assert.equal((await ok(["rm", "-f", "web2"])).trim(), "web2");
    assert.equal((await ok(["ps", "-a", "-q", "--filter", "name=web"])).trim(), "");
  });

  it("docker kill and restart", async () => {
    await ok(["run", "-d", "--name", "k1", "--network", "none", "busybox", "sleep", "300"]);
    const pid1 = (await ok(["inspect", "-f", "{{.State.Pid}}", "k1"])).trim();
    await ok(["restart", "-t", "0", "k1"]);
    const pid2 = (await ok(["inspect", "-f", "{{.State.Pid}} {{.State.Running}}", "k1"])).trim();
    assert.notEqual(pid2, `${pid1} true`);
    assert.match(pid2, /^\d+ true$/);
    await ok(["kill", "k1"]);
    assert.equal((await ok(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "k1"])).trim(), "exited 137");
    const notRunning = await docker(["kill", "k1"]);
    assert.equal(notRunning.code, 1);
    assert.match(notRunning.stderr, /is not running/);
    await ok(["rm", "k1"]);
  });

  it("docker run -i passes piped stdin and closes it at its end", async () => {
    const r = await docker(["run", "-i", "--rm", "--network", "none", "busybox", "cat"], { input: "hello\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hello\n");
  });

  it("docker run -t runs the process on a terminal", async () => {
    const r = await docker([], { bin: "script", argv: ["-qec", "docker run -it --rm --network none busybox sh -c 'tty'", "/dev/null"] });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/0\r?\n/);
  });

  it("resizes a container's terminal and an exec's; status codes of the API", async () => {
    // each stty runs when the test has resized (a file made by exec), not after a sleep a busy machine can outlast
    await ok(["run", "-dt", "--name", "term", "--network", "none", "busybox", "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; stty size; exec sleep 300"]);
    assert.equal((await api("POST", "/v1.47/containers/term/resize?h=30&w=100")).status, 200);
    await ok(["exec", "term", "touch", "/tmp/go"]);
    await until("stty's answer", async () => (await docker(["logs", "term"])).stdout === "30 100\r\n");
    const created = await api("POST", "/v1.47/containers/term/exec", { Cmd: ["sh", "-c", "while [ ! -e /tmp/go2 ]; do sleep 0.1; done; stty size"], Tty: true, AttachStdout: true });
    assert.equal(created.status, 201);
    const execId = (JSON.parse(created.body) as { Id: string }).Id;
    const started = api("POST", `/v1.47/exec/${execId}/start`, { Tty: true });
    await until("the exec to run", async () => (JSON.parse((await api("GET", `/v1.47/exec/${execId}/json`)).body) as { Running: boolean }).Running);
    assert.equal((await api("POST", `/v1.47/exec/${execId}/resize?h=40&w=120`)).status, 200);
    await ok(["exec", "term", "touch", "/tmp/go2"]);
    const out = await started;
    assert.equal(out.status, 200);
    assert.equal(out.body, "40 120\r\n");
    const inspect = JSON.parse((await api("GET", `/v1.47/exec/${execId}/json`)).body) as { Running: boolean; ExitCode: number };
    assert.deepEqual([inspect.Running, inspect.ExitCode], [false, 0]);
    assert.equal((await api("POST", `/v1.47/exec/${execId}/start`, {})).status, 409, "an exec runs once");
    assert.equal((await api("POST", "/v1.47/containers/term/start")).status, 304);
    assert.equal((await api("POST", "/v1.47/containers/term/wait?condition=bogus")).status, 400);
    assert.equal((await api("GET", "/v1.47/containers/term/logs")).status, 400);
    assert.equal((await api("POST", "/v1.47/containers/nosuch/start")).status, 404);
    assert.equal((await api("POST", "/v1.47/containers/term/stop?t=0")).status, 204);
    assert.equal((await api("POST", "/v1.47/containers/term/stop")).status, 304);
    assert.equal((await api("DELETE", "/v1.47/containers/term")).status, 204);
  });

  it("docker attach follows a running container to its exit code", async () => {
    // the ticks start once the test has seen the attach (a file made by exec): docker attach on a
    // busy machine can come after a fixed sleep, and a container that is gone cannot be attached
    const since = (Date.now() / 1000).toFixed(3);
    await ok(["run", "-d", "--name", "att", "--network", "none", "busybox", "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; for i in 1 2 3; do echo tick $i; sleep 0.2; done; exit 5"]);
    const attached = docker(["attach", "att"]);
    await until("docker attach to connect", async () => (await ok(["events", "--since", since, "--until", (Date.now() / 1000).toFixed(3), "--filter", "container=att", "--filter", "event=attach", "--format", "{{.Action}}"])).includes("attach"));
    await ok(["exec", "att", "touch", "/tmp/go"]);
    const r = await attached;
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stdout, /tick 3\n$/);
    await ok(["rm", "att"]);
  });

  it("docker start -a attaches before the start", async () => {
    await ok(["create", "--name", "sa", "--network", "none", "busybox", "echo", "from start"]);
    const r = await docker(["start", "-a", "sa"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "from start\n");
    await ok(["rm", "sa"]);
  });

  it("docker events shows a container's life", async () => {
    const since = (Date.now() / 1000).toFixed(3);
    await ok(["run", "--rm", "--name", "evt", "--network", "none", "busybox", "true"]);
    const untilT = (Date.now() / 1000 + 1).toFixed(3);
    const out = await ok(["events", "--filter", "type=container", "--since", since, "--until", untilT, "--format", "{{.Action}} {{.Actor.Attributes.name}}"]);
    const actions = out.trim().split("\n").filter((l) => l.endsWith(" evt")).map((l) => l.split(" ")[0]);
    for (const a of ["create", "attach", "start", "die", "destroy"]) assert.ok(actions.includes(a), `no ${a} event in ${out}`);
    assert.ok(actions.indexOf("create") < actions.indexOf("start") && actions.indexOf("start") < actions.indexOf("die") && actions.indexOf("die") < actions.indexOf("destroy"), out);
  });

  it("docker rmi is refused while a container uses the image; info and df count containers", async () => {
    await ok(["create", "--name", "user", "--network", "none", "busybox", "true"]);
    await ok(["run", "-d", "--name", "runner", "--network", "none", "busybox", "sleep", "300"]);
    const r = await docker(["rmi", "busybox"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /conflict: unable to remove repository reference "busybox" \(must force\) - container [0-9a-f]{12} is using its referenced image [0-9a-f]{12}/);
    const info = (await ok(["info", "--format", "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}}"])).trim();
    assert.equal(info, "2 1 0 1");
    const df = await ok(["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}"]);
    assert.match(df, /^Containers 2 1$/m);
    assert.match(df, /^Images 1 1$/m);
    await ok(["rm", "-f", "user", "runner"]);
    assert.equal((await ok(["info", "--format", "{{.Containers}}"])).trim(), "0");
  });

  it("containers keep running across a daemon restart (live restore)", async () => {
    const id = (await ok(["run", "-d", "--name", "survivor", "--network", "none", "busybox", "sh", "-c", "echo before; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"])).trim();
    await until("the first line", async () => (await docker(["logs", "survivor"])).stdout === "before\n");
    const pid = (await ok(["inspect", "-f", "{{.State.Pid}}", "survivor"])).trim();
    await daemon.close();
    assert.ok(existsSync(`/proc/${pid}`), "closing the daemon killed the container");
    daemon = await open();
    assert.match(await ok(["ps", "--format", "{{.ID}} {{.Names}} {{.Status}}"]), new RegExp(`^${id.slice(0, 12)} survivor Up `, "m"));
    assert.equal((await ok(["inspect", "-f", "{{.State.Pid}}", "survivor"])).trim(), pid);
    assert.equal((await docker(["logs", "survivor"])).stdout, "before\n");
    assert.equal(await ok(["exec", "survivor", "echo", "still here"]), "still here\n");
    assert.equal((await ok(["stop", "-t", "5", "survivor"])).trim(), "survivor");
    assert.equal((await ok(["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "survivor"])).trim(), "exited 0");
    await until("the trap's line", async () => (await docker(["logs", "survivor"])).stdout === "before\nbye\n");
    await ok(["rm", "survivor"]);
  });
});
