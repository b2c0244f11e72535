// Processes and executables: whether a process exists (signal 0 checks without sending anything;
// EPERM means it exists but belongs to someone this process may not signal), and where a tool is.

import { accessSync, constants } from "node:fs";
import path from "node:path";
import { isErrno } from "./errors.js";

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, "EPERM");
  }
}

/**
 * The path of an executable named `name` on PATH, else in one of `fallbackDirs` (where Debian puts
 * tools a daemon's PATH may lack); undefined when there is none.
 */
export function findExecutable(name: string, fallbackDirs: string[] = ["/usr/sbin", "/usr/bin", "/sbin"]): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), ...fallbackDirs];
  for (const d of dirs) {
    const p = path.join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here: the next directory
    }
  }
  return undefined;
}
