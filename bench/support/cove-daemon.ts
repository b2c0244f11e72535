// A private cove daemon for the engine benchmark, in its own process so that its memory and CPU
// can be measured (and profiled with node --cpu-prof) apart from the benchmark's:
//
//   node dist/bench/support/cove-daemon.js ROOT SOCKET RUNTIME_ROOT
//
// It serves until SIGTERM or SIGINT, then closes (containers keep running: the benchmark removes
// them through the API first, and sweeps whatever is left).

import { startDaemon } from "../../src/daemon/index.js";

const [root, socket, runtimeRoot] = process.argv.slice(2);
if (!root || !socket || !runtimeRoot) {
  process.stderr.write("usage: cove-daemon.js ROOT SOCKET RUNTIME_ROOT\n");
  process.exit(2);
}
const daemon = await startDaemon({ root, socket, runtimeRoot, log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`) });
let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  void daemon.close().finally(() => process.exit(0));
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
