// COPY and ADD sources in the build context: globs expanded as dockerd's legacy builder does (Go's
// filepath.Match on context-relative paths), each source confined to the context (a path with
// ".." above it, or one whose symlinks lead outside it, is refused), directories walked without
// following the symlinks inside them (those are copied as symlinks), --exclude applied, and the
// result turned into a tar whose entries sit at their destination paths in the container, with
// the owner and mode the step asks for. The same walk gives the cache its input digest: paths,
// contents, modes, owners and link targets, never times.
//
// The context is a directory the daemon owns (an upload it extracted, or the caller's directory
// for the library), not one a container controls, so it is read through ordinary paths, with
// synchronous calls: a walk is many lstats of a few microseconds each, and a thread-pool round
// trip per call cost more than the calls (a cached COPY of a few hundred files was mostly that).

import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import path from "node:path";
import { invalid, isErrno, notFound } from "../common/errors.js";
import { decompress, encodeHeader, readTar, type TarEntryType, type TarItem } from "../snapshots/index.js";

/** One file, directory or symlink to copy, and where it goes (a path in the container, no leading /). */
export interface CopyEntry {
  /** Destination path inside the container, relative to "/" ("app/src/x.js"). */
  dest: string;
  type: Extract<TarEntryType, "file" | "dir" | "symlink">;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSec: number;
  linkname?: string;
  /** The file on the host (files only). */
  abs?: string;
  /** sha256 of the content (files only), filled by hashEntries. */
  sha256?: string;
}

/** A source after glob expansion: a path in the context, resolved and confined. */
export interface Source {
  /** Context-relative, as matched ("src/a.txt"). */
  rel: string;
  /** The real path on the host (symlinks of the source path followed, inside the context). */
  abs: string;
  isDir: boolean;
  /** A downloaded URL (ADD): mode 0600 and the server's Last-Modified time, as dockerd gives it. */
  url?: { mode: number; mtimeSec: number };
  /** A local tar archive ADD extracts (plain, gzip or zstd). */
  archive?: boolean;
  /** A heredoc's content (COPY <<EOF): never extracted by ADD. */
  inline?: boolean;
}

const GLOB = /[*?[\\]/;

/** Go's filepath.Match for one path segment, as a RegExp. */
function segmentRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "\\" && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw invalid(`syntax error in pattern ${JSON.stringify(pattern)}`, { code: "build.bad-pattern" });
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith("^")) cls = "^" + cls.slice(1).replace(/[\]\\]/g, "\\$&");
      else cls = cls.replace(/[\]\\^]/g, "\\$&");
      re += `[${cls}]`;
      i = end;
    } else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** Whether a context-relative path matches a pattern: segment by segment, "**" spanning any number of them. */
export function matchPath(pattern: string, rel: string): boolean {
  const pat = pattern.split("/").filter((s) => s !== "" && s !== ".");
  const parts = rel.split("/").filter((s) => s !== "");
  const go = (pi: number, si: number): boolean => {
    if (pi === pat.length) return si === parts.length;
    if (pat[pi] === "**") {
      for (let k = si; k <= parts.length; k++) if (go(pi + 1, k)) return true;
      return false;
    }
    return si < parts.length && segmentRegExp(pat[pi]!).test(parts[si]!) && go(pi + 1, si + 1);
  };
  return go(0, 0);
}

/** A source path as a clean context-relative path; ".." above the context is refused. */
function contextRel(src: string, op: string): string {
  const rel = path.posix.normalize(`/${src}`).slice(1);
  const n = path.posix.normalize(src);
  if (n === ".." || n.startsWith("../")) {
    throw invalid(`${op} failed: forbidden path outside the build context: ${src}`, { code: "build.outside-context" });
  }
  return rel;
}

