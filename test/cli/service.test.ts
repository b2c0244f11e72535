// cove as a systemd service: `cove system install` writes cove.socket and cove.service (checked
// with systemd-analyze verify), the daemon serves the socket systemd passes it (exercised with
// systemd-socket-activate, since systemd does not run these machines), and a user in the group
// cove runs `cove ps` through that socket without being root.

import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, chown, lstat, mkdtemp, readFile, readlink, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { pingSocket, resolveGroup } from "../../src/daemon/index.js";
import { unmountAll } from "../../src/snapshots/index.js";
import { busyboxRootfsTar, findBusybox } from "../images/fixtures.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
const ACTIVATE = "/usr/bin/systemd-socket-activate";
const ANALYZE = "/usr/bin/systemd-analyze";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

const cove = (args: string[], env: NodeJS.ProcessEnv = process.env) => exec(process.execPath, [MAIN, ...args], env);

const groupExists = (name: string) => readFileSync("/etc/group", "utf8").split("\n").some((l) => l.split(":")[0] === name);

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Pings the activated socket until the daemon answers: the service manager's socket file exists
 * from its bind, a moment before it listens, and a connection in between is refused.
 */
async function answersOn(sock: string, proc: { exitCode: number | null }, log: () => string): Promise<void> {
  let last = "";
  await waitFor(
    "the activated daemon to answer",
    async () => (last = await pingSocket(sock, 30_000)) === "answers" || proc.exitCode !== null,
  ).catch((err: Error) => assert.fail(`${err.message} (last ping: ${last}):\n${log()}`));
  assert.equal(last, "answers", `the daemon exited (${proc.exitCode}):\n${log()}`);
}

const busybox = await findBusybox();
const skip = process.getuid?.() !== 0 ? "needs root (groups, users, the daemon)" : !existsSync(ACTIVATE) || !existsSync(ANALYZE) ? "systemd's tools are missing (apt-get install systemd)" : false;

