// The capability bounding set cove itself runs with: no process it starts can hold a capability
// outside it (capset fails with EPERM). Hosts that run cove inside another sandbox often lack a
// few (this project's build machines lack CAP_SYS_RESOURCE), so "all capabilities" means all of
// these, and a container that names a missing one is refused with a message saying which.

import { readFileSync } from "node:fs";
import { CAPABILITIES } from "./constants.js";

let cached: readonly string[] | undefined;

/**
 * Names of the capabilities in the bounding set given as /proc/<pid>/status text (default: this
 * process's, read once). Without a CapBnd line, every capability cove knows.
 */
export function boundingCapabilities(status?: string): readonly string[] {
  if (status === undefined && cached) return cached;
  const text = status ?? readFileSync("/proc/self/status", "utf8");
  const hex = /^CapBnd:\s*([0-9a-fA-F]+)$/m.exec(text)?.[1];
  const names = hex === undefined ? CAPABILITIES.map((c) => c.name) : CAPABILITIES.filter((c) => ((BigInt(`0x${hex}`) >> BigInt(c.number)) & 1n) === 1n).map((c) => c.name);
  if (status === undefined) cached = names;
  return names;
}

/** The capabilities of caps that are outside bounding, in caps' order without repeats. */
export function outsideBounding(caps: Iterable<string>, bounding: readonly string[] = boundingCapabilities()): string[] {
  const have = new Set(bounding);
  return [...new Set([...caps].filter((c) => !have.has(c)))];
}
