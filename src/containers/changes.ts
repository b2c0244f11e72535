// `docker diff`: the changes of a container's writable layer, read from its overlay upper
// directory against the image's layers (the lower directories, nearest first).
//
// Kind 0 = modified, 1 = added, 2 = deleted, as moby's archive.Change. An overlay whiteout (a
// 0:0 character device) is a deletion of what it hides; an opaque directory (trusted.overlay.opaque
// = "y") hides everything below it in the image, so its entries are added and whatever the image
// had there and the upper does not is deleted. A directory that only holds changes is reported as
// modified once, before them (moby records the parent of every addition and deletion).
//
// dockerd keeps the mount points it makes (/etc/hosts, /etc/hostname, /etc/resolv.conf, /dev,
// /proc, /sys, ...) in an init layer under the container's layer, so they never show up as
// changes nor go into a commit. cove creates the missing ones in the container's layer: an empty
// file or directory added at one of those paths is skipped here and by commit.

import type { BigIntStats } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { isErrno } from "../common/errors.js";
import { overlayXattrPrefix } from "../common/userns.js";
import { Dir } from "../fsroot/index.js";
import { addon } from "../native/addon.js";

export const ChangeKind = { Modify: 0, Add: 1, Delete: 2 } as const;

export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

/** Paths dockerd's init layer holds: created as mount points, not user changes. */
export const INIT_LAYER_PATHS = new Set(["/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab", "/dev", "/dev/console", "/dev/pts", "/dev/shm", "/proc", "/sys"]);
/** Parents of init-layer paths: skipped when added only to hold those. */
export const INIT_LAYER_PARENTS = new Set(["/etc", "/dev"]);

/** The fields of an entry's status the walk reads (fsroot's FileStat and Node's BigIntStats have them). */
export type EntryStat = Pick<BigIntStats, "mode" | "uid" | "gid" | "rdev" | "size" | "isDirectory" | "isFile" | "isCharacterDevice" | "isSymbolicLink">;

/**
 * Whether an added entry is one cove made (an empty file or directory at an init-layer path, the
 * /etc/mtab link); list gives a directory's names (read through a handle on it).
 */
export async function isInitLayerEntry(p: string, st: Pick<EntryStat, "size" | "isDirectory" | "isFile" | "isSymbolicLink">, list: () => string[] | Promise<string[]>): Promise<boolean> {
  if (!INIT_LAYER_PATHS.has(p)) return false;
  if (st.isSymbolicLink()) return p === "/etc/mtab";
  if (st.isFile()) return st.size === 0n;
  if (st.isDirectory()) return (await list()).length === 0;
  return false;
}

/** A directory of the upper layer held open; names are single components of it (fsroot's Dir is one). */
export interface LayerDir {
  list(): string[];
  lstat(name: string): EntryStat;
  child(name: string): LayerDir;
  getXattr(name: string, attr: string): Buffer | null;
  close(): void;
}

/**
 * What the walk reads. The upper directory is the container's: it is walked through directory
 * handles, never by path. The lower directories are the image's layers, the daemon's own: by path.
 */
export interface ChangesFs {
  /** The upper directory (a path the daemon made), held open. */
  openUpper(p: string): LayerDir;
  lstat(p: string): Promise<EntryStat>;
  readdir(p: string): Promise<string[]>;
  /** The trusted.overlay.opaque xattr of a directory, "" when unset (the upper root's too). */
  opaque(p: string): string;
}

const nodeFs: ChangesFs = {
  openUpper: (p) => Dir.open(p),
  lstat: (p) => lstat(p, { bigint: true }),
  readdir: (p) => readdir(p),
  opaque: (p) => {
    try {
      return addon().lgetxattr(p, `${overlayXattrPrefix()}opaque`)?.toString() ?? "";
    } catch (err) {
      if (isErrno(err, "ENOTSUP", "EOPNOTSUPP")) return ""; // a filesystem without user.* xattrs (tmpfs before 6.6)
      throw err;
    }
  },
};

/** fuse-overlayfs (a rootless daemon's fallback) marks an opaque directory with this attribute, and with this file in it. */
const FUSE_OPAQUE_XATTR = "user.fuseoverlayfs.opaque";
const FUSE_OPAQUE_FILE = ".wh..wh..opq";

/** Whether fuse-overlayfs made the directory n of dir opaque. */
function fuseOpaque(dir: LayerDir, n: string): boolean {
  if (dir.getXattr(n, FUSE_OPAQUE_XATTR)?.toString() === "y") return true;
  try {
    const sub = dir.child(n);
    try {
      return sub.lstat(FUSE_OPAQUE_FILE).isFile();
    } finally {
      sub.close();
    }
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR", "ELOOP")) return false;
    throw err;
  }
}

function isWhiteout(st: EntryStat): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

class ChangeWalker {
  constructor(
    private readonly lowers: string[],
    private readonly fs: ChangesFs,
    private readonly owner?: (uid: number, gid: number) => { uid: number; gid: number },
  ) {}

  /** The image's entry at p (the nearest layer that has it decides; a whiteout there hides it). */
  private async lower(p: string): Promise<EntryStat | undefined> {
    for (const l of this.lowers) {
      try {
        const st = await this.fs.lstat(path.join(l, p));
        return isWhiteout(st) ? undefined : st;
      } catch (err) {
        if (!isErrno(err, "ENOENT", "ENOTDIR")) throw err;
      }
      // a layer whose parent directory is opaque hides the layers below it
      if (await this.opaqueParent(l, p)) return undefined;
    }
    return undefined;
  }

