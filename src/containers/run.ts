// Running containers: start (mounts, network, spec, runtime create/start), the exit watch, the one teardown of a run, and the restart manager.

import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { conflict, invalid, notFound, systemError, unsupported } from "../common/errors.js";
import { replaceFile } from "../common/fs.js";
import { ignored } from "../common/ignore.js";
import { span, spanSince, traced } from "../common/trace.js";
import type { ProcessExit } from "../runtime/types.js";
import { Dir } from "../fsroot/index.js";
import { connectMonitor, monitorGone } from "./attach.js";
import { checkSourcePropagation, ociMount, tmpfsFlagMounts } from "./mounts.js";
import { buildSpec, normalizeNetworkMode, type ContainerMounts } from "./spec.js";
import { clearStaging, makeInitEntries, makeWorkingDir, prepareFileMountpoints, stageSubpath } from "./startfs.js";
import { resolveUserInRootfs } from "./user.js";
import { rootOwner } from "./userns.js";
import { Live, nowIso } from "./core.js";
import { logSettings } from "./log-config.js";
import { exitCodeOfStartError, ociStartError } from "./start-errors.js";
import type { ContainerCore } from "./core.js";

export class Runner {
  constructor(private readonly core: ContainerCore) {}

  /** Starts a container; a running one is left alone (Docker answers 304). Returns false then. */
  async start(ref: string): Promise<boolean> {
    const c = this.core.find(ref);
    return this.core.exclusive(c, async () => {
      if (c.rec.State.Status === "running" || c.rec.State.Status === "restarting") return false;
      if (c.rec.State.Paused) throw conflict("cannot start a paused container, try unpause instead", { code: "container.paused" });
      if (c.rec.State.Status === "removing" || c.rec.State.Dead) throw conflict(`container is marked for removal and cannot be started`, { code: "container.removing" });
      c.rec.HasBeenManuallyStopped = false;
      c.restartDelay = 0;
      try {
        await this.startInternal(c);
      } catch (err) {
        // as moby's containerStart: an AutoRemove container whose start failed is removed, so
        // `run --rm` leaves nothing whichever client (API, CLI, library) started it
        if (c.hc.AutoRemove) await this.core.bestEffort(`remove --rm container ${c.rec.ID} after its failed start`, this.core.m.control.remove(c.rec.ID, { force: true }));
        throw err;
      }
      return true;
    });
  }

  namespacePath(c: Live, mode: string | undefined, ns: string): string | undefined {
    if (!mode?.startsWith("container:")) return undefined;
    const other = this.core.find(mode.slice("container:".length));
    if (other.rec.ID === c.rec.ID) throw invalid(`cannot join own ${ns} namespace`);
    if (!other.rec.State.Running || !other.rec.State.Pid) {
      throw conflict(`cannot join ${ns} namespace of a non running container: container ${other.rec.ID} is ${other.rec.State.Status}`, { code: "container.not-running" });
    }
    const sandbox = ns === "net" ? this.core.network.sandbox(other.rec.ID) : undefined;
    return sandbox ? sandbox.netns : `/proc/${other.rec.State.Pid}/ns/${ns}`;
  }

  async startInternal(c: Live): Promise<void> {
    let openGate!: () => void;
    c.startGate = new Promise<void>((r) => (openGate = r));
    try {
      await this.startRun(c);
    } finally {
      openGate();
      c.startGate = undefined;
    }
  }

