// DNS messages in RFC 1035 wire format: header, questions and resource records, with name
// compression on read and write and the EDNS0 OPT pseudo-record (RFC 6891) kept apart from the
// additional section. Every read is bounds-checked: a malformed or hostile packet makes
// decodeMessage throw DnsFormatError, never read past the buffer, loop, or allocate beyond the
// packet's own size.

import { formatIp, ipv4Bytes, ipv6Bytes } from "./ip.js";

export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const RRClass = { IN: 1, ANY: 255 } as const;

export const Opcode = { QUERY: 0 } as const;

/** Response codes; values above 15 need an OPT record to carry their upper bits. */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

/** The largest DNS message (TCP's 16-bit length prefix), and the UDP size without EDNS0. */
export const MAX_MESSAGE_SIZE = 65535;
export const CLASSIC_UDP_SIZE = 512;

const HEADER_SIZE = 12;
const MAX_NAME_WIRE_LENGTH = 255;
const MAX_LABEL_LENGTH = 63;

export class DnsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DnsFormatError";
  }
}

export interface Question {
  /** Presentation form without the trailing dot ("" is the root); see nameToLabels for escapes. */
  name: string;
  type: number;
  class: number;
}

export type RecordData =
  | { kind: "A"; address: string }
  | { kind: "AAAA"; address: string }
  | { kind: "name"; target: string } // CNAME, PTR, NS
  | { kind: "MX"; preference: number; exchange: string }
  | { kind: "SRV"; priority: number; weight: number; port: number; target: string }
  | { kind: "SOA"; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { kind: "raw"; bytes: Buffer };

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RecordData;
}

export interface EdnsOption {
  code: number;
  data: Buffer;
}

/** The OPT pseudo-record's fields (RFC 6891 section 6.1). */
export interface Edns {
  udpSize: number;
  version: number;
  /** The DO bit (DNSSEC answers wanted). */
  dnssecOk: boolean;
  /** The remaining 15 flag bits, kept so a relayed record is unchanged. */
  z: number;
  options: EdnsOption[];
}

export interface DnsMessage {
  id: number;
  /** true in responses. */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** The full response code: the header's 4 bits plus the OPT record's upper 8 bits. */
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  /** The additional section without the OPT record, which is in `edns`. */
  additionals: ResourceRecord[];
  edns?: Edns;
}

export interface HeaderPeek {
  id: number;
  qr: boolean;
  opcode: number;
  rd: boolean;
}

/** The first header fields of a packet too broken to decode, so it can be answered FORMERR. */
export function peekHeader(packet: Uint8Array): HeaderPeek | undefined {
  if (packet.length < HEADER_SIZE) return undefined;
  const flags = (packet[2]! << 8) | packet[3]!;
  return { id: (packet[0]! << 8) | packet[1]!, qr: (flags & 0x8000) !== 0, opcode: (flags >> 11) & 0xf, rd: (flags & 0x0100) !== 0 };
}

// ---------------------------------------------------------------------------------------------
// Names

/**
 * Splits a presentation-form name into wire labels. A backslash escapes the next character
 * ("\." is a dot inside a label) or starts a three-digit decimal byte ("\032"). One trailing dot
 * is allowed. Throws DnsFormatError on empty labels, labels over 63 bytes or names over 255.
 */
