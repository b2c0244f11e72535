// The daemon's side of rootless mode: run inside the launcher's namespaces (launcher.ts), it
// reads its configuration from the user's directory, not root's /etc/cove, and publishes ports
// on the host through the launcher's port driver.

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
  return { configFile, ports: new PortDriverClient(control, forward) };
}
