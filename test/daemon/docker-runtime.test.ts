// The docker CLI (v28) against a cove daemon running in its own process (so the test can SIGKILL
// it), side by side with Debian's dockerd where Docker's behaviour is the reference: --runtime runc
// (logs, exec, -t, OOM, live restore across a SIGKILL of the daemon), docker run's exit codes
// 125/126/127 with nothing left behind, log options, and --rm containers whose daemon restarts.

import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it, type TestContext } from "node:test";
import { findRunc } from "../../src/runtime/runc.js";
import { exited, until } from "../containers/harness.js";
import { busyboxRootfsTar, findBusybox } from "../images/fixtures.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { instanceTag } from "../../src/common/instance.js";

const DOCKER = "/usr/local/bin/docker";
const DAEMON_ENTRY = fileURLToPath(new URL("../../src/daemon/index.js", import.meta.url));
const skip =
  process.getuid?.() !== 0
    ? "needs root"
    : !existsSync(DOCKER)
      ? `${DOCKER} is missing`
      : !findRunc()
        ? "runc is not installed (apt-get install runc)"
        : !(await findBusybox())
          ? "busybox-static is not installed (apt-get install -y busybox-static)"
          : false;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("docker CLI: runtimes, exit codes and restarts against cove (and dockerd)", { skip }, () => {
  let dir: string;
  let socket: string;
  let daemon: ChildProcess | undefined;
  let dockerd: Dockerd | undefined;
  const daemonLog: string[] = [];

  /** Starts cove's daemon in a child process on the test's root, socket and runtime root. */
  const startCove = async (): Promise<void> => {
    const code = `import { startDaemon } from ${JSON.stringify(DAEMON_ENTRY)};
      const d = await startDaemon({ root: ${JSON.stringify(path.join(dir, "root"))}, runtimeRoot: ${JSON.stringify(path.join(dir, "r"))}, socket: ${JSON.stringify(socket)}, log: (l) => console.log(l) });
      process.on("SIGTERM", () => d.close().then(() => process.exit(0)));
      console.log("READY");`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "pipe"] });
    daemon = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout!.setEncoding("utf8").on("data", (d: string) => {
        daemonLog.push(d);
        if (d.includes("READY")) resolve();
      });
      child.stderr!.setEncoding("utf8").on("data", (d: string) => daemonLog.push(d));
      child.once("exit", (c) => reject(new Error(`the cove daemon exited (${c}): ${daemonLog.join("")}`)));
    });
  };

  const stopCove = async (signal: NodeJS.Signals): Promise<void> => {
    const child = daemon;
    daemon = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await exited;
  };

  const run = (env: NodeJS.ProcessEnv, args: string[], timeoutMs = 60_000): Promise<Result> =>
    new Promise((resolve) => {
      execFile(DOCKER, args, { env, timeout: timeoutMs }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 124) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  const coveEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_CONFIG: path.join(dir, "cli"), DOCKER_HOST: `unix://${socket}` });
  const cove = (args: string[], timeoutMs?: number) => run(coveEnv(), args, timeoutMs);
  const docker = (args: string[]) => run(dockerd!.env, args);
  /** Where a test compares with dockerd and none runs here, it says so: skipped, with the reason. */
  const notCompared = (t: TestContext) => {
    if (!dockerd) t.skip(`not compared with dockerd: ${dockerdAvailable() ?? "it did not start"}`);
  };
  const ok = async (args: string[]): Promise<string> => {
    const r = await cove(args);
    assert.equal(r.code, 0, `docker ${args.join(" ")} against cove exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };

  /** What cove still holds of these containers: state directories, mounts, cgroups. */
  const leftovers = async (ids: string[]): Promise<string[]> => {
    const out: string[] = [];
    const containers = path.join(dir, "root", "containers");
    if (existsSync(containers)) out.push(...readdirSync(containers).filter((n) => ids.includes(n)).map((n) => `container ${n}`));
    const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4] ?? "");
    out.push(...mounts.filter((m) => ids.some((id) => m.startsWith(path.join(containers, id)))).map((m) => `mount ${m}`));
    // the test daemon's containers live under its own cgroup parent, /cove-<tag>
    const parent = `cove-${instanceTag(path.join(dir, "root"))}`;
    for (const h of readdirSync("/sys/fs/cgroup")) for (const id of ids) if (existsSync(path.join("/sys/fs/cgroup", h, parent, id))) out.push(`cgroup ${h}/${parent}/${id}`);
    return out;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-test-"));
    socket = path.join(dir, "cove.sock");
    await startCove();
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    const imported = await cove(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    assert.equal(imported.code, 0, imported.stderr);
    if (!dockerdAvailable()) {
      dockerd = await startDockerd({ dir: path.join(dir, "d") });
      const r = await docker(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async () => {
    try {
      if (daemon) {
        const ps = await cove(["ps", "-aq"]);
        for (const id of ps.stdout.split("\n").filter(Boolean)) await cove(["rm", "-f", id]);
      }
    } finally {
      await stopCove("SIGTERM");
      await dockerd?.stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  });

  it("info lists cove (the default) and runc with its path", async () => {
    const info = JSON.parse(await ok(["info", "--format", "{{json .}}"])) as { Runtimes: Record<string, { path: string }>; DefaultRuntime: string };
    assert.equal(info.DefaultRuntime, "cove");
    assert.deepEqual(Object.keys(info.Runtimes).sort(), ["cove", "runc"]);
    assert.equal(info.Runtimes.runc!.path, findRunc());
  });

  it("run --runtime runc: output, exit status, and the runtime in inspect", async () => {
    const r = await cove(["run", "--name", "runc-run", "--runtime", "runc", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
    assert.equal(await ok(["inspect", "--format", "{{.HostConfig.Runtime}} {{.State.ExitCode}}", "runc-run"]), "runc 3\n");
    assert.equal(await ok(["logs", "runc-run"]), "out\n");
    await ok(["rm", "runc-run"]);
  });

  it("run -t --runtime runc gets a terminal", async () => {
    const r = await cove(["run", "--rm", "-t", "--runtime", "runc", "--network", "none", "busybox", "tty"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\/dev\/pts\/\d+\r\n$/);
  });

  it("an unknown runtime: 125 with Docker's words", async () => {
    const r = await cove(["run", "--rm", "--runtime", "nosuch", "busybox", "true"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^docker: Error response from daemon: unknown or invalid runtime name: nosuch\n/);
  });

  it("OOM under runc: 137 and OOMKilled, as dockerd reports it", async (t) => {
    const args = ["run", "--name", "runc-oom", "--network", "none", "-m", "16m", "--memory-swap", "16m", "busybox", "tail", "/dev/zero"];
    const r = await cove([args[0]!, "--runtime", "runc", ...args.slice(1)]);
    assert.equal(r.code, 137, r.stderr);
    assert.equal(await ok(["inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", "runc-oom"]), "true 137\n");
    await ok(["rm", "runc-oom"]);
    if (dockerd) {
      const d = await docker(args);
      assert.equal(d.code, 137);
      assert.equal((await docker(["inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", "runc-oom"])).stdout, "true 137\n");
      await docker(["rm", "runc-oom"]);
    }
    notCompared(t);
  });

  it("exit codes 127, 126 and 125 as dockerd's, and --rm leaves nothing behind", async (t) => {
    const before = new Set((await ok(["ps", "-aq", "--no-trunc"])).split("\n").filter(Boolean));
    const cases: [string[], number, RegExp][] = [
      [["run", "--rm", "--network", "none", "busybox", "no-such-command"], 127, /exec: "no-such-command": executable file not found in \$PATH/],
      [["run", "--rm", "--network", "none", "busybox", "/etc/passwd"], 126, /exec: "\/etc\/passwd": permission denied/],
      [["run", "--rm", "--runtime", "runc", "--network", "none", "busybox", "no-such-command"], 127, /executable file not found in \$PATH/],
      [["run", "--rm", "--no-such-flag", "busybox"], 125, /^unknown flag: --no-such-flag/],
    ];
    for (const [args, code, text] of cases) {
      const r = await cove(args);
      assert.equal(r.code, code, `cove: docker ${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, text);
      assert.doesNotMatch(r.stderr, /Error waiting for container/, "the removal wait reports no error");
      if (dockerd && !args.includes("--runtime")) {
        const d = await docker(args);
        assert.equal(d.code, code, `dockerd: docker ${args.join(" ")}: ${d.stderr}`);
        assert.match(d.stderr, text);
        assert.equal(r.stderr.split("\n")[0]!.startsWith("docker: Error response from daemon: OCI runtime create failed: ") || code === 125, true, r.stderr);
      }
    }
    // the daemon removes a --rm container whose start failed on its own time
    const added = async () => (await ok(["ps", "-aq", "--no-trunc"])).split("\n").filter((id) => id && !before.has(id));
    await until("the failed --rm containers to be removed", async () => (await added()).length === 0).catch(() => undefined);
    const after = await added();
    assert.deepEqual(after, [], "no container is left");
    assert.deepEqual(await leftovers(after), []);
    notCompared(t);
  });

  it("log options: the same errors as dockerd; --log-driver none refuses logs", async (t) => {
    const cases = [
      ["run", "--rm", "--network", "none", "--log-opt", "max-size=abc", "busybox", "true"],
      ["run", "--rm", "--network", "none", "--log-opt", "max-file=0", "busybox", "true"],
      ["run", "--rm", "--network", "none", "--log-opt", "foo=1", "busybox", "true"],
      ["run", "--rm", "--network", "none", "--log-driver", "nosuch", "busybox", "true"],
    ];
    for (const args of cases) {
      const r = await cove(args);
      assert.equal(r.code, 125, r.stderr);
      if (dockerd) {
        const d = await docker(args);
        assert.equal(d.code, 125);
        assert.equal(r.stderr.split("\n")[0], d.stderr.split("\n")[0], `docker ${args.join(" ")}`);
      }
    }
    await ok(["run", "--name", "no-logs", "--network", "none", "--log-driver", "none", "busybox", "echo", "hi"]);
    const logs = await cove(["logs", "no-logs"]);
    assert.equal(logs.code, 1);
    assert.equal(logs.stderr, "Error response from daemon: configured logging driver does not support reading\n");
    if (dockerd) {
      await docker(["run", "--name", "no-logs", "--network", "none", "--log-driver", "none", "busybox", "echo", "hi"]);
      assert.equal((await docker(["logs", "no-logs"])).stderr, logs.stderr);
      await docker(["rm", "no-logs"]);
    }
    await ok(["rm", "no-logs"]);
    const local = await cove(["run", "--rm", "--network", "none", "--log-driver", "local", "--log-opt", "max-size=10k", "busybox", "echo", "local"]);
    assert.equal(local.stdout, "local\n", local.stderr);
    notCompared(t);
  });

  it("rm of a running container: 409 in Docker v28's words", async () => {
    await ok(["run", "-d", "--name", "busy-rm", "--network", "none", "busybox", "sleep", "60"]);
    const r = await cove(["rm", "busy-rm"]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error response from daemon: cannot remove container "/busy-rm": container is running: stop the container before removing or force remove\n');
    await ok(["rm", "-f", "busy-rm"]);
  });

  it("a SIGKILL of the daemon: runc containers keep running and logging; --rm containers that exit meanwhile are removed", async () => {
    await ok(["run", "-d", "--name", "runc-live", "--runtime", "runc", "--network", "none", "busybox", "sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"]);
    // two --rm containers that exit when the test says so (a file in a bind), once no daemon runs
    const go = path.join(dir, "go-quick");
    await mkdir(go, { recursive: true });
    const waitForGo = ["-v", `${go}:/go`, "busybox", "sh", "-c", "while [ ! -e /go/now ]; do sleep 0.1; done"];
    const quick = (await ok(["run", "-d", "--rm", "--runtime", "runc", "--network", "none", ...waitForGo])).trim();
    const quickCove = (await ok(["run", "-d", "--rm", "--network", "none", ...waitForGo])).trim();
    const quickPids = await Promise.all([quick, quickCove].map(async (id) => Number((await ok(["inspect", "--format", "{{.State.Pid}}", id])).trim())));
    await stopCove("SIGKILL");
    await writeFile(path.join(go, "now"), "");
    await until("the --rm containers' exits", () => quickPids.every((pid) => exited(pid)));
    await startCove();
    assert.equal(await ok(["inspect", "--format", "{{.State.Status}}", "runc-live"]), "running\n");
    const lines = (await ok(["logs", "runc-live"])).split("\n").length;
    await until("more log lines after the restart", async () => (await ok(["logs", "runc-live"])).split("\n").length > lines + 2);
    assert.equal(await ok(["exec", "runc-live", "echo", "exec after restart"]), "exec after restart\n");
    for (const id of [quick, quickCove]) {
      const gone = await cove(["inspect", id]);
      assert.equal(gone.code, 1, `--rm container ${id} was removed`);
    }
    assert.deepEqual(await leftovers([quick, quickCove]), []);
    await ok(["stop", "runc-live"]);
    assert.equal(await ok(["inspect", "--format", "{{.State.ExitCode}}", "runc-live"]), "0\n");
    await ok(["rm", "runc-live"]);
  });
});
