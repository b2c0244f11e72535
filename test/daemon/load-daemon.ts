// A cove daemon in its own process for the load tests and the soak benchmark, so that its memory
// and open fds can be read from /proc apart from the client's:
//
//   node load-daemon.js ROOT SOCKET [--bip CIDR] [--import]
//
// Everything else (exec root, bridge name, firewall tag, cgroup parent) follows from ROOT, as
// for `cove daemon --root ROOT`. --bip gives the default bridge's subnet (a free one the test
// chose); without it the daemon has no networking. --import imports the busybox fixture once the
// daemon listens and prints "imported". Every log line goes to stdout as "log: ...".
//
// With an IPC channel (the parent spawned it with "ipc"), it answers {memory: true} with its
// process.memoryUsage() after a full collection (node --expose-gc), and {stop: "uninstall"} by
// removing what its network made on the host (bridge, firewall chains) before closing. SIGTERM is
// a plain close: the containers keep running, as on a restart.

import { startDaemon, type Daemon } from "../../src/daemon/index.js";
import { importBusybox } from "../images/fixtures.js";

const [root, socket, ...flags] = process.argv.slice(2);
if (!root || !socket) {
  process.stderr.write("usage: load-daemon.js ROOT SOCKET [--bip CIDR] [--import]\n");
  process.exit(2);
}
const bipAt = flags.indexOf("--bip");
const bip = bipAt >= 0 ? flags[bipAt + 1] : undefined;

// a stop that comes while the daemon starts (its parent gave up waiting for "ready") is kept
// and carried out once it is up: dropping it would leave the chains of a networked daemon
let pendingStop: "uninstall" | "close" | undefined;
let onStop = (how: "uninstall" | "close") => void (pendingStop ??= how);
process.once("SIGTERM", () => onStop("close"));
const gc = (globalThis as { gc?: () => void }).gc;
process.on("message", (m: { memory?: boolean; stop?: "uninstall" | "close" }) => {
  if (m.memory) {
    gc?.();
    process.send?.({ memory: process.memoryUsage() });
  }
  if (m.stop) onStop(m.stop);
});

const daemon: Daemon = await startDaemon({
  root,
  socket,
  log: (l) => process.stdout.write(`log: ${l}\n`),
  ...(bip ? { network: { defaultBridge: { subnet: bip } } } : {}),
});
await daemon.reconciled;
if (flags.includes("--import")) {
  await importBusybox(daemon.images);
  process.stdout.write("imported\n");
}
process.stdout.write("ready\n");

let closing = false;
async function close(uninstall: boolean): Promise<void> {
  if (closing) return;
  closing = true;
  let code = 0;
  try {
    if (uninstall) await daemon.network?.uninstall();
  } catch (err) {
    // the parent removes what is left on its side; the exit status tells it to
    process.stdout.write(`uninstall failed: ${(err as Error).message}\n`);
    code = 1;
  } finally {
    await daemon.close();
    process.exit(code);
  }
}
onStop = (how) => void close(how === "uninstall");
if (pendingStop) onStop(pendingStop);
