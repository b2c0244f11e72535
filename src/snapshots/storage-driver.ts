// How a rootless daemon mounts its snapshots: overlayfs mounted inside the user namespace (Linux
// 5.11+, with user.overlay.* attributes: "userxattr"), or fuse-overlayfs where the kernel refuses
// that (older kernels, or a state directory on a filesystem without user.* xattrs, such as tmpfs
// before Linux 6.6). The daemon probes once at start (probeStorage) and sets the choice for the
// process (setStorageDriver); mountSnapshot then mounts an overlay description either way.
//
// A fuse-overlayfs mount is a process of its own (started in the foreground through the addon,
// which reaps it): unmounting the target (umount2, as for any mount) ends the FUSE connection and
// with it the process. A rootless daemon is the init of its pid namespace, so its fuse-overlayfs
// processes end with it too, crashed or stopped.

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CoveError, isErrno, unsupported } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { addon } from "../native/addon.js";
import { mountAll, unmountAll, type Mount } from "./mount.js";

const errMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The two ways of mounting snapshots: the kernel's overlayfs, or fuse-overlayfs. */
export type StorageDriver = "overlay2" | "fuse-overlayfs";

/** The names --storage-driver (and daemon.json's "storage-driver") accept. */
export function parseStorageDriver(name: string, from: string): StorageDriver {
  if (name === "overlay2" || name === "overlay") return "overlay2";
  if (name === "fuse-overlayfs") return "fuse-overlayfs";
  throw new CoveError("invalid", `${from}: unknown storage driver ${JSON.stringify(name)}`, { code: "storage.unknown-driver", hint: 'give "overlay2" or "fuse-overlayfs"' });
}

export type ProbeResult = { ok: true; program?: string } | { ok: false; reason: string };

export interface StorageChoice {
  driver: StorageDriver;
  /** The fuse-overlayfs program, for the fuse-overlayfs driver. */
  program?: string;
  /** What `docker info` shows as DriverStatus. */
  status: [string, string][];
  /** Why the kernel's overlayfs is not used (for the daemon's log), when fuse-overlayfs replaces it. */
  fallbackReason?: string;
}

const FUSE_HINT = "install fuse-overlayfs (Debian: apt-get install fuse-overlayfs) and make /dev/fuse readable and writable by the user";

/**
 * The storage driver from the probes' results: the one forced (a flag, daemon.json or
 * $COVE_ROOTLESS_STORAGE) when it works, else the kernel's overlayfs, else fuse-overlayfs. fuse is
 * undefined when it was not probed (native worked and nothing forced it). Throws, naming what is
 * missing, when neither works.
 */
export function chooseStorage(forced: StorageDriver | undefined, native: ProbeResult | undefined, fuse: ProbeResult | undefined): StorageChoice {
  const fuseChoice = (program: string | undefined, fallbackReason?: string): StorageChoice => ({
    driver: "fuse-overlayfs",
    ...(program ? { program } : {}),
    status: [["Mount Program", program ?? "fuse-overlayfs"], ...(fallbackReason ? ([["Native Overlay", `unavailable: ${fallbackReason}`]] as [string, string][]) : [])],
    ...(fallbackReason ? { fallbackReason } : {}),
  });
  const nativeChoice: StorageChoice = { driver: "overlay2", status: [["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"], ["userxattr", "true"]] };
  if (forced === "fuse-overlayfs") {
    if (fuse?.ok) return fuseChoice(fuse.program);
    throw unsupported(`the fuse-overlayfs storage driver was asked for but cannot be used: ${fuse ? fuse.reason : "not probed"}`, { code: "storage.fuse-unavailable", hint: FUSE_HINT });
  }
  if (forced === "overlay2") {
    if (native?.ok) return nativeChoice;
    throw unsupported(`the overlay2 storage driver was asked for but the kernel refuses overlayfs in this user namespace: ${native ? native.reason : "not probed"}`, {
      code: "storage.overlay-unavailable",
      hint: "overlayfs in a user namespace needs Linux 5.11+ and a state directory on a filesystem with user.* xattrs; or use --storage-driver fuse-overlayfs",
    });
  }
  if (native?.ok) return nativeChoice;
  if (fuse?.ok) return fuseChoice(fuse.program, native?.reason ?? "not probed");
  throw unsupported(`rootless cove cannot mount image layers: the kernel refuses overlayfs in this user namespace (${native ? native.reason : "not probed"}), and fuse-overlayfs cannot be used (${fuse ? fuse.reason : "not probed"})`, {
    code: "storage.none",
    hint: FUSE_HINT,
  });
}

