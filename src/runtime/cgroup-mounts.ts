// What a container's /sys/fs/cgroup mount is made of: on cgroup v2 one tree; on v1 one
// directory per hierarchy mounted on the host, each either a fresh cgroupfs mount (inside a
// cgroup namespace) or a bind of the container's own cgroup directory.

import { readFileSync } from "node:fs";
import path from "node:path";
import type { CgroupManager } from "./cgroups/index.js";
import { hostCgroupMountLines } from "./cgroups/mountinfo.js";
import type { CgroupHierarchy } from "./plan/compile.js";

const MOUNT_FLAG_OPTIONS = new Set(["rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime", "clone_children", "xattr"]);

/** Unescapes the octal escapes (\040 for space) of /proc/self/mountinfo. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The cgroup (v1) lines of a mountinfo file; this process's are read once (see hostCgroupMountLines). */
function cgroupLines(mountinfo: string): string[] {
  // procfs: no disk to wait for
  const lines = mountinfo === "/proc/self/mountinfo" ? hostCgroupMountLines() : readFileSync(mountinfo, "utf8").split("\n");
  return lines.filter((l) => l.includes(" - cgroup "));
}

export async function cgroupHierarchies(cg: CgroupManager, mountinfo = "/proc/self/mountinfo"): Promise<CgroupHierarchy[]> {
  const dirs = Object.values(cg.paths);
  if (cg.version === 2) return [{ name: "", data: "", hostDir: dirs[0] ?? "" }];
  const out: CgroupHierarchy[] = [];
  for (const line of cgroupLines(mountinfo)) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const [fstype, , superOptions] = line.slice(sep + 3).split(" ");
    if (fstype !== "cgroup") continue;
    const mountPoint = unescape(line.slice(0, sep).split(" ")[4] ?? "");
    const subsystems = (superOptions ?? "").split(",").filter((o) => !MOUNT_FLAG_OPTIONS.has(o) && !o.startsWith("release_agent="));
    if (subsystems.length === 0) continue;
    const hostDir = dirs.find((d) => d === mountPoint || d.startsWith(`${mountPoint}/`)) ?? "";
    out.push({ name: path.basename(mountPoint), data: subsystems.join(","), hostDir });
  }
  return out;
}
