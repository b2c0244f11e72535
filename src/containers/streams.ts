// A container's output and terminal: logs, attach, resize of its own terminal.

import { ignored } from "../common/ignore.js";
import { conflict, unsupported } from "../common/errors.js";
import { DirectFlag } from "../native/protocol.js";
import { connectDirect, connectMonitor, type HandOff, type MonitorConnection } from "./attach.js";
import { readLogs } from "./logs.js";
import type { AttachChunk, LogEntry, LogsOptions } from "./types.js";
import { AttachOptions, AttachSession, PendingAttach } from "./core.js";
import type { ContainerCore } from "./core.js";

export class Streams {
  /** Attach sessions handed to the containers' monitors since the service started. */
  directSessions = 0;

  constructor(private readonly core: ContainerCore) {}

  logs(ref: string, opts: LogsOptions = {}): AsyncIterable<LogEntry> {
    const c = this.core.find(ref);
    const logType = c.hc.LogConfig?.Type ?? "json-file";
    if (logType !== "json-file" && logType !== "local") throw unsupported(`configured logging driver does not support reading`);
    const stopped = c.exited ?? Promise.resolve();
    return readLogs(this.core.logPath(c), opts, { running: () => c.rec.State.Running && this.core.containers.has(c.rec.ID), stopped });
  }

  /**
   * Attaches to the container's stdio; on a container that is not running yet, connects at its
   * next start. Output flows at the consumer's pace: the monitor connection stops reading while
   * the consumer is behind (and the container's output waits), and the logs are read as they go.
   * Stdin is taken once the connection is there: write() resolves when more may be sent.
   */
  async attach(ref: string, opts: AttachOptions = {}): Promise<AttachSession> {
    const c = this.core.find(ref);
    const wantOut = opts.stdout !== false;
    const wantErr = opts.stderr !== false;
    let conn: MonitorConnection | undefined;
    let closed = false;
    // the monitor connection, or undefined once there will be none (closed, exited, stream=0)
    let settle!: (m: MonitorConnection | undefined) => void;
    const connection = new Promise<MonitorConnection | undefined>((r) => (settle = r));
    // with opts.direct: the end of the session the monitor serves, or undefined
    let decide: (ended: Promise<void> | undefined) => void = () => undefined;
    const direct = opts.direct ? new Promise<Promise<void> | undefined>((r) => (decide = r)) : undefined;
    void connection.then(() => decide(undefined)); // (no effect once decided)
    const flags = opts.direct
      ? (opts.direct.framed ? DirectFlag.MUX : 0) |
        (opts.stdin !== false && c.rec.Config.OpenStdin ? DirectFlag.STDIN : 0) |
        (opts.direct.closeStdin ? DirectFlag.CLOSE_STDIN : 0) |
        (wantOut ? DirectFlag.STDOUT : 0) |
        (wantErr ? DirectFlag.STDERR : 0) |
        (opts.direct.passFds ? DirectFlag.FDS : 0)
      : 0;
    // hands the connection to the monitor, when it serves a direct socket (monitors started
    // before cove had one do not: the usual connection serves the session then)
    let served: HandOff | undefined;
    const handOver = async (): Promise<boolean> => {
      if (!opts.direct) return false;
      const hand = await connectDirect(this.core.directSocket(c.rec.ID));
      if (!hand) return false;
      const take = await opts.direct.ready;
      if (closed || !take || !take((fd, input) => hand.give(fd, flags, input))) {
        hand.close();
        return false;
      }
      this.directSessions++;
      served = hand;
      decide(hand.ended);
      return true;
    };
    const connect = async (socket: string) => {
      if (closed || conn) return;
      // (a failed hand-over leaves the usual connection to serve the session)
      const handedOver = await handOver().catch((err: unknown) => {
        ignored(`hand the attach session of container ${c.rec.ID} to its monitor`, err, this.core.log);
        return false;
      });
      if (handedOver) return settle(undefined);
      if (closed) return;
      try {
        // (a container that exits meanwhile takes its monitor along: no socket left to wait for)
        const m = await connectMonitor(socket, { timeoutMs: 2000, output: wantOut || wantErr, ...(c.exited ? { until: c.exited } : {}) });
        if (closed) return m.close();
        conn = m;
        settle(m);
      } catch {
        // no live output for this session: the container exited meanwhile and its monitor is gone
        // (an everyday race of short runs, not worth a log line); the log replay still answers
        settle(undefined);
      }
    };
    const socket = this.core.attachSocket(c.rec.ID);
    const live = opts.stream !== false;
    const running = c.rec.State.Running && !c.rec.State.Restarting;
    // a running container's log is replayed before the live output starts, as dockerd does
    let connectLater = false;
    if (!live) settle(undefined);
    else if (running) {
      if (opts.logs) connectLater = true;
      // (a hand-over waits for the caller's response head: it goes on while the caller answers)
      else if (opts.direct) void connect(socket);
      else await connect(socket);
    } else {
      const p: PendingAttach = { connect };
      c.pendingAttach.add(p);
      const l = () => {
        c.exitListeners.delete(l);
        c.pendingAttach.delete(p);
        if (!conn) settle(undefined);
      };
      c.exitListeners.add(l);
    }
    const logPath = this.core.logPath(c);
    async function* stream(): AsyncGenerator<AttachChunk> {
      if (opts.logs) {
        for await (const e of readLogs(logPath, { stdout: wantOut, stderr: wantErr })) {
          if (closed) return;
          yield { stream: e.stream, data: e.line };
        }
      }
      if (connectLater) {
        if (c.rec.State.Running) await connect(socket);
        else settle(undefined);
      }
      const m = await connection;
      if (!m) return;
      for await (const chunk of m.output) {
        if ((chunk.stream === "stdout" && wantOut) || (chunk.stream === "stderr" && wantErr)) yield chunk;
      }
    }
    this.core.event(c, "attach");
    const stdinAllowed = opts.stdin !== false && !!c.rec.Config.OpenStdin;
    // stdin, resizes and the close go out in the order they were asked for, once connected
    const use = (f: (m: MonitorConnection) => void | Promise<void>): Promise<void> => connection.then((m) => (m && !closed ? f(m) : undefined));
    return {
      output: stream(),
      write: (data) => (stdinAllowed ? use((m) => m.write(data)) : Promise.resolve()),
      closeStdin: () => {
        if (stdinAllowed) void use((m) => m.closeStdin());
      },
      resize: (rows, cols) => {
        void use((m) => m.resize(rows, cols));
        this.core.event(c, "resize", { height: String(rows), width: String(cols) });
      },
      close: () => {
        closed = true;
        conn?.close();
        served?.close();
        settle(undefined);
      },
      ...(direct ? { direct } : {}),
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
