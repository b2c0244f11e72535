// Cgroups for a rootless daemon's containers. Where the user has a delegated cgroup v2 subtree
// (the launcher's own cgroup, with its cgroup.procs and cgroup.subtree_control the user's, as
// systemd's user@.service Delegate=yes gives), the launcher (on the host side, where it sees
// every process of that cgroup) arranges it the way cgroup v2's "no internal processes" rule
// wants, before it starts the daemon:
//
//   <own>/            no processes; subtree_control: the controllers it has (cpu, memory, pids...)
//   <own>/daemon      the launcher, the daemon and whatever else was in <own>
//   <own>/containers  no processes; the same controllers: the daemon's cgroup parent
//
// and hands the daemon <own>/containers. Anywhere else (cgroup v1 or hybrid, or v2 without
// delegation) there is nothing to arrange: the daemon runs its containers without cgroups and
// discards their limits with one warning (as runc's and Docker's rootless modes do).

import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { isErrno } from "../common/errors.js";

/** The cgroup v2 path (from the unified root) in /proc/self/cgroup's text; undefined on a v1 or hybrid host's text. */
export function ownCgroupPath(procSelfCgroup: string): string | undefined {
  const lines = procSelfCgroup.split("\n").filter(Boolean);
  // a hybrid host lists its v1 hierarchies beside the unified one: only a pure v2 host delegates
  if (lines.length !== 1 || !lines[0]!.startsWith("0::/")) return undefined;
  return lines[0]!.slice(3);
}

/** The controllers the daemon's containers need for limits, in the order they are enabled. */
const WANTED = ["cpu", "cpuset", "io", "memory", "pids"];

export type Delegation = { parent: string; controllers: string[] } | { reason: string };

/**
 * Arranges the delegated subtree at mount/own (see the header) and returns the containers'
 * parent (a path from the cgroup root), or why there is none. Changes nothing where the subtree
 * is not the user's.
 */
export function delegateCgroup(mount: string, own: string | undefined): Delegation {
  if (!existsSync(path.join(mount, "cgroup.controllers"))) return { reason: "this host does not have cgroup v2 only (cgroup v1 or hybrid)" };
  if (own === undefined) return { reason: "this host does not have cgroup v2 only (cgroup v1 or hybrid)" };
  const dir = path.join(mount, own);
  for (const f of ["cgroup.procs", "cgroup.subtree_control"]) {
    try {
      accessSync(path.join(dir, f), constants.W_OK);
    } catch {
      return { reason: `the cgroup ${own} is not delegated to this user (its ${f} is not writable: give the user a cgroup v2 subtree, e.g. a systemd user service with Delegate=yes)` };
    }
  }
  const available = words(readFileSync(path.join(dir, "cgroup.controllers"), "utf8"));
  const controllers = WANTED.filter((c) => available.includes(c));
  if (!controllers.includes("memory") && !controllers.includes("pids") && !controllers.includes("cpu")) {
    return { reason: `the delegated cgroup ${own} has none of the cpu, memory and pids controllers (its parent's cgroup.subtree_control does not enable them)` };
  }
  try {
    const daemon = path.join(dir, "daemon");
    mkdirIfMissing(daemon);
    // every process of <own> (the launcher, the command that started it) moves to <own>/daemon;
    // new ones may fork meanwhile: a few rounds
    for (let round = 0; round < 20; round++) {
      const pids = words(readFileSync(path.join(dir, "cgroup.procs"), "utf8"));
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          writeFileSync(path.join(daemon, "cgroup.procs"), pid);
        } catch (err) {
          if (!isErrno(err, "ESRCH")) throw err; // exited meanwhile
        }
      }
    }
    enable(dir, controllers);
    const containers = path.join(dir, "containers");
    mkdirIfMissing(containers);
    enable(containers, controllers);
    return { parent: path.posix.join(own, "containers"), controllers };
  } catch (err) {
    return { reason: `arranging the delegated cgroup ${own}: ${(err as Error).message}` };
  }
}

/**
 * Undoes delegateCgroup once the daemon has ended: removes the containers' cgroups (their
 * processes end with the daemon's pid namespace, so a cgroup still busy is tried again, bounded),
 * then <own>/containers, and turns the controllers off in <own>, so that the next start may place
 * its processes in <own> again (a service manager restarting the daemon does). <own>/daemon, which
 * holds the launcher itself, stays.
 */
export async function releaseCgroup(mount: string, d: { parent: string; controllers: string[] }, log: (line: string) => void): Promise<void> {
  const dir = path.join(mount, d.parent);
  for (let waited = 0; ; waited += 100) {
    let names: string[];
    try {
      names = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) log(`could not list ${dir}: ${(err as Error).message}`);
      return;
    }
    const busy: string[] = [];
    for (const name of names) {
      try {
        rmdirSync(path.join(dir, name));
      } catch (err) {
        if (isErrno(err, "EBUSY") && waited < 10_000) busy.push(name);
        else if (!isErrno(err, "ENOENT")) log(`could not remove the container cgroup ${path.join(dir, name)}: ${(err as Error).message}`);
      }
    }
    if (busy.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    rmdirSync(dir);
    writeFileSync(path.join(path.dirname(dir), "cgroup.subtree_control"), d.controllers.map((c) => `-${c}`).join(" "));
  } catch (err) {
    log(`could not hand back the delegated cgroup ${path.dirname(d.parent)}: ${(err as Error).message}`);
  }
}

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

function mkdirIfMissing(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    if (!isErrno(err, "EEXIST")) throw err;
  }
}

function enable(dir: string, controllers: string[]): void {
  const on = words(readFileSync(path.join(dir, "cgroup.subtree_control"), "utf8"));
  const missing = controllers.filter((c) => !on.includes(c));
  if (missing.length > 0) writeFileSync(path.join(dir, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
}
