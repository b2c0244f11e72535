// The daemon's side of rootless mode: run inside the launcher's namespaces (launcher.ts), it
// reads its configuration from the user's directory, not root's /etc/cove, and publishes ports
// on the host through the launcher's port driver.

import { spawnSync } from "node:child_process";
import { ENV_CGROUP, ENV_CONFIG, ENV_NO_CGROUP, ENV_PORT_CONTROL, ENV_PORT_FORWARD } from "./launcher.js";
import { PortDriverClient } from "./ports.js";

export interface RootlessDaemon {
  /** The user's daemon.json (~/.config/cove/daemon.json): read when it exists. */
  configFile: string;
  ports: PortDriverClient;
  /** The containers' cgroup parent in the user's delegated cgroup v2 subtree, or why there is none. */
  cgroups: { parent: string } | { reason: string };
}

/** What the launcher handed this daemon, or undefined when no launcher started it. The variables are removed, so no container or child sees them. */
export function rootlessDaemonFromEnv(env: NodeJS.ProcessEnv = process.env): RootlessDaemon | undefined {
  const control = env[ENV_PORT_CONTROL];
  const forward = env[ENV_PORT_FORWARD];
  const configFile = env[ENV_CONFIG];
  const cgroupParent = env[ENV_CGROUP];
  const noCgroup = env[ENV_NO_CGROUP];
  for (const v of [ENV_PORT_CONTROL, ENV_PORT_FORWARD, ENV_CONFIG, ENV_CGROUP, ENV_NO_CGROUP]) delete env[v];
  if (!control || !forward || !configFile) return undefined;
  // pasta brings the namespace's loopback up, slirp4netns does not: ports published on
  // 127.0.0.1 are held on it
  const lo = spawnSync("ip", ["link", "set", "lo", "up"], { encoding: "utf8" });
  if (lo.status !== 0) process.stderr.write(`cove daemon: could not bring up the loopback interface of the rootless namespace: ${lo.stderr || lo.error?.message}\n`);
  const cgroups = cgroupParent ? { parent: cgroupParent } : { reason: noCgroup || "the launcher arranged no delegated cgroup v2 subtree" };
  return { configFile, ports: new PortDriverClient(control, forward), cgroups };
}