  private async opaqueParent(layer: string, p: string): Promise<boolean> {
    for (let d = path.posix.dirname(p); d !== "/"; d = path.posix.dirname(d)) {
      try {
        if ((await this.fs.lstat(path.join(layer, d))).isDirectory() && this.fs.opaque(path.join(layer, d)) === "y") return true;
      } catch (err) {
        if (!isErrno(err, "ENOENT", "ENOTDIR")) throw err; // else: not in this layer
      }
    }
    return false;
  }

  /** Names the image has in directory p (merged over the layers). */
  private async lowerNames(p: string): Promise<string[]> {
    const names = new Set<string>();
    for (const l of this.lowers) {
      try {
        for (const n of await this.fs.readdir(path.join(l, p))) names.add(n);
      } catch (err) {
        if (!isErrno(err, "ENOENT", "ENOTDIR")) throw err; // else: not in this layer
      }
    }
    const out: string[] = [];
    for (const n of names) if (await this.lower(path.posix.join(p, n))) out.push(n);
    return out;
  }

  /**
   * Walks the upper's directory dir, p in the container; `hidden` = the image's content here is
   * hidden (opaque or added dir).
   */
  async dir(dir: LayerDir, p: string, hidden: boolean, out: Change[]): Promise<void> {
    const names = dir.list().sort(byteOrder);
    for (const n of names) {
      const cp = path.posix.join(p, n);
      let st: EntryStat;
      try {
        st = dir.lstat(n);
      } catch (err) {
        if (isErrno(err, "ENOENT")) continue; // removed meanwhile
        throw err;
      }
      // fuse-overlayfs's opaque marker (fuseOpaque), not the container's file
      if (n === FUSE_OPAQUE_FILE && st.isFile()) continue;
      if (isWhiteout(st)) {
        if (!hidden && (await this.lower(cp))) out.push({ Path: cp, Kind: ChangeKind.Delete });
        continue;
      }
      const below = hidden ? undefined : await this.lower(cp);
      if (!below) {
        if (await isInitLayerEntry(cp, st, () => listChild(dir, n))) continue;
        const mark = out.length;
        out.push({ Path: cp, Kind: ChangeKind.Add });
        if (st.isDirectory()) {
          await this.sub(dir, n, cp, true, out);
          // a directory cove added only to hold its mount points
          if (INIT_LAYER_PARENTS.has(cp) && out.length === mark + 1) out.pop();
        }
        continue;
      }
      if (st.isDirectory() && below.isDirectory()) {
        const opaque = dir.getXattr(n, `${overlayXattrPrefix()}opaque`)?.toString() === "y" || fuseOpaque(dir, n);
        // a user namespace's upper layer holds host ids: compared as the container sees them
        const own = this.owner ? this.owner(Number(st.uid), Number(st.gid)) : { uid: Number(st.uid), gid: Number(st.gid) };
        const attrs = st.mode !== below.mode || own.uid !== Number(below.uid) || own.gid !== Number(below.gid);
        const mark = out.length;
        out.push({ Path: cp, Kind: ChangeKind.Modify });
        const names = await this.sub(dir, n, cp, opaque, out);
        if (opaque && names) {
          const upper = new Set(names);
          for (const gone of await this.lowerNames(cp)) if (!upper.has(gone)) out.push({ Path: path.posix.join(cp, gone), Kind: ChangeKind.Delete });
        }
        // a directory copied up only because something below it changed: reported only then
        if (!attrs && !opaque && out.length === mark + 1) out.pop();
        continue;
      }
      out.push({ Path: cp, Kind: ChangeKind.Modify });
      if (st.isDirectory()) await this.sub(dir, n, cp, true, out);
    }
  }

  /**
   * Walks the subdirectory n of dir (through a handle on it, never following a symlink); returns
   * the names it holds that are not whiteouts, or undefined when it is no longer a directory.
   */
  private async sub(dir: LayerDir, n: string, cp: string, hidden: boolean, out: Change[]): Promise<string[] | undefined> {
    let sub: LayerDir;
    try {
      sub = dir.child(n);
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR", "ELOOP")) return undefined; // changed meanwhile
      throw err;
    }
    try {
      await this.dir(sub, cp, hidden, out);
      return sub.list().filter((name) => {
        try {
          return !isWhiteout(sub.lstat(name));
        } catch (err) {
          if (isErrno(err, "ENOENT")) return false; // removed meanwhile
          throw err;
        }
      });
    } finally {
      sub.close();
    }
  }
}

function listChild(dir: LayerDir, name: string): string[] {
  const sub = dir.child(name);
  try {
    return sub.list();
  } finally {
    sub.close();
  }
}

/**
 * The changes recorded in an overlay upper directory, in path order (parents before children);
 * owner: the upper's owners as the lower layers record them (a container in a user namespace).
 */
export async function overlayChanges(upper: string, lowers: string[], fs: ChangesFs = nodeFs, owner?: (uid: number, gid: number) => { uid: number; gid: number }): Promise<Change[]> {
  const out: Change[] = [];
  const w = new ChangeWalker(lowers, fs, owner);
  const root = fs.openUpper(upper);
  try {
    // the upper directory itself is the daemon's: its own xattr read by path
    await w.dir(root, "/", fs.opaque(upper) === "y", out);
  } finally {
    root.close();
  }
  return out;
}
