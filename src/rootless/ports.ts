// Published ports of a rootless daemon. The daemon lives in a network namespace of its own,
// which nothing on the host can reach, so a port is published in two halves (the shape of
// rootlesskit's builtin port driver):
//
//   launcher (host namespaces)             daemon (its own namespaces)
//   PortDriver: listens on HOST:PORT  ──►  forward socket (unix, in the exec root):
//   per connection, dials the daemon's      reads the exposure's id, dials the container's
//   forward socket and sends the id         address and port, and copies both ways
//
// The daemon asks for each port over the launcher's control socket (one JSON line each way
// per request), so a port taken on the host fails the container's start with Docker's error.
// UDP goes the same way, a forward connection per client address: its datagrams cross the unix
// socket as frames (a 2-byte length, then the bytes), and a client quiet for UDP_IDLE_MS ends
// its flow (as rootlesskit's and docker-proxy's UDP relays do).

import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { rmSync } from "node:fs";
import net from "node:net";
import { conflict, CoveError, invalid, isErrno, systemError } from "../common/errors.js";

export interface Exposure {
  proto: "tcp" | "udp" | "sctp";
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

interface Request {
  op: "expose" | "unexpose";
  id: string;
  hostIp?: string;
  hostPort?: number;
  /** tcp unless said */
  proto?: "tcp" | "udp";
}

/** A UDP client quiet this long loses its flow (its next datagram starts a new one). */
export const UDP_IDLE_MS = 60_000;

/** A datagram as a frame of the forward connection (a UDP payload, at most 65,507 bytes, fits its 2-byte length). */
function frame(datagram: Buffer): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(datagram.length);
  return Buffer.concat([head, datagram]);
}

/** Splits a forward connection's bytes into datagrams, however the stream cut them. */
export function deframer(onDatagram: (d: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 2) {
      const n = buf.readUInt16BE(0);
      if (buf.length < 2 + n) break;
      onDatagram(buf.subarray(2, 2 + n));
      buf = buf.subarray(2 + n);
    }
  };
}

/** Calls onIdle once nothing has been seen for ms; touch() on traffic. */
function idleTimer(ms: number, onIdle: () => void): { touch(): void; stop(): void } {
  const t = setTimeout(onIdle, ms);
  t.unref();
  return { touch: () => t.refresh(), stop: () => clearTimeout(t) };
}

interface Reply {
  ok: boolean;
  error?: string;
  errno?: string;
}

/** Reads one line (up to a bound) from a socket; resolves with the line and whatever followed it. */
function readLine(sock: net.Socket, limit = 4096): Promise<{ line: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl >= 0) {
        done();
        resolve({ line: buf.subarray(0, nl).toString(), rest: buf.subarray(nl + 1) });
      } else if (buf.length > limit) {
        done();
        reject(new Error("line too long"));
      }
    };
    const onEnd = () => {
      done();
      reject(new Error("connection closed before a whole line"));
    };
    const done = () => {
      // whatever follows the line waits for the caller's pipe (a flowing stream would drop it)
      sock.pause();
      sock.off("data", onData);
      sock.off("end", onEnd);
      sock.off("error", onEnd);
    };
    sock.on("data", onData);
    sock.on("end", onEnd);
    sock.on("error", onEnd);
  });
}

/** Copies both ways, each direction ending on its own (half-closes pass through); an error on either side closes both. */
function splice(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", close);
  b.on("error", close);
  a.on("close", close);
  b.on("close", close);
}

/** The launcher's half: serves the control socket and holds the host listeners. */
export class PortDriver {
  private readonly listeners = new Map<string, { close(): void }>();
  private control?: net.Server;

  constructor(
    private readonly controlPath: string,
    private readonly forwardPath: string,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    rmSync(this.controlPath, { force: true });
    const server = net.createServer((c) => void this.serve(c));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.controlPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.control = server;
  }

  private async serve(c: net.Socket): Promise<void> {
    let reply: Reply;
    try {
      const { line } = await readLine(c);
      reply = await this.handle(JSON.parse(line) as Request);
    } catch (err) {
      reply = { ok: false, error: (err as Error).message, ...((err as NodeJS.ErrnoException).code ? { errno: (err as NodeJS.ErrnoException).code } : {}) };
    }
    c.end(`${JSON.stringify(reply)}\n`);
  }

