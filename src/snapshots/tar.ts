// A streaming tar reader and a header writer, written for layers rather than borrowed: layers
// carry binary PAX values (SCHILY.xattr.security.capability is raw bytes), sub-second PAX times
// and GNU sparse files, which general-purpose JS tar libraries decode lossily or not at all.
//
// Reader: POSIX ustar, PAX (x and g records; path, linkpath, size, uid, gid, mtime, atime,
// SCHILY.xattr.*, GNU.sparse.* 0.0/0.1/1.0), GNU long names (L, K), old GNU sparse (S), base-256
// numbers. Bodies are streamed chunk by chunk, never buffered whole.
// Writer: ustar headers with a PAX record in front when a value does not fit (long or non-ASCII
// names, big ids or sizes, xattrs), with fixed choices everywhere so a tree always gives the same
// bytes.

import { invalid } from "../common/errors.js";

export type TarEntryType = "file" | "link" | "symlink" | "char" | "block" | "dir" | "fifo";

export interface TarTime {
  sec: number;
  nsec: number;
}

export interface SparseSegment {
  offset: number;
  length: number;
}

export interface TarHeader {
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of body in the archive (for sparse files: the stored segments only). */
  size: number;
  /** The file's real size (differs from size only for sparse files). */
  realSize: number;
  mtime: TarTime;
  atime?: TarTime;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** SCHILY.xattr.* records, values as raw bytes. */
  xattrs: Map<string, Buffer>;
  /** Data segments of a sparse file, in order; the body holds them back to back. */
  sparse?: SparseSegment[];
}

const BLOCK = 512;

/** Pulls exact byte counts out of an async chunk source. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    if (b.length > 0) {
      this.chunks.push(b);
      this.buffered += b.length;
    }
    return true;
  }

  /** Ensures n bytes are buffered; false at end of input. */
  async fill(n: number): Promise<boolean> {
    while (this.buffered < n) if (!(await this.pull())) return false;
    return true;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  async readExact(n: number, what: string): Promise<Buffer> {
    if (!(await this.fill(n))) throw truncated(what);
    return this.take(n);
  }

  /** Yields the next n bytes in chunks as they arrive. */
  async *stream(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.pull())) throw truncated(what);
      if (this.buffered === 0) continue;
      const first = this.chunks[0];
      const k = Math.min(first.length, left);
      left -= k;
      yield this.take(k);
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const _ of this.stream(n, what)) {
      // discard
    }
  }

  /** Reads and discards everything left in the source. */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (await this.pull()) {
      this.chunks = [];
      this.buffered = 0;
    }
  }
}

function truncated(what: string) {
  return invalid(`layer tar is truncated: it ends inside ${what}`, {
    code: "layer.truncated",
    hint: "the blob is incomplete or corrupt; pull or export it again",
  });
}

function corrupt(msg: string) {
  return invalid(`layer tar is corrupt: ${msg}`, { code: "layer.corrupt", hint: "the blob is not a valid tar archive; pull or export it again" });
}

function cstring(buf: Buffer, off: number, len: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString("utf8", off, end === -1 || end > off + len ? off + len : end);
}

