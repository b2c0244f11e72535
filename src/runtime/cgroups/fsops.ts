// The one seam between the cgroup drivers and the filesystem. The drivers only ever touch
// cgroupfs through a CgroupFs, so tests can run them against a temp directory that plays the
// kernel's part (populating a new cgroup directory with its interface files, recording writes).

import { mkdir, readdir, readFile, rmdir, stat, writeFile } from "node:fs/promises";

export interface CgroupFs {
  readFile(file: string): Promise<string>;
  /** One write(2) of the whole value, as cgroupfs expects (a value per write). */
  writeFile(file: string, data: string): Promise<void>;
  /** Creates one directory level; fails with EEXIST if it is there. */
  mkdir(dir: string): Promise<void>;
  /** Removes one cgroup directory (cgroupfs allows rmdir with its interface files inside). */
  rmdir(dir: string): Promise<void>;
  exists(file: string): Promise<boolean>;
  /** Names of the subdirectories (child cgroups) of dir. */
  subdirs(dir: string): Promise<string[]>;
  /** Names of the files (interface files) in dir. */
  files(dir: string): Promise<string[]>;
}

/** The real cgroupfs. */
export const nodeCgroupFs: CgroupFs = {
  readFile: (file) => readFile(file, "utf8"),
  writeFile: (file, data) => writeFile(file, data, { flag: "w" }),
  mkdir: async (dir) => {
    await mkdir(dir, { mode: 0o755 });
  },
  rmdir: (dir) => rmdir(dir),
  exists: async (file) => {
    try {
      await stat(file);
      return true;
    } catch {
      return false;
    }
  },
  subdirs: async (dir) => (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name),
  files: async (dir) => (await readdir(dir, { withFileTypes: true })).filter((d) => !d.isDirectory()).map((d) => d.name),
};
