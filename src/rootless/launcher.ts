// `cove daemon` for a user who is not root: the launcher stays in the host's namespaces and
// starts the daemon in namespaces of its own, the way rootlesskit starts dockerd:
//
//   - a user namespace mapping uid/gid 0 to the user and 1..n to the user's /etc/subuid and
//     /etc/subgid ranges (util-linux unshare --map-users/--map-groups, through the setuid
//     newuidmap/newgidmap of Debian's uidmap), with a mount namespace (slave of the host's),
//     a network namespace, and a pid namespace whose init is the daemon (its containers end
//     with it: a rootless daemon's containers do not outlive it, as with Docker rootless);
//   - pasta (Debian's passt), else slirp4netns, gives that network namespace a way out (image
//     pulls, containers' outbound traffic); without either the daemon has loopback only;
//   - the port driver (ports.ts) publishes the containers' ports on the host.
//
// The daemon is "root" in there: bridges, veths, iptables and overlay mounts work in its own
// namespaces, and nothing it does reaches past what the user may do on the host.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CoveError, isErrno } from "../common/errors.js";
import { processExists } from "../common/process.js";
import { ensureRuntimeDir, rootlessPaths, type RootlessPaths } from "./paths.js";
import { PortDriver } from "./ports.js";
import { subIdRange } from "./subids.js";
import { delegateCgroup, ownCgroupPath, releaseCgroup } from "./cgroup.js";

/** Environment variables the launcher hands the daemon it starts (see daemonRootlessSetup). */
export const ENV_PORT_CONTROL = "COVE_ROOTLESS_PORT_CONTROL";
export const ENV_PORT_FORWARD = "COVE_ROOTLESS_PORT_FORWARD";
export const ENV_CONFIG = "COVE_ROOTLESS_CONFIG";
/** The containers' cgroup parent in the user's delegated cgroup v2 subtree; absent where there is none. */
export const ENV_CGROUP = "COVE_ROOTLESS_CGROUP";
/** Why the containers run without cgroups (no delegated subtree). */
export const ENV_NO_CGROUP = "COVE_ROOTLESS_NO_CGROUP";

/** Whether a daemon flag (with or without =value) is among args. */
function hasFlag(args: string[], ...names: string[]): boolean {
  return args.some((a) => names.some((n) => a === n || a.startsWith(`${n}=`)));
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    const p = path.join(dir, cmd);
    if (existsSync(p)) return p;
  }
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]) if (existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  return undefined;
}

