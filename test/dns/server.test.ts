// cove's embedded DNS server on loopback addresses, queried by real clients: Node's resolver
// (c-ares), dig (bind9-dnsutils) and busybox nslookup from the offline busybox fixture. A fake
// upstream (fake-upstream.ts) on other loopback addresses stands in for the host's resolvers:
// nothing here queries a real resolver or leaves loopback.

import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { connect, createServer } from "node:net";
import { promisify } from "node:util";
import { CoveError } from "../../src/common/errors.js";
import {
  decodeMessage,
  DnsServer,
  encodeMessage,
  makeQuery,
  Rcode,
  RRClass,
  RRType,
  type DnsBackend,
  type DnsMessage,
  type DnsScope,
  type DnsServerOptions,
  type ListenAddress,
  type Upstream,
} from "../../src/dns/index.js";
import { findBusybox } from "../images/fixtures.js";
import { FakeUpstream, replyWith } from "./fake-upstream.js";

const run = promisify(execFile);

// Loopback addresses of this test run: 127.53.<run>.<host>, so parallel runs do not collide.
const RUN = 20 + (process.pid % 200);
const addr = (host: number) => `127.53.${RUN}.${host}`;

const DIG = await run("sh", ["-c", "command -v dig"]).then(
  (r) => r.stdout.trim(),
  () => undefined,
);
const digSkip = DIG ? undefined : "dig is not installed (apt-get install -y bind9-dnsutils)";
const BUSYBOX = await findBusybox();
const busyboxSkip = BUSYBOX ? undefined : "busybox-static is not installed (apt-get install -y busybox-static)";
const hasIPv6Loopback = await new Promise<boolean>((resolve) => {
  const s = createSocket("udp6");
  s.once("error", () => resolve(false));
  s.bind(0, "::1", () => s.close(() => resolve(true)));
});

interface Network {
  names: Record<string, { A?: string[]; AAAA?: string[] }>;
  scope: DnsScope;
}

function frontnet(upstreams: Upstream[] = []): Network {
  const many = Array.from({ length: 60 }, (_, i) => `10.89.1.${i + 1}`);
  return {
    names: {
      web: { A: ["10.89.0.2"] },
      "web.frontnet": { A: ["10.89.0.2"] },
      "3f2a9c1b7d4e": { A: ["10.89.0.2"] }, // a short container ID
      db: { A: ["10.89.0.3"], AAAA: ["fd89::3"] },
      many: { A: many },
    },
    scope: { forward: true, upstreams },
  };
}

function backnet(upstreams: Upstream[] = []): Network {
  return { names: { web: { A: ["10.90.0.2"] } }, scope: { forward: false, upstreams } };
}

/** A backend serving `byListenAddress[from.localAddress]`, or by client address when given. */
function backend(byListenAddress: Record<string, Network>, byClient?: Record<string, Network>): DnsBackend {
  const network = (from: { address: string; localAddress: string }) => (byClient ? byClient[from.address] : byListenAddress[from.localAddress]);
  return {
    scope: (from) => network(from)?.scope,
    lookup: (name, type, from) => {
      const entry = network(from)?.names[name];
      return entry ? { addresses: entry[type] ?? [] } : "unknown";
    },
    reverse: (ip, from) => {
      const n = network(from);
      if (!n) return "unknown";
      for (const [name, entry] of Object.entries(n.names)) if (name.includes(".") && (entry.A?.includes(ip) || entry.AAAA?.includes(ip))) return name;
      return "unknown";
    },
  };
}

async function startServer(t: TestContext, options: DnsServerOptions, hosts: string[]): Promise<{ server: DnsServer; at: ListenAddress[] }> {
  const server = new DnsServer(options);
  t.after(() => server.close());
  const at: ListenAddress[] = [];
  for (const host of hosts) at.push(await server.listen(host, 0));
  return { server, at };
}

