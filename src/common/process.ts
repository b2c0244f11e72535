// Whether a process exists, by pid: signal 0 checks without sending anything; EPERM means it
// exists but belongs to someone this process may not signal.

import { isErrno } from "./errors.js";

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, "EPERM");
  }
}
