// `cove cp`, export and commit: a container's files as tar streams between the daemon's archive
// routes and the local filesystem (cp's SRC/. and DEST/ rules as the docker CLI's), a
// container's filesystem as a tar, and a container as a new image.

import { createReadStream, createWriteStream } from "node:fs";
import { chmod, chown, lchown, link, lstat, mkdir, readdir, readlink, rename, rm, stat, symlink, utimes } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, pack as tarPack, type Header } from "tar-stream";
import { CoveError, isErrno } from "../common/errors.js";
import { ignoring } from "../common/ignore.js";
import { EngineError } from "../client/engine.js";
import { familiarString, parseNormalizedNamed } from "../images/reference.js";
import { CliError, command, type Command } from "./command.js";

/** "container:path" → [container, path]; a local path (absolute, ./, or without a colon) → [undefined, path]. */
export function splitCpArg(arg: string): [string | undefined, string] {
  if (path.isAbsolute(arg) || arg.startsWith(".")) return [undefined, arg];
  const colon = arg.indexOf(":");
  if (colon <= 0) return [undefined, arg];
  return [arg.slice(0, colon), arg.slice(colon + 1)];
}

/** Tars `src` (file, directory or symlink) with its top entry named `name`, keeping uid/gid/mode/mtime. */
async function tarPath(src: string, name: string, followLink: boolean): Promise<Readable> {
  const pack = tarPack();
  const add = (h: Partial<Header> & { name: string }, body?: Buffer | Readable): Promise<void> =>
    new Promise((resolve, reject) => {
      if (body && !Buffer.isBuffer(body)) {
        const entry = pack.entry(h, (err) => (err ? reject(err) : resolve()));
        body.pipe(entry);
      } else if (body) pack.entry(h, body, (err) => (err ? reject(err) : resolve()));
      else pack.entry(h, (err) => (err ? reject(err) : resolve()));
    });
  const walk = async (p: string, rel: string, top: boolean): Promise<void> => {
    const st = top && followLink ? await stat(p) : await lstat(p);
    const base = { name: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      await add({ ...base, name: rel + "/", type: "directory" });
      for (const e of (await readdir(p)).sort()) await walk(path.join(p, e), `${rel}/${e}`, false);
    } else if (st.isSymbolicLink()) {
      await add({ ...base, type: "symlink", linkname: await readlink(p) });
    } else if (st.isFile()) {
      await add({ ...base, type: "file", size: st.size }, createReadStream(p));
    }
  };
  void walk(src, name, true).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err as Error),
  );
  return pack as unknown as Readable;
}

/** Extracts a tar stream under `dest`, renaming its top entry to `rename` when given; keeps ownership as root. */
async function untar(src: Readable, dest: string, rename?: string): Promise<void> {
  const ex = tarExtract();
  const dirs: [string, Date, number][] = [];
  ex.on("entry", (h, stream, next) => {
    void (async () => {
      let name = h.name.replace(/^\/+/, "").replace(/\/+$/, "");
      if (rename !== undefined) {
        const slash = name.indexOf("/");
        name = slash < 0 ? rename : rename + name.slice(slash);
      }
      const target = path.join(dest, name);
      if (target !== dest && !target.startsWith(dest.endsWith("/") ? dest : dest + "/")) throw new CoveError("invalid", `invalid tar entry ${h.name}: outside the destination`);
      const own = async (lchownOnly: boolean) => {
        if (process.getuid?.() !== 0) return;
        await (lchownOnly ? lchown : chown)(target, h.uid ?? 0, h.gid ?? 0).catch(ignoring(`set the owner of ${target}`));
      };
      if (h.type === "directory") {
        await mkdir(target, { recursive: true });
        await own(false);
        await chmod(target, h.mode ?? 0o755);
        if (h.mtime) dirs.push([target, h.mtime, h.mode ?? 0o755]);
        stream.resume();
      } else if (h.type === "symlink") {
        await rm(target, { force: true });
        await symlink(h.linkname ?? "", target);
        await own(true);
        stream.resume();
      } else if (h.type === "file" || h.type === "contiguous-file") {
        await mkdir(path.dirname(target), { recursive: true });
        // a directory there is not removed: writing the file reports it
        await rm(target, { force: true, recursive: false }).catch(ignoring(`remove ${target} before writing it`));
        await pipeline(stream, createWriteStream(target, { mode: h.mode ?? 0o644 }));
        await own(false);
        await chmod(target, h.mode ?? 0o644);
        if (h.mtime) await utimes(target, h.mtime, h.mtime);
      } else if (h.type === "link") {
        let linkName = (h.linkname ?? "").replace(/^\/+/, "");
        if (rename !== undefined) {
          const slash = linkName.indexOf("/");
          linkName = slash < 0 ? rename : rename + linkName.slice(slash);
        }
        await rm(target, { force: true });
        await link(path.join(dest, linkName), target);
        stream.resume();
      } else {
        stream.resume();
      }
    })().then(() => next(), (err: unknown) => next(err as Error));
  });
  await pipeline(src, ex);
  for (const [d, mtime] of dirs.reverse()) await utimes(d, mtime, mtime).catch(ignoring(`set the modification time of ${d}`));
}

