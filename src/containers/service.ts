// The engine's container service: the container model and lifecycle with Docker's semantics
// (create, start, stop, kill, restart, pause, wait, remove, rename, inspect, list), logs, attach,
// exec, healthchecks, restart policies, events, and live restore. The daemon's routes, the CLI and
// the library's Engine all call it. This is its public face: the records and shared state are in
// core.ts, the operations in the modules it opens with.

import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { RuntimeStats } from "../runtime/types.js";
import { VolumeService } from "../volumes/index.js";
import { ContainerCore, type ContainerHooks, type ContainerServiceOptions } from "./core.js";
import { Creator } from "./create.js";
import { Runner } from "./run.js";
import { Controller } from "./control.js";
import { Views } from "./views.js";
import { Streams } from "./streams.js";
import { Execs } from "./exec.js";
import { Files } from "./files.js";
import { HealthChecks } from "./health.js";
import { Restorer } from "./restore.js";

export { NullNetwork, realHost, type ContainerHost, type ContainerNetwork } from "./host.js";
export {
  RUNTIME_NAMES,
  type ContainerHooks,
  type ContainerRecord,
  type ContainerImages,
  type AttachOptions,
  type AttachSession,
  type ContainerServiceOptions,
  type CreateResult,
  type ExecSession,
  type ListOptions,
} from "./core.js";

export class ContainerService {
  /**
   * Settles once every container of the root is reloaded and reconciled with its runtime (running
   * ones adopted from their monitors, the others cleaned up); rejects when that failed. Until then
   * the service shows a half-restored state: use its container operations only after it.
   */
  readonly reconciled: Promise<void>;

  private constructor(private readonly core: ContainerCore) {
    this.reconciled = (async () => {
      await core.beforeReconcile?.();
      await core.m.restore.restore();
      // sandboxes of containers that are not running (the daemon died while they exited) go now
      await core.network.reconcile(new Set([...core.containers.values()].filter((c) => c.rec.State.Running).map((c) => c.rec.ID)));
    })();
    // a failure is the caller's to see through reconciled, never an unhandled rejection
    this.reconciled.catch(() => undefined);
  }

  /** Opens the service on a root, reloading every container and reconciling it with the runtime. */
  static async open(opts: ContainerServiceOptions): Promise<ContainerService> {
    const service = await ContainerService.openInBackground(opts);
    await service.reconciled;
    return service;
  }

  /**
   * Opens the service on a root and reconciles its containers in the background (`reconciled`
   * says when that is done): the daemon serves /_ping at once after a restart over thousands of
   * running containers, and holds the requests that need them.
   */
  static async openInBackground(opts: ContainerServiceOptions): Promise<ContainerService> {
    const core = new ContainerCore(opts);
    core.m = {
      create: new Creator(core),
      run: new Runner(core),
      control: new Controller(core),
      views: new Views(core),
      streams: new Streams(core),
      exec: new Execs(core),
      files: new Files(core),
      health: new HealthChecks(core),
      restore: new Restorer(core),
    };
    core.volumes = opts.volumes ?? (await VolumeService.open({ root: opts.root, events: (e) => core.emitVolumeEvent(e) }));
    await mkdir(path.join(core.root, "containers"), { recursive: true, mode: 0o710 });
    return new ContainerService(core);
  }

  /** Lets the layer above (pods) take part in every start and removal (see ContainerHooks). */
  setHooks(hooks: ContainerHooks): void {
    this.core.hooks = hooks;
  }

  /** The runtime new containers get when they name none ("cove" unless daemon.json's default-runtime says otherwise). */
  get defaultRuntime(): string {
    return this.core.defaultRuntime;
  }

  set defaultRuntime(name: string) {
    this.core.defaultRuntime = name;
  }

  /** How many containers the service holds so far (all of them once reconciled). */
  get size(): number {
    return this.core.containers.size;
  }

  /**
   * Every container's status (running, paused, exited...), as list's State shows it, without
   * building the summaries: what `docker info` counts, thousands of times cheaper than a list.
   */
  statuses(): string[] {
    return [...this.core.containers.values()].map((c) => c.rec.State.Status);
  }

  /** Stops watching containers without touching them (they keep running: the daemon may come back). */
  async close(): Promise<void> {
    const core = this.core;
    // a reconcile still under way finishes first, so that nothing it adopts is left watched
    await this.reconciled.catch(() => undefined);
    core.closed = true;
    await Promise.all(core.finishingRemovals);
    await Promise.all(core.savesInFlight);
    for (const c of core.containers.values()) {
      c.watcher?.close();
      if (c.pollTimer) clearInterval(c.pollTimer);
      if (c.restartTimer) clearTimeout(c.restartTimer);
      if (c.healthTimer) clearTimeout(c.healthTimer);
    }
    for (const [name, runtime] of core.runtimes) await core.bestEffort(`finish the background work of runtime ${name}`, runtime.flush?.());
  }

