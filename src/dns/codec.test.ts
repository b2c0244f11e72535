import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeMessage,
  decodeResponseHead,
  DnsFormatError,
  encodeMessage,
  labelsToName,
  makeQuery,
  makeReply,
  nameToLabels,
  peekHeader,
  Rcode,
  RRClass,
  RRType,
  type DnsMessage,
  type ResourceRecord,
} from "./codec.js";

// A query for www.example.com A with RD set, ID 0xbeef, as any stub resolver sends it.
const QUERY_HEX = "beef01000001000000000000" + "03777777076578616d706c6503636f6d00" + "00010001";

test("decodes a hand-assembled query", () => {
  const msg = decodeMessage(Buffer.from(QUERY_HEX, "hex"));
  assert.equal(msg.id, 0xbeef);
  assert.equal(msg.qr, false);
  assert.equal(msg.rd, true);
  assert.equal(msg.opcode, 0);
  assert.deepEqual(msg.questions, [{ name: "www.example.com", type: RRType.A, class: RRClass.IN }]);
  assert.equal(msg.edns, undefined);
});

test("encodes a query to the same bytes a stub resolver sends", () => {
  assert.equal(encodeMessage(makeQuery(0xbeef, "www.example.com", RRType.A)).toString("hex"), QUERY_HEX);
  assert.equal(encodeMessage(makeQuery(0xbeef, "www.example.com.", RRType.A)).toString("hex"), QUERY_HEX);
});

test("answers compress repeated names into pointers to the question", () => {
  const reply = makeReply(decodeMessage(Buffer.from(QUERY_HEX, "hex")));
  reply.answers = [
    { name: "www.example.com", type: RRType.CNAME, class: RRClass.IN, ttl: 60, data: { kind: "name", target: "web.example.com" } },
    { name: "web.example.com", type: RRType.A, class: RRClass.IN, ttl: 60, data: { kind: "A", address: "192.0.2.7" } },
  ];
  const wire = encodeMessage(reply);
  // The first answer's owner is a pointer to the question name at offset 12.
  const firstAnswer = 12 + 17 + 4;
  assert.equal(wire.readUInt16BE(firstAnswer), 0xc000 | 12);
  // "web" + pointer to "example.com" (offset 16) as the CNAME target: 1+3+2 bytes.
  const rdlength = wire.readUInt16BE(firstAnswer + 10);
  assert.equal(rdlength, 6);
  assert.equal(wire.readUInt16BE(firstAnswer + 12 + 4), 0xc000 | 16);
  const back = decodeMessage(wire);
  assert.deepEqual(back.answers, reply.answers);
  assert.equal(back.qr, true);
  assert.equal(back.ra, true);
});

test("round-trips every record kind, EDNS0 options and an extended rcode", () => {
  const records: ResourceRecord[] = [
    { name: "a.test", type: RRType.A, class: RRClass.IN, ttl: 600, data: { kind: "A", address: "10.1.2.3" } },
    { name: "a.test", type: RRType.AAAA, class: RRClass.IN, ttl: 600, data: { kind: "AAAA", address: "fd00::1:2" } },
    { name: "3.2.1.10.in-addr.arpa", type: RRType.PTR, class: RRClass.IN, ttl: 600, data: { kind: "name", target: "a.test" } },
    { name: "_http._tcp.a.test", type: RRType.SRV, class: RRClass.IN, ttl: 600, data: { kind: "SRV", priority: 1, weight: 2, port: 8080, target: "a.test" } },
    { name: "a.test", type: RRType.MX, class: RRClass.IN, ttl: 1, data: { kind: "MX", preference: 10, exchange: "mail.a.test" } },
    {
      name: "test",
      type: RRType.SOA,
      class: RRClass.IN,
      ttl: 3600,
      data: { kind: "SOA", mname: "ns.test", rname: "hostmaster.test", serial: 2024010101, refresh: 7200, retry: 900, expire: 1209600, minimum: 300 },
    },
    { name: "a.test", type: RRType.TXT, class: RRClass.IN, ttl: 5, data: { kind: "raw", bytes: Buffer.from("\u0005hello") } },
    { name: "a.test", type: 65280, class: RRClass.IN, ttl: 5, data: { kind: "raw", bytes: Buffer.alloc(0) } },
  ];
  const msg: DnsMessage = {
    ...makeReply(makeQuery(7, "a.test", RRType.ANY), Rcode.BADVERS),
    answers: records.slice(0, 4),
    authorities: records.slice(5, 6),
    additionals: [records[4]!, ...records.slice(6)],
    edns: { udpSize: 1232, version: 0, dnssecOk: true, z: 0, options: [{ code: 10, data: Buffer.from("0123456789abcdef", "hex") }] },
  };
  const back = decodeMessage(encodeMessage(msg));
  assert.deepEqual(back, msg);
});