async function upstream(t: TestContext, host: number, handler: ConstructorParameters<typeof FakeUpstream>[1]): Promise<FakeUpstream> {
  const u = await new FakeUpstream(addr(host), handler).start();
  t.after(() => u.stop());
  return u;
}

const asUpstream = (u: FakeUpstream): Upstream => ({ address: u.address, port: u.port });

function resolver(at: ListenAddress, timeout = 30_000): Resolver {
  const r = new Resolver({ timeout, tries: 1 });
  r.setServers([at.address.includes(":") ? `[${at.address}]:${at.port}` : `${at.address}:${at.port}`]);
  return r;
}

async function dig(at: ListenAddress, ...args: string[]): Promise<string> {
  const { stdout } = await run(DIG!, [`@${at.address}`, "-p", String(at.port), "+tries=1", "+time=30", ...args]);
  return stdout;
}

const digStatus = (out: string) => /status: ([A-Z]+)/.exec(out)?.[1];
const digAnswers = (out: string) => Number(/ANSWER: ([0-9]+)/.exec(out)?.[1]);

/** Sends one packet over UDP (from `source` when given) and returns the first reply. */
function udpQuery(at: ListenAddress, packet: Buffer, source?: string, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket(at.address.includes(":") ? "udp6" : "udp4");
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no UDP reply from ${at.address}:${at.port} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on("message", (reply) => {
      clearTimeout(timer);
      s.close();
      resolve(reply);
    });
    s.bind(0, source, () => s.send(packet, at.port, at.address));
  });
}

/** Sends packets over one TCP connection and collects `expect` framed replies. */
function tcpQueries(at: ListenAddress, frames: Buffer[], expect: number, timeoutMs = 30_000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const replies: Buffer[] = [];
    let buffered: Buffer = Buffer.alloc(0);
    const s = connect(at.port, at.address);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`got ${replies.length} of ${expect} TCP replies`));
    }, timeoutMs);
    s.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on("connect", () => {
      for (const f of frames) {
        const framed = Buffer.alloc(2 + f.length);
        framed.writeUInt16BE(f.length, 0);
        f.copy(framed, 2);
        s.write(framed);
      }
    });
    s.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        replies.push(Buffer.from(buffered.subarray(2, 2 + buffered.readUInt16BE(0))));
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
      }
      if (replies.length >= expect) {
        clearTimeout(timer);
        s.destroy();
        resolve(replies);
      }
    });
  });
}

function aRecords(msg: DnsMessage): string[] {
  return msg.answers.flatMap((r) => (r.data.kind === "A" || r.data.kind === "AAAA" ? [r.data.address] : []));
}

const answerA = (query: DnsMessage, ...addresses: string[]) =>
  replyWith(query, { answers: addresses.map((address) => ({ name: query.questions[0]!.name, type: RRType.A, class: RRClass.IN, ttl: 30, data: { kind: "A" as const, address } })) });

// ---------------------------------------------------------------------------------------------
// Local names

test("Node's resolver gets container names, short IDs, aliases, IPv6 and reverse lookups", async (t) => {
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet() }) }, [addr(1)]);
  const r = resolver(at[0]!);
  assert.deepEqual(await r.resolve4("web"), ["10.89.0.2"]);
  assert.deepEqual(await r.resolve4("WEB.frontnet"), ["10.89.0.2"]);
  assert.deepEqual(await r.resolve4("3f2a9c1b7d4e", { ttl: true }), [{ address: "10.89.0.2", ttl: 600 }]);
  assert.deepEqual(await r.resolve6("db"), ["fd89::3"]);
  // A name the network knows without an IPv6 address: NOERROR with no answers (ENODATA), never NXDOMAIN.
  await assert.rejects(r.resolve6("web"), { code: "ENODATA" });
  assert.deepEqual(await r.reverse("10.89.0.2"), ["web.frontnet"]);
});

