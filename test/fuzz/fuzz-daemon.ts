// The daemon the fuzzer drives, in its own process so that a crash is seen as a crash:
// argv root socket execRoot resolvConf. The harness runs it inside a fresh network namespace
// (unshare -n) with only loopback up, so no fuzzed pull, push, login or remote build can reach
// anything beyond this machine, and its bridge and firewall chains vanish with it.
// Prints "routes <JSON list>" once it listens, "ready" once the busybox fixture is imported, and
// every log line as "log: ...". SIGTERM removes its containers and networks, then closes.

import { startDaemon } from "../../src/daemon/index.js";
import { importBusybox } from "../images/fixtures.js";

const [root, socket, execRoot, resolvConf] = process.argv.slice(2) as [string, string, string, string];
const daemon = await startDaemon({
  root,
  socket,
  execRoot,
  log: (l) => process.stdout.write(`log: ${l.replace(/\n/g, "\nlog: ")}\n`),
  network: { defaultBridge: { name: "fzbr0", subnet: "10.250.0.0/24" }, hostResolvConf: resolvConf, addressPools: [{ base: "10.251.0.0/16", size: 24 }] },
  // no nameserver beyond the daemon's own: the namespace has no route out anyway
  dnsPort: 53,
});
process.stdout.write(`routes ${JSON.stringify(daemon.router.list())}\n`);
await daemon.reconciled;
await importBusybox(daemon.images);
process.stdout.write("ready\n");

process.once("SIGTERM", () => {
  void (async () => {
    // each step said, so a stop that hangs shows where
    try {
      for (const c of await daemon.containers.list({ all: true })) await daemon.containers.remove(c.Id, { force: true, volumes: true }).catch(() => undefined);
      process.stdout.write("stop: containers removed\n");
      await daemon.network?.uninstall();
      process.stdout.write("stop: network uninstalled\n");
    } finally {
      await daemon.close();
      process.stdout.write("stop: closed\n");
      process.exit(0);
    }
  })();
});
