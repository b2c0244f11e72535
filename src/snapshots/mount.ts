// The one module that performs mounts. Snapshot storage returns Mount descriptions; this turns
// them into mount(2) calls through the native addon (and undoes them).

import { CoveError, fromErrno, invalid, isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { addon } from "../native/addon.js";

export interface Mount {
  /** Filesystem type ("overlay") or "bind". */
  type: string;
  /** What to mount: a path for binds, a label ("overlay") otherwise. */
  source: string;
  /** mount(8)-style options: flags (ro, nosuid, bind, rbind...) and filesystem data. */
  options: string[];
  /**
   * Directory that relative paths in the options are resolved against (used for overlays with
   * many layers, whose absolute lowerdir list would not fit in the one-page option limit).
   */
  cwd?: string;
}

interface FlagSpec {
  set?: number;
  clear?: number;
}

function flagTable(): Record<string, FlagSpec> {
  const k = addon().constants;
  return {
    ro: { set: k.MS_RDONLY },
    rw: { clear: k.MS_RDONLY },
    nosuid: { set: k.MS_NOSUID },
    suid: { clear: k.MS_NOSUID },
    nodev: { set: k.MS_NODEV },
    dev: { clear: k.MS_NODEV },
    noexec: { set: k.MS_NOEXEC },
    exec: { clear: k.MS_NOEXEC },
    noatime: { set: k.MS_NOATIME },
    nodiratime: { set: k.MS_NODIRATIME },
    relatime: { set: k.MS_RELATIME },
    strictatime: { set: k.MS_STRICTATIME },
    sync: { set: k.MS_SYNCHRONOUS },
    dirsync: { set: k.MS_DIRSYNC },
    nosymfollow: { set: k.MS_NOSYMFOLLOW },
    bind: { set: k.MS_BIND },
    rbind: { set: k.MS_BIND | k.MS_REC },
    defaults: {},
  };
}

/** Splits options into mount flags and the data string for the filesystem. */
export function parseOptions(options: string[]): { flags: number; data: string } {
  const table = flagTable();
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    const spec = table[o];
    if (spec) {
      if (spec.set) flags |= spec.set;
      if (spec.clear) flags &= ~spec.clear;
    } else data.push(o);
  }
  return { flags, data: data.join(",") };
}

/** Mounts one description at target. */
export function mountOne(m: Mount, target: string): void {
  const k = addon().constants;
  const parsed = parseOptions(m.options);
  const data = parsed.data;
  let flags = parsed.flags;
  const isBind = m.type === "bind" || (flags & k.MS_BIND) !== 0;
  try {
    if (isBind) {
      flags |= k.MS_BIND;
      addon().mount(m.source, target, null, flags & (k.MS_BIND | k.MS_REC), null, m.cwd ?? null);
      // bind mounts ignore other flags on the first call; apply them with a remount
      const rest = flags & ~(k.MS_BIND | k.MS_REC);
      if (rest !== 0) addon().mount(null, target, null, rest | k.MS_BIND | k.MS_REMOUNT, null);
      return;
    }
    addon().mount(m.source, target, m.type, flags, data === "" ? null : data, m.cwd ?? null);
  } catch (err) {
    if (isBind && (flags & ~(k.MS_BIND | k.MS_REC)) !== 0) {
      try {
        addon().umount2(target, k.MNT_DETACH);
      } catch (umountErr) {
        // EINVAL: nothing was mounted
        if (!isErrno(umountErr, "EINVAL", "ENOENT")) ignored(`unmount ${target} after its bind mount failed`, umountErr);
      }
    }
    const hint = isErrno(err, "EINVAL") && m.type === "overlay" ? "check the kernel log (dmesg) for overlayfs's reason" : undefined;
    throw fromErrno(err, `mounting ${m.type} ${m.source} on ${target}`, hint);
  }
}

/** Mounts every description at target, in order; on failure undoes the ones already made. */
export function mountAll(mounts: Mount[], target: string): void {
  if (mounts.length === 0) throw invalid(`nothing to mount on ${target}`, { code: "mount.empty" });
  let done = 0;
  try {
    for (const m of mounts) {
      mountOne(m, target);
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) {
      try {
        addon().umount2(target, addon().constants.MNT_DETACH);
      } catch {
        break;
      }
    }
    throw err;
  }
}

/**
 * Unmounts everything mounted at target (stacked mounts included) until it is no longer a mount
 * point. A target that does not exist or is not mounted is fine.
 */
export function unmountAll(target: string, flags = 0): void {
  for (let i = 0; i < 1000; i++) {
    try {
      addon().umount2(target, flags);
    } catch (err) {
      if (isErrno(err, "EINVAL", "ENOENT")) return;
      if (err instanceof CoveError) throw err;
      throw fromErrno(err, `unmounting ${target}`, isErrno(err, "EBUSY") ? "a process still uses it; stop it or unmount lazily (MNT_DETACH)" : undefined);
    }
  }
}
