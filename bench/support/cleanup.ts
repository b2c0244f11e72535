// The end of a scale benchmark: its temp directory removed unless something is still mounted in
// it, and Ctrl-C (or SIGTERM) turned into the same cleanup before the process exits.

import { rm } from "node:fs/promises";
import { mountsUnder } from "../../test/support/dockerd.js";

/** Removes dir, never recursively through something still mounted (then it is kept and named). */
export async function removeUnlessMounted(dir: string): Promise<void> {
  const left = await mountsUnder(dir);
  if (left.length > 0) console.error(`left mounted (and ${dir} kept): ${left.slice(0, 5).join(", ")}${left.length > 5 ? ", ..." : ""}`);
  else await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * On SIGINT or SIGTERM: interrupted() first (the clients stop taking work), then the cleanup, then
 * exit 130. Returns what takes the handlers off again (the run's own end).
 */
export function cleanUpOnSignal(interrupted: () => void, cleanup: () => Promise<void>): () => void {
  const onSignal = () => {
    interrupted();
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  };
}