  async startRun(c: Live): Promise<void> {
    const id = c.rec.ID;
    const cfg = c.rec.Config;
    await this.core.hooks.beforeStart?.(c.rec);
    // dockerd refuses to start a container whose legacy link points at one that is not running
    for (const { child, linkName } of this.core.m.create.links(c)) {
      if (!child.rec.State.Running) throw systemError(`Cannot link to a non running container: ${child.rec.Name} AS ${linkName}`, { code: "container.link-not-running" });
    }
    const endStart = span("start", id);
    try {
      const rootfs = await traced("start.rootfs", id, () => this.core.mountRootfs(c));
      const endPrepare = span("start.prepare", id);
      // the root is the container's: what is made in it is made through its directory fd
      await Dir.with(rootfs, (root) => {
        if (!c.rec.HasBeenStartedBefore) makeInitEntries(root, c.rec.UserNamespace ? rootOwner(c.rec.UserNamespace) : undefined);
        if (cfg.WorkingDir) makeWorkingDir(root, cfg.WorkingDir, c.rec.UserNamespace ? rootOwner(c.rec.UserNamespace) : undefined);
      });
      const user = await resolveUserInRootfs(rootfs, cfg.User ?? "", c.hc.GroupAdd ?? []);
      const mounts = await this.setupMounts(c);
      endPrepare();
      const join: Partial<Record<"network" | "pid" | "ipc" | "uts", string>> = {};
      const mode = normalizeNetworkMode(c.hc.NetworkMode);
      const net = this.namespacePath(c, mode, "net");
      if (net) join.network = net;
      const endNetwork = span("start.network", id);
      const sandbox = await this.core.network.setUp({
        containerId: id,
        name: c.rec.Name,
        hostname: cfg.Hostname ?? "",
        mode,
        portBindings: c.hc.PortBindings ?? null,
        exposedPorts: cfg.ExposedPorts ?? null,
        publishAll: !!c.hc.PublishAllPorts,
        dns: c.hc.Dns ?? [],
      });
      if (sandbox) join.network = sandbox.netns;
      // the addresses of this start go into /etc/hosts (without networking the create's files hold)
      if (this.core.networked) await this.core.m.create.writeNetworkFiles(c);
      endNetwork();
      const endSpec = span("start.spec", id);
      const pid = this.namespacePath(c, c.hc.PidMode, "pid");
      if (pid) join.pid = pid;
      const ipc = this.namespacePath(c, c.hc.IpcMode, "ipc");
      if (ipc) join.ipc = ipc;
      const uts = this.namespacePath(c, c.hc.UTSMode, "uts");
      if (uts) join.uts = uts;
      const { spec } = buildSpec({
        id,
        config: cfg,
        hostConfig: c.hc,
        rootfs,
        files: { hostname: path.join(c.dir, "hostname"), hosts: path.join(c.dir, "hosts"), resolvConf: path.join(c.dir, "resolv.conf") },
        user,
        cgroupVersion: this.core.cgroupVersion,
        cgroupParent: this.core.cgroupParent,
        initPath: this.core.initPath,
        join,
        mounts,
        linkEnv: this.core.m.create.linkEnv(c),
        ...(c.rec.UserNamespace ? { userns: c.rec.UserNamespace } : {}),
      });
      await Dir.with(rootfs, (root) => prepareFileMountpoints(root, spec.mounts ?? []));
      if (c.hc.Init && !existsSync(this.core.initPath)) throw unsupported(`--init: ${this.core.initPath} is missing`, { code: "container.init-missing", hint: "build cove's native parts (scripts/build-native.sh)" });
      const runtime = this.core.runtimeOf(c);
      // the bundle's config.json is made anew at every start: no fsync. A runtime that takes the
      // spec in process does not read it (it is for tools): it is written while the runtime
      // creates the container, and the start waits for it after.
      const configWritten = replaceFile(path.join(c.dir, "config.json"), JSON.stringify(spec, null, 2));
      configWritten.catch(() => undefined); // awaited below, whatever the create does
      if (!runtime.takesSpec) await configWritten;
      // a previous run's runtime state (the daemon died before it cleaned up); a forced delete of
      // none succeeds, so only a real failure is logged
      await this.core.bestEffort(`delete the previous runtime state of container ${id}`, runtime.delete(id, { force: true }));
      endSpec();
      const endCreate = span("start.runtime-create", id);
      const rotation = logSettings(c.hc.LogConfig?.Type ?? "json-file", c.hc.LogConfig?.Config ?? {});
      const created = await runtime.create(id, {
        bundle: c.dir,
        // the in-process runtime takes the spec as built, not read back from config.json
        spec,
        stdio: "ignore",
        io: {
          ...(rotation ? { log: { path: this.core.logPath(c), ...rotation } } : {}),
          attachSocket: this.core.attachSocket(id),
          directSocket: this.core.directSocket(id),
          pipes: { openStdin: !!cfg.OpenStdin, stdinOnce: !!cfg.StdinOnce },
        },
      }).catch(async (err: unknown) => {
        await configWritten.catch(() => undefined); // no write left under way in the container's directory
        throw ociStartError(err, runtime.name);
      });
      await configWritten;
      endCreate();
      // both runtimes have made the container's mounts when create returns: the staging mounts
      // of volume subpaths are no longer needed
      clearStaging(c.dir);
      const endAttach = span("start.attach", id);
      // attach clients waiting for this start, and the exit watch, connect before the process
      // runs: at once, each is a connection of its own to the monitor
      const pending = [...c.pendingAttach];
      c.pendingAttach.clear();
      let resolveExited!: () => void;
      c.exited = new Promise<void>((r) => (resolveExited = r));
      c.resolveExited = resolveExited;
      await Promise.all([...pending.map((p) => this.core.bestEffort(`connect a waiting attach client to container ${id}`, p.connect(this.core.attachSocket(id)))), this.watchExit(c)]);
      endAttach();
      const endRuntimeStart = span("start.runtime-start", id);
      await runtime.start(id).catch((err: unknown) => {
        throw ociStartError(err, runtime.name);
      });
      endRuntimeStart();
      this.core.setStatus(c, "running");
      Object.assign(c.rec.State, { Pid: created.pid ?? 0, StartedAt: nowIso(), ExitCode: 0, Error: "", OOMKilled: false });
      if (!c.rec.HasBeenStartedBefore) c.rec.HasBeenStartedBefore = true;
      if (cfg.Healthcheck && !(cfg.Healthcheck.Test?.[0] === "NONE") && cfg.Healthcheck.Test?.length) {
        c.rec.State.Health = { Status: "starting", FailingStreak: 0, Log: [] };
      } else delete c.rec.State.Health;
      c.runStartedAt = Date.now();
      const endRecord = span("start.record", id);
      await this.core.save(c, "state");
      endRecord();
      this.core.event(c, "start");
      this.core.m.health.scheduleHealth(c, true);
      endStart();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await this.teardown(c);
      this.core.setStatus(c, c.rec.HasBeenStartedBefore ? "exited" : "created");
      c.rec.State.Error = message;
      c.rec.State.ExitCode = exitCodeOfStartError(err);
      c.rec.State.Pid = 0;
      c.resolveExited?.();
      await this.core.bestEffort(`save container ${c.rec.ID} after its failed start`, this.core.save(c));
      for (const l of [...c.exitListeners]) l(c.rec.State.ExitCode, true);
      throw err;
    }
  }

