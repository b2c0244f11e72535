// COPY and ADD sources in the build context: globs expanded as dockerd's legacy builder does (Go's
// filepath.Match on context-relative paths), each source confined to the context (a path with
// ".." above it, or one whose symlinks lead outside it, is refused), directories walked without
// following the symlinks inside them (those are copied as symlinks), --exclude applied, and the
// result turned into a tar whose entries sit at their destination paths in the container, with
// the owner and mode the step asks for. The same walk gives the cache its input digest: paths,
// contents, modes, owners and link targets, never times.
//
// The context is a directory the daemon owns (an upload it extracted, or the caller's directory
// for the library), not one a container controls, so it is read through ordinary paths.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink, realpath } from "node:fs/promises";
import path from "node:path";
import { invalid, isErrno, notFound } from "../common/errors.js";
import { encodeHeader, type TarEntryType } from "../snapshots/index.js";

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
    real = await realpath(p);
  } catch (err) {
    if (!isErrno(err, "ENOENT", "ENOTDIR", "ELOOP")) throw err;
    // a dangling symlink reads as missing, as dockerd's stat says
    throw notFound(`${op} failed: file not found in build context or excluded by .dockerignore: stat ${shown}: file does not exist`, { code: "build.source-missing" });
  }
  if (real !== contextReal && !real.startsWith(contextReal + path.sep)) {
    throw invalid(`${op} failed: forbidden path outside the build context: ${shown} (it leads to ${real} through a symlink)`, {
      code: "build.outside-context",
      hint: "copy the file into the build context instead of linking to it",
    });
  }
  return { abs: real, isDir: (await lstat(real)).isDirectory() };
}

/** Expands the sources (globs included) against the context; each result is confined to it. */
export async function resolveSources(context: string, sources: string[], op: string): Promise<Source[]> {
  let contextReal: string;
  try {
    contextReal = await realpath(context);
  } catch (err) {
    throw notFound(`the build context ${context} cannot be read: ${(err as Error).message}`, { code: "build.context-missing", cause: err });
  }
  const out: Source[] = [];
  for (const src of sources) {
    if (/^https?:\/\//i.test(src)) throw invalid(`${op} failed: source ${src} is a URL`, { code: "build.url-source" });
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
      await lstat(path.join(root, next));
    } catch (err) {
      if (isErrno(err, "ENOENT", "ENOTDIR")) return;
      throw err;
    }
    return walkMatches(root, rest, next, out);
  }
  let names: string[];
  try {
    names = await readdir(dir);
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
    const st = await lstat(abs);
    const base = { dest: destPath, uid: own.uid, gid: own.gid, mtimeSec: Math.floor(st.mtimeMs / 1000) };
    const mode = (m: number) => (own.chmod !== undefined ? own.chmod : m & 0o7777);
    if (st.isSymbolicLink()) {
      out.push({ ...base, type: "symlink", mode: 0o777, size: 0, linkname: await readlink(abs) });
    } else if (st.isFile()) {
      out.push({ ...base, type: "file", mode: mode(st.mode), size: st.size, abs });
    } else if (st.isDirectory()) {
      if (destPath !== "") out.push({ ...base, type: "dir", mode: mode(st.mode), size: 0 });
      for (const name of (await readdir(abs)).sort()) await add(path.join(abs, name), destPath ? `${destPath}/${name}` : name, rel ? `${rel}/${name}` : name);
    } else {
      throw invalid(`${op} failed: ${rel} is not a regular file, directory or symlink`, { code: "build.special-file" });
    }
  };
  if (src.isDir) {
    if (excluded(src.rel)) return out;
    for (const name of (await readdir(src.abs)).sort()) await add(path.join(src.abs, name), dest ? `${dest}/${name}` : name, src.rel ? `${src.rel}/${name}` : name);
    return out;
  }
  // the source itself: its symlinks were followed (inside the context)
  if (excluded(src.rel)) return out;
  const st = await lstat(src.abs);
  out.push({ dest, type: "file", mode: own.chmod ?? st.mode & 0o7777, uid: own.uid, gid: own.gid, size: st.size, mtimeSec: Math.floor(st.mtimeMs / 1000), abs: src.abs });
  return out;
}

/** Fills each file entry's sha256. */
export async function hashEntries(entries: CopyEntry[]): Promise<void> {
  for (const e of entries) {
    if (e.type !== "file" || !e.abs) continue;
    const h = createHash("sha256");
    for await (const chunk of createReadStream(e.abs)) h.update(chunk as Buffer);
    e.sha256 = h.digest("hex");
  }
}

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