test("answers too large for UDP are truncated and Node's resolver retries over TCP", async (t) => {
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet() }) }, [addr(1)]);
  const addresses = await resolver(at[0]!).resolve4("many");
  assert.equal(addresses.length, 60);
});

test("dig reads the answers, TTL 600, NOERROR without answers, and the TC bit", { skip: digSkip }, async (t) => {
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet() }) }, [addr(1)]);
  const a = await dig(at[0]!, "web", "A");
  assert.equal(digStatus(a), "NOERROR");
  assert.match(a, /^web\.\s+600\s+IN\s+A\s+10\.89\.0\.2$/m);
  assert.match(a, /flags: qr rd ra;/);
  const aaaa = await dig(at[0]!, "web", "AAAA");
  assert.equal(digStatus(aaaa), "NOERROR");
  assert.equal(digAnswers(aaaa), 0);
  const tcp = await dig(at[0]!, "+tcp", "db", "AAAA");
  assert.match(tcp, /^db\.\s+600\s+IN\s+AAAA\s+fd89::3$/m);
  assert.match(tcp, /\(TCP\)/);
  const cut = await dig(at[0]!, "+ignore", "+noedns", "many", "A");
  assert.match(cut, /flags: qr tc rd ra;/);
  assert.ok(digAnswers(cut) < 60);
  const full = await dig(at[0]!, "+noedns", "many", "A"); // dig retries over TCP on TC
  assert.equal(digAnswers(full), 60);
  const ptr = await dig(at[0]!, "-x", "10.89.0.2");
  assert.match(ptr, /^2\.0\.89\.10\.in-addr\.arpa\.\s+600\s+IN\s+PTR\s+web\.frontnet\.$/m);
});

test("busybox nslookup resolves names and addresses", { skip: busyboxSkip }, async (t) => {
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet() }) }, [addr(1)]);
  const server = `${at[0]!.address}:${at[0]!.port}`;
  const name = await run(BUSYBOX!, ["nslookup", "db", server]);
  assert.match(name.stdout, /Name:\s+db\nAddress: 10\.89\.0\.3/);
  assert.match(name.stdout, /Name:\s+db\nAddress: fd89::3/);
  const reverse = await run(BUSYBOX!, ["nslookup", "10.89.0.2", server]);
  assert.match(reverse.stdout, /2\.0\.89\.10\.in-addr\.arpa\s+name = web\.frontnet/);
});

test("the listen address a query arrives on decides the network", async (t) => {
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet(), [addr(2)]: backnet() }) }, [addr(1), addr(2)]);
  assert.deepEqual(await resolver(at[0]!).resolve4("web"), ["10.89.0.2"]);
  assert.deepEqual(await resolver(at[1]!).resolve4("web"), ["10.90.0.2"]);
});

test("the client's address decides the network; unknown clients are REFUSED", async (t) => {
  const { at } = await startServer(t, { backend: backend({}, { [addr(10)]: frontnet(), [addr(11)]: backnet() }) }, [addr(1)]);
  const query = encodeMessage(makeQuery(0x5151, "web", RRType.A));
  assert.deepEqual(aRecords(decodeMessage(await udpQuery(at[0]!, query, addr(10)))), ["10.89.0.2"]);
  assert.deepEqual(aRecords(decodeMessage(await udpQuery(at[0]!, query, addr(11)))), ["10.90.0.2"]);
  assert.equal(decodeMessage(await udpQuery(at[0]!, query, addr(12))).rcode, Rcode.REFUSED);
});

// ---------------------------------------------------------------------------------------------
// Internal networks

