// Finding the daemon for the CLI, and starting one on first use: `cove run` works on a fresh
// machine without any set-up, as the issue asks, while a running daemon is simply used.

import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CoveError } from "../common/errors.js";
import { processExists } from "../common/process.js";
import { EngineClient } from "../client/index.js";
import { endpoint } from "./context.js";

export { DEFAULT_SOCKET } from "./context.js";

/** The daemon socket: $COVE_HOST, $DOCKER_HOST (unix://...), the current context's, else the default. */
export function socketPath(env: NodeJS.ProcessEnv = process.env): string {
  return endpoint(env).socket;
}

async function answers(client: EngineClient): Promise<boolean> {
  try {
    await client.ping();
    return true;
  } catch {
    // whatever stops the ping, nothing answers there: the caller starts a daemon or lets the
    // command's own request report the connection error, as docker does
    return false;
  }
}

/**
 * A client for the daemon, starting `cove daemon` in the background when the default socket
 * has none (only as root, only for the default socket, chosen by no $COVE_HOST, $DOCKER_HOST or
 * context, and only for the given state root).
 * With `rootGiven` (--root or $COVE_ROOT) a daemon already on the default socket must serve that
 * root: commands never act on another root's images and containers unnoticed.
 */
export async function connect(root: string, env: NodeJS.ProcessEnv = process.env, opts: { rootGiven?: boolean } = {}): Promise<EngineClient> {
  const { socket, explicit } = endpoint(env);
  const client = new EngineClient({ socket });
  if (await answers(client)) {
    if (opts.rootGiven && !explicit) await checkRoot(client, root);
    return client;
  }
  if (explicit) return client; // report the connection error as docker does
  if (process.getuid?.() !== 0) {
    await startRootlessDaemon(client, opts.rootGiven ? root : undefined, env);
    return client;
  }
  mkdirSync(root, { recursive: true, mode: 0o711 });
  const log = openSync(path.join(root, "daemon.log"), "a");
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  const child = spawn(process.execPath, [main, "--root", root, "daemon", "--socket", socket], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  child.unref();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await answers(client)) return client;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new CoveError("unavailable", `could not start the cove daemon on ${socket}`, {
    hint: `see ${path.join(root, "daemon.log")}, or start it yourself: cove daemon`,
  });
}

/** Fails when the daemon on the socket serves another state root than the one asked for. */
export async function checkRoot(client: EngineClient, root: string): Promise<void> {
  const served = (await client.info()).DockerRootDir;
  if (typeof served !== "string" || path.resolve(served) === path.resolve(root)) return;
  throw new CoveError("conflict", `the cove daemon on ${client.socket} serves the root ${served}, not ${path.resolve(root)}`, {
    code: "cli.root-mismatch",
    hint: `stop that daemon to start one on ${path.resolve(root)}, or give its socket with COVE_HOST=unix://PATH for a daemon started with --root ${path.resolve(root)}`,
  });
}

/**
 * Starts the user's rootless daemon in the background (`cove daemon` as this user, which runs
 * the launcher) and waits for it to answer. One CLI starts it: the others that find the lock
 * taken wait for the same socket.
 */
async function startRootlessDaemon(client: EngineClient, root: string | undefined, env: NodeJS.ProcessEnv): Promise<void> {
  const { ensureRuntimeDir, rootlessPaths } = await import("../rootless/index.js");
  ensureRuntimeDir(env);
  const paths = rootlessPaths(env);
  const dataRoot = root ?? paths.dataRoot;
  const logFile = path.join(dataRoot, "daemon.log");
  const lock = path.join(paths.runtimeDir, "cove-start.lock");
  let child: ReturnType<typeof spawn> | undefined;
  if (takeLock(lock)) {
    try {
      mkdirSync(dataRoot, { recursive: true, mode: 0o700 });
      const log = openSync(logFile, "a");
      const main = fileURLToPath(new URL("./main.js", import.meta.url));
      child = spawn(process.execPath, [main, ...(root ? ["--root", root] : []), "daemon"], { detached: true, stdio: ["ignore", log, log], env: { ...env, XDG_RUNTIME_DIR: paths.runtimeDir } });
      child.unref();
      process.stderr.write(`cove: starting your rootless daemon on ${client.socket} (log: ${logFile}; stop it with: kill $(cat ${path.join(paths.execRoot, "rootless", "launcher.pid")}))\n`);
    } catch (err) {
      rmSync(lock, { force: true });
      throw err;
    }
  }
  try {
    // the user namespace, the network and a first start of the stores take a moment on a busy
    // host, and far longer under emulation (the cgroup v2 guest): a bound, left early when the
    // launcher exits
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      if (await answers(client)) return;
      if (child && child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    if (child) rmSync(lock, { force: true });
  }
  throw new CoveError("unavailable", `could not start your rootless cove daemon on ${client.socket}`, {
    hint: `see ${logFile}, or start it yourself to see why: cove daemon`,
  });
}

/** Takes a lock file holding this pid; false while another live process holds it. */
function takeLock(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx", mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && processExists(pid)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}