/** The real path of a context path, refused when its symlinks lead outside the context. */
async function confined(contextReal: string, rel: string, shown: string, op: string): Promise<{ abs: string; isDir: boolean }> {
  const p = path.join(contextReal, rel);
  let real: string;
  try {
    real = realpathSync(p);
  } catch (err) {
    if (!isErrno(err, "ENOENT", "ENOTDIR", "ELOOP")) throw err;
    // missing: unless a directory on the way leads outside (then that is the error), it is
    // missing as dockerd's stat says, a dangling symlink too
    for (let up = path.dirname(p); up.startsWith(contextReal + path.sep); up = path.dirname(up)) {
      let upReal: string;
      try {
        upReal = realpathSync(up);
      } catch (e) {
        if (isErrno(e, "ENOENT", "ENOTDIR", "ELOOP")) continue;
        throw e;
      }
      if (upReal !== contextReal && !upReal.startsWith(contextReal + path.sep)) throw outside(shown, upReal, op);
      break;
    }
    throw notFound(`${op} failed: file not found in build context or excluded by .dockerignore: stat ${shown}: file does not exist`, { code: "build.source-missing" });
  }
  if (real !== contextReal && !real.startsWith(contextReal + path.sep)) throw outside(shown, real, op);
  return { abs: real, isDir: (lstatSync(real)).isDirectory() };
}

function outside(shown: string, real: string, op: string) {
  return invalid(`${op} failed: forbidden path outside the build context: ${shown} (it leads to ${real} through a symlink)`, {
    code: "build.outside-context",
    hint: "copy the file into the build context instead of linking to it",
  });
}

/** Expands the sources (globs included) against the context; each result is confined to it. */
export async function resolveSources(context: string, sources: string[], op: string): Promise<Source[]> {
  let contextReal: string;
  try {
    contextReal = realpathSync(context);
  } catch (err) {
    throw notFound(`the build context ${context} cannot be read: ${(err as Error).message}`, { code: "build.context-missing", cause: err });
  }
  const out: Source[] = [];
  for (const src of sources) {
    if (isUrl(src)) throw invalid(`${op} failed: source can't be a URL for ${op}`, { code: "build.url-source" });
    const rel = contextRel(src, op);
    if (!GLOB.test(rel)) {
      out.push({ rel, ...(await confined(contextReal, rel, src, op)) });
      continue;
    }
    const matches: string[] = [];
    await walkMatches(contextReal, rel.split("/"), "", matches);
    for (const m of matches.sort()) out.push({ rel: m, ...(await confined(contextReal, m, m, op)) });
  }
  if (out.length === 0) throw invalid(`${op} failed: no source files were specified`, { code: "build.no-sources" });
  return out;
}

/** Context paths matching the segments of a pattern, walked one segment at a time. */
async function walkMatches(root: string, segs: string[], prefix: string, out: string[]): Promise<void> {
  const [seg, ...rest] = segs;
  if (seg === undefined) {
    out.push(prefix);
    return;
  }
  const dir = path.join(root, prefix);
  if (!GLOB.test(seg)) {
    const next = prefix ? `${prefix}/${seg}` : seg;
    try {
      lstatSync(path.join(root, next));
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR")) return;
      throw err;
    }
    return walkMatches(root, rest, next, out);
  }
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT", "ENOTDIR")) return;
    throw err;
  }
  const re = segmentRegExp(seg);
  for (const name of names.sort()) if (re.test(name)) await walkMatches(root, rest, prefix ? `${prefix}/${name}` : name, out);
}

export interface Ownership {
  uid: number;
  gid: number;
  /** --chmod bits, for every copied file and directory. */
  chmod?: number;
}

/**
 * The entries of one source at its destination: a file (or the target of a symlinked source)
 * as itself, a directory's contents below `dest` (dockerd copies a directory's contents, not the
 * directory). Excluded paths (context-relative globs) and everything below them are left out.
 */