function parseNumber(buf: Buffer, off: number, len: number, field: string): number {
  const b = buf.subarray(off, off + len);
  if (b[0] & 0x80) {
    // base-256, big endian two's complement; negative values are not meaningful here
    if (b[0] === 0xff) throw corrupt(`negative ${field}`);
    let v = b[0] & 0x7f;
    for (let i = 1; i < b.length; i++) v = v * 256 + b[i];
    if (!Number.isSafeInteger(v)) throw corrupt(`${field} is too large`);
    return v;
  }
  const s = b.toString("latin1").replace(/\0.*$/s, "").trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw corrupt(`${field} is not an octal number: ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(block: Buffer): boolean {
  const stored = parseNumber(block, 148, 8, "checksum");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 32 : block[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

interface PaxRecord {
  key: string;
  value: Buffer;
}

function parsePax(buf: Buffer): PaxRecord[] {
  const out: PaxRecord[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break; // padding
    const sp = buf.indexOf(0x20, off);
    if (sp === -1) throw corrupt("PAX record without a length");
    const len = Number(buf.toString("latin1", off, sp));
    if (!Number.isInteger(len) || len <= sp - off + 1 || off + len > buf.length) throw corrupt("PAX record length is wrong");
    const rec = buf.subarray(sp + 1, off + len);
    if (rec[rec.length - 1] !== 0x0a) throw corrupt("PAX record does not end in a newline");
    const eq = rec.indexOf(0x3d);
    if (eq === -1) throw corrupt("PAX record without '='");
    out.push({ key: rec.toString("utf8", 0, eq), value: rec.subarray(eq + 1, rec.length - 1) });
    off += len;
  }
  return out;
}

function parseTime(s: string, field: string): TarTime {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw corrupt(`PAX ${field} is not a time: ${JSON.stringify(s)}`);
  const sec = Number(m[2]) * (m[1] ? -1 : 1);
  const nsec = m[3] ? Number((m[3] + "000000000").slice(0, 9)) : 0;
  if (m[1] && nsec > 0) return { sec: sec - 1, nsec: 1e9 - nsec };
  return { sec, nsec };
}

function parseDecimal(s: string, field: string): number {
  if (!/^\d+$/.test(s)) throw corrupt(`${field} is not a number: ${JSON.stringify(s)}`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw corrupt(`${field} is too large`);
  return n;
}

function parseSparseMap(s: string): SparseSegment[] {
  const parts = s === "" ? [] : s.split(",").map((p) => parseDecimal(p, "GNU.sparse.map"));
  if (parts.length % 2 !== 0) throw corrupt("GNU.sparse.map has an odd number of values");
  const out: SparseSegment[] = [];
  for (let i = 0; i < parts.length; i += 2) out.push({ offset: parts[i], length: parts[i + 1] });
  return out;
}

function typeOf(flag: number): TarEntryType | "pax" | "global" | "longname" | "longlink" | "gnusparse" | "skip" | undefined {
  switch (String.fromCharCode(flag)) {
    case "\0":
    case "0":
    case "7":
      return "file";
    case "1":
      return "link";
    case "2":
      return "symlink";
    case "3":
      return "char";
    case "4":
      return "block";
    case "5":
    case "D":
      return "dir";
    case "6":
      return "fifo";
    case "x":
      return "pax";
    case "g":
      return "global";
    case "L":
      return "longname";
    case "K":
      return "longlink";
    case "S":
      return "gnusparse";
    case "V":
      return "skip";
    default:
      return undefined;
  }
}

export interface TarItem {
  header: TarHeader;
  /** The entry's body (the archive bytes; for sparse files the segments back to back). Consume
   * it before asking for the next item, or it is skipped. */
  body: AsyncIterable<Buffer>;
}

const MAX_META = 16 * 1024 * 1024;

/**
 * Reads a tar stream entry by entry. After the end-of-archive marker the rest of the source is
 * read and discarded, so whoever hashes the source sees every byte.
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarItem> {
  const r = new ByteReader(source);
  let globalPax: PaxRecord[] = [];
  let pax: PaxRecord[] = [];
  let longName: string | undefined;
  let longLink: string | undefined;
  let index = 0;
  for (;;) {
    if (!(await r.fill(BLOCK))) {
      if (index === 0) throw corrupt("the archive is empty (no end-of-archive marker)");
      throw truncated("the archive (no end-of-archive marker)");
    }
    const block = await r.readExact(BLOCK, "a header");
    if (block.every((b) => b === 0)) {
      await r.drain();
      return;
    }
    index++;
    if (!checksumOk(block)) throw corrupt(`header ${index} has a bad checksum`);
    const kind = typeOf(block[156]);
    const rawName = cstring(block, 0, 100);
    if (kind === undefined) throw invalid(`layer tar entry ${JSON.stringify(rawName)} has unsupported type '${String.fromCharCode(block[156])}'`, { code: "layer.unsupported-entry" });
    let size = parseNumber(block, 124, 12, "size");
    const blocksOf = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
    if (kind === "pax" || kind === "global" || kind === "longname" || kind === "longlink") {
      if (size > MAX_META) throw corrupt(`a ${kind} header of ${size} bytes is too large`);
      const data = (await r.readExact(blocksOf(size), `a ${kind} header`)).subarray(0, size);
      if (kind === "pax") pax = parsePax(data);
      else if (kind === "global") globalPax = [...globalPax, ...parsePax(data)];
      else if (kind === "longname") longName = cstring(data, 0, data.length);
      else longLink = cstring(data, 0, data.length);
      continue;
    }
    if (kind === "skip") {
      await r.skip(blocksOf(size), "a volume header");
      continue;
    }
    const magic = block.toString("latin1", 257, 263);
    const ustar = magic === "ustar\0";
    const oldGnu = magic === "ustar ";
    let name = rawName;
    if (ustar && block[345] !== 0) name = cstring(block, 345, 155) + "/" + name;
    const linkname = cstring(block, 157, 100);
    const header: TarHeader = {
      name,
      type: kind === "gnusparse" ? "file" : kind,
      mode: parseNumber(block, 100, 8, "mode") & 0o7777,
      uid: parseNumber(block, 108, 8, "uid"),
      gid: parseNumber(block, 116, 8, "gid"),
      size,
      realSize: size,
      mtime: { sec: parseNumber(block, 136, 12, "mtime"), nsec: 0 },
      linkname,
      devmajor: kind === "char" || kind === "block" ? parseNumber(block, 329, 8, "devmajor") : 0,
      devminor: kind === "char" || kind === "block" ? parseNumber(block, 337, 8, "devminor") : 0,
      xattrs: new Map(),
    };
    if (kind === "gnusparse") {
      if (!oldGnu) throw corrupt(`sparse entry ${JSON.stringify(name)} is not in GNU format`);
      const segs: SparseSegment[] = [];
      const readMap = (b: Buffer, off: number, count: number) => {
        for (let i = 0; i < count; i++) {
          const o = off + i * 24;
          if (b[o] === 0) break;
          segs.push({ offset: parseNumber(b, o, 12, "sparse offset"), length: parseNumber(b, o + 12, 12, "sparse length") });
        }
      };
      readMap(block, 386, 4);
      let extended = block[482] !== 0;
      while (extended) {
        const ext = await r.readExact(BLOCK, "a sparse header");
        readMap(ext, 0, 21);
        extended = ext[504] !== 0;
      }
      header.sparse = segs;
      header.realSize = parseNumber(block, 483, 12, "sparse real size");
    }
    if (longName !== undefined) header.name = longName;
    if (longLink !== undefined) header.linkname = longLink;
    longName = longLink = undefined;

    // PAX records (global first, then this entry's) override the header.
    let sparseMajor: string | undefined;
    let sparseName: string | undefined;
    let sparseRealSize: number | undefined;
    let sparseMap: SparseSegment[] | undefined;
    const sparse00: number[] = [];
    for (const { key, value } of [...globalPax, ...pax]) {
      const v = () => value.toString("utf8");
      if (key === "path") header.name = v();
      else if (key === "linkpath") header.linkname = v();
      else if (key === "size") size = header.size = header.realSize = parseDecimal(v(), "PAX size");
      else if (key === "uid") header.uid = parseDecimal(v(), "PAX uid");
      else if (key === "gid") header.gid = parseDecimal(v(), "PAX gid");
      else if (key === "mtime") header.mtime = parseTime(v(), "mtime");
      else if (key === "atime") header.atime = parseTime(v(), "atime");
      else if (key.startsWith("SCHILY.xattr.")) header.xattrs.set(key.slice("SCHILY.xattr.".length), value);
      else if (key === "GNU.sparse.major") sparseMajor = v();
      else if (key === "GNU.sparse.name") sparseName = v();
      else if (key === "GNU.sparse.realsize" || key === "GNU.sparse.size") sparseRealSize = parseDecimal(v(), key);
      else if (key === "GNU.sparse.map") sparseMap = parseSparseMap(v());
      else if (key === "GNU.sparse.offset" || key === "GNU.sparse.numbytes") sparse00.push(parseDecimal(v(), key));
    }
    pax = [];
    if (sparseName !== undefined) header.name = sparseName;
    let bodyBytes = size;
    let prefix = 0;
    if (sparseMajor === "1") {
      // PAX sparse 1.0: the map is at the start of the body, in decimal lines, padded to a block.
      const lines: number[] = [];
      let text = "";
      let consumed = 0;
      while (lines.length === 0 || lines.length < 1 + 2 * lines[0]) {
        const blk = await r.readExact(BLOCK, "a sparse map");
        consumed += BLOCK;
        text += blk.toString("latin1");
        const parts = text.split("\n");
        text = parts.pop() ?? "";
        for (const p of parts) {
          if (lines.length > 0 && lines.length >= 1 + 2 * lines[0]) break;
          lines.push(parseDecimal(p, "sparse map"));
        }
        if (consumed > MAX_META) throw corrupt("sparse map is too large");
      }
      const segs: SparseSegment[] = [];
      for (let i = 0; i < lines[0]; i++) segs.push({ offset: lines[1 + 2 * i], length: lines[2 + 2 * i] });
      header.sparse = segs;
      prefix = consumed;
      bodyBytes = size - consumed;
      if (bodyBytes < 0) throw corrupt(`sparse map of ${JSON.stringify(header.name)} is larger than the entry`);
    } else if (sparseMap !== undefined) {
      header.sparse = sparseMap;
    } else if (sparse00.length > 0) {
      if (sparse00.length % 2 !== 0) throw corrupt("GNU.sparse.offset/numbytes are unpaired");
      header.sparse = [];
      for (let i = 0; i < sparse00.length; i += 2) header.sparse.push({ offset: sparse00[i], length: sparse00[i + 1] });
    }
    if (header.sparse) {
      header.size = bodyBytes;
      header.realSize = sparseRealSize ?? header.realSize;
      const stored = header.sparse.reduce((a, s) => a + s.length, 0);
      if (stored !== bodyBytes) throw corrupt(`sparse map of ${JSON.stringify(header.name)} does not match its data`);
    }
    if (header.type !== "file") {
      // Only regular files carry a body; hardlinks with a size (allowed by PAX) are skipped over.
      header.size = 0;
    }

    const entrySize = header.type === "file" ? bodyBytes : 0;
    const what = `the body of ${JSON.stringify(header.name)}`;
    let read = 0;
    const body = (async function* () {
      for await (const c of r.stream(entrySize, what)) {
        read += c.length;
        yield c;
      }
    })();
    yield { header, body };
    await body.return(undefined);
    // whatever of the body was not read, plus padding up to the block boundary
    await r.skip(blocksOf(size) - prefix - read, what);
  }
}

// ---- writing ----

export interface WriteHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeSec: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

const TYPEFLAG: Record<TarEntryType, string> = { file: "0", link: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" };

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, "utf8"), value, Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), "latin1"), body]);
}

function octal(buf: Buffer, off: number, len: number, v: number): boolean {
  const s = v.toString(8);
  if (v < 0 || s.length > len - 1) return false;
  buf.write(s.padStart(len - 1, "0"), off, "latin1");
  buf[off + len - 1] = 0;
  return true;
}

function ascii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

function rawHeader(name: string, typeflag: string, mode: number, uid: number, gid: number, size: number, mtime: number, linkname: string, major: number, minor: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, "utf8");
  octal(b, 100, 8, mode);
  octal(b, 108, 8, uid);
  octal(b, 116, 8, gid);
  octal(b, 124, 12, size);
  octal(b, 136, 12, mtime);
  b.write(typeflag, 156, "latin1");
  b.write(linkname, 157, 100, "utf8");
  b.write("ustar\x0000", 257, "latin1");
  octal(b, 329, 8, major);
  octal(b, 337, 8, minor);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i];
  b.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  return b;
}

/** Header bytes for one entry: an optional PAX header block set, then the ustar block. */
export function encodeHeader(h: WriteHeader): Buffer {
  const records: Buffer[] = [];
  const linkname = h.linkname ?? "";
  const fitsName = ascii(h.name) && Buffer.byteLength(h.name) <= 100;
  if (!fitsName) records.push(paxRecord("path", Buffer.from(h.name, "utf8")));
  if (!(ascii(linkname) && Buffer.byteLength(linkname) <= 100)) records.push(paxRecord("linkpath", Buffer.from(linkname, "utf8")));
  const maxId = 0o7777777;
  if (h.uid > maxId) records.push(paxRecord("uid", Buffer.from(String(h.uid))));
  if (h.gid > maxId) records.push(paxRecord("gid", Buffer.from(String(h.gid))));
  if (h.size > 0o77777777777) records.push(paxRecord("size", Buffer.from(String(h.size))));
  if (h.mtimeSec < 0 || h.mtimeSec > 0o77777777777) records.push(paxRecord("mtime", Buffer.from(String(h.mtimeSec))));
  const xattrNames = [...(h.xattrs?.keys() ?? [])].sort();
  for (const k of xattrNames) records.push(paxRecord(`SCHILY.xattr.${k}`, h.xattrs?.get(k) ?? Buffer.alloc(0)));
  const shortName = fitsName ? h.name : asciiPrefix(h.name, 100);
  const main = rawHeader(
    shortName,
    TYPEFLAG[h.type],
    h.mode & 0o7777,
    h.uid > maxId ? 0 : h.uid,
    h.gid > maxId ? 0 : h.gid,
    h.size > 0o77777777777 ? 0 : h.size,
    h.mtimeSec < 0 || h.mtimeSec > 0o77777777777 ? 0 : h.mtimeSec,
    ascii(linkname) && Buffer.byteLength(linkname) <= 100 ? linkname : asciiPrefix(linkname, 100),
    h.devmajor ?? 0,
    h.devminor ?? 0,
  );
  if (records.length === 0) return main;
  const data = Buffer.concat(records);
  const base = h.name.replace(/\/+$/, "").split("/").pop() ?? "";
  const dir = h.name.replace(/\/+$/, "").split("/").slice(0, -1).join("/");
  const paxName = asciiPrefix((dir ? dir + "/" : "") + "PaxHeaders.0/" + base, 100);
  const paxHead = rawHeader(paxName, "x", 0o644, 0, 0, data.length, h.mtimeSec < 0 || h.mtimeSec > 0o77777777777 ? 0 : h.mtimeSec, "", 0, 0);
  return Buffer.concat([paxHead, data, Buffer.alloc(padding(data.length)), main]);
}

function asciiPrefix(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, "_").slice(0, max);
}

/** Zero bytes needed after n bytes of body to reach the block boundary. */
export function padding(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
