// A scriptable upstream resolver on a loopback address, standing in for the host's resolvers so
// tests never reach a real one. It serves UDP and TCP on one port, records every query it gets
// (transport, ID, question, EDNS options) and answers through a handler the test gives:
// a message, "drop" (never answer: a resolver that timed out) or a list of raw packets to send
// in order (forged replies first, for instance).

import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import { decodeMessage, encodeMessage, makeReply, type DnsMessage } from "../../src/dns/codec.js";

export interface ReceivedQuery {
  transport: "udp" | "tcp";
  message: DnsMessage;
}

export type UpstreamAction = DnsMessage | "drop" | { packets: Buffer[] } | { delayMs: number; reply: DnsMessage };
export type UpstreamHandler = (query: DnsMessage, transport: "udp" | "tcp") => UpstreamAction;

export class FakeUpstream {
  readonly received: ReceivedQuery[] = [];
  private udp?: UdpSocket;
  private tcp?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  port = 0;

  constructor(
    readonly address: string,
    public handler: UpstreamHandler,
  ) {}

  /** Serves on `fixedPort` (53 stands in for a resolver named by address only), or on a free one. */
  async start(fixedPort = 0): Promise<this> {
    for (let attempt = 0; attempt < (fixedPort ? 1 : 10); attempt++) {
      const udp = createSocket("udp4");
      await new Promise<void>((resolve, reject) => {
        udp.once("error", reject);
        udp.bind(fixedPort, this.address, () => resolve());
      });
      const port = udp.address().port;
      const tcp = createServer((s) => this.serveTcp(s));
      const ok = await new Promise<boolean>((resolve) => {
        tcp.once("error", () => resolve(false));
        tcp.listen(port, this.address, () => resolve(true));
      });
      if (!ok) {
        udp.close();
        continue;
      }
      this.udp = udp;
      this.tcp = tcp;
      this.port = port;
      udp.on("message", (packet, rinfo) => {
        const send = (b: Buffer) => udp.send(b, rinfo.port, rinfo.address, () => undefined);
        this.respond(packet, "udp", send);
      });
      return this;
    }
    throw new Error(`fake upstream: no free port on ${this.address}`);
  }

  /** Queries received over `transport` (both when not given). */
  count(transport?: "udp" | "tcp"): number {
    return this.received.filter((q) => transport === undefined || q.transport === transport).length;
  }

  private respond(packet: Buffer, transport: "udp" | "tcp", send: (b: Buffer) => void): void {
    let query: DnsMessage;
    try {
      query = decodeMessage(packet);
    } catch {
      return;
    }
    this.received.push({ transport, message: query });
    const action = this.handler(query, transport);
    if (action === "drop") return;
    if ("packets" in action) {
      for (const p of action.packets) send(p);
    } else if ("delayMs" in action) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        send(encodeMessage(action.reply));
      }, action.delayMs);
      this.timers.add(timer);
    } else {
      send(encodeMessage(action));
    }
  }

  private serveTcp(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffered: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const length = buffered.readUInt16BE(0);
        const packet = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        this.respond(packet, "tcp", (b) => {
          const frame = Buffer.alloc(2 + b.length);
          frame.writeUInt16BE(b.length, 0);
          b.copy(frame, 2);
          if (!socket.destroyed) socket.write(frame);
        });
      }
    });
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await Promise.all([
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve())),
    ]);
  }
}

/** A reply to `query` with the given records and code. */
export function replyWith(query: DnsMessage, fill: Partial<DnsMessage> = {}): DnsMessage {
  return { ...makeReply(query), ...fill };
}
