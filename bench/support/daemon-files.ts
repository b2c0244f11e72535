// Where a scale benchmark's private `cove daemon` keeps its things under the run's directory, and
// the environment that points the docker CLI at it.

import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { instanceLayout, type InstanceLayout } from "../../src/common/instance.js";

export interface DaemonFiles {
  root: string;
  socket: string;
  logFile: string;
  /** An empty daemon.json: the machine's /etc/cove/daemon.json must not change the run. */
  config: string;
  layout: InstanceLayout;
  /** For the docker CLI: DOCKER_HOST at the socket, a config directory of its own. */
  env: NodeJS.ProcessEnv;
}

export async function daemonFiles(dir: string): Promise<DaemonFiles> {
  const root = path.join(dir, "cove");
  const socket = path.join(dir, "cove.sock");
  const config = path.join(dir, "cove-daemon.json");
  await writeFile(config, "{}\n");
  await mkdir(path.join(dir, "cove-cli"), { recursive: true });
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, "cove-cli") };
  return { root, socket, logFile: path.join(dir, "cove-daemon.log"), config, layout: instanceLayout(root), env };
}
