// Copy-up: the image's content at a volume's mount path is copied into the volume when the volume
// is empty, keeping ownership, modes, times, symlinks, hard links and device nodes (Docker's
// CopyImagePathContent). The volume's root takes the owner and mode of the source directory.

import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, readdir, readlink, symlink } from "node:fs/promises";
import path from "node:path";
import { fromErrno } from "../common/errors.js";
import { addon } from "../native/addon.js";

/** Whether a directory has no entries (a missing directory counts as empty). */
export async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch {
    return true;
  }
}

/** Copies the directory tree src into the (existing, empty) directory dst, then gives dst src's owner and mode. */
export async function copyTree(src: string, dst: string): Promise<void> {
  const links = new Map<string, string>();
  const copyEntry = async (from: string, to: string): Promise<void> => {
    const st = await lstat(from);
    if (st.nlink > 1 && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first) {
        await link(first, to);
        return;
      }
      links.set(key, to);
    }
    if (st.isDirectory()) {
      await mkdir(to, { mode: 0o700 });
      for (const name of await readdir(from)) await copyEntry(path.join(from, name), path.join(to, name));
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(from), to);
    } else if (st.isFile()) {
      await copyFile(from, to);
    } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      const k = addon().constants;
      const type = st.isCharacterDevice() ? k.S_IFCHR : st.isBlockDevice() ? k.S_IFBLK : k.S_IFIFO;
      addon().mknod(to, type | (st.mode & 0o7777), Math.floor(st.rdev / 256) & 0xfff, (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00));
    } else {
      return; // sockets belong to a running process: nothing to copy
    }
    await lchown(to, st.uid, st.gid);
    if (!st.isSymbolicLink()) await chmod(to, st.mode & 0o7777);
    await lutimes(to, st.atime, st.mtime);
  };
  try {
    for (const name of await readdir(src)) await copyEntry(path.join(src, name), path.join(dst, name));
    const root = await lstat(src);
    await lchown(dst, root.uid, root.gid);
    await chmod(dst, root.mode & 0o7777);
  } catch (err) {
    throw fromErrno(err, `copying the image's content at ${src} into the volume ${dst}`);
  }
}
