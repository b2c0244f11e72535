// Confined file access: the one way the engine touches a filesystem that a container (or an
// image) controls — docker cp, export, commit, changes, volume copy-up, workdir and mount-target
// creation, subpath mounts, and whatever comes later (build's COPY, configs and secrets).
//
// Why: a running container can swap any directory of its root for a symlink at any instant, and
// an image can ship such symlinks. A path string handed to the kernel is walked again from the
// host's root at every call, so a check made a moment earlier proves nothing, and an absolute
// symlink met under /proc/<pid>/root resolves against the host's root. Here every operation
// starts from a directory file descriptor:
//  - multi-component paths are resolved by openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
//    relative to the root's fd, so "..", absolute and relative symlinks all stay inside the root,
//    whatever the container does meanwhile;
//  - everything else names one entry of a directory fd that is already held (fstatat, mkdirat,
//    openat with O_NOFOLLOW, renameat2, ...), so a swap of an ancestor changes nothing, and a
//    final component swapped for a symlink is never followed.
// The kernel must have openat2 (Linux 5.6); without it every call fails closed with a clear error.
//
// Dir objects own their descriptor: close them (try/finally). Nothing here keeps state beyond the
// descriptors its callers hold.

import { chmodSync, closeSync, fstatSync, openSync, readSync } from "node:fs";
import path from "node:path";
import { CoveError, isErrno, unsupported } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { addon } from "../native/addon.js";

const S_IFMT = 0o170000n;

/** A file's status as fstatat(2) gives it, shaped like Node's BigIntStats for the fields cove reads. */
export class FileStat {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mode: bigint;
  readonly nlink: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly rdev: bigint;
  readonly size: bigint;
  readonly blocks: bigint;
  readonly atimeNs: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;

  constructor(raw: bigint[]) {
    [this.dev, this.ino, this.mode, this.nlink, this.uid, this.gid, this.rdev, this.size, this.blocks, this.atimeNs, this.mtimeNs, this.ctimeNs] = raw as [
      bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint,
    ];
  }

  private type(): bigint {
    return this.mode & S_IFMT;
  }
  isDirectory(): boolean {
    return this.type() === 0o040000n;
  }
  isFile(): boolean {
    return this.type() === 0o100000n;
  }
  isSymbolicLink(): boolean {
    return this.type() === 0o120000n;
  }
  isCharacterDevice(): boolean {
    return this.type() === 0o020000n;
  }
  isBlockDevice(): boolean {
    return this.type() === 0o060000n;
  }
  isFIFO(): boolean {
    return this.type() === 0o010000n;
  }
  isSocket(): boolean {
    return this.type() === 0o140000n;
  }
}

const MAX_SYMLINKS = 40;
/** openat2 answers EAGAIN when a rename raced a ".." it resolved: the kernel asks to try again. */
const EAGAIN_RETRIES = 64;

function at() {
  return addon().at;
}

/** The flags that keep a resolution inside the directory fd it starts from. */
function inRoot(): number {
  return at().RESOLVE_IN_ROOT | at().RESOLVE_NO_MAGICLINKS;
}

/** One name under a held directory: no symlink anywhere, nothing above it. */
function strictlyBeneath(): number {
  return at().RESOLVE_BENEATH | at().RESOLVE_NO_SYMLINKS | at().RESOLVE_NO_MAGICLINKS;
}

function openat2(dirfd: number, p: string, flags: number, mode: number, resolve: number): number {
  for (let attempt = 0; ; attempt++) {
    try {
      return addon().openat2(dirfd, p, flags, mode, resolve);
    } catch (err) {
      if (isErrno(err, "EAGAIN") && attempt < EAGAIN_RETRIES) continue;
      if (isErrno(err, "ENOSYS")) {
        throw unsupported("this kernel has no openat2(2), which cove needs to touch a container's files without following its symlinks onto the host", {
          code: "fsroot.no-openat2",
          hint: "run cove on Linux 5.6 or later",
        });
      }
      throw err;
    }
  }
}

