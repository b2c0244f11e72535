// Commands on a container's process and record: stop, kill, restart, pause, unpause, wait, remove, rename, update, prune.

import { rename, rm } from "node:fs/promises";
import { constants as osConstants } from "node:os";
import path from "node:path";
import { conflict, CoveError, invalid, isErrno } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import { parseUntil } from "../images/service.js";
import { matchLabels } from "./commit.js";
import { planUpdate, type UpdateBody } from "./update.js";
import { VALID_NAME } from "./names.js";
import { resourcesOf } from "./spec.js";
import type { WaitCondition, WaitResponse } from "./types.js";
import { detachMountsUnder, hasMountsUnder } from "./startfs.js";
import { Live, REMOVING_PREFIX, signalNumber } from "./core.js";
import type { ContainerCore } from "./core.js";

export class Controller {
  constructor(private readonly core: ContainerCore) {}

  async signal(c: Live, sig: number): Promise<void> {
    this.core.event(c, "kill", { signal: String(sig) });
    try {
      await this.core.runtimeOf(c).kill(c.rec.ID, sig);
    } catch (err) {
      if (!(err instanceof CoveError && (err.kind === "conflict" || err.kind === "not-found"))) throw err;
    }
    if (c.rec.State.Paused) {
      await this.core.bestEffort(`resume paused container ${c.rec.ID} to signal it`, this.core.runtimeOf(c).resume(c.rec.ID));
      this.core.setStatus(c, "running");
      this.core.event(c, "unpause");
    }
  }