  private async handle(r: Request): Promise<Reply> {
    if (typeof r.id !== "string" || !/^[0-9a-f]{16}$/.test(r.id)) return { ok: false, error: "bad exposure id" };
    if (r.op === "unexpose") {
      const s = this.listeners.get(r.id);
      this.listeners.delete(r.id);
      s?.close();
      return { ok: true };
    }
    if (r.op !== "expose" || typeof r.hostIp !== "string" || !Number.isInteger(r.hostPort)) return { ok: false, error: "bad request" };
    const host = r.hostIp === "" ? "0.0.0.0" : r.hostIp;
    if (r.proto === "udp") {
      this.listeners.set(r.id, await this.exposeUdp(r.id, host, r.hostPort!));
      return { ok: true };
    }
    const server = net.createServer({ allowHalfOpen: true }, (inbound) => this.forward(r.id, inbound));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port: r.hostPort, exclusive: true, ipv6Only: host.includes(":") }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.listeners.set(r.id, server);
    return { ok: true };
  }

  private forward(id: string, inbound: net.Socket): void {
    const out = net.connect({ path: this.forwardPath, allowHalfOpen: true });
    inbound.on("error", () => out.destroy()); // a client that resets before the daemon answers
    out.once("connect", () => {
      out.write(`${id}\n`);
      splice(inbound, out);
    });
    out.once("error", (err) => {
      this.log(`published port ${id}: the daemon's forward socket ${this.forwardPath} refused the connection: ${err.message}`);
      inbound.destroy();
    });
  }

  /** A UDP port on the host: a forward connection per client address, its replies sent back to it. */
  private async exposeUdp(id: string, host: string, port: number): Promise<{ close(): void }> {
    const sock = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4", ipv6Only: host.includes(":") });
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind({ address: host, port, exclusive: true }, () => {
        sock.off("error", reject);
        resolve();
      });
    });
    const flows = new Map<string, { conn: net.Socket; idle: { touch(): void; stop(): void } }>();
    const endFlow = (key: string) => {
      const f = flows.get(key);
      if (!f) return;
      flows.delete(key);
      f.idle.stop();
      f.conn.destroy();
    };
    sock.on("error", (err) => this.log(`published port ${id}: udp ${host}:${port}: ${err.message}`));
    sock.on("message", (msg, from) => {
      const key = `${from.address}|${from.port}`;
      let f = flows.get(key);
      if (!f) {
        const conn = net.connect({ path: this.forwardPath });
        conn.write(`${id}\n`);
        conn.on("data", deframer((d) => {
          f?.idle.touch();
          sock.send(d, from.port, from.address);
        }));
        conn.on("error", (err) => this.log(`published port ${id}: the daemon's forward socket ${this.forwardPath}: ${err.message}`));
        conn.on("close", () => endFlow(key));
        f = { conn, idle: idleTimer(UDP_IDLE_MS, () => endFlow(key)) };
        flows.set(key, f);
      }
      f.idle.touch();
      f.conn.write(frame(msg));
    });
    return {
      close: () => {
        for (const key of [...flows.keys()]) endFlow(key);
        sock.close();
      },
    };
  }

  async close(): Promise<void> {
    for (const s of this.listeners.values()) s.close();
    this.listeners.clear();
    this.control?.close();
    rmSync(this.controlPath, { force: true });
  }
}

/** A published port's hold on the host, released by close(). */
export interface HostPortHold {
  close(): void;
}

/** The daemon's half: asks the launcher for host listeners and serves the connections they take. */
export class PortDriverClient {
  private readonly targets = new Map<string, { ip: string; port: number; proto: "tcp" | "udp" }>();
  private server?: net.Server;

  constructor(
    private readonly controlPath: string,
    private readonly forwardPath: string,
  ) {}

  async start(): Promise<void> {
    rmSync(this.forwardPath, { force: true });
    const server = net.createServer({ allowHalfOpen: true }, (c) => void this.accept(c));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.forwardPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.unref();
    this.server = server;
  }

