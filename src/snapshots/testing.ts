// Helpers for the snapshots tests: temp dirs that are always cleaned (mounts under them are
// detached first), tar building with tar-stream, and a comparable listing of a tree.

import { createHash } from "node:crypto";
import { lstat, mkdtemp, readFile, readdir, readlink, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pack, type Header } from "tar-stream";
import { isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { addon } from "../native/addon.js";

export async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "cove-test-"));
}

/** Mount points at or below dir, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile("/proc/self/mountinfo", "utf8");
  const points = info
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ")[4].replace(/\\040/g, " "))
    .filter((p) => p === dir || p.startsWith(dir + "/"));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Detaches every mount under dir, then removes it. */
export async function cleanup(dir: string | undefined): Promise<void> {
  if (!dir) return;
  for (let round = 0; round < 10; round++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) break;
    for (const p of points) {
      try {
        addon().umount2(p, addon().constants.MNT_DETACH);
      } catch (err) {
        // EINVAL, ENOENT: already gone
        if (!isErrno(err, "EINVAL", "ENOENT")) ignored(`unmount ${p}`, err);
      }
    }
  }
  await rm(dir, { recursive: true, force: true });
}

export interface TarSpec {
  header: Partial<Header> & { name: string; pax?: Record<string, string> };
  body?: Buffer | string;
}

/** Builds a tar archive with tar-stream. */
export async function makeTar(entries: TarSpec[]): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    p.on("data", (c: unknown) => {
      out.push(c as Buffer);
    });
    p.on("end", () => resolve());
    p.on("error", reject);
  });
  for (const e of entries) {
    const body = e.body === undefined ? undefined : Buffer.from(e.body);
    const header = { mtime: new Date(1_600_000_000_000), ...e.header, ...(body ? { size: body.length } : {}) };
    await new Promise<void>((resolve, reject) => {
      p.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(out);
}

export interface TreeOptions {
  /** Include directory mtimes (seconds). Default true. */
  dirTimes?: boolean;
  /** Include mtimes at nanosecond precision instead of seconds. */
  nanos?: boolean;
}

/** One line per path: type, mode, owner, size, content hash, link target, device, xattrs, mtime. */
export async function listTree(root: string, opts: TreeOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const abs = rel === "" ? root : path.join(root, rel);
    const names = (await readdir(abs)).sort();
    for (const n of names) {
      const r = rel === "" ? n : `${rel}/${n}`;
      const p = path.join(root, r);
      const st = await lstat(p, { bigint: true });
      const type = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : st.isFile() ? "f" : st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : st.isFIFO() ? "p" : "?";
      let extra = "";
      if (type === "f") extra = createHash("sha256").update(await readFile(p)).digest("hex").slice(0, 16);
      if (type === "l") extra = "-> " + (await readlink(p));
      if (type === "c" || type === "b") extra = `rdev=${st.rdev}`;
      const xattrs = addon()
        .llistxattr(p)
        .filter((x) => !x.startsWith("trusted.overlay."))
        .sort()
        .map((x) => `${x}=${addon().lgetxattr(p, x)?.toString("hex")}`)
        .join(",");
      const showTime = type !== "d" || opts.dirTimes !== false;
      const time = !showTime ? "" : opts.nanos ? String(st.mtimeNs) : String(st.mtimeNs / 1_000_000_000n);
      out.push(`${r} ${type} ${(st.mode & 0o7777n).toString(8)} ${st.uid}:${st.gid} ${type === "f" ? st.size : ""} ${extra} [${xattrs}] ${type === "l" ? "" : time}`);
      if (type === "d") await walk(r);
    }
  };
  await walk("");
  return out;
}
