// What a start does to the files of a container's root before the runtime takes over: the
// working directory and the empty files that file bind mounts need as targets. All of it goes
// through src/fsroot, because the container
// (a running one, or the image it comes from) controls every symlink in those trees: a path string
// joined onto the rootfs would be walked again by the kernel, which follows an `etc -> /host/dir`
// link onto the host.

import { closeSync, fstatSync, statSync } from "node:fs";
import path from "node:path";
import { CoveError, isErrno } from "../common/errors.js";
import { Dir } from "../fsroot/index.js";
import { addon } from "../native/addon.js";

/**
 * Makes the working directory inside the root as dockerd's SetupWorkingDirectory does: mkdir -p
 * with the root as "/" (symlinks in the way are followed inside it, never out), mode 0755, owned
 * by root (the daemon's root identity: cove has no user namespace remapping), whatever the
 * container's user is.
 */
export function makeWorkingDir(root: Dir, workingDir: string): void {
  const wd = path.posix.normalize(workingDir);
  try {
    root.mkdirAll(wd, 0o755).close();
  } catch (err) {
    if (!isErrno(err, "ENOTDIR", "EEXIST")) throw err;
    // dockerd's words when the directory itself is something else, mkdir's when a parent is
    const details = { code: "container.workdir", cause: err, field: "Config.WorkingDir" };
    if (isNonDirectory(root, wd)) throw new CoveError("system", `Cannot mkdir: ${wd} is not a directory`, details);
    throw new CoveError("system", `mkdir ${wd}: not a directory`, details);
  }
}

function isNonDirectory(root: Dir, p: string): boolean {
  let fd: number;
  try {
    fd = root.openInRoot(p, addon().at.O_PATH);
  } catch {
    return false;
  }
  try {
    return !fstatSync(fd).isDirectory();
  } finally {
    closeSync(fd);
  }
}

/**
 * Bind mounts of files need a file to mount on: a missing target is created in the root as an
 * empty file (0644), its missing parents as directories (0755), all resolved inside the root as
 * runc does for its own mounts (cove's runtime would make the target a directory). An existing
 * entry of any kind is left as it is: the runtime resolves mount destinations inside the root.
 */
export function prepareFileMountpoints(root: Dir, mounts: readonly { destination: string; type?: string; source?: string }[]): void {
  for (const m of mounts) {
    if (m.type !== "bind" || !m.source) continue;
    try {
      if (statSync(m.source).isDirectory()) continue;
    } catch {
      continue; // the runtime reports a missing source
    }
    const dest = path.posix.normalize(path.posix.join("/", m.destination));
    const name = path.posix.basename(dest);
    if (name === "" || name === "..") continue;
    let parent: Dir | undefined;
    try {
      parent = root.mkdirAll(path.posix.dirname(dest), 0o755);
      if (parent.tryLstat(name)) continue;
      closeSync(parent.createFile(name, 0o644));
    } catch (err) {
      // without openat2 nothing here is safe: say so
      if (err instanceof CoveError) throw err;
      // a component that is not a directory, a racing creation, a read-only root: the runtime
      // meets the same destination and reports what is wrong with it
    } finally {
      parent?.close();
    }
  }
}
