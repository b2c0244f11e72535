// Processes started in a running container: exec create, start (attached or detached), inspect and resize.

import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { conflict, CoveError, invalid, notFound } from "../common/errors.js";
import { ignored } from "../common/ignore.js";
import type { Process } from "../runtime/spec.js";
import { connectMonitor, Channel, OUTPUT_HIGH_WATER, type MonitorConnection } from "./attach.js";
import { readLogs } from "./logs.js";
import { containerEnv, tweakCapabilities } from "./spec.js";
import type { AttachChunk, ExecConfig, ExecInspect } from "./types.js";
import { resolveUserInRootfs } from "./user.js";
import { ExecRecord, ExecSession, Live, newId } from "./core.js";
import { exitCodeOfExecError, ociStartError } from "./start-errors.js";
import type { ContainerCore } from "./core.js";

export interface ExecStartOptions {
  /** Start without a session: no output is kept and stdin is at its end (exec start's Detach). */
  detach?: boolean;
  /** [height, width] of the exec's terminal from the start request; the exec's own when absent. */
  consoleSize?: [number, number] | null;
  /**
   * Runs once the start is accepted and before the process is launched: the API hands the
   * connection over to the stream there, as dockerd does before it runs the process.
   */
  accepted?: () => void | Promise<void>;
}

/** The command in an exec's event actions, as moby writes it: the entrypoint, a space, the arguments. */
function execCommandText(cmd: readonly string[]): string {
  return `${cmd[0] ?? ""} ${cmd.slice(1).join(" ")}`;
}

/** How long an ended exec stays inspectable (dockerd forgets them after 5 to 10 minutes). */
export const ENDED_EXEC_KEEP_MS = 10 * 60_000;

export class Execs {
  constructor(private readonly core: ContainerCore) {}

