// cove's embedded DNS server. It answers containers on user-defined networks with the names the
// network knows (container names, aliases, short IDs: whatever the backend maps) and forwards
// every other name to the scope's upstream resolvers, following Docker's embedded DNS:
//
// - A and AAAA answers come from the backend with TTL 600, shuffled when there are several.
// - A name the backend knows but without an address of the asked family gets NOERROR with no
//   answers (never forwarded: the outside world would give a wrong or slow answer); MX for a
//   known name gets the same ("implicit MX", RFC 5321 section 5.1).
// - PTR for an address the backend knows is answered with its name; other PTRs are forwarded.
// - Names the backend does not know are forwarded, in order, to at most three upstreams, each
//   with a deadline; SERVFAIL and REFUSED answers move on to the next one; SERVFAIL when none
//   answers. A UDP query without an answer is sent again each second until the deadline (a
//   resolver that loses a datagram now and then costs a second, not the client's 5 s retry). Scopes that do not forward (internal networks) get SERVFAIL at once.
// - When the client set ndots itself, single-label A/AAAA names are not forwarded: NOERROR with
//   no answers, so the resolver goes on to its search domains.
// - Local answers are truncated (TC) to 512 bytes or the client's EDNS0 size over UDP; clients
//   then retry over TCP, which this server also serves. Forwarded queries go out under a random
//   ID with the client's EDNS0 record untouched; a truncated UDP answer is retried over TCP.
// - Forwarded queries in flight are bounded (1024 by default, like Docker); past that, a query
//   waits up to the forward timeout for a slot and is REFUSED when none frees up.
//
// One server can listen on many addresses and serve many networks: each query carries the
// client's address and the address it arrived on, and the backend maps those to a scope.

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from "node:dgram";
import { setMaxListeners } from "node:events";
import { createServer, isIPv6, type Server, type Socket } from "node:net";
import { conflict, CoveError, fromErrno, invalid, isErrno } from "../common/errors.js";
import {
  CLASSIC_UDP_SIZE,
  decodeMessage,
  DnsFormatError,
  encodeMessage,
  makeReply,
  MAX_MESSAGE_SIZE,
  Opcode,
  peekHeader,
  Rcode,
  RRClass,
  RRType,
  typeName,
  type DnsMessage,
  type Question,
  type ResourceRecord,
} from "./codec.js";
import { exchangeTcp, exchangeUdp, ExchangeError, upstreamLabel, type Upstream } from "./forward.js";
import { canonicalIp, reverseNameToIp } from "./ip.js";

export type Awaitable<T> = T | Promise<T>;

/** Who asked: the client's address and port, and the listen address the query arrived on. */
export interface DnsClient {
  address: string;
  port: number;
  transport: "udp" | "tcp";
  localAddress: string;
  localPort: number;
}

/** How queries from one scope (typically one network) are answered when the backend lacks the name. */
export interface DnsScope {
  /** Forward unknown names upstream; false on internal networks, which then answer SERVFAIL. */
  forward: boolean;
  /** Upstream resolvers, tried in order (at most the first three). */
  upstreams: Upstream[];
  /** The client's resolv.conf sets ndots explicitly: single-label names are not forwarded. */
  ndotsSet?: boolean;
}

/** A name's addresses of one family; an empty list means the name exists without such addresses. */
export type NameAnswer = { addresses: string[] } | "unknown";

export interface ServiceTarget {
  /** The host that offers the service (answered in the additional section with `address`). */
  target: string;
  address: string;
  port: number;
  priority?: number;
  weight?: number;
}

/**
 * What the server asks its owner. Names arrive lowercased without the trailing dot; addresses in
 * canonical text. Throwing (or rejecting) answers the client SERVFAIL and reports through onError.
 */
