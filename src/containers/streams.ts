// A container's output and terminal: logs, attach, resize of its own terminal.

import { conflict, unsupported } from "../common/errors.js";
import { connectMonitor, Channel, type MonitorConnection } from "./attach.js";
import { readLogs } from "./logs.js";
import type { AttachChunk, LogEntry, LogsOptions } from "./types.js";
import { AttachOptions, AttachSession, PendingAttach } from "./core.js";
import type { ContainerCore } from "./core.js";

export class Streams {
  constructor(private readonly core: ContainerCore) {}

  logs(ref: string, opts: LogsOptions = {}): AsyncIterable<LogEntry> {
    const c = this.core.find(ref);
    const logType = c.hc.LogConfig?.Type ?? "json-file";
    if (logType !== "json-file" && logType !== "local") throw unsupported(`configured logging driver does not support reading`);
    const stopped = c.exited ?? Promise.resolve();
    return readLogs(this.core.logPath(c), opts, { running: () => c.rec.State.Running && this.core.containers.has(c.rec.ID), stopped });
  }

  /** Attaches to the container's stdio; on a container that is not running yet, connects at its next start. */
  async attach(ref: string, opts: AttachOptions = {}): Promise<AttachSession> {
    const c = this.core.find(ref);
    const wantOut = opts.stdout !== false;
    const wantErr = opts.stderr !== false;
    const output = new Channel<AttachChunk>();
    let conn: MonitorConnection | undefined;
    const queued: ((m: MonitorConnection) => void)[] = [];
    let closed = false;
    const use = (f: (m: MonitorConnection) => void) => (conn ? f(conn) : queued.push(f));
    const connect = async (socket: string) => {
      if (closed) return;
      const m = await connectMonitor(socket, { timeoutMs: 2000 });
      conn = m;
      for (const f of queued.splice(0)) f(m);
      void (async () => {
        for await (const chunk of m.output) {
          if ((chunk.stream === "stdout" && wantOut) || (chunk.stream === "stderr" && wantErr)) output.push(chunk);
        }
        output.end();
      })();
    };
    const replay = opts.logs
      ? (async () => {
          for await (const e of readLogs(this.core.logPath(c), { stdout: wantOut, stderr: wantErr })) output.push({ stream: e.stream, data: e.line });
        })()
      : Promise.resolve();
    await replay;
    if (opts.stream === false) output.end();
    else if (c.rec.State.Running && !c.rec.State.Restarting) {
      await connect(this.core.attachSocket(c.rec.ID)).catch(() => output.end());
    } else {
      const p: PendingAttach = { connect };
      c.pendingAttach.add(p);
      const l = () => {
        c.exitListeners.delete(l);
        c.pendingAttach.delete(p);
        if (!conn) output.end();
      };
      c.exitListeners.add(l);
    }
    this.core.event(c, "attach");
    const stdinAllowed = opts.stdin !== false && !!c.rec.Config.OpenStdin;
    return {
      output,
      write: (data) => {
        if (stdinAllowed) use((m) => m.write(data));
      },
      closeStdin: () => {
        if (stdinAllowed) use((m) => m.closeStdin());
      },
      resize: (rows, cols) => {
        use((m) => m.resize(rows, cols));
        this.core.event(c, "resize", { height: String(rows), width: String(cols) });
      },
      close: () => {
        closed = true;
        conn?.close();
        output.end();
      },
    };
  }

  /** Resizes the container's terminal (docker resize / attach resize). */
  async resize(ref: string, rows: number, cols: number): Promise<void> {
    const c = this.core.find(ref);
    if (!c.rec.State.Running) throw conflict(`Container ${c.rec.ID} is not running`, { code: "container.not-running" });
    const m = await connectMonitor(this.core.attachSocket(c.rec.ID), { timeoutMs: 0, output: false });
    m.resize(rows, cols);
    m.close();
    this.core.event(c, "resize", { height: String(rows), width: String(cols) });
  }
}
