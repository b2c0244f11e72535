// A private dockerd (Debian's docker.io) for peer tests and benchmarks.
//
// Everything the daemon writes lives under `dir`: data root, exec root (with the containerd that
// dockerd starts and supervises itself), PID file, socket, daemon config (daemon.json: empty unless the test gives one, so
// /etc/docker/daemon.json is never read; the trust key goes next to it), the docker CLI's config,
// and a cgroup parent of its own. No bridge, no iptables, no userland proxy: containers run with
// `--network none`. The default /var/run/docker.sock and /var/lib/docker are never touched.
//
// dockerd 20.10 uses the system containerd when /run/containerd/containerd.sock exists instead of
// starting its own; in that case a private containerd is started here (root, state, socket and
// config under dir) and handed to dockerd with --containerd, so nothing lands in the system one.
//
// Two paths outside dir are hard-coded in these versions: dockerd 20.10 creates /run/docker/plugins
// (its plugins' exec root) and containerd 1.6's runc shims put their sockets in /run/containerd/s
// (socket names are hashes of the containerd address, so they never collide with a system
// containerd's). stop() removes whichever of these directories did not exist before, when empty.
//
// stop() sends SIGTERM (SIGKILL after a timeout), waits for the daemon's containerd to exit, kills
// any leftover shim that still points into dir, detaches every mount under dir (umount -l, deepest
// first), removes the cgroup parent and then dir itself.

import { execFile, spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, openSync, closeSync } from "node:fs";
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";

export const DOCKERD = "/usr/sbin/dockerd";
const SYSTEM_CONTAINERD_SOCK = "/run/containerd/containerd.sock";
/** Directories outside dir that dockerd or the shims create; parents first. */
const HARDCODED_DIRS = ["/run/docker", "/run/docker/plugins", "/run/containerd", "/run/containerd/s"];

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerOptions {
  /** Written to the CLI's stdin. */
  input?: string | Buffer;
  /** Kills the CLI after this long (default 120 s); code is then 124 (the CLI's own code otherwise). */
  timeoutMs?: number;
}

export interface Dockerd {
  /** The daemon's socket path (dir/docker.sock). */
  socket: string;
  /** Environment for docker CLI invocations: DOCKER_HOST=unix://<socket>, a private DOCKER_CONFIG. */
  env: NodeJS.ProcessEnv;
  /** Runs the docker CLI against this daemon. Never throws on a non-zero exit. */
  docker(args: string[], opts?: DockerOptions): Promise<DockerResult>;
  /** Stops the daemon and its containerd, detaches mounts under dir and removes dir. Idempotent. */
  stop(): Promise<void>;
}

