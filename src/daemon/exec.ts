// Exec routes (POST /containers/{id}/exec, POST /exec/{id}/start, POST /exec/{id}/resize,
// GET /exec/{id}/json) and the glue that both attach and exec use to carry a session over a
// hijacked connection, as moby's api/server/router/container/exec.go and container/stream/attach.go:
//
// - output: multiplexed frames (stdcopy) without a TTY, raw bytes with one;
// - input: the client's raw bytes go to the process's stdin; when the client half-closes its write
//   side, stdin is closed (CloseStdin: always for exec, StdinOnce for attach), or else the session
//   ends (moby closes stdout/stderr when stdin ends on a session that may not close it);
// - with a TTY, the detach keys (default ctrl-p,ctrl-q) in the input end the session;
// - the connection ends when the output ends (the process exited) or the client goes away.

import { CoveError, invalid } from "../common/errors.js";
import { DEFAULT_DETACH_KEYS, DetachScanner, parseDetachKeys as detachKeyBytes } from "../docker/index.js";
import type { AttachSession, ContainerService, ExecSession } from "../containers/index.js";
import type { ExecConfig } from "../containers/types.js";
import { parseJSONBody, validateBody, type BodyName } from "./body-schema.js";
import { bodyDeadline, bodyTimeout, tooLarge } from "./limits.js";
import { errorMessage, readJSON, sendEmpty, sendJSON, versionAtLeast, type RouteContext, type Router } from "./router.js";
import { drained, hijack, muxFrame, muxHeader, streamContentType, RAW_STREAM, STDERR, STDOUT, SYSTEMERR, type Hijacked } from "./stream.js";

export { DEFAULT_DETACH_KEYS };

/** The detach keys of an attach request (moby's term.ToBytes), with dockerd's 400 for a bad sequence. */
export function parseDetachKeys(keys: string): number[] {
  try {
    return detachKeyBytes(keys);
  } catch (err) {
    if (!(err instanceof CoveError)) throw err; // a bug, not the client's keys
    throw invalid(`Invalid detach keys (${keys}) provided`, { code: "attach.detach-keys", hint: 'use a comma-separated list of ctrl-<key> or single characters, e.g. "ctrl-p,ctrl-q"' });
  }
}

export interface PipeOptions {
  /** Whether the process has a terminal (the detach keys apply). */
  tty: boolean;
  /**
   * Multiplexed frames (stdcopy) on the wire; by default when the process has no terminal. An
   * exec started with Tty frames by the start request instead: a raw stream of a process without
   * a terminal carries its stdout only, as dockerd's does.
   */
  framed?: boolean;
  /** Forward the client's input to stdin. */
  stdin: boolean;
  /** On the client's half-close: close stdin (true) or end the session (false). */
  closeStdin: boolean;
  /** Detach sequence (TTY sessions only). */
  detachKeys?: number[];
  signal: AbortSignal;
}

/** Connections still carrying a session (the daemon cuts them on close). */
export type ActiveStreams = Set<() => void>;