export function nameToLabels(name: string): Buffer[] {
  if (name === "" || name === ".") return [];
  const labels: Buffer[] = [];
  let current: number[] = [];
  let wire = 1;
  const finish = () => {
    if (current.length === 0) throw new DnsFormatError(`empty label in name ${JSON.stringify(name)}`);
    if (current.length > MAX_LABEL_LENGTH) throw new DnsFormatError(`label longer than 63 bytes in name ${JSON.stringify(name)}`);
    labels.push(Buffer.from(current));
    wire += current.length + 1;
    current = [];
  };
  const text = Buffer.from(name, "utf8");
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === 0x5c /* \ */) {
      const d = text.subarray(i + 1, i + 4).toString("latin1");
      if (/^[0-9]{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new DnsFormatError(`escape \\${d} is not a byte in name ${JSON.stringify(name)}`);
        current.push(v);
        i += 3;
      } else if (i + 1 < text.length) {
        current.push(text[++i]!);
      } else {
        throw new DnsFormatError(`name ${JSON.stringify(name)} ends in a lone backslash`);
      }
    } else if (c === 0x2e /* . */) {
      finish();
      if (i === text.length - 1) break; // the trailing dot of a fully qualified name
    } else {
      current.push(c);
    }
  }
  if (current.length > 0) finish();
  if (wire > MAX_NAME_WIRE_LENGTH) throw new DnsFormatError(`name longer than 255 bytes: ${JSON.stringify(name.slice(0, 64))}...`);
  return labels;
}