let current: StorageChoice = { driver: "overlay2", status: [] };

/** The storage driver of this process (overlay2 unless a rootless daemon chose otherwise). */
export function storageDriver(): StorageChoice {
  return current;
}

export function setStorageDriver(choice: StorageChoice): void {
  current = choice;
}

function findProgram(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? "").split(":").filter(Boolean), "/usr/local/bin", "/usr/bin", "/bin"]) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The fuse-overlayfs command line for an overlay description: absolute layer paths, the kernel-only options dropped. */
export function fuseOverlayArgs(m: Mount, target: string): string[] {
  const abs = (p: string) => (m.cwd && !path.isAbsolute(p) ? path.join(m.cwd, p) : p);
  const opts: string[] = [];
  for (const o of m.options) {
    const eq = o.indexOf("=");
    const key = eq > 0 ? o.slice(0, eq) : o;
    if (key === "lowerdir") opts.push(`lowerdir=${o.slice(eq + 1).split(":").map(abs).join(":")}`);
    else if (key === "upperdir" || key === "workdir") opts.push(`${key}=${abs(o.slice(eq + 1))}`);
    // the generic mount flags FUSE takes as they are
    else if (["ro", "rw", "nosuid", "nodev", "noexec", "noatime"].includes(key)) opts.push(key);
    // userxattr, volatile, redirect_dir, metacopy, index: the kernel overlay's own
  }
  return ["-f", "-o", opts.join(","), target];
}

/** The filesystem type mounted at target per /proc/self/mountinfo (the last mount there), or undefined. */
function mountedType(target: string): string | undefined {
  const escaped = target.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  let type: string | undefined;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[4] === escaped) type = f[f.indexOf("-") + 1];
  }
  return type;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** How long a fuse-overlayfs start may take on a loaded machine before it counts as failed. */
const FUSE_START_MS = 60_000;

/**
 * Mounts an overlay description at target with fuse-overlayfs: its process runs until the target
 * is unmounted. Its messages go to logFile, which a failure quotes (and which is removed again).
 */
