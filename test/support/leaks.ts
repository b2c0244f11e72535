// What a daemon holds in the kernel and on disk for its containers, listed by category, so a test
// can say that nothing is held for a container that no longer runs: overlay mounts, network
// namespaces, cgroups, runtime state, container records, veths on its bridge, published-port
// DNAT rules and held ports. Each list names the leaked things; a clean daemon has every list empty.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { instanceLayout } from "../../src/common/instance.js";

export interface DaemonPlaces {
  /** The daemon's state root. */
  root: string;
  /** Its exec root (network namespaces, pid file) and runtime state root, when not derived from root. */
  execRoot?: string;
  runtimeRoot?: string;
  /** The daemon's pid, for its held ports (none when it is not running). */
  pid?: number;
  /** Every container id the test made: only these are looked for in the shared places. */
  ids: Iterable<string>;
}

export type Leaks = Record<"records" | "runtimeState" | "overlayMounts" | "netns" | "cgroups" | "veths" | "dnatRules" | "heldPorts", string[]>;

const lines = (cmd: string, args: string[]): string[] => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

const entries = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/**
 * What is held beyond what `running` (ids of the containers that run) and `published` (the host
 * ports they publish) account for. A container that exists but does not run may keep its record.
 */
export function findLeaks(p: DaemonPlaces, existing: Set<string>, running: Set<string>, published: Set<number>): Leaks {
  const ids = new Set(p.ids);
  const layout = instanceLayout(p.root, { execRoot: p.execRoot, runtimeRoot: p.runtimeRoot });
  const stray = (id: string) => ids.has(id) && !running.has(id);

  const records = entries(path.join(p.root, "containers")).filter((id) => /^[0-9a-f]{64}$/.test(id) && !existing.has(id));
  const runtimeState = entries(layout.runtimeRoot).filter(stray);
  const mountinfo = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  const overlayUnderRoot = mountinfo.filter((l) => l.includes(" - overlay ")).map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(path.resolve(p.root) + "/"));
  // an overlay mount per running container (its rootfs); more is a leak
  const overlayMounts = overlayUnderRoot.length > running.size ? overlayUnderRoot : [];
  const netns = entries(layout.netnsDir).filter(stray);
  const cgroups: string[] = [];
  const cgroupRoots = existsSync("/sys/fs/cgroup/cgroup.controllers") ? ["/sys/fs/cgroup"] : entries("/sys/fs/cgroup").map((c) => path.join("/sys/fs/cgroup", c));
  for (const base of cgroupRoots) for (const id of entries(path.join(base, layout.cgroupParent))) if (stray(id)) cgroups.push(path.join(base, layout.cgroupParent, id));
  const veths = lines("ip", ["-o", "link", "show", "master", layout.bridge]).map((l) => l.split(": ")[1]?.split("@")[0] ?? l);
  const dnat = lines("iptables", ["-w", "-t", "nat", "-S", layout.tag ? `COVE-DNAT-${layout.tag}` : "COVE-DNAT"]).filter((l) => l.includes("-j DNAT"));
  const dnatRules = dnat.filter((l) => !published.has(Number(/--dport (\d+)/.exec(l)?.[1])));
  const heldPorts: string[] = [];
  if (p.pid) {
    for (const l of lines("ss", ["-Hltnp"])) {
      if (!l.includes(`pid=${p.pid},`)) continue;
      const local = l.split(/\s+/)[3] ?? "";
      const port = Number(local.slice(local.lastIndexOf(":") + 1));
      // 53: the name server the daemon serves its networks on
      if (port !== 53 && !published.has(port)) heldPorts.push(local);
    }
  }
  return {
    records,
    runtimeState,
    overlayMounts,
    netns,
    cgroups,
    // one veth per running container on the bridge (the test's containers are its only ones)
    veths: veths.length > running.size ? veths : [],
    dnatRules,
    heldPorts,
  };
}

/** The leaks as one line per non-empty category, "" when there are none. */
export function describeLeaks(l: Leaks): string {
  return Object.entries(l)
    .filter(([, v]) => v.length > 0)
    .map(([k, v]) => `${k} (${v.length}): ${v.slice(0, 5).join(", ")}${v.length > 5 ? ", ..." : ""}`)
    .join("\n");
}
