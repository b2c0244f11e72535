// The one seam between the cgroup drivers and the filesystem. The drivers only ever touch
// cgroupfs through a CgroupFs, so tests can run them against a temp directory that plays the
// kernel's part (populating a new cgroup directory with its interface files, recording writes).

import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";

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

/**
 * The real cgroupfs. Its files live in kernel memory and never wait on a disk, so the calls are
 * synchronous: a container start makes dozens of them, and a thread-pool round trip for each
 * costs more than the work itself.
 */
export const nodeCgroupFs: CgroupFs = {
  readFile: async (file) => readFileSync(file, "utf8"),
  writeFile: async (file, data) => writeFileSync(file, data, { flag: "w" }),
  mkdir: async (dir) => {
    mkdirSync(dir, { mode: 0o755 });
  },
  rmdir: async (dir) => rmdirSync(dir),
  exists: async (file) => existsSync(file),
  subdirs: async (dir) => readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name),
  files: async (dir) => readdirSync(dir, { withFileTypes: true }).filter((d) => !d.isDirectory()).map((d) => d.name),
};