/** What is missing for a rootless daemon on this host, as an error that says what to install. */
function checkTools(): { unshare: string; network?: { kind: "pasta" | "slirp4netns"; path: string } } {
  const unshare = which("unshare");
  if (!unshare) throw new CoveError("unsupported", "rootless cove needs util-linux's unshare", { code: "rootless.tools", hint: "apt-get install util-linux" });
  if (!which("newuidmap") || !which("newgidmap")) throw new CoveError("unsupported", "rootless cove needs newuidmap and newgidmap to map the user's subordinate ids", { code: "rootless.tools", hint: "as root: apt-get install uidmap" });
  const pasta = which("pasta");
  if (pasta) return { unshare, network: { kind: "pasta", path: pasta } };
  const slirp = which("slirp4netns");
  if (slirp) return { unshare, network: { kind: "slirp4netns", path: slirp } };
  return { unshare };
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} cove rootless: ${line}\n`);
}

/** Waits (bounded) until pid's network namespace is not ours: unshare has made its namespaces. */
async function namespacesMade(pid: number, child: ChildProcess): Promise<boolean> {
  const ours = readlinkSync("/proc/self/ns/net");
  for (let waited = 0; waited < 30_000; waited += 10) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      if (readlinkSync(`/proc/${pid}/ns/net`) !== ours && readlinkSync(`/proc/${pid}/ns/user`) !== readlinkSync("/proc/self/ns/user")) return true;
    } catch {
      return false; // gone
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

/** The first child of pid (unshare's forked daemon), from /proc/<pid>/task/<pid>/children. */
function childOf(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts pasta or slirp4netns on the daemon's network namespace; they end with it. */
function startNetwork(tool: { kind: "pasta" | "slirp4netns"; path: string }, pid: number): ChildProcess {
  // no way back to the host's loopback through the gateway: a container must not reach the
  // user's local services unasked (as Docker rootless's --disable-host-loopback)
  const args =
    tool.kind === "pasta"
      ? ["--foreground", "--quiet", "--config-net", "--no-map-gw", "-t", "none", "-u", "none", "-T", "none", "-U", "none", String(pid)]
      : ["--configure", "--mtu=65520", "--disable-host-loopback", String(pid), "tap0"];
  const child = spawn(tool.path, args, { stdio: ["ignore", "inherit", "inherit"] });
  child.on("error", (err) => log(`${tool.kind} could not start: ${err.message}; containers have no outbound network`));
  return child;
}

export interface LaunchInfo {
  paths: RootlessPaths;
  args: string[];
}

/** The daemon's command line inside the namespaces: the user's paths unless given. */
export function childDaemonArgs(argv: string[], paths: RootlessPaths, root?: string): string[] {
  const args = [...argv];
  if (!hasFlag(args, "--exec-root")) args.unshift("--exec-root", paths.execRoot);
  if (!hasFlag(args, "-H", "--host", "--socket")) args.unshift("-H", `unix://${paths.socket}`);
  return [...(root ? ["--root", root] : ["--root", paths.dataRoot]), "daemon", ...args];
}

/**
 * Runs the rootless daemon until it ends (SIGINT and SIGTERM are passed on to it); returns its
 * exit code. root: the state root when --root or $COVE_ROOT chose one.
 */
