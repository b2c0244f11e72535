// cove's CLI handing its own stdin, stdout and stderr to the container's monitor, so that a
// `cove run -i ... < file | next` streams between the files and the container without a byte
// passing through the CLI or the daemon. An extension of the attach request that plain Docker
// clients never see: the CLI offers with a request header (PASS_FDS_HEADER) when it talks to a
// daemon over a unix socket and some of its attached streams are files or pipes; a daemon that
// takes the offer answers the 101 with the same header and hands the connection to the monitor,
// whose first byte (PassFds.ASK) asks for the fds. The CLI sends them with SCM_RIGHTS behind one
// byte naming the streams (PassFdsMask), the monitor answers with the streams it took, and the
// connection carries the rest as usual; its end still says that the session ended. When the
// daemon serves the session itself, its first byte is PassFds.NONE and the ordinary stream
// follows. Terminals and sockets are never handed over: they stay with the CLI.

import { fstatSync } from "node:fs";
import type { Duplex } from "node:stream";
import type { HijackedStream } from "../client/index.js";
import { bestEffortSync } from "../common/ignore.js";
import { addon } from "../native/addon.js";
import { PASS_FDS_HEADER, PassFds, PassFdsMask } from "../native/protocol.js";
import type { Run } from "./command.js";

const STREAMS = [
  { fd: 0, bit: PassFdsMask.STDIN, name: "stdin" },
  { fd: 1, bit: PassFdsMask.STDOUT, name: "stdout" },
  { fd: 2, bit: PassFdsMask.STDERR, name: "stderr" },
] as const;

/**
 * The attached streams this process can hand over (PassFdsMask bits): its own stdio (not a
 * caller's streams), each a regular file or a pipe. COVE_ATTACH_FDS=0 turns the offer off.
 */
export function passableStdio(run: Run, attached: { stdin: boolean; stdout: boolean; stderr: boolean }): number {
  if (run.env.COVE_ATTACH_FDS === "0") return 0;
  const own = { stdin: run.io.stdin === process.stdin, stdout: run.io.stdout === process.stdout, stderr: run.io.stderr === process.stderr };
  let mask = 0;
  for (const s of STREAMS) {
    if (!attached[s.name] || !own[s.name]) continue;
    let passable = false;
    bestEffortSync(`see whether ${s.name} can be handed to the container`, () => {
      const st = fstatSync(s.fd);
      passable = st.isFIFO() || st.isFile();
    });
    if (passable) mask |= s.bit;
  }
  return mask;
}

/** The request headers that offer the streams of mask. */
export function offerHeaders(mask: number): Record<string, string> {
  return mask ? { [PASS_FDS_HEADER]: "1" } : {};
}

/** Whether the daemon took the offer (the 101 carries the header). */
export function offerTaken(conn: HijackedStream): boolean {
  return conn.headers?.[PASS_FDS_HEADER.toLowerCase()] === "1";
}

/** The next byte of the connection; undefined when it ended first. */
function readByte(sock: Duplex): Promise<number | undefined> {
  return new Promise((resolve) => {
    const finish = (v: number | undefined) => {
      sock.off("readable", onReadable);
      sock.off("end", onEnd);
      sock.off("close", onEnd);
      sock.off("error", onEnd);
      resolve(v);
    };
    const onReadable = () => {
      const b = sock.read(1) as Buffer | null;
      if (b !== null && b.length > 0) finish(b[0]);
    };
    const onEnd = () => finish(undefined);
    sock.on("readable", onReadable);
    sock.once("end", onEnd);
    sock.once("close", onEnd);
    sock.once("error", onEnd);
    onReadable();
  });
}

/**
 * The hand-over on a connection whose offer was taken: waits for the first byte (the monitor asks
 * once the container runs), sends the streams of mask, and resolves with the streams the monitor
 * took (0: none, the ordinary stream follows), or "ended" when the connection ended first.
 */
export async function handOverStdio(conn: HijackedStream, mask: number): Promise<number | "ended"> {
  const sock = conn.socket;
  const first = await readByte(sock);
  if (first === undefined) return "ended";
  if (first === PassFds.NONE) return 0;
  if (first !== PassFds.ASK) {
    // (a monitor that does not know the hand-over: the byte is the stream's first)
    sock.unshift(Buffer.from([first]));
    return 0;
  }
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  const fds = STREAMS.filter((s) => mask & s.bit).map((s) => s.fd);
  let sent = false;
  if (typeof fd === "number" && fd >= 0 && fds.length > 0) {
    bestEffortSync("hand stdio to the container's monitor", () => {
      sent = addon().sendFds(fd, fds, Buffer.from([mask])) === 1;
    });
  }
  // nothing handed over: an empty offer, and the connection serves every stream
  if (!sent) sock.write(Buffer.from([0]));
  const taken = await readByte(sock);
  return taken === undefined ? "ended" : taken & mask;
}