test("names with escaped dots, backslashes and binary bytes survive a round trip", () => {
  const name = "a\\.b\\\\c\\000\\255.example";
  const labels = nameToLabels(name);
  assert.deepEqual(labels.map((l) => [...l]), [[0x61, 0x2e, 0x62, 0x5c, 0x63, 0, 255], [...Buffer.from("example")]]);
  assert.equal(labelsToName(labels), name);
  const back = decodeMessage(encodeMessage(makeQuery(1, name, RRType.A)));
  assert.equal(back.questions[0]!.name, name);
});

test("the root name encodes as a single zero byte", () => {
  const wire = encodeMessage(makeQuery(1, "", RRType.NS));
  assert.equal(wire.length, 12 + 1 + 4);
  assert.equal(decodeMessage(wire).questions[0]!.name, "");
});

test("names that cannot be encoded are refused", () => {
  assert.throws(() => nameToLabels("a..b"), DnsFormatError);
  assert.throws(() => nameToLabels(".a"), DnsFormatError);
  assert.throws(() => nameToLabels("x".repeat(64)), DnsFormatError);
  assert.throws(() => nameToLabels(Array(64).fill("abc").join(".")), DnsFormatError);
  assert.throws(() => nameToLabels("a\\"), DnsFormatError);
  assert.throws(() => nameToLabels("a\\300"), DnsFormatError);
  nameToLabels("x".repeat(63)); // the longest label is fine
});

test("a record with a bad address is refused at encode time", () => {
  const msg = makeReply(makeQuery(1, "a", RRType.A));
  msg.answers = [{ name: "a", type: RRType.A, class: RRClass.IN, ttl: 1, data: { kind: "A", address: "fd00::1" } }];
  assert.throws(() => encodeMessage(msg), /not an IPv4 address/);
});

test("maxSize drops answers from the end, sets TC and keeps the OPT record", () => {
  const msg = makeReply(makeQuery(1, "many.test", RRType.A));
  for (let i = 0; i < 100; i++) msg.answers.push({ name: "many.test", type: RRType.A, class: RRClass.IN, ttl: 600, data: { kind: "A", address: `10.0.${i >> 8}.${i & 255}` } });
  msg.edns = { udpSize: 4096, version: 0, dnssecOk: false, z: 0, options: [] };
  const full = encodeMessage(msg);
  assert.ok(full.length > 512);
  assert.equal(decodeMessage(full).tc, false);
  const cut = encodeMessage(msg, { maxSize: 512 });
  assert.ok(cut.length <= 512, `${cut.length} bytes`);
  const back = decodeMessage(cut);
  assert.equal(back.tc, true);
  assert.ok(back.answers.length > 20 && back.answers.length < 100);
  assert.deepEqual(back.answers, msg.answers.slice(0, back.answers.length));
  assert.ok(back.edns, "the OPT record is kept");
});

