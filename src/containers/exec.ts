// Processes started in a running container: exec create, start (attached or detached), inspect and resize.

import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { conflict, invalid, notFound } from "../common/errors.js";
import type { Process } from "../runtime/spec.js";
import { connectMonitor, Channel, OUTPUT_HIGH_WATER } from "./attach.js";
import { readLogs } from "./logs.js";
import { containerEnv, tweakCapabilities } from "./spec.js";
import type { AttachChunk, ExecConfig, ExecInspect } from "./types.js";
import { resolveUserInRootfs } from "./user.js";
import { ExecRecord, ExecSession, Live, newId } from "./core.js";
import type { ContainerCore } from "./core.js";

export class Execs {
  constructor(private readonly core: ContainerCore) {}

  async execCreate(ref: string, config: ExecConfig): Promise<{ Id: string }> {
    const c = this.core.find(ref);
    if (!c.rec.State.Running || c.rec.State.Restarting) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    if (c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is paused, unpause the container before exec`, { code: "container.paused" });
    if (!config.Cmd || config.Cmd.length === 0) throw invalid("No exec command specified", { code: "exec.no-command" });
    const id = newId();
    this.core.execs.set(id, { id, containerId: c.rec.ID, config: { ...config }, running: false, exitCode: null, pid: 0, started: false });
    this.core.event(c, `exec_create: ${config.Cmd.join(" ")}`, { execID: id });
    return { Id: id };
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
      ProcessConfig: { privileged: !!e.config.Privileged, user: e.config.User ?? "", tty: !!e.config.Tty, entrypoint: e.config.Cmd[0] ?? "", arguments: e.config.Cmd.slice(1) },
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
    const env = containerEnv([...(c.rec.Config.Env ?? []), ...(cfg.Env ?? [])], c.rec.Config.Hostname ?? "", !!cfg.Tty);
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
   * Starts an exec. The output (when attached) comes from the exec's own log, so nothing printed
   * before the client connects is lost; a tty exec streams from the monitor's socket.
   */
  async execStart(id: string, opts: { detach?: boolean } = {}): Promise<ExecSession> {
    const e = this.findExec(id);
    if (e.started) throw conflict(`Error: Exec command ${id} has already run`, { code: "exec.started" });
    const c = this.core.find(e.containerId);
    if (!c.rec.State.Running || c.rec.State.Paused) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    e.started = true;
    const cfg = e.config;
    const proc = await this.execProcess(c, cfg);
    const tag = randomBytes(4).toString("hex");
    const rtDir = path.join(this.core.runtimeRoot, c.rec.ID);
    const socket = path.join(rtDir, `e${tag}.sock`);
    e.socket = socket;
    const log = path.join(rtDir, `e${tag}.log`);
    const attached = !opts.detach && !!(cfg.AttachStdout || cfg.AttachStderr || cfg.AttachStdin);
    const output = new Channel<AttachChunk>({ highWaterMark: OUTPUT_HIGH_WATER, size: (chunk) => chunk.data.length });
    // connect as soon as the monitor serves the socket, before or while the process starts
    const connecting = attached ? connectMonitor(socket, { timeoutMs: 10_000, output: !!cfg.Tty }).catch(() => undefined) : Promise.resolve(undefined);
    let handle;
    try {
      handle = await this.core.runtimeOf(c).exec(c.rec.ID, {
        process: proc,
        stdio: "ignore",
        io: {
          ...(attached && !cfg.Tty ? { log: { path: log, maxSize: 0, maxFiles: 1 } } : {}),
          attachSocket: socket,
          pipes: { openStdin: !!cfg.AttachStdin, stdinOnce: true },
          // a terminal's output reaches only connected clients: hold the process until ours is there
          ...(attached && cfg.Tty ? { startOnAttach: true } : {}),
        },
      });
    } catch (err) {
      e.exitCode = 126;
      output.end();
      void connecting.then((m) => m?.close());
      throw err;
    }
    e.running = true;
    e.pid = handle.pid;
    this.core.event(c, `exec_start: ${cfg.Cmd.join(" ")}`, { execID: id });
    let exitedFlag = false;
    const exitCode = handle.exited.then((x) => {
      exitedFlag = true;
      e.running = false;
      e.exitCode = x.code;
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
            await rm(log, { force: true }).catch(() => undefined);
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
    const m = await connectMonitor(e.socket, { timeoutMs: 0, output: false }).catch(() => undefined);
    m?.resize(rows, cols);
    m?.close();
  }
}