test("internal networks answer unknown names SERVFAIL and never ask the upstream", async (t) => {
  const u = await upstream(t, 20, (q) => answerA(q, "198.51.100.10"));
  const { at } = await startServer(t, { backend: backend({ [addr(2)]: backnet([asUpstream(u)]) }) }, [addr(2)]);
  await assert.rejects(resolver(at[0]!).resolve4("example.fwd.test"), { code: "ESERVFAIL" });
  if (BUSYBOX) {
    const out = await run(BUSYBOX, ["nslookup", "example.fwd.test", `${at[0]!.address}:${at[0]!.port}`]).catch((e: { stdout: string }) => e);
    assert.match(out.stdout, /server can't find example\.fwd\.test: SERVFAIL/);
  }
  assert.deepEqual(await resolver(at[0]!).resolve4("web"), ["10.90.0.2"]);
  assert.equal(u.count(), 0);
  // the rest passed; busybox nslookup's part could not run: say so
  if (busyboxSkip) t.skip(`nslookup not checked: ${busyboxSkip}`);
});

// ---------------------------------------------------------------------------------------------
// Forwarding

test("unknown names are forwarded and relayed with the client's ID", async (t) => {
  const u = await upstream(t, 20, (q) => answerA(q, "198.51.100.10"));
  const { at, server } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([asUpstream(u)]) }) }, [addr(1)]);
  assert.deepEqual(await resolver(at[0]!).resolve4("example.fwd.test"), ["198.51.100.10"]);
  const reply = decodeMessage(await udpQuery(at[0]!, encodeMessage(makeQuery(0x1234, "Mixed.Fwd.Test", RRType.A))));
  assert.equal(reply.id, 0x1234);
  assert.deepEqual(reply.questions[0]!.name, "Mixed.Fwd.Test");
  assert.deepEqual(aRecords(reply), ["198.51.100.10"]);
  assert.equal(u.count("udp"), 2);
  const seen = u.received[1]!.message;
  assert.equal(seen.rd, true);
  assert.deepEqual(seen.questions, [{ name: "Mixed.Fwd.Test", type: RRType.A, class: RRClass.IN }]);
  assert.equal(server.stats().forwarded, 2);
});

test("TCP clients are forwarded over TCP", async (t) => {
  const u = await upstream(t, 20, (q) => answerA(q, "198.51.100.11"));
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([asUpstream(u)]) }) }, [addr(1)]);
  const [reply] = await tcpQueries(at[0]!, [encodeMessage(makeQuery(77, "tcp.fwd.test", RRType.A))], 1);
  assert.equal(decodeMessage(reply!).id, 77);
  assert.deepEqual(aRecords(decodeMessage(reply!)), ["198.51.100.11"]);
  assert.equal(u.count("tcp"), 1);
  assert.equal(u.count("udp"), 0);
});

test("failover: a refused port and a silent resolver are skipped after the timeout", async (t) => {
  const silent = await upstream(t, 21, () => "drop");
  const good = await upstream(t, 22, (q) => answerA(q, "198.51.100.22"));
  const dead: Upstream = { address: addr(23), port: good.port }; // nothing listens there
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([dead, asUpstream(silent), asUpstream(good)]) }), forwardTimeoutMs: 400 }, [addr(1)]);
  const started = Date.now();
  assert.deepEqual(await resolver(at[0]!).resolve4("failover.fwd.test"), ["198.51.100.22"]);
  assert.ok(Date.now() - started >= 380, "the silent resolver was given its timeout");
  assert.equal(silent.count(), 1);
  assert.equal(good.count(), 1);
});

