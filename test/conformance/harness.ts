// The two daemons of the differential suite and one way to send them requests.
//
// cove runs in process on a private root with networking (test/network/harness.ts: its own default
// bridge and subnet); Debian's dockerd runs on a private root (test/support/dockerd.ts) with a
// default bridge made here on a free subnet, without iptables. Both get the same busybox image,
// built offline from Debian's busybox-static. Requests go to both with the /v1.41 prefix, the
// newest version dockerd 20.10 speaks, so each daemon answers as the negotiated version says.
//
// request() sends one request over the daemon's unix socket with node's http client: a JSON or
// tar body, an optional connection upgrade (Upgrade: tcp, or a WebSocket handshake) after which it
// may write stdin and half-close, an optional step run once the response headers arrived (start a
// container after attaching to it), and a bound on how long or how much it reads of a stream that
// does not end by itself (events, stats, logs that follow).

import http from "node:http";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Duplex } from "node:stream";
import { parseCidr } from "../../src/network/index.js";
import { Netlink } from "../../src/network/netlink.js";
import { busyboxRootfsTar, tempDir } from "../images/fixtures.js";
import { startDockerd, type Dockerd } from "../support/dockerd.js";
import { freeSubnets, setupNetwork, type CliResult, type NetHarness } from "../network/harness.js";

/** The API version both daemons are spoken to with (dockerd 20.10's newest). */
export const API_PREFIX = "/v1.41";

export type SideName = "cove" | "dockerd";

export interface Req {
  method: string;
  /** Without the version prefix (added here unless `noPrefix`). */
  path: string;
  noPrefix?: boolean;
  /** An object is sent as JSON, a Buffer as a tar (or as `contentType` says), a string as is. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** "tcp": Docker's hijack (Connection: Upgrade, Upgrade: tcp); "websocket": a WebSocket handshake, closed at once. */
  upgrade?: "tcp" | "websocket";
  /** Written to the connection after an upgrade, which is then half-closed. */
  stdin?: Buffer;
  /** Run once the response headers arrived (e.g. start the container just attached to). */
  during?: () => Promise<unknown>;
  /** Stop reading after this long (for streams that do not end by themselves). */
  readMs?: number;
  /** Stop reading once this says the body so far is enough. */
  enough?: (raw: Buffer) => boolean;
}

export interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  /** True when the reading stopped on readMs or enough rather than at the end of the body. */
  cut: boolean;
}

/** One request on a unix socket; rejects only when no response arrives at all (or after 60 s). */
export function request(socket: string, r: Req): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(r.headers ?? {}) };
    let body: Buffer | undefined;
    if (r.body !== undefined) {
      if (Buffer.isBuffer(r.body)) {
        body = r.body;
        headers["Content-Type"] ??= r.contentType ?? "application/x-tar";
      } else if (typeof r.body === "string") {
        body = Buffer.from(r.body);
        headers["Content-Type"] ??= r.contentType ?? "application/json";
      } else {
        body = Buffer.from(JSON.stringify(r.body));
        headers["Content-Type"] ??= "application/json";
      }
    }
    if (r.upgrade === "tcp") Object.assign(headers, { Connection: "Upgrade", Upgrade: "tcp" });
    if (r.upgrade === "websocket") Object.assign(headers, { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" });
    if (body) headers["Content-Length"] = String(body.length);
    const req = http.request({ socketPath: socket, method: r.method, path: (r.noPrefix ? "" : API_PREFIX) + r.path, headers, agent: false });
    let settled = false;
    const chunks: Buffer[] = [];
    const overall = setTimeout(() => finish(undefined, true, new Error(`${r.method} ${r.path}: no end after 60 s`)), 60_000);
    let status = 0;
    let resHeaders: http.IncomingHttpHeaders = {};
    let stream: Duplex | http.IncomingMessage | undefined;
    const finish = (_x: unknown, cut: boolean, err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(overall);
      stream?.destroy();
      req.destroy();
      if (err && status === 0) reject(err);
      else resolve({ status, headers: resHeaders, raw: Buffer.concat(chunks), cut });
    };
    const read = (s: Duplex | http.IncomingMessage, head?: Buffer) => {
      stream = s;
      if (head?.length) chunks.push(head);
      if (r.readMs !== undefined) setTimeout(() => finish(undefined, true), r.readMs);
      s.on("data", (c: Buffer) => {
        chunks.push(c);
        if (r.enough?.(Buffer.concat(chunks))) finish(undefined, true);
      });
      s.on("end", () => finish(undefined, false));
      s.on("close", () => finish(undefined, false));
      s.on("error", () => finish(undefined, false));
      if (r.during) r.during().catch((err: Error) => finish(undefined, false, err));
    };
    req.on("response", (res) => {
      status = res.statusCode ?? 0;
      resHeaders = res.headers;
      read(res);
    });
    req.on("upgrade", (res, sock: Duplex, head: Buffer) => {
      status = res.statusCode ?? 0;
      resHeaders = res.headers;
      if (r.upgrade === "websocket") {
        finish(undefined, true);
        return;
      }
      read(sock, head);
      if (r.stdin) sock.write(r.stdin, () => (sock as Duplex & { end(): void }).end());
    });
    req.on("error", (err) => finish(undefined, false, err));
    req.end(body);
  });
}