export async function sourceEntries(src: Source, dest: string, own: Ownership, exclude: string[], op: string): Promise<CopyEntry[]> {
  const out: CopyEntry[] = [];
  const excluded = (rel: string) => exclude.some((e) => matchPath(e, rel));
  const add = async (abs: string, destPath: string, rel: string): Promise<void> => {
    if (excluded(rel)) return;
    const st = lstatSync(abs);
    const base = { dest: destPath, uid: own.uid, gid: own.gid, mtimeSec: Math.floor(st.mtimeMs / 1000) };
    const mode = (m: number) => (own.chmod !== undefined ? own.chmod : m & 0o7777);
    if (st.isSymbolicLink()) {
      out.push({ ...base, type: "symlink", mode: 0o777, size: 0, linkname: readlinkSync(abs) });
    } else if (st.isFile()) {
      out.push({ ...base, type: "file", mode: mode(st.mode), size: st.size, abs });
    } else if (st.isDirectory()) {
      if (destPath !== "") out.push({ ...base, type: "dir", mode: mode(st.mode), size: 0 });
      for (const name of (readdirSync(abs)).sort()) await add(path.join(abs, name), destPath ? `${destPath}/${name}` : name, rel ? `${rel}/${name}` : name);
    } else {
      throw invalid(`${op} failed: ${rel} is not a regular file, directory or symlink`, { code: "build.special-file" });
    }
  };
  if (src.isDir) {
    if (excluded(src.rel)) return out;
    for (const name of (readdirSync(src.abs)).sort()) await add(path.join(src.abs, name), dest ? `${dest}/${name}` : name, src.rel ? `${src.rel}/${name}` : name);
    return out;
  }
  // the source itself: its symlinks were followed (inside the context)
  if (!src.url && excluded(src.rel)) return out;
  const st = lstatSync(src.abs);
  const mode = own.chmod ?? src.url?.mode ?? st.mode & 0o7777;
  out.push({ dest, type: "file", mode, uid: own.uid, gid: own.gid, size: st.size, mtimeSec: src.url?.mtimeSec ?? Math.floor(st.mtimeMs / 1000), abs: src.abs });
  return out;
}

/**
 * Fills each file entry's sha256. `known` holds digests taken already (the daemon's, as it
 * extracted the context it owns, by path; a path found there is not read again) and gets the
 * ones computed here.
 */
export async function hashEntries(entries: CopyEntry[], known?: Map<string, string>): Promise<void> {
  for (const e of entries) {
    if (e.type !== "file" || !e.abs) continue;
    const seen = known?.get(e.abs);
    if (seen !== undefined) {
      e.sha256 = seen;
      continue;
    }
    const h = createHash("sha256");
    // a small file in one synchronous read: cheaper than a stream's round trips
    if (e.size <= SMALL_FILE) h.update(readFileSync(e.abs));
    else for await (const chunk of createReadStream(e.abs)) h.update(chunk as Buffer);
    e.sha256 = h.digest("hex");
    known?.set(e.abs, e.sha256);
  }
}

const SMALL_FILE = 1 << 20;

/** The digest of entries for the cache: paths, types, modes, owners, sizes, contents, link targets; no times. */
export function entriesDigest(entries: CopyEntry[]): string {
  const h = createHash("sha256");
  for (const e of entries) h.update(JSON.stringify([e.dest, e.type, e.mode, e.uid, e.gid, e.size, e.sha256 ?? "", e.linkname ?? ""]) + "\n");
  return h.digest("hex");
}

/** The entries as a tar (paths relative to the container's "/"), read from the context as it goes. */
export async function* entriesTar(entries: CopyEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    const name = e.type === "dir" ? `${e.dest}/` : e.dest;
    yield encodeHeader({ name, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.type === "file" ? e.size : 0, mtimeSec: e.mtimeSec, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) });
    if (e.type !== "file" || !e.abs) continue;
    let n = 0;
    for await (const chunk of createReadStream(e.abs)) {
      const b = chunk as Buffer;
      n += b.length;
      if (n > e.size) throw invalid(`${e.abs} grew while it was copied: build again`, { code: "build.context-changed" });
      yield b;
    }
    if (n !== e.size) throw invalid(`${e.abs} shrank while it was copied: build again`, { code: "build.context-changed" });
    const pad = (512 - (e.size % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(1024);
}

export const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/**
 * Whether ADD extracts a local file: a tar, plain or compressed (gzip, zstd), as dockerd's
 * archive detection finds it from the first block. Anything else is copied as a file.
 */
export async function isArchive(file: string): Promise<boolean> {
  const it = decompress(createReadStream(file, { end: 1 << 20 }), "auto");
  const head: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of it) {
      head.push(c);
      n += c.length;
      if (n >= 512) break;
    }
  } catch {
    // a corrupt or cut-off compressed stream (the first MiB of a large one ends mid-block) is
    // judged by what came out before: no complete tar header means no archive
  }
  const b = Buffer.concat(head);
  if (b.length < 512) return false;
  if (b.subarray(257, 262).toString("latin1") !== "ustar" && !validChecksum(b)) return false;
  return b.subarray(0, 100).some((x) => x !== 0);
}