test("failover: SERVFAIL and REFUSED move on to the next resolver; NXDOMAIN is final", async (t) => {
  const servfail = await upstream(t, 21, (q) => replyWith(q, { rcode: Rcode.SERVFAIL }));
  const refused = await upstream(t, 22, (q) => replyWith(q, { rcode: Rcode.REFUSED }));
  const nxdomain = await upstream(t, 23, (q) => replyWith(q, { rcode: Rcode.NXDOMAIN }));
  const good = await upstream(t, 24, (q) => answerA(q, "198.51.100.24"));
  const nets = {
    [addr(1)]: frontnet([asUpstream(servfail), asUpstream(refused), asUpstream(good)]),
    [addr(2)]: frontnet([asUpstream(nxdomain), asUpstream(good)]),
    [addr(3)]: frontnet([asUpstream(servfail), asUpstream(refused), asUpstream(servfail), asUpstream(good)]),
  };
  const { at } = await startServer(t, { backend: backend(nets) }, [addr(1), addr(2), addr(3)]);
  assert.deepEqual(await resolver(at[0]!).resolve4("next.fwd.test"), ["198.51.100.24"]);
  assert.equal(good.count(), 1);
  await assert.rejects(resolver(at[1]!).resolve4("nx.fwd.test"), { code: "ENOTFOUND" });
  assert.equal(good.count(), 1, "an NXDOMAIN answer is not retried elsewhere");
  // Only the first three resolvers are asked: the fourth (good) is never reached.
  await assert.rejects(resolver(at[2]!).resolve4("four.fwd.test"), { code: "ESERVFAIL" });
  assert.equal(good.count(), 1);
});

test("a forwarded query the resolver lost is sent again, and its answer relayed", async (t) => {
  let seen = 0;
  // loses the first datagram of each question, as a busy resolver may
  const lossy = await upstream(t, 25, (q) => (++seen === 1 ? "drop" : answerA(q, "198.51.100.25")));
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([asUpstream(lossy)]) }), forwardTimeoutMs: 3000, retransmitMs: 100 }, [addr(1)]);
  const reply = decodeMessage(await udpQuery(at[0]!, encodeMessage(makeQuery(11, "lossy.fwd.test", RRType.A))));
  assert.equal(reply.rcode, Rcode.NOERROR);
  assert.deepEqual(aRecords(reply), ["198.51.100.25"]);
  assert.ok(lossy.count("udp") >= 2, `sent again (${lossy.count("udp")} datagrams)`);
});

test("SERVFAIL when no resolver answers", async (t) => {
  const servfail = await upstream(t, 21, (q) => replyWith(q, { rcode: Rcode.SERVFAIL }));
  const silent = await upstream(t, 22, () => "drop");
  const { at, server } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([asUpstream(servfail), asUpstream(silent)]) }), forwardTimeoutMs: 300 }, [addr(1)]);
  const reply = decodeMessage(await udpQuery(at[0]!, encodeMessage(makeQuery(9, "down.fwd.test", RRType.A))));
  assert.equal(reply.rcode, Rcode.SERVFAIL);
  assert.equal(reply.id, 9);
  assert.equal(server.stats().servfail, 1);
});

test("an upstream that is this server itself is skipped instead of looping", async (t) => {
  const good = await upstream(t, 22, (q) => answerA(q, "198.51.100.5"));
  const self: Upstream = { address: addr(1), port: 0 };
  const net = frontnet([self, asUpstream(good)]);
  const errors: string[] = [];
  const { at, server } = await startServer(t, { backend: backend({ [addr(1)]: net }), onError: (m) => errors.push(m) }, [addr(1)]);
  self.port = at[0]!.port;
  assert.deepEqual(await resolver(at[0]!).resolve4("loop.fwd.test"), ["198.51.100.5"]);
  assert.equal(server.stats().queries, 1, "the server never queried itself");
  assert.match(errors.join("\n"), /that is this DNS server/);
});

test("a TCP client that shuts down its side after sending still gets its answers", async (t) => {
  const slow = await upstream(t, 20, (q) => ({ delayMs: 200, reply: answerA(q, "198.51.100.31") }));
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([asUpstream(slow)]) }) }, [addr(1)]);
  const replies = await new Promise<Buffer[]>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(at[0]!.port, at[0]!.address, () => {
      const q = encodeMessage(makeQuery(31, "slow.fwd.test", RRType.A));
      const frame = Buffer.alloc(2 + q.length);
      frame.writeUInt16BE(q.length, 0);
      q.copy(frame, 2);
      s.end(frame); // FIN right after the query
    });
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", reject);
    s.on("end", () => {
      const all = Buffer.concat(chunks);
      resolve(all.length >= 2 ? [all.subarray(2, 2 + all.readUInt16BE(0))] : []);
    });
  });
  assert.equal(replies.length, 1);
  assert.deepEqual(aRecords(decodeMessage(replies[0]!)), ["198.51.100.31"]);
});

