// Finding the cgroup hierarchies of this host: which cgroupfs mounts exist (from
// /proc/self/mountinfo, never from hard-coded paths), which controllers each carries, and which
// cgroup this process sits in (from /proc/self/cgroup), so that paths can be resolved as runc's
// cgroupfs driver does.

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { CoveError, fromErrno, invalid, unsupported } from "../../common/errors.js";

export interface CgroupMount {
  type: "cgroup" | "cgroup2";
  /** Absolute directory of the mount (prefixed with mountRoot in tests). */
  mountPoint: string;
  /** The cgroup path the mount shows at its top ("/" unless bind-mounted from a sub-cgroup). */
  root: string;
  /** v1: the subsystems and named hierarchies ("name=systemd"); v2: empty. */
  controllers: string[];
}

export interface CgroupHost {
  /** "hybrid": v1 controllers plus a cgroup2 mount (cove drives the v1 side there). */
  version: 1 | 2 | "hybrid";
  /** v1 hierarchies, one per mounted hierarchy. */
  v1: CgroupMount[];
  /** The cgroup2 mount, if any. */
  unified?: CgroupMount;
  /** This process's own cgroup per controller ("" = the v2 hierarchy), from /proc/self/cgroup. */
  self: Record<string, string>;
  /** Where the files were read from (tests pass a fake root). */
  mountRoot: string;
}

const MOUNT_OPTIONS = new Set(["rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime", "strictatime", "nodiratime", "clone_children", "xattr", "noprefix", "cpuset_v2_mode", "favordynmods"]);

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses the cgroup and cgroup2 lines of a mountinfo file. mountPoints are prefixed with mountRoot. */
export function parseMountinfo(text: string, mountRoot = ""): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const [fstype, , superOptions = ""] = line.slice(sep + 3).split(" ");
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const fields = line.slice(0, sep).split(" ");
    const root = unescape(fields[3] ?? "/");
    const mountPoint = path.join(mountRoot || "/", unescape(fields[4] ?? ""));
    const controllers =
      fstype === "cgroup2"
        ? []
        : superOptions
            .split(",")
            .filter((o) => o !== "" && !MOUNT_OPTIONS.has(o) && !o.startsWith("release_agent="))
            .sort();
    if (fstype === "cgroup" && controllers.length === 0) continue;
    out.push({ type: fstype, mountPoint, root, controllers });
  }
  return out;
}

/** Parses /proc/self/cgroup: "4:memory:/a/b" → memory → /a/b; "0::/x" → "" → /x. */
export function parseProcCgroup(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, , list = "", cgPath = "/"] = m;
    if (list === "") out[""] = cgPath;
    else for (const c of list.split(",")) out[c] = cgPath;
  }
  return out;
}

/**
 * The host's cgroup mounts, read once per process. They are set up at boot and do not move while
 * cove runs, but /proc/self/mountinfo grows with every container's rootfs mount, and reading and
 * parsing it (milliseconds with a few hundred containers) on each of the several cgroup
 * operations of every container start and stop added up.
 */
let hostCgroupMounts: CgroupMount[] | undefined;

let hostCgroupLines: string[] | undefined;

/**
 * The cgroup and cgroup2 lines of this process's /proc/self/mountinfo, read once per process, for
 * the same reason: the kernel writes the whole table out at each read (~4 ms of CPU with a
 * thousand mounts), and a container's create needs these lines twice, for its cgroup and for its
 * /sys/fs/cgroup (cgroup-mounts.ts).
 */
export function hostCgroupMountLines(): readonly string[] {
  if (hostCgroupLines) return hostCgroupLines;
  const lines = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.includes(" - cgroup ") || l.includes(" - cgroup2 "));
  // none mounted yet: read again next time
  if (lines.length > 0) hostCgroupLines = lines;
  return lines;
}

/**
 * Reads the host's cgroup layout. With mountRoot (tests), reads <mountRoot>/proc/self/mountinfo and
 * <mountRoot>/proc/self/cgroup, and mount points in it are taken relative to mountRoot.
 */
