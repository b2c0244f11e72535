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
import { addon } from "../native/addon.js";

export const ChangeKind = { Modify: 0, Add: 1, Delete: 2 } as const;

export interface Change {
  Path: string;
  Kind: 0 | 1 | 2;
}

/** Paths dockerd's init layer holds: created as mount points, not user changes. */
export const INIT_LAYER_PATHS = new Set(["/.dockerenv", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab", "/dev", "/dev/console", "/dev/pts", "/dev/shm", "/proc", "/sys"]);
/** Parents of init-layer paths: skipped when added only to hold those. */
const INIT_LAYER_PARENTS = new Set(["/etc", "/dev"]);

/** Whether an added entry is a mount point cove made (an empty file or directory at an init-layer path). */
export async function isInitLayerEntry(p: string, abs: string, st?: BigIntStats, list: (dir: string) => Promise<string[]> = (d) => readdir(d)): Promise<boolean> {
  if (!INIT_LAYER_PATHS.has(p)) return false;
  const s = st ?? (await lstat(abs, { bigint: true }));
  if (s.isFile()) return s.size === 0n;
  if (s.isDirectory()) return (await list(abs)).length === 0;
  return false;
}

export interface ChangesFs {
  lstat(p: string): Promise<BigIntStats>;
  readdir(p: string): Promise<string[]>;
  /** The trusted.overlay.opaque xattr of a directory, "" when unset. */
  opaque(p: string): string;
}

const nodeFs: ChangesFs = {
  lstat: (p) => lstat(p, { bigint: true }),
  readdir: (p) => readdir(p),
  opaque: (p) => addon().lgetxattr(p, "trusted.overlay.opaque")?.toString() ?? "",
};

function isWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

class ChangeWalker {
  constructor(
    private readonly upper: string,
    private readonly lowers: string[],
    private readonly fs: ChangesFs,
  ) {}

  /** The image's entry at p (the nearest layer that has it decides; a whiteout there hides it). */
  private async lower(p: string): Promise<BigIntStats | undefined> {
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
      } catch {
        // not in this layer
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
      } catch {
        // not in this layer
      }
    }
    const out: string[] = [];
    for (const n of names) if (await this.lower(path.posix.join(p, n))) out.push(n);
    return out;
  }

  /** Walks directory p of the upper; `hidden` = the image's content here is hidden (opaque or added dir). */
  async dir(p: string, hidden: boolean, out: Change[]): Promise<void> {
    const abs = path.join(this.upper, p);
    const names = (await this.fs.readdir(abs)).sort(byteOrder);
    for (const n of names) {
      const cp = path.posix.join(p, n);
      const st = await this.fs.lstat(path.join(abs, n));
      if (isWhiteout(st)) {
        if (!hidden && (await this.lower(cp))) out.push({ Path: cp, Kind: ChangeKind.Delete });
        continue;
      }
      const below = hidden ? undefined : await this.lower(cp);
      if (!below) {
        if (await isInitLayerEntry(cp, path.join(abs, n), st, (dir) => this.fs.readdir(dir))) continue;
        const mark = out.length;
        out.push({ Path: cp, Kind: ChangeKind.Add });
        if (st.isDirectory()) {
          await this.dir(cp, true, out);
          // a directory cove added only to hold its mount points
          if (INIT_LAYER_PARENTS.has(cp) && out.length === mark + 1) out.pop();
        }
        continue;
      }
      if (st.isDirectory() && below.isDirectory()) {
        const opaque = this.fs.opaque(path.join(abs, n)) === "y";
        const attrs = st.mode !== below.mode || st.uid !== below.uid || st.gid !== below.gid;
        const mark = out.length;
        out.push({ Path: cp, Kind: ChangeKind.Modify });
        await this.dir(cp, opaque, out);
        if (opaque) for (const gone of await this.lowerNames(cp)) if (!(await this.has(cp, gone))) out.push({ Path: path.posix.join(cp, gone), Kind: ChangeKind.Delete });
        // a directory copied up only because something below it changed: reported only then
        if (!attrs && !opaque && out.length === mark + 1) out.pop();
        continue;
      }
      out.push({ Path: cp, Kind: ChangeKind.Modify });
      if (st.isDirectory()) await this.dir(cp, true, out);
    }
  }

  private async has(dir: string, name: string): Promise<boolean> {
    try {
      const st = await this.fs.lstat(path.join(this.upper, dir, name));
      return !isWhiteout(st);
    } catch {
      return false;
    }
  }
}

/** The changes recorded in an overlay upper directory, in path order (parents before children). */
export async function overlayChanges(upper: string, lowers: string[], fs: ChangesFs = nodeFs): Promise<Change[]> {
  const out: Change[] = [];
  const w = new ChangeWalker(upper, lowers, fs);
  await w.dir("/", fs.opaque(upper) === "y", out);
  return out;
}