test("forged replies (wrong ID, wrong question) are ignored", async (t) => {
  const u = await upstream(t, 20, (q) => {
    const forgedId = encodeMessage({ ...answerA(q, "203.0.113.66"), id: (q.id + 1) & 0xffff });
    const forgedQuestion = encodeMessage({ ...answerA(q, "203.0.113.67"), questions: [{ name: "other.test", type: RRType.A, class: RRClass.IN }] });
    return { packets: [forgedId, forgedQuestion, encodeMessage(answerA(q, "198.51.100.66"))] };
  });
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([asUpstream(u)]) }) }, [addr(1)]);
  assert.deepEqual(await resolver(at[0]!).resolve4("spoof.fwd.test"), ["198.51.100.66"]);
});

test("a truncated upstream answer is retried over TCP and cut to the client's size", async (t) => {
  const hundred = Array.from({ length: 100 }, (_, i) => `198.51.100.${i + 1}`);
  const u = await upstream(t, 20, (q, transport) => (transport === "udp" ? replyWith(q, { tc: true }) : answerA(q, ...hundred)));
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([asUpstream(u)]) }) }, [addr(1)]);
  // Over UDP without EDNS0 the client gets what fits in 512 bytes, with TC set.
  const cut = decodeMessage(await udpQuery(at[0]!, encodeMessage(makeQuery(5, "big.fwd.test", RRType.A))));
  assert.equal(cut.tc, true);
  assert.ok(cut.answers.length > 0 && cut.answers.length < 100);
  assert.equal(u.count("tcp"), 1, "the server retried over TCP");
  // Node's resolver then asks over TCP itself and gets all of them.
  assert.equal((await resolver(at[0]!).resolve4("big.fwd.test")).length, 100);
});

test("EDNS0 options pass through to the upstream and back", { skip: digSkip }, async (t) => {
  const u = await upstream(t, 20, (q) => ({
    ...answerA(q, "198.51.100.30"),
    edns: { udpSize: 1232, version: 0, dnssecOk: false, z: 0, options: [{ code: 65002, data: Buffer.from("beef", "hex") }] },
  }));
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([asUpstream(u)]) }) }, [addr(1)]);
  const out = await dig(at[0]!, "+ednsopt=65001:c0ffee", "+nocookie", "+bufsize=1400", "edns.fwd.test", "A");
  assert.equal(digStatus(out), "NOERROR");
  const seen = u.received[0]!.message.edns;
  assert.equal(seen?.udpSize, 1400);
  assert.deepEqual(seen?.options.map((o) => [o.code, o.data.toString("hex")]), [[65001, "c0ffee"]]);
  assert.match(out, /65002.*be ef/i);
});

test("concurrent forwards are bounded: a query that finds no free slot in time is REFUSED", async (t) => {
  const u = await upstream(t, 20, (q) => ({ delayMs: 1000, reply: answerA(q, "198.51.100.40") }));
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet([asUpstream(u)]) }), maxConcurrentForwards: 1, forwardTimeoutMs: 1500, retransmitMs: 5000 }, [addr(1)]);
  // One slot: the first query holds it 1 s, the second gets it then (within its 1.5 s wait) and
  // holds it to 2 s; the third gives up waiting at 1.5 s.
  const replies = await Promise.all([1, 2, 3].map((id) => udpQuery(at[0]!, encodeMessage(makeQuery(id, `slot${id}.fwd.test`, RRType.A)), undefined, 30_000)));
  const rcodes = replies.map((r) => decodeMessage(r)).map((m) => [m.id, m.rcode]);
  assert.deepEqual(rcodes.sort(), [[1, Rcode.NOERROR], [2, Rcode.NOERROR], [3, Rcode.REFUSED]]);
  assert.equal(u.count(), 2);
});