  /**
   * The OCI mounts of a start: missing -v sources are created, shared/slave binds are checked,
   * volumes are mounted (their devices on first use) and subpaths resolved inside the volume and
   * staged (see stageSubpath), the staging mounts removed again once the runtime created the
   * container.
   */
  async setupMounts(c: Live): Promise<ContainerMounts> {
    const out: ContainerMounts = { mounts: [], points: [], create: [] };
    // a previous start's, if the daemon died before it removed them
    clearStaging(c.dir);
    for (const [index, e] of c.rec.MountPoints.entries()) {
      if (e.Type === "bind") {
        if (e.CreateSource) await mkdir(e.Source, { recursive: true, mode: 0o755 });
        try {
          checkSourcePropagation(e.Source, e.Propagation);
          out.mounts.push(ociMount(e));
        } catch (err) {
          // cove chose rslave for a bind of its root; a source that cannot propagate keeps the default
          if (!e.ImplicitPropagation) throw err;
          out.mounts.push(ociMount({ ...e, Propagation: "rprivate" }));
        }
      } else if (e.Type === "volume") {
        if (!this.core.volumes.has(e.Name!)) throw notFound(`get ${e.Name}: no such volume`, { code: "volume.not-found", hint: "the volume was removed outside cove; recreate it (docker volume create) or remove the container" });
        let source = await this.core.volumes.acquire(e.Name!, c.rec.ID, { destination: e.Destination, rw: e.RW, propagation: e.Propagation });
        if (e.Subpath) source = stageSubpath(c.dir, index, source, e.Subpath, { name: e.Name!, destination: e.Destination });
        out.mounts.push(ociMount(e, source));
      } else out.mounts.push(ociMount(e));
    }
    out.mounts.push(...tmpfsFlagMounts(c.hc));
    return out;
  }

  /** Removes a start's staging mounts (see stageSubpath); one that cannot go is logged, never deleted through. */
  clearStaging(c: Live): void {
    try {
      clearStaging(c.dir);
    } catch (err) {
      this.core.log(`cove: warning: container ${c.rec.ID}: ${(err as Error).message}`);
    }
  }

  /** The container stopped: its volumes' devices are unmounted when no other container holds them. */
  async releaseVolumes(c: Live): Promise<void> {
    for (const e of c.rec.MountPoints) {
      if (e.Type === "volume" && e.Name) await this.core.bestEffort(`release volume ${e.Name} of container ${c.rec.ID}`, this.core.volumes.release(e.Name, c.rec.ID));
    }
  }

