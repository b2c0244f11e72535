// bcrypt ($2a$, $2b$, $2y$), as htpasswd files hold it (htpasswd -B, Python's crypt, distribution's
// htpasswd auth), for checking passwords only. Node's crypto has no Blowfish fit for bcrypt's
// expensive key schedule, and cove adds no native dependency for it, so the cipher is here in
// full. Its initial state (the P-array and the four S-boxes) is, by Blowfish's definition, the
// hexadecimal digits of pi's fractional part; they are computed once with BigInt (Machin's
// formula) instead of being pasted in as 1042 constants.

import { timingSafeEqual } from "node:crypto";

const WORDS = 18 + 4 * 256;

let piWords: Uint32Array | undefined;

/** atan(1/x) scaled by 2^bits, by its Taylor series. */
function arctanInv(x: bigint, one: bigint): bigint {
  let sum = 0n;
  let term = one / x;
  const x2 = x * x;
  for (let n = 1n, sign = 1n; term !== 0n; n += 2n, sign = -sign) {
    sum += (sign * term) / n;
    term /= x2;
  }
  return sum;
}

/** The first WORDS 32-bit words of pi's fractional part: Blowfish's initial P and S. */
export function blowfishInit(): Uint32Array {
  if (piWords) return piWords;
  const bits = BigInt(WORDS * 32 + 64);
  const one = 1n << bits;
  const pi = 16n * arctanInv(5n, one) - 4n * arctanInv(239n, one);
  const frac = (pi - 3n * one) >> 64n; // the fraction in WORDS*32 bits, the guard bits dropped
  const words = new Uint32Array(WORDS);
  for (let i = 0; i < WORDS; i++) words[i] = Number((frac >> BigInt((WORDS - 1 - i) * 32)) & 0xffffffffn);
  piWords = words;
  return words;
}

class Blowfish {
  readonly p: Uint32Array;
  readonly s: Uint32Array; // the four S-boxes, 256 words each
  private readonly lr = new Uint32Array(2);

  constructor() {
    const init = blowfishInit();
    this.p = init.slice(0, 18);
    this.s = init.slice(18);
  }

  private f(x: number): number {
    const s = this.s;
    return ((((s[x >>> 24]! + s[256 + ((x >>> 16) & 0xff)]!) >>> 0) ^ s[512 + ((x >>> 8) & 0xff)]!) + s[768 + (x & 0xff)]!) >>> 0;
  }

  /** Enciphers lr in place. */
  encipher(lr: Uint32Array): void {
    let l = lr[0]!;
    let r = lr[1]!;
    const p = this.p;
    for (let i = 0; i < 16; i += 2) {
      l = (l ^ p[i]!) >>> 0;
      r = (r ^ this.f(l)) >>> 0;
      r = (r ^ p[i + 1]!) >>> 0;
      l = (l ^ this.f(r)) >>> 0;
    }
    lr[0] = (r ^ p[17]!) >>> 0;
    lr[1] = (l ^ p[16]!) >>> 0;
  }

  /** bcrypt's ExpandKey(state, salt, key); salt undefined means a zero salt. */
  expand(key: Uint8Array, salt: Uint8Array | undefined): void {
    let kpos = 0;
    const keyWord = () => {
      let w = 0;
      for (let i = 0; i < 4; i++) {
        w = ((w << 8) | key[kpos]!) >>> 0;
        kpos = (kpos + 1) % key.length;
      }
      return w;
    };
    for (let i = 0; i < 18; i++) this.p[i] = (this.p[i]! ^ keyWord()) >>> 0;
    let spos = 0;
    const saltWord = () => {
      if (!salt) return 0;
      let w = 0;
      for (let i = 0; i < 4; i++) {
        w = ((w << 8) | salt[spos]!) >>> 0;
        spos = (spos + 1) % salt.length;
      }
      return w;
    };
    const lr = this.lr;
    lr[0] = 0;
    lr[1] = 0;
    const fill = (arr: Uint32Array) => {
      for (let i = 0; i < arr.length; i += 2) {
        lr[0] = (lr[0]! ^ saltWord()) >>> 0;
        lr[1] = (lr[1]! ^ saltWord()) >>> 0;
        this.encipher(lr);
        arr[i] = lr[0]!;
        arr[i + 1] = lr[1]!;
      }
    };
    fill(this.p);
    fill(this.s);
  }
}