export async function rootlessDaemonMain(argv: string[], root?: string): Promise<number> {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const user = os.userInfo().username;
  let paths: RootlessPaths;
  let tools: ReturnType<typeof checkTools>;
  let subuid, subgid;
  try {
    ensureRuntimeDir(process.env, uid);
    paths = rootlessPaths(process.env, uid);
    tools = checkTools();
    subuid = subIdRange("/etc/subuid", user, uid);
    subgid = subIdRange("/etc/subgid", user, gid);
  } catch (err) {
    process.stderr.write(`cove daemon: ${err instanceof CoveError ? err.describe() : String(err)}\n`);
    return 125;
  }
  for (const dir of [paths.dataRoot, path.dirname(paths.portControl)]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pidFile = path.join(path.dirname(paths.portControl), "launcher.pid");
  if (!takePidFile(pidFile)) {
    process.stderr.write(`cove daemon: a rootless cove daemon of ${user} already runs (launcher pid ${readFileSync(pidFile, "utf8").trim()}, socket ${paths.socket})\n  hint: stop it first (kill that pid), or use it: DOCKER_HOST=unix://${paths.socket}\n`);
    return 1;
  }
  const ports = new PortDriver(paths.portControl, paths.portForward, log);
  try {
    await ports.start();
  } catch (err) {
    rmSync(pidFile, { force: true });
    throw err;
  }
  // the delegated cgroup v2 subtree, arranged here where every process of it is visible
  const cgroupMount = "/sys/fs/cgroup";
  let own: string | undefined;
  try {
    own = ownCgroupPath(readFileSync("/proc/self/cgroup", "utf8"));
  } catch (err) {
    log(`could not read /proc/self/cgroup: ${(err as Error).message}`);
  }
  const delegation = delegateCgroup(cgroupMount, own);
  if ("parent" in delegation) log(`containers get cgroups under ${delegation.parent} (delegated to ${user}: ${delegation.controllers.join(", ")}): resource limits apply`);
  else log(`containers run without cgroups: ${delegation.reason}; resource limits are ignored`);
  const cgroupEnv = "parent" in delegation ? { [ENV_CGROUP]: delegation.parent } : { [ENV_NO_CGROUP]: delegation.reason };
  const main = fileURLToPath(new URL("../cli/main.js", import.meta.url));
  const count = (r: { count: number }) => Math.min(r.count, 65536);
  const child = spawn(
    tools.unshare,
    [
      `--map-users=${subuid.start},1,${count(subuid)}`,
      `--map-groups=${subgid.start},1,${count(subgid)}`,
      "--map-root-user",
      "--mount",
      "--net",
      // a pid namespace whose init is the daemon: when the daemon ends, the kernel ends every
      // container with it, so nothing of a stopped rootless daemon runs on unmanaged (its
      // namespaces, mounts included, go with the last process)
      "--pid",
      "--fork",
      "--mount-proc",
      "--kill-child=SIGTERM",
      "--propagation",
      "slave",
      "--",
      process.execPath,
      main,
      ...childDaemonArgs(argv, paths, root),
    ],
    {
      stdio: "inherit",
      env: { ...process.env, [ENV_PORT_CONTROL]: paths.portControl, [ENV_PORT_FORWARD]: paths.portForward, [ENV_CONFIG]: paths.configFile, ...cgroupEnv, XDG_RUNTIME_DIR: paths.runtimeDir },
    },
  );
  const exited = new Promise<number>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1)));
    child.on("error", (err) => {
      log(`could not run ${tools.unshare}: ${err.message}`);
      resolve(125);
    });
  });
  // unshare --fork ignores SIGINT and SIGTERM while it waits: the daemon (its child) gets them
  const pass = (sig: NodeJS.Signals) => () => {
    const daemon = child.pid !== undefined ? childOf(child.pid) : undefined;
    try {
      if (daemon !== undefined) process.kill(daemon, sig);
      else child.kill(sig);
    } catch {
      // already gone: its exit ends the launcher
    }
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, pass(sig));
  let network: ChildProcess | undefined;
  if (child.pid !== undefined && (await namespacesMade(child.pid, child))) {
    if (tools.network) {
      const pid = child.pid;
      network = startNetwork(tools.network, pid);
      // pasta refuses a host without a routable interface; slirp4netns needs none
      const slirp = which("slirp4netns");
      if (tools.network.kind === "pasta" && slirp) {
        network.once("exit", (code) => {
          if (code === 0 || child.exitCode !== null || child.signalCode !== null) return;
          log(`pasta ended (exit ${code}); trying slirp4netns`);
          network = startNetwork({ kind: "slirp4netns", path: slirp }, pid);
        });
      }
    }
    else log("neither pasta (apt-get install passt) nor slirp4netns is installed: containers have no outbound network, and the daemon cannot pull images");
  }
  const code = await exited;
  network?.kill("SIGTERM");
  await ports.close();
  if ("parent" in delegation) await releaseCgroup(cgroupMount, delegation, log);
  rmSync(pidFile, { force: true });
  // the exec root goes when nothing of the daemon's is left in it (as a rootful daemon's does)
  for (const dir of [path.dirname(paths.portControl), paths.execRoot]) {
    try {
      rmdirSync(dir);
    } catch (err) {
      if (!isErrno(err, "ENOENT", "ENOTEMPTY", "EEXIST")) log(`could not remove ${dir}: ${(err as Error).message}`);
    }
  }
  return code;
}

/** Whether `cove daemon` runs through the launcher: for any user but root (the daemon it starts is root in its own namespace). */
export function needsLauncher(): boolean {
  return process.getuid?.() !== 0;
}

/**
 * Takes the launcher's pid file in the exec root, so a second launcher for the same user does not
 * replace the first one's port driver; a file left by a launcher that is gone is taken over.
 */
function takePidFile(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx", mode: 0o600 });
      return true;
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
      const pid = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && processExists(pid)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}