export interface DnsBackend {
  /** The scope of a client, or undefined to answer it REFUSED (an address on no known network). */
  scope(from: DnsClient): Awaitable<DnsScope | undefined>;
  lookup(name: string, type: "A" | "AAAA", from: DnsClient): Awaitable<NameAnswer>;
  /** The name of an address (answered as a PTR record), or "unknown" to forward the query. */
  reverse(ip: string, from: DnsClient): Awaitable<string | "unknown">;
  /** SRV targets for a service name such as "_http._tcp.web", or "unknown" to forward. */
  service?(name: string, from: DnsClient): Awaitable<ServiceTarget[] | "unknown">;
}

export interface DnsServerOptions {
  backend: DnsBackend;
  /** Deadline of one upstream exchange (UDP, then TCP on truncation, each), in ms. Default 4000. */
  forwardTimeoutMs?: number;
  /** How long a forwarded UDP query waits for its answer before it is sent again, in ms. Default 1000. */
  retransmitMs?: number;
  /** Upstream exchanges in flight at once. Default 1024. */
  maxConcurrentForwards?: number;
  /** Queries being answered at once (UDP datagrams past this are dropped; clients retry). Default 4096. */
  maxPendingQueries?: number;
  /** Open TCP connections at once; more are closed at accept. Default 256. */
  maxTcpConnections?: number;
  /** A TCP connection idle this long (ms) is closed. Default 10000. */
  tcpIdleTimeoutMs?: number;
  /** Told about backend failures and unreachable upstreams; the server itself stays up. */
  onError?: (message: string, cause?: unknown) => void;
}

export interface ListenAddress {
  address: string;
  port: number;
}

export interface DnsServerStats {
  queries: number;
  answeredLocally: number;
  forwarded: number;
  servfail: number;
  refused: number;
  formerr: number;
  dropped: number;
}

/** The TTL of every local answer, as Docker's embedded DNS gives. */
export const LOCAL_TTL = 600;
const MAX_UPSTREAMS = 3;
const MAX_TCP_PIPELINE = 32;
/** The EDNS0 UDP size this server advertises in local answers. */
const ADVERTISED_UDP_SIZE = 4096;

interface Listener {
  key: string;
  address: string;
  port: number;
  udp: UdpSocket;
  tcp: Server;
  connections: Set<Socket>;
}

/** A counting semaphore whose waiters give up after a deadline. */
class Slots {
  private used = 0;
  private readonly waiters: Array<() => void> = [];
  constructor(private readonly size: number) {}

  acquire(timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (this.used < this.size) {
      this.used++;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const grant = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", giveUp);
        resolve(true);
      };
      const giveUp = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        clearTimeout(timer);
        signal.removeEventListener("abort", giveUp);
        resolve(false);
      };
      const timer = setTimeout(giveUp, timeoutMs);
      signal.addEventListener("abort", giveUp);
      this.waiters.push(grant);
    });
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next(); // the slot passes straight to the next waiter
    else this.used--;
  }
}