  async waitExited(c: Live, ms: number): Promise<boolean> {
    // an exit being handled is not over until its waiters are told: a stop that returned before
    // that would let a wait registered after it (docker stop; docker wait) see this exit
    if (!c.exited || (!c.rec.State.Running && !c.handlingExit)) return true;
    if (ms < 0) {
      await c.exited;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([c.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
    clearTimeout(timer);
    return done;
  }

  cancelRestart(c: Live): boolean {
    if (c.rec.State.Status !== "restarting") return false;
    if (c.restartTimer) clearTimeout(c.restartTimer);
    c.restartTimer = undefined;
    this.core.setStatus(c, "exited");
    return true;
  }

  /** docker stop: StopSignal (or SIGTERM), then SIGKILL after the timeout (seconds; default 10, -1 waits forever). */
  async stop(ref: string, opts: { signal?: string; timeout?: number } = {}): Promise<boolean> {
    const c = this.core.find(ref);
    c.rec.HasBeenManuallyStopped = true;
    // a start under way (a restart's, say) finishes first: then there is a process to stop
    if (c.startGate) await c.startGate;
    if (this.cancelRestart(c)) {
      await this.core.save(c);
      return true;
    }
    if (!this.core.isRunning(c)) {
      await this.core.save(c);
      return false;
    }
    const sig = signalNumber(opts.signal ?? c.rec.Config.StopSignal, osConstants.signals.SIGTERM);
    const timeout = opts.timeout ?? c.rec.Config.StopTimeout ?? 10;
    await this.signal(c, sig);
    if (!(await this.waitExited(c, timeout < 0 ? -1 : timeout * 1000))) {
      await this.signal(c, osConstants.signals.SIGKILL);
      await this.killAll(c);
      await this.waitExited(c, -1);
    }
    this.core.event(c, "stop");
    return true;
  }

  /** docker kill: sends a signal (default SIGKILL) to the container's init. */
  async kill(ref: string, signal: string | number = "SIGKILL"): Promise<void> {
    const c = this.core.find(ref);
    if (!this.core.isRunning(c) || c.rec.State.Restarting) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    const sig = signalNumber(signal, osConstants.signals.SIGKILL);
    c.rec.HasBeenManuallyStopped = true;
    await this.signal(c, sig);
    if (sig === osConstants.signals.SIGKILL) await this.waitExited(c, -1);
  }

  async restart(ref: string, opts: { signal?: string; timeout?: number } = {}): Promise<void> {
    const c = this.core.find(ref);
    await this.stop(ref, opts);
    await this.core.exclusive(c, async () => {
      c.rec.HasBeenManuallyStopped = false;
      c.restartDelay = 0;
      if (!this.core.isRunning(c)) await this.core.m.run.startInternal(c);
    });
    this.core.event(c, "restart");
  }

  async pause(ref: string): Promise<void> {
    const c = this.core.find(ref);
    if (!this.core.isRunning(c) || c.rec.State.Restarting) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    if (c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is already paused`, { code: "container.paused" });
    await this.core.runtimeOf(c).pause(c.rec.ID);
    this.core.setStatus(c, "paused");
    await this.core.save(c);
    this.core.event(c, "pause");
  }

  async unpause(ref: string): Promise<void> {
    const c = this.core.find(ref);
    if (!c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is not paused`, { code: "container.not-paused" });
    await this.core.runtimeOf(c).resume(c.rec.ID);
    this.core.setStatus(c, "running");
    await this.core.save(c);
    this.core.event(c, "unpause");
  }

  /**
   * docker wait, with moby's State.Wait semantics: "not-running" returns at once for a container
   * that is not running, "next-exit" waits for the next exit, "removed" for the removal. A start
   * that fails is no exit (the waiter keeps waiting); a removal ends every wait, without an error.
   * Aborting opts.signal (the client went away) cancels the wait and drops its listeners.
   */
  async wait(ref: string, condition: WaitCondition = "not-running", opts: { signal?: AbortSignal } = {}): Promise<WaitResponse> {
    const c = this.core.find(ref);
    const errorOf = () => (c.rec.State.Error ? { Message: c.rec.State.Error } : null);
    if (condition === "not-running" && !this.core.isRunning(c)) return { StatusCode: c.rec.State.ExitCode, Error: errorOf() };
    const signal = opts.signal;
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const done = () => {
        c.exitListeners.delete(onExit);
        c.removeListeners.delete(onRemove);
        signal?.removeEventListener("abort", onAbort);
      };
      const onExit = (code: number, failedStart?: boolean) => {
        if (condition === "removed" || failedStart) return;
        done();
        resolve({ StatusCode: code, Error: errorOf() });
      };
      const onRemove = () => {
        done();
        resolve({ StatusCode: c.rec.State.ExitCode, Error: null });
      };
      const onAbort = () => {
        done();
        reject(signal?.reason instanceof Error ? signal.reason : new CoveError("unavailable", "the wait was canceled", { code: "wait.canceled" }));
      };
      c.exitListeners.add(onExit);
      c.removeListeners.add(onRemove);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const c = this.core.find(ref);
    const id = c.rec.ID;
    this.core.hooks.beforeRemove?.(c.rec);
    if (c.startGate) await c.startGate; // a start under way (a restart's) ends first
    if (this.core.isRunning(c) && !c.rec.State.Restarting && !opts.force) {
      throw conflict(`cannot remove container "${c.rec.Name}": container is running: stop the container before removing or force remove`, { code: "container.running" });
    }
    if (c.rec.State.Status === "removing") throw conflict(`removal of container ${id} is already in progress`, { code: "container.removing" });
    this.cancelRestart(c);
    if (this.core.isRunning(c)) {
      c.rec.HasBeenManuallyStopped = true;
      await this.signal(c, osConstants.signals.SIGKILL);
      await this.killAll(c);
      await this.waitExited(c, 15_000);
    }
    this.core.setStatus(c, "removing");
    await this.core.m.run.teardown(c, { forgetNetwork: true });
    // The container is gone once its directory is renamed away (restore finishes a removal that
    // a crash interrupted). The snapshot's removal is queued now, so any later snapshot operation
    // (an rmi of its image) runs after it, and the disk work (a metadata fsync, two trees to
    // delete) finishes after the answer: docker run --rm waits for this removal.
    const trash = path.join(this.core.containersDir(), `${REMOVING_PREFIX}${id}`);
    await rename(c.dir, trash).catch((err: unknown) => {
      if (!isErrno(err, "ENOENT")) throw err;
    });
    const finishing = this.finishRemoval(id, trash);
    this.core.finishingRemovals.add(finishing);
    void finishing.finally(() => this.core.finishingRemovals.delete(finishing));
    for (const e of c.rec.MountPoints) {
      if (e.Type !== "volume" || !e.Name) continue;
      this.core.volumes.dereference(e.Name, id);
      // rm -v and --rm: the container's anonymous volumes go with it, unless another container uses them
      if (opts.volumes && !e.Named && this.core.volumes.users(e.Name).length === 0) await this.core.bestEffort(`remove anonymous volume ${e.Name} of container ${id}`, this.core.volumes.remove(e.Name, { force: true }));
    }
    this.core.containers.delete(id);
    c.removed = true;
    if (this.core.names.get(c.rec.Name) === id) this.core.names.delete(c.rec.Name);
    for (const [eid, e] of this.core.execs) if (e.containerId === id) this.core.execs.delete(eid);
    this.core.event(c, "destroy");
    for (const l of [...c.removeListeners]) l();
  }

  /**
   * SIGKILL to every process left in the container's cgroup, after its init was killed: a
   * container whose init is already gone is what was wanted; another failure is logged.
   */
  private killAll(c: Live): Promise<void> {
    const kill = this.core
      .runtimeOf(c)
      .kill(c.rec.ID, "SIGKILL", { all: true })
      .catch((err: unknown) => {
        if (!(err instanceof CoveError && err.code === "container.not-running")) throw err;
      });
    return this.core.bestEffort(`kill every process of container ${c.rec.ID}`, kill);
  }

  /** Removes a removed container's snapshot, then its renamed directory (kept until then, so restore retries). */
  async finishRemoval(id: string, trash: string): Promise<void> {
    try {
      await this.core.images.removeRootfs(id).catch((err: unknown) => {
        if (!(err instanceof CoveError && err.kind === "not-found")) throw err;
      });
      // a recursive removal would go down into whatever is still mounted there (a volume's data
      // through a subpath's staging mount): keep the directory if anything stays mounted
      // (the walk first: the mount table, a line per container, is read only when it finds one)
      if (hasMountsUnder(trash) && detachMountsUnder(trash).length > 0) return;
      await rm(trash, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      // left for the next start of the service to retry
      ignored(`finish the removal of container ${id} (retried at the next start)`, err, this.core.log);
    }
  }

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.core.find(ref);
    if (!newName) throw invalid("Neither old nor new names may be empty", { code: "container.name-invalid" });
    if (!VALID_NAME.test(newName)) throw invalid(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { code: "container.name-invalid" });
    const name = newName.startsWith("/") ? newName : `/${newName}`;
    const old = c.rec.Name;
    if (name === old) throw invalid(`Renaming a container with the same name as its current name`, { code: "container.name-same" });
    this.core.m.create.checkNameFree(name);
    this.core.names.set(name, c.rec.ID);
    this.core.names.delete(old);
    c.rec.Name = name;
    this.core.network.rename(c.rec.ID, name);
    await this.core.save(c);
    this.core.event(c, "rename", { oldName: old });
  }

  /** docker update: resources (applied live to a running container's cgroup) and the restart policy. */
  async update(ref: string, body: UpdateBody): Promise<{ Warnings: string[] | null }> {
    const c = this.core.find(ref);
    return this.core.exclusive(c, async () => {
      const plan = planUpdate(c.hc, body, c.rec.ID);
      if (plan.resourcesChanged && c.rec.State.Running && !c.rec.State.Restarting) {
        try {
          await this.core.runtimeOf(c).update(c.rec.ID, resourcesOf(plan.hostConfig));
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          throw new CoveError(err instanceof CoveError ? err.kind : "system", `Cannot update container ${c.rec.ID}: ${msg}`, { code: "container.update", cause: err });
        }
      }
      c.hc = plan.hostConfig;
      await this.core.save(c);
      this.core.event(c, "update");
      return { Warnings: plan.warnings.length ? plan.warnings : null };
    });
  }

  /** docker container prune: removes stopped containers matching until= and label= / label!= filters. */
  async prune(filters: Record<string, string[]> = {}): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    for (const k of Object.keys(filters)) if (k !== "until" && k !== "label" && k !== "label!") throw invalid(`invalid filter '${k}'`, { code: "filter.invalid" });
    const until = (filters.until ?? []).map((u) => parseUntil(u));
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of [...this.core.containers.values()]) {
      const r = c.rec;
      if (r.State.Running || r.State.Status === "removing") continue;
      if (until.length && !until.every((t) => Date.parse(r.Created) < t)) continue;
      if (!matchLabels(r.Config.Labels ?? {}, filters.label ?? [], filters["label!"] ?? [])) continue;
      const size = (await this.core.m.views.sizes(c)).SizeRw;
      try {
        await this.remove(r.ID);
      } catch (err) {
        // started or removed meanwhile: not pruned; any other failure is logged, and the prune
        // still answers with what it removed
        if (!(err instanceof CoveError && (err.kind === "conflict" || err.kind === "not-found"))) ignored(`prune container ${r.ID}`, err, this.core.log);
        continue;
      }
      deleted.push(r.ID);
      reclaimed += size;
    }
    const timeNano = BigInt(Date.now()) * 1_000_000n;
    try {
      this.core.emit({ Type: "container", Action: "prune", Actor: { ID: "", Attributes: { reclaimed: String(reclaimed) } }, time: Number(timeNano / 1_000_000_000n), timeNano });
    } catch (err) {
      // a listener's failure is not the prune's
      ignored("deliver the prune event of containers", err, this.core.log);
    }
    return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }
}
