// The server's answers, through DnsServer.answer (no sockets): what comes from the backend, what
// would be forwarded, and the error codes. Forwarding itself is tested in test/dns with sockets.

import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMessage, encodeMessage, makeQuery, Rcode, RRClass, RRType, type DnsMessage } from "./codec.js";
import { DnsServer, LOCAL_TTL, type DnsBackend, type DnsClient, type DnsScope } from "./server.js";

const CLIENT: DnsClient = { address: "10.88.0.5", port: 40000, transport: "udp", localAddress: "10.88.0.1", localPort: 53 };
const NAMES: Record<string, { A: string[]; AAAA: string[] }> = {
  web: { A: ["10.88.0.2"], AAAA: [] },
  db: { A: ["10.88.0.3"], AAAA: ["fd88::3"] },
  v6only: { A: [], AAAA: ["fd88::4"] },
  many: { A: Array.from({ length: 60 }, (_, i) => `10.88.1.${i + 1}`), AAAA: [] },
};

function backend(scope: DnsScope | undefined = { forward: false, upstreams: [] }, overrides: Partial<DnsBackend> = {}): DnsBackend {
  return {
    scope: () => scope,
    lookup: (name, type) => (NAMES[name] ? { addresses: NAMES[name]![type] } : "unknown"),
    reverse: (ip) => (ip === "10.88.0.2" ? "web.testnet" : ip === "fd88::3" ? "db.testnet" : "unknown"),
    service: (name) => (name === "_http._tcp.web" ? [{ target: "web.testnet", address: "10.88.0.2", port: 8080, priority: 1, weight: 10 }] : "unknown"),
    ...overrides,
  };
}

async function ask(server: DnsServer, query: DnsMessage | Buffer, from: DnsClient = CLIENT): Promise<DnsMessage> {
  const reply = await server.answer(Buffer.isBuffer(query) ? query : encodeMessage(query), from);
  assert.ok(reply, "the server answered");
  return decodeMessage(reply);
}

test("A and AAAA answers come from the backend with TTL 600 and the question's spelling", async () => {
  const server = new DnsServer({ backend: backend() });
  const a = await ask(server, makeQuery(1, "WeB", RRType.A));
  assert.equal(a.rcode, Rcode.NOERROR);
  assert.equal(a.id, 1);
  assert.equal(a.qr && a.ra && a.rd, true);
  assert.equal(a.aa, false);
  assert.deepEqual(a.answers, [{ name: "WeB", type: RRType.A, class: RRClass.IN, ttl: LOCAL_TTL, data: { kind: "A", address: "10.88.0.2" } }]);
  const aaaa = await ask(server, makeQuery(2, "db.", RRType.AAAA));
  assert.deepEqual(aaaa.answers.map((r) => r.data), [{ kind: "AAAA", address: "fd88::3" }]);
  assert.equal(server.stats().answeredLocally, 2);
});

test("a known name without an address of the asked family gets NOERROR and no answers", async () => {
  const server = new DnsServer({ backend: backend({ forward: true, upstreams: [{ address: "127.0.0.1", port: 9 }] }) });
  for (const [name, type] of [["web", RRType.AAAA], ["v6only", RRType.A]] as const) {
    const reply = await ask(server, makeQuery(3, name, type));
    assert.equal(reply.rcode, Rcode.NOERROR, `${name} ${type}`);
    assert.deepEqual(reply.answers, []);
  }
  assert.equal(server.stats().forwarded, 0);
});

test("unknown names on a scope that does not forward get SERVFAIL", async () => {
  const server = new DnsServer({ backend: backend({ forward: false, upstreams: [{ address: "127.0.0.1", port: 9 }] }) });
  const reply = await ask(server, makeQuery(4, "example.com", RRType.A));
  assert.equal(reply.rcode, Rcode.SERVFAIL);
  assert.deepEqual(reply.questions, [{ name: "example.com", type: RRType.A, class: RRClass.IN }]);
  // TXT for a known name is not answered locally either (Docker forwards every other type).
  assert.equal((await ask(server, makeQuery(5, "web", RRType.TXT))).rcode, Rcode.SERVFAIL);
  assert.equal(server.stats().servfail, 2);
});