  get root(): string {
    return this.core.root;
  }
  get runtimeRoot(): string {
    return this.core.runtimeRoot;
  }
  /** The runtimes by the name HostConfig.Runtime gives. */
  get runtimes(): ContainerCore["runtimes"] {
    return this.core.runtimes;
  }
  /** The network the containers use (a NullNetwork without networking). */
  get network(): ContainerCore["network"] {
    return this.core.network;
  }

  /** One sample of a running container's cgroup counters, from the runtime it runs on. */
  async cgroupStats(ref: string): Promise<RuntimeStats> {
    const c = this.core.find(ref);
    return this.core.runtimeOf(c).stats(c.rec.ID);
  }
  get volumes(): VolumeService {
    return this.core.volumes;
  }

  create(...a: Parameters<Creator["create"]>): ReturnType<Creator["create"]> {
    return this.core.m.create.create(...a);
  }

  /** Starts a container; a running one is left alone (Docker answers 304). Returns false then. */
  start(...a: Parameters<Runner["start"]>): ReturnType<Runner["start"]> {
    return this.core.m.run.start(...a);
  }

  /** After a network connect: a running container's resolv.conf switches to the embedded DNS once it is on a network that DNS serves. */
  async useEmbeddedDns(ref: string): Promise<void> {
    return this.core.m.create.useEmbeddedDns(this.core.find(ref));
  }

  /** docker stop: StopSignal (or SIGTERM), then SIGKILL after the timeout (seconds; default 10, -1 waits forever). */
  stop(...a: Parameters<Controller["stop"]>): ReturnType<Controller["stop"]> {
    return this.core.m.control.stop(...a);
  }

  /** docker kill: sends a signal (default SIGKILL) to the container's init. */
  kill(...a: Parameters<Controller["kill"]>): ReturnType<Controller["kill"]> {
    return this.core.m.control.kill(...a);
  }

  restart(...a: Parameters<Controller["restart"]>): ReturnType<Controller["restart"]> {
    return this.core.m.control.restart(...a);
  }

  pause(...a: Parameters<Controller["pause"]>): ReturnType<Controller["pause"]> {
    return this.core.m.control.pause(...a);
  }

  unpause(...a: Parameters<Controller["unpause"]>): ReturnType<Controller["unpause"]> {
    return this.core.m.control.unpause(...a);
  }

  /**
   * docker wait, with moby's State.Wait semantics: "not-running" returns at once for a container
   * that is not running, "next-exit" waits for the next exit, "removed" for the removal. A start
   * that fails is no exit (the waiter keeps waiting); a removal ends every wait, without an error.
   * Aborting opts.signal (the client went away) cancels the wait and drops its listeners.
   */
  wait(...a: Parameters<Controller["wait"]>): ReturnType<Controller["wait"]> {
    return this.core.m.control.wait(...a);
  }

  remove(...a: Parameters<Controller["remove"]>): ReturnType<Controller["remove"]> {
    return this.core.m.control.remove(...a);
  }

  /** `docker rm --link /parent/alias`: removes a legacy link; the linked container stays. */
  removeLink(name: string): Promise<void> {
    return this.core.m.create.removeLink(name);
  }

  rename(...a: Parameters<Controller["rename"]>): ReturnType<Controller["rename"]> {
    return this.core.m.control.rename(...a);
  }

  /** docker update: resources (applied live to a running container's cgroup) and the restart policy. */
  update(...a: Parameters<Controller["update"]>): ReturnType<Controller["update"]> {
    return this.core.m.control.update(...a);
  }

  /** docker container prune: removes stopped containers matching until= and label= / label!= filters. */
  prune(...a: Parameters<Controller["prune"]>): ReturnType<Controller["prune"]> {
    return this.core.m.control.prune(...a);
  }

  inspect(...a: Parameters<Views["inspect"]>): ReturnType<Views["inspect"]> {
    return this.core.m.views.inspect(...a);
  }

  list(...a: Parameters<Views["list"]>): ReturnType<Views["list"]> {
    return this.core.m.views.list(...a);
  }

  /** The container's id for a name, id or prefix (for callers such as the image service's inUse). */
  resolveId(...a: Parameters<Views["resolveId"]>): ReturnType<Views["resolveId"]> {
    return this.core.m.views.resolveId(...a);
  }

  /** Whether a container uses image id; for `rmi` (running tells a forced removal apart). */
  imageInUse(...a: Parameters<Views["imageInUse"]>): ReturnType<Views["imageInUse"]> {
    return this.core.m.views.imageInUse(...a);
  }

