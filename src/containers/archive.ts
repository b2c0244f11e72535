// `docker cp` and the /containers/{id}/archive routes: paths resolved inside a container's root
// (symlinks followed in the container's scope, so neither an absolute symlink nor ".." ever leads
// out of it), the X-Docker-Container-Path-Stat header, tars of one resource named as dockerd names
// them, and extraction of a tar into a directory of the container (extract.ts).
//
// The root is a directory fd (src/fsroot) on the container's root: /proc/<pid>/root of a running
// container (which also shows its mounts) or the mounted rootfs of a stopped one. Every access is
// relative to that fd or to a directory fd opened from it, never a path string: a running
// container may swap any directory for a symlink while it is read or written.

import { once } from "node:events";
import { closeSync, readSync } from "node:fs";
import path from "node:path";
import type { Writable } from "node:stream";
import { conflict, invalid, isErrno, notFound } from "../common/errors.js";
import type { PathStat } from "../docker/index.js";
import { Dir, type FileStat } from "../fsroot/index.js";
import { addon } from "../native/addon.js";
import { END_OF_ARCHIVE, encodeHeader, padding, type WriteHeader } from "../snapshots/tar.js";

/** Go's os.FileMode type bits, as the docker CLI decodes the stat header's mode. */
export const GoMode = {
  dir: 2 ** 31,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  socket: 2 ** 24,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
} as const;

export type { PathStat };

/** Converts a Unix st_mode to Go's os.FileMode (permission bits plus Go's type and special bits). */
export function goFileMode(stMode: number): number {
  let m = stMode & 0o777;
  const type = stMode & 0o170000;
  if (type === 0o040000) m += GoMode.dir;
  else if (type === 0o120000) m += GoMode.symlink;
  else if (type === 0o020000) m += GoMode.device + GoMode.charDevice;
  else if (type === 0o060000) m += GoMode.device;
  else if (type === 0o010000) m += GoMode.namedPipe;
  else if (type === 0o140000) m += GoMode.socket;
  if (stMode & 0o4000) m += GoMode.setuid;
  if (stMode & 0o2000) m += GoMode.setgid;
  if (stMode & 0o1000) m += GoMode.sticky;
  return m;
}

/** Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC. */
export function goTime(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const base = new Date(Number(sec) * 1000).toISOString().replace(/\.\d{3}Z$/, "");
  const f = frac === 0n ? "" : `.${frac.toString().padStart(9, "0").replace(/0+$/, "")}`;
  return `${base}${f}Z`;
}

/** The header's value: base64 of the stat's JSON. */
export function encodePathStat(s: PathStat): string {
  return Buffer.from(JSON.stringify({ name: s.name, size: s.size, mode: s.mode, mtime: s.mtime, linkTarget: s.linkTarget })).toString("base64");
}

/**
 * The root of a running container's first process, as a directory fd. A pid that shows the
 * host's own root is refused: the container exited and its pid went to a process of the host.
 */
export function openProcessRoot(pid: number, container: string): Dir {
  const root = Dir.open(`/proc/${pid}/root`);
  try {
    const st = root.stat();
    const host = Dir.open("/");
    try {
      const h = host.stat();
      if (st.dev === h.dev && st.ino === h.ino) throw conflict(`container ${container} is not running`, { code: "container.not-running" });
    } finally {
      host.close();
    }
    return root;
  } catch (err) {
    root.close();
    throw err;
  }
}

/**
 * The file at p in root as an O_PATH fd to mount on, created empty (mode 0644, with its missing
 * parents) when nothing is there; symlinks followed inside the root only.
 */
export function fileMountTarget(root: Dir, p: string): { fd: number; close(): void } {
  root.ensureFile(p);
  const fd = root.openInRoot(p, addon().at.O_PATH);
  return { fd, close: () => closeSync(fd) };
}

/** The longest path the kernel resolves (PATH_MAX less its NUL). */
const PATH_MAX = 4095;
/** The longest name of one file (NAME_MAX). */
const NAME_MAX = 255;

/**
 * A path as dockerd takes it: absolute, cleaned, with a trailing "/" or "/." kept. One the
 * kernel could never resolve (a NUL in it, longer than PATH_MAX) is a 400, not a failed syscall.
 */
export function containerAbsPath(p: string): string {
  if (p.includes("\0")) throw invalid("the path must not contain NUL bytes", { code: "archive.path", field: "path" });
  if (p.split("/").some((part) => Buffer.byteLength(part) > NAME_MAX)) throw invalid(`a name in the path is longer than the ${NAME_MAX} bytes a file name can have`, { code: "archive.path", field: "path", hint: "give a path inside the container whose names are at most 255 bytes" });
  if (Buffer.byteLength(p) + 1 > PATH_MAX) throw invalid(`the path is ${Buffer.byteLength(p)} bytes long, more than the ${PATH_MAX} a path can have`, { code: "archive.path", field: "path", hint: "give a shorter path inside the container" });
  let clean = path.posix.normalize("/" + p);
  if (clean.length > 1) clean = clean.replace(/\/+$/, "");
  if (p.endsWith("/.") && clean !== "/") return clean + "/.";
  if (p.endsWith("/") && clean !== "/") return clean + "/";
  return clean;
}