test("maxSize dropping only additional records does not set TC", () => {
  const msg = makeReply(makeQuery(1, "x.test", RRType.SRV));
  msg.answers.push({ name: "x.test", type: RRType.SRV, class: RRClass.IN, ttl: 600, data: { kind: "SRV", priority: 0, weight: 0, port: 1, target: "t.test" } });
  for (let i = 0; i < 60; i++) msg.additionals.push({ name: `t${i}.test`, type: RRType.A, class: RRClass.IN, ttl: 600, data: { kind: "A", address: "10.0.0.1" } });
  const back = decodeMessage(encodeMessage(msg, { maxSize: 512 }));
  assert.equal(back.tc, false);
  assert.equal(back.answers.length, 1);
  assert.ok(back.additionals.length < 60);
});

test("decodeResponseHead reads ID, flags and the question only", () => {
  const reply = makeReply(makeQuery(0x1234, "Web.Test", RRType.AAAA), Rcode.NXDOMAIN);
  reply.tc = true;
  const head = decodeResponseHead(encodeMessage(reply));
  assert.deepEqual(head, { id: 0x1234, qr: true, tc: true, rcode: Rcode.NXDOMAIN, question: { name: "Web.Test", type: RRType.AAAA, class: RRClass.IN } });
  assert.deepEqual(peekHeader(Buffer.from(QUERY_HEX, "hex")), { id: 0xbeef, qr: false, opcode: 0, rd: true });
  assert.equal(peekHeader(Buffer.alloc(11)), undefined);
});

// ---------------------------------------------------------------------------------------------
// Malformed packets

const malformed: Array<[string, string]> = [
  ["short header", "beef0100000100"],
  ["question count past the end", "beef01000002000000000000" + "0161000001" + "0001"],
  ["label running past the end", "beef01000001000000000000" + "0561626300"],
  ["missing question type", "beef01000001000000000000" + "016100"],
  ["pointer to itself", "beef01000001000000000000" + "c00c00010001"],
  ["pointer forward", "beef01000001000000000000" + "c00e00010001" + "0161" + "00"],
  ["pointer loop between two labels", "beef01000001000000000000" + "0161c00c00010001"],
  ["reserved label type 0x40", "beef01000001000000000000" + "4161" + "0000010001"],
  ["trailing garbage", QUERY_HEX + "00"],
  ["A record with 5 data bytes", "beef81800001000100000000" + "016100" + "00010001" + "c00c" + "0001" + "0001" + "00000258" + "0005" + "0a00000101"],
  ["rdlength past the end", "beef81800001000100000000" + "016100" + "00010001" + "c00c" + "0010" + "0001" + "00000258" + "00ff" + "00"],
  ["CNAME whose name overruns rdlength", "beef81800001000100000000" + "016100" + "00010001" + "c00c" + "0005" + "0001" + "00000258" + "0002" + "0162" + "00"],
  ["two OPT records", "beef01000000000000000002" + "0000291000000000000000".repeat(2)],
  ["OPT in the answer section", "beef01000000000100000000" + "0000291000000000000000"],
  ["OPT option past its record", "beef01000000000000000001" + "0000291000000000000004" + "000a0008"],
  ["name longer than 255 bytes", "beef01000001000000000000" + ("3f" + "61".repeat(63)).repeat(4) + "00" + "00010001"],
];

for (const [what, hex] of malformed) {
  test(`decodeMessage rejects ${what}`, () => {
    assert.throws(() => decodeMessage(Buffer.from(hex, "hex")), DnsFormatError);
  });
}

test("a pointer into an earlier name is followed", () => {
  // Question "a.b", answer owner "c" + pointer to "b" (offset 14).
  const hex = "beef81800001000100000000" + "0161016200" + "00010001" + "0163c00e" + "0001" + "0001" + "00000258" + "0004" + "0a000001";
  const msg = decodeMessage(Buffer.from(hex, "hex"));
  assert.equal(msg.answers[0]!.name, "c.b");
  assert.deepEqual(msg.answers[0]!.data, { kind: "A", address: "10.0.0.1" });
});