  private async accept(c: net.Socket): Promise<void> {
    c.on("error", () => undefined);
    try {
      const { line, rest } = await readLine(c, 64);
      const target = this.targets.get(line);
      if (!target) return void c.destroy();
      if (target.proto === "udp") return this.relayUdp(c, target, rest);
      const out = net.connect({ host: target.ip, port: target.port, allowHalfOpen: true });
      out.once("connect", () => {
        if (rest.length) out.write(rest);
        splice(c, out);
      });
      out.once("error", () => c.destroy());
    } catch {
      c.destroy();
    }
  }

  /** One UDP client's flow: its datagrams to the container's port from a socket of its own, the replies back. */
  private relayUdp(c: net.Socket, target: { ip: string; port: number }, rest: Buffer): void {
    const sock = dgram.createSocket(target.ip.includes(":") ? "udp6" : "udp4");
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      c.destroy();
      sock.close();
    };
    // an unreachable port answers ICMP, which a connected socket reports: the client just gets no reply
    sock.on("error", () => undefined);
    sock.on("message", (msg) => c.write(frame(msg)));
    const pending: Buffer[] = [];
    let connected = false;
    const toContainer = deframer((d) => {
      if (connected) sock.send(d);
      else pending.push(Buffer.from(d));
    });
    sock.connect(target.port, target.ip, () => {
      connected = true;
      for (const d of pending.splice(0)) sock.send(d);
    });
    c.on("data", toContainer);
    // (the forward server allows half-open connections for TCP: a flow ends with either side)
    c.on("end", end);
    c.on("close", end);
    c.resume();
    if (rest.length) toContainer(rest);
  }

  /** Publishes a TCP or UDP port on the host; other protocols are left to the daemon's namespace. */
  async expose(e: Exposure): Promise<HostPortHold | undefined> {
    if (e.proto !== "tcp" && e.proto !== "udp") return undefined;
    const id = randomBytes(8).toString("hex");
    const reply = await this.request({ op: "expose", id, hostIp: e.hostIp, hostPort: e.hostPort, proto: e.proto });
    if (!reply.ok) {
      const what = `${e.hostIp}:${e.hostPort}:${e.containerIp}:${e.containerPort}/${e.proto}`;
      if (reply.errno === "EADDRINUSE") throw conflict(`failed to bind host port for ${what}: address already in use`, { code: "network.port-in-use" });
      if (reply.errno === "EADDRNOTAVAIL") throw invalid(`failed to bind host port for ${what}: cannot assign requested address`, { code: "network.port-address" });
      if (reply.errno === "EACCES") {
        throw new CoveError("forbidden", `failed to bind host port for ${what}: permission denied`, {
          code: "rootless.privileged-port",
          hint: "a rootless daemon cannot publish ports below 1024 unless root lowers net.ipv4.ip_unprivileged_port_start (sysctl -w net.ipv4.ip_unprivileged_port_start=80)",
        });
      }
      throw systemError(`failed to bind host port for ${what}: ${reply.error ?? "the rootless port driver refused"}`, { code: "network.port" });
    }
    this.targets.set(id, { ip: e.containerIp, port: e.containerPort, proto: e.proto });
    return {
      close: () => {
        this.targets.delete(id);
        // best effort: the launcher closes every listener when the daemon ends anyway
        this.request({ op: "unexpose", id }).catch(() => undefined);
      },
    };
  }

  private request(r: Request): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const c = net.connect(this.controlPath);
      c.once("error", (err) => {
        if (isErrno(err, "ENOENT", "ECONNREFUSED")) reject(systemError(`the rootless port driver does not answer on ${this.controlPath}`, { code: "rootless.port-driver", hint: "restart the rootless daemon (cove daemon)" }));
        else reject(err);
      });
      c.once("connect", () => {
        c.write(`${JSON.stringify(r)}\n`);
        readLine(c).then(({ line }) => resolve(JSON.parse(line) as Reply), reject);
      });
    });
  }

  close(): void {
    this.server?.close();
    rmSync(this.forwardPath, { force: true });
  }
}