/** A stat's catch for a path that may not exist: undefined then; anything else fails. */
function missing(err: unknown): undefined {
  if (isErrno(err, "ENOENT", "ENOTDIR")) return undefined;
  throw err;
}

const cpCommand = command(
  {
    name: "cp",
    usage: "cove cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tcove cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    summary: "Copy files/folders between a container and the local filesystem",
    flags: {
      archive: { type: "bool", short: "a", description: "Archive mode (copy all uid/gid information)" },
      "follow-link": { type: "bool", short: "L", description: "Always follow symbol link in SRC_PATH" },
      quiet: { type: "bool", short: "q", description: "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached" },
    },
    args: { min: 2, max: 2 },
  },
  async ({ flags, args }, run) => {
    const [srcC, srcP] = splitCpArg(args[0]!);
    const [dstC, dstP] = splitCpArg(args[1]!);
    if (srcC !== undefined && dstC !== undefined) throw new CliError("copying between containers is not supported");
    if (srcC === undefined && dstC === undefined) throw new CliError("must specify at least one container source");
    const client = await run.client();
    if (srcC !== undefined) {
      // container → host
      if (srcP === "") throw new CliError("filepath cannot be empty");
      const { stat: pstat, tar } = await client.containerArchiveGet(srcC, srcP);
      if (dstP === "-") {
        await pipeline(tar, run.io.stdout, { end: false });
        return 0;
      }
      const dst = path.resolve(dstP);
      let dstStat;
      try {
        dstStat = await stat(dst);
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
        dstStat = undefined; // made by the copy
      }
      const srcIsDir = pstat ? (pstat.mode & 0x80000000) !== 0 : false;
      const wantsDir = srcP.endsWith("/.") || srcP.endsWith("/");
      if (dstStat?.isDirectory()) {
        // into the directory under the source's name, or its contents with SRC/.
        if (srcP.endsWith("/.")) await untarContents(tar, dst);
        else await untar(tar, dst);
      } else if (dstStat && srcIsDir) {
        throw new CliError(`cannot copy directory to existing file: ${dstP}`);
      } else {
        if (dstP.endsWith("/") && !srcIsDir) throw new CliError(`destination directory ${dstP} does not exist`);
        if (!(await stat(path.dirname(dst)).catch(missing))) throw new CliError(`destination directory ${path.dirname(dstP)} does not exist`);
        void wantsDir;
        await untar(tar, path.dirname(dst), path.basename(dst));
      }
      return 0;
    }
    // host → container
    const container = dstC!;
    let tar: Readable;
    let extractDir = dstP;
    if (srcP === "-") {
      tar = run.io.stdin;
    } else {
      const src = path.resolve(srcP);
      const st = await (flags["follow-link"] ? stat(src) : lstat(src)).catch(missing);
      if (!st) throw new CliError(`lstat ${src}: no such file or directory`);
      let dstStat;
      try {
        dstStat = await client.containerStatPath(container, dstP);
      } catch (err) {
        if (!(err instanceof EngineError) || err.status !== 404) throw err;
        dstStat = undefined;
      }
      const dstIsDir = dstStat ? (dstStat.mode & 0x80000000) !== 0 : false;
      let name = path.basename(src);
      if (dstStat && dstIsDir) {
        extractDir = dstP;
      } else if (dstStat && st.isDirectory()) {
        throw new CliError(`cannot copy directory to existing file: ${dstP}`);
      } else if (dstStat) {
        // overwrite a file: extract into its directory under its name
        extractDir = path.posix.dirname(dstP);
        name = path.posix.basename(dstP);
      } else {
        // a file copied to DIR/ needs DIR to exist (the docker CLI's check); a directory creates it
        if (dstP.endsWith("/") && !st.isDirectory()) throw new CliError("no such directory");
        extractDir = path.posix.dirname(dstP);
        name = path.posix.basename(dstP);
      }
      if (srcP.endsWith("/.") && st.isDirectory() && dstIsDir) {
        tar = await tarContents(src);
      } else tar = await tarPath(src, name, flags["follow-link"]);
    }
    await client.containerArchivePut(container, extractDir, tar, { noOverwriteDirNonDir: true, copyUIDGID: flags.archive || undefined });
    return 0;
  },
);

