// A cove daemon in its own process, for the restart tests (the test kills it with SIGKILL):
// argv root socket runtimeRoot [import] [hold]. "import" imports the busybox fixture once the
// daemon listens; "hold" holds the reconcile of the containers until a line arrives on stdin.
// Everything the daemon logs goes to stdout, one "log: " line each; "held" says the reconcile
// waits, "imported" that the image is there.

import path from "node:path";
import { createInterface } from "node:readline";
import { startDaemon } from "../../src/daemon/index.js";
import { importBusybox } from "../images/fixtures.js";

const [root, socket, runtimeRoot, ...flags] = process.argv.slice(2) as [string, string, string, ...string[]];
const lines = createInterface({ input: process.stdin });
const nextLine = new Promise<void>((resolve) => lines.once("line", () => resolve()));
const daemon = await startDaemon({
  root,
  socket,
  // the test's directory: the pid file a SIGKILLed daemon leaves goes with it
  execRoot: path.dirname(runtimeRoot),
  runtimeRoot,
  log: (l) => process.stdout.write(`log: ${l}\n`),
  ...(flags.includes("hold")
    ? {
        beforeReconcile: async () => {
          process.stdout.write("held\n");
          await nextLine;
        },
      }
    : {}),
});
if (flags.includes("import")) {
  await importBusybox(daemon.images);
  process.stdout.write("imported\n");
}
// SIGTERM is a clean stop (the containers keep running, as with live restore); SIGKILL the crash
process.once("SIGTERM", () => {
  void daemon.close().finally(() => process.exit(0));
});
