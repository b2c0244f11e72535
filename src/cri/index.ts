// Public entry of the Kubernetes CRI server (runtime.v1 over gRPC on a unix socket beside the
// daemon's API socket), and the hook `cove daemon` starts it through.

import type { CniSettings, Daemon, DaemonMainHooks } from "../daemon/index.js";
import { ENGINE_VERSION } from "../daemon/index.js";
import { startCriServer } from "./server.js";

export { startCriServer, type CriServer, type CriSettings } from "./server.js";
export { CRI_API_VERSION } from "./runtime.js";

/** What daemonMain calls unless the CRI server is off (`--cri-socket none`). */
export const criHooks: DaemonMainHooks = {
  startCri: (daemon: Daemon, socket: string, cni: CniSettings) => startCriServer(daemon, { socket, version: ENGINE_VERSION, cni }),
};
