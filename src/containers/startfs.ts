// What a start does to the files of a container's root and of its volumes before the runtime
// takes over: the working directory, the empty files that file bind mounts need as targets, and
// the staging mounts of volume subpaths. All of it goes through src/fsroot, because the container
// (a running one, or the image it comes from) controls every symlink in those trees: a path string
// joined onto the rootfs would be walked again by the kernel, which follows an `etc -> /host/dir`
// link onto the host.

import { closeSync, fstatSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, unlinkSync } from "node:fs";
import path from "node:path";
import { CoveError, isErrno, notFound } from "../common/errors.js";
import { bindMount, Dir } from "../fsroot/index.js";
import { addon } from "../native/addon.js";

/**
 * Makes the working directory inside the root as dockerd's SetupWorkingDirectory does: mkdir -p
 * with the root as "/" (symlinks in the way are followed inside it, never out), mode 0755, owned
 * by root whatever the container's user is: the daemon's root, or for a container in a user
 * namespace its root's host ids (rootOwner), given to the directory when the daemon made it.
 */
export function makeWorkingDir(root: Dir, workingDir: string, rootOwner?: { uid: number; gid: number }): void {
  const wd = path.posix.normalize(workingDir);
  try {
    const dir = root.mkdirAll(wd, 0o755);
    try {
      // the daemon's own ids (0) are nobody in the container: only what the image holds is mapped
      if (rootOwner && dir.stat().uid === 0n) dir.chownSelf(rootOwner.uid, rootOwner.gid);
    } finally {
      dir.close();
    }
  } catch (err) {
    if (!isErrno(err, "ENOTDIR", "EEXIST")) throw err;
    // dockerd's words when the directory itself is something else, mkdir's when a parent is
    const details = { code: "container.workdir", cause: err, field: "Config.WorkingDir" };
    if (isNonDirectory(root, wd)) throw new CoveError("system", `Cannot mkdir: ${wd} is not a directory`, details);
    throw new CoveError("system", `mkdir ${wd}: not a directory`, details);
  }
}

function isNonDirectory(root: Dir, p: string): boolean {
  let fd: number;
  try {
    fd = root.openInRoot(p, addon().at.O_PATH);
  } catch {
    // only picks the words of an error already being reported: a path that does not open is
    // not the non-directory dockerd names, so mkdir's words are used
    return false;
  }
  try {
    return !fstatSync(fd).isDirectory();
  } finally {
    closeSync(fd);
  }
}

/**
 * What dockerd's init layer puts in every container, made when missing: /.dockerenv (which tools
 * read to tell they run in a container), the mount points of /etc/hosts, /etc/hostname,
 * /etc/resolv.conf and /dev/console as empty files (0755, as dockerd makes them), /proc, /sys,
 * /dev/pts and /dev/shm as directories, and /etc/mtab as a link to /proc/mounts. They land in the
 * container's own layer; diff and commit leave them out (changes.ts, INIT_LAYER_PATHS). An entry
 * the image already has stays as it is; a parent that is not a directory is the runtime's to
 * report when it mounts there.
 */
export function makeInitEntries(root: Dir, rootOwner?: { uid: number; gid: number }): void {
  makeEntries(root);
  if (rootOwner) giveToRoot(root, ["/dev", "/etc", ...INIT_ENTRIES.map(([p]) => p)], rootOwner);
}

/**
 * In a container with a user namespace, what the daemon made (owned by host uid 0, which is
 * nobody there) goes to the container's root, as dockerd makes its init layer as the remapped root.
 */
function giveToRoot(root: Dir, paths: string[], owner: { uid: number; gid: number }): void {
  for (const p of paths) {
    if (root.lstatBeneath(p.slice(1))?.uid !== 0n) continue;
    let parent: Dir;
    try {
      parent = root.dirInRoot(path.posix.dirname(p));
    } catch (err) {
      if (err instanceof CoveError) throw err;
      continue; // changed meanwhile: the runtime reports what is wrong there
    }
    try {
      parent.chown(path.posix.basename(p), owner.uid, owner.gid);
    } finally {
      parent.close();
    }
  }
}

function makeEntries(root: Dir): void {
  for (const [p, kind] of INIT_ENTRIES) {
    const name = path.posix.basename(p);
    let parent: Dir;
    try {
      parent = root.mkdirAll(path.posix.dirname(p), 0o755);
    } catch (err) {
      if (isErrno(err, "ENOTDIR", "EEXIST", "EROFS")) continue;
      throw err;
    }
    try {
      if (parent.tryLstat(name)) continue;
      if (kind === "dir") parent.mkdir(name, 0o755);
      else if (kind === "file") closeSync(parent.createFile(name, 0o755));
      else parent.symlink(kind.link, name);
    } catch (err) {
      if (!isErrno(err, "EEXIST", "EROFS")) throw err;
    } finally {
      parent.close();
    }
  }
}

