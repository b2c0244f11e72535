// Exec and attach over a SPDY session, as the kubelet's streaming server serves them
// (pkg/kubelet/cri/streaming/remotecommand): the client opens one stream per channel, its
// `streamtype` header saying which (error, stdin, stdout, stderr, and resize from v3 on with a
// TTY); once all the expected streams are there (within the creation timeout, 30 s), the process
// runs with them. Output goes to stdout and stderr (a TTY's all to stdout), which end (FIN) when
// the process's output ends; then the error stream carries the outcome: for v4 a JSON
// metav1.Status (Success, or Failure with reason NonZeroExitCode and the code in its causes),
// for the older versions the failure's message only. Resize messages are JSON {"Width","Height"}.

import { ignored, type LogLine } from "../../common/ignore.js";
import type { AttachSession, ExecSession } from "../../containers/index.js";
import type { SpdySession, SpdyStream } from "./spdy.js";
import { headerValue } from "./frames.js";
import type { StreamingRuntime, StreamOptions } from "./services.js";

export const STREAM_PROTOCOL_V4 = "v4.channel.k8s.io";
export const STREAM_PROTOCOL_V3 = "v3.channel.k8s.io";
export const STREAM_PROTOCOL_V2 = "v2.channel.k8s.io";
export const STREAM_PROTOCOL_V1 = "channel.k8s.io";
/** The remote command protocols served, most preferred first (the kubelet's list). */
export const REMOTE_COMMAND_PROTOCOLS = [STREAM_PROTOCOL_V4, STREAM_PROTOCOL_V3, STREAM_PROTOCOL_V2, STREAM_PROTOCOL_V1];

/** metav1.Status, with its fields in the order Go's encoding/json writes them. */
export interface K8sStatus {
  metadata: Record<string, never>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: { causes: { reason?: string; message?: string }[] };
  code?: number;
}

export const SUCCESS: K8sStatus = { metadata: {}, status: "Success" };