describe("cove as a systemd service", { skip }, () => {
  let dir = "";
  let groupMade = false;
  const users: string[] = [];
  const daemons: ChildProcess[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-service-"));
    groupMade = !groupExists("cove");
  });

  after(async () => {
    for (const d of daemons) {
      if (d.exitCode === null && d.signalCode === null) {
        const exited = new Promise((r) => d.once("exit", r));
        d.kill("SIGTERM");
        await exited;
      }
    }
    for (const u of users) execFileSync("userdel", [u]);
    // what the containers' root filesystems left mounted under the test's directory, deepest first
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .filter((m) => dir && m.startsWith(dir))
      .sort((x, y) => y.length - x.length);
    for (const m of mounts) unmountAll(m, 2);
    if (groupMade && groupExists("cove")) execFileSync("groupdel", ["cove"]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("system install writes units systemd-analyze accepts, enables them, and uninstall removes them", async () => {
    const root = path.join(dir, "sysroot");
    await exec("mkdir", ["-p", root]);
    const units = path.join(root, "etc/systemd/system");
    const r = await cove(["system", "install", "--root-dir", root]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(groupExists("cove"), "the group cove exists");
    const socket = await readFile(path.join(units, "cove.socket"), "utf8");
    assert.match(socket, /^ListenStream=\/run\/cove\/cove\.sock$/m);
    assert.match(socket, /^SocketMode=0660$/m);
    assert.match(socket, /^SocketGroup=cove$/m);
    const service = await readFile(path.join(units, "cove.service"), "utf8");
    assert.match(service, new RegExp(`^ExecStart=${process.execPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\S+/dist/src/cli/main\\.js daemon -H fd://$`, "m"));
    // the containers' monitors outlive a restart of the service (live restore)
    assert.match(service, /^KillMode=process$/m);
    assert.equal(await readlink(path.join(units, "sockets.target.wants/cove.socket")), "/etc/systemd/system/cove.socket");
    assert.equal(await readlink(path.join(units, "multi-user.target.wants/cove.service")), "/etc/systemd/system/cove.service");

    const verify = await exec(ANALYZE, ["verify", path.join(units, "cove.socket"), path.join(units, "cove.service")]);
    assert.equal(verify.code, 0, verify.stderr);
    assert.doesNotMatch(verify.stderr, /cove\.(socket|service)/, `systemd-analyze complains: ${verify.stderr}`);

    // a second install rewrites the same units
    assert.equal((await cove(["system", "install", "--root-dir", root])).code, 0);
    const un = await cove(["system", "uninstall", "--root-dir", root]);
    assert.equal(un.code, 0, un.stderr);
    for (const f of ["cove.socket", "cove.service", "sockets.target.wants/cove.socket", "multi-user.target.wants/cove.service"]) {
      await assert.rejects(lstat(path.join(units, f)), { code: "ENOENT" }, f);
    }
    const again = await cove(["system", "uninstall", "--root-dir", root]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to remove/);
  });

  it("bad input gets a clear error and changes nothing", async () => {
    const root = path.join(dir, "bad");
    await exec("mkdir", ["-p", root]);
    const relative = await cove(["system", "install", "--root-dir", "relative/dir"]);
    assert.equal(relative.code, 125);
    assert.match(relative.stderr, /--root-dir.*give an absolute path/);
    const missing = await cove(["system", "install", "--root-dir", path.join(dir, "nosuch")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist: create it first/);
    const group = await cove(["system", "install", "--root-dir", root, "--group", "Bad Group"]);
    assert.equal(group.code, 125);
    assert.match(group.stderr, /not a group name/);
    const flag = await cove(["system", "install", "--nosuch"]);
    assert.equal(flag.code, 125);
    assert.match(flag.stderr, /unknown flag: --nosuch\nSee 'cove system install --help'/);
    assert.equal(existsSync(path.join(root, "etc")), false, "nothing written");
    // units cove did not write are left alone
    const units = path.join(root, "etc/systemd/system");
    await exec("mkdir", ["-p", units]);
    await writeFile(path.join(units, "cove.service"), "[Service]\nExecStart=/bin/true\n");
    const foreign = await cove(["system", "uninstall", "--root-dir", root]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /was not written by cove system install: remove it yourself/);
    assert.equal(await readFile(path.join(units, "cove.service"), "utf8"), "[Service]\nExecStart=/bin/true\n");
  });

  it("the daemon serves a socket-activated listener, and a user in group cove runs cove ps through it", async () => {
    if (!groupExists("cove")) execFileSync("groupadd", ["--system", "cove"]);
    // the socket's directory is searchable by everyone, as /run/cove is
    const sockDir = await mkdtemp(path.join(os.tmpdir(), "cove-sock-"));
    await chmod(sockDir, 0o755);
    try {
      const sock = path.join(sockDir, "cove.sock");
      const daemon = spawn(ACTIVATE, ["-l", sock, process.execPath, MAIN, "--root", path.join(dir, "root"), "daemon", "-H", "fd://", "--exec-root", path.join(dir, "x"), "--no-network"], { stdio: ["ignore", "ignore", "pipe"] });
      daemons.push(daemon);
      let log = "";
      daemon.stderr!.on("data", (d: Buffer) => (log += d.toString()));
      await waitFor("the listening socket", () => existsSync(sock) || daemon.exitCode !== null);
      // the first connection starts the daemon (socket activation), and the daemon answers it
      await answersOn(sock, daemon, () => log);
      await waitFor("the daemon's log line", () => /listening on unix:\/\/.*cove\.sock \(fd 3, from the service manager\)/.test(log));
      // what SocketMode=0660 and SocketGroup=cove make systemd do
      await chown(sock, 0, resolveGroup("cove"));
      await chmod(sock, 0o660);
      // the passed socket is close-on-exec in the daemon: no monitor or container inherits it
      const flags = /^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/${daemon.pid}/fdinfo/3`, "utf8"))?.[1];
      assert.ok(flags !== undefined && (parseInt(flags, 8) & 0o2000000) !== 0, `fd 3 flags ${flags}`);

      const member = `cove-t${process.pid % 100000}a`;
      const outsider = `cove-t${process.pid % 100000}b`;
      execFileSync("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", "-G", "cove", member]);
      users.push(member);
      execFileSync("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", outsider]);
      users.push(outsider);
      const asUser = (user: string) => exec("runuser", ["-u", user, "--", "env", `COVE_HOST=unix://${sock}`, "HOME=/nonexistent", process.execPath, MAIN, "ps"]);
      const ps = await asUser(member);
      assert.equal(ps.stderr, "");
      assert.equal(ps.code, 0);
      assert.match(ps.stdout, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n$/);
      const denied = await asUser(outsider);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /permission denied while trying to connect to the daemon socket at unix:\/\/.*cove\.sock\n {2}hint: .*usermod -aG cove USER/);

      // stopping the daemon leaves the socket to the service manager, which owns it
      const exited = new Promise((r) => daemon.once("exit", r));
      daemon.kill("SIGTERM");
      await exited;
      assert.ok((await lstat(sock)).isSocket(), "the activated socket stays");
    } finally {
      await rm(sockDir, { recursive: true, force: true });
    }
  });

  it("a restart of the activated daemon (SIGTERM to the daemon only, as KillMode=process does) leaves its containers running", { skip: !busybox ? "busybox-static is not installed" : false }, async () => {
    const root = path.join(dir, "live");
    // short: the containers' sockets live under <exec root>/runtime/<id>/
    const exec_ = path.join(dir, "x");
    const activated = async (sock: string) => {
      const d = spawn(ACTIVATE, ["-l", sock, process.execPath, MAIN, "--root", root, "daemon", "-H", "fd://", "--exec-root", exec_, "--no-network"], { stdio: ["ignore", "ignore", "pipe"] });
      daemons.push(d);
      let log = "";
      d.stderr!.on("data", (b: Buffer) => (log += b.toString()));
      await waitFor("the listening socket", () => existsSync(sock) || d.exitCode !== null);
      await answersOn(sock, d, () => log);
      return d;
    };
    const first = await activated(path.join(dir, "live1.sock"));
    const env1 = { ...process.env, COVE_HOST: `unix://${path.join(dir, "live1.sock")}` };
    const imported = await cove(["import", "-c", 'CMD ["sh"]', await busyboxRootfsTar(dir), "busybox:latest"], env1);
    assert.equal(imported.code, 0, imported.stderr);
    const run = await cove(["run", "-d", "--name", "kept", "--network", "none", "busybox", "sleep", "600"], env1);
    assert.equal(run.code, 0, run.stderr);
    const pid = (await cove(["inspect", "--format", "{{.State.Pid}}", "kept"], env1)).stdout.trim();
    assert.match(pid, /^[1-9]\d*$/);
    const exited = new Promise((r) => first.once("exit", r));
    first.kill("SIGTERM");
    await exited;
    process.kill(Number(pid), 0); // still running without its daemon

    await activated(path.join(dir, "live2.sock"));
    const env2 = { ...process.env, COVE_HOST: `unix://${path.join(dir, "live2.sock")}` };
    try {
      const state = await cove(["inspect", "--format", "{{.State.Status}} {{.State.Pid}}", "kept"], env2);
      assert.equal(state.stdout.trim(), `running ${pid}`, state.stderr);
    } finally {
      const removed = await cove(["rm", "-f", "kept"], env2);
      assert.equal(removed.code, 0, removed.stderr);
    }
  });

  it("-H fd:// without a passed socket is refused with what to do", async () => {
    const r = await cove(["--root", path.join(dir, "root2"), "daemon", "-H", "fd://"], { ...process.env, LISTEN_FDS: undefined, LISTEN_PID: undefined });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /-H fd:\/\/: no socket was passed \(LISTEN_FDS is not set\)\n {2}hint: fd:\/\/ is for a daemon started by systemd through cove\.socket/);
    assert.equal(existsSync(path.join(dir, "root2")), false, "nothing made");
  });
});
