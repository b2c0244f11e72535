// Base images without the internet.
//
// busyboxRootfsTar: Debian's static busybox (package busybox-static) with its applets installed as
// symlinks by running `busybox --install -s` inside a chroot of the tree, plus /etc/passwd,
// /etc/group and /tmp; tarred by cove's own tarDirectory (deterministic bytes for a given tree).
// debianRootfsTar: `mmdebstrap --variant=minbase bookworm`, from the mirror apt is configured with,
// cached under /var/cache/cove-test/ so it is built once per machine.

import { execFile } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { access, chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { tarDirectory } from "../../src/snapshots/diff.js";
import type { ImageService } from "../../src/images/service.js";

const run = promisify(execFile);

export const BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"];

/** The static busybox binary, or undefined when busybox-static is not installed. */
export async function findBusybox(): Promise<string | undefined> {
  for (const p of BUSYBOX_CANDIDATES) {
    try {
      const { stdout } = await run("file", ["-L", p]).catch(() => ({ stdout: "statically linked" }));
      if (/statically linked|static-pie/.test(stdout)) return p;
    } catch {
      // try the next
    }
  }
  return undefined;
}

/** A temp directory named /tmp/cove-test-*. */
export function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "cove-test-"));
}

/** Builds the busybox rootfs under dir/rootfs and writes dir/busybox.tar; returns the tar's path. */
export async function busyboxRootfsTar(dir: string): Promise<string> {
  const bb = await findBusybox();
  if (!bb) throw new Error("busybox-static is not installed (apt-get install -y busybox-static)");
  const rootfs = path.join(dir, "rootfs");
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys", "dev"]) await mkdir(path.join(rootfs, d), { recursive: true, mode: 0o755 });
  await mkdir(path.join(rootfs, "tmp"), { mode: 0o755 });
  await chmod(path.join(rootfs, "tmp"), 0o1777);
  await copyFile(bb, path.join(rootfs, "bin/busybox"));
  await chmod(path.join(rootfs, "bin/busybox"), 0o755);
  await run("chroot", [rootfs, "/bin/busybox", "--install", "-s"]);
  await writeFile(path.join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  await writeFile(path.join(rootfs, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  const tar = path.join(dir, "busybox.tar");
  await tarDirectory(rootfs, createWriteStream(tar));
  return tar;
}

/** Imports the busybox rootfs as `reference` (default busybox:latest) with CMD ["sh"]; returns the image ID. */
export async function importBusybox(svc: ImageService, reference = "busybox:latest"): Promise<string> {
  const dir = await tempDir();
  try {
    const tar = await busyboxRootfsTar(dir);
    return await svc.importRootfs(createReadStream(tar), { reference, changes: ['CMD ["sh"]'] });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The mirror URL apt uses for Debian's main archive (from /etc/apt/sources.list*). */
export async function debianMirror(): Promise<string | undefined> {
  const files = ["/etc/apt/sources.list"];
  try {
    for (const f of await readdir("/etc/apt/sources.list.d")) files.push(path.join("/etc/apt/sources.list.d", f));
  } catch {
    // no directory
  }
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, "utf8");
    } catch {
      continue;
    }
    // deb822: "URIs: http://deb.debian.org/debian" with "Suites: bookworm ..."; one-line: "deb URL bookworm main"
    for (const block of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(block)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(block)?.[1] ?? "";
      if (uri && /\bbookworm\b(?!-)/.test(suites) && /debian\/?$/.test(uri)) return uri;
    }
    for (const line of text.split("\n")) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line.trim());
      if (m?.[1] && /debian\/?$/.test(m[1])) return m[1];
    }
  }
  return undefined;
}

export const DEBIAN_CACHE = "/var/cache/cove-test/debian-bookworm-minbase.tar";

/**
 * A Debian bookworm minbase rootfs tar (mmdebstrap), cached per machine. Returns the tar path, or
 * a reason string prefixed "skip:" when it cannot be built here.
 */
export async function debianRootfsTar(): Promise<string> {
  try {
    await access(DEBIAN_CACHE);
    if ((await stat(DEBIAN_CACHE)).size > 0) return DEBIAN_CACHE;
  } catch {
    // build it
  }
  try {
    await run("which", ["mmdebstrap"]);
  } catch {
    return "skip: mmdebstrap is not installed (apt-get install -y mmdebstrap)";
  }
  const mirror = await debianMirror();
  if (!mirror) return "skip: no Debian bookworm mirror found in /etc/apt/sources.list*";
  await mkdir(path.dirname(DEBIAN_CACHE), { recursive: true });
  // mmdebstrap picks the output format from the name: keep ".tar" and say it outright
  const tmp = `${DEBIAN_CACHE}.tmp-${process.pid}.tar`;
  try {
    await run("mmdebstrap", ["--variant=minbase", "--mode=root", "--format=tar", "bookworm", tmp, mirror], { maxBuffer: 64 * 1024 * 1024 });
    await rename(tmp, DEBIAN_CACHE);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    return `skip: mmdebstrap failed: ${(err as Error).message.split("\n").slice(-3).join(" ")}`;
  }
  return DEBIAN_CACHE;
}

/** Reads a whole stream of a file (tests). */
export async function fileBytes(p: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of createReadStream(p)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
