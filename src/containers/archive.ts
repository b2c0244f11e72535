// `docker cp` and the /containers/{id}/archive routes: paths resolved inside a container's root
// (symlinks followed in the container's scope, so neither an absolute symlink nor ".." ever leads
// out of it), the X-Docker-Container-Path-Stat header, tars of one resource named as dockerd names
// them, and extraction of a tar into a directory of the container.
//
// The root is the container's root as this process can see it: /proc/<pid>/root of a running
// container (which also shows its mounts) or the mounted rootfs of a stopped one. The kernel
// resolves an absolute symlink met under /proc/<pid>/root against the caller's root, not the
// container's, so every symlink is resolved here, component by component.

import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { BigIntStats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { invalid, isErrno, notFound } from "../common/errors.js";
import { applyLayer } from "../snapshots/apply.js";
import { END_OF_ARCHIVE, encodeHeader, padding, readTar, type TarHeader, type WriteHeader } from "../snapshots/tar.js";

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

const MAX_SYMLINKS = 255;

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

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

function loopError(p: string): Error {
  return Object.assign(new Error(`too many levels of symbolic links resolving ${p}`), { code: "ELOOP" });
}

/**
 * Resolves `unsafe` (a path inside the container) to a path under root, following every symlink
 * in the container's scope: ".." stops at the root, absolute targets start again at the root.
 * Components that do not exist are appended as they are. Returns the path relative to the root
 * ("/a/b") — join it to root to use it.
 */
export async function resolveInRoot(root: string, unsafe: string): Promise<string> {
  let pending = unsafe.split("/").filter((c) => c !== "" && c !== ".");
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const comp = pending.shift() as string;
    if (comp === "..") {
      done.pop();
      continue;
    }
    const candidate = path.join(root, ...done, comp);
    let st;
    try {
      st = await lstat(candidate);
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR")) {
        done.push(comp, ...pending.filter((c) => c !== "."));
        // ".." after a missing component: fold lexically
        return "/" + path.posix.normalize(done.join("/")).replace(/^(\.\.\/?)+/, "").replace(/^\.$/, "");
      }
      throw err;
    }
    if (!st.isSymbolicLink()) {
      done.push(comp);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw loopError(unsafe);
    const target = await readlink(candidate);
    const parts = target.split("/").filter((c) => c !== "" && c !== ".");
    if (target.startsWith("/")) done.length = 0;
    pending = [...parts, ...pending];
  }
  return "/" + done.join("/");
}

/** A path as dockerd takes it: absolute, cleaned, with a trailing "/" or "/." kept. */
export function containerAbsPath(p: string): string {
  let clean = path.posix.normalize("/" + p);
  if (clean.length > 1) clean = clean.replace(/\/+$/, "");
  if (p.endsWith("/.") && clean !== "/") return clean + "/.";
  if (p.endsWith("/") && clean !== "/") return clean + "/";
  return clean;
}

export interface ResolvedPath {
  /** The path the client asked for, absolute (trailing "/" or "/." kept). */
  absPath: string;
  /** The host path of the resource (its last component not followed, unless the path ends in / or /.). */
  hostPath: string;
  /** hostPath relative to the root, absolute ("/etc/passwd"). */
  inRoot: string;
}

/** dockerd's ResolvePath: the directory part is resolved in scope, the last component kept as is. */
export async function resolvePath(root: string, p: string): Promise<ResolvedPath> {
  const absPath = containerAbsPath(p);
  const trailing = absPath.endsWith("/.") ? "." : absPath.endsWith("/") ? "/" : "";
  if (trailing !== "" || absPath === "/") {
    // the last component is a directory the client asserts: follow it
    const inRoot = await resolveInRoot(root, absPath);
    return { absPath, inRoot, hostPath: path.join(root, inRoot) + (trailing === "." ? "/." : "") };
  }
  const dir = path.posix.dirname(absPath);
  const base = path.posix.basename(absPath);
  const dirIn = await resolveInRoot(root, dir);
  const inRoot = path.posix.join(dirIn, base);
  return { absPath, inRoot, hostPath: path.join(root, inRoot) };
}

function notFoundIn(p: string, container: string): Error {
  return notFound(`Could not find the file ${p} in container ${container}`, { code: "archive.not-found" });
}