// ---------------------------------------------------------------------------------------------
// Robustness

test("malformed packets get FORMERR over UDP and TCP and the server keeps answering", async (t) => {
  const { at, server } = await startServer(t, { backend: backend({ [addr(1)]: frontnet() }) }, [addr(1)]);
  const garbage = Buffer.from("abcd01000001000000000000ff", "hex");
  const formerr = decodeMessage(await udpQuery(at[0]!, garbage));
  assert.equal(formerr.rcode, Rcode.FORMERR);
  assert.equal(formerr.id, 0xabcd);
  const [bad, good] = await tcpQueries(at[0]!, [garbage, encodeMessage(makeQuery(8, "web", RRType.A))], 2);
  const byId = new Map([bad!, good!].map((b) => decodeMessage(b)).map((m) => [m.id, m]));
  assert.equal(byId.get(0xabcd)?.rcode, Rcode.FORMERR);
  assert.deepEqual(aRecords(byId.get(8)!), ["10.89.0.2"]);
  // A burst of random datagrams, then a real query.
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", () => resolve()));
  for (let i = 0; i < 200; i++) s.send(Buffer.from(Array.from({ length: i % 40 }, () => Math.floor(Math.random() * 256))), at[0]!.port, at[0]!.address);
  await new Promise<void>((resolve) => s.close(() => resolve()));
  assert.deepEqual(await resolver(at[0]!).resolve4("web"), ["10.89.0.2"]);
  assert.ok(server.stats().formerr >= 2);
});

test("TCP connections are bounded and idle ones are closed", async (t) => {
  const { at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet() }), maxTcpConnections: 2, tcpIdleTimeoutMs: 300 }, [addr(1)]);
  const open = () =>
    new Promise<{ closedAfterMs: Promise<number> }>((resolve, reject) => {
      const started = Date.now();
      const s = connect(at[0]!.port, at[0]!.address);
      t.after(() => s.destroy());
      const closed = new Promise<number>((r) => s.on("close", () => r(Date.now() - started)));
      s.on("error", () => undefined);
      s.on("connect", () => resolve({ closedAfterMs: closed }));
      setTimeout(() => reject(new Error("connect timed out")), 30_000).unref();
    });
  const first = await open();
  const second = await open();
  const third = await open();
  assert.ok((await third.closedAfterMs) < 250, "the connection over the limit is closed at once");
  const idle = await first.closedAfterMs;
  assert.ok(idle >= 250 && idle < 2000, `idle connection closed after ${idle} ms`);
  await second.closedAfterMs;
});

// ---------------------------------------------------------------------------------------------
// Listen addresses

test("listen addresses are added and removed at runtime", async (t) => {
  const { server, at } = await startServer(t, { backend: backend({ [addr(1)]: frontnet(), [addr(3)]: backnet() }) }, [addr(1), addr(3)]);
  assert.deepEqual(server.addresses(), at);
  assert.deepEqual(await resolver(at[1]!).resolve4("web"), ["10.90.0.2"]);
  await server.unlisten(addr(3), at[1]!.port);
  assert.deepEqual(server.addresses(), [at[0]]);
  await assert.rejects(resolver(at[1]!, 500).resolve4("web"), (err: NodeJS.ErrnoException) => err.code === "ECONNREFUSED" || err.code === "ETIMEOUT");
  assert.deepEqual(await resolver(at[0]!).resolve4("web"), ["10.89.0.2"]);
  const again = await server.listen(addr(3), at[1]!.port);
  assert.deepEqual(await resolver(again).resolve4("web"), ["10.90.0.2"]);
  await assert.rejects(server.unlisten(addr(4), 53), (err: unknown) => err instanceof CoveError && err.code === "dns.not-listening");
  await assert.rejects(server.listen(addr(1), at[0]!.port), (err: unknown) => err instanceof CoveError && err.code === "dns.already-listening");
});

