// The end of a test that ran a daemon on a private state root: every container removed, the
// daemon closed, whatever is still mounted under the test's directory unmounted (deepest first),
// the parent cgroups of daemons rooted there removed when empty, and the directory removed, even
// when an earlier step failed.

import { existsSync, readdirSync, rmdirSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { instanceLayout } from "../../src/common/instance.js";
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
      removeParentCgroups(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  }
}

/**
 * The parent cgroups (/cove-<tag>) of daemons rooted in dir, when empty: a daemon keeps its parent
 * between containers and removes it when it closes, so one the test killed leaves it behind.
 */
export function removeParentCgroups(dir: string): void {
  const roots: string[] = [dir];
  for (let depth = 0, level = [dir]; depth < 2; depth++) {
    level = level.flatMap((d) => {
      try {
        return readdirSync(d, { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => path.join(d, e.name));
      } catch {
        return [];
      }
    });
    roots.push(...level);
  }
  const hierarchies = existsSync("/sys/fs/cgroup/cgroup.controllers") ? ["/sys/fs/cgroup"] : readdirSync("/sys/fs/cgroup").map((h) => path.join("/sys/fs/cgroup", h));
  for (const root of roots) {
    const parent = instanceLayout(root).cgroupParent;
    for (const h of hierarchies) {
      try {
        rmdirSync(path.join(h, parent));
      } catch {
        // absent, or still holding a container's cgroup: a leak the test's own checks report
      }
    }
  }
}
