// The build containers in use, journaled so that a daemon killed mid-build (SIGKILL, a crash, a
// power cut) leaves nothing behind: each build container gets a name written here before it is
// created and struck out once it is removed; the daemon's next start removes whatever the journal
// still names (its build died with the daemon). The journal is <root>/build/containers.json,
// replaced atomically on every change; names, not IDs, so that the window between the create and
// the journal write does not exist.

import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { CoveError, fromErrno, isErrno } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import type { ContainerService } from "../containers/index.js";
import { RUN_MOUNT_PREFIX } from "./run-mounts.js";

const journals = new Map<string, BuildJournal>();

export class BuildJournal {
  private names: Set<string> | undefined;
  private writing: Promise<void> = Promise.resolve();

  private constructor(readonly file: string) {}

  /** The journal of a state root: one instance per file in a process, so builds never overwrite each other's names. */
  static forRoot(root: string): BuildJournal {
    const file = path.join(path.resolve(root), "build", "containers.json");
    let journal = journals.get(file);
    if (!journal) journals.set(file, (journal = new BuildJournal(file)));
    return journal;
  }

  /** A fresh name for a build container ("cove-build-<hex>"). */
  static newName(): string {
    return `cove-build-${randomBytes(8).toString("hex")}`;
  }

  private async load(): Promise<Set<string>> {
    if (this.names) return this.names;
    let names: string[] = [];
    try {
      const parsed = JSON.parse(await readFile(this.file, "utf8")) as unknown;
      if (Array.isArray(parsed)) names = parsed.filter((n): n is string => typeof n === "string");
    } catch (err) {
      if (!isErrno(err, "ENOENT") && !(err instanceof SyntaxError)) throw fromErrno(err, `reading the build journal ${this.file}`);
    }
    this.names = new Set(names);
    return this.names;
  }

  /** Records a name before its container is created. */
  async add(name: string): Promise<void> {
    (await this.load()).add(name);
    await this.save();
  }

  /** Strikes a name out once its container is removed. */
  async delete(name: string): Promise<void> {
    (await this.load()).delete(name);
    await this.save();
  }

  async list(): Promise<string[]> {
    return [...(await this.load())];
  }

  /** Forgets what is in memory: the next read takes the file as another process (a killed daemon) left it. */
  async reload(): Promise<void> {
    await this.writing.catch(() => undefined);
    this.names = undefined;
  }

  private save(): Promise<void> {
    const write = async () => {
      await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.file, JSON.stringify([...(this.names ?? [])]), 0o600);
    };
    this.writing = this.writing.then(write, write);
    return this.writing;
  }
}

/**
 * Removes the build containers a killed daemon left (force: one may still run under its monitor),
 * with their anonymous volumes; call it once the container service is reconciled, before builds
 * start. Returns the names of those it removed.
 */
export async function removeBuildLeftovers(containers: ContainerService, journal = BuildJournal.forRoot(containers.root)): Promise<string[]> {
  const removed: string[] = [];
  await journal.reload();
  for (const name of await journal.list()) {
    try {
      await containers.remove(name, { force: true, volumes: true });
      removed.push(name);
    } catch (err) {
      // never created (the daemon died between the journal write and the create), or gone already
      if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
    }
    await journal.delete(name);
  }
  // the private directories of RUN --mount (a secret's file among them) a killed build left
  const tmp = path.join(containers.root, "tmp");
  let names: string[] = [];
  try {
    names = await readdir(tmp);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  for (const n of names) if (n.startsWith(RUN_MOUNT_PREFIX)) await rm(path.join(tmp, n), { recursive: true, force: true });
  return removed;
}
