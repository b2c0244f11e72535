// What one cove instance (a daemon, or an embedded Engine) owns on the host, derived from its
// state root and its exec root, so that two instances on one host never share anything:
//
//   root        /var/lib/cove            images, containers, volumes, networks (persistent)
//   exec root   /run/cove                the runtime's state (runtime/), runc's (runc/), network
//                                        namespaces (netns/), the daemon's pid file (cove.pid)
//   tag         ""                       suffix of the firewall chains (COVE-FORWARD-<tag>, ...)
//   bridge      cove0                    the default bridge's interface
//   cgroup      /cove                    the parent of the containers' cgroups
//
// The default root keeps the names above. Any other root gets a tag (8 hex digits of a hash of
// its path) and, unless told otherwise, /run/cove-<tag>, cove-<tag> and /cove-<tag>: a test's or
// a user's second daemon never meets the first one's bridge, chains, cgroups or namespaces.

import { createRequire } from "node:module";
import path from "node:path";

export const DEFAULT_ROOT = "/var/lib/cove";
export const DEFAULT_EXEC_ROOT = "/run/cove";
export const DEFAULT_BRIDGE = "cove0";
export const DEFAULT_CGROUP_PARENT = "/cove";

/** The suffix that tells an instance's host objects apart: "" for the default root, 8 hex digits of its path's hash otherwise. */
export function instanceTag(root: string): string {
  const abs = path.resolve(root);
  if (abs === DEFAULT_ROOT) return "";
  // node:crypto is required here, not imported: it costs milliseconds to load, and every
  // `cove-runtime` command (which uses only isInstanceCgroupParent) would pay them
  const { createHash } = createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto");
  return createHash("sha256").update(abs).digest("hex").slice(0, 8);
}

export interface InstanceLayout {
  root: string;
  tag: string;
  execRoot: string;
  /** cove's runtime state (attach sockets live there: keep the path short). */
  runtimeRoot: string;
  netnsDir: string;
  /** The daemon's pid file in its exec root: a second daemon on the same exec root is refused. */
  pidFile: string;
  bridge: string;
  cgroupParent: string;
}

/** The layout of the instance on root; what is given explicitly wins over what is derived. */
export function instanceLayout(root: string, given: { execRoot?: string | undefined; runtimeRoot?: string | undefined; netnsDir?: string | undefined; bridge?: string | undefined; cgroupParent?: string | undefined } = {}): InstanceLayout {
  const abs = path.resolve(root);
  const tag = instanceTag(abs);
  const suffix = tag ? `-${tag}` : "";
  const execRoot = path.resolve(given.execRoot ?? `${DEFAULT_EXEC_ROOT}${suffix}`);
  return {
    root: abs,
    tag,
    execRoot,
    runtimeRoot: path.resolve(given.runtimeRoot ?? path.join(execRoot, "runtime")),
    netnsDir: path.resolve(given.netnsDir ?? path.join(execRoot, "netns")),
    pidFile: path.join(execRoot, "cove.pid"),
    bridge: given.bridge ?? (tag ? `cove-${tag}` : DEFAULT_BRIDGE),
    cgroupParent: given.cgroupParent ?? `${DEFAULT_CGROUP_PARENT}${suffix}`,
  };
}

/** Whether a cgroup directory's name is a parent cove made for its containers (/cove, /cove-<tag>): it goes with its last container. */
export function isInstanceCgroupParent(name: string): boolean {
  return /^cove(-[0-9a-f]{8})?$/.test(name);
}