function which(tool: string): string | undefined {
  for (const d of (process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    const p = path.join(d, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Why a private dockerd cannot run here (a skip reason), or undefined when it can. */
export function dockerdAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return "dockerd needs root";
  try {
    accessSync(DOCKERD, constants.X_OK);
  } catch {
    return "dockerd is not installed (apt-get install docker.io)";
  }
  if (!which("containerd")) return "containerd is not installed (apt-get install docker.io)";
  if (!which("runc")) return "runc is not installed (apt-get install runc)";
  if (!which("docker")) return "the docker CLI is not installed (/usr/local/bin/docker)";
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Waits for pid to exit (polling: it need not be our child); true when it did. */
async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return !alive(pid);
}

async function terminate(pid: number, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  if (await waitGone(pid, graceMs)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  await waitGone(pid, 5_000);
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: "/_ping", timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** Decodes mountinfo's octal escapes (\040 for space, \011, \012, \134). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below dir, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  const points = info
    .split("\n")
    .filter(Boolean)
    .map((l) => unescapeMount(l.split(" ")[4] ?? ""))
    .filter((p) => p === dir || p.startsWith(dir + "/"));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function umountLazy(p: string): Promise<void> {
  return new Promise((resolve) => execFile("umount", ["-l", p], () => resolve()));
}

/** PIDs of processes whose command line mentions dir (shims and containerd started for it). */
async function processesUsing(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = (await readFile(`/proc/${e}/cmdline`, "utf8")).split("\0");
      if (cmd.some((a) => a === dir || a.startsWith(dir + "/") || a.includes(`=${dir}/`))) out.push(Number(e));
    } catch {
      // exited
    }
  }
  return out;
}

/** Removes a cgroup directory tree (children first); missing directories are fine. */
async function rmCgroup(dir: string): Promise<void> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await rmCgroup(path.join(dir, e.name));
  for (let i = 0; i < 20; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      await sleep(100); // EBUSY while the last task leaves
    }
  }
}

async function cgroupRoots(): Promise<string[]> {
  const roots: string[] = [];
  try {
    for (const e of await readdir("/sys/fs/cgroup", { withFileTypes: true })) if (e.isDirectory()) roots.push(path.join("/sys/fs/cgroup", e.name));
  } catch {
    // no cgroupfs
  }
  if (existsSync("/sys/fs/cgroup/cgroup.controllers")) roots.push("/sys/fs/cgroup"); // pure v2
  return roots;
}

async function logTail(file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(file, "utf8")).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts Debian's dockerd with all its state under dir (created if missing; removed by stop()).
 * Keep dir short: containerd's socket path under it must fit in 108 bytes.
 */
export async function startDockerd(options: { dir: string; startTimeoutMs?: number; bridge?: string; daemonJson?: Record<string, unknown> }): Promise<Dockerd> {
  const reason = dockerdAvailable();
  if (reason) throw new Error(reason);
  const dir = path.resolve(options.dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const socket = path.join(dir, "docker.sock");
  const dataRoot = path.join(dir, "data");
  const execRoot = path.join(dir, "exec");
  const configFile = path.join(dir, "daemon.json");
  const logFile = path.join(dir, "dockerd.log");
  const cgroupParent = `cove-dockerd-${path.basename(dir).replace(/[^A-Za-z0-9_.-]/g, "_")}`;
  await writeFile(configFile, JSON.stringify(options.daemonJson ?? {}) + "\n");
  await mkdir(path.join(dir, "cli"), { recursive: true });

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: dir,
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_CONFIG: path.join(dir, "cli"),
  };

  const preexisting = new Set(HARDCODED_DIRS.filter((d) => existsSync(d)));
  const children: ChildProcess[] = [];
  let stopped = false;
  let containerdPid: number | undefined;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // dockerd first: it stops its containers and then its managed containerd
    const daemon = children[children.length - 1];
    containerdPid ??= await readPid(path.join(execRoot, "containerd", "containerd.pid"));
    if (daemon?.pid !== undefined) await terminate(daemon.pid, 20_000);
    if (containerdPid !== undefined) await terminate(containerdPid, 10_000);
    for (const c of children) if (c.pid !== undefined) await terminate(c.pid, 5_000);
    // shims (and anything else) left pointing into dir, e.g. after a SIGKILL
    for (let round = 0; round < 3; round++) {
      const left = await processesUsing(dir);
      if (left.length === 0) break;
      for (const pid of left) await terminate(pid, 2_000);
    }
    for (let round = 0; round < 10; round++) {
      const points = await mountsUnder(dir);
      if (points.length === 0) break;
      for (const p of points) await umountLazy(p);
    }
    for (const root of await cgroupRoots()) await rmCgroup(path.join(root, cgroupParent));
    // empty directories only: another private dockerd may still be running
    for (const d of [...HARDCODED_DIRS].reverse()) if (!preexisting.has(d)) await rmdir(d).catch(() => undefined);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    const args = [
      `--data-root=${dataRoot}`,
      `--exec-root=${execRoot}`,
      `--pidfile=${path.join(dir, "docker.pid")}`,
      `--config-file=${configFile}`,
      `-H`,
      `unix://${socket}`,
      "--bridge=none",
      "--iptables=false",
      "--ip6tables=false",
      "--ip-masq=false",
      "--userland-proxy=false",
      "--storage-driver=overlay2",
      `--cgroup-parent=/${cgroupParent}`,
      // never lower the daemon's or containerd's oom_score_adj (CAP_SYS_RESOURCE may be missing)
      "--oom-score-adjust=0",
    ];
    if (options.bridge) {
      // a default bridge the caller made (with its address), still without iptables: published
      // ports go through dockerd's userland proxy, Docker's own path for 127.0.0.1
      args[args.indexOf("--bridge=none")] = `--bridge=${options.bridge}`;
      args[args.indexOf("--userland-proxy=false")] = "--userland-proxy=true";
    }
    if (existsSync(SYSTEM_CONTAINERD_SOCK)) {
      // dockerd would attach to the system containerd: give it a private one instead
      const cdir = path.join(dir, "ctd");
      await mkdir(cdir, { recursive: true });
      const ctoml = path.join(cdir, "config.toml");
      await writeFile(ctoml, 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n');
      const caddr = path.join(cdir, "containerd.sock");
      const clog = openSync(path.join(cdir, "containerd.log"), "a");
      const ctd = spawn("containerd", ["--config", ctoml, "--root", path.join(cdir, "root"), "--state", path.join(cdir, "state"), "--address", caddr], { stdio: ["ignore", clog, clog], env });
      closeSync(clog);
      children.push(ctd);
      containerdPid = ctd.pid;
      const end = Date.now() + 20_000;
      while (!existsSync(caddr)) {
        if (Date.now() > end || ctd.exitCode !== null) throw new Error(`private containerd did not start: ${await logTail(path.join(cdir, "containerd.log"))}`);
        await sleep(50);
      }
      args.push(`--containerd=${caddr}`);
    }
    const log = openSync(logFile, "a");
    const daemon = spawn(DOCKERD, args, { stdio: ["ignore", log, log], env });
    closeSync(log);
    children.push(daemon);
    let exited: string | undefined;
    daemon.on("exit", (code, signal) => {
      exited = `exited with ${signal ?? code}`;
    });
    const end = Date.now() + (options.startTimeoutMs ?? 60_000);
    while (!(await ping(socket))) {
      if (exited) throw new Error(`dockerd ${exited}:\n${await logTail(logFile)}`);
      if (Date.now() > end) throw new Error(`dockerd did not answer /_ping on ${socket}:\n${await logTail(logFile)}`);
      await sleep(100);
    }
    containerdPid ??= await readPid(path.join(execRoot, "containerd", "containerd.pid"));
  } catch (err) {
    await stop();
    throw err;
  }

  const docker = (args: string[], opts: DockerOptions = {}): Promise<DockerResult> =>
    new Promise((resolve, reject) => {
      const child = spawn("docker", args, { env, stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const errs: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, opts.timeoutMs ?? 120_000);
      child.stdout.on("data", (c: Buffer) => out.push(c));
      child.stderr.on("data", (c: Buffer) => errs.push(c));
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code: timedOut ? 124 : (code ?? 1), stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(errs).toString("utf8") + (timedOut ? "\n(timed out)" : "") });
      });
      child.stdin.on("error", () => undefined); // the CLI may exit before reading its input
      child.stdin.end(opts.input);
    });

  return { socket, env, docker, stop };
}