/** One daemon under comparison. */
export interface Side {
  name: SideName;
  socket: string;
  /** The docker CLI against this daemon. */
  docker(args: string[], input?: string): Promise<CliResult>;
  /** A /24 of this side's own, clear of the host's routes (index 0..3). */
  subnet(i: number): string;
  /** The busybox rootfs tar both images were made from. */
  rootfsTar: string;
  req(r: Req): Promise<Resp>;
}

export interface Pair {
  cove: Side;
  dockerd: Side;
  /** Removes everything both daemons and this harness made, even after a failure. */
  stop(): Promise<void>;
}

/** Starts cove (with networking) and dockerd (with a bridge made here), each with busybox:latest. */
export async function startPair(): Promise<Pair> {
  const dir = await tempDir();
  const cleanups: (() => Promise<void>)[] = [async () => void (await rm(dir, { recursive: true, force: true }))];
  const stop = async () => {
    const errors: unknown[] = [];
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => errors.push(err));
    if (errors.length) throw errors[0];
  };
  try {
    const h: NetHarness = await setupNetwork();
    cleanups.push(() => h.cleanup());
    const subs = freeSubnets(9, [h.bridgeSubnet]);
    const bridge = `cfd${path.basename(dir).replace(/[^a-z0-9]/gi, "").slice(-6)}`;
    const nl = Netlink.open();
    try {
      nl.createBridge(bridge);
      cleanups.push(async () => {
        const n = Netlink.open();
        try {
          if (n.link(bridge)) n.deleteLink(bridge);
        } finally {
          n.close();
        }
      });
      const link = nl.link(bridge)!;
      nl.addAddress(link.index, subs[8]!.replace(/\.0\/24$/, ".1"), parseCidr(subs[8]!).prefix);
      nl.setUp(bridge);
    } finally {
      nl.close();
    }
    const d: Dockerd = await startDockerd({ dir: path.join(dir, "d"), bridge });
    cleanups.push(() => d.stop());
    await mkdir(path.join(dir, "bb"), { recursive: true });
    const rootfsTar = await busyboxRootfsTar(path.join(dir, "bb"));
    const imp = await d.docker(["import", "--change", 'CMD ["sh"]', rootfsTar, "busybox:latest"]);
    if (imp.code !== 0) throw new Error(`docker import: ${imp.stderr}`);
    const cove: Side = {
      name: "cove",
      socket: h.socket,
      docker: (args, input) => h.docker(args, input !== undefined ? { input } : {}),
      subnet: (i) => subs[i * 2]!,
      rootfsTar,
      req: (r) => request(h.socket, r),
    };
    const dockerd: Side = {
      name: "dockerd",
      socket: d.socket,
      docker: (args, input) => d.docker(args, input !== undefined ? { input } : {}),
      subnet: (i) => subs[i * 2 + 1]!,
      rootfsTar,
      req: (r) => request(d.socket, r),
    };
    return { cove, dockerd, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
