// Rootless cove, as a real unprivileged account uses it. The test creates a user of its own
// (useradd, a subordinate id range of its own, a home and an $XDG_RUNTIME_DIR in the test's
// directory) and runs everything as that user through runuser:
//
//   - the first `cove` command starts the user's daemon (nothing was started by hand), and
//     `cove run --rm busybox id` is root in a container whose uid 0 is the user on the host;
//   - a file that container root writes in a bind-mounted directory of the user's is the user's
//     on the host, and container uid 1000 is the user's subordinate uid start+999;
//   - a named volume keeps its data from one container to the next;
//   - a published port answers on the host's loopback (the launcher's port driver);
//   - two containers on a user-defined network reach each other by name (the embedded DNS);
//   - the docker CLI pointed at the user's socket runs containers the same way;
//   - a root daemon (its own root and socket) runs a container at the same time, and neither
//     daemon lists the other's containers;
//   - the daemon restarted on fuse-overlayfs (forced) mounts containers' roots with it and
//     releases the mounts and processes on rm and on its stop;
//   - resource limits: on a pure cgroup v2 host the test delegates a cgroup of its own to the
//     user (as systemd's Delegate=yes does) and starts the daemon in it, and --memory, --cpus and
//     --pids-limit apply (docker stats shows the limit, an OOM kill is recorded); elsewhere (this
//     host's hybrid cgroups) a run with limits succeeds with one warning and docker info says so;
//   - at the end the user's daemon stops with a container still running, which ends with it:
//     no process of the user or of its subordinate uids is left, nothing of it stays mounted on
//     the host, and the account and its subordinate ids are gone.
//
// Runs on this host and in the cgroup v2 guest (it needs only root, util-linux, uidmap, busybox
// and the docker CLI for its docker case; its files are all under the temp directory).

import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, rm, rmdir, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { NetworkService } from "../../src/network/index.js";
import { CGROUP_V2 } from "../fixtures/bundle.js";
import { busyboxRootfsTar, findBusybox } from "../images/fixtures.js";
import { httpGetWhenUp } from "../support/http.js";
import { freePort } from "../support/ports.js";

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");
const DOCKER = "/usr/local/bin/docker";
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end();
  });
}

function which(cmd: string): boolean {
  return PATH.split(":").some((d) => existsSync(path.join(d, cmd)));
}

async function skipReason(): Promise<string | false> {
  if (process.getuid?.() !== 0) return "needs root (it creates a user account)";
  for (const cmd of ["useradd", "userdel", "usermod", "runuser", "unshare", "newuidmap", "newgidmap"]) if (!which(cmd)) return `${cmd} is missing (apt-get install passwd util-linux uidmap)`;
  if (!(await findBusybox())) return "busybox-static is not installed (apt-get install -y busybox-static)";
  return false;
}

/** A subordinate id range nobody in /etc/subuid or /etc/subgid has, above every listed one. */
function freeSubIdStart(): number {
  let end = 1_000_000;
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const [, start, count] = line.split(":");
      if (start && count) end = Math.max(end, Number(start) + Number(count));
    }
  }
  // a random step above: tests of two worktrees at once do not pick the same range
  return end + 65536 * (1 + (randomBytes(1)[0]! % 16));
}

