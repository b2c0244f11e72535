// Typed loader for build/cove.node, the N-API addon with the few syscalls the engine makes in
// process (xattrs without following symlinks, mknod, nanosecond utimensat, mount, umount2,
// socketpair, a socket's unread output, a detached spawn that does not fork the daemon). The
// addon is found relative to the package root (the directory holding package.json), so it loads
// the same from src/ under a TS runner and from dist/src/ after compilation.
//
// Every function is synchronous and throws Node-style errno errors (code "EPERM", errno -1,
// syscall, path), so callers can use isErrno()/fromErrno() from common/errors.ts on them.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { unsupported } from "../common/errors.js";

export interface AddonConstants {
  XATTR_CREATE: number;
  XATTR_REPLACE: number;
  S_IFCHR: number;
  S_IFBLK: number;
  S_IFIFO: number;
  MS_RDONLY: number;
  MS_NOSUID: number;
  MS_NODEV: number;
  MS_NOEXEC: number;
  MS_REMOUNT: number;
  MS_BIND: number;
  MS_REC: number;
  MS_PRIVATE: number;
  MS_SLAVE: number;
  MS_SHARED: number;
  MS_NOATIME: number;
  MS_NODIRATIME: number;
  MS_RELATIME: number;
  MS_STRICTATIME: number;
  MS_SYNCHRONOUS: number;
  MS_DIRSYNC: number;
  MS_NOSYMFOLLOW: number;
  MNT_FORCE: number;
  MNT_DETACH: number;
  MNT_EXPIRE: number;
  UMOUNT_NOFOLLOW: number;
}

/** Flags of the directory-fd relative calls (fcntl.h, linux/openat2.h). */
export interface AtConstants {
  O_PATH: number;
  O_DIRECTORY: number;
  O_NOFOLLOW: number;
  O_RDONLY: number;
  O_WRONLY: number;
  O_RDWR: number;
  O_CREAT: number;
  O_EXCL: number;
  O_TRUNC: number;
  O_NONBLOCK: number;
  O_NOCTTY: number;
  AT_FDCWD: number;
  AT_SYMLINK_NOFOLLOW: number;
  AT_SYMLINK_FOLLOW: number;
  AT_REMOVEDIR: number;
  AT_EMPTY_PATH: number;
  RENAME_NOREPLACE: number;
  RENAME_EXCHANGE: number;
  RESOLVE_NO_XDEV: number;
  RESOLVE_NO_MAGICLINKS: number;
  RESOLVE_NO_SYMLINKS: number;
  RESOLVE_BENEATH: number;
  RESOLVE_IN_ROOT: number;
  AT_RECURSIVE: number;
  OPEN_TREE_CLONE: number;
  MOVE_MOUNT_F_EMPTY_PATH: number;
  MOVE_MOUNT_T_EMPTY_PATH: number;
  MOUNT_ATTR_RDONLY: number;
  MOUNT_ATTR_IDMAP: number;
}

export interface Addon {
  /** lsetxattr(2): sets an extended attribute on path itself (a symlink is not followed). */
  lsetxattr(path: string, name: string, value: Buffer, flags?: number): void;
  /** lgetxattr(2): the attribute's value, or null when path has no such attribute (ENODATA). */
  lgetxattr(path: string, name: string): Buffer | null;
  /** llistxattr(2): the names of path's extended attributes. */
  llistxattr(path: string): string[];
  /** lremovexattr(2). */
  lremovexattr(path: string, name: string): void;
  /** mknod(2): mode holds the type (S_IFCHR, S_IFBLK, S_IFIFO) and permission bits. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** utimensat(2) with AT_SYMLINK_NOFOLLOW: exact seconds + nanoseconds, works on symlinks. */
  utimensat(path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  /**
   * Disk bytes (st_blocks * 512) of everything under dir (dir itself not counted), a file with
   * several hard links once, symlinks not followed: a whole tree's lstat walk in one call.
   */
  diskUsage(dir: string): number;
  /**
   * mount(2). With cwd, the mount is made by a short-lived child (same memory and mount
   * namespace, own working directory) that first changes into cwd, so relative paths in data
   * resolve against cwd; the calling process's working directory never changes.
   */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null, cwd?: string | null): void;
  /** umount2(2). */
  umount2(target: string, flags?: number): void;
  /**
   * Takes over a listening socket passed by a service manager (systemd's socket activation):
   * checks that fd is a listening unix stream socket (EINVAL otherwise), marks it close-on-exec,
   * and returns the path it is bound to ("" when unnamed).
   */
  adoptListener(fd: number): string;
  /** A new network namespace kept alive by a bind mount on path (an existing file); the caller's thread stays in its own. */
  netnsCreate(path: string): void;
  /** A netlink socket (fd) opened inside the network namespace at netnsPath (null: the caller's), 5 s receive timeout. */
  netlinkSocket(netnsPath: string | null, protocol?: number): number;
  /**
   * An unconnected, non-blocking stream socket (fd) of family (AF_INET 2, AF_INET6 10) made inside
   * the network namespace at netnsPath: connecting it reaches that namespace's addresses, its
   * loopback included, while the caller stays in its own namespace.
   */
  netnsStreamSocket(netnsPath: string, family: number): number;
  /** Sends one netlink datagram to the kernel. */
  netlinkSend(fd: number, message: Buffer): void;
  /** Receives one netlink datagram (blocks up to the socket's timeout: EAGAIN then). */
  netlinkRecv(fd: number): Buffer;
  /** socketpair(2): a connected pair of AF_UNIX stream sockets, both close-on-exec. */
  socketpair(): [number, number];
  /**
   * ioctl(SIOCOUTQ) on a socket: 0 once its peer has read everything written to it. Otherwise, for
   * an AF_UNIX stream socket, the memory still charged for the unread data (more than its byte
   * count); for TCP, the bytes not acknowledged yet.
   */
  unreadOutput(fd: number): number;
  /**
   * sendmsg(2) of data (not empty) on the unix socket sock with fd attached (SCM_RIGHTS), without
   * waiting: returns the bytes sent (the fd travels with the first); throws EAGAIN when the
   * socket's buffer is full.
   */
  sendFd(sock: number, fd: number, data: Buffer): number;
  /** As sendFd, with one to three fds attached (SCM_RIGHTS, in order). */
  sendFds(sock: number, fds: number[], data: Buffer): number;
  /**
   * Starts file with argv (argv[0] included) and the caller's environment, fds[i] as its fd i,
   * in a new session, as a child of init (or the nearest subreaper), never the caller's: nothing
   * here waits for it or holds an fd for it (a monitor per container would otherwise cost the
   * daemon one fd per running container), and it is reaped there. A caller that is itself the
   * init of its pid namespace (a rootless daemon) or a subreaper adopts it: the addon reaps it
   * then, holding a pidfd until it exits. Unlike child_process.spawn it does not fork the
   * caller's address space (a vfork-style clone), so its cost does not grow with the daemon's
   * memory. Returns the pid after the exec; throws (syscall "execve", code ENOENT, ...) when the
   * program cannot be started.
   */
  spawnDetached(file: string, argv: string[], fds: number[]): number;
  /**
   * A memfd holding the file's bytes, sealed (no write, grow, shrink or further seal),
   * close-on-exec, at fd 64 or above: a program started as /proc/self/fd/N from it runs from a
   * copy nothing can change, shared by every process started from it.
   */
  sealedCopy(file: string): number;
  constants: AddonConstants;