function canonicalClientAddress(address: string): string {
  const bare = address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
  return canonicalIp(bare) ?? bare;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function lookupName(q: Question): string {
  return q.name.replace(/\.$/, "").toLowerCase();
}

export class DnsServer {
  private readonly backend: DnsBackend;
  private readonly forwardTimeoutMs: number;
  private readonly retransmitMs: number;
  private readonly maxPendingQueries: number;
  private readonly maxTcpConnections: number;
  private readonly tcpIdleTimeoutMs: number;
  private readonly onError: (message: string, cause?: unknown) => void;
  private readonly forwardSlots: Slots;
  private readonly listeners = new Map<string, Listener>();
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  private pending = 0;
  private tcpConnections = 0;
  private closed = false;
  private readonly counters: DnsServerStats = { queries: 0, answeredLocally: 0, forwarded: 0, servfail: 0, refused: 0, formerr: 0, dropped: 0 };

  constructor(options: DnsServerOptions) {
    this.backend = options.backend;
    this.forwardTimeoutMs = options.forwardTimeoutMs ?? 4000;
    this.retransmitMs = options.retransmitMs ?? 1000;
    this.maxPendingQueries = options.maxPendingQueries ?? 4096;
    this.maxTcpConnections = options.maxTcpConnections ?? 256;
    this.tcpIdleTimeoutMs = options.tcpIdleTimeoutMs ?? 10000;
    this.onError = options.onError ?? (() => undefined);
    this.forwardSlots = new Slots(options.maxConcurrentForwards ?? 1024);
    // Every forwarded query in flight listens for close(); their number is bounded by the slots.
    setMaxListeners(0, this.abort.signal);
  }

  stats(): DnsServerStats {
    return { ...this.counters };
  }

  /** The addresses being served, in the order they were added. */
  addresses(): ListenAddress[] {
    return [...this.listeners.values()].map((l) => ({ address: l.address, port: l.port }));
  }

  /**
   * Starts serving UDP and TCP on address:port (port 0 picks a free port, the same for both).
   * Fails with a conflict when the address is taken, for instance by another DNS server, and then
   * leaves nothing bound.
   */
  async listen(address: string, port = 53): Promise<ListenAddress> {
    if (this.closed) throw conflict("the DNS server is closed", { code: "dns.closed", hint: "create a new DnsServer" });
    const canonical = canonicalIp(address.replace(/%.*$/, ""));
    if (canonical === undefined) throw invalid(`cannot serve DNS on ${JSON.stringify(address)}: not an IP address`, { code: "dns.invalid-address" });
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`cannot serve DNS on port ${port}: ports are 0 to 65535`, { code: "dns.invalid-port" });
    const zone = address.includes("%") ? address.slice(address.indexOf("%")) : "";
    const host = canonical + zone;
    if (port !== 0 && this.listeners.has(listenKey(host, port))) {
      throw conflict(`the DNS server already listens on ${hostPort(host, port)}`, { code: "dns.already-listening" });
    }
    // With port 0 the kernel picks UDP's port; TCP may find it taken, so try a few times.
    for (let attempt = 0; ; attempt++) {
      const udp = await this.bindUdp(host, port);
      const udpPort = udp.address().port;
      let tcp: Server;
      try {
        tcp = await this.bindTcp(host, udpPort);
      } catch (err) {
        await closeUdp(udp);
        if (port === 0 && attempt < 8 && err instanceof CoveError && err.code === "dns.address-in-use") continue;
        throw err;
      }
      if (this.closed) {
        // close() ran while the sockets were being bound.
        await Promise.all([closeUdp(udp), new Promise<void>((resolve) => tcp.close(() => resolve()))]);
        throw conflict("the DNS server is closed", { code: "dns.closed", hint: "create a new DnsServer" });
      }
      const listener: Listener = { key: listenKey(host, udpPort), address: host, port: udpPort, udp, tcp, connections: new Set() };
      this.attach(listener);
      this.listeners.set(listener.key, listener);
      return { address: host, port: udpPort };
    }
  }

  /** Stops serving address:port and closes its TCP connections. Unknown addresses are an error. */
  async unlisten(address: string, port = 53): Promise<void> {
    const canonical = canonicalIp(address.replace(/%.*$/, ""));
    const zone = address.includes("%") ? address.slice(address.indexOf("%")) : "";
    const key = listenKey((canonical ?? address) + zone, port);
    const listener = this.listeners.get(key);
    if (!listener) throw new CoveError("not-found", `the DNS server does not listen on ${hostPort(address, port)}`, { code: "dns.not-listening" });
    this.listeners.delete(key);
    await this.detach(listener);
  }

  /** Stops every listener, closes TCP connections and abandons forwarded queries in flight. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => this.detach(l)));
    await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Answers one query packet as the server would over `from.transport`: the reply bytes, or
   * undefined when nothing must be sent (responses, packets shorter than a header).
   */
  async answer(packet: Buffer, from: DnsClient): Promise<Buffer | undefined> {
    const head = peekHeader(packet);
    if (!head || head.qr) return undefined;
    this.counters.queries++;
    let query: DnsMessage;
    try {
      query = decodeMessage(packet);
    } catch (err) {
      if (!(err instanceof DnsFormatError)) throw err;
      this.counters.formerr++;
      return headerOnlyReply(head.id, head.opcode, head.rd, Rcode.FORMERR);
    }
    if (query.opcode !== Opcode.QUERY) return encodeMessage({ ...makeReply(query, Rcode.NOTIMP), questions: query.questions.slice(0, 1) });
    if (query.questions.length !== 1) {
      this.counters.formerr++;
      return headerOnlyReply(query.id, query.opcode, query.rd, Rcode.FORMERR);
    }
    if (query.edns && query.edns.version > 0) {
      // RFC 6891 section 6.1.3: a version we do not speak is answered BADVERS with our version.
      return encodeMessage({ ...makeReply(query, Rcode.BADVERS), edns: ourEdns() });
    }
    const maxSize = from.transport === "tcp" ? MAX_MESSAGE_SIZE : Math.max(CLASSIC_UDP_SIZE, query.edns?.udpSize ?? 0);
    const reply = (msg: DnsMessage) => encodeMessage(query.edns ? { ...msg, edns: ourEdns() } : msg, { maxSize });
    const fail = (rcode: number) => {
      if (rcode === Rcode.SERVFAIL) this.counters.servfail++;
      if (rcode === Rcode.REFUSED) this.counters.refused++;
      return reply(makeReply(query, rcode));
    };

    let scope: DnsScope | undefined;
    let local: DnsMessage | undefined;
    try {
      scope = await this.backend.scope(from);
      if (!scope) return fail(Rcode.REFUSED);
      local = await this.answerLocally(query, query.questions[0]!, from);
    } catch (err) {
      this.onError(`answering ${describeQuestion(query.questions[0]!)} for ${from.address}: ${errorText(err)}`, err);
      return fail(Rcode.SERVFAIL);
    }
    if (local) {
      try {
        const encoded = reply(local);
        this.counters.answeredLocally++;
        return encoded;
      } catch (err) {
        // A name from the backend that DNS cannot carry (an empty label, over 255 bytes).
        this.onError(`answering ${describeQuestion(query.questions[0]!)} for ${from.address}: ${errorText(err)}`, err);
        return fail(Rcode.SERVFAIL);
      }
    }
    const q = query.questions[0]!;
    if (!scope.forward) return fail(Rcode.SERVFAIL);
    if (scope.ndotsSet && (q.type === RRType.A || q.type === RRType.AAAA) && !lookupName(q).includes(".")) {
      this.counters.answeredLocally++;
      return reply(makeReply(query));
    }
    const relayed = await this.forward(packet, query, scope.upstreams, from.transport);
    if (relayed === "busy") return fail(Rcode.REFUSED);
    if (!relayed) return fail(Rcode.SERVFAIL);
    this.counters.forwarded++;
    relayed.writeUInt16BE(query.id, 0);
    if (relayed.length <= maxSize) return relayed;
    // The upstream's answer is larger than this client takes over UDP: cut it down and set TC.
    try {
      return encodeMessage({ ...decodeMessage(relayed), id: query.id }, { maxSize });
    } catch {
      const cut = makeReply(query, relayed.readUInt16BE(2) & 0xf);
      return encodeMessage({ ...cut, tc: true });
    }
  }

  private async answerLocally(query: DnsMessage, q: Question, from: DnsClient): Promise<DnsMessage | undefined> {
    if (q.class !== RRClass.IN) return undefined;
    const name = lookupName(q);
    switch (q.type) {
      case RRType.A:
      case RRType.AAAA: {
        const type = q.type === RRType.A ? "A" : "AAAA";
        const found = await this.backend.lookup(name, type, from);
        if (found === "unknown") return undefined;
        const msg = makeReply(query);
        msg.answers = shuffle(this.validAddresses(found.addresses, type, name)).map((address) => addressRecord(q.name, address));
        return msg;
      }
      case RRType.MX: {
        const [v4, v6] = await Promise.all([this.backend.lookup(name, "A", from), this.backend.lookup(name, "AAAA", from)]);
        return v4 === "unknown" && v6 === "unknown" ? undefined : makeReply(query);
      }
      case RRType.PTR: {
        const ip = reverseNameToIp(q.name);
        if (ip === undefined) return undefined;
        const host = await this.backend.reverse(ip, from);
        if (host === "unknown") return undefined;
        const msg = makeReply(query);
        msg.answers = [{ name: q.name, type: RRType.PTR, class: RRClass.IN, ttl: LOCAL_TTL, data: { kind: "name", target: host } }];
        return msg;
      }
      case RRType.SRV: {
        if (!this.backend.service) return undefined;
        const targets = await this.backend.service(name, from);
        if (targets === "unknown") return undefined;
        const msg = makeReply(query);
        for (const t of targets) {
          msg.answers.push({
            name: q.name,
            type: RRType.SRV,
            class: RRClass.IN,
            ttl: LOCAL_TTL,
            data: { kind: "SRV", priority: t.priority ?? 0, weight: t.weight ?? 0, port: t.port, target: t.target },
          });
          const type = t.address.includes(":") ? "AAAA" : "A";
          for (const address of this.validAddresses([t.address], type, t.target)) msg.additionals.push(addressRecord(t.target, address));
        }
        return msg;
      }
      default:
        return undefined;
    }
  }

  private validAddresses(addresses: string[], type: "A" | "AAAA", name: string): string[] {
    const out: string[] = [];
    for (const a of addresses) {
      const canonical = canonicalIp(a);
      if (canonical !== undefined && canonical.includes(":") === (type === "AAAA")) out.push(canonical);
      else this.onError(`backend gave ${JSON.stringify(a)} as an ${type} address of ${name}; left out of the answer`);
    }
    return out;
  }

  /** The first usable upstream answer, "busy" when no forwarding slot freed up in time, or undefined. */
  private async forward(packet: Buffer, query: DnsMessage, upstreams: Upstream[], transport: "udp" | "tcp"): Promise<Buffer | "busy" | undefined> {
    const q = query.questions[0]!;
    const signal = this.abort.signal;
    for (const upstream of upstreams.slice(0, MAX_UPSTREAMS)) {
      if (signal.aborted) return undefined;
      if (this.isOwnAddress(upstream)) {
        // Forwarding to ourselves would loop until every forwarding slot is taken.
        this.onError(`not forwarding ${describeQuestion(q)} to ${upstreamLabel(upstream)}: that is this DNS server`);
        continue;
      }
      if (!(await this.forwardSlots.acquire(this.forwardTimeoutMs, signal))) {
        if (signal.aborted) return undefined;
        this.onError(`more than the allowed concurrent forwarded queries: refusing ${describeQuestion(q)}`);
        return "busy";
      }
      let reply: Buffer;
      try {
        if (transport === "tcp") {
          reply = await exchangeTcp(upstream, packet, q, this.forwardTimeoutMs, signal);
        } else {
          reply = await exchangeUdp(upstream, packet, q, this.forwardTimeoutMs, signal, this.retransmitMs);
          if (reply.readUInt16BE(2) & 0x0200) {
            // Truncated: ask the same resolver over TCP; if that fails the client gets the TC
            // answer and can retry over TCP itself.
            reply = await exchangeTcp(upstream, packet, q, this.forwardTimeoutMs, signal).catch(() => reply);
          }
        }
      } catch (err) {
        if (!(err instanceof ExchangeError) || err.reason !== "aborted") this.onError(`forwarding ${describeQuestion(q)} to ${upstreamLabel(upstream)}: ${errorText(err)}`, err);
        continue;
      } finally {
        this.forwardSlots.release();
      }
      const rcode = reply.readUInt16BE(2) & 0xf;
      if (rcode === Rcode.SERVFAIL || rcode === Rcode.REFUSED) continue;
      return reply;
    }
    return undefined;
  }

  private isOwnAddress(upstream: Upstream): boolean {
    const address = canonicalIp(upstream.address.replace(/%.*$/, ""));
    const port = upstream.port ?? 53;
    for (const l of this.listeners.values()) {
      if (l.port !== port) continue;
      const listening = l.address.replace(/%.*$/, "");
      if (listening === address || listening === "0.0.0.0" || listening === "::") return true;
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------
  // Sockets

  private bindUdp(host: string, port: number): Promise<UdpSocket> {
    const udp = isIPv6(host.replace(/%.*$/, "")) ? createSocket({ type: "udp6", ipv6Only: true }) : createSocket({ type: "udp4" });
    return new Promise<UdpSocket>((resolve, reject) => {
      const onError = (err: Error) => {
        udp.close();
        reject(bindError(err, host, port, "udp"));
      };
      udp.once("error", onError);
      udp.bind({ address: host, port, exclusive: true }, () => {
        udp.off("error", onError);
        resolve(udp);
      });
    });
  }

  private bindTcp(host: string, port: number): Promise<Server> {
    // Half-open: a client may send its queries and shut down its side; answers still go out and
    // serveTcp ends the connection after the last one.
    const tcp = createServer({ allowHalfOpen: true });
    return new Promise<Server>((resolve, reject) => {
      const onError = (err: Error) => {
        tcp.close();
        reject(bindError(err, host, port, "tcp"));
      };
      tcp.once("error", onError);
      tcp.listen({ host, port, ipv6Only: true, exclusive: true }, () => {
        tcp.off("error", onError);
        resolve(tcp);
      });
    });
  }

  private attach(l: Listener): void {
    const local = { localAddress: l.address.replace(/%.*$/, ""), localPort: l.port };
    l.udp.on("error", (err) => this.onError(`DNS socket ${hostPort(l.address, l.port)}/udp: ${errorText(err)}`, err));
    l.udp.on("message", (packet: Buffer, rinfo: RemoteInfo) => {
      if (this.pending >= this.maxPendingQueries) {
        this.counters.dropped++;
        return;
      }
      const from: DnsClient = { address: canonicalClientAddress(rinfo.address), port: rinfo.port, transport: "udp", ...local };
      this.track(
        this.answer(packet, from).then((reply) => {
          if (!reply || this.listeners.get(l.key) !== l) return; // unlistened meanwhile
          l.udp.send(reply, rinfo.port, rinfo.address, (err) => {
            if (err) this.onError(`replying to ${from.address}:${from.port}/udp: ${errorText(err)}`, err);
          });
        }),
      );
    });
    l.tcp.on("error", (err) => this.onError(`DNS socket ${hostPort(l.address, l.port)}/tcp: ${errorText(err)}`, err));
    l.tcp.on("connection", (socket: Socket) => {
      if (this.tcpConnections >= this.maxTcpConnections || this.listeners.get(l.key) !== l) {
        socket.destroy();
        this.counters.dropped++;
        return;
      }
      this.tcpConnections++;
      l.connections.add(socket);
      socket.on("close", () => {
        this.tcpConnections--;
        l.connections.delete(socket);
      });
      this.serveTcp(socket, { address: canonicalClientAddress(socket.remoteAddress ?? ""), port: socket.remotePort ?? 0, transport: "tcp", ...local });
    });
  }

  /** Length-prefixed queries on one connection, answered as they complete (RFC 7766 pipelining). */
  private serveTcp(socket: Socket, from: DnsClient): void {
    let buffered: Buffer = Buffer.alloc(0);
    let open = 0;
    let ended = false;
    socket.setNoDelay(true);
    socket.setTimeout(this.tcpIdleTimeoutMs, () => socket.destroy());
    socket.on("error", () => undefined); // a client resetting its connection is not our problem
    socket.on("end", () => {
      ended = true;
      if (open === 0) socket.end();
    });
    socket.on("data", (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const packet = Buffer.from(buffered.subarray(2, 2 + length));
        buffered = buffered.subarray(2 + length);
        if (this.pending >= this.maxPendingQueries) {
          this.counters.dropped++;
          socket.destroy();
          return;
        }
        open++;
        if (open >= MAX_TCP_PIPELINE) socket.pause();
        this.track(
          this.answer(packet, from)
            .then((reply) => {
              if (!reply || socket.destroyed) return;
              const frame = Buffer.alloc(2 + reply.length);
              frame.writeUInt16BE(reply.length, 0);
              reply.copy(frame, 2);
              socket.write(frame);
            })
            .finally(() => {
              open--;
              if (open < MAX_TCP_PIPELINE && socket.isPaused()) socket.resume();
              if (ended && open === 0) socket.end();
            }),
        );
      }
    });
  }

  private track(work: Promise<unknown>): void {
    this.pending++;
    const done = work
      .catch((err) => this.onError(`DNS query failed: ${errorText(err)}`, err))
      .finally(() => {
        this.pending--;
        this.inFlight.delete(done);
      });
    this.inFlight.add(done);
  }

  private async detach(l: Listener): Promise<void> {
    for (const socket of l.connections) socket.destroy();
    await Promise.all([closeUdp(l.udp), new Promise<void>((resolve) => l.tcp.close(() => resolve()))]);
  }
}

function listenKey(host: string, port: number): string {
  return `${host}#${port}`;
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function closeUdp(udp: UdpSocket): Promise<void> {
  return new Promise<void>((resolve) => {
    try {
      udp.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

function bindError(err: unknown, host: string, port: number, proto: "udp" | "tcp"): CoveError {
  const where = `${hostPort(host, port)}/${proto}`;
  if (isErrno(err, "EADDRINUSE")) {
    return conflict(`cannot serve DNS on ${where}: the address is already in use`, {
      code: "dns.address-in-use",
      cause: err,
      errno: "EADDRINUSE",
      hint: `another program (often another DNS server) is bound to ${where}; stop it or serve DNS on another address`,
    });
  }
  if (isErrno(err, "EADDRNOTAVAIL")) {
    return invalid(`cannot serve DNS on ${where}: no interface of this host has address ${host}`, {
      code: "dns.address-not-available",
      cause: err,
      errno: "EADDRNOTAVAIL",
      hint: "add the address to an interface (the network's bridge) before serving DNS on it",
    });
  }
  if (isErrno(err, "EACCES")) {
    return new CoveError("forbidden", `cannot serve DNS on ${where}: permission denied`, {
      code: "dns.permission-denied",
      cause: err,
      errno: "EACCES",
      hint: "ports below 1024 need root or CAP_NET_BIND_SERVICE",
    });
  }
  return fromErrno(err, `serving DNS on ${where}`);
}

function headerOnlyReply(id: number, opcode: number, rd: boolean, rcode: number): Buffer {
  return encodeMessage({ id, qr: true, opcode, aa: false, tc: false, rd, ra: true, ad: false, cd: false, rcode, questions: [], answers: [], authorities: [], additionals: [] });
}

function ourEdns() {
  return { udpSize: ADVERTISED_UDP_SIZE, version: 0, dnssecOk: false, z: 0, options: [] };
}

function addressRecord(name: string, address: string): ResourceRecord {
  return address.includes(":")
    ? { name, type: RRType.AAAA, class: RRClass.IN, ttl: LOCAL_TTL, data: { kind: "AAAA", address } }
    : { name, type: RRType.A, class: RRClass.IN, ttl: LOCAL_TTL, data: { kind: "A", address } };
}

function describeQuestion(q: Question): string {
  return `${q.name || "."} ${typeName(q.type)}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
