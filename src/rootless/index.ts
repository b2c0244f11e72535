// Rootless cove: a daemon for a user who is not root, in a user namespace mapped from the
// user's subordinate ids, with its own network namespace and a port driver on the host.

export { rootlessDaemonMain, needsLauncher, childDaemonArgs } from "./launcher.js";
export { rootlessDaemonFromEnv, type RootlessDaemon } from "./daemon-side.js";
export { rootlessPaths, ensureRuntimeDir, runtimeDir, type RootlessPaths } from "./paths.js";
export { PortDriver, PortDriverClient, type Exposure, type HostPortHold } from "./ports.js";
export { parseSubIds, subIdRange, type SubIdRange } from "./subids.js";