/** Carries a session over a hijacked connection until its output ends or the client leaves. */
export async function pipeSession(h: Hijacked, session: AttachSession, opts: PipeOptions, active?: ActiveStreams): Promise<void> {
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    session.close();
    // whatever the client still sends is read and dropped, so that its close is seen
    if (h.upgraded) h.input.resume();
  };
  const kill = () => {
    finish();
    h.output.destroy();
  };
  active?.add(kill);
  opts.signal.addEventListener("abort", finish, { once: true });
  if (h.upgraded) {
    // (a plain response's request emits "close" once its body is read: the signal covers that case)
    h.input.on("close", finish);
    h.input.on("error", finish);
  }
  if (opts.stdin && h.upgraded) {
    const scanner = opts.tty && opts.detachKeys ? new DetachScanner(opts.detachKeys) : undefined;
    const input = h.input;
    // backpressure: the client's input is not read while the container has not taken the last chunk
    const forward = (data: Buffer) => {
      input.pause();
      void session.write(data).then(() => input.resume());
    };
    input.on("data", (chunk: Buffer) => {
      if (done) return;
      if (!scanner) return forward(chunk);
      const { data, detach } = scanner.push(chunk);
      if (data.length > 0) forward(data);
      if (detach) finish();
    });
    h.input.on("end", () => {
      if (done) return;
      if (opts.closeStdin) session.closeStdin();
      else finish();
    });
  } else if (h.upgraded) {
    // nothing to forward, but keep reading so the client's half-close is seen
    h.input.on("data", () => undefined);
  }
  if (h.upgraded) h.input.resume(); // reading the request body may have paused it
  const framed = opts.framed ?? !opts.tty;
  const out = h.output;
  const write = (b: Buffer, header?: Buffer): Promise<void> | undefined => {
    if (out.destroyed || out.writableEnded) return undefined;
    let room: boolean;
    if (header) {
      // header and data in one writev, without copying the data into a frame
      out.cork();
      out.write(header);
      room = out.write(b);
      out.uncork();
    } else room = out.write(b);
    if (room) return undefined;
    return drained(out);
  };
  try {
    for await (const chunk of session.output) {
      if (chunk.data.length === 0 || (!framed && !opts.tty && chunk.stream === "stderr")) continue;
      const p = framed ? write(chunk.data, muxHeader(chunk.stream === "stderr" ? STDERR : STDOUT, chunk.data.length)) : write(chunk.data);
      if (p) await p;
      if (done && (out.destroyed || out.writableEnded)) break;
    }
  } catch (err) {
    if (framed) write(muxFrame(SYSTEMERR, `${(err as Error).message}\n`));
  } finally {
    active?.delete(kill);
    opts.signal.removeEventListener("abort", finish);
    finish();
    if (!out.destroyed) h.end();
  }
}

/** Registers the exec routes. */
export function execRoutes(router: Router, svc: ContainerService, active?: ActiveStreams): void {
  router.post("/containers/{name}/exec", async (c) => {
    const body = await readJSON(c.req, "ContainerExec");
    if (body === undefined || body === null || typeof body !== "object" || Array.isArray(body)) {
      throw invalid("exec config cannot be empty: send a JSON body with Cmd", { code: "exec.invalid" });
    }
    const config = body as ExecConfig;
    if (!versionAtLeast(c.version, "1.42")) delete config.ConsoleSize;
    if (config.ConsoleSize && (config.ConsoleSize.length !== 2 || config.ConsoleSize.some((n) => !Number.isInteger(n) || n < 0))) {
      throw invalid("ConsoleSize must be [height, width] with non-negative integers", { code: "exec.invalid", field: "ConsoleSize" });
    }
    const { Id } = await svc.execCreate(c.params.name as string, config);
    sendJSON(c.res, 201, { Id });
  });

  router.post("/exec/{name}/start", async (c) => startExec(c, svc, active));

  router.post("/exec/{name}/resize", async (c) => {
    const [h, w] = dims(c);
    await svc.execResize(c.params.name as string, h, w);
    sendEmpty(c.res, 200);
  });

  router.get("/exec/{name}/json", (c) => {
    sendJSON(c.res, 200, svc.execInspect(c.params.name as string));
  });
}

/** The h and w query parameters of the resize routes. */
export function dims(c: RouteContext): [number, number] {
  const h = c.query.int("h");
  const w = c.query.int("w");
  if (h === undefined || w === undefined || h < 0 || w < 0 || h > 0xffff || w > 0xffff) {
    throw invalid("resize needs h and w, the height and width in characters (0 to 65535)", { code: "query.invalid", field: h === undefined || h < 0 || h > 0xffff ? "h" : "w" });
  }
  return [h, w];
}