/** Throws unless name is one path component (no "/", not "", "." or ".."). */
export function assertName(name: string): void {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw Object.assign(new Error(`not a single path component: ${JSON.stringify(name)}`), { code: "EINVAL" });
  }
}

/** "/a/./b/" → "a/b", "" for the root; ".." stays (the kernel clamps it at the root). */
function relative(p: string): string {
  return p
    .split("/")
    .filter((c) => c !== "" && c !== ".")
    .join("/");
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch (err) {
    // EBADF: already closed, nothing left to release
    if (!isErrno(err, "EBADF")) ignored(`close descriptor ${fd}`, err);
  }
}

export interface WalkResult {
  /** The path as resolved inside the root, absolute ("/" for the root itself). */
  resolved: string;
  /** Whether the whole path exists (otherwise `resolved` ends with the missing components as written). */
  exists: boolean;
}

/**
 * A directory held open (O_PATH). Operations name one of its entries, or resolve a path with the
 * directory as the root.
 */
export class Dir {
  private closed = false;

  private constructor(
    readonly fd: number,
    /** Where this directory is, for messages only (a host path or a path inside the container). */
    readonly shownAs: string,
  ) {}

  /** Opens a directory the engine trusts by its host path (following symlinks, magic links too: /proc/<pid>/root). */
  static open(hostPath: string): Dir {
    const fd = openat2(at().AT_FDCWD, hostPath, at().O_PATH | at().O_DIRECTORY, 0, 0);
    return new Dir(fd, hostPath);
  }

  /** Takes ownership of an O_PATH (or readable) directory fd. */
  static fromFd(fd: number, shownAs: string): Dir {
    return new Dir(fd, shownAs);
  }

