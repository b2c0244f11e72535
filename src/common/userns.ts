// Whether this process runs in a user namespace other than the host's initial one: a rootless
// daemon is "root" there, yet cannot mknod devices, write the host's cgroup tree or set
// trusted.* xattrs, so the runtime and the snapshotter choose differently.

import { readFileSync } from "node:fs";

let cached: boolean | undefined;

/** True when /proc/self/uid_map is not the initial namespace's identity map of every uid. */
export function inUserNamespace(): boolean {
  if (cached !== undefined) return cached;
  let text: string;
  try {
    text = readFileSync("/proc/self/uid_map", "utf8"); // procfs: nothing to wait for
  } catch {
    return (cached = false); // no user namespaces in this kernel: the initial one
  }
  cached = !isInitialUidMap(text);
  return cached;
}

/** The initial user namespace maps all 2^32-1 ids onto themselves, on one line. */
export function isInitialUidMap(text: string): boolean {
  const lines = text.trim().split("\n");
  if (lines.length !== 1) return false;
  const [inner, outer, count] = lines[0]!.trim().split(/\s+/);
  return inner === "0" && outer === "0" && count === "4294967295";
}

/**
 * The xattr namespace overlayfs keeps its own attributes in (opaque directories, redirects):
 * trusted.overlay.* on the host, user.overlay.* in a user namespace, where trusted.* cannot be
 * set and the overlay is mounted with "userxattr" (Linux 5.11).
 */
export function overlayXattrPrefix(): string {
  return inUserNamespace() ? "user.overlay." : "trusted.overlay.";
}