export async function detectCgroupHost(mountRoot?: string): Promise<CgroupHost> {
  const root = mountRoot ?? "";
  const mountinfoFile = path.join(root || "/", "proc/self/mountinfo");
  const cgroupFile = path.join(root || "/", "proc/self/cgroup");
  let mounts: CgroupMount[];
  let selfText: string;
  try {
    // procfs never waits on a disk: read synchronously (this runs on every container operation)
    mounts = !root && hostCgroupMounts ? hostCgroupMounts : parseMountinfo(root ? readFileSync(mountinfoFile, "utf8") : hostCgroupMountLines().join("\n"), root);
    selfText = existsSync(cgroupFile) ? readFileSync(cgroupFile, "utf8") : "";
  } catch (err) {
    throw fromErrno(err, `reading ${mountinfoFile} to find the cgroup mounts`, "cove needs /proc mounted");
  }
  // The same hierarchy can be mounted more than once (bind mounts): keep the one showing the most.
  const v1 = new Map<string, CgroupMount>();
  let unified: CgroupMount | undefined;
  for (const m of mounts) {
    if (m.type === "cgroup2") {
      if (!unified || m.root.length < unified.root.length) unified = m;
      continue;
    }
    const key = m.controllers.join(",");
    const prev = v1.get(key);
    if (!prev || m.root.length < prev.root.length) v1.set(key, m);
  }
  const hierarchies = [...v1.values()];
  const hasV1Controllers = hierarchies.some((m) => m.controllers.some((c) => !c.startsWith("name=")));
  let version: CgroupHost["version"];
  if (hasV1Controllers) version = unified ? "hybrid" : 1;
  else if (unified) version = 2;
  else
    throw unsupported(`no cgroup filesystem is mounted on this host (no cgroup or cgroup2 line in ${mountinfoFile})`, {
      code: "cgroup.not-mounted",
      hint: "mount cgroup2 on /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup) or the v1 controllers",
    });
  if (!root) hostCgroupMounts = mounts;
  const host: CgroupHost = { version, v1: version === 2 ? [] : hierarchies, self: parseProcCgroup(selfText), mountRoot: root };
  if (unified) host.unified = unified;
  return host;
}

/** The controllers of a v1 hierarchy this host has mounted, by name. */
export function v1Mount(host: CgroupHost, controller: string): CgroupMount | undefined {
  return host.v1.find((m) => m.controllers.includes(controller));
}

/**
 * Validates linux.cgroupsPath and turns it into a cgroup path: absolute paths are taken as given
 * (relative to each hierarchy's root), relative ones are marked for resolution under the caller's
 * own cgroup (returned with relative: true), absent means /cove/<id>.
 */
export function normalizeCgroupsPath(id: string, cgroupsPath: string | undefined): { path: string; relative: boolean } {
  if (cgroupsPath === undefined || cgroupsPath === "") return { path: `/cove/${id}`, relative: false };
  if (/^[^/]*:[^/]*:[^/]*$/.test(cgroupsPath)) {
    throw unsupported(`linux.cgroupsPath "${cgroupsPath}" is a systemd-style "slice:prefix:name" path, which cove's cgroupfs driver does not support`, {
      code: "cgroup.systemd-path",
      field: "linux.cgroupsPath",
      hint: "use a filesystem-style path such as /cove/<id>, or leave cgroupsPath unset",
    });
  }
  if (cgroupsPath.includes("\0")) throw invalid(`linux.cgroupsPath contains a NUL byte`, { field: "linux.cgroupsPath", code: "cgroup.path-invalid" });
  const parts = cgroupsPath.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) {
    throw invalid(`linux.cgroupsPath "${cgroupsPath}" contains "..", which could escape the cgroup tree`, {
      field: "linux.cgroupsPath",
      code: "cgroup.path-invalid",
      hint: "give a path without '..' components",
    });
  }
  if (parts.length === 0) {
    throw invalid(`linux.cgroupsPath "${cgroupsPath}" names the root cgroup, which a container cannot own`, {
      field: "linux.cgroupsPath",
      code: "cgroup.path-invalid",
      hint: "give a path below the root, such as /cove/<id>",
    });
  }
  return { path: `/${parts.join("/")}`, relative: !cgroupsPath.startsWith("/") };
}

/** The directory of cgroup path cg (see normalizeCgroupsPath) in mount m, whose own cgroup there is `own`. */
export function cgroupDir(m: CgroupMount, cg: { path: string; relative: boolean }, own: string | undefined): string {
  if (!cg.relative) return path.join(m.mountPoint, cg.path);
  const ownPath = own ?? "/";
  const rel = ownPath === m.root || m.root === "/" ? ownPath.slice(m.root === "/" ? 0 : m.root.length) : undefined;
  if (rel === undefined && !ownPath.startsWith(`${m.root}/`)) {
    throw new CoveError("unsupported", `this process's cgroup ${ownPath} is not visible in the mount ${m.mountPoint} (which shows ${m.root})`, {
      code: "cgroup.path-invisible",
      field: "linux.cgroupsPath",
      hint: "use an absolute linux.cgroupsPath",
    });
  }
  const ownRel = rel ?? ownPath.slice(m.root.length);
  return path.join(m.mountPoint, ownRel || "/", cg.path);
}