/** The Status of a process that exited with code (non-zero), as the kubelet writes it. */
export function exitStatus(cmd: string[], code: number): K8sStatus {
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: error executing command [${cmd.join(" ")}], exit code ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

/** The Status of a failure that is not the process's exit (apierrors.NewInternalError). */
export function internalErrorStatus(message: string): K8sStatus {
  return { metadata: {}, status: "Failure", message: `Internal error occurred: ${message}`, reason: "InternalError", details: { causes: [{ message }] }, code: 500 };
}

export type RemoteCommand = { kind: "exec"; containerId: string; cmd: string[]; opts: StreamOptions } | { kind: "attach"; containerId: string; opts: StreamOptions };

interface Channels {
  error?: SpdyStream;
  stdin?: SpdyStream;
  stdout?: SpdyStream;
  stderr?: SpdyStream;
  resize?: SpdyStream;
}

export interface ServeOptions {
  protocol: string;
  streamCreationTimeoutMs: number;
  log: LogLine;
}

/** Waits for the streams the request needs, runs it, reports its end; resolves when the session is done. */
export async function serveRemoteCommand(session: SpdySession, runtime: StreamingRuntime, req: RemoteCommand, o: ServeOptions): Promise<void> {
  const resizing = o.protocol === STREAM_PROTOCOL_V4 || o.protocol === STREAM_PROTOCOL_V3;
  const expected = 1 + (req.opts.stdin ? 1 : 0) + (req.opts.stdout ? 1 : 0) + (req.opts.stderr ? 1 : 0) + (req.opts.tty && resizing ? 1 : 0);
  const ch = await waitForStreams(session, expected, resizing, o);
  if (!ch) {
    o.log(`streaming: ${req.kind} on container ${req.containerId}: timed out waiting for client to create streams`);
    session.close();
    return;
  }
  if (o.protocol === STREAM_PROTOCOL_V1) ch.stdin?.end(); // (as the kubelet's v1 handler does)
  const writeStatus = (s: K8sStatus) => {
    const e = ch.error;
    if (!e) return;
    if (o.protocol === STREAM_PROTOCOL_V4) e.write(JSON.stringify(s));
    else if (s.status !== "Success") e.write(s.message ?? "");
  };
  // sizes the client sends: a TTY exec's terminal starts at the first (client-go sends it as soon
  // as its streams are there), so that what the command asks of its terminal first is right;
  // the others resize the running process's terminal
  const sizes: [number, number][] = [];
  const running: { proc?: AttachSession } = {};
  let sized: () => void = () => undefined;
  const firstSize = new Promise<void>((r) => (sized = r));
  if (ch.resize) {
    readResizes(ch.resize, (w, h) => {
      if (running.proc) return running.proc.resize(h, w);
      sizes.push([h, w]);
      sized();
    });
    ch.resize.once("end", sized);
    ch.resize.once("done", sized);
  }
  const opts = { ...req.opts };
  if (req.kind === "exec" && req.opts.tty && ch.resize) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([firstSize, new Promise<void>((r) => (timer = setTimeout(r, FIRST_SIZE_WAIT_MS)))]);
    clearTimeout(timer);
    const first = sizes.shift();
    if (first && first[0] > 0 && first[1] > 0) opts.consoleSize = first;
  }
  let proc: (AttachSession & { closeStdinAtEnd?: boolean }) | ExecSession;
  try {
    proc = req.kind === "exec" ? await runtime.exec(req.containerId, req.cmd, opts) : await runtime.attach(req.containerId, opts);
  } catch (err) {
    const what = req.kind === "exec" ? "error executing command in container" : "error attaching to container";
    writeStatus(internalErrorStatus(`${what}: ${(err as Error).message}`));
    await endAll(ch);
    session.close();
    return;
  }
  let clientGone = false;
  const onClose = () => {
    clientGone = true;
    proc.close();
  };
  session.once("close", onClose);
  // the end of the client's input closes an exec's stdin, and an attached container's with StdinOnce
  if (ch.stdin && ch.stdin.readable) pumpStdin(ch.stdin, proc, req.kind === "exec" || ("closeStdinAtEnd" in proc && !!proc.closeStdinAtEnd));
  running.proc = proc;
  for (const [rows, cols] of sizes.splice(0)) proc.resize(rows, cols);
  try {
    for await (const chunk of proc.output) {
      if (clientGone) break;
      const target = req.opts.tty || chunk.stream === "stdout" ? ch.stdout : ch.stderr;
      if (!target || chunk.data.length === 0) continue;
      if (!target.write(chunk.data)) await drainedOrDone(target);
    }
    if (clientGone) return;
    if (req.kind === "exec") {
      const code = await (proc as ExecSession).exitCode;
      await endOutputs(ch);
      writeStatus(code === 0 ? SUCCESS : exitStatus(req.cmd, code));
    } else {
      await endOutputs(ch);
      writeStatus(SUCCESS);
    }
  } catch (err) {
    await endOutputs(ch);
    writeStatus(internalErrorStatus(`error ${req.kind === "exec" ? "executing command in" : "attaching to"} container: ${(err as Error).message}`));
  } finally {
    session.off("close", onClose);
    proc.close();
  }
  await endStream(ch.error);
  session.close();
}

/** How long a TTY exec waits for the client's first terminal size before it starts without one. */
const FIRST_SIZE_WAIT_MS = 1000;

