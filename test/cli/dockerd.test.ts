// The container commands against a real Engine API peer: Debian's dockerd (a private one, from
// test/support/dockerd.ts), with a busybox image imported from the local busybox-static binary.
// Every container runs with --network none. Skipped with the reason when dockerd or busybox-static
// is missing.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { EngineClient } from "../../src/client/index.js";
import { until } from "../containers/harness.js";
import { busyboxRootfsTar, findBusybox } from "../images/fixtures.js";
import { dockerdAvailable, startDockerd, type Dockerd } from "../support/dockerd.js";
import { cove, ENTRY } from "./harness.js";

const run = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const PTY = path.join(HERE, "..", "..", "..", "test", "cli", "pty_run.py");

const skip = dockerdAvailable() ?? (!(await findBusybox()) ? "busybox-static is not installed (apt-get install -y busybox-static)" : undefined);

describe("container commands against dockerd", { skip }, () => {
  let dir: string;
  let dockerd: Dockerd | undefined;
  let socket: string;
  const names: string[] = [];
  let n = 0;
  const unique = (tag: string) => {
    const name = `cove-cli-${tag}-${process.pid}-${n++}`;
    names.push(name);
    return name;
  };
  const c = (args: string[], opts?: Parameters<typeof cove>[2]) => cove(socket, args, opts);
  const ok = async (args: string[], opts?: Parameters<typeof cove>[2]) => {
    const r = await c(args, opts);
    assert.equal(r.code, 0, `cove ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cc-"));
    dockerd = await startDockerd({ dir: path.join(dir, "d") });
    socket = dockerd.socket;
    const tar = await busyboxRootfsTar(path.join(dir, "bb"));
    const r = await dockerd.docker(["import", "--change", 'CMD ["sh"]', tar, "busybox:latest"]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    if (dockerd) {
      for (const name of names) await dockerd.docker(["rm", "-f", name]);
      await dockerd.stop();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("negotiates the API version down to the daemon's", async () => {
    const client = new EngineClient({ socket });
    const v = await client.apiVersion();
    const server = (await client.version()).ApiVersion;
    assert.equal(v, server < "1.47" ? server : "1.47");
  });

  it("run --rm prints the output and exits 0", async () => {
    const r = await c(["run", "--rm", "--network", "none", "busybox", "echo", "hi"]);
    assert.equal(r.stdout, "hi\n");
    assert.equal(r.code, 0, r.stderr);
  });

  it("run returns the container's exit code and keeps stderr apart", async () => {
    const r = await c(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
  });

  it("run -i passes stdin and closes it at EOF", async () => {
    const r = await c(["run", "--rm", "-i", "--network", "none", "busybox", "sh", "-c", "tr a-z A-Z; echo done"], { input: "hello\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "HELLO\ndone\n");
  });

  it("a missing command exits 127, a non-executable one 126", async () => {
    const r = await c(["run", "--rm", "--network", "none", "busybox", "no-such-command"]);
    assert.equal(r.code, 127, r.stderr);
    assert.match(r.stderr, /executable file not found/);
    const r2 = await c(["run", "--rm", "--network", "none", "busybox", "/etc/passwd"]);
    assert.equal(r2.code, 126, r2.stderr);
  });

  it("an unknown image exits 125 with the daemon's error", async () => {
    const r = await c(["run", "--rm", "--network", "none", "--pull", "never", "no-such-image-cove"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /Error response from daemon: No such image: no-such-image-cove:latest/);
  });

  it("a bad flag exits 125", async () => {
    const r = await c(["run", "--no-such-flag", "busybox"]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /unknown flag: --no-such-flag/);
  });

  it("run -d, ps, logs, stop, rm", async () => {
    const name = unique("d");
    const id = (await ok(["run", "-d", "--name", name, "--network", "none", "busybox", "sh", "-c", "echo started; trap 'exit 0' TERM; while true; do sleep 0.1; done"])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await ok(["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert.match(ps, new RegExp(`^${name} Up `, "m"));
    const table = await ok(["ps", "--filter", `name=${name}`]);
    const [header, row] = table.split("\n");
    assert.match(header!, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    assert.ok(row!.startsWith(id.slice(0, 12)));
    assert.match(row!, /busybox\s+"sh -c 'echo started…"/);
    assert.ok(row!.trimEnd().endsWith(name));
    let logs = "";
    await until("the container's first line", async () => (logs = await ok(["logs", name])).includes("started")).catch(() => undefined);
    assert.equal(logs, "started\n");
    assert.equal(await ok(["inspect", "--format", "{{.State.Status}}", name]), "running\n");
    assert.equal(await ok(["stop", "-t", "5", name]), `${name}\n`);
    assert.equal(await ok(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name]), "exited 0\n");
    assert.equal(await ok(["ps", "-a", "-q", "--filter", `name=${name}`, "--no-trunc"]), `${id}\n`);
    assert.equal(await ok(["rm", name]), `${name}\n`);
    const gone = await c(["inspect", name]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such container/);
  });

  it("exec returns the command's exit code and output", async () => {
    const name = unique("exec");
    await ok(["run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "600"]);
    const r = await c(["exec", name, "sh", "-c", "echo in-exec; exit 4"]);
    assert.equal(r.code, 4);
    assert.equal(r.stdout, "in-exec\n");
    const i = await c(["exec", "-i", "-e", "X=1", "-w", "/tmp", name, "sh", "-c", "cat; echo $X; pwd"], { input: "piped\n" });
    assert.equal(i.stdout, "piped\n1\n/tmp\n");
    // the exit code of a command that cannot start is the daemon's (126 from dockerd 20.10)
    const missing = await c(["exec", name, "no-such-command"]);
    const theirs = await dockerd!.docker(["exec", name, "no-such-command"]);
    assert.equal(missing.code, theirs.code, missing.stderr);
    assert.notEqual(missing.code, 0);
    await ok(["rm", "-f", name]);
  });

  it("-it gives a terminal: the prompt shows and exit works", async () => {
    const { stdout } = await run("python3", [PTY, "/ # ", "echo hi-$((40+2))\\r", "exit 7\\r", "--", process.execPath, ENTRY, "--socket", socket, "run", "-it", "--rm", "--network", "none", "busybox", "sh"], { timeout: 60_000 });
    const res = JSON.parse(stdout) as { status: number; output: string };
    assert.match(res.output, /\/ # /);
    assert.match(res.output, /hi-42/);
    assert.equal(res.status, 7, res.output);
  });

  it("-it detaches with ctrl-p ctrl-q and leaves the container running", async () => {
    const name = unique("detach");
    const { stdout } = await run("python3", [PTY, "/ # ", "\\x10\\x11", "--", process.execPath, ENTRY, "--socket", socket, "run", "-it", "--name", name, "--network", "none", "busybox", "sh"], { timeout: 60_000 });
    const res = JSON.parse(stdout) as { status: number; output: string };
    assert.equal(res.status, 0, res.output);
    assert.match(res.output, /read escape sequence/);
    assert.equal(await ok(["inspect", "--format", "{{.State.Running}}", name]), "true\n");
    await ok(["rm", "-f", name]);
  });

  it("forwards SIGINT to the container when attached without a TTY (--sig-proxy)", async () => {
    const child = spawn(process.execPath, [ENTRY, "--socket", socket, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "trap 'echo got-int; exit 9' INT; echo ready; while true; do sleep 0.1; done"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "ready" within a minute: ${out}`)), 60_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
    }).catch((err: unknown) => {
      child.kill("SIGKILL");
      throw err;
    });
    child.kill("SIGINT");
    assert.equal(await exited, 9);
    assert.equal(out, "ready\ngot-int\n");
  });

  it("wait, kill, rename, top", async () => {
    const name = unique("k");
    const renamed = unique("k2");
    await ok(["run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "600"]);
    await ok(["rename", name, renamed]);
    assert.equal(await ok(["inspect", "--format", "{{.Name}}", renamed]), `/${renamed}\n`);
    const top = await ok(["top", renamed]);
    assert.match(top.split("\n")[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.match(top, /sleep 600/);
    const waiting = c(["wait", renamed]);
    assert.equal(await ok(["kill", "-s", "KILL", renamed]), `${renamed}\n`);
    const w = await waiting;
    assert.equal(w.stdout, "137\n");
    await ok(["rm", renamed]);
  });

  it("cp in and out keeps uid/gid and modes; diff and export see the change", async () => {
    const name = unique("cp");
    await ok(["run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "600"]);
    const src = path.join(dir, "src");
    await mkdir(path.join(src, "sub"), { recursive: true });
    await writeFile(path.join(src, "sub", "f.txt"), "content\n", { mode: 0o640 });
    await chown(path.join(src, "sub", "f.txt"), 1234, 5678);
    await ok(["cp", src, `${name}:/tmp/in`]);
    const inside = await ok(["exec", name, "stat", "-c", "%u %g %a %s", "/tmp/in/sub/f.txt"]);
    assert.equal(inside, "1234 5678 640 8\n");
    await ok(["exec", name, "sh", "-c", "echo made > /tmp/out.txt && chown 42:43 /tmp/out.txt && chmod 600 /tmp/out.txt"]);
    const dst = path.join(dir, "out.txt");
    await ok(["cp", `${name}:/tmp/out.txt`, dst]);
    assert.equal(await readFile(dst, "utf8"), "made\n");
    const st = await stat(dst);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [42, 43, 0o600]);
    const outDir = path.join(dir, "back");
    await ok(["cp", `${name}:/tmp/in`, outDir]);
    assert.equal(await readFile(path.join(outDir, "sub", "f.txt"), "utf8"), "content\n");
    const diff = await ok(["diff", name]);
    assert.match(diff, /^C \/tmp$/m);
    assert.match(diff, /^A \/tmp\/in\/sub\/f.txt$/m);
    assert.match(diff, /^A \/tmp\/out.txt$/m);
    const exported = await new Promise<string>((resolve, reject) => {
      const p = spawn("sh", ["-c", `"${process.execPath}" "${ENTRY}" --socket "${socket}" export ${name} | tar t`]);
      let out = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.on("error", reject);
      p.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`export | tar t exited ${code}`))));
    });
    assert.match(exported, /^tmp\/out.txt$/m);
    assert.match(exported, /^bin\/busybox$/m);
    await ok(["rm", "-f", name]);
  });

  it("create, start -a, pause/unpause, port, update, container ls, container prune", async () => {
    const name = unique("life");
    const id = (await ok(["create", "--name", name, "--network", "none", "busybox", "sh", "-c", "echo attached; exit 2"])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const started = await c(["start", "-a", name]);
    assert.equal(started.code, 2);
    assert.equal(started.stdout, "attached\n");
    const p = unique("pause");
    await ok(["run", "-d", "--name", p, "--network", "none", "busybox", "sleep", "600"]);
    await ok(["pause", p]);
    assert.equal(await ok(["inspect", "-f", "{{.State.Status}}", p]), "paused\n");
    await ok(["unpause", p]);
    assert.equal(await ok(["update", "--memory", "64m", "--memory-swap", "128m", p]), `${p}\n`);
    assert.equal(await ok(["inspect", "-f", "{{.HostConfig.Memory}}", p]), `${64 * 1024 * 1024}\n`);
    assert.equal(await ok(["port", p]), "");
    const ls = await ok(["container", "ls", "--format", "{{.Names}}", "--filter", `name=${p}`]);
    assert.equal(ls, `${p}\n`);
    const stats = await ok(["stats", "--no-stream", p]);
    assert.match(stats.split("\n")[0]!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    await ok(["rm", "-f", p]);
    const pruned = await ok(["container", "prune", "-f"]);
    assert.match(pruned, new RegExp(id));
    assert.match(pruned, /Total reclaimed space: /);
  });
});
