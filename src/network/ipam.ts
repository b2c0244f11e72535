// Address arithmetic and allocation for cove's IPAM: subnets as bigints, free-subnet choice that
// avoids the host's routes and other networks, and per-network address allocation (gateway,
// ip-range, fixed addresses). Pure functions: the network service persists the allocations.

import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { invalid } from "../common/errors.js";

export interface Cidr {
  family: 4 | 6;
  /** The network address (host bits cleared). */
  base: bigint;
  prefix: number;
}

const bits = (f: 4 | 6) => (f === 4 ? 32 : 128);

export function parseIp(ip: string): { family: 4 | 6; value: bigint } {
  const f = isIP(ip);
  if (f === 4) return { family: 4, value: ip.split(".").reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n) };
  if (f === 6) {
    let s = ip;
    const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
    if (v4tail) {
      const v = parseIp(v4tail[1]!).value;
      s = s.slice(0, -v4tail[1]!.length) + `${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
    }
    const [head = "", tail] = s.split("::");
    const h = head ? head.split(":") : [];
    const t = tail ? tail.split(":") : [];
    const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
    return { family: 6, value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n) };
  }
  throw invalid(`invalid IP address: ${ip}`, { code: "network.ip-invalid" });
}

export function formatIp(family: 4 | 6, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join(".");
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  // the longest run of zero groups (at least two) becomes "::"
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

export function parseCidr(s: string, what = "subnet"): Cidr {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s.trim());
  if (!m || !isIP(m[1]!)) throw invalid(`invalid CIDR address: ${s}`, { code: "network.cidr-invalid", field: what });
  const { family, value } = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (prefix > bits(family)) throw invalid(`invalid CIDR address: ${s}`, { code: "network.cidr-invalid", field: what });
  return { family, base: value & mask(family, prefix), prefix };
}

export function mask(family: 4 | 6, prefix: number): bigint {
  const b = BigInt(bits(family));
  return ((1n << b) - 1n) ^ ((1n << (b - BigInt(prefix))) - 1n);
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.base)}/${c.prefix}`;
}

export function size(c: Cidr): bigint {
  return 1n << BigInt(bits(c.family) - c.prefix);
}

export function contains(c: Cidr, ip: bigint): boolean {
  return (ip & mask(c.family, c.prefix)) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(a.family, p)) === (b.base & mask(b.family, p));
}

/** Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s. */
export function defaultPools(): Cidr[] {
  const out: Cidr[] = [];
  for (let i = 17; i <= 31; i++) out.push(parseCidr(`172.${i}.0.0/16`));
  for (let i = 0; i < 256; i += 16) out.push(parseCidr(`192.168.${i}.0/20`));
  return out;
}

/** An address pool as dockerd's default-address-pools gives it: subnets of prefix `size` carved from `base`. */
export interface AddressPool {
  base: string;
  size: number;
}

/**
 * Parses one pool, from daemon.json's {"base": CIDR, "size": N} or the flag's "base=CIDR,size=N":
 * IPv4 only (IPv6 networks get a random unique-local /64), size no shorter than base's prefix.
 */
export function parseAddressPool(v: unknown): AddressPool {
  let base: unknown;
  let sizeValue: unknown;
  if (typeof v === "string") {
    const fields = new Map<string, string>();
    for (const part of v.split(",")) {
      const eq = part.indexOf("=");
      const key = eq > 0 ? part.slice(0, eq).trim() : "";
      if (key !== "base" && key !== "size") throw invalid(`invalid address pool "${v}": give base=CIDR,size=PREFIX (e.g. base=10.10.0.0/16,size=24)`, { code: "network.address-pool" });
      fields.set(key, part.slice(eq + 1).trim());
    }
    base = fields.get("base");
    sizeValue = fields.has("size") ? Number(fields.get("size")) : undefined;
  } else if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    const extra = Object.keys(v).filter((k) => k !== "base" && k !== "size");
    if (extra.length) throw invalid(`invalid address pool ${JSON.stringify(v)}: only "base" and "size" are known`, { code: "network.address-pool" });
    ({ base, size: sizeValue } = v as { base?: unknown; size?: unknown });
  }
  const shown = typeof v === "string" ? `"${v}"` : JSON.stringify(v);
  if (typeof base !== "string") throw invalid(`invalid address pool ${shown}: "base" must be a CIDR such as 10.10.0.0/16`, { code: "network.address-pool" });
  const c = parseCidr(base, "default-address-pools");
  if (c.family !== 4) throw invalid(`invalid address pool ${shown}: only IPv4 pools are supported`, { code: "network.address-pool", hint: "IPv6 networks without a subnet get a random unique-local /64" });
  if (typeof sizeValue !== "number" || !Number.isInteger(sizeValue) || sizeValue < c.prefix || sizeValue > 30) {
    throw invalid(`invalid address pool ${shown}: "size" must be a prefix length from ${c.prefix} (the base's) to 30`, { code: "network.address-pool" });
  }
  return { base: formatCidr(c), size: sizeValue };
}