/** The streams by type once `expected` of them arrived, or undefined after the timeout or the session's end. */
function waitForStreams(session: SpdySession, expected: number, resizing: boolean, o: ServeOptions): Promise<Channels | undefined> {
  return new Promise((resolve) => {
    const ch: Channels = {};
    let received = 0;
    const done = (v: Channels | undefined) => {
      clearTimeout(timer);
      session.off("stream", onStream);
      session.off("close", onClose);
      resolve(v);
    };
    const onStream = (s: SpdyStream) => {
      s.reply();
      const type = headerValue(s.headers, "streamtype") ?? "";
      if (type === "error" || type === "stdin" || type === "stdout" || type === "stderr" || (type === "resize" && resizing)) {
        ch[type] = s;
        received++;
        if (received === expected) done(ch);
      } else {
        o.log(`streaming: unexpected stream type ${JSON.stringify(type)}`);
      }
    };
    const onClose = () => done(undefined);
    const timer = setTimeout(() => done(undefined), o.streamCreationTimeoutMs);
    session.on("stream", onStream);
    session.once("close", onClose);
  });
}

/** The client's input to the process's stdin, at the process's pace; its end closes stdin (exec). */
function pumpStdin(stdin: SpdyStream, proc: AttachSession, closeAtEnd: boolean): void {
  stdin.on("data", (d: Buffer) => {
    stdin.pause();
    proc.write(d).then(
      () => stdin.resume(),
      (err: unknown) => ignored("pass the client's input to the process", err),
    );
  });
  stdin.on("end", () => {
    if (closeAtEnd) proc.closeStdin();
  });
}

/** Calls onResize for every {"Width","Height"} the client sends (concatenated JSON values). */
export function readResizes(stream: NodeJS.ReadableStream, onResize: (width: number, height: number) => void): void {
  const split = new JsonValueSplitter();
  stream.on("data", (d: Buffer) => {
    for (const text of split.push(d)) {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (err) {
        ignored("read a terminal size the client sent", err);
        continue;
      }
      const size = v as { Width?: unknown; Height?: unknown };
      if (typeof size.Width === "number" && typeof size.Height === "number" && size.Width >= 0 && size.Height >= 0 && size.Width <= 0xffff && size.Height <= 0xffff) {
        onResize(Math.floor(size.Width), Math.floor(size.Height));
      }
    }
  });
}

/** Splits a byte stream of JSON objects (as Go's json.Encoder writes them) into their texts. */
export class JsonValueSplitter {
  private buf = "";
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private scanned = 0;

  push(chunk: Buffer | string): string[] {
    this.buf += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    const out: string[] = [];
    for (let i = this.scanned; i < this.buf.length; i++) {
      const c = this.buf[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === "\\") this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === '"') this.inString = this.depth > 0;
      else if (c === "{") {
        if (this.depth === 0) this.start = i;
        this.depth++;
      } else if (c === "}" && this.depth > 0) {
        this.depth--;
        if (this.depth === 0) {
          out.push(this.buf.slice(this.start, i + 1));
          this.start = -1;
        }
      }
    }
    // keep only an object still open
    if (this.depth === 0) {
      this.buf = "";
      this.scanned = 0;
    } else {
      this.buf = this.buf.slice(this.start);
      this.scanned = this.buf.length;
      this.start = 0;
    }
    if (this.buf.length > 64 * 1024) {
      // a resize message is some 30 bytes: an object this long is not one
      this.buf = "";
      this.scanned = 0;
      this.depth = 0;
      this.inString = false;
    }
    return out;
  }
}

function drainedOrDone(s: SpdyStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off("drain", done);
      s.off("done", done);
      resolve();
    };
    if (s.isGone) return resolve();
    s.on("drain", done);
    s.on("done", done);
  });
}

/** Ends a stream this side writes to (FIN) and waits until the FIN is queued. */
function endStream(s: SpdyStream | undefined): Promise<void> {
  if (!s || s.writableFinished) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      s.off("finish", done);
      s.off("done", done);
      resolve();
    };
    s.on("finish", done);
    s.on("done", done);
    s.end();
  });
}

async function endOutputs(ch: Channels): Promise<void> {
  await Promise.all([endStream(ch.stdout), endStream(ch.stderr)]);
}

async function endAll(ch: Channels): Promise<void> {
  await Promise.all([endStream(ch.stdout), endStream(ch.stderr), endStream(ch.error)]);
}