/** HEAD /archive: the stat of a path (dockerd's StatPath); a 404 with dockerd's wording when it is missing. */
export async function statPath(root: string, p: string, container: string): Promise<{ stat: PathStat; resolved: ResolvedPath; st: BigIntStats }> {
  const resolved = await resolvePath(root, p);
  let st: BigIntStats;
  try {
    st = await lstat(resolved.hostPath, { bigint: true });
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) throw notFoundIn(p, container);
    throw err;
  }
  let linkTarget = "";
  if (st.isSymbolicLink()) linkTarget = await resolveInRoot(root, resolved.absPath);
  const name = resolved.absPath === "/" ? "/" : path.posix.basename(resolved.absPath.replace(/\/$/, ""));
  return { stat: { name, size: Number(st.size), mode: goFileMode(Number(st.mode)), mtime: goTime(st.mtimeNs), linkTarget }, resolved, st };
}

function major(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

/** Writes a tar of one resource to out with backpressure; names start with `name`, as dockerd rebases them. */
class ResourceTar {
  private readonly links = new Map<string, string>();
  constructor(
    private readonly out: Writable,
    private readonly noDescend: ReadonlySet<string>,
  ) {}

  private async write(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    if (!this.out.write(buf)) await Promise.race([once(this.out, "drain"), once(this.out, "close")]);
    if (this.out.destroyed) throw Object.assign(new Error("the client went away"), { code: "ECONNRESET" });
  }

  async entry(abs: string, name: string, st: BigIntStats): Promise<void> {
    const base: Omit<WriteHeader, "name" | "type" | "size"> = { mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeSec: Number(st.mtimeNs / 1_000_000_000n) };
    if (st.isDirectory()) {
      const dirName = name.endsWith("/") ? name : name + "/";
      await this.write(encodeHeader({ ...base, name: dirName, type: "dir", size: 0 }));
      if (this.noDescend.has(path.resolve(abs))) return;
      const names = (await readdir(abs)).sort();
      for (const n of names) {
        const child = path.join(abs, n);
        let cst: BigIntStats;
        try {
          cst = await lstat(child, { bigint: true });
        } catch {
          continue; // vanished while walking a running container
        }
        await this.entry(child, dirName + n, cst);
      }
      return;
    }
    if (st.isSocket()) return;
    if (st.nlink > 1n && !st.isDirectory()) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) {
        await this.write(encodeHeader({ ...base, name, type: "link", size: 0, linkname: first }));
        return;
      }
      this.links.set(key, name);
    }
    if (st.isSymbolicLink()) {
      await this.write(encodeHeader({ ...base, name, type: "symlink", size: 0, linkname: await readlink(abs) }));
      return;
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      await this.write(encodeHeader({ ...base, name, type: st.isCharacterDevice() ? "char" : "block", size: 0, devmajor: major(st.rdev), devminor: minor(st.rdev) }));
      return;
    }
    if (st.isFIFO()) {
      await this.write(encodeHeader({ ...base, name, type: "fifo", size: 0 }));
      return;
    }
    if (!st.isFile()) return;
    const fh = await open(abs, "r");
    try {
      const size = Number(st.size);
      await this.write(encodeHeader({ ...base, name, type: "file", size }));
      const buf = Buffer.allocUnsafe(1 << 20);
      let done = 0;
      while (done < size) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - done), done);
        if (bytesRead === 0) {
          // the file shrank while being read: pad with zeros so the archive stays well formed
          await this.write(Buffer.alloc(size - done));
          break;
        }
        await this.write(Buffer.from(buf.subarray(0, bytesRead)));
        done += bytesRead;
      }
      await this.write(Buffer.alloc(padding(size)));
    } finally {
      await fh.close();
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
 * leaves out, as host paths under root: kernel filesystems and /dev. dockerd archives the rootfs
 * and volumes only, where these are empty directories.
 */
export function kernelMountPoints(mountinfo: string, root: string): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const mountPoint = (line.slice(0, sep).split(" ")[4] ?? "").replace(/\\040/g, " ");
    const fstype = line.slice(sep + 3).split(" ")[0] ?? "";
    if (KERNEL_FS.has(fstype) || mountPoint === "/dev") out.add(path.resolve(path.join(root, mountPoint)));
  }
  return out;
}

