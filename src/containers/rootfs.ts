// The mount descriptions of a container's rootfs: the overlay's directories, and the volatile
// option of an --rm container.

import { rmSync } from "node:fs";
import path from "node:path";
import type { Mount as SnapshotMount } from "../snapshots/index.js";

/**
 * A --rm container's rootfs mounts with overlayfs's "volatile" option: its writable layer is
 * thrown away at the exit, so the kernel need not sync it, and the unmount skips the syncfs of the
 * whole upper filesystem (the host's disk), which costs a `docker run --rm` tens of milliseconds
 * and up to seconds on a busy disk. The kernel leaves work/incompat/volatile in the work dir and
 * refuses a later mount while it is there: it is removed before each mount, which is safe because
 * cove unmounted the previous one itself or the host crashed, and an --rm container's writes need
 * not survive a crash. Undefined when there is no overlay to mount.
 */
export function volatileMounts(mounts: SnapshotMount[]): SnapshotMount[] | undefined {
  if (!mounts.some((m) => m.type === "overlay")) return undefined;
  const work = overlayDirs(mounts).WorkDir;
  if (work) rmSync(path.join(work, "work", "incompat", "volatile"), { recursive: true, force: true });
  return mounts.map((m) => (m.type === "overlay" && !m.options.includes("volatile") ? { ...m, options: [...m.options, "volatile"] } : m));
}

export function overlayDirs(mounts: SnapshotMount[]): Record<string, string> {
  const m = mounts.find((x) => x.type === "overlay");
  const out: Record<string, string> = {};
  if (!m) {
    const bind = mounts[0];
    if (bind) out.UpperDir = bind.source;
    return out;
  }
  const abs = (p: string) => (m.cwd && !path.isAbsolute(p) ? path.join(m.cwd, p) : p);
  for (const o of m.options) {
    const [k, v] = o.split("=", 2) as [string, string | undefined];
    if (v === undefined) continue;
    if (k === "lowerdir") out.LowerDir = v.split(":").map(abs).join(":");
    else if (k === "upperdir") out.UpperDir = abs(v);
    else if (k === "workdir") out.WorkDir = abs(v);
  }
  return out;
}