test("an address taken by another DNS server is a clear conflict and leaves nothing bound", async (t) => {
  const other = await startServer(t, { backend: backend({}) }, [addr(5)]);
  const taken = other.at[0]!;
  const server = new DnsServer({ backend: backend({}) });
  t.after(() => server.close());
  await assert.rejects(server.listen(taken.address, taken.port), (err: unknown) => {
    assert.ok(err instanceof CoveError);
    assert.equal(err.kind, "conflict");
    assert.equal(err.code, "dns.address-in-use");
    assert.match(err.message, new RegExp(`cannot serve DNS on ${taken.address.replace(/\./g, "\\.")}:${taken.port}/udp: the address is already in use`));
    assert.match(err.hint ?? "", /another DNS server/);
    return true;
  });
  assert.deepEqual(server.addresses(), []);

  // Only TCP taken: the UDP socket bound first is released again.
  const tcpOnly = createServer();
  const port = await new Promise<number>((resolve) => tcpOnly.listen(0, addr(6), () => resolve((tcpOnly.address() as { port: number }).port)));
  t.after(() => new Promise<void>((resolve) => tcpOnly.close(() => resolve())));
  await assert.rejects(server.listen(addr(6), port), (err: unknown) => err instanceof CoveError && err.code === "dns.address-in-use" && /\/tcp/.test(err.message));
  const probe = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.bind(port, addr(6), () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  await assert.rejects(server.listen("198.51.100.77", 0), (err: unknown) => err instanceof CoveError && err.code === "dns.address-not-available" && /no interface of this host has address 198\.51\.100\.77/.test(err.message));
  await assert.rejects(server.listen("web", 53), (err: unknown) => err instanceof CoveError && err.kind === "invalid" && err.code === "dns.invalid-address");
  await assert.rejects(server.listen(addr(6), 70000), (err: unknown) => err instanceof CoveError && err.code === "dns.invalid-port");
  assert.deepEqual(server.addresses(), []);
});

test("IPv6 listen addresses serve Node's resolver and dig", { skip: hasIPv6Loopback ? undefined : "no IPv6 loopback (::1) on this host" }, async (t) => {
  const { at } = await startServer(t, { backend: backend({ "::1": frontnet() }) }, ["::1"]);
  assert.equal(at[0]!.address, "::1");
  assert.deepEqual(await resolver(at[0]!).resolve6("db"), ["fd89::3"]);
  if (DIG) assert.match(await dig(at[0]!, "web", "A"), /^web\.\s+600\s+IN\s+A\s+10\.89\.0\.2$/m);
  // the rest passed; dig's part could not run: say so
  else t.skip(`dig not checked: ${digSkip}`);
});

test("close() stops every listener and abandons forwards in flight at once", async (t) => {
  const silent = await upstream(t, 21, () => "drop");
  const server = new DnsServer({ backend: backend({ [addr(1)]: frontnet([asUpstream(silent)]) }), forwardTimeoutMs: 10000 });
  const at = await server.listen(addr(1), 0);
  const pending = udpQuery(at, encodeMessage(makeQuery(3, "hang.fwd.test", RRType.A)), undefined, 1500).catch((err: Error) => err);
  while (silent.count() === 0) await new Promise((r) => setTimeout(r, 10));
  const started = Date.now();
  await server.close();
  assert.ok(Date.now() - started < 1000, "close() did not wait for the upstream timeout");
  assert.ok((await pending) instanceof Error, "no answer after close");
  // Both ports are free again.
  const again = new DnsServer({ backend: backend({ [addr(1)]: frontnet() }) });
  t.after(() => again.close());
  await again.listen(addr(1), at.port);
  await assert.rejects(server.listen(addr(1), 0), (err: unknown) => err instanceof CoveError && err.code === "dns.closed");
});