const B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function encode64(data: Uint8Array, length: number): string {
  let out = "";
  let i = 0;
  while (i < length) {
    let c1 = data[i++]!;
    out += B64[(c1 >> 2) & 0x3f];
    c1 = (c1 & 0x03) << 4;
    if (i >= length) {
      out += B64[c1 & 0x3f];
      break;
    }
    let c2 = data[i++]!;
    c1 |= (c2 >> 4) & 0x0f;
    out += B64[c1 & 0x3f];
    c1 = (c2 & 0x0f) << 2;
    if (i >= length) {
      out += B64[c1 & 0x3f];
      break;
    }
    c2 = data[i++]!;
    c1 |= (c2 >> 6) & 0x03;
    out += B64[c1 & 0x3f];
    out += B64[c2 & 0x3f];
  }
  return out;
}

function decode64(text: string, length: number): Uint8Array | undefined {
  const out = new Uint8Array(length);
  const val = (ch: string | undefined) => (ch === undefined ? -1 : B64.indexOf(ch));
  let off = 0;
  let pos = 0;
  while (off < text.length - 1 && pos < length) {
    const c1 = val(text[off++]);
    const c2 = val(text[off++]);
    if (c1 < 0 || c2 < 0) return undefined;
    out[pos++] = ((c1 << 2) | ((c2 & 0x30) >> 4)) & 0xff;
    if (pos >= length || off >= text.length) break;
    const c3 = val(text[off++]);
    if (c3 < 0) return undefined;
    out[pos++] = (((c2 & 0x0f) << 4) | ((c3 & 0x3c) >> 2)) & 0xff;
    if (pos >= length || off >= text.length) break;
    const c4 = val(text[off++]);
    if (c4 < 0) return undefined;
    out[pos++] = (((c3 & 0x03) << 6) | c4) & 0xff;
  }
  return pos === length ? out : undefined;
}

const HASH = /^\$2([aby])\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;

/** Whether `hash` is a bcrypt hash this module can check. */
export function isBcrypt(hash: string): boolean {
  const m = HASH.exec(hash);
  return m !== null && Number(m[2]) >= 4 && Number(m[2]) <= 31;
}

/** The bcrypt hash of password with the cost and salt of `setting` ("$2b$10$<22 salt chars>", or a whole hash). */
export function bcryptHash(password: string, setting: string): string {
  const m = /^\$2([aby])\$(\d\d)\$([./A-Za-z0-9]{22})/.exec(setting);
  const cost = m ? Number(m[2]) : NaN;
  if (!m || cost < 4 || cost > 31) throw new Error(`not a bcrypt setting: ${setting.slice(0, 7)}...`);
  const salt = decode64(m[3]!, 16);
  if (!salt) throw new Error("not a bcrypt salt");
  // the key: the password's bytes and a NUL, at most 72 bytes ($2b$ and $2y$ truncate so; $2a$ as OpenBSD's does today)
  const pw = Buffer.from(password, "utf8");
  const key = new Uint8Array(Math.min(pw.length + 1, 72));
  key.set(pw.subarray(0, key.length));
  const bf = new Blowfish();
  bf.expand(key, salt);
  for (let i = 0, rounds = 2 ** cost; i < rounds; i++) {
    bf.expand(key, undefined);
    bf.expand(salt, undefined);
  }
  const text = Buffer.from("OrpheanBeholderScryDoubt", "latin1");
  const words = new Uint32Array(6);
  for (let i = 0; i < 6; i++) words[i] = text.readUInt32BE(i * 4);
  const lr = new Uint32Array(2);
  for (let j = 0; j < 6; j += 2) {
    lr[0] = words[j]!;
    lr[1] = words[j + 1]!;
    for (let i = 0; i < 64; i++) bf.encipher(lr);
    words[j] = lr[0]!;
    words[j + 1] = lr[1]!;
  }
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeUInt32BE(words[i]!, i * 4);
  return `$2${m[1]}$${m[2]}$${encode64(salt, 16)}${encode64(out, 23)}`;
}

/** Whether password matches the bcrypt hash (in constant time over the hash). False for a hash that is not bcrypt. */
export function bcryptVerify(password: string, hash: string): boolean {
  if (!isBcrypt(hash)) return false;
  const got = Buffer.from(bcryptHash(password, hash));
  const want = Buffer.from(hash);
  return got.length === want.length && timingSafeEqual(got, want);
}