  /** docker top: ps on the host, rows of the container's cgroup processes. */
  top(...a: Parameters<Views["top"]>): ReturnType<Views["top"]> {
    return this.core.m.views.top(...a);
  }

  /**
   * docker stats: samples once a second. stream=false gives one sample whose precpu_stats come
   * from a sample a second earlier (so a CPU percentage can be computed), unless oneShot.
   */
  stats(...a: Parameters<Views["stats"]>): ReturnType<Views["stats"]> {
    return this.core.m.views.stats(...a);
  }

  logs(...a: Parameters<Streams["logs"]>): ReturnType<Streams["logs"]> {
    return this.core.m.streams.logs(...a);
  }

  /** Attaches to the container's stdio; on a container that is not running yet, connects at its next start. */
  attach(...a: Parameters<Streams["attach"]>): ReturnType<Streams["attach"]> {
    return this.core.m.streams.attach(...a);
  }

  /** Attach sessions handed to the containers' monitors so far (for tests and diagnostics). */
  get directAttachSessions(): number {
    return this.core.m.streams.directSessions;
  }

  /** Resizes the container's terminal (docker resize / attach resize). */
  resize(...a: Parameters<Streams["resize"]>): ReturnType<Streams["resize"]> {
    return this.core.m.streams.resize(...a);
  }

  execCreate(...a: Parameters<Execs["execCreate"]>): ReturnType<Execs["execCreate"]> {
    return this.core.m.exec.execCreate(...a);
  }

  execInspect(...a: Parameters<Execs["execInspect"]>): ReturnType<Execs["execInspect"]> {
    return this.core.m.exec.execInspect(...a);
  }

  /**
   * Starts an exec. The output (when attached) comes from the exec's own log, so nothing printed
   * before the client connects is lost; a tty exec streams from the monitor's socket.
   */
  execStart(...a: Parameters<Execs["execStart"]>): ReturnType<Execs["execStart"]> {
    return this.core.m.exec.execStart(...a);
  }

  execResize(...a: Parameters<Execs["execResize"]>): ReturnType<Execs["execResize"]> {
    return this.core.m.exec.execResize(...a);
  }

  /** docker diff: the changes in the container's writable layer (null when there are none, as dockerd). */
  changes(...a: Parameters<Files["changes"]>): ReturnType<Files["changes"]> {
    return this.core.m.files.changes(...a);
  }

  /** docker export: the container's filesystem as a tar, written to out (which is ended). */
  export(...a: Parameters<Files["export"]>): ReturnType<Files["export"]> {
    return this.core.m.files.export(...a);
  }

  /** HEAD /archive: the stat of a path inside the container. */
  archiveStat(...a: Parameters<Files["archiveStat"]>): ReturnType<Files["archiveStat"]> {
    return this.core.m.files.archiveStat(...a);
  }

  /** GET /archive: calls onStat with the path's stat, then writes its tar to out (which is ended). */
  archiveGet(...a: Parameters<Files["archiveGet"]>): ReturnType<Files["archiveGet"]> {
    return this.core.m.files.archiveGet(...a);
  }

  /** PUT /archive: extracts a tar into directory p of the container. */
  archivePut(...a: Parameters<Files["archivePut"]>): ReturnType<Files["archivePut"]> {
    return this.core.m.files.archivePut(...a);
  }

  /** The builder's WORKDIR: makes the container's working directory now, as its start would. */
  createWorkdir(...a: Parameters<Files["createWorkdir"]>): ReturnType<Files["createWorkdir"]> {
    return this.core.m.files.createWorkdir(...a);
  }

  /** The builder's mount stubs: which of these paths (and their parents) are missing from the rootfs, deepest first. */
  missingPaths(...a: Parameters<Files["missingPaths"]>): ReturnType<Files["missingPaths"]> {
    return this.core.m.files.missingPaths(...a);
  }

  /** The builder's mount stubs: removes the paths that are empty directories or empty files, inside the rootfs. */
  removeEmpty(...a: Parameters<Files["removeEmpty"]>): ReturnType<Files["removeEmpty"]> {
    return this.core.m.files.removeEmpty(...a);
  }

  /** A regular file of the container's filesystem, read inside its root; undefined when missing. */
  readFile(...a: Parameters<Files["readFile"]>): ReturnType<Files["readFile"]> {
    return this.core.m.files.readFile(...a);
  }

  /** docker commit: the container's changes as a new layer on its image; returns the image ID. */
  commit(...a: Parameters<Files["commit"]>): ReturnType<Files["commit"]> {
    return this.core.m.files.commit(...a);
  }
}