/**
 * A resource found in a container: the directory `dir` itself (name null: the root, or a path the
 * client ended with "/" or "/.") or the entry `name` of dir, not followed.
 */
export interface Located {
  /** The path the client asked for, absolute (trailing "/" or "/." kept). */
  absPath: string;
  /** The resource's path resolved in the root ("/etc/passwd"), for messages and mount lookups. */
  inRoot: string;
  dir: Dir;
  name: string | null;
  st: FileStat;
}

function notFoundIn(p: string, container: string): Error {
  return notFound(`Could not find the file ${p} in container ${container}`, { code: "archive.not-found" });
}

/**
 * dockerd's ResolvePath and StatPath: the directory part is resolved in scope, the last component
 * kept as is unless the path ends in "/" or "/.". The caller closes located.dir.
 */
export function locate(root: Dir, p: string, container: string): Located {
  const absPath = containerAbsPath(p);
  const trailing = absPath.endsWith("/.") || absPath.endsWith("/") || absPath === "/";
  try {
    if (trailing) {
      // the last component is a directory the client asserts: follow it
      const dir = root.dirInRoot(absPath);
      try {
        return { absPath, inRoot: root.walk(absPath).resolved, dir, name: null, st: dir.stat() };
      } catch (err) {
        dir.close();
        throw err;
      }
    }
    const base = path.posix.basename(absPath);
    const dir = root.dirInRoot(path.posix.dirname(absPath));
    try {
      const st = dir.lstat(base);
      return { absPath, inRoot: path.posix.join(root.walk(path.posix.dirname(absPath)).resolved, base), dir, name: base, st };
    } catch (err) {
      dir.close();
      throw err;
    }
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR", "ELOOP")) throw notFoundIn(p, container);
    throw err;
  }
}

/** HEAD /archive: the stat header of a located resource. */
export function pathStat(root: Dir, loc: Located): PathStat {
  const st = loc.st;
  const linkTarget = st.isSymbolicLink() ? root.walk(loc.absPath).resolved : "";
  const name = loc.absPath === "/" ? "/" : path.posix.basename(loc.absPath.replace(/\/$/, ""));
  return { name, size: Number(st.size), mode: goFileMode(Number(st.mode)), mtime: goTime(st.mtimeNs), linkTarget };
}

function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

/** The entry changed kind between its stat and its open (nothing was written for it yet). */
class ReplacedEntry extends Error {}

/** Writes a tar of one resource to out with backpressure; names start with `name`, as dockerd rebases them. */
class ResourceTar {
  private readonly links = new Map<string, string>();
  constructor(
    private readonly out: Writable,
    /** Container paths whose contents stay out (kernel filesystems of a running container). */
    private readonly noDescend: ReadonlySet<string>,
    /** Host owner → the owner the tar records (the container's view in a user namespace). */
    private readonly owner?: (uid: number, gid: number) => { uid: number; gid: number },
  ) {}

  private async write(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    if (!this.out.write(buf)) await Promise.race([once(this.out, "drain"), once(this.out, "close")]);
    if (this.out.destroyed) throw Object.assign(new Error("the client went away"), { code: "ECONNRESET" });
  }

  /**
   * The entry `name` of parent (or parent itself when name is null), at container path `at`. An
   * entry a running container replaced between its stat and its open is looked at again (a few times):
   * the archive holds what is there, never what the name held a moment earlier.
   */
  async entry(parent: Dir, name: string | null, tarName: string, st: FileStat, at: string, retries = 16): Promise<void> {
    try {
      await this.entryAs(parent, name, tarName, st, at);
    } catch (err) {
      if (!(err instanceof ReplacedEntry) || name === null) throw err;
      const key = `${st.dev}:${st.ino}`;
      if (this.links.get(key) === tarName) this.links.delete(key);
      if (retries === 0) return; // it keeps changing: leave it out
      const now = parent.tryLstat(name);
      if (now) await this.entry(parent, name, tarName, now, at, retries - 1);
    }
  }