const INIT_ENTRIES: [string, "dir" | "file" | { link: string }][] = [
  ["/dev/pts", "dir"],
  ["/dev/shm", "dir"],
  ["/proc", "dir"],
  ["/sys", "dir"],
  ["/.dockerenv", "file"],
  ["/etc/resolv.conf", "file"],
  ["/etc/hosts", "file"],
  ["/etc/hostname", "file"],
  ["/dev/console", "file"],
  ["/etc/mtab", { link: "/proc/mounts" }],
];

/**
 * Bind mounts of files need a file to mount on: a missing target is created in the root as an
 * empty file (0644), its missing parents as directories (0755), all resolved inside the root as
 * runc does for its own mounts (cove's runtime would make the target a directory). An existing
 * entry of any kind is left as it is: the runtime resolves mount destinations inside the root.
 */
export function prepareFileMountpoints(root: Dir, mounts: readonly { destination: string; type?: string; source?: string }[]): void {
  for (const m of mounts) {
    if (m.type !== "bind" || !m.source) continue;
    try {
      if (statSync(m.source).isDirectory()) continue;
    } catch {
      // a source stat cannot see (missing, unreadable): the runtime meets the same source and
      // reports it in its own words
      continue;
    }
    try {
      root.ensureFile(m.destination);
    } catch (err) {
      // without openat2 nothing here is safe: say so
      if (err instanceof CoveError) throw err;
      // a component that is not a directory, a read-only root: the runtime meets the same
      // destination and reports what is wrong with it
    }
  }
}

// ---------------------------------------------------------------- volume subpaths

const SUBPATHS = "subpaths";

/** The staging directory of a container's subpath mounts (under its own directory of the state root). */
export function stagingDir(containerDir: string): string {
  return path.join(containerDir, SUBPATHS);
}

/**
 * Resolves subpath inside the volume's data directory (symlinks followed inside it, as the
 * container would see them) and bind-mounts exactly the object it resolved to onto a staging
 * mount point of the container's own: the runtime mounts that, and nothing a container does to
 * the volume afterwards can change what it gets. The subpath must exist; a directory gets a
 * directory mount point, anything else a file one (as moby's safepath). Returns the staging path.
 */
export function stageSubpath(containerDir: string, index: number, volumeDir: string, subpath: string, what: { name: string; destination: string }): string {
  const a = addon();
  let fd: number;
  const vol = Dir.open(volumeDir);
  try {
    fd = vol.openInRoot(subpath, a.at.O_PATH);
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR", "ELOOP")) {
      throw notFound(`cannot mount volume ${what.name} at ${what.destination}: its subpath ${subpath} does not exist`, {
        code: "volume.subpath",
        cause: err,
        hint: "create the directory in the volume first, or mount the whole volume",
      });
    }
    throw err;
  } finally {
    vol.close();
  }
  try {
    const isDir = fstatSync(fd).isDirectory();
    const dir = stagingDir(containerDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const name = String(index);
    const staging = Dir.open(dir);
    try {
      if (isDir) staging.mkdir(name, 0o700);
      else closeSync(staging.createFile(name, 0o600));
      const target = staging.openInRoot(name, a.at.O_PATH | a.at.O_NOFOLLOW);
      try {
        // the kernel clones the mount of the object the fd holds and attaches it to the one the
        // target fd holds: no path is walked again
        bindMount(fd, target, { recursive: false });
      } catch (err) {
        removeEntry(path.join(dir, name));
        throw err;
      } finally {
        closeSync(target);
      }
    } finally {
      staging.close();
    }
    return path.join(dir, name);
  } finally {
    closeSync(fd);
  }
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Every mount point in a mountinfo text (/proc/self/mountinfo by default), unescaped. */
export function mountPoints(mountinfo?: string): string[] {
  const text = mountinfo ?? readFileSync("/proc/self/mountinfo", "utf8");
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const point = line.split(" ")[4];
    if (point !== undefined) out.push(unescapeMountinfo(point));
  }
  return out;
}

/** The mount points at or below dir, deepest first: from a mountinfo text, or a list of points already read. */
export function mountPointsUnder(dir: string, mountinfo?: string | readonly string[]): string[] {
  const points = typeof mountinfo === "object" ? mountinfo : mountPoints(mountinfo);
  return points.filter((p) => p === dir || p.startsWith(dir + "/")).sort((x, y) => y.length - x.length);
}

