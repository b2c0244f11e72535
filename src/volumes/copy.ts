// Copy-up: the image's content at a volume's mount path is copied into the volume when the volume
// is empty, keeping ownership, modes, times, symlinks, hard links and device nodes (Docker's
// CopyImagePathContent). The volume's root takes the owner and mode of the source directory.
//
// Both trees are walked through directory handles (src/fsroot): the source is the image's (its
// symlinks must not lead the copy onto the host), the volume may be shared with a running
// container that swaps its directories for symlinks meanwhile. Every entry is read, created and
// changed relative to a held directory fd, never following a symlink.

import { closeSync, read, write } from "node:fs";
import { fromErrno } from "../common/errors.js";
import type { Dir, FileStat } from "../fsroot/index.js";
import { addon } from "../native/addon.js";

/** Whether a directory has no entries. */
export function isEmptyDir(dir: Dir): boolean {
  return dir.list().length === 0;
}

const CHUNK = 1 << 20;

function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

function readAt(fd: number, buf: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

function writeAll(fd: number, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) =>
      write(fd, buf, off, buf.length - off, position + off, (err, n) => {
        if (err) reject(err);
        else if (off + n < buf.length) step(off + n);
        else resolve();
      });
    step(0);
  });
}

/** Copies the content of the file fd `from` into the file fd `to`, until the end of from. */
async function copyData(from: number, to: number): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK);
  for (let pos = 0; ; ) {
    const n = await readAt(from, buf, pos);
    if (n === 0) return;
    await writeAll(to, buf.subarray(0, n), pos);
    pos += n;
  }
}

/**
 * Copies the directory tree src into the (existing, empty) directory dst, then gives dst src's
 * owner and mode. owner turns each source owner into the copy's (default: the same).
 */
export async function copyTree(src: Dir, dst: Dir, opts: { owner?: (uid: number, gid: number) => { uid: number; gid: number } } = {}): Promise<void> {
  const ownerOf = (st: FileStat) => (opts.owner ? opts.owner(Number(st.uid), Number(st.gid)) : { uid: Number(st.uid), gid: Number(st.gid) });
  // an inode met before (dev:ino in src) → where its first copy is in dst (parent directory, name)
  const links = new Map<string, { parent: string; name: string }>();

  const copyEntry = async (from: Dir, to: Dir, name: string, parent: string): Promise<void> => {
    const listed = from.lstat(name);
    if (listed.isSocket()) return; // sockets belong to a running process: nothing to copy
    let st: FileStat = listed;
    let fd: number | undefined;
    // a regular file is opened first: what is copied is what its status describes
    if (listed.isFile()) ({ fd, stat: st } = from.openFile(name));
    try {
      if (st.nlink > 1n && !st.isDirectory()) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first) {
          const dir = first.parent === parent ? to : dst.dirInRoot(first.parent);
          try {
            to.link(dir, first.name, name);
          } finally {
            if (dir !== to) dir.close();
          }
          return;
        }
        links.set(key, { parent, name });
      }
      if (st.isDirectory()) {
        const sub = from.child(name);
        try {
          st = sub.stat();
          to.mkdir(name, 0o700);
          const made = to.child(name);
          try {
            const here = `${parent}/${name}`;
            for (const n of sub.list()) await copyEntry(sub, made, n, here);
          } finally {
            made.close();
          }
        } finally {
          sub.close();
        }
      } else if (st.isSymbolicLink()) {
        to.symlink(from.readlink(name), name);
      } else if (fd !== undefined) {
        const out = to.createFile(name, 0o600);
        try {
          await copyData(fd, out);
        } finally {
          closeSync(out);
        }
      } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
        const k = addon().constants;
        const type = st.isCharacterDevice() ? k.S_IFCHR : st.isBlockDevice() ? k.S_IFBLK : k.S_IFIFO;
        to.mknod(name, type | Number(st.mode & 0o7777n), major(st.rdev), minor(st.rdev));
      } else {
        return;
      }
      const own = ownerOf(st);
      to.chown(name, own.uid, own.gid);
      if (!st.isSymbolicLink()) to.chmod(name, Number(st.mode & 0o7777n));
      to.utimes(name, st.atimeNs, st.mtimeNs);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  };

  try {
    for (const name of src.list()) await copyEntry(src, dst, name, "");
    const root = src.stat();
    const own = ownerOf(root);
    dst.chownSelf(own.uid, own.gid);
    dst.chmodSelf(Number(root.mode & 0o7777n));
  } catch (err) {
    throw fromErrno(err, `copying the image's content at ${src.shownAs} into the volume ${dst.shownAs}`);
  }
}