  private async entryAs(parent: Dir, name: string | null, tarName: string, st: FileStat, at: string): Promise<void> {
    const own = this.owner ? this.owner(Number(st.uid), Number(st.gid)) : { uid: Number(st.uid), gid: Number(st.gid) };
    const base: Omit<WriteHeader, "name" | "type" | "size"> = { mode: Number(st.mode & 0o7777n), uid: own.uid, gid: own.gid, mtimeSec: Number(st.mtimeNs / 1_000_000_000n) };
    if (st.isDirectory()) {
      const dirName = tarName.endsWith("/") ? tarName : tarName + "/";
      let dir: Dir;
      try {
        dir = name === null ? parent.dup() : parent.child(name);
      } catch (err) {
        if (isErrno(err, "ENOENT", "ENOTDIR", "ELOOP")) throw new ReplacedEntry();
        throw err;
      }
      try {
        await this.write(encodeHeader({ ...base, name: dirName, type: "dir", size: 0 }));
        if (this.noDescend.has(at)) return;
        for (const n of dir.list().sort()) {
          const cst = dir.tryLstat(n);
          if (!cst) continue; // vanished while walking a running container
          await this.entry(dir, n, dirName + n, cst, path.posix.join(at, n));
        }
      } finally {
        dir.close();
      }
      return;
    }
    if (name === null || st.isSocket()) return;
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        await this.write(encodeHeader({ ...base, name: tarName, type: "link", size: 0, linkname: first }));
        return;
      }
      this.links.set(key, tarName);
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = parent.readlink(name);
      } catch (err) {
        if (isErrno(err, "ENOENT", "EINVAL")) throw new ReplacedEntry();
        throw err;
      }
      await this.write(encodeHeader({ ...base, name: tarName, type: "symlink", size: 0, linkname: target }));
      return;
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      await this.write(encodeHeader({ ...base, name: tarName, type: st.isCharacterDevice() ? "char" : "block", size: 0, devmajor: major(st.rdev), devminor: minor(st.rdev) }));
      return;
    }
    if (st.isFIFO()) {
      await this.write(encodeHeader({ ...base, name: tarName, type: "fifo", size: 0 }));
      return;
    }
    if (!st.isFile()) return;
    let opened: { fd: number; stat: FileStat };
    try {
      opened = parent.openFile(name);
    } catch (err) {
      if (isErrno(err, "ENOENT", "ELOOP", "EINVAL", "ENXIO")) throw new ReplacedEntry();
      throw err;
    }
    const { fd } = opened;
    try {
      // the header tells what the open file holds, not what the name held a moment earlier
      const size = Number(opened.stat.size);
      await this.write(encodeHeader({ ...base, mode: Number(opened.stat.mode & 0o7777n), name: tarName, type: "file", size }));
      const buf = Buffer.allocUnsafe(1 << 20);
      let done = 0;
      while (done < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), done);
        if (n === 0) {
          // the file shrank while being read: pad with zeros so the archive stays well formed
          await this.write(Buffer.alloc(size - done));
          break;
        }
        await this.write(Buffer.from(buf.subarray(0, n)));
        done += n;
      }
      await this.write(Buffer.alloc(padding(size)));
    } finally {
      closeSync(fd);
    }
  }

  async end(): Promise<void> {
    await this.write(END_OF_ARCHIVE);
    this.out.end();
  }
}

/** Kernel filesystems whose contents are no files of the container's (and /proc would never end). */
const KERNEL_FS = new Set(["proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "devtmpfs", "debugfs", "tracefs", "securityfs", "bpf", "fusectl", "configfs", "binfmt_misc"]);

/**
 * The mount points of a running container (from /proc/<pid>/mountinfo) whose contents an archive
 * leaves out, as paths in the container: kernel filesystems and /dev. dockerd archives the rootfs
 * and volumes only, where these are empty directories.
 */
export function kernelMountPoints(mountinfo: string): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const mountPoint = (line.slice(0, sep).split(" ")[4] ?? "").replace(/\\040/g, " ");
    const fstype = line.slice(sep + 3).split(" ")[0] ?? "";
    if (KERNEL_FS.has(fstype) || mountPoint === "/dev") out.add(path.posix.normalize(mountPoint));
  }
  return out;
}

/**
 * GET /archive: writes the tar of a located resource to out (which is ended). Entries are named
 * after the last component the client gave ("/a/link/" that resolves to "/a/target" gives
 * "link/..."), the root as "/", and "dir/." as "./".
 */
export async function writeArchive(loc: Located, out: Writable, opts: { noDescend?: ReadonlySet<string>; owner?: (uid: number, gid: number) => { uid: number; gid: number } } = {}): Promise<void> {
  const abs = loc.absPath;
  const rebase = abs === "/" ? "/" : abs.endsWith("/.") ? "." : path.posix.basename(abs.replace(/\/$/, ""));
  const tar = new ResourceTar(out, opts.noDescend ?? new Set(), opts.owner);
  await tar.entry(loc.dir, loc.name, rebase === "." ? "./" : rebase, loc.st, loc.inRoot);
  await tar.end();
}
