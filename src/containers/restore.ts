// Live restore: containers reloaded when the service opens, running ones adopted from their monitors, the rest reconciled.

import { readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { CoveError, fromErrno, isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { readAhead } from "../common/read-ahead.js";
import type { ContainerRuntime, ContainerState } from "../runtime/types.js";
import type { HostConfig } from "./types.js";
import { clearStaging, mountPoints, mountPointsByEntry } from "./startfs.js";
import { clearIdmapStaging } from "../snapshots/index.js";
import { ContainerRecord, Live, REMOVING_PREFIX } from "./core.js";
import type { ContainerCore } from "./core.js";

export class Restorer {
  constructor(private readonly core: ContainerCore) {}

  async restore(): Promise<void> {
    let ids: string[];
    try {
      ids = await readdir(this.core.containersDir());
    } catch (err) {
      // a new root has no containers; one that cannot be read must not look empty
      if (!isErrno(err, "ENOENT")) throw fromErrno(err, `listing ${this.core.containersDir()}`);
      ids = [];
    }
    const toHandle: Promise<void>[] = [];
    const adopting: Promise<void>[] = [];
    const t0 = Date.now();
    // the mount table read once (not once per container: with thousands of containers it has
    // thousands of lines), its points looked up by container
    const mountedBy = mountPointsByEntry(this.core.containersDir(), mountPoints(await readFile("/proc/self/mountinfo", "utf8")));
    const inRuntime = await this.runtimeHeld();
    // a create the runtime did not finish has a directory but no state yet: not listed above
    const runtimeDirs = new Set(await readdir(this.core.runtimeRoot).catch(() => [] as string[]));
    // the records are read ahead, RECORD_READS at a time: read one after the other, thousands of
    // them took seconds of waiting on the disk in turn
    const records = new Map(readAhead(ids.filter((id) => /^[0-9a-f]{64}$/.test(id)), RECORD_READS, (id) => readRecord(path.join(this.core.containersDir(), id))));
    for (const id of ids) {
      const removed = id.startsWith(REMOVING_PREFIX) ? id.slice(REMOVING_PREFIX.length) : undefined;
      if (removed !== undefined && /^[0-9a-f]{64}$/.test(removed)) {
        toHandle.push(this.core.m.control.finishRemoval(removed, path.join(this.core.containersDir(), id)));
        continue;
      }
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      const dir = path.join(this.core.containersDir(), id);
      const mounted = mountedBy.get(id) ?? [];
      // staging mounts of a start the daemon did not finish: the runtime holds its own mounts
      try {
        clearStaging(dir, mounted);
      } catch (err) {
        this.core.log(`cove: warning: container ${id}: ${(err as Error).message}`);
      }
      // idmapped layers of a rootfs mount the daemon did not finish (a user namespace's)
      const idmapStaging = path.join(dir, "idmap");
      if (mounted.some((p) => p.startsWith(`${idmapStaging}/`))) {
        try {
          clearIdmapStaging(idmapStaging);
        } catch (err) {
          this.core.log(`cove: warning: container ${id}: detaching the idmapped layers left in ${idmapStaging}: ${(err as Error).message}`);
        }
      }
      const read = await records.get(id)!;
      if (!("rec" in read)) {
        const { err, hcRead } = read;
        // Only a --rm container's record is written without fsync (core.save), so only its can be
        // left empty or torn by a crash: a hostconfig.json that does not parse (every other one is
        // durable), or a config.v2.json that does not parse beside a hostconfig saying AutoRemove.
        // Such a container would have been removed at its exit; it goes as a half-made create.
        const lostVolatile = err instanceof SyntaxError && (hcRead === undefined || !!hcRead.AutoRemove);
        if (isErrno(err, "ENOENT") || lostVolatile) {
          // a create that died half way (during the volumes' copy-up, say): nothing refers to it
          const rootfs = path.join(dir, "rootfs");
          if (mounted.includes(rootfs)) {
            try {
              this.core.host.unmount(rootfs);
            } catch (e) {
              ignored(`unmount the rootfs of half-created container ${id}`, e, this.core.log);
            }
          }
          await this.core.bestEffort(`remove the rootfs of half-created container ${id}`, this.core.images.removeRootfs(id));
          await this.core.bestEffort(`remove the directory of half-created container ${id}`, rm(dir, { recursive: true, force: true }));
          continue;
        }
        throw err;
      }
      const { rec, hc } = read;
      const c = this.core.newLive(rec, hc);
      this.core.containers.set(id, c);
      this.core.names.set(rec.Name, id);
      for (const e of rec.MountPoints ?? []) {
        if (e.Type === "volume" && e.Name && this.core.volumes.has(e.Name)) this.core.volumes.reference(e.Name, id);
      }
      if (rec.State.Status === "removing") {
        // a removal the daemon did not finish: the container is dead, and its removal goes on
        this.core.setStatus(c, "dead");
        toHandle.push(this.core.bestEffort(`finish the removal of container ${id}`, this.core.m.control.remove(id, { force: true })));
        continue;
      }
      if (!rec.State.Running) {
        // a start the daemon did not finish: the runtime made the container (its init waits in
        // its cgroup for the start) but the record never said running
        const runtime = inRuntime.get(id)?.runtime ?? (runtimeDirs.has(id) ? this.core.runtimeOf(c) : undefined);
        if (runtime) toHandle.push(this.core.bestEffort(`remove the runtime state of unstarted container ${id}`, runtime.delete(id, { force: true })));
        this.core.unmountRootfs(c);
        // a --rm container that exited while the daemon was going down: finish its removal
        if (hc.AutoRemove && rec.HasBeenStartedBefore) toHandle.push(this.core.bestEffort(`remove --rm container ${id}`, this.core.m.control.remove(id, { force: true })));
        continue;
      }
      // the state the runtime listed serves (reading it again cost as much as the listing)
      const held = inRuntime.get(id);
      adopting.push(this.adopt(c, held));
    }
    if (adopting.length > 0) {
      this.core.log(`restore: ${this.core.containers.size} containers read in ${Date.now() - t0} ms; adopting the ${adopting.length} that run`);
      const progress = new Progress(adopting.length, (done, total) => this.core.log(`restore: ${done} of ${total} running containers adopted`));
      const step = () => progress.step();
      for (const p of adopting) p.then(step, step);
      toHandle.push(...adopting);
    }
    // runtime state with no record at all: nothing of this daemon refers to it
    for (const [id, { runtime }] of inRuntime) {
      if (!this.core.containers.has(id)) toHandle.push(this.core.bestEffort(`remove the runtime state of unknown container ${id}`, runtime.delete(id, { force: true })));
    }
    await Promise.all(toHandle);
    // devices of volumes whose containers died while no daemon ran
    await this.core.volumes.reconcile();
  }

  /** The containers each runtime holds state for (a runtime that cannot list is logged and skipped). */
  private async runtimeHeld(): Promise<Map<string, { runtime: ContainerRuntime; state: ContainerState }>> {
    const held = new Map<string, { runtime: ContainerRuntime; state: ContainerState }>();
    for (const runtime of this.core.runtimes.values()) {
      try {
        for (const s of await runtime.list()) if (/^[0-9a-f]{64}$/.test(s.id)) held.set(s.id, { runtime, state: s });
      } catch (err) {
        ignored(`list the containers of runtime ${runtime.name} at restore`, err, this.core.log);
      }
    }
    return held;
  }

  /** Adopts a container the record says runs; listed: its state as a runtime listed it at this restore. */
  async adopt(c: Live, listed?: { runtime: ContainerRuntime; state: ContainerState }): Promise<void> {
    const id = c.rec.ID;
    let status: string;
    try {
      const runtime = this.core.runtimeOf(c);
      status = (listed?.runtime === runtime ? listed.state : await runtime.state(id)).status;
    } catch (err) {
      // the runtime has no record of it: handled as gone below; any other failure too (the
      // restore goes on for the other containers), but logged
      if (!(err instanceof CoveError && err.kind === "not-found")) ignored(`read the runtime state of container ${id} at restore`, err, this.core.log);
      status = "gone";
    }
    let resolveExited!: () => void;
    c.exited = new Promise<void>((r) => (resolveExited = r));
    c.resolveExited = resolveExited;
    c.runStartedAt = Date.parse(c.rec.State.StartedAt);
    if (c.rec.State.Status === "restarting") {
      // the daemon died during a restart back-off: start it now
      this.core.setStatus(c, "exited");
      await this.core.bestEffort(`restart container ${c.rec.ID} after its back-off`, this.core.exclusive(c, () => this.core.m.run.startInternal(c)));
      return;
    }
    if (status === "running" || status === "paused") {
      this.core.setStatus(c, status === "paused" ? "paused" : "running");
      // the container still holds its volumes mounted: count it again (its devices stay mounted)
      for (const e of c.rec.MountPoints) {
        if (e.Type === "volume" && e.Name && this.core.volumes.has(e.Name)) await this.core.bestEffort(`count volume ${e.Name} for adopted container ${id}`, this.core.volumes.acquire(e.Name, id, { destination: e.Destination, rw: e.RW, propagation: e.Propagation }, true));
      }
      await this.core.m.run.watchExit(c);
      this.core.m.health.scheduleHealth(c, true);
      return;
    }
    if (status === "stopped") {
      let finishedAt: string | undefined;
      try {
        finishedAt = (await stat(path.join(this.core.runtimeRoot, id, "exit"))).mtime.toISOString();
      } catch (err) {
        // no exit file (the monitor was killed): the exit is recorded as of now
        if (!isErrno(err, "ENOENT")) ignored(`read when container ${id} exited`, err, this.core.log);
        finishedAt = undefined;
      }
      await this.core.m.run.handleExit(c, undefined, finishedAt);
      return;
    }
    // the runtime has no record (a reboot, or its state was lost): the container is dead
    c.rec.State.Error = "the container's monitor was gone when cove restarted";
    await this.core.m.run.handleExit(c, { code: 255, signal: 0 });
  }
}

/** How many container records the restore reads at once. */
const RECORD_READS = 32;

type RecordRead = { rec: ContainerRecord; hc: HostConfig } | { err: unknown; hcRead: HostConfig | undefined };

/** A container's two record files, or why they could not be read (with the hostconfig, if that one was). */
async function readRecord(dir: string): Promise<RecordRead> {
  let hcRead: HostConfig | undefined;
  try {
    const hc = (hcRead = JSON.parse(await readFile(path.join(dir, "hostconfig.json"), "utf8")) as HostConfig);
    const rec = JSON.parse(await readFile(path.join(dir, "config.v2.json"), "utf8")) as ContainerRecord;
    return { rec, hc };
  } catch (err) {
    return { err, hcRead };
  }
}

/**
 * Counts the steps of a long restore and says how far it got, at most once per PROGRESS_EVERY_MS
 * and once at the end when it said anything before: a restore of thousands of containers takes
 * seconds, and the log shows it moving.
 */
export class Progress {
  private done = 0;
  private last: number;
  private said = false;

  constructor(
    private readonly total: number,
    private readonly say: (done: number, total: number) => void,
    private readonly now: () => number = Date.now,
    private readonly everyMs = PROGRESS_EVERY_MS,
  ) {
    this.last = now();
  }

  step(): void {
    this.done++;
    const t = this.now();
    if (t - this.last >= this.everyMs || (this.said && this.done === this.total)) {
      this.last = t;
      this.said = true;
      this.say(this.done, this.total);
    }
  }
}

export const PROGRESS_EVERY_MS = 1000;