test("MX for a known name is an empty NOERROR (implicit MX)", async () => {
  const server = new DnsServer({ backend: backend() });
  const reply = await ask(server, makeQuery(6, "v6only", RRType.MX));
  assert.equal(reply.rcode, Rcode.NOERROR);
  assert.deepEqual(reply.answers, []);
  assert.equal((await ask(server, makeQuery(7, "nope", RRType.MX))).rcode, Rcode.SERVFAIL);
});

test("PTR for container addresses, IPv4 and IPv6", async () => {
  const server = new DnsServer({ backend: backend() });
  const v4 = await ask(server, makeQuery(8, "2.0.88.10.in-addr.arpa", RRType.PTR));
  assert.deepEqual(v4.answers, [{ name: "2.0.88.10.in-addr.arpa", type: RRType.PTR, class: RRClass.IN, ttl: LOCAL_TTL, data: { kind: "name", target: "web.testnet" } }]);
  const v6name = "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.8.d.f.ip6.arpa";
  const v6 = await ask(server, makeQuery(9, v6name, RRType.PTR));
  assert.deepEqual(v6.answers.map((r) => r.data), [{ kind: "name", target: "db.testnet" }]);
  // Unknown addresses and zone names are not local.
  assert.equal((await ask(server, makeQuery(10, "9.0.88.10.in-addr.arpa", RRType.PTR))).rcode, Rcode.SERVFAIL);
  assert.equal((await ask(server, makeQuery(11, "88.10.in-addr.arpa", RRType.PTR))).rcode, Rcode.SERVFAIL);
});

test("SRV answers carry the target's address in the additional section", async () => {
  const server = new DnsServer({ backend: backend() });
  const reply = await ask(server, makeQuery(12, "_http._tcp.web", RRType.SRV));
  assert.deepEqual(reply.answers.map((r) => [r.type, r.data]), [[RRType.SRV, { kind: "SRV", priority: 1, weight: 10, port: 8080, target: "web.testnet" }]]);
  assert.deepEqual(reply.additionals.map((r) => [r.name, r.data]), [["web.testnet", { kind: "A", address: "10.88.0.2" }]]);
});

test("several addresses are all answered, in shuffled order", async () => {
  const server = new DnsServer({ backend: backend() });
  const orders = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const reply = await ask(server, { ...makeQuery(13, "many", RRType.A), edns: { udpSize: 4096, version: 0, dnssecOk: false, z: 0, options: [] } });
    assert.equal(reply.answers.length, 60);
    assert.deepEqual(reply.answers.map((r) => (r.data.kind === "A" ? r.data.address : "")).sort(), [...NAMES.many!.A].sort());
    orders.add(reply.answers.map((r) => (r.data.kind === "A" ? r.data.address : "")).join());
  }
  assert.ok(orders.size > 1, "the order changes between answers");
});

test("local answers are truncated to 512 bytes over UDP without EDNS0, to the EDNS0 size with it, and never over TCP", async () => {
  const server = new DnsServer({ backend: backend() });
  const plainReply = await server.answer(encodeMessage(makeQuery(14, "many", RRType.A)), CLIENT);
  assert.ok(plainReply!.length <= 512);
  const plain = decodeMessage(plainReply!);
  assert.equal(plain.tc, true);
  assert.ok(plain.answers.length < 60);
  assert.equal(plain.edns, undefined, "no OPT record in answers to queries without one");
  const ednsQuery = encodeMessage({ ...makeQuery(15, "many", RRType.A), edns: { udpSize: 700, version: 0, dnssecOk: false, z: 0, options: [] } });
  const ednsReply = (await server.answer(ednsQuery, CLIENT))!;
  assert.ok(ednsReply.length <= 700 && ednsReply.length > 512, `${ednsReply.length} bytes`);
  assert.equal(decodeMessage(ednsReply).tc, true);
  assert.equal(decodeMessage(ednsReply).edns?.version, 0);
  const tcp = await ask(server, makeQuery(16, "many", RRType.A), { ...CLIENT, transport: "tcp" });
  assert.equal(tcp.tc, false);
  assert.equal(tcp.answers.length, 60);
});

test("ndots set by the client: single-label unknown names get an empty NOERROR, not a forward", async () => {
  const server = new DnsServer({ backend: backend({ forward: true, upstreams: [{ address: "127.0.0.1", port: 9 }], ndotsSet: true }) });
  const reply = await ask(server, makeQuery(17, "printer", RRType.A));
  assert.equal(reply.rcode, Rcode.NOERROR);
  assert.deepEqual(reply.answers, []);
  assert.equal(server.stats().forwarded, 0);
});

