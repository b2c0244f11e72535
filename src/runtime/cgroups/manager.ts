// What both drivers share: creating the directory chain (and undoing it), running a write plan,
// listing and signalling processes, and removing the cgroup.

import path from "node:path";
import { CoveError, fromErrno, isErrno, unsupported } from "../../common/errors.js";
import { ignored, ignoring } from "../../common/ignore.js";
import type { LinuxResources } from "../spec.js";
import type { CgroupFs } from "./fsops.js";
import type { CgroupHost } from "./mountinfo.js";
import type { CgroupStats } from "./stats.js";
import type { CgroupHostOps, CgroupManager, CgroupOptions, CgroupWrite } from "./types.js";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function missingController(controller: string, field: string, where = "not mounted in /proc/self/mountinfo"): CoveError {
  return unsupported(`cgroup controller ${controller} is not available on this host (${where}); remove linux.resources.${field} or enable the controller`, {
    code: "cgroup.controller-missing",
    field: `linux.resources.${field}`,
  });
}

export abstract class BaseManager implements CgroupManager {
  abstract readonly version: 1 | 2;
  readonly paths: Record<string, string> = {};
  readonly warnings: string[] = [];
  protected readonly fs: CgroupFs;
  /** Directories create() made, in creation order (undone on failure). */
  protected created: string[] = [];

  constructor(
    protected readonly opts: CgroupOptions,
    protected readonly host: CgroupHost,
    protected readonly hostOps: CgroupHostOps | undefined,
    fs: CgroupFs,
  ) {
    this.fs = fs;
  }

  abstract create(): Promise<void>;
  abstract apply(resources: LinuxResources): Promise<void>;
  abstract stats(): Promise<CgroupStats>;
  abstract freeze(): Promise<void>;
  abstract thaw(): Promise<void>;
  abstract frozen(): Promise<boolean>;
  /** How many processes the OOM killer killed in this cgroup (0 when it cannot be read). */
  protected abstract oomKillCount(): Promise<number>;
  /** Whether the cgroup ever ran into its memory limit (a prerequisite of an OOM kill in it). */
  protected abstract hitMemoryLimit(): Promise<boolean>;

  /**
   * Whether the kernel's OOM killer acted in this cgroup. The kernel sends its SIGKILL before it
   * counts the kill (and prints the kill report in between), so on a busy host the victim can be
   * reaped, and its exit seen, while the count still reads 0. So after an exit by SIGKILL in a
   * cgroup that hit its memory limit, the count is read again for up to a second; other exits
   * answer at once.
   */
  async oomKilled(exit?: { code: number; signal: number }): Promise<boolean> {
    if ((await this.oomKillCount()) > 0) return true;
    const bySigkill = exit !== undefined && (exit.signal === 9 || exit.code === 137);
    if (!bySigkill || !(await this.hitMemoryLimit())) return false;
    for (let waited = 0; waited < 1_000; waited += 10) {
      await sleep(10);
      if ((await this.oomKillCount()) > 0) return true;
    }
    return false;
  }
  /** Kills everything at once if the kernel offers it (cgroup.kill); false = fall back to signalling. */
  protected abstract killFast(): Promise<boolean>;
  /** The directory whose cgroup.procs lists the container's processes. */
  protected abstract processDir(): string | undefined;
  protected abstract canFreeze(): boolean;

  protected warn(message: string): void {
    this.warnings.push(message);
    this.opts.warn?.(message);
  }

  /** Unique directories, leaf per hierarchy. */
  protected dirs(): string[] {
    return [...new Set(Object.values(this.paths))];
  }

  procsFiles(): string[] {
    return this.dirs().map((d) => path.join(d, "cgroup.procs"));
  }

  /**
   * Creates each level of `dir` below `mountPoint`, calling `level(dir, parent, isLeaf)` for every
   * level (existing ones too) after it exists. Created directories are recorded for rollback.
   */
  protected async mkdirChain(mountPoint: string, dir: string, level?: (dir: string, parent: string, leaf: boolean) => Promise<void>): Promise<void> {
    const rel = path.relative(mountPoint, dir);
    if (rel === "" || rel.startsWith("..")) return;
    let cur = mountPoint;
    const parts = rel.split(path.sep);
    for (let i = 0; i < parts.length; i++) {
      const parent = cur;
      cur = path.join(cur, parts[i] as string);
      try {
        await this.fs.mkdir(cur);
        this.created.push(cur);
      } catch (err) {
        if (!isErrno(err, "EEXIST")) throw fromErrno(err, `creating cgroup directory ${cur}`, "cove must run as root (or own the cgroup subtree) to create cgroups");
      }
      if (level) await level(cur, parent, i === parts.length - 1);
    }
  }

  /** Removes what create() made, newest first; a failure is logged and the undo goes on. */
  protected async rollback(): Promise<void> {
    for (const dir of this.created.reverse()) await this.removeTree(dir).catch(ignoring(`remove cgroup ${dir} of container ${this.opts.id} after a failed create`));
    this.created = [];
  }

  protected async read(file: string): Promise<string> {
    try {
      return await this.fs.readFile(file);
    } catch (err) {
      throw fromErrno(err, `reading ${file}`);
    }
  }

  protected async readOr(file: string, fallback: string): Promise<string> {
    try {
      return await this.fs.readFile(file);
    } catch {
      return fallback;
    }
  }

  protected exists(file: string): Promise<boolean> {
    return this.fs.exists(file);
  }

