// The one module that performs mounts. Snapshot storage returns Mount descriptions; this turns
// them into mount(2) calls through the native addon (and undoes them).

import { closeSync, mkdirSync, readdirSync, rmdirSync } from "node:fs";
import path from "node:path";
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

/** A user namespace's mapping as uid_map / gid_map text ("0 100000 65536\n"). */
export interface IdmapText {
  uidMap: string;
  gidMap: string;
}

/**
 * Mounts an overlay description at target with its lower layers seen through idmapped mounts
 * (MOUNT_ATTR_IDMAP, Linux 5.12+; overlayfs takes idmapped layers since 5.19): a layer's file
 * owned by uid 0 shows as the mapping's host id of 0, so the layers stay shared with containers
 * of any mapping. Each layer gets a detached clone (open_tree) carrying the mapping, attached in
 * staging (a directory of the daemon's, made here and emptied again) only while the overlay is
 * mounted: the overlay holds its own references to its layers, so the clones are detached at
 * once. The upper and work directories are used as they are (the kernel refuses an idmapped upper
 * layer to a mounter outside the mapping): their owners are host ids. A bind description (a
 * snapshot without layers) is mounted as it is.
 */
export function mountIdmapped(mounts: Mount[], target: string, idmap: IdmapText, staging: string): void {
  const overlay = mounts.find((m) => m.type === "overlay");
  if (!overlay) {
    mountAll(mounts, target);
    return;
  }
  const abs = (p: string) => (overlay.cwd && !path.isAbsolute(p) ? path.join(overlay.cwd, p) : p);
  const lowers: string[] = [];
  const rest: string[] = [];
  for (const o of overlay.options) {
    if (o.startsWith("lowerdir=")) lowers.push(...o.slice("lowerdir=".length).split(":").map(abs));
    else if (o.startsWith("upperdir=") || o.startsWith("workdir=")) rest.push(`${o.slice(0, o.indexOf("=") + 1)}${abs(o.slice(o.indexOf("=") + 1))}`);
    else rest.push(o);
  }
  clearIdmapStaging(staging);
  mkdirSync(staging, { recursive: true, mode: 0o700 });
  const at = addon().at;
  const attached: string[] = [];
  let userns: number | undefined;
  try {
    try {
      userns = addon().usernsCreate(idmap.uidMap, idmap.gidMap);
    } catch (err) {
      throw fromErrno(err, "creating a user namespace for the idmapped layers");
    }
    lowers.forEach((layer, i) => {
      const point = path.join(staging, String(i));
      mkdirSync(point, { mode: 0o700 });
      let tree: number | undefined;
      try {
        tree = addon().openTree(at.AT_FDCWD, layer, at.OPEN_TREE_CLONE);
        addon().mountSetattr(tree, "", at.AT_EMPTY_PATH, at.MOUNT_ATTR_IDMAP, 0, 0, userns);
        addon().moveMount(tree, "", at.AT_FDCWD, point, at.MOVE_MOUNT_F_EMPTY_PATH);
        attached.push(point);
      } catch (err) {
        if (isErrno(err, "EINVAL", "EPERM", "ENOSYS", "EOPNOTSUPP")) throw idmapUnsupported(`making an idmapped mount of layer ${layer}`, err);
        throw fromErrno(err, `making an idmapped mount of layer ${layer}`);
      } finally {
        if (tree !== undefined) closeSync(tree);
      }
    });
    try {
      mountOne({ type: "overlay", source: overlay.source, options: [`lowerdir=${lowers.map((_, i) => String(i)).join(":")}`, ...rest], cwd: staging }, target);
    } catch (err) {
      // overlayfs before Linux 5.19 refuses idmapped layers
      if (isErrno(err, "EINVAL") || (err instanceof CoveError && err.errno === "EINVAL")) throw idmapUnsupported("mounting an overlay on idmapped layers", err);
      throw err;
    }
  } finally {
    if (userns !== undefined) closeSync(userns);
    for (const p of attached) {
      try {
        addon().umount2(p, addon().constants.MNT_DETACH);
      } catch (err) {
        ignored(`detach the idmapped layer ${p}`, err);
      }
    }
    clearIdmapStaging(staging);
  }
}

/** The code of the error mountIdmapped throws when the kernel or the layers' filesystem refuses idmapped layers. */
export const IDMAP_UNSUPPORTED = "snapshot.idmap-unsupported";

function idmapUnsupported(what: string, cause: unknown): CoveError {
  return new CoveError("unsupported", `${what}: ${(cause as Error).message}`, {
    code: IDMAP_UNSUPPORTED,
    cause,
    hint: "idmapped layers need Linux 5.19+ and a filesystem that allows idmapped mounts (ext4, xfs, btrfs, tmpfs)",
  });
}

/**
 * Empties an idmapped mount's staging directory: a daemon that died while mounting may have left
 * layers attached there, which are detached (never deleted through) before the directories go.
 */
export function clearIdmapStaging(staging: string): void {
  let names: string[];
  try {
    names = readdirSync(staging);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  for (const name of names) {
    const p = path.join(staging, name);
    unmountAll(p, addon().constants.MNT_DETACH);
    rmdirSync(p);
  }
  rmdirSync(staging);
}