/** The tar header checksum of a block (old V7 archives have no "ustar" magic). */
function validChecksum(b: Buffer): boolean {
  const stored = parseInt(b.subarray(148, 156).toString("latin1").replace(/\0.*$/, "").trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return sum === stored;
}

/** A local archive's entries as a tar stream (decompressed). */
export function archiveTar(file: string): AsyncIterable<Buffer> {
  return decompress(createReadStream(file), "auto");
}

/**
 * ADD's download of a URL into file: the name it gets in a directory destination (the URL's last
 * path segment) and the server's Last-Modified time. dockerd's words for a failed GET.
 */
export async function download(url: string, file: string, signal?: AbortSignal): Promise<{ name: string; mtimeSec: number }> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.split("/").pop() ?? "");
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow", ...(signal ? { signal } : {}) });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw invalid(`failed to GET ${url}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`, { code: "build.download", cause: err });
  }
  if (!res.ok || !res.body) throw invalid(`failed to GET ${url} with status ${res.status} ${res.statusText}`, { code: "build.download" });
  await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>), createWriteStream(file, { mode: 0o600 }));
  const lm = res.headers.get("last-modified");
  const t = lm ? Date.parse(lm) : NaN;
  return { name, mtimeSec: Number.isFinite(t) ? Math.floor(t / 1000) : 0 };
}

/**
 * COPY --from: a tar of one path of another image (as docker cp gives it: the path's base name
 * first) rewritten to land at the destination: a directory's contents into `dest`, a file as
 * `dest`; owners and modes as the step gives them. Hard links follow their targets.
 */
export async function* relocate(items: AsyncIterable<TarItem>, dest: string, isDir: boolean, own: Ownership): AsyncGenerator<Buffer> {
  const move = (name: string): string | undefined => {
    const parts = name.split("/").filter((p) => p !== "" && p !== ".");
    const rest = parts.slice(1);
    if (isDir) return rest.length === 0 ? undefined : [dest, ...rest].filter((p) => p !== "").join("/");
    return rest.length === 0 ? dest : undefined;
  };
  for await (const { header: h, body } of items) {
    if (h.sparse) throw invalid(`${h.name} is a sparse file, which COPY --from cannot copy yet`, { code: "build.copy-from" });
    const name = move(h.name);
    if (name === undefined || name === "") {
      for await (const _ of body) void _;
      continue;
    }
    let linkname = h.linkname;
    if (h.type === "link") {
      const target = move(h.linkname);
      if (target === undefined) throw invalid(`a hard link in the copied tree points outside it: ${h.name} -> ${h.linkname}`, { code: "build.copy-from" });
      linkname = target;
    }
    const mode = h.type === "symlink" || own.chmod === undefined ? h.mode : own.chmod;
    yield encodeHeader({ name: h.type === "dir" ? `${name}/` : name, type: h.type, mode, uid: own.uid, gid: own.gid, size: h.type === "file" ? h.size : 0, mtimeSec: h.mtime.sec, linkname, devmajor: h.devmajor, devminor: h.devminor, xattrs: h.xattrs });
    let n = 0;
    for await (const c of body) {
      n += c.length;
      yield c;
    }
    const pad = (512 - (n % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(1024);
}

export { readTar };
