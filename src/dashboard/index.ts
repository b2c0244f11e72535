// Public entry of the web dashboard: startDashboard (the page and its Engine API forwarding, on a
// listener of its own beside the daemon's socket), and the hook `cove daemon` starts it through.

import type { Daemon, DaemonMainHooks, DashboardSettings } from "../daemon/index.js";
import { startDashboard } from "./server.js";

export { startDashboard, FORWARDED, API_HEADER, type Dashboard, type DashboardDaemon } from "./server.js";

/** What daemonMain calls when the dashboard is on (`cove daemon --dashboard`, daemon.json's "dashboard"). */
export const dashboardHooks: DaemonMainHooks = {
  startDashboard: (daemon: Daemon, settings: DashboardSettings) => startDashboard(daemon, settings),
};