  /** Runs fn with the directory at hostPath open, closing it afterwards. */
  static async with<T>(hostPath: string, fn: (dir: Dir) => Promise<T> | T): Promise<T> {
    const dir = Dir.open(hostPath);
    try {
      return await fn(dir);
    } finally {
      dir.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeQuietly(this.fd);
  }

  /** A second handle on the same directory. */
  dup(): Dir {
    return new Dir(openat2(this.fd, ".", at().O_PATH | at().O_DIRECTORY, 0, strictlyBeneath()), this.shownAs);
  }

  /** This directory's own status. */
  stat(): FileStat {
    return new FileStat(addon().fstatat(this.fd, "", at().AT_EMPTY_PATH | at().AT_SYMLINK_NOFOLLOW));
  }

  /** chown of this directory itself (through its fd). */
  chownSelf(uid: number, gid: number): void {
    addon().fchownat(this.fd, "", uid, gid, at().AT_EMPTY_PATH);
  }

  /** chmod of this directory itself (through its fd: an O_PATH fd has no fchmod, its /proc/self/fd link does). */
  chmodSelf(mode: number): void {
    chmodSync(`/proc/self/fd/${this.fd}`, mode);
  }

  private shown(p: string): string {
    return path.posix.join(this.shownAs, p);
  }

  // ---------------------------------------------------------------- paths resolved in this root

  /**
   * Opens p with this directory as the root: every symlink is followed inside it ("..", absolute
   * and relative targets alike), never out of it. Returns the raw fd (the caller closes it).
   */
  openInRoot(p: string, flags: number, mode = 0): number {
    const rel = relative(p);
    if (rel === "") return openat2(this.fd, ".", flags | at().O_DIRECTORY, mode, strictlyBeneath());
    return openat2(this.fd, rel, flags, mode, inRoot());
  }

  /** The directory p, resolved in this root (its final symlink followed too). */
  dirInRoot(p: string): Dir {
    return new Dir(this.openInRoot(p, at().O_PATH | at().O_DIRECTORY), this.shown(p));
  }

  /**
   * The parent directory of p resolved in this root, and p's last component as written (not
   * followed). The root itself has no parent: name is "" and dir the root.
   */
  parentInRoot(p: string): { dir: Dir; name: string } {
    const rel = relative(p);
    const comps = rel === "" ? [] : rel.split("/");
    const name = comps.pop() ?? "";
    if (name === "..") {
      // "/a/.." names a directory, not an entry of one: resolve it whole
      const dir = this.dirInRoot(rel);
      return { dir, name: "" };
    }
    return { dir: this.dirInRoot(comps.join("/")), name };
  }

  /** Reads the regular file p (resolved in this root) up to maxBytes; undefined when it does not exist. */
  readFileInRoot(p: string, maxBytes: number): Buffer | undefined {
    let fd: number;
    try {
      fd = openRegular(this.openInRoot(p, at().O_PATH), this.shown(p)).fd;
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR", "ELOOP")) return undefined;
      throw err;
    }
    try {
      return readRegular(fd, maxBytes, this.shown(p));
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Walks p in this root component by component, following symlinks inside it, each step taken
   * under a directory fd opened without following any symlink; with create, missing directories
   * are made (mkdirat, mode). Returns the resolved path (for messages and mount lookups).
   */
  walk(p: string, opts: { create?: boolean; mode?: number } = {}): WalkResult {
    let pending = p.split("/").filter((c) => c !== "" && c !== ".");
    const done: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const comp = pending.shift() as string;
      if (comp === "..") {
        done.pop();
        continue;
      }
      const parent = this.beneath(done);
      let st: FileStat | undefined;
      try {
        st = parent.lstat(comp);
      } catch (err) {
        if (!isErrno(err, "ENOENT")) {
          parent.close();
          throw err;
        }
      }
      try {
        if (st === undefined) {
          if (!opts.create) return { resolved: "/" + path.posix.normalize([...done, comp, ...pending].join("/")).replace(/^(\.\.\/?)+/, "").replace(/^\.$/, ""), exists: false };
          try {
            parent.mkdir(comp, opts.mode ?? 0o755);
          } catch (err) {
            if (!isErrno(err, "EEXIST")) throw err;
            pending.unshift(comp); // made meanwhile (perhaps as a symlink): look again
            continue;
          }
          done.push(comp);
          continue;
        }
        if (st.isSymbolicLink()) {
          if (++links > MAX_SYMLINKS) throw Object.assign(new Error(`too many levels of symbolic links resolving ${p}`), { code: "ELOOP" });
          let target: string;
          try {
            target = parent.readlink(comp);
          } catch (err) {
            // no longer a symlink (a running container swapped it): look at it again
            if (!isErrno(err, "EINVAL", "ENOENT")) throw err;
            pending.unshift(comp);
            continue;
          }
          if (target.startsWith("/")) done.length = 0;
          pending = [...target.split("/").filter((c) => c !== "" && c !== "."), ...pending];
          continue;
        }
        if (!st.isDirectory() && pending.length > 0) throw Object.assign(new Error(`${this.shown([...done, comp].join("/"))} is not a directory`), { code: "ENOTDIR" });
        done.push(comp);
      } finally {
        parent.close();
      }
    }
    return { resolved: "/" + done.join("/"), exists: true };
  }

  /** mkdir -p inside this root (symlinks followed inside it); returns the directory. */
  mkdirAll(p: string, mode = 0o755): Dir {
    const { resolved } = this.walk(p, { create: true, mode });
    return this.dirInRoot(resolved);
  }

  /**
   * The status of the entry at the relative path p below this directory, following no symlink
   * anywhere (a final symlink is stat'ed itself); undefined when it does not exist, or when a
   * component on the way is a symlink or not a directory (for layer lookups, where overlay does
   * not follow links either).
   */
  lstatBeneath(p: string): FileStat | undefined {
    const rel = relative(p);
    if (rel === "") return this.stat();
    let fd: number;
    try {
      fd = openat2(this.fd, rel, at().O_PATH | at().O_NOFOLLOW, 0, strictlyBeneath());
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR", "ELOOP", "EXDEV")) return undefined;
      throw err;
    }
    try {
      return new FileStat(addon().fstatat(fd, "", at().AT_EMPTY_PATH | at().AT_SYMLINK_NOFOLLOW));
    } finally {
      closeQuietly(fd);
    }
  }

  /**
   * Makes sure something is at p for a file mount to land on: when the last component is
   * missing, an empty file (mode) is created there, and its missing parents as directories
   * (0755), all inside this root. Whatever is already there, of any kind, is left alone.
   */
  ensureFile(p: string, mode = 0o644): void {
    const dest = path.posix.normalize(path.posix.join("/", p));
    const name = path.posix.basename(dest);
    if (name === "" || name === "..") return;
    const parent = this.mkdirAll(path.posix.dirname(dest), 0o755);
    try {
      if (parent.tryLstat(name)) return;
      closeSync(parent.createFile(name, mode));
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err; // made meanwhile
    } finally {
      parent.close();
    }
  }

  /** The directory at components `comps` (none of them a symlink) under this one. */
  private beneath(comps: string[]): Dir {
    if (comps.length === 0) return this.dup();
    return new Dir(openat2(this.fd, comps.join("/"), at().O_PATH | at().O_DIRECTORY, 0, strictlyBeneath()), this.shown(comps.join("/")));
  }

  // ---------------------------------------------------------------- entries of this directory

  /** The names in this directory (unsorted, without "." and ".."). */
  list(): string[] {
    return addon().readdirFd(this.fd);
  }

  /** The entry's own status (a symlink is not followed). */
  lstat(name: string): FileStat {
    assertName(name);
    return new FileStat(addon().fstatat(this.fd, name, at().AT_SYMLINK_NOFOLLOW));
  }

  /** The entry's status, or undefined when it does not exist. */
  tryLstat(name: string): FileStat | undefined {
    try {
      return this.lstat(name);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    }
  }

  /** The entry's status, or undefined when it cannot be read (vanished, permission). */
  tryLstatQuiet(name: string): FileStat | undefined {
    try {
      return this.lstat(name);
    } catch {
      return undefined;
    }
  }

  /** The subdirectory name (a symlink there is refused with ELOOP/ENOTDIR, never followed). */
  child(name: string): Dir {
    assertName(name);
    return new Dir(openat2(this.fd, name, at().O_PATH | at().O_DIRECTORY | at().O_NOFOLLOW, 0, strictlyBeneath()), this.shown(name));
  }

  /** Opens the regular file name for reading (refusing anything else) and returns the fd and its status. */
  openFile(name: string): { fd: number; stat: FileStat } {
    assertName(name);
    return openRegular(openat2(this.fd, name, at().O_PATH | at().O_NOFOLLOW, 0, strictlyBeneath()), this.shown(name));
  }

  /** Creates the file name (it must not exist) for writing; returns the fd. */
  createFile(name: string, mode: number): number {
    assertName(name);
    return openat2(this.fd, name, at().O_WRONLY | at().O_CREAT | at().O_EXCL | at().O_NOFOLLOW | at().O_NOCTTY, mode, strictlyBeneath());
  }

  readlink(name: string): string {
    assertName(name);
    return addon().readlinkat(this.fd, name);
  }

  mkdir(name: string, mode: number): void {
    assertName(name);
    addon().mkdirat(this.fd, name, mode);
  }

  symlink(target: string, name: string): void {
    assertName(name);
    addon().symlinkat(target, this.fd, name);
  }

  /** mode carries the type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
  mknod(name: string, mode: number, major: number, minor: number): void {
    assertName(name);
    addon().mknodat(this.fd, name, mode, major, minor);
  }

  /** A hard link name to the entry fromName of fromDir (never following a symlink there). */
  link(from: Dir, fromName: string, name: string): void {
    assertName(fromName);
    assertName(name);
    addon().linkat(from.fd, fromName, this.fd, name, 0);
  }

  rename(name: string, to: Dir, toName: string, flags = 0): void {
    assertName(name);
    assertName(toName);
    addon().renameat2(this.fd, name, to.fd, toName, flags);
  }

  unlink(name: string): void {
    assertName(name);
    addon().unlinkat(this.fd, name, 0);
  }

  rmdir(name: string): void {
    assertName(name);
    addon().unlinkat(this.fd, name, at().AT_REMOVEDIR);
  }

  /** lchown of the entry. */
  chown(name: string, uid: number, gid: number): void {
    assertName(name);
    addon().fchownat(this.fd, name, uid, gid, at().AT_SYMLINK_NOFOLLOW);
  }

  /** chmod of the entry; a symlink (which has no mode of its own on Linux) is left as it is. */
  chmod(name: string, mode: number): void {
    assertName(name);
    try {
      addon().fchmodat(this.fd, name, mode, at().AT_SYMLINK_NOFOLLOW);
    } catch (err) {
      if (isErrno(err, "EOPNOTSUPP", "ENOTSUP")) return;
      throw err;
    }
  }

  /** Sets the entry's times (nanoseconds), not following a symlink. */
  utimes(name: string, atimeNs: bigint, mtimeNs: bigint): void {
    assertName(name);
    const B = 1_000_000_000n;
    addon().utimensatAt(this.fd, name, Number(atimeNs / B), Number(atimeNs % B), Number(mtimeNs / B), Number(mtimeNs % B), at().AT_SYMLINK_NOFOLLOW);
  }

  /** The entry's extended attributes (names sorted), the symlink's own for a symlink. */
  xattrs(name: string, keep: (attr: string) => boolean = () => true): Map<string, Buffer> {
    assertName(name);
    const out = new Map<string, Buffer>();
    let names: string[];
    try {
      names = addon().llistxattrAt(this.fd, name).sort();
    } catch (err) {
      if (isErrno(err, "ENOTSUP", "EOPNOTSUPP")) return out;
      throw err;
    }
    for (const attr of names) {
      if (!keep(attr)) continue;
      const v = addon().lgetxattrAt(this.fd, name, attr);
      if (v !== null) out.set(attr, v);
    }
    return out;
  }

  /** The attribute's value; null when unset, or when the filesystem keeps no such attributes (tmpfs before 6.6 has no user.*). */
  getXattr(name: string, attr: string): Buffer | null {
    assertName(name);
    try {
      return addon().lgetxattrAt(this.fd, name, attr);
    } catch (err) {
      if (isErrno(err, "ENOTSUP", "EOPNOTSUPP")) return null;
      throw err;
    }
  }

  setXattr(name: string, attr: string, value: Buffer, flags = 0): void {
    assertName(name);
    addon().lsetxattrAt(this.fd, name, attr, value, flags);
  }

  /** rm -rf of the entry name: a directory is emptied through its own fd, symlinks are removed, never followed. */
  removeAll(name: string): void {
    assertName(name);
    const st = this.tryLstat(name);
    if (!st) return;
    if (st.isDirectory()) {
      let sub: Dir | undefined;
      try {
        sub = this.child(name);
      } catch (err) {
        // swapped for something else meanwhile: remove whatever is there now
        if (!isErrno(err, "ENOTDIR", "ELOOP", "ENOENT")) throw err;
      }
      if (sub) {
        try {
          for (const n of sub.list()) sub.removeAll(n);
        } finally {
          sub.close();
        }
        try {
          this.rmdir(name);
          return;
        } catch (err) {
          if (isErrno(err, "ENOENT")) return;
          if (!isErrno(err, "ENOTDIR")) throw err;
        }
      }
    }
    try {
      this.unlink(name);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return;
      if (isErrno(err, "EISDIR")) return this.removeAll(name);
      throw err;
    }
  }
}

/** A file cove only reads when it is a regular file was something else (code EINVAL, as the kernel would say). */
export class NotRegularFile extends Error {
  readonly code = "EINVAL";
  constructor(readonly shownAs: string) {
    super(`${shownAs} is not a regular file`);
  }
}

/**
 * Turns an O_PATH fd into a readable one if, and only if, it holds a regular file (pathFd is
 * consumed). Opening first and checking after would open whatever the name held, and opening a
 * device node an image or a container made (a watchdog, a tape, a terminal) acts on the host's
 * device; the O_PATH fd pins the inode, so the check and the reopen see the same file.
 */
function openRegular(pathFd: number, shownAs: string): { fd: number; stat: FileStat } {
  try {
    const st = new FileStat(addon().fstatat(pathFd, "", at().AT_EMPTY_PATH | at().AT_SYMLINK_NOFOLLOW));
    if (!st.isFile()) throw new NotRegularFile(shownAs);
    return { fd: openSync(`/proc/self/fd/${pathFd}`, at().O_RDONLY | at().O_NOCTTY), stat: st };
  } finally {
    closeSync(pathFd);
  }
}

/** Reads a regular file's fd (up to maxBytes; more is an error) after checking it is one. */
export function readRegular(fd: number, maxBytes: number, shownAs: string): Buffer {
  const st = fstatSync(fd);
  if (!st.isFile()) throw new NotRegularFile(shownAs);
  if (st.size > maxBytes) throw new CoveError("invalid", `${shownAs} is larger than ${maxBytes} bytes`, { code: "fsroot.too-large" });
  const buf = Buffer.allocUnsafe(Math.max(1, st.size));
  let got = 0;
  while (got < st.size) {
    const n = readSync(fd, buf, got, st.size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Runs fn with a directory, closing it afterwards (also when fn throws). */
export async function using<T>(dir: Dir, fn: (dir: Dir) => Promise<T> | T): Promise<T> {
  try {
    return await fn(dir);
  } finally {
    dir.close();
  }
}

/**
 * Bind-mounts the tree at source (a host path the engine trusts, or an fd) onto the directory or
 * file that targetFd holds, exactly: open_tree clones the source, mount_setattr makes it
 * read-only if asked, move_mount attaches it to the object the fd holds, so no path is walked
 * again after it was checked.
 */
export function bindMount(source: string | number, targetFd: number, opts: { recursive?: boolean; readonly?: boolean } = {}): void {
  const k = at();
  const recursive = opts.recursive === false ? 0 : k.AT_RECURSIVE;
  const tree =
    typeof source === "number"
      ? addon().openTree(source, "", k.OPEN_TREE_CLONE | k.AT_EMPTY_PATH | recursive)
      : addon().openTree(k.AT_FDCWD, source, k.OPEN_TREE_CLONE | recursive);
  try {
    if (opts.readonly) addon().mountSetattr(tree, "", k.AT_EMPTY_PATH | recursive, k.MOUNT_ATTR_RDONLY, 0, 0);
    addon().moveMount(tree, "", targetFd, "", k.MOVE_MOUNT_F_EMPTY_PATH | k.MOVE_MOUNT_T_EMPTY_PATH);
  } finally {
    closeQuietly(tree);
  }
}

/**
 * Bytes of the files under the directory at hostPath (hard links counted once), walked through
 * directory fds so a tree that changes meanwhile (a running container's layer, a volume in use)
 * cannot lead the walk elsewhere; entries that vanish are skipped, a missing directory is 0;
 * skip leaves out an entry (and what is below it) by its path relative to hostPath.
 */
export async function treeSize(hostPath: string, skip?: (rel: string, st: FileStat) => boolean): Promise<number> {
  let root: Dir;
  try {
    root = Dir.open(hostPath);
  } catch {
    return 0;
  }
  const seen = new Set<string>();
  let visited = 0;
  const walk = async (dir: Dir, prefix: string): Promise<number> => {
    let total = 0;
    let names: string[];
    try {
      names = dir.list();
    } catch {
      return 0;
    }
    for (const n of names) {
      // a large tree must not hold the event loop: let others run now and then
      if (++visited % 2048 === 0) await new Promise((r) => setImmediate(r));
      const st = dir.tryLstatQuiet(n);
      if (!st || skip?.(prefix + n, st)) continue;
      if (st.isDirectory()) {
        let sub: Dir;
        try {
          sub = dir.child(n);
        } catch {
          continue; // replaced or removed meanwhile
        }
        try {
          total += await walk(sub, `${prefix}${n}/`);
        } finally {
          sub.close();
        }
      } else if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        if (!seen.has(key)) total += Number(st.size);
        seen.add(key);
      } else total += Number(st.size);
    }
    return total;
  };
  try {
    return await walk(root, "");
  } finally {
    root.close();
  }
}