/**
 * GET /archive: writes the tar of a resolved resource to out (which is ended). Entries are named
 * after the last component the client gave ("/a/link/" that resolves to "/a/target" gives
 * "link/..."), the root as "/", and "dir/." as "./".
 */
export async function writeArchive(resolved: ResolvedPath, out: Writable, opts: { noDescend?: ReadonlySet<string> } = {}): Promise<void> {
  const st = await lstat(resolved.hostPath, { bigint: true });
  const abs = resolved.absPath;
  const rebase = abs === "/" ? "/" : abs.endsWith("/.") ? "." : path.posix.basename(abs.replace(/\/$/, ""));
  const tar = new ResourceTar(out, opts.noDescend ?? new Set());
  await tar.entry(resolved.hostPath, rebase === "." ? "./" : rebase, st);
  await tar.end();
}

export interface ExtractOptions {
  /** Refuse to replace a directory with a non-directory or the reverse (dockerd's noOverwriteDirNonDir). */
  noOverwriteDirNonDir?: boolean;
  /** Owner every entry gets (copyUIDGID: the container's user); default: the tar's uid/gid. */
  owner?: { uid: number; gid: number };
  /** The destination as the container sees it, for messages (default: the host path). */
  shownAs?: string;
}

/**
 * PUT /archive: extracts a tar into the directory `destHost` (already resolved in the container's
 * scope). Entries never pass through symlinks; a failure (a bad entry, a refused overwrite, a
 * corrupt tar) undoes what the extraction did.
 */
export async function extractArchive(input: Readable | AsyncIterable<Buffer>, destHost: string, opts: ExtractOptions = {}): Promise<void> {
  const checked = (async function* () {
    for await (const { header, body } of readTar(input as AsyncIterable<Buffer>)) {
      // the archive's root ("./") is the destination itself, which keeps its owner and mode (as dockerd)
      if (header.name.split("/").every((c) => c === "" || c === ".")) {
        for await (const _ of body) {
          // skip
        }
        continue;
      }
      if (opts.noOverwriteDirNonDir) await checkOverwrite(destHost, header, opts.shownAs ?? destHost);
      const h = opts.owner ? { ...header, uid: opts.owner.uid, gid: opts.owner.gid } : header;
      yield* reencode(h, body);
    }
    yield END_OF_ARCHIVE;
  })();
  // replaced entries wait inside the destination itself: the same filesystem, even for "/" or a mount point
  const undoDir = path.join(destHost, `.cove-cp-undo-${randomBytes(6).toString("hex")}`);
  await applyLayer(checked, destHost, { whiteouts: "plain", compression: "none", inPlace: true, undoDir });
}

async function checkOverwrite(dest: string, h: TarHeader, shownAs: string): Promise<void> {
  const rel = h.name.replace(/^\/+/, "").replace(/\/+$/, "");
  if (rel === "" || rel === ".") return;
  let st;
  try {
    st = await lstat(path.join(dest, rel));
  } catch {
    return;
  }
  const entryIsDir = h.type === "dir";
  const shown = path.posix.join(shownAs, rel);
  if (st.isDirectory() && !entryIsDir) throw invalid(`cannot overwrite directory "${shown}" with non-directory "${rel}"`, { code: "archive.overwrite" });
  if (!st.isDirectory() && entryIsDir) throw invalid(`cannot overwrite non-directory "${shown}" with directory "${rel}"`, { code: "archive.overwrite" });
}

async function* reencode(h: TarHeader, body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  if (h.sparse) throw invalid(`tar entry ${JSON.stringify(h.name)} is a sparse file: send it as a regular file`, { code: "archive.sparse" });
  yield encodeHeader({
    name: h.name,
    type: h.type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.type === "file" ? h.size : 0,
    mtimeSec: h.mtime.sec,
    linkname: h.linkname,
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs: h.xattrs,
  });
  if (h.type !== "file") {
    for await (const _ of body) {
      // no body for this type
    }
    return;
  }
  let n = 0;
  for await (const c of body) {
    n += c.length;
    yield c;
  }
  const pad = padding(n);
  if (pad) yield Buffer.alloc(pad);
}