  /** Watches the monitor for the exit: its attach socket's exit frame, or state polling. */
  async watchExit(c: Live): Promise<void> {
    const id = c.rec.ID;
    const onExit = () => {
      if (c.watcher) c.watcher = undefined;
      if (c.pollTimer) clearInterval(c.pollTimer);
      c.pollTimer = undefined;
      // nothing may escape as an unhandled rejection: it would end the daemon and every client with it
      if (!this.core.closed) void this.handleExit(c).catch((err: unknown) => ignored(`handle the exit of container ${c.rec.ID}`, err, this.core.log));
    };
    const poll = () => {
      if (c.pollTimer) return;
      c.pollTimer = setInterval(() => {
        this.core.runtimeOf(c).state(id).then(
          (s) => {
            if (s.status === "stopped") onExit();
          },
          () => onExit(),
        );
      }, 250);
    };
    try {
      const conn = await connectMonitor(this.core.attachSocket(id), { timeoutMs: 0, output: false });
      c.watcher = conn;
      void conn.exit.then(async (e) => {
        if (this.core.closed || c.watcher !== conn) return;
        if (e) return onExit();
        // dropped without an exit frame: the monitor died (or dropped us)
        await this.stopOrphan(c);
        poll();
      });
    } catch {
      // the monitor does not serve its socket: the container exited already, or the monitor
      // died; polling the runtime's state sees the exit either way
      await this.stopOrphan(c);
      poll();
    }
  }

  /**
   * A container whose monitor died runs on with nobody to take its output or report its exit: it
   * is killed (as containerd kills a task whose shim died), and the exit is then seen as any other.
   */
  private async stopOrphan(c: Live): Promise<void> {
    const id = c.rec.ID;
    if (!(await monitorGone(this.core.attachSocket(id)))) return;
    const runtime = this.core.runtimeOf(c);
    const status = await runtime.state(id).then(
      (s) => s.status,
      () => "stopped",
    );
    if (status !== "running" && status !== "paused") return;
    this.core.log(`cove: container ${id}: its monitor is gone, so nothing takes its output or reports its exit; killing it`);
    if (status === "paused") await this.core.bestEffort(`thaw container ${id} to kill it`, runtime.resume(id));
    await this.core.bestEffort(`kill container ${id} whose monitor is gone`, runtime.kill(id, "SIGKILL", { all: true }));
  }

  async handleExit(c: Live, knownExit?: ProcessExit, finishedAt?: string): Promise<void> {
    if (c.startGate) await c.startGate;
    if (c.handlingExit || !c.rec.State.Running) return;
    c.handlingExit = true;
    try {
      const id = c.rec.ID;
      // the container's own run, from its start's end to the daemon learning of the exit
      if (c.runStartedAt !== undefined) spanSince("exit", id, c.runStartedAt);
      const endWait = span("exit.status", id);
      const exit = knownExit ?? (await this.core.runtimeOf(c).wait(id).catch((): ProcessExit => ({ code: 255, signal: 0 })));
      endWait();
      if (this.core.closed) return;
      await traced("exit.teardown", id, () => this.teardown(c));
      const code = exit.code < 0 ? 255 : exit.code;
      this.core.setStatus(c, "exited");
      Object.assign(c.rec.State, { Pid: 0, ExitCode: code, FinishedAt: finishedAt ?? nowIso(), OOMKilled: !!exit.oomKilled });
      if (exit.code < 0 && !c.rec.State.Error) c.rec.State.Error = "the container's monitor exited without an exit status";
      if (c.rec.State.Health) c.rec.State.Health.Status = "unhealthy";
      for (const e of this.core.execs.values()) {
        if (e.containerId !== id || !e.running) continue;
        e.running = false;
        e.endedAt = Date.now();
      }
      if (exit.oomKilled) this.core.event(c, "oom");
      this.core.event(c, "die", { exitCode: String(code), execDuration: String(Math.round((Date.now() - (c.runStartedAt ?? Date.now())) / 1000)) });
      await this.afterExit(c, code, this.shouldRestart(c, code));
    } finally {
      c.handlingExit = false;
    }
  }

