// The daemon's side of rootless mode: run inside the launcher's namespaces (launcher.ts), it
// reads its configuration from the user's directory, not root's /etc/cove, and publishes ports
// on the host through the launcher's port driver.

import { spawnSync } from "node:child_process";
import { ENV_CONFIG, ENV_PORT_CONTROL, ENV_PORT_FORWARD } from "./launcher.js";
import { PortDriverClient } from "./ports.js";

export interface RootlessDaemon {
  /** The user's daemon.json (~/.config/cove/daemon.json): read when it exists. */
  configFile: string;
  ports: PortDriverClient;
}

/** What the launcher handed this daemon, or undefined when no launcher started it. The variables are removed, so no container or child sees them. */
export function rootlessDaemonFromEnv(env: NodeJS.ProcessEnv = process.env): RootlessDaemon | undefined {
  const control = env[ENV_PORT_CONTROL];
  const forward = env[ENV_PORT_FORWARD];
  const configFile = env[ENV_CONFIG];
  for (const v of [ENV_PORT_CONTROL, ENV_PORT_FORWARD, ENV_CONFIG]) delete env[v];
  if (!control || !forward || !configFile) return undefined;
  // pasta brings the namespace's loopback up, slirp4netns does not: ports published on
  // 127.0.0.1 are held on it
  const lo = spawnSync("ip", ["link", "set", "lo", "up"], { encoding: "utf8" });
  if (lo.status !== 0) process.stderr.write(`cove daemon: could not bring up the loopback interface of the rootless namespace: ${lo.stderr || lo.error?.message}\n`);
  return { configFile, ports: new PortDriverClient(control, forward) };
}