// ---------------------------------------------------------------------------------------------
// Fuzzing: random bytes, truncations and bit flips of valid messages never escape as anything
// but DnsFormatError, and whatever decodes re-encodes and decodes to the same message.

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sampleMessages(): Buffer[] {
  const reply = makeReply(makeQuery(42, "svc.net.test", RRType.SRV));
  reply.answers = [
    { name: "svc.net.test", type: RRType.SRV, class: RRClass.IN, ttl: 600, data: { kind: "SRV", priority: 0, weight: 5, port: 80, target: "web.net.test" } },
    { name: "svc.net.test", type: RRType.CNAME, class: RRClass.IN, ttl: 600, data: { kind: "name", target: "web.net.test" } },
  ];
  reply.authorities = [
    { name: "net.test", type: RRType.SOA, class: RRClass.IN, ttl: 60, data: { kind: "SOA", mname: "ns.net.test", rname: "root.net.test", serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } },
  ];
  reply.additionals = [{ name: "web.net.test", type: RRType.AAAA, class: RRClass.IN, ttl: 600, data: { kind: "AAAA", address: "fd00:1::5" } }];
  reply.edns = { udpSize: 1232, version: 0, dnssecOk: false, z: 0, options: [{ code: 8, data: Buffer.from([0, 1, 24, 0, 10, 1, 2]) }] };
  return [Buffer.from(QUERY_HEX, "hex"), encodeMessage(reply), encodeMessage(makeQuery(9, "4.3.2.1.in-addr.arpa", RRType.PTR))];
}

function decodeOrFormatError(packet: Buffer): DnsMessage | undefined {
  try {
    return decodeMessage(packet);
  } catch (err) {
    if (err instanceof DnsFormatError) return undefined;
    throw new Error(`packet ${packet.toString("hex")} threw ${String(err)}`);
  }
}

test("fuzz: random packets decode or fail with DnsFormatError", () => {
  const random = seededRandom(0xd15);
  let decoded = 0;
  for (let i = 0; i < 20000; i++) {
    const length = Math.floor(random() * 300);
    const packet = Buffer.alloc(length);
    for (let j = 0; j < length; j++) packet[j] = Math.floor(random() * 256);
    // Make small counts likely so the decoder gets past the header often.
    if (length >= 12) {
      for (const at of [4, 6, 8, 10]) {
        packet[at] = 0;
        packet[at + 1] = Math.floor(random() * 3);
      }
    }
    const msg = decodeOrFormatError(packet);
    if (msg) {
      decoded++;
      const again = decodeMessage(encodeMessage(msg));
      assert.deepEqual(again.questions, msg.questions);
    }
  }
  assert.ok(decoded > 0, "some random packets should decode");
});

test("fuzz: every truncation of valid messages fails cleanly", () => {
  for (const wire of sampleMessages()) {
    for (let n = 0; n < wire.length; n++) assert.equal(decodeOrFormatError(wire.subarray(0, n)), undefined, `prefix of ${n} bytes decoded`);
    assert.ok(decodeOrFormatError(wire));
  }
});

test("fuzz: bit flips and byte changes of valid messages decode or fail cleanly", () => {
  const random = seededRandom(53);
  for (const wire of sampleMessages()) {
    for (let i = 0; i < 5000; i++) {
      const packet = Buffer.from(wire);
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * packet.length);
        packet[at] = random() < 0.5 ? packet[at]! ^ (1 << Math.floor(random() * 8)) : Math.floor(random() * 256);
      }
      const msg = decodeOrFormatError(packet);
      if (msg) {
        // Whatever decodes must re-encode (names and data are valid) and decode to the same thing.
        let reencoded: Buffer;
        try {
          reencoded = encodeMessage(msg);
        } catch (err) {
          if (err instanceof DnsFormatError) continue; // e.g. rcode > 15 needs OPT: still a clean refusal
          throw err;
        }
        assert.deepEqual(decodeMessage(reencoded), msg);
      }
    }
  }
});