export async function mountFuseOverlay(m: Mount, target: string, program: string, logFile: string): Promise<void> {
  const args = fuseOverlayArgs(m, target);
  const log = openSync(logFile, "w", 0o600);
  const nul = openSync("/dev/null", "r");
  let pid: number;
  try {
    pid = addon().spawnDetached(program, [program, ...args], [nul, log, log]);
  } catch (err) {
    throw unsupported(`starting ${program} to mount ${target}: ${errMessage(err)}`, { code: "storage.fuse-unavailable", hint: FUSE_HINT, cause: err });
  } finally {
    closeSync(nul);
    closeSync(log);
  }
  // read on a failure; removed either way (the process keeps writing to it, unlinked, while it runs)
  const logText = () => {
    try {
      return readFileSync(logFile, "utf8").trim();
    } catch {
      return "";
    } finally {
      rmSync(logFile, { force: true });
    }
  };
  const deadline = Date.now() + FUSE_START_MS;
  for (;;) {
    if (mountedType(target)?.startsWith("fuse")) {
      rmSync(logFile, { force: true });
      return;
    }
    if (!alive(pid)) {
      throw new CoveError("system", `fuse-overlayfs could not mount ${target}: ${logText() || "it exited without a message"}`, { code: "storage.fuse-mount", hint: FUSE_HINT });
    }
    if (Date.now() > deadline) {
      try {
        process.kill(pid, "SIGKILL");
      } catch (err) {
        ignored(`stop fuse-overlayfs (pid ${pid}) that did not mount ${target}`, err);
      }
      throw new CoveError("system", `fuse-overlayfs did not mount ${target} within ${FUSE_START_MS / 1000} s: ${logText()}`, { code: "storage.fuse-mount" });
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Mounts a snapshot's descriptions at target with this process's storage driver: overlay
 * descriptions through fuse-overlayfs where that is the driver, everything else with mount(2).
 */
export async function mountSnapshot(mounts: Mount[], target: string): Promise<void> {
  const choice = current;
  const overlay = mounts.length === 1 && mounts[0]!.type === "overlay" ? mounts[0]! : undefined;
  if (choice.driver !== "fuse-overlayfs" || !overlay) {
    mountAll(mounts, target);
    return;
  }
  await mountFuseOverlay(overlay, target, choice.program ?? "fuse-overlayfs", `${target}.fuse-overlayfs.log`);
}

/**
 * Whether the kernel's overlayfs works here as a rootless daemon uses it: the directory's
 * filesystem keeps user.* xattrs, and an overlay with userxattr mounts and makes an opaque
 * directory (what a container's `rm -rf d; mkdir d` does).
 */
export function probeNativeOverlay(dir: string): ProbeResult {
  const d = (s: string) => path.join(dir, s);
  for (const s of ["lower/d", "upper", "work", "merged"]) mkdirSync(d(s), { recursive: true, mode: 0o700 });
  writeFileSync(d("lower/d/f"), "");
  try {
    addon().lsetxattr(d("lower"), "user.cove-probe", Buffer.from("y"), 0);
  } catch (err) {
    if (isErrno(err, "EOPNOTSUPP", "ENOTSUP", "EPERM")) return { ok: false, reason: `the filesystem of ${dir} keeps no user.* extended attributes (tmpfs before Linux 6.6)` };
    return { ok: false, reason: `setting a user.* extended attribute in ${dir}: ${errMessage(err)}` };
  }
  try {
    mountAll([{ type: "overlay", source: "overlay", options: [`lowerdir=${d("lower")}`, `upperdir=${d("upper")}`, `workdir=${d("work")}`, "userxattr"] }], d("merged"));
  } catch (err) {
    return { ok: false, reason: `mounting overlayfs with userxattr: ${errMessage(err)}` };
  }
  try {
    rmSync(d("merged/d"), { recursive: true });
    mkdirSync(d("merged/d"));
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `making an opaque directory on overlayfs: ${errMessage(err)}` };
  } finally {
    unmountAll(d("merged"), addon().constants.MNT_DETACH);
  }
}

/** Whether fuse-overlayfs is installed and mounts here. */
export async function probeFuseOverlay(dir: string): Promise<ProbeResult> {
  const program = findProgram("fuse-overlayfs");
  if (!program) return { ok: false, reason: "fuse-overlayfs is not installed" };
  try {
    closeSync(openSync("/dev/fuse", "r+"));
  } catch (err) {
    return { ok: false, reason: `/dev/fuse cannot be opened: ${errMessage(err)}` };
  }
  const d = (s: string) => path.join(dir, s);
  for (const s of ["lower/d", "upper", "work", "merged"]) mkdirSync(d(s), { recursive: true, mode: 0o700 });
  try {
    await mountFuseOverlay({ type: "overlay", source: "overlay", options: [`lowerdir=${d("lower")}`, `upperdir=${d("upper")}`, `workdir=${d("work")}`] }, d("merged"), program, d("fuse.log"));
  } catch (err) {
    return { ok: false, reason: errMessage(err) };
  }
  try {
    writeFileSync(d("merged/d/f"), "");
    return { ok: true, program };
  } catch (err) {
    return { ok: false, reason: `writing through fuse-overlayfs: ${errMessage(err)}` };
  } finally {
    unmountAll(d("merged"), addon().constants.MNT_DETACH);
  }
}

/**
 * Probes in a scratch directory under dir (removed again) and returns the storage driver to use:
 * the forced one, else the kernel's overlayfs, else fuse-overlayfs (see chooseStorage).
 */
export async function probeStorage(dir: string, forced: StorageDriver | undefined): Promise<StorageChoice> {
  const scratch = path.join(dir, `storage-probe-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  try {
    const native = forced === "fuse-overlayfs" ? undefined : probeNativeOverlay(path.join(scratch, "native"));
    const fuse = native?.ok ? undefined : await probeFuseOverlay(path.join(scratch, "fuse"));
    return chooseStorage(forced, native, fuse);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