test("clients on no known scope are REFUSED", async () => {
  const server = new DnsServer({ backend: backend(undefined, { scope: () => undefined }) });
  assert.equal((await ask(server, makeQuery(18, "web", RRType.A))).rcode, Rcode.REFUSED);
});

test("a failing backend answers SERVFAIL and is reported", async () => {
  const errors: string[] = [];
  const server = new DnsServer({
    backend: backend(undefined, { scope: () => ({ forward: false, upstreams: [] }), lookup: () => Promise.reject(new Error("network store is locked")) }),
    onError: (m) => errors.push(m),
  });
  assert.equal((await ask(server, makeQuery(19, "web", RRType.A))).rcode, Rcode.SERVFAIL);
  assert.match(errors.join("\n"), /network store is locked/);
});

test("a backend name DNS cannot carry answers SERVFAIL instead of nothing", async () => {
  const errors: string[] = [];
  const server = new DnsServer({ backend: backend(undefined, { scope: () => ({ forward: false, upstreams: [] }), reverse: () => "web..testnet" }), onError: (m) => errors.push(m) });
  assert.equal((await ask(server, makeQuery(26, "2.0.88.10.in-addr.arpa", RRType.PTR))).rcode, Rcode.SERVFAIL);
  assert.match(errors.join("\n"), /empty label/);
});

test("addresses of the wrong family from the backend are left out and reported", async () => {
  const errors: string[] = [];
  const server = new DnsServer({ backend: backend(undefined, { scope: () => ({ forward: false, upstreams: [] }), lookup: () => ({ addresses: ["10.0.0.1", "fd00::1", "bogus"] }) }), onError: (m) => errors.push(m) });
  const reply = await ask(server, makeQuery(20, "x", RRType.A));
  assert.deepEqual(reply.answers.map((r) => r.data), [{ kind: "A", address: "10.0.0.1" }]);
  assert.equal(errors.length, 2);
});

test("malformed queries get FORMERR, other opcodes NOTIMP, EDNS versions above 0 BADVERS; responses are ignored", async () => {
  const server = new DnsServer({ backend: backend() });
  const garbage = Buffer.from("abcd0100000100000000000005616263", "hex"); // a label running past the end
  const formerr = await ask(server, garbage);
  assert.equal(formerr.rcode, Rcode.FORMERR);
  assert.equal(formerr.id, 0xabcd);
  const two = encodeMessage({ ...makeQuery(21, "web", RRType.A), questions: [{ name: "web", type: 1, class: 1 }, { name: "db", type: 1, class: 1 }] });
  assert.equal((await ask(server, two)).rcode, Rcode.FORMERR);
  assert.equal((await ask(server, { ...makeQuery(22, "web", RRType.A), opcode: 2 })).rcode, Rcode.NOTIMP);
  const badvers = await ask(server, { ...makeQuery(23, "web", RRType.A), edns: { udpSize: 1232, version: 1, dnssecOk: false, z: 0, options: [] } });
  assert.equal(badvers.rcode, Rcode.BADVERS);
  assert.equal(badvers.edns?.version, 0);
  assert.equal(await server.answer(encodeMessage({ ...makeQuery(24, "web", RRType.A), qr: true }), CLIENT), undefined);
  assert.equal(await server.answer(Buffer.alloc(5), CLIENT), undefined);
});

test("fuzz: random and mangled packets never make answer() throw", async () => {
  const server = new DnsServer({ backend: backend() });
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const base = encodeMessage({ ...makeQuery(25, "_http._tcp.web", RRType.SRV), edns: { udpSize: 1232, version: 0, dnssecOk: false, z: 0, options: [] } });
  for (let i = 0; i < 3000; i++) {
    const packet = Buffer.from(base.subarray(0, Math.floor(random() * (base.length + 1))));
    for (let e = 0; e < 3; e++) if (packet.length) packet[Math.floor(random() * packet.length)] = Math.floor(random() * 256);
    const reply = await server.answer(packet, CLIENT);
    if (reply) decodeMessage(reply); // whatever is sent back is itself a valid message
  }
});
