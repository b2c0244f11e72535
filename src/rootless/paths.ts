// Where a rootless daemon keeps what it owns, all in the user's own directories (as Docker
// rootless and Podman do):
//
//   data root    $XDG_DATA_HOME/cove (~/.local/share/cove)   images, containers, volumes
//   runtime dir  $XDG_RUNTIME_DIR, else /tmp/cove-run-<uid>  (0700, the user's)
//   exec root    <runtime dir>/cove                           runtime state, netns, pid file,
//                                                             the port driver's sockets
//   socket       <runtime dir>/cove.sock
//   config       $XDG_CONFIG_HOME/cove/daemon.json (~/.config/cove/daemon.json)

import { lstatSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CoveError, fromErrno, isErrno } from "../common/errors.js";

export interface RootlessPaths {
  runtimeDir: string;
  dataRoot: string;
  execRoot: string;
  socket: string;
  configFile: string;
  /** The daemon's log when the CLI starts it in the background. */
  logFile: string;
  /** The port driver's control socket (the launcher serves it, the daemon asks it to publish ports). */
  portControl: string;
  /** The daemon's socket for the connections the launcher accepts on published ports. */
  portForward: string;
}

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME || os.homedir();
}

/** The runtime directory: $XDG_RUNTIME_DIR, else /tmp/cove-run-<uid> as Podman falls back. */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  return env.XDG_RUNTIME_DIR || `/tmp/cove-run-${uid}`;
}

export function rootlessPaths(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): RootlessPaths {
  const run = runtimeDir(env, uid);
  const data = env.XDG_DATA_HOME || path.join(home(env), ".local", "share");
  const config = env.XDG_CONFIG_HOME || path.join(home(env), ".config");
  const execRoot = path.join(run, "cove");
  const dataRoot = path.join(data, "cove");
  return {
    runtimeDir: run,
    dataRoot,
    execRoot,
    socket: path.join(run, "cove.sock"),
    configFile: path.join(config, "cove", "daemon.json"),
    logFile: path.join(dataRoot, "daemon.log"),
    portControl: path.join(execRoot, "rootless", "ports.sock"),
    portForward: path.join(execRoot, "rootless", "forward.sock"),
  };
}

/**
 * Makes sure the runtime directory exists, is a directory of this user's and is closed to others
 * (0700): sockets and runtime state go there. The /tmp fallback is made here; an
 * $XDG_RUNTIME_DIR that is missing or someone else's is an error that says what to do.
 */
export function ensureRuntimeDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string {
  const dir = runtimeDir(env, uid);
  if (!env.XDG_RUNTIME_DIR) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw fromErrno(err, `creating the runtime directory ${dir}`);
    }
  }
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw fromErrno(err, `XDG_RUNTIME_DIR=${dir}`, `create it (mkdir -m 0700 ${dir}), log in through a session that makes it (systemd-logind), or unset XDG_RUNTIME_DIR to use /tmp/cove-run-${uid}`);
  }
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new CoveError("invalid", `the runtime directory ${dir} must be a directory owned by uid ${uid} with mode 0700 (it is ${st.isDirectory() ? `owned by uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}` : "not a directory"})`, {
      code: "rootless.runtime-dir",
      hint: st.uid === uid ? `chmod 0700 ${dir}` : `set XDG_RUNTIME_DIR to a directory of yours (mode 0700)`,
    });
  }
  return dir;
}