/**
 * The JSON body of a request that asked to upgrade (`docker exec` sends {"Detach":false,...} with
 * `Upgrade: tcp`): Node hands such a request over with its body still in the connection, so the
 * Content-Length bytes are taken from there and the rest is left as the stream's first input.
 */
export async function readUpgradeJSON(c: RouteContext, body?: BodyName): Promise<unknown> {
  if (!c.upgrade) return readJSON(c.req, body);
  const length = Number(c.req.headers["content-length"] ?? "0");
  if (!Number.isSafeInteger(length) || length <= 0) return undefined;
  if (length > 1 << 20) throw tooLarge(1 << 20);
  const up = c.upgrade;
  let buf = up.head;
  // a client that never sends the body it announced holds the connection no longer than this
  let late: CoveError | undefined;
  let wake: (() => void) | undefined;
  const deadline = bodyDeadline(bodyTimeout(c.req), (err) => {
    late = err;
    wake?.();
  });
  try {
    while (buf.length < length) {
      const more = await new Promise<Buffer | undefined>((resolve) => {
        const onData = (d: Buffer) => done(d);
        const onEnd = () => done(undefined);
        const done = (d: Buffer | undefined) => {
          wake = undefined;
          up.socket.off("data", onData);
          up.socket.off("end", onEnd);
          up.socket.off("close", onEnd);
          up.socket.pause();
          resolve(d);
        };
        wake = () => done(undefined);
        up.socket.on("data", onData);
        up.socket.once("end", onEnd);
        up.socket.once("close", onEnd);
        up.socket.resume();
      });
      if (late) throw late;
      if (!more) throw invalid("the request body ended early", { code: "request.invalid" });
      deadline.progress();
      buf = Buffer.concat([buf, more]);
    }
  } finally {
    deadline.clear();
  }
  up.head = buf.subarray(length);
  const value = parseJSONBody(buf.subarray(0, length));
  return body ? validateBody(body, value) : value;
}

interface ExecStartBody {
  Detach?: boolean;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
}

async function startExec(c: RouteContext, svc: ContainerService, active: ActiveStreams | undefined): Promise<void> {
  const id = c.params.name as string;
  const raw = await readUpgradeJSON(c, "ExecStart");
  const body: ExecStartBody = raw !== null && typeof raw === "object" && !Array.isArray(raw) ? (raw as ExecStartBody) : {};
  const info = svc.execInspect(id); // 404 before anything else
  if (body.Detach) {
    await svc.execStart(id, { detach: true });
    sendEmpty(c.res, 200);
    return;
  }
  // As dockerd: the start request's Tty, not the exec's, picks raw bytes or stdcopy frames (a TTY
  // exec started without it comes framed; an exec without a TTY started with it, as raw stdout).
  const rawStream = !!body.Tty;
  const consoleSize = rawStream && versionAtLeast(c.version, "1.42") ? body.ConsoleSize : undefined;
  // The stream begins before the process is launched, so its first bytes never share the read
  // of the response's head (docker-py reads the raw socket past the head it buffered).
  let h: Hijacked | undefined;
  const accepted = async () => {
    h = hijack(c, c.upgrade ? streamContentType(c.version, rawStream) : RAW_STREAM);
    await h.headRead();
  };
  let session: ExecSession;
  try {
    session = await svc.execStart(id, { consoleSize, accepted });
  } catch (err) {
    const stream = h as Hijacked | undefined;
    if (!stream) throw err; // refused before the stream began (409: already ran, container stopped): its own status
    // the launch failed inside the stream: dockerd writes the error to its stdout, then ends it
    const text = `${errorMessage(err)}\r\n`;
    stream.output.write(rawStream ? text : muxFrame(STDOUT, text));
    stream.end();
    return;
  }
  await pipeSession(h!, session, { tty: info.ProcessConfig.tty, framed: !rawStream, stdin: info.OpenStdin, closeStdin: true, signal: c.signal }, active);
}