/** Tars the contents of a directory (SRC/. semantics). */
async function tarContents(dir: string): Promise<Readable> {
  const out = new PassThrough();
  const pack = tarPack();
  const entries = (await readdir(dir)).sort();
  void (async () => {
    for (const e of entries) {
      const t = await tarPath(path.join(dir, e), e, false);
      const ex = tarExtract();
      ex.on("entry", (h, stream, next) => {
        stream.pipe(pack.entry(h, (err) => next(err ?? undefined)));
      });
      await pipeline(t, ex);
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  pack.pipe(out);
  return out;
}

/** Extracts the contents of a tar's top directory into dest (SRC/. out of a container). */
async function untarContents(src: Readable, dest: string): Promise<void> {
  const ex = tarExtract();
  const repack = tarPack();
  ex.on("entry", (h, stream, next) => {
    const name = h.name.replace(/^\/+/, "");
    const slash = name.indexOf("/");
    const rest = slash < 0 ? "" : name.slice(slash + 1);
    if (rest === "" || rest === "/") {
      stream.resume();
      next();
      return;
    }
    const nh = { ...h, name: rest };
    if (h.type === "link" && h.linkname) {
      const ls = h.linkname.indexOf("/");
      nh.linkname = ls < 0 ? h.linkname : h.linkname.slice(ls + 1);
    }
    stream.pipe(repack.entry(nh, (err) => next(err ?? undefined)));
  });
  ex.on("finish", () => repack.finalize());
  src.pipe(ex);
  await untar(repack as unknown as Readable, dest);
}

const exportCommand = command(
  { name: "export", usage: "cove export [OPTIONS] CONTAINER", summary: "Export a container's filesystem as a tar archive", flags: { output: { type: "string", short: "o", valueName: "string", description: "Write to a file, instead of STDOUT" } }, args: { min: 1, max: 1 } },
  async ({ flags, args }, run) => {
    if (flags.output === undefined && run.io.stdout.isTTY) throw new CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    const res = await (await run.client()).containerExport(args[0]!);
    if (flags.output !== undefined) {
      const tmp = `${flags.output}.cove-tmp`;
      const out = createWriteStream(tmp);
      await pipeline(res, out);
      await rename(tmp, flags.output);
    } else {
      await pipeline(res, run.io.stdout, { end: false });
    }
    return 0;
  },
);

const commitCommand = command(
  {
    name: "commit",
    usage: "cove commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    summary: "Create a new image from a container's changes",
    flags: {
      author: { type: "string", short: "a", valueName: "string", description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
      change: { type: "list", short: "c", valueName: "list", description: "Apply Dockerfile instruction to the created image" },
      message: { type: "string", short: "m", valueName: "string", description: "Commit message" },
      pause: { type: "bool", short: "p", default: true, description: "Pause container during commit" },
    },
    args: { min: 1, max: 2 },
  },
  async ({ flags, args }, run) => {
    let repo: string | undefined;
    let tag: string | undefined;
    if (args[1] !== undefined) {
      const ref = parseNormalizedNamed(args[1]);
      repo = familiarString({ domain: ref.domain, path: ref.path });
      tag = ref.tag;
    }
    const res = await (await run.client()).containerCommit({
      container: args[0]!,
      repo,
      tag,
      comment: flags.message,
      author: flags.author,
      pause: flags.pause,
      changes: flags.change.length ? flags.change.join("\n") : undefined,
    });
    run.out(res.Id + "\n");
    return 0;
  },
);

export const cpCommands: Record<string, Command> = {
  cp: cpCommand,
  "container cp": cpCommand,
  export: exportCommand,
  "container export": exportCommand,
  commit: commitCommand,
  "container commit": commitCommand,
};