  // The directory-fd relative calls (fsat.c). src/fsroot builds the engine's confined file
  // access on these; nothing else should call them directly.
  /** openat2(2); O_CLOEXEC is always added. */
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number;
  /** fstatat(2): [dev, ino, mode, nlink, uid, gid, rdev, size, blocks, atimeNs, mtimeNs, ctimeNs]. */
  fstatat(dirfd: number, path: string, flags: number): bigint[];
  readlinkat(dirfd: number, path: string): string;
  mkdirat(dirfd: number, path: string, mode: number): void;
  mknodat(dirfd: number, path: string, mode: number, major: number, minor: number): void;
  symlinkat(target: string, dirfd: number, path: string): void;
  linkat(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number): void;
  unlinkat(dirfd: number, path: string, flags: number): void;
  renameat2(olddirfd: number, oldpath: string, newdirfd: number, newpath: string, flags: number): void;
  fchownat(dirfd: number, path: string, uid: number, gid: number, flags: number): void;
  fchmodat(dirfd: number, path: string, mode: number, flags: number): void;
  utimensatAt(dirfd: number, path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number, flags: number): void;
  /** The names in the directory fd holds (O_PATH works), without "." and "..". */
  readdirFd(fd: number): string[];
  /** Extended attributes of the entry `name` (one component) of a directory fd, never following it. */
  lgetxattrAt(dirfd: number, name: string, attr: string): Buffer | null;
  llistxattrAt(dirfd: number, name: string): string[];
  lsetxattrAt(dirfd: number, name: string, attr: string, value: Buffer, flags: number): void;
  /** open_tree(2): a detached copy (OPEN_TREE_CLONE) of the mount at path, as an fd. */
  openTree(dirfd: number, path: string, flags: number): number;
  /** move_mount(2): attaches a detached tree; with the *_EMPTY_PATH flags, fds name both ends exactly. */
  moveMount(fromDirfd: number, fromPath: string, toDirfd: number, toPath: string, flags: number): void;
  /** mount_setattr(2); usernsFd is the user namespace MOUNT_ATTR_IDMAP takes its mapping from. */
  mountSetattr(dirfd: number, path: string, flags: number, attrSet: number, attrClr: number, propagation: number, usernsFd?: number): void;
  /**
   * A new user namespace with the given uid_map and gid_map text, as an fd (for MOUNT_ATTR_IDMAP);
   * a short-lived child holds it while the maps are written. The caller closes the fd.
   */
  usernsCreate(uidMap: string, gidMap: string): number;
  at: AtConstants;
}

/** The package root: the nearest directory above this module that holds package.json. */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = path.dirname(from);
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw unsupported(`cannot find cove's package root above ${from}`, { code: "native.addon-missing" });
    dir = up;
  }
}

let loaded: Addon | undefined;

/** Loads build/cove.node once and returns it. */
export function addon(): Addon {
  if (loaded) return loaded;
  const root = packageRoot();
  const file = path.join(root, "build", "cove.node");
  if (!existsSync(file)) {
    throw unsupported(`cove's native addon is missing: ${file}`, {
      code: "native.addon-missing",
      hint: `build it with: cd ${root} && bash scripts/build-native.sh`,
    });
  }
  const require = createRequire(import.meta.url);
  loaded = require(file) as Addon;
  return loaded;
}