/** The presentation form of wire labels: printable ASCII kept, dots and backslashes escaped, other bytes as \DDD. */
export function labelsToName(labels: Buffer[]): string {
  return labels
    .map((label) => {
      let out = "";
      for (const b of label) {
        if (b === 0x2e || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
        else if (b > 0x20 && b < 0x7f) out += String.fromCharCode(b);
        else out += `\\${b.toString().padStart(3, "0")}`;
      }
      return out;
    })
    .join(".");
}

/** Case-insensitive name comparison (ASCII only, as DNS defines it), ignoring a trailing dot. */
export function sameName(a: string, b: string): boolean {
  return a.replace(/\.$/, "").toLowerCase() === b.replace(/\.$/, "").toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Decoding

class Reader {
  offset = 0;
  constructor(readonly buf: Buffer) {}

  need(n: number, what: string): void {
    if (this.offset + n > this.buf.length) throw new DnsFormatError(`packet ends inside ${what} at byte ${this.offset} (${this.buf.length} bytes)`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.offset++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /**
   * A possibly compressed name. Each pointer must point strictly before the label that holds it,
   * so following pointers always moves backwards and cannot loop.
   */
  name(what: string): string {
    const labels: Buffer[] = [];
    let wire = 1;
    let pos = this.offset;
    let resumeAt = -1; // where reading continues after the first pointer
    let floor = pos; // pointers must target bytes before this
    for (;;) {
      if (pos >= this.buf.length) throw new DnsFormatError(`packet ends inside ${what} name at byte ${pos}`);
      const len = this.buf[pos]!;
      if (len === 0) {
        pos += 1;
        break;
      }
      const tag = len & 0xc0;
      if (tag === 0xc0) {
        if (pos + 1 >= this.buf.length) throw new DnsFormatError(`packet ends inside a compression pointer of ${what} name at byte ${pos}`);
        const target = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        if (target >= floor) throw new DnsFormatError(`compression pointer in ${what} name at byte ${pos} points forward to ${target}`);
        if (resumeAt < 0) resumeAt = pos + 2;
        floor = target;
        pos = target;
        continue;
      }
      if (tag !== 0) throw new DnsFormatError(`unsupported label type 0x${tag.toString(16)} in ${what} name at byte ${pos}`);
      if (pos + 1 + len > this.buf.length) throw new DnsFormatError(`packet ends inside a label of ${what} name at byte ${pos}`);
      wire += len + 1;
      if (wire > MAX_NAME_WIRE_LENGTH) throw new DnsFormatError(`${what} name at byte ${this.offset} is longer than 255 bytes`);
      labels.push(this.buf.subarray(pos + 1, pos + 1 + len));
      pos += 1 + len;
    }
    this.offset = resumeAt >= 0 ? resumeAt : pos;
    return labelsToName(labels);
  }
}

function decodeRecordData(r: Reader, type: number, rdlength: number, what: string): RecordData {
  const end = r.offset + rdlength;
  r.need(rdlength, `${what} data`);
  let data: RecordData;
  switch (type) {
    case RRType.A:
      if (rdlength !== 4) throw new DnsFormatError(`${what}: A record data is ${rdlength} bytes, not 4`);
      data = { kind: "A", address: formatIp(r.bytes(4, what)) };
      break;
    case RRType.AAAA:
      if (rdlength !== 16) throw new DnsFormatError(`${what}: AAAA record data is ${rdlength} bytes, not 16`);
      data = { kind: "AAAA", address: formatIp(r.bytes(16, what)) };
      break;
    case RRType.CNAME:
    case RRType.PTR:
    case RRType.NS:
      data = { kind: "name", target: r.name(what) };
      break;
    case RRType.MX:
      data = { kind: "MX", preference: r.u16(what), exchange: r.name(what) };
      break;
    case RRType.SRV:
      data = { kind: "SRV", priority: r.u16(what), weight: r.u16(what), port: r.u16(what), target: r.name(what) };
      break;
    case RRType.SOA:
      data = { kind: "SOA", mname: r.name(what), rname: r.name(what), serial: r.u32(what), refresh: r.u32(what), retry: r.u32(what), expire: r.u32(what), minimum: r.u32(what) };
      break;
    default:
      data = { kind: "raw", bytes: Buffer.from(r.bytes(rdlength, what)) };
  }
  if (r.offset !== end) throw new DnsFormatError(`${what}: record data length ${rdlength} does not match its contents`);
  return data;
}

/** Decodes a whole message; throws DnsFormatError on anything malformed or trailing bytes. */
export function decodeMessage(packet: Uint8Array): DnsMessage {
  const buf = Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
  if (buf.length < HEADER_SIZE) throw new DnsFormatError(`packet of ${buf.length} bytes is shorter than a DNS header`);
  if (buf.length > MAX_MESSAGE_SIZE) throw new DnsFormatError(`packet of ${buf.length} bytes is larger than a DNS message can be`);
  const r = new Reader(buf);
  const id = r.u16("header");
  const flags = r.u16("header");
  const counts = [r.u16("header"), r.u16("header"), r.u16("header"), r.u16("header")] as const;
  const msg: DnsMessage = {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  };
  for (let i = 0; i < counts[0]; i++) {
    const what = `question ${i + 1}`;
    msg.questions.push({ name: r.name(what), type: r.u16(what), class: r.u16(what) });
  }
  const sections = [msg.answers, msg.authorities, msg.additionals];
  const sectionNames = ["answer", "authority", "additional"];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const what = `${sectionNames[s]} record ${i + 1}`;
      const nameStart = r.offset;
      const name = r.name(what);
      const type = r.u16(what);
      const klass = r.u16(what);
      const ttl = r.u32(what);
      const rdlength = r.u16(what);
      if (type === RRType.OPT) {
        if (s !== 2) throw new DnsFormatError(`${what}: an OPT record outside the additional section`);
        if (msg.edns) throw new DnsFormatError(`${what}: more than one OPT record`);
        if (buf[nameStart] !== 0) throw new DnsFormatError(`${what}: an OPT record's name must be the root`);
        const options: EdnsOption[] = [];
        const end = r.offset + rdlength;
        r.need(rdlength, `${what} data`);
        while (r.offset < end) {
          const code = r.u16(what);
          const length = r.u16(what);
          if (r.offset + length > end) throw new DnsFormatError(`${what}: EDNS option ${code} runs past the record`);
          options.push({ code, data: Buffer.from(r.bytes(length, what)) });
        }
        msg.edns = { udpSize: klass, version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0, z: ttl & 0x7fff, options };
        msg.rcode |= ((ttl >>> 24) & 0xff) << 4;
        continue;
      }
      sections[s]!.push({ name, type, class: klass, ttl, data: decodeRecordData(r, type, rdlength, what) });
    }
  }
  if (r.offset !== buf.length) throw new DnsFormatError(`${buf.length - r.offset} bytes after the last record`);
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Encoding

class Writer {
  private buf = Buffer.alloc(512);
  length = 0;
  /**
   * Name suffix → offset of its first encoding, for compression. Case-sensitive, so a name's
   * case (a client's 0x20 randomisation, an upstream's spelling) survives the round trip.
   */
  private readonly names = new Map<string, number>();

  private grow(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void {
    this.grow(1);
    this.buf[this.length++] = v & 0xff;
  }
  u16(v: number): void {
    this.grow(2);
    this.buf.writeUInt16BE(v & 0xffff, this.length);
    this.length += 2;
  }
  u32(v: number): void {
    this.grow(4);
    this.buf.writeUInt32BE(v >>> 0, this.length);
    this.length += 4;
  }
  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  patch16(at: number, v: number): void {
    this.buf.writeUInt16BE(v & 0xffff, at);
  }
  name(name: string, compress: boolean): void {
    const labels = nameToLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels
        .slice(i)
        .map((l) => l.toString("latin1"))
        .join("\u0000");
      const known = compress ? this.names.get(suffix) : undefined;
      if (known !== undefined) {
        this.u16(0xc000 | known);
        return;
      }
      if (this.length < 0x4000 && !this.names.has(suffix)) this.names.set(suffix, this.length);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }
  /** Forgets compression targets at or after `length`, after the writer was rolled back to it. */
  truncate(length: number): void {
    this.length = length;
    for (const [k, v] of this.names) if (v >= length) this.names.delete(k);
  }
  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

function writeRecord(w: Writer, rr: ResourceRecord): void {
  w.name(rr.name, true);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lengthAt = w.length;
  w.u16(0);
  const start = w.length;
  const d = rr.data;
  switch (d.kind) {
    case "A": {
      const b = ipv4Bytes(d.address);
      if (!b) throw new DnsFormatError(`A record for ${rr.name}: ${JSON.stringify(d.address)} is not an IPv4 address`);
      w.bytes(b);
      break;
    }
    case "AAAA": {
      const b = ipv6Bytes(d.address);
      if (!b) throw new DnsFormatError(`AAAA record for ${rr.name}: ${JSON.stringify(d.address)} is not an IPv6 address`);
      w.bytes(b);
      break;
    }
    case "name":
      w.name(d.target, true);
      break;
    case "MX":
      w.u16(d.preference);
      w.name(d.exchange, true);
      break;
    case "SRV":
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      w.name(d.target, false); // RFC 2782: the target is never compressed
      break;
    case "SOA":
      w.name(d.mname, true);
      w.name(d.rname, true);
      for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) w.u32(v);
      break;
    case "raw":
      w.bytes(d.bytes);
      break;
  }
  const rdlength = w.length - start;
  if (rdlength > 0xffff) throw new DnsFormatError(`record data for ${rr.name} is longer than 65535 bytes`);
  w.patch16(lengthAt, rdlength);
}

function writeOpt(w: Writer, edns: Edns, rcode: number): void {
  w.u8(0);
  w.u16(RRType.OPT);
  w.u16(edns.udpSize);
  w.u32((((rcode >> 4) & 0xff) << 24) | ((edns.version & 0xff) << 16) | (edns.dnssecOk ? 0x8000 : 0) | (edns.z & 0x7fff));
  const lengthAt = w.length;
  w.u16(0);
  const start = w.length;
  for (const o of edns.options) {
    w.u16(o.code);
    w.u16(o.data.length);
    w.bytes(o.data);
  }
  w.patch16(lengthAt, w.length - start);
}

export interface EncodeOptions {
  /**
   * The largest message the receiver accepts (UDP: 512, or the EDNS0 size it advertised). When
   * the message is larger, answer, authority and additional records are dropped from the end until
   * it fits (the OPT record is kept) and TC is set if an answer or authority record was dropped.
   */
  maxSize?: number;
}

/** Encodes a message, compressing names; throws DnsFormatError on values that cannot be encoded. */
export function encodeMessage(msg: DnsMessage, options: EncodeOptions = {}): Buffer {
  const maxSize = Math.min(options.maxSize ?? MAX_MESSAGE_SIZE, MAX_MESSAGE_SIZE);
  if (msg.rcode > 15 && !msg.edns) throw new DnsFormatError(`response code ${msg.rcode} needs an OPT record`);
  const w = new Writer();
  w.u16(msg.id);
  const flagsAt = w.length;
  w.u16(0);
  const countsAt = w.length;
  for (let i = 0; i < 4; i++) w.u16(0);
  for (const q of msg.questions) {
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  const optSize = msg.edns ? 11 + msg.edns.options.reduce((n, o) => n + 4 + o.data.length, 0) : 0;
  let truncated = false;
  const counts = [msg.questions.length, 0, 0, 0];
  const sections = [msg.answers, msg.authorities, msg.additionals];
  outer: for (let s = 0; s < 3; s++) {
    for (const rr of sections[s]!) {
      const before = w.length;
      writeRecord(w, rr);
      if (w.length + optSize > maxSize) {
        w.truncate(before);
        // Dropped additional records are optional (RFC 2181 section 9); answers are not.
        if (s < 2) truncated = true;
        break outer;
      }
      counts[s + 1]!++;
    }
  }
  if (msg.edns) {
    writeOpt(w, msg.edns, msg.rcode);
    counts[3]!++;
  }
  const tc = msg.tc || truncated;
  const flags =
    (msg.qr ? 0x8000 : 0) |
    ((msg.opcode & 0xf) << 11) |
    (msg.aa ? 0x0400 : 0) |
    (tc ? 0x0200 : 0) |
    (msg.rd ? 0x0100 : 0) |
    (msg.ra ? 0x0080 : 0) |
    (msg.ad ? 0x0020 : 0) |
    (msg.cd ? 0x0010 : 0) |
    (msg.rcode & 0xf);
  w.patch16(flagsAt, flags);
  counts.forEach((c, i) => w.patch16(countsAt + i * 2, c));
  return w.result();
}

// ---------------------------------------------------------------------------------------------
// Helpers for building messages

/** A query for one name and type, with recursion desired. */
export function makeQuery(id: number, name: string, type: number, edns?: Edns): DnsMessage {
  const msg: DnsMessage = {
    id,
    qr: false,
    opcode: Opcode.QUERY,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [{ name, type, class: RRClass.IN }],
    answers: [],
    authorities: [],
    additionals: [],
  };
  if (edns) msg.edns = edns;
  return msg;
}

/** An empty reply to `query` with the given code: same ID, opcode, RD, CD and question. */
export function makeReply(query: DnsMessage, rcode: number = Rcode.NOERROR): DnsMessage {
  return {
    id: query.id,
    qr: true,
    opcode: query.opcode,
    aa: false,
    tc: false,
    rd: query.rd,
    ra: true,
    ad: false,
    cd: query.cd,
    rcode,
    questions: query.questions.slice(0, 1),
    answers: [],
    authorities: [],
    additionals: [],
  };
}

/** Short text for a record type number ("A", "AAAA", "TYPE65"). */
export function typeName(type: number): string {
  for (const [k, v] of Object.entries(RRType)) if (v === type) return k;
  return `TYPE${type}`;
}

export interface ResponseHead {
  id: number;
  qr: boolean;
  tc: boolean;
  /** The header's 4-bit response code (the OPT record is not read). */
  rcode: number;
  question?: Question;
}

/**
 * The header and first question of a message, without decoding its records: enough to match a
 * relayed upstream response to its query and read its TC bit and response code.
 */
export function decodeResponseHead(packet: Uint8Array): ResponseHead {
  const buf = Buffer.isBuffer(packet) ? packet : Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
  if (buf.length < HEADER_SIZE) throw new DnsFormatError(`packet of ${buf.length} bytes is shorter than a DNS header`);
  const r = new Reader(buf);
  const id = r.u16("header");
  const flags = r.u16("header");
  const qdcount = r.u16("header");
  r.offset = HEADER_SIZE;
  const head: ResponseHead = { id, qr: (flags & 0x8000) !== 0, tc: (flags & 0x0200) !== 0, rcode: flags & 0xf };
  if (qdcount > 0) head.question = { name: r.name("question 1"), type: r.u16("question 1"), class: r.u16("question 1") };
  return head;
}