  async execCreate(ref: string, config: ExecConfig): Promise<{ Id: string }> {
    const c = this.core.find(ref);
    if (!c.rec.State.Running || c.rec.State.Restarting) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    if (c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is paused, unpause the container before exec`, { code: "container.paused" });
    if (!config.Cmd || config.Cmd.length === 0) throw invalid("No exec command specified", { code: "exec.no-command" });
    this.forgetEndedExecs();
    const id = newId();
    this.core.execs.set(id, { id, containerId: c.rec.ID, config: { ...config }, running: false, exitCode: null, pid: 0, started: false });
    this.core.event(c, `exec_create: ${execCommandText(config.Cmd)}`, { execID: id });
    return { Id: id };
  }

  /**
   * Drops the records of execs that ended more than ENDED_EXEC_KEEP_MS ago, as dockerd's exec GC
   * does: `exec inspect` reads an exit code for minutes after it, and a container that runs for
   * months with an exec every few seconds does not grow the daemon's memory without bound.
   */
  forgetEndedExecs(now = Date.now()): void {
    for (const [id, e] of this.core.execs) if (e.endedAt !== undefined && now - e.endedAt > ENDED_EXEC_KEEP_MS) this.core.execs.delete(id);
  }

  findExec(id: string): ExecRecord {
    const e = this.core.execs.get(id);
    if (!e) throw notFound(`No such exec instance: ${id}`, { code: "exec.not-found" });
    return e;
  }

  execInspect(id: string): ExecInspect {
    const e = this.findExec(id);
    return {
      CanRemove: false,
      DetachKeys: e.config.DetachKeys ?? "",
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: {
        tty: !!e.config.Tty,
        entrypoint: e.config.Cmd[0] ?? "",
        arguments: e.config.Cmd.slice(1),
        privileged: !!e.config.Privileged,
        ...(e.config.User ? { user: e.config.User } : {}),
      },
      OpenStdin: !!e.config.AttachStdin,
      OpenStderr: !!e.config.AttachStderr,
      OpenStdout: !!e.config.AttachStdout,
      ContainerID: e.containerId,
      Pid: e.pid,
    };
  }

  async execProcess(c: Live, cfg: ExecConfig): Promise<Process> {
    const rootfs = this.core.rootfsPath(c);
    const user = await resolveUserInRootfs(rootfs, cfg.User || c.rec.Config.User || "", c.hc.GroupAdd ?? []);
    const env = containerEnv([...(c.rec.Config.Env ?? []), ...(cfg.Env ?? [])], c.rec.Config.Hostname ?? "", !!cfg.Tty, this.core.m.create.linkEnv(c), user.home);
    const caps = tweakCapabilities(c.hc.CapAdd ?? [], c.hc.CapDrop ?? [], !!(cfg.Privileged || c.hc.Privileged));
    return {
      terminal: !!cfg.Tty,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
      args: [...cfg.Cmd],
      env,
      cwd: cfg.WorkingDir || c.rec.Config.WorkingDir || "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: (c.hc.SecurityOpt ?? []).some((o) => o === "no-new-privileges" || o === "no-new-privileges:true" || o === "no-new-privileges=true"),
      ...(cfg.ConsoleSize && cfg.ConsoleSize[0] > 0 ? { consoleSize: { height: cfg.ConsoleSize[0], width: cfg.ConsoleSize[1] } } : {}),
    };
  }

  /**
   * Starts an exec, as moby's ContainerExecStart: the exec must exist, not have run, and its
   * container must be running (404/409 before anything else). Then `opts.accepted` runs (the API
   * sends its 101 and the stream's headers there), and only then is the process launched, so that
   * the client reads its stream before the process can print. A launch that fails (the command is
   * missing or cannot run) is thrown in Docker's words ("OCI runtime exec failed: ...") after the
   * exec records it: not running, exit code 127 (not found) or 126, no pid.
   *
   * The output (when attached) comes from the exec's own log, so nothing printed before the
   * caller reads is lost; a tty exec streams from the monitor's socket, and the monitor holds the
   * process until that connection is there.
   */
  async execStart(id: string, opts: ExecStartOptions = {}): Promise<ExecSession> {
    const e = this.findExec(id);
    if (e.started) throw conflict(`Error: Exec command ${id} has already run`, { code: "exec.started" });
    const c = this.core.find(e.containerId);
    if (!c.rec.State.Running || c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    e.started = true;
    try {
      await opts.accepted?.();
    } catch (err) {
      e.started = false; // nobody took the stream: the exec may still be started
      throw err;
    }
    const cfg = e.config;
    this.core.event(c, `exec_start: ${execCommandText(cfg.Cmd)}`, { execID: id });
    const attached = !opts.detach && !!(cfg.AttachStdout || cfg.AttachStderr || cfg.AttachStdin);
    const consoleSize = opts.consoleSize && opts.consoleSize[0] > 0 && opts.consoleSize[1] > 0 ? opts.consoleSize : cfg.ConsoleSize;
    // the socket's name is no longer than the container's own (a.sock), which the daemon checks
    // fits a unix socket address under its runtime root: "e" and 5 base-36 characters
    const tag = randomBytes(4).readUInt32BE(0).toString(36).padStart(7, "0").slice(-5);
    const rtDir = path.join(this.core.runtimeRoot, c.rec.ID);
    const socket = path.join(rtDir, `e${tag}`);
    const log = path.join(rtDir, `e${tag}.log`);
    const output = new Channel<AttachChunk>({ highWaterMark: OUTPUT_HIGH_WATER, size: (chunk) => chunk.data.length });
    // a failure to connect is logged unless the exec itself failed to start (its error is the answer)
    let startFailed = false;
    let exitedFlag = false;
    let connecting: Promise<MonitorConnection | undefined> = Promise.resolve(undefined);
    let handle;
    let launched!: () => void;
    const launch = new Promise<void>((resolve) => (launched = resolve));
    let ended!: () => void;
    const end = new Promise<void>((resolve) => (ended = resolve));
    try {
      const proc = await this.execProcess(c, { ...cfg, ConsoleSize: consoleSize ?? null });
      e.socket = socket;
      // The monitor's connection carries a terminal's output and the client's stdin (output
      // without a terminal comes from the exec's log): connect as soon as the monitor serves the
      // socket, before or while the process starts, however long the launch takes. A process
      // without stdin may end before that, and its monitor with it: then there is nothing to wait for.
      if (attached && (cfg.Tty || cfg.AttachStdin)) {
        connecting = connectMonitor(socket, { timeoutMs: 10_000, output: !!cfg.Tty, after: launch, until: end }).catch((err: unknown) => {
          if (!startFailed && !exitedFlag) ignored(`connect to exec ${id} in container ${c.rec.ID}`, err, this.core.log);
          return undefined;
        });
      }
      handle = await this.core.runtimeOf(c).exec(c.rec.ID, {
        process: proc,
        stdio: "ignore",
        io: {
          // the exec's output travels through this private log: byte for byte, not json-file's U+FFFD
          ...(attached && !cfg.Tty ? { log: { path: log, maxSize: 0, maxFiles: 1, binary: true } } : {}),
          attachSocket: socket,
          // a detached exec has nobody to write its stdin: it reads end of file at once, as with dockerd
          pipes: { openStdin: attached && !!cfg.AttachStdin, stdinOnce: true },
          // a terminal's output reaches only connected clients: hold the process until ours is there
          ...(attached && cfg.Tty ? { startOnAttach: true } : {}),
        },
      });
    } catch (err) {
      startFailed = true;
      launched();
      ended();
      e.exitCode = exitCodeOfExecError(err);
      e.running = false;
      e.endedAt = Date.now();
      output.end();
      void connecting.then((m) => m?.close());
      await this.core.bestEffort(`remove the log of exec ${id}`, rm(log, { force: true }));
      throw ociStartError(err, this.core.runtimeOf(c).name, "exec");
    }
    launched();
    e.running = true;
    e.pid = handle.pid;
    const exitCode = handle.exited.then((x) => {
      exitedFlag = true;
      ended();
      e.running = false;
      e.exitCode = x.code;
      e.endedAt = Date.now();
      this.core.event(c, "exec_die", { execID: id, exitCode: String(x.code) });
      return x.code;
    });
    const conn = await connecting;
    if (attached) {
      if (cfg.Tty) {
        void (async () => {
          if (conn) for await (const chunk of conn.output) if (!output.push(chunk)) await output.drained();
          await exitCode;
          output.end();
        })();
      } else {
        void (async () => {
          const stopped = exitCode.then(() => undefined);
          try {
            for await (const entry of readLogs(log, { follow: true, stdout: !!cfg.AttachStdout, stderr: !!cfg.AttachStderr }, { running: () => !exitedFlag, stopped })) {
              if (!output.push({ stream: entry.stream, data: entry.line })) await output.drained();
            }
          } finally {
            output.end();
            await this.core.bestEffort(`remove the output log ${log} of exec ${id}`, rm(log, { force: true }));
          }
        })();
      }
    } else output.end();
    return {
      output,
      exitCode,
      write: (data) => conn?.write(data) ?? Promise.resolve(),
      closeStdin: () => conn?.closeStdin(),
      resize: (rows, cols) => conn?.resize(rows, cols),
      close: () => {
        conn?.close();
        output.end();
      },
    };
  }

  async execResize(id: string, rows: number, cols: number): Promise<void> {
    const e = this.findExec(id);
    if (!e.running) throw conflict(`Exec ${id} is not running`, { code: "exec.not-running" });
    // a new connection to this exec's own monitor socket: other execs' terminals keep their size
    if (!e.socket) return;
    let m;
    try {
      m = await connectMonitor(e.socket, { timeoutMs: 0, output: false });
    } catch (err) {
      // the exec ended meanwhile: no terminal left to resize
      if (err instanceof CoveError && err.code === "container.attach") return;
      throw err;
    }
    m.resize(rows, cols);
    m.close();
  }
}
