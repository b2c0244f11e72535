// The end of a test that ran a daemon on a private state root: every container removed, the
// daemon closed, whatever is still mounted under the test's directory unmounted (deepest first),
// and the directory removed, even when an earlier step failed.

import { readFile, rm } from "node:fs/promises";
import { unmountAll } from "../../src/snapshots/index.js";

interface ClosableDaemon {
  containers: { list(opts: { all: boolean }): Promise<{ Id: string }[]>; remove(id: string, opts: { force: boolean }): Promise<void> };
  close(): Promise<void>;
}

export async function tearDownDaemon(daemon: ClosableDaemon | undefined, dir: string | undefined): Promise<void> {
  try {
    if (daemon) {
      for (const c of await daemon.containers.list({ all: true })) await daemon.containers.remove(c.Id, { force: true }).catch(() => undefined);
      await daemon.close();
    }
  } finally {
    if (dir) {
      const mounts = (await readFile("/proc/self/mountinfo", "utf8").catch(() => ""))
        .split("\n")
        .map((l) => l.split(" ")[4] ?? "")
        .filter((m) => m.startsWith(dir))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) {
        try {
          unmountAll(m, 2);
        } catch {
          // keep going: the rest may still come off
        }
      }
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  }
}
