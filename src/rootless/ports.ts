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
// TCP only: UDP ports are published inside the daemon's namespace and not from the host.

import { randomBytes } from "node:crypto";
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
  private readonly listeners = new Map<string, net.Server>();
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
  private readonly targets = new Map<string, { ip: string; port: number }>();
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

  /** Publishes a TCP port on the host; UDP and others are left to the daemon's namespace. */
  async expose(e: Exposure): Promise<HostPortHold | undefined> {
    if (e.proto !== "tcp") return undefined;
    const id = randomBytes(8).toString("hex");
    const reply = await this.request({ op: "expose", id, hostIp: e.hostIp, hostPort: e.hostPort });
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
    this.targets.set(id, { ip: e.containerIp, port: e.containerPort });
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
