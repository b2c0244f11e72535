// A cove daemon for the build tests: its own temp directory, state root and runtime root, the
// docker CLI pointed at it (the legacy builder, as DOCKER_BUILDKIT=0), and the offline busybox
// image imported as busybox:latest.

import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { busyboxRootfsTar } from "../images/fixtures.js";
import { run } from "../support/docker-api.js";

export interface BuildTestDaemon {
  dir: string;
  socket: string;
  root: string;
  runtimeRoot: string;
  daemon: Daemon;
  dockerEnv: NodeJS.ProcessEnv;
  /** The busybox rootfs tar the image was imported from. */
  busyboxTar: string;
}

/** Starts the daemon; name tells its directories apart (/tmp/cove-<name>-*, /run/cove-<name>-<pid>). */
export async function startBuildTestDaemon(name: string): Promise<BuildTestDaemon> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `cove-${name}-`));
  const socket = path.join(dir, "cove.sock");
  const root = path.join(dir, "root");
  const runtimeRoot = `/run/cove-${name}-${process.pid}`;
  const daemon = await startDaemon({ root, socket, runtimeRoot, log: () => undefined });
  const dockerEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DOCKER_BUILDKIT: "0", DOCKER_CONFIG: path.join(dir, "docker-config"), DOCKER_HOST: `unix://${socket}` };
  const busyboxTar = await busyboxRootfsTar(path.join(dir, "bb"));
  const imported = await run(dockerEnv, ["import", "--change", 'CMD ["sh"]', busyboxTar, "busybox:latest"]);
  if (imported.code !== 0) throw new Error(`importing busybox into the build test daemon failed: ${imported.stderr}`);
  return { dir, socket, root, runtimeRoot, daemon, dockerEnv, busyboxTar };
}