  /**
   * What follows an exit (the container is exited): the record saved, waiters told, and then
   * either a restart after the back-off or, for --rm, the removal.
   */
  private async afterExit(c: Live, code: number, restart: boolean): Promise<void> {
    if (restart) {
      // counted when decided, as dockerd does: inspect during the back-off shows the restart
      c.rec.RestartCount++;
      this.core.setStatus(c, "restarting");
    }
    // A --rm container is removed right away: the exit is recorded only should its removal fail.
    // Until then the record on disk says running, which a crash in between also leaves (as a
    // record the disk refuses): the next start of the daemon finds the container gone from the
    // runtime, records an exit and finishes the --rm removal.
    const removing = !restart && !!c.hc.AutoRemove;
    if (!removing) await this.recordExit(c);
    c.resolveExited?.();
    for (const l of [...c.exitListeners]) l(code);
    if (restart) {
      c.restartTimer = setTimeout(() => {
        c.restartTimer = undefined;
        void this.core.exclusive(c, () => this.restartNow(c));
      }, c.restartDelay);
    } else if (removing) {
      const endRemove = span("remove", c.rec.ID);
      const removed = await this.core.m.control.remove(c.rec.ID, { force: true, volumes: true }).then(
        () => true,
        (err: unknown) => {
          ignored(`remove --rm container ${c.rec.ID} after its exit`, err, this.core.log);
          return false;
        },
      );
      endRemove();
      if (!removed && !c.removed) await this.recordExit(c);
    }
  }

  /** Saves the exited (or restarting) state of a container. */
  private async recordExit(c: Live): Promise<void> {
    const endRecord = span("exit.record", c.rec.ID);
    // a record the disk refuses (full) must not keep the exit from its waiters or its --rm: the
    // record on disk then says running, and the next start of the daemon finds the monitor gone
    // and records the exit
    await this.core.save(c, "state").catch((err: unknown) => ignored(`record the exit of container ${c.rec.ID} (the next daemon start records it from the runtime)`, err, this.core.log));
    endRecord();
  }

  /** The restart manager's restart, once the back-off has passed. */
  private async restartNow(c: Live): Promise<void> {
    if (this.core.closed || c.rec.State.Status !== "restarting") return;
    // the status stays restarting until the start succeeds or fails: a client that polls for
    // "exited" must not take the moment before the next run for the end of the restarts
    try {
      await this.startInternal(c);
    } catch {
      // a failed restart counts as an exit with the start error's code (the start recorded it)
      const code = c.rec.State.ExitCode;
      if (this.shouldRestart(c, code)) {
        c.rec.State.FinishedAt = nowIso();
        this.core.event(c, "die", { exitCode: String(code), execDuration: "0" });
        await this.afterExit(c, code, true);
      } else {
        // the restarts are over: waiters get the stop, as moby's SetStopped after a failed restart
        for (const l of [...c.exitListeners]) l(code);
      }
    }
  }

  /**
   * Everything a run holds, released: the one path for an exit, a failed start and a removal
   * (which also makes the network forget the container). Each step is attempted whatever the
   * others did; failures are logged.
   */
  async teardown(c: Live, opts: { forgetNetwork?: boolean } = {}): Promise<void> {
    const id = c.rec.ID;
    c.watcher?.close();
    c.watcher = undefined;
    if (c.pollTimer) clearInterval(c.pollTimer);
    c.pollTimer = undefined;
    if (c.healthTimer) clearTimeout(c.healthTimer);
    c.healthTimer = undefined;
    await this.core.bestEffort(`delete the runtime state of container ${id}`, this.core.runtimeOf(c).delete(id, { force: true }));
    const endNetwork = span("teardown.network", id);
    if (opts.forgetNetwork) await this.core.network.forget(id);
    else await this.core.bestEffort(`tear down the network of container ${id}`, this.core.network.tearDown(id));
    endNetwork();
    const endRootfs = span("teardown.rootfs", id);
    this.core.unmountRootfs(c);
    endRootfs();
    this.clearStaging(c);
    await this.releaseVolumes(c);
  }

  /** moby's restartmanager: the policy, and the back-off (100 ms doubling, reset after 10 s up). */
  shouldRestart(c: Live, code: number): boolean {
    const policy = c.hc.RestartPolicy ?? {};
    if (c.rec.HasBeenManuallyStopped || this.core.closed) return false;
    const ran = Date.now() - (c.runStartedAt ?? Date.now());
    if (ran >= 10_000) c.restartDelay = 100;
    else c.restartDelay = c.restartDelay === 0 ? 100 : Math.min(c.restartDelay * 2, 60_000);
    switch (policy.Name) {
      case "always":
      case "unless-stopped":
        return true;
      case "on-failure":
        return code !== 0 && (!policy.MaximumRetryCount || c.rec.RestartCount < policy.MaximumRetryCount);
      default:
        return false;
    }
  }
}
