// Port-forward over a SPDY session, as the kubelet's streaming server serves it
// (pkg/kubelet/cri/streaming/portforward): each forwarded connection is a pair of streams with
// the same `requestid` header, one of `streamtype` error and one of data, both naming the pod's
// `port`. A stream without a valid port or type is refused (RST_STREAM). Once a pair is complete
// (within the creation timeout) the data stream is joined to a connection to that port in the
// pod: what the client sends goes to the pod (its end half-closes the connection), what the pod
// sends comes back (its end ends the data stream). A failure is written on the error stream
// ("error forwarding port P to pod ID, uid : why"), and both streams end.

import type net from "node:net";
import type { LogLine } from "../../common/ignore.js";
import { headerValue } from "./frames.js";
import type { SpdySession, SpdyStream } from "./spdy.js";
import { RstStatus } from "./frames.js";
import type { StreamingRuntime } from "./services.js";

export const PORT_FORWARD_PROTOCOL = "portforward.k8s.io";

interface Pair {
  requestId: string;
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export interface PortForwardOptions {
  streamCreationTimeoutMs: number;
  /** How long a connection the pod has ended waits for more of the client's data before it closes. */
  halfCloseGraceMs: number;
  log: LogLine;
}

/** containerd's grace after one direction of a forwarded connection ends. */
export const HALF_CLOSE_GRACE_MS = 1000;

/** Why a port-forward stream's headers are refused, or undefined when they are good. */
export function checkPortForwardStream(s: SpdyStream): string | undefined {
  const port = headerValue(s.headers, "port");
  if (!port) return `"port" header is required`;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) return `unable to parse "${port}" as a port`;
  if (Number(port) < 1) return `port "${port}" must be > 0`;
  const type = headerValue(s.headers, "streamtype");
  if (!type) return `"streamType" header is required`;
  if (type !== "error" && type !== "data") return `invalid stream type "${type}"`;
  return undefined;
}

/** Serves the session's port-forward requests until it ends. */
export function servePortForward(session: SpdySession, runtime: StreamingRuntime, sandboxId: string, o: PortForwardOptions): Promise<void> {
  const pairs = new Map<string, Pair>();
  return new Promise<void>((resolve) => {
    session.on("stream", (s) => {
      const bad = checkPortForwardStream(s);
      if (bad) {
        o.log(`streaming: port-forward stream refused: ${bad}`);
        s.reset(RstStatus.REFUSED_STREAM);
        return;
      }
      s.reply();
      const type = headerValue(s.headers, "streamtype") as "error" | "data";
      // an old client without request IDs: its error and data streams are consecutive (the kubelet's guess)
      const requestId = headerValue(s.headers, "requestid") || String(type === "error" ? s.id : s.id - 2);
      let p = pairs.get(requestId);
      if (!p) {
        const pair: Pair = {
          requestId,
          timer: setTimeout(() => {
            pairs.delete(requestId);
            const msg = `(request=${requestId}) timed out waiting for streams`;
            o.log(`streaming: port-forward ${msg}`);
            if (pair.error) pair.error.end(msg);
            pair.data?.reset(RstStatus.CANCEL);
          }, o.streamCreationTimeoutMs),
        };
        pair.timer.unref();
        p = pair;
        pairs.set(requestId, p);
      }
      if (p[type]) {
        const msg = `error processing stream for request ${requestId}: ${type} stream already assigned`;
        o.log(`streaming: port-forward ${msg}`);
        p.error?.write(msg);
        s.reset(RstStatus.PROTOCOL_ERROR);
        return;
      }
      p[type] = s;
      if (p.data && p.error) {
        clearTimeout(p.timer);
        pairs.delete(requestId);
        void forward(runtime, sandboxId, p.data, p.error, o);
      }
    });
    session.once("close", () => {
      for (const p of pairs.values()) clearTimeout(p.timer);
      pairs.clear();
      resolve();
    });
  });
}

async function forward(runtime: StreamingRuntime, sandboxId: string, data: SpdyStream, error: SpdyStream, o: PortForwardOptions): Promise<void> {
  const port = Number(headerValue(data.headers, "port"));
  let conn: net.Socket;
  try {
    conn = await runtime.portForward(sandboxId, port);
  } catch (err) {
    const msg = `error forwarding port ${port} to pod ${sandboxId}, uid : ${(err as Error).message}`;
    o.log(`streaming: ${msg}`);
    error.end(msg);
    data.end();
    return;
  }
  await new Promise<void>((resolve) => {
    let finished = false;
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      if (err) {
        const msg = `error forwarding port ${port} to pod ${sandboxId}, uid : ${err.message}`;
        o.log(`streaming: ${msg}`);
        if (!error.isGone && !error.writableEnded) error.write(msg);
      }
      clearTimeout(grace);
      conn.destroy();
      if (!data.isGone) data.end();
      if (!error.isGone) error.end();
      resolve();
    };
    // The client's FIN on the data stream half-closes the connection (what it sent before still
    // goes out). The pod's end of the connection ends the data stream; whether the pod closed its
    // socket or only its sending side cannot be told from here, so, as containerd does, the
    // connection is given a grace (HALF_CLOSE_GRACE_MS) to carry what the client still sends,
    // renewed while the client's data flows, then it closes (client-go waits for that, the end
    // of the error stream, before it lets go of its own side). It is over at once on an error,
    // or when the stream is cut (the client's reset, the session's end).
    let grace: NodeJS.Timeout | undefined;
    const renewGrace = () => {
      if (!grace) return;
      grace.refresh();
    };
    data.on("data", (d: Buffer) => {
      renewGrace();
      if (!conn.write(d)) {
        data.pause();
        conn.once("drain", () => data.resume());
      }
    });
    data.on("end", () => conn.end());
    data.on("done", () => {
      if (data.wasCut) finish();
    });
    conn.on("data", (d: Buffer) => {
      if (data.isGone) return;
      if (!data.write(d)) {
        conn.pause();
        const go = () => {
          data.off("drain", go);
          data.off("done", go);
          conn.resume();
        };
        data.on("drain", go);
        data.on("done", go);
      }
    });
    conn.on("end", () => {
      if (!data.isGone) data.end();
      grace = setTimeout(() => finish(), o.halfCloseGraceMs);
    });
    conn.on("error", (err) => finish(err));
    conn.on("close", () => finish());
  });
}
