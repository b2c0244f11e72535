// The directories an instance (a daemon or an embedded Engine) makes under its exec root, removed
// at its close once empty: the exec root itself and the runtimes' state directories in it (cove's
// and runc's beside it). One still holding running containers' state stays.

import { rmdir } from "node:fs/promises";
import path from "node:path";
import { isErrno } from "./errors.js";
import { ignored } from "./ignore.js";
import type { InstanceLayout } from "./instance.js";

export async function removeEmptyExecRoot(layout: Pick<InstanceLayout, "execRoot" | "runtimeRoot">): Promise<void> {
  for (const dir of [layout.runtimeRoot, path.join(path.dirname(layout.runtimeRoot), "runc"), layout.execRoot]) {
    if (dir !== layout.execRoot && path.dirname(dir) !== layout.execRoot) continue; // a runtime root given elsewhere is not ours to remove
    await rmdir(dir).catch((err: unknown) => {
      if (!isErrno(err, "ENOENT", "ENOTEMPTY", "EEXIST", "EBUSY")) ignored(`remove ${dir}`, err);
    });
  }
}