/**
 * The mount points below dir grouped by the first component under it (a container's ID, for the
 * containers' directory): the restore reads the mount table once and looks up each container's
 * points here, instead of filtering the whole table for each container.
 */
export function mountPointsByEntry(dir: string, points: readonly string[]): Map<string, string[]> {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  const out = new Map<string, string[]>();
  for (const p of points) {
    if (!p.startsWith(prefix)) continue;
    const rest = p.slice(prefix.length);
    const slash = rest.indexOf("/");
    const entry = slash < 0 ? rest : rest.slice(0, slash);
    const list = out.get(entry);
    if (list) list.push(p);
    else out.set(entry, [p]);
  }
  return out;
}

/**
 * Whether anything is mounted at or below dir, found without reading the mount table: that table
 * has a line per running container, so reading it for each container's start and removal made
 * them slower with every container running (at 10,000, tens of milliseconds of the kernel's time
 * per read). A walk of dir's tree opens each entry with RESOLVE_NO_XDEV, which the kernel refuses
 * (EXDEV) for a mount point, bind mounts on the same filesystem included; it never follows a
 * symlink. For the daemon's own small trees (a container's directory), not a container's root.
 */
export function hasMountsUnder(dir: string): boolean {
  const a = addon();
  const { O_PATH, O_NOFOLLOW, RESOLVE_NO_XDEV, AT_FDCWD } = a.at;
  const open = (dirfd: number, name: string): number | "mount" | "gone" => {
    try {
      return a.openat2(dirfd, name, O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_XDEV);
    } catch (err) {
      if (isErrno(err, "EXDEV")) return "mount";
      if (isErrno(err, "ENOENT", "ENOTDIR")) return "gone";
      throw err;
    }
  };
  let parent: number;
  try {
    parent = a.openat2(AT_FDCWD, path.dirname(dir), O_PATH, 0, 0);
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return false;
    throw err;
  }
  let top: number | "mount" | "gone";
  try {
    top = open(parent, path.basename(dir));
  } finally {
    closeSync(parent);
  }
  if (top === "mount") return true;
  if (top === "gone") return false;
  const stack = [top];
  try {
    while (stack.length > 0) {
      const fd = stack.pop()!;
      try {
        if (!fstatSync(fd).isDirectory()) continue;
        for (const name of a.readdirFd(fd)) {
          const child = open(fd, name);
          if (child === "mount") return true;
          if (child !== "gone") stack.push(child);
        }
      } finally {
        closeSync(fd);
      }
    }
  } finally {
    for (const fd of stack) closeSync(fd);
  }
  return false;
}

/**
 * Detaches every mount at or below dir (deepest first, stacked ones too). Returns the mount points
 * still there afterwards (none, unless the kernel refused). `known` (mount points read once for
 * many calls, as the restore of thousands of containers does) stands in for the first reading of
 * /proc/self/mountinfo: nothing under dir there, nothing to do.
 */
export function detachMountsUnder(dir: string, known?: readonly string[]): string[] {
  const a = addon();
  const flags = a.constants.MNT_DETACH | a.constants.UMOUNT_NOFOLLOW;
  for (let round = 0; round < 100; round++) {
    const points = round === 0 && known ? mountPointsUnder(dir, known) : mountPointsUnder(dir);
    if (points.length === 0) return [];
    let progress = false;
    for (const p of points) {
      try {
        a.umount2(p, flags);
        progress = true;
      } catch {
        // gone meanwhile, or refused: looked at again below
      }
    }
    if (!progress) return points;
  }
  return mountPointsUnder(dir);
}

function removeEntry(p: string): void {
  try {
    rmdirSync(p);
  } catch (err) {
    if (isErrno(err, "ENOTDIR")) unlinkSync(p);
    else if (!isErrno(err, "ENOENT")) throw err;
  }
}

/**
 * Removes the container's staging mounts and their mount points. Never removes anything
 * recursively: an entry that is still a mount point stays (and the call throws), so the data of
 * the volume behind it can never be deleted through it. `known`: as for detachMountsUnder.
 */
export function clearStaging(containerDir: string, known?: readonly string[]): void {
  const dir = stagingDir(containerDir);
  // most containers have no volume subpaths, so no staging directory: nothing can be mounted
  // below a path that does not exist, and the mount table (a line per container) is not read
  if (lstatSync(dir, { throwIfNoEntry: false }) === undefined) return;
  const left = detachMountsUnder(dir, known);
  if (left.length > 0) throw new CoveError("system", `cannot unmount the staging mounts of volume subpaths: ${left.join(", ")}`, { code: "volume.subpath-staging" });
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return;
    throw err;
  }
  for (const n of names) removeEntry(path.join(dir, n));
  removeEntry(dir);
}