/** The subnets of the pools in order, carved lazily (a /8 in /24s is 65536 of them). */
export function* poolSubnets(pools: AddressPool[]): Generator<Cidr> {
  for (const p of pools) {
    const c = parseCidr(p.base);
    const step = 1n << BigInt(32 - p.size);
    for (let b = c.base; b < c.base + size(c); b += step) yield { family: 4, base: b, prefix: p.size };
  }
}

/** The first pool that overlaps nothing in use (host routes, other networks). */
export function chooseSubnet(inUse: Cidr[], pools: Iterable<Cidr> = defaultPools()): Cidr | undefined {
  for (const p of pools) if (!inUse.some((u) => overlaps(p, u))) return p;
  return undefined;
}

/** A random unique-local /64 (RFC 4193), as Docker picks for IPv6 networks without a subnet. */
export function randomUlaSubnet(): Cidr {
  const r = randomBytes(7);
  let v = 0xfdn;
  for (const b of r) v = (v << 8n) | BigInt(b);
  return { family: 6, base: v << 64n, prefix: 64 };
}

/** One subnet of a network and its allocations. */
export interface PoolState {
  subnet: string;
  gateway: string;
  /** --ip-range: dynamic addresses come from here. */
  ipRange?: string;
  /** Addresses reserved by the user (AuxiliaryAddresses) and never handed out. */
  aux?: Record<string, string>;
  /** Allocated addresses (not the gateway). */
  allocated: string[];
}

/** Builds a pool, validating gateway and range against the subnet (dockerd's wording). */
export function makePool(subnet: string, gateway?: string, ipRange?: string, aux?: Record<string, string>): PoolState {
  const c = parseCidr(subnet);
  if (formatCidr(c) !== subnet.trim() && parseIp(subnet.split("/")[0]!).value !== c.base) {
    // Docker accepts host bits in the subnet but normalizes the network address
  }
  let gw: bigint;
  if (gateway) {
    const g = parseIp(gateway);
    if (g.family !== c.family || !contains(c, g.value)) throw invalid(`Invalid gateway ${gateway}: no matching subnet ${subnet}`, { code: "network.gateway" });
    gw = g.value;
  } else gw = c.base + 1n;
  if (size(c) < 4n && c.family === 4) throw invalid(`invalid subnet ${subnet}: too small for containers`, { code: "network.subnet-small" });
  const pool: PoolState = { subnet: formatCidr(c), gateway: formatIp(c.family, gw), allocated: [] };
  if (ipRange) {
    const r = parseCidr(ipRange, "ip-range");
    if (r.family !== c.family || r.prefix < c.prefix || !contains(c, r.base)) throw invalid(`Invalid ip-range ${ipRange}: it must be inside subnet ${subnet}`, { code: "network.ip-range" });
    pool.ipRange = formatCidr(r);
  }
  if (aux && Object.keys(aux).length) {
    for (const [k, v] of Object.entries(aux)) {
      const a = parseIp(v);
      if (a.family !== c.family || !contains(c, a.value)) throw invalid(`invalid auxiliary address ${k}=${v}: not in subnet ${subnet}`, { code: "network.aux" });
    }
    pool.aux = { ...aux };
  }
  return pool;
}

function reserved(pool: PoolState): Set<string> {
  return new Set([pool.gateway, ...pool.allocated, ...Object.values(pool.aux ?? {})]);
}

/** Allocates an address: `want` when given (it must be free and in the subnet), else the lowest free in the range. */
export function allocate(pool: PoolState, want?: string): string {
  const c = parseCidr(pool.subnet);
  const taken = reserved(pool);
  if (want) {
    const w = parseIp(want);
    const norm = formatIp(w.family, w.value);
    if (w.family !== c.family || !contains(c, w.value)) throw invalid(`no configured subnet or ip-range contain the IP address ${want}`, { code: "network.ip-outside" });
    if (taken.has(norm) || w.value === c.base || (c.family === 4 && w.value === c.base + size(c) - 1n)) {
      throw invalid(`Address already in use`, { code: "network.ip-in-use" });
    }
    pool.allocated.push(norm);
    return norm;
  }
  const range = pool.ipRange ? parseCidr(pool.ipRange) : c;
  const first = range.base === c.base ? range.base + 1n : range.base;
  let last = range.base + size(range) - 1n;
  if (c.family === 4 && last === c.base + size(c) - 1n) last--; // the broadcast address
  const limit = first + 65536n; // a bounded scan: networks this full are exhausted in practice
  for (let v = first; v <= last && v < limit; v++) {
    const s = formatIp(c.family, v);
    if (!taken.has(s)) {
      pool.allocated.push(s);
      return s;
    }
  }
  throw invalid(`no available IPv${c.family} addresses on this network's address pools: ${pool.subnet}`, { code: "network.exhausted" });
}

export function release(pool: PoolState, ip: string): void {
  const i = pool.allocated.indexOf(ip);
  if (i >= 0) pool.allocated.splice(i, 1);
}

/** A MAC address from an IPv4 address, the way Docker derives it (02:42 + the four octets). */
export function macFromIp(ip: string): string {
  const v = parseIp(ip).value;
  const octets = [0x02, 0x42, ...[24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 0xffn))];
  return octets.map((o) => o.toString(16).padStart(2, "0")).join(":");
}

export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((o) => o.toString(16).padStart(2, "0")).join(":");
}