/** The pids of every process whose real uid is the user's or in its subordinate range (/proc/<pid>/status). */
function processesOf(uid: number, sub?: { start: number; count: number }): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, "utf8"));
      const id = m ? Number(m[1]) : -1;
      if (id === uid || (sub && id >= sub.start && id < sub.start + sub.count)) out.push(Number(name));
    } catch {
      // exited while listed
    }
  }
  return out;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not so after ${timeoutMs} ms`);
}

/** The start of the first subordinate uid range /etc/subuid lists for name. */
function firstSubIdStart(name: string): number | undefined {
  const line = readFileSync("/etc/subuid", "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
  return line ? Number(line.split(":")[1]) : undefined;
}

/** Removes a cgroup directory once its processes have gone (bounded). */
async function rmdirWhenEmpty(cg: string): Promise<void> {
  for (const sub of existsSync(cg) ? readdirSync(cg, { withFileTypes: true }).filter((e) => e.isDirectory()) : []) await rmdirWhenEmpty(path.join(cg, sub.name));
  await waitFor(`cgroup ${cg} removed`, async () => {
    try {
      await rmdir(cg);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return true;
      if ((err as NodeJS.ErrnoException).code === "EBUSY") return false;
      throw err;
    }
  }, 20_000);
}

function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

describe("rootless cove: an unprivileged user's own daemon", async () => {
  const skip = await skipReason();
  const name = `cvrl${randomBytes(4).toString("hex")}`;
  let dir = "";
  let home = "";
  let runDir = "";
  let uid = -1;
  let gid = -1;
  let subStart = 0;
  let userMade = false;
  let rootDaemon: ChildProcess | undefined;
  let rootSocket = "";
  let rootExecRoot = "";
  let rootLog = "";
  /** On a pure cgroup v2 host: the cgroup the test delegates to the user, where its daemon starts. */
  let delegated = "";

  /** The user's environment: nothing of root's, the runtime directory the test made. */
  const userEnv = (extra: Record<string, string> = {}) => ["env", "-i", `PATH=${PATH}`, `HOME=${home}`, `USER=${name}`, `XDG_RUNTIME_DIR=${runDir}`, ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];
  /** Extra variables for the daemon the next `cove` command starts (COVE_ROOTLESS_STORAGE). */
  let daemonEnv: Record<string, string> = {};
  // with a delegated cgroup each command starts in it, so the daemon it may start is there (a
  // command while the daemon runs cannot join it: the launcher has enabled its controllers; it
  // runs where the test runs)
  const inCgroup = (cmd: string[]) => (delegated ? ["sh", "-c", 'echo $$ > "$0/cgroup.procs" 2>/dev/null; exec "$@"', delegated, ...cmd] : cmd);
  const cove = (args: string[], timeoutMs?: number) => {
    const [cmd, ...rest] = inCgroup(["runuser", "-u", name, "--", ...userEnv(daemonEnv), process.execPath, MAIN, ...args]);
    return exec(cmd!, rest, { timeoutMs });
  };
  const docker = (args: string[]) => exec("runuser", ["-u", name, "--", ...userEnv({ DOCKER_HOST: `unix://${runDir}/cove.sock` }), DOCKER, ...args]);
  const rootCove = (args: string[]) => exec(process.execPath, [MAIN, ...args], { env: { ...process.env, COVE_HOST: `unix://${rootSocket}` } });
  const daemonLogTail = () => {
    const file = path.join(home, ".local", "share", "cove", "daemon.log");
    return existsSync(file) ? readFileSync(file, "utf8").slice(-3000) : "(no daemon log)";
  };
  const ok = (r: Result, what: string) => {
    if (r.code !== 0) assert.fail(`${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}\n--- the user's daemon log, last lines:\n${daemonLogTail()}`);
  };

  before(async () => {
    if (skip) return;
    dir = await mkdtemp(path.join(os.tmpdir(), "cove-rootless-"));
    await chmod(dir, 0o755); // the user walks through it to its home
    home = path.join(dir, "home");
    subStart = freeSubIdStart();
    const made = await exec("useradd", ["--create-home", "--home-dir", home, "--shell", "/bin/sh", "--user-group", name]);
    ok(made, "useradd");
    userMade = true;
    // useradd may have given the account ranges of its own (SUB_UID_COUNT in login.defs); the
    // daemon maps the first listed one
    subStart = firstSubIdStart(name) ?? subStart;
    if (firstSubIdStart(name) === undefined) ok(await exec("usermod", ["--add-subuids", `${subStart}-${subStart + 65535}`, "--add-subgids", `${subStart}-${subStart + 65535}`, name]), "usermod --add-subuids");
    uid = Number((await exec("id", ["-u", name])).stdout.trim());
    gid = Number((await exec("id", ["-g", name])).stdout.trim());
    // short, as /run/user/<uid> is: the containers' sockets live below it
    runDir = await mkdtemp(path.join(os.tmpdir(), "cr-"));
    await chown(runDir, uid, gid);
    if (CGROUP_V2) {
      // a subtree of the user's own, as systemd's Delegate=yes makes it: the directory and its
      // cgroup.procs, cgroup.subtree_control and cgroup.threads are the user's
      for (const c of ["cpu", "memory", "pids"]) await writeFile("/sys/fs/cgroup/cgroup.subtree_control", `+${c}`).catch(() => undefined);
      delegated = path.join("/sys/fs/cgroup", name);
      await mkdir(delegated);
      for (const f of ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]) await chown(path.join(delegated, f), uid, gid);
    }
    // the fixture image, in a file the user can read
    const fixtures = path.join(dir, "fixtures");
    await mkdir(fixtures, { mode: 0o755 });
    const tar = await busyboxRootfsTar(fixtures);
    await chmod(tar, 0o644);
    const first = await cove(["import", tar, "busybox:latest"]);
    const logFile = path.join(home, ".local", "share", "cove", "daemon.log");
    ok(first, `cove import as the user (daemon log: ${existsSync(logFile) ? readFileSync(logFile, "utf8") : "none"})`);
    assert.match(first.stderr, /starting your rootless daemon on .*cove\.sock \(log: /, "the first command starts the user's daemon and says where its log is");
  });

  after(async () => {
    if (skip || !dir) return;
    const notes: string[] = [];
    const sub = { start: subStart, count: 65536 };
    try {
      // the root daemon's containers go first: their mounts are under the test's directory too
      if (rootDaemon && rootDaemon.exitCode === null) {
        const ids = (await rootCove(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
        if (ids.length) await rootCove(["rm", "-f", ...ids]);
        const gone = new Promise((r) => rootDaemon!.once("exit", r));
        rootDaemon.kill("SIGTERM");
        await gone;
      }
      if (rootDaemon) {
        // what outlives a daemon by design (its firewall chains, the namespace directory's mount)
        // goes with the network service's uninstall on its root
        const net = await NetworkService.open({ root: path.join(dir, "root-state"), netnsDir: path.join(rootExecRoot, "netns"), defaultBridge: false, log: () => undefined });
        await net.uninstall().catch((err: unknown) => notes.push(`the root daemon's network: ${String(err)}`));
        net.close();
      }
      if (uid >= 0) {
        // the daemon stops with a container still running ("userside", and a process of a
        // subordinate uid in it): they end with it (the daemon is the init of their pid namespace)
        const pidFile = path.join(runDir, "cove", "rootless", "launcher.pid");
        if (existsSync(pidFile)) {
          const launcher = Number(readFileSync(pidFile, "utf8").trim());
          process.kill(launcher, "SIGTERM");
        }
        try {
          await waitFor(`no process of ${name} or its subordinate uids left`, () => processesOf(uid, sub).length === 0);
        } catch (err) {
          notes.push(`${(err as Error).message}: ${processesOf(uid, sub).join(" ")}`);
          for (const pid of processesOf(uid, sub)) process.kill(pid, "SIGKILL");
          await waitFor(`no process of ${name} left after SIGKILL`, () => processesOf(uid, sub).length === 0, 10_000).catch(() => undefined);
        }
        const left = [...mountsUnder(dir), ...mountsUnder(runDir)];
        if (left.length) notes.push(`mounts left: ${left.join(" ")}`);
      }
      if (delegated) {
        // the launcher has removed the containers' cgroups and <delegated>/containers; what stays
        // is the cgroup it ran in, empty now
        const subs = existsSync(delegated) ? readdirSync(delegated, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name) : [];
        if (subs.some((n) => n !== "daemon")) notes.push(`cgroups left under ${delegated}: ${subs.join(" ")}`);
        for (const n of subs) await rmdirWhenEmpty(path.join(delegated, n)).catch((err: unknown) => notes.push(String(err)));
        await rmdirWhenEmpty(delegated).catch((err: unknown) => notes.push(String(err)));
      }
    } finally {
      if (userMade) {
        const del = await exec("userdel", ["--remove", name]);
        if (del.code !== 0) notes.push(`userdel: ${del.stderr}`);
        for (const file of ["/etc/subuid", "/etc/subgid"]) {
          if (readFileSync(file, "utf8").split("\n").some((l) => l.startsWith(`${name}:`))) notes.push(`${file} still lists ${name}`);
        }
      }
      await rm(dir, { recursive: true, force: true });
      if (runDir) await rm(runDir, { recursive: true, force: true });
      if (rootExecRoot) await rm(rootExecRoot, { recursive: true, force: true });
    }
    assert.deepEqual(notes, [], "the rootless test leaves nothing behind");
  });

  it("runs a container as the user's root: uid 0 inside is the user outside", { skip }, async () => {
    const r = await cove(["run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    ok(r, "cove run --rm busybox");
    const [inside, ...map] = r.stdout.trim().split("\n");
    assert.equal(inside, "0");
    const rows = map.map((l) => l.trim().split(/\s+/).map(Number));
    assert.deepEqual(rows[0], [0, uid, 1], "container root is the user");
    assert.deepEqual(rows[1], [1, subStart, 65536], "the rest is the user's subordinate range");
    // the daemon's state is the user's, in the user's directories
    assert.equal(statSync(path.join(home, ".local", "share", "cove")).uid, uid);
    assert.equal(statSync(path.join(runDir, "cove.sock")).uid, uid);
  });

  it("writes files in a bind mount as the user (root) and as the user's subordinate ids", { skip }, async () => {
    const shared = path.join(home, "shared");
    ok(await exec("runuser", ["-u", name, "--", "mkdir", shared]), "mkdir as the user");
    ok(await cove(["run", "--rm", "-v", `${shared}:/data`, "busybox", "sh", "-c", "echo from-root > /data/root-file && touch /data/u1000 && chown 1000:1000 /data/u1000"]), "write in the bind mount");
    const st = statSync(path.join(shared, "root-file"));
    assert.equal(st.uid, uid, "a file container root wrote is the user's");
    assert.equal(st.gid, gid);
    assert.equal(statSync(path.join(shared, "u1000")).uid, subStart + 999, "container uid 1000 is subordinate uid start+999");
    // nothing gained: container root cannot write where the user cannot
    const denied = await cove(["run", "--rm", "-v", "/etc:/hostetc", "busybox", "sh", "-c", "echo x > /hostetc/cove-rootless-probe"]);
    assert.notEqual(denied.code, 0, "container root may not write the host's /etc");
    assert.equal(existsSync("/etc/cove-rootless-probe"), false);
  });

  it("commits a container's deletions and replaced directories as whiteouts (the storage driver's opaque marks)", { skip }, async () => {
    const script = "rm /etc/group && rm -rf /usr/sbin && mkdir /usr/sbin && echo new > /usr/sbin/only";
    ok(await cove(["run", "--name", "rlcommit", "busybox", "sh", "-c", script]), "change the root filesystem");
    try {
      const diff = await cove(["diff", "rlcommit"]);
      ok(diff, "cove diff");
      assert.match(diff.stdout, /^D \/etc\/group$/m);
      assert.match(diff.stdout, /^A \/usr\/sbin\/only$/m);
      assert.match(diff.stdout, /^D \/usr\/sbin\/chroot$/m, "the replaced directory hides what the image had there");
      ok(await cove(["commit", "rlcommit", "rlcommitted:1"]), "cove commit");
      const r = await cove(["run", "--rm", "rlcommitted:1", "sh", "-c", "ls /etc/group 2>&1; ls -A /usr/sbin"]);
      ok(r, "run the committed image");
      assert.match(r.stdout, /No such file/, "the deletion is in the committed layer");
      assert.equal(r.stdout.trim().split("\n").pop(), "only", "the replaced directory shows only what the new one holds");
    } finally {
      await cove(["rm", "-f", "rlcommit"]);
      await cove(["rmi", "rlcommitted:1"]);
    }
  });

  it("execs, lists processes, logs and stops a container", { skip }, async () => {
    ok(await cove(["run", "-d", "--name", "rlops", "busybox", "sh", "-c", "echo started; exec sleep 300"]), "run -d");
    try {
      const ex = await cove(["exec", "rlops", "sh", "-c", "echo in-$(hostname)"]);
      ok(ex, "exec");
      assert.match(ex.stdout, /^in-/);
      const top = await cove(["top", "rlops"]);
      ok(top, "top");
      assert.match(top.stdout, /sleep 300/);
      await waitFor("the log has the first line", async () => /started/.test((await cove(["logs", "rlops"])).stdout));
      ok(await cove(["stop", "-t", "1", "rlops"]), "stop");
      const state = await cove(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "rlops"]);
      assert.equal(state.stdout.trim(), "exited 137", "sleep ignores SIGTERM as pid 1: SIGKILL after the timeout");
    } finally {
      await cove(["rm", "-f", "rlops"]);
    }
  });

  it("keeps a named volume's data from one container to the next", { skip }, async () => {
    ok(await cove(["volume", "create", "rlvol"]), "volume create");
    ok(await cove(["run", "--rm", "-v", "rlvol:/v", "busybox", "sh", "-c", "echo kept > /v/f"]), "write the volume");
    const r = await cove(["run", "--rm", "-v", "rlvol:/v", "busybox", "cat", "/v/f"]);
    ok(r, "read the volume");
    assert.equal(r.stdout.trim(), "kept");
    ok(await cove(["volume", "rm", "rlvol"]), "volume rm");
  });

  it("publishes a port on the host's loopback", { skip }, async () => {
    const port = await freePort("127.0.0.1");
    const server = 'while true; do printf "HTTP/1.0 200 OK\\r\\n\\r\\nrootless-web\\n" | nc -l -p 8080; done';
    ok(await cove(["run", "-d", "--name", "rlweb", "-p", `127.0.0.1:${port}:8080`, "busybox", "sh", "-c", server]), "run with -p");
    const ps = await cove(["port", "rlweb"]);
    assert.match(ps.stdout, new RegExp(`8080/tcp -> 127\\.0\\.0\\.1:${port}`));
    assert.match(await httpGetWhenUp(port, { attempts: 300, intervalMs: 200, timeoutMs: 3000 }), /rootless-web/);
    // a port the host already uses fails the start with Docker's error and changes nothing
    const taken = net.createServer();
    const busy = await freePort("127.0.0.1");
    await new Promise<void>((r) => taken.listen(busy, "127.0.0.1", r));
    try {
      const r = await cove(["run", "-d", "--name", "rlbusy", "-p", `127.0.0.1:${busy}:8080`, "busybox", "sleep", "60"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /address already in use/);
    } finally {
      taken.close();
      await cove(["rm", "-f", "rlbusy"]);
    }
    ok(await cove(["rm", "-f", "rlweb"]), "rm the web container");
  });

  it("resolves containers by name on a user-defined network", { skip }, async () => {
    const subnet = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}.0/24`;
    ok(await cove(["network", "create", "--subnet", subnet, "rlnet"]), "network create");
    try {
      ok(await cove(["run", "-d", "--name", "rlsrv", "--network", "rlnet", "busybox", "sleep", "300"]), "run the server");
      const r = await cove(["run", "--rm", "--network", "rlnet", "busybox", "sh", "-c", "ping -c 1 -W 5 rlsrv"]);
      ok(r, "ping rlsrv by name");
      assert.match(r.stdout, /1 packets received/);
    } finally {
      await cove(["rm", "-f", "rlsrv"]);
      ok(await cove(["network", "rm", "rlnet"]), "network rm");
    }
  });

  it("serves the docker CLI on the user's socket", { skip: skip || (!existsSync(DOCKER) && `${DOCKER} is missing`) }, async () => {
    const shared = path.join(home, "docker-shared");
    ok(await exec("runuser", ["-u", name, "--", "mkdir", shared]), "mkdir as the user");
    const r = await docker(["run", "--rm", "-v", `${shared}:/d`, "busybox", "sh", "-c", "touch /d/from-docker; id -u"]);
    ok(r, "docker run");
    assert.equal(r.stdout.trim(), "0");
    assert.equal(statSync(path.join(shared, "from-docker")).uid, uid);
    const info = await docker(["info", "--format", "{{.DockerRootDir}}"]);
    ok(info, "docker info");
    assert.equal(info.stdout.trim(), path.join(home, ".local", "share", "cove"));
  });

  it("runs a container with limits without a delegated cgroup: one warning, the limits ignored, and docker info says so", { skip: skip || (CGROUP_V2 && "cgroup v2 with a subtree delegated to the user here: the limits test runs instead") || (!existsSync(DOCKER) && `${DOCKER} is missing`) }, async () => {
    const r = await docker(["run", "--rm", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "busybox", "echo", "ran"]);
    ok(r, "docker run with limits");
    assert.equal(r.stdout.trim(), "ran");
    const warnings = r.stderr.split("\n").filter((l) => /^WARNING: /.test(l));
    assert.equal(warnings.length, 1, `one warning: ${r.stderr}`);
    assert.match(warnings[0]!, /Resource limits are not supported and ignored on this rootless daemon \(--memory, --cpus, --pids-limit discarded\): .*cgroup/);
    const info = await docker(["info", "--format", "{{.CgroupDriver}} {{.MemoryLimit}} {{json .Warnings}}"]);
    ok(info, "docker info");
    assert.match(info.stdout, /^none false /);
    assert.match(info.stdout, /Running in rootless mode without cgroups: .*Resource limits are ignored/);
    // a run without limits gets no warning
    const plain = await docker(["run", "--rm", "busybox", "true"]);
    ok(plain, "docker run without limits");
    assert.doesNotMatch(plain.stderr, /WARNING/);
  });

  it("applies --memory, --cpus and --pids-limit in the user's delegated cgroup v2 subtree", { skip: skip || (!CGROUP_V2 && "this host has no pure cgroup v2 to delegate (the cgroup v2 guest runs it)") || (!existsSync(DOCKER) && `${DOCKER} is missing`) }, async () => {
    const info = await docker(["info", "--format", "{{.CgroupDriver}} {{.CgroupVersion}} {{.MemoryLimit}} {{.PidsLimit}}"]);
    ok(info, "docker info");
    assert.equal(info.stdout.trim(), "cgroupfs 2 true true");
    ok(await docker(["run", "-d", "--name", "rllimits", "--memory", "32m", "--cpus", "0.5", "--pids-limit", "20", "busybox", "sleep", "300"]), "run with limits");
    try {
      const r = await docker(["exec", "rllimits", "cat", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/pids.max"]);
      ok(r, "read the limits inside");
      assert.deepEqual(r.stdout.trim().split("\n"), ["33554432", "50000 100000", "20"]);
      // on the host: the container's cgroup is in the delegated subtree
      const id = (await docker(["inspect", "--format", "{{.Id}}", "rllimits"])).stdout.trim();
      assert.equal(readFileSync(path.join(delegated, "containers", id, "memory.max"), "utf8").trim(), "33554432");
      const stats = await docker(["stats", "--no-stream", "--format", "{{.MemUsage}}", "rllimits"]);
      ok(stats, "docker stats");
      assert.match(stats.stdout, /\/ 32MiB/);
    } finally {
      await docker(["rm", "-f", "rllimits"]);
    }
    // a memory hog is OOM-killed, and the kill is recorded
    const hog = await docker(["run", "--name", "rloom", "--memory", "16m", "--memory-swap", "16m", "busybox", "sh", "-c", "tail /dev/zero"]);
    try {
      assert.equal(hog.code, 137, `the hog is killed: ${hog.stderr}`);
      const state = await docker(["inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", "rloom"]);
      assert.equal(state.stdout.trim(), "true 137");
    } finally {
      await docker(["rm", "-f", "rloom"]);
    }
  });

  it("mounts image layers with fuse-overlayfs when the daemon is told to (COVE_ROOTLESS_STORAGE), and releases them", { skip: skip || (!which("fuse-overlayfs") && "fuse-overlayfs is missing (apt-get install fuse-overlayfs)") }, async () => {
    // the user's daemon stops (its launcher ends it), and the next command starts one on fuse-overlayfs
    const pidFile = path.join(runDir, "cove", "rootless", "launcher.pid");
    process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGTERM");
    const sub = { start: subStart, count: 65536 };
    await waitFor("the user's first daemon is gone", () => !existsSync(pidFile) && processesOf(uid, sub).length === 0);
    daemonEnv = { COVE_ROOTLESS_STORAGE: "fuse-overlayfs" };
    const info = await cove(["info", "--format", "{{.Driver}} {{json .DriverStatus}}"]);
    ok(info, "cove info on the fuse-overlayfs daemon");
    assert.match(info.stdout, /^fuse-overlayfs .*"Mount Program","[^"]*fuse-overlayfs"/);
    const log = readFileSync(path.join(home, ".local", "share", "cove", "daemon.log"), "utf8");
    assert.match(log, /storage driver fuse-overlayfs \(\S*fuse-overlayfs\): as asked/, "the daemon's log says which storage driver it uses");
    const fuseProcs = () => processesOf(uid).filter((pid) => readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "fuse-overlayfs");
    await waitFor("no fuse-overlayfs process before the first container", () => fuseProcs().length === 0);
    // the container's root is the fuse mount; deletions and replaced directories commit as whiteouts
    const script = 'grep " / / " /proc/self/mountinfo; rm /etc/group && rm -rf /usr/sbin && mkdir /usr/sbin && echo new > /usr/sbin/only';
    const run = await cove(["run", "--name", "rlfuse", "busybox", "sh", "-c", script]);
    ok(run, "run on fuse-overlayfs");
    assert.match(run.stdout, / - fuse\.fuse-overlayfs /, "the container's root filesystem is a fuse-overlayfs mount");
    try {
      ok(await cove(["commit", "rlfuse", "rlfuse:1"]), "commit on fuse-overlayfs");
      const r = await cove(["run", "-d", "--name", "rlfuse2", "rlfuse:1", "sh", "-c", "ls /etc/group 2>&1; ls -A /usr/sbin; exec sleep 300"]);
      ok(r, "run the committed image");
      await waitFor("the second container's output", async () => /only/.test((await cove(["logs", "rlfuse2"])).stdout));
      const out = (await cove(["logs", "rlfuse2"])).stdout;
      assert.match(out, /No such file/, "the deletion is in the committed layer");
      assert.equal(out.trim().split("\n").pop(), "only", "the replaced directory shows only what the new one holds (opaque)");
      assert.ok(fuseProcs().length >= 1, "a running container's root is a fuse-overlayfs process of the user");
      const insp = await cove(["inspect", "--format", "{{.GraphDriver.Name}}", "rlfuse2"]);
      assert.equal(insp.stdout.trim(), "fuse-overlayfs");
      // export reads the merged view through fuse-overlayfs too
      const tarFile = path.join(home, "rlfuse2.tar");
      ok(await cove(["export", "-o", tarFile, "rlfuse2"]), "export");
      const listed = (await exec("tar", ["-tf", tarFile])).stdout.split("\n");
      assert.ok(listed.includes("usr/sbin/only") && !listed.includes("etc/group") && !listed.includes("usr/sbin/chroot"), "the export is the merged view");
    } finally {
      // (either may be missing after a failure above: the failure is what is reported)
      await cove(["rm", "-f", "rlfuse", "rlfuse2"]);
    }
    await waitFor("rm releases the containers' fuse-overlayfs mounts and processes", () => fuseProcs().length === 0);
    ok(await cove(["rmi", "rlfuse:1"]), "rmi");
    // a daemon that crashes takes its containers' fuse-overlayfs processes with it (they are in its
    // pid namespace); the next daemon restores the container, which starts again on a new mount
    ok(await cove(["run", "-d", "--name", "rlcrash", "busybox", "sleep", "300"]), "run -d on fuse-overlayfs");
    await waitFor("the container's fuse-overlayfs process runs", () => fuseProcs().length === 1);
    const daemonPid = processesOf(uid).find((pid) => {
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
      return existsSync(`/proc/${ppid}/comm`) && readFileSync(`/proc/${ppid}/comm`, "utf8").trim() === "unshare";
    });
    assert.ok(daemonPid, "the daemon is the child of the launcher's unshare");
    process.kill(daemonPid, "SIGKILL");
    await waitFor("the crashed daemon's launcher and fuse-overlayfs processes are gone", () => !existsSync(pidFile) && fuseProcs().length === 0);
    assert.deepEqual(mountsUnder(home), [], "nothing of the crashed daemon stays mounted on the host");
    const after = await cove(["inspect", "--format", "{{.State.Status}}", "rlcrash"]);
    ok(after, "inspect after the crash (a new daemon)");
    assert.equal(after.stdout.trim(), "exited");
    ok(await cove(["start", "rlcrash"]), "start the restored container");
    await waitFor("the restarted container's fuse-overlayfs process runs", () => fuseProcs().length === 1);
    ok(await cove(["rm", "-f", "rlcrash"]), "rm -f");
    await waitFor("rm -f releases its fuse-overlayfs process", () => fuseProcs().length === 0);
    // a container left running here ends with the daemon: after() checks nothing of it is left
  });

  it("runs beside a root daemon without either seeing the other's containers", { skip }, async () => {
    rootSocket = path.join(dir, "root.sock");
    const root = path.join(dir, "root-state");
    rootExecRoot = await mkdtemp(path.join(os.tmpdir(), "cx-"));
    rootDaemon = spawn(process.execPath, [MAIN, "--root", root, "daemon", "-H", `unix://${rootSocket}`, "--exec-root", rootExecRoot, "--bridge", "none", "--config-file", "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] });
    rootDaemon.stdout!.setEncoding("utf8").on("data", (d: string) => (rootLog += d));
    rootDaemon.stderr!.setEncoding("utf8").on("data", (d: string) => (rootLog += d));
    await waitFor("the root daemon answers", async () => {
      if (rootDaemon!.exitCode !== null) throw new Error(`the root daemon exited: ${rootLog}`);
      return (await rootCove(["version"])).code === 0;
    });
    const tar = path.join(dir, "fixtures", "busybox.tar");
    ok(await rootCove(["import", tar, "busybox:latest"]), "import on the root daemon");
    ok(await rootCove(["run", "-d", "--name", "rootside", "--network", "none", "busybox", "sleep", "300"]), "root daemon's container");
    ok(await cove(["run", "-d", "--name", "userside", "--network", "none", "busybox", "sh", "-c", "su -s /bin/sh nobody -c 'sleep 300' & sleep 300"]), "user daemon's container");
    // container "nobody" (65534) is the user's subordinate uid start+65533 on the host
    await waitFor("the container's nobody process runs as a subordinate uid", () => processesOf(-1, { start: subStart + 65533, count: 1 }).length > 0);
    const rootPs = await rootCove(["ps", "--format", "{{.Names}}"]);
    const userPs = await cove(["ps", "--format", "{{.Names}}"]);
    assert.deepEqual(rootPs.stdout.trim().split("\n"), ["rootside"]);
    assert.deepEqual(userPs.stdout.trim().split("\n"), ["userside"]);
    // the user's root is not the host's: its container cannot signal the root daemon's
    const rootPid = (await rootCove(["inspect", "--format", "{{.State.Pid}}", "rootside"])).stdout.trim();
    const kill = await exec("runuser", ["-u", name, "--", "kill", "-0", rootPid]);
    assert.notEqual(kill.code, 0, "the user cannot signal the root daemon's container");
    ok(await rootCove(["rm", "-f", "rootside"]), "rm the root daemon's container");
  });
});
