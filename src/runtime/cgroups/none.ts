// The stand-in for a container that runs without a cgroup of its own: a rootless daemon whose
// user has no delegated cgroup v2 subtree (runc's rootless mode makes the same choice). Its
// processes are the init and everything below it in the process tree; limits, pause and
// cgroup statistics cannot be had and say so.

import { readdirSync, readFileSync } from "node:fs";
import { fromErrno, isErrno, unsupported } from "../../common/errors.js";
import type { LinuxResources } from "../spec.js";
import type { CgroupStats } from "./stats.js";
import type { CgroupManager } from "./types.js";

const NO_CGROUP_HINT = "rootless cove has no cgroup delegated to it: give the user a cgroup v2 subtree (systemd's user@.service Delegate=yes on a cgroup v2 host)";

/** Whether a resources object asks for any limit a cgroup would enforce (device rules aside: the user namespace already bars device nodes). */
export function hasLimits(r: LinuxResources | undefined): boolean {
  if (!r) return false;
  return Object.entries(r).some(([k, v]) => k !== "devices" && v !== undefined && v !== null && !(typeof v === "object" && Object.keys(v as object).length === 0));
}

/** Every descendant of pid (pid included), from the ppid fields of /proc/<n>/stat. */
export function processTree(pid: number, procRoot = "/proc"): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`${procRoot}/${name}/stat`, "utf8"); // procfs: nothing to wait for
    } catch {
      continue; // exited while listed
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

export class NoCgroupManager implements CgroupManager {
  readonly paths: Record<string, string> = {};
  readonly warnings: string[] = [];

  constructor(
    readonly version: 1 | 2,
    private readonly id: string,
    /** The container's init pid; 0 before it exists. */
    private readonly initPid: () => number,
  ) {}

  async create(): Promise<void> {}

  procsFiles(): string[] {
    return [];
  }

  async apply(resources: LinuxResources): Promise<void> {
    if (hasLimits(resources)) throw unsupported(`container ${this.id} runs without a cgroup: its resource limits cannot be set`, { code: "cgroup.none", hint: NO_CGROUP_HINT });
  }

  async stats(): Promise<CgroupStats> {
    return { pids: { current: (await this.pids()).length } };
  }

  async pids(): Promise<number[]> {
    const init = this.initPid();
    if (!init || !isLive(init)) return [];
    try {
      return processTree(init).filter(isLive);
    } catch (err) {
      throw fromErrno(err, `listing the processes of container ${this.id}`);
    }
  }

  async freeze(): Promise<void> {
    throw unsupported(`container ${this.id} runs without a cgroup: it cannot be paused`, { code: "cgroup.none", hint: NO_CGROUP_HINT });
  }

  async thaw(): Promise<void> {
    throw unsupported(`container ${this.id} runs without a cgroup: it cannot be paused or unpaused`, { code: "cgroup.none", hint: NO_CGROUP_HINT });
  }

  async frozen(): Promise<boolean> {
    return false;
  }

  async killAll(signal: NodeJS.Signals | number): Promise<void> {
    for (const pid of await this.pids()) {
      try {
        process.kill(pid, signal);
      } catch (err) {
        if (!isErrno(err, "ESRCH")) throw fromErrno(err, `sending ${String(signal)} to process ${pid} of container ${this.id}`);
      }
    }
  }

  async destroy(): Promise<void> {}

  async oomKilled(): Promise<boolean> {
    return false;
  }
}

function isLive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