  /** Runs a plan of writes in order; a failure names the file, the value and the setting. */
  protected async runWrites(writes: CgroupWrite[]): Promise<void> {
    const later: CgroupWrite[] = [];
    for (const w of writes) {
      try {
        await this.fs.writeFile(w.file, w.value);
      } catch (err) {
        if (w.retryLater && isErrno(err, "EINVAL")) {
          later.push(w);
          continue;
        }
        throw this.writeError(err, w);
      }
    }
    for (const w of later) {
      try {
        await this.fs.writeFile(w.file, w.value);
      } catch (err) {
        throw this.writeError(err, w);
      }
    }
  }

  private writeError(err: unknown, w: CgroupWrite): CoveError {
    const e = fromErrno(err, `setting linux.resources.${w.field}: writing "${w.value}" to ${w.file}`, hintFor(err, w));
    return new CoveError(e.kind === "not-found" ? "unsupported" : e.kind === "conflict" ? "conflict" : isErrno(err, "EINVAL", "ERANGE", "EOVERFLOW") ? "invalid" : e.kind, e.message, {
      code: "cgroup.write",
      field: `linux.resources.${w.field}`,
      cause: err,
      ...(e.errno ? { errno: e.errno } : {}),
      ...(e.hint ? { hint: e.hint } : {}),
    });
  }

  async pids(): Promise<number[]> {
    const dir = this.processDir();
    if (!dir) return [];
    const out: number[] = [];
    const walk = async (d: string): Promise<void> => {
      let text: string;
      try {
        text = await this.fs.readFile(path.join(d, "cgroup.procs"));
      } catch (err) {
        if (isErrno(err, "ENOENT", "ENODEV")) return;
        throw fromErrno(err, `listing the processes of cgroup ${d}`);
      }
      for (const l of text.split("\n")) if (/^\d+$/.test(l.trim())) out.push(Number(l.trim()));
      const subs = await this.fs.subdirs(d).catch(() => []);
      for (const s of subs) await walk(path.join(d, s));
    };
    await walk(dir);
    return [...new Set(out)];
  }

  async killAll(signal: NodeJS.Signals | number): Promise<void> {
    const sigkill = signal === "SIGKILL" || signal === 9;
    if (sigkill && (await this.killFast())) return;
    // nothing left to signal (the usual case when a stopped container is deleted): skip freezing
    if ((await this.pids()).length === 0) return;
    let wasFrozen = false;
    let froze = false;
    if (this.canFreeze()) {
      try {
        wasFrozen = await this.frozen();
        if (!wasFrozen) {
          await this.freeze();
          froze = true;
        }
      } catch (err) {
        // could not freeze (e.g. a task stuck in D state): signal anyway
        ignored(`freeze container ${this.opts.id} before sending ${String(signal)}`, err);
      }
    }
    try {
      for (const pid of await this.pids()) {
        try {
          process.kill(pid, signal);
        } catch (err) {
          if (!isErrno(err, "ESRCH")) throw fromErrno(err, `sending ${String(signal)} to process ${pid} of container ${this.opts.id}`);
        }
      }
    } finally {
      // frozen tasks only die once thawed (v1); a paused container stays paused for other signals
      if (froze || (wasFrozen && sigkill)) await this.thaw().catch(ignoring(`thaw container ${this.opts.id} after sending ${String(signal)}`));
    }
  }

  /** rmdir a cgroup and its child cgroups, deepest first; a missing directory is fine. */
  protected async removeTree(dir: string): Promise<void> {
    // a container's cgroup seldom has children: removed at once, and listed only when it refuses
    // (EBUSY: child cgroups, or processes still leaving), which saves a directory read per
    // hierarchy on every container's removal
    try {
      await this.fs.rmdir(dir);
      return;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return;
      if (!isErrno(err, "EBUSY", "ENOTEMPTY")) throw fromErrno(err, `removing cgroup ${dir}`);
    }
    let subs: string[];
    try {
      subs = await this.fs.subdirs(dir);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return;
      throw fromErrno(err, `listing child cgroups of ${dir}`);
    }
    for (const s of subs) await this.removeTree(path.join(dir, s));
    // processes that just exited can keep the cgroup busy for a moment
    let delay = 10;
    for (let waited = 0; ; ) {
      try {
        await this.fs.rmdir(dir);
        return;
      } catch (err) {
        if (isErrno(err, "ENOENT")) return;
        if (!isErrno(err, "EBUSY") || waited >= 3000) {
          throw fromErrno(err, `removing cgroup ${dir}`, isErrno(err, "EBUSY") ? "processes are still in the cgroup: kill them first (cove kill --all)" : undefined);
        }
        await sleep(delay);
        waited += delay;
        delay = Math.min(delay * 2, 200);
      }
    }
  }

  async destroy(): Promise<void> {
    const errors: unknown[] = [];
    for (const dir of this.dirs()) await this.removeTree(dir).catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  }
}

function hintFor(err: unknown, w: CgroupWrite): string | undefined {
  if (isErrno(err, "EACCES", "EPERM")) return "cove must run as root (or own the cgroup subtree) to set cgroup limits";
  if (isErrno(err, "EBUSY") && w.file.endsWith("memory.limit_in_bytes")) return "the cgroup uses more memory than the new limit and could not reclaim it; raise the limit";
  if (isErrno(err, "EINVAL") && w.field.startsWith("cpu.realtime")) return "the parent cgroups need a realtime budget (cpu.rt_runtime_us) at least this large";
  if (isErrno(err, "EINVAL") && w.field.startsWith("cpu.cpus")) return "the cpus must be online and within the parent cgroup's cpuset.cpus";
  if (isErrno(err, "EINVAL") && w.field.startsWith("cpu.mems")) return "the memory nodes must exist and be within the parent cgroup's cpuset.mems";
  return undefined;
}
