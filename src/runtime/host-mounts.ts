// A container without a mount namespace of its own shares its caller's: the mounts its config
// asks for are made on a bind of its root filesystem in that namespace, and outlive its
// processes. The runtime counts the mounts stacked on the root filesystem before create and
// detaches the ones above that count when the container goes, which takes every mount made
// beneath them along.

import { readFileSync, realpathSync } from "node:fs";
import { fromErrno, isErrno } from "../common/errors.js";
import { addon } from "../native/addon.js";

/** mountinfo escapes space, tab, newline and backslash in paths as octal. */
function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** How many mounts are stacked on exactly this mount point in the given mountinfo text. */
export function countMountsAt(mountPoint: string, mountinfo: string): number {
  let n = 0;
  for (const line of mountinfo.split("\n")) {
    const point = line.split(" ")[4];
    if (point !== undefined && unescapeMountPath(point) === mountPoint) n++;
  }
  return n;
}

/** The root filesystem as mountinfo names it (symlinks resolved). */
export function realRootfs(rootfs: string): string {
  try {
    return realpathSync(rootfs);
  } catch (err) {
    throw fromErrno(err, `resolving the root filesystem ${rootfs}`);
  }
}

/** The mount point that holds path (the longest mount point it is at or under) in the given mountinfo text. */
export function mountPointOf(p: string, mountinfo: string): string {
  let best = "/";
  for (const line of mountinfo.split("\n")) {
    const raw = line.split(" ")[4];
    if (raw === undefined) continue;
    const point = unescapeMountPath(raw);
    if ((p === point || p.startsWith(point.endsWith("/") ? point : `${point}/`)) && point.length > best.length) best = point;
  }
  return best;
}

export function mountsAt(mountPoint: string): number {
  return countMountsAt(mountPoint, readFileSync("/proc/self/mountinfo", "utf8"));
}

/** Detaches the mounts stacked on mountPoint above the first `keep`, topmost first. */
export function detachMountsAbove(mountPoint: string, keep: number): void {
  for (let n = mountsAt(mountPoint); n > keep; n--) {
    try {
      addon().umount2(mountPoint, addon().constants.MNT_DETACH);
    } catch (err) {
      // EINVAL/ENOENT: nothing mounted there any more (someone else unmounted it)
      if (isErrno(err, "EINVAL", "ENOENT")) return;
      throw fromErrno(err, `detaching the container mounts on ${mountPoint}`);
    }
  }
}
