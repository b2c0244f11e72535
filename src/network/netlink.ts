// rtnetlink from TypeScript: the messages the bridge driver needs (links, veth pairs, bridges,
// addresses, routes), built and parsed here and carried by the addon's netlink socket. One socket
// per namespace; requests are synchronous (a request and its ACK take microseconds), so a
// container's network is configured without spawning a process.

import { closeSync } from "node:fs";
import { isIPv4 } from "node:net";
import { CoveError, systemError } from "../common/errors.js";
import { addon } from "../native/addon.js";

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const F_REQUEST = 0x1;
const F_ACK = 0x4;
const F_DUMP = 0x300;
const F_REPLACE = 0x100;
const F_EXCL = 0x200;
const F_CREATE = 0x400;

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;
const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_IFALIAS = 20;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const NLA_F_NESTED = 0x8000;
const IFF_UP = 1;

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_F_NODAD = 0x02;

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;

export const AF_INET = 2;
export const AF_INET6 = 10;

export interface LinkInfo {
  index: number;
  name: string;
  up: boolean;
  mtu: number;
  master: number;
  kind: string;
  mac: string;
  /** The interface's alias (ip link set NAME alias TEXT); "" when none. */
  alias: string;
}

export interface RouteInfo {
  family: number;
  dst: string;
  dstLen: number;
  oif: number;
  table: number;
}

export interface AddressInfo {
  family: number;
  index: number;
  address: string;
  prefixLen: number;
}

type Attr = { type: number; value: Buffer | Attr[] };

function align4(n: number): number {
  return (n + 3) & ~3;
}

function encodeAttrs(attrs: Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const nested = Array.isArray(a.value);
    const body = nested ? encodeAttrs(a.value as Attr[]) : (a.value as Buffer);
    const head = Buffer.alloc(4);
    head.writeUInt16LE(4 + body.length, 0);
    head.writeUInt16LE(a.type | (nested ? NLA_F_NESTED : 0), 2);
    parts.push(head, body, Buffer.alloc(align4(body.length) - body.length));
  }
  return Buffer.concat(parts);
}

function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4 || off + len > buf.length) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

const str = (s: string): Buffer => Buffer.from(`${s}\0`);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const cstr = (b: Buffer | undefined): string => (b ? b.toString("latin1").replace(/\0.*$/s, "") : "");

/** An IP address as the 4 or 16 bytes netlink carries. */
export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  const [head = "", tail] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function ipString(b: Buffer): string {
  if (b.length === 4) return [...b].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::").replace(/:::+/, "::");
}

export function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(":").map((x) => parseInt(x, 16)));
}

function macString(b: Buffer | undefined): string {
  return b ? [...b].map((x) => x.toString(16).padStart(2, "0")).join(":") : "";
}

function ifinfomsg(index = 0, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(0, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/** A netlink error with the kernel's errno and extended-ack text. */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const ERRNO_NAMES: Record<number, string> = { 1: "EPERM", 2: "ENOENT", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV", 22: "EINVAL", 54: "EXFULL", 95: "EOPNOTSUPP", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 101: "ENETUNREACH" };

/** A NETLINK_ROUTE socket in one network namespace. */
export class Netlink {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private constructor(private readonly fd: number) {}

  /** Opens a socket in the namespace at netnsPath (a bind-mounted netns file), or the daemon's own. */
  static open(netnsPath?: string): Netlink {
    return new Netlink(addon().netlinkSocket(netnsPath ?? null));
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Sends one request and returns the payloads of its replies (a dump's messages, or none for an ACK). */
  private request(type: number, flags: number, header: Buffer, attrs: Attr[] = [], what = "netlink request"): Buffer[] {
    const body = Buffer.concat([header, encodeAttrs(attrs)]);
    const msg = Buffer.alloc(16 + body.length);
    const seq = ++this.seq;
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags | F_REQUEST | F_ACK, 6);
    msg.writeUInt32LE(seq, 8);
    body.copy(msg, 16);
    const a = addon();
    a.netlinkSend(this.fd, msg);
    const out: Buffer[] = [];
    for (;;) {
      const dgram = a.netlinkRecv(this.fd);
      let off = 0;
      while (off + 16 <= dgram.length) {
        const len = dgram.readUInt32LE(off);
        const mtype = dgram.readUInt16LE(off + 4);
        const mflags = dgram.readUInt16LE(off + 6);
        const mseq = dgram.readUInt32LE(off + 8);
        if (len < 16 || off + len > dgram.length) break;
        const payload = dgram.subarray(off + 16, off + len);
        off += align4(len);
        if (mseq !== seq) continue;
        if (mtype === NLMSG_DONE) return out;
        if (mtype === NLMSG_ERROR) {
          const err = -payload.readInt32LE(0);
          if (err === 0) return out;
          // extended ack: the echoed request is capped (flag 0x100) to its header, then TLVs
          const echoed = mflags & 0x100 ? 16 : payload.readUInt32LE(4);
          const tlvs = mflags & 0x200 ? parseAttrs(payload.subarray(4 + align4(echoed))) : new Map<number, Buffer>();
          const ext = cstr(tlvs.get(1));
          const code = ERRNO_NAMES[err] ?? `E${err}`;
          throw new NetlinkError(err, code, `${what}: ${code}${ext ? ` (${ext})` : ""}`);
        }
        out.push(payload);
      }
    }
  }

  links(): LinkInfo[] {
    return this.request(RTM_GETLINK, F_DUMP, ifinfomsg(), [], "listing links").map(parseLink);
  }

  link(name: string): LinkInfo | undefined {
    try {
      const [m] = this.request(RTM_GETLINK, 0, ifinfomsg(), [{ type: IFLA_IFNAME, value: str(name) }], `finding link ${name}`);
      return m ? parseLink(m) : undefined;
    } catch (err) {
      if (err instanceof NetlinkError && (err.code === "ENODEV" || err.code === "ENOENT")) return undefined;
      throw err;
    }
  }

  createBridge(name: string, opts: { mtu?: number } = {}): void {
    const attrs: Attr[] = [{ type: IFLA_IFNAME, value: str(name) }, { type: IFLA_LINKINFO, value: [{ type: IFLA_INFO_KIND, value: str("bridge") }] }];
    if (opts.mtu) attrs.push({ type: IFLA_MTU, value: u32(opts.mtu) });
    this.request(RTM_NEWLINK, F_CREATE | F_EXCL, ifinfomsg(), attrs, `creating bridge ${name}`);
  }

  /**
   * A veth pair: hostName stays here (enslaved to master when given), peerName is created directly
   * inside the namespace open on peerNsFd, with peerMac.
   */
  createVeth(hostName: string, peerName: string, peerNsFd: number, opts: { mtu?: number; master?: number; peerMac?: string } = {}): void {
    const peer: Attr[] = [{ type: IFLA_IFNAME, value: str(peerName) }, { type: IFLA_NET_NS_FD, value: u32(peerNsFd) }];
    if (opts.mtu) peer.push({ type: IFLA_MTU, value: u32(opts.mtu) });
    if (opts.peerMac) peer.push({ type: IFLA_ADDRESS, value: macBytes(opts.peerMac) });
    const peerInfo = Buffer.concat([ifinfomsg(), encodeAttrs(peer)]);
    const attrs: Attr[] = [
      { type: IFLA_IFNAME, value: str(hostName) },
      { type: IFLA_LINKINFO, value: [{ type: IFLA_INFO_KIND, value: str("veth") }, { type: IFLA_INFO_DATA, value: [{ type: VETH_INFO_PEER, value: peerInfo }] }] },
    ];
    if (opts.mtu) attrs.push({ type: IFLA_MTU, value: u32(opts.mtu) });
    if (opts.master) attrs.push({ type: IFLA_MASTER, value: u32(opts.master) });
    this.request(RTM_NEWLINK, F_CREATE | F_EXCL, ifinfomsg(0, IFF_UP, IFF_UP), attrs, `creating veth ${hostName}`);
  }

  setUp(name: string): void {
    this.request(RTM_NEWLINK, 0, ifinfomsg(0, IFF_UP, IFF_UP), [{ type: IFLA_IFNAME, value: str(name) }], `bringing ${name} up`);
  }

  /** Sets the interface's alias (cove marks the bridges it owns with it). */
  setAlias(name: string, alias: string): void {
    this.request(RTM_NEWLINK, 0, ifinfomsg(), [{ type: IFLA_IFNAME, value: str(name) }, { type: IFLA_IFALIAS, value: Buffer.from(alias) }], `setting the alias of ${name}`);
  }

  setMtu(name: string, mtu: number): void {
    this.request(RTM_NEWLINK, 0, ifinfomsg(), [{ type: IFLA_IFNAME, value: str(name) }, { type: IFLA_MTU, value: u32(mtu) }], `setting the MTU of ${name}`);
  }

  /** Deletes a link by name; false when it does not exist. */
  deleteLink(name: string): boolean {
    try {
      this.request(RTM_DELLINK, 0, ifinfomsg(), [{ type: IFLA_IFNAME, value: str(name) }], `deleting link ${name}`);
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && (err.code === "ENODEV" || err.code === "ENOENT")) return false;
      throw err;
    }
  }

  addresses(family = 0): AddressInfo[] {
    const h = Buffer.alloc(8);
    h.writeUInt8(family, 0);
    return this.request(RTM_GETADDR, F_DUMP, h, [], "listing addresses").map((m) => {
      const attrs = parseAttrs(m.subarray(8));
      const addr = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
      return { family: m.readUInt8(0), prefixLen: m.readUInt8(1), index: m.readUInt32LE(4), address: addr ? ipString(addr) : "" };
    });
  }

  /** Adds ip/prefixLen on the link (no duplicate address detection for IPv6: the allocator owns the subnet). */
  addAddress(index: number, ip: string, prefixLen: number): void {
    const v4 = isIPv4(ip);
    const h = Buffer.alloc(8);
    h.writeUInt8(v4 ? AF_INET : AF_INET6, 0);
    h.writeUInt8(prefixLen, 1);
    h.writeUInt8(v4 ? 0 : IFA_F_NODAD, 2);
    h.writeUInt8(RT_SCOPE_UNIVERSE, 3);
    h.writeUInt32LE(index, 4);
    const bytes = ipBytes(ip);
    this.request(RTM_NEWADDR, F_CREATE | F_REPLACE, h, [
      { type: IFA_LOCAL, value: bytes },
      { type: IFA_ADDRESS, value: bytes },
    ], `adding address ${ip}/${prefixLen}`);
  }

  /** A route in the main table; a default route when dst is omitted. */
  addRoute(r: { gateway?: string; dst?: string; dstLen?: number; oif?: number; family?: number }): void {
    const family = r.family ?? (r.gateway ? (isIPv4(r.gateway) ? AF_INET : AF_INET6) : AF_INET);
    const h = Buffer.alloc(12);
    h.writeUInt8(family, 0);
    h.writeUInt8(r.dstLen ?? 0, 1);
    h.writeUInt8(RT_TABLE_MAIN, 4);
    h.writeUInt8(RTPROT_BOOT, 5);
    h.writeUInt8(RT_SCOPE_UNIVERSE, 6);
    h.writeUInt8(RTN_UNICAST, 7);
    const attrs: Attr[] = [];
    if (r.dst) attrs.push({ type: RTA_DST, value: ipBytes(r.dst) });
    if (r.gateway) attrs.push({ type: RTA_GATEWAY, value: ipBytes(r.gateway) });
    if (r.oif) attrs.push({ type: RTA_OIF, value: u32(r.oif) });
    this.request(RTM_NEWROUTE, F_CREATE | F_REPLACE, h, attrs, `adding route via ${r.gateway ?? "link"}`);
  }

  routes(family: number): RouteInfo[] {
    const h = Buffer.alloc(12);
    h.writeUInt8(family, 0);
    return this.request(RTM_GETROUTE, F_DUMP, h, [], "listing routes").map((m) => {
      const attrs = parseAttrs(m.subarray(12));
      const dst = attrs.get(RTA_DST);
      const oif = attrs.get(RTA_OIF);
      return { family: m.readUInt8(0), dstLen: m.readUInt8(1), table: m.readUInt8(4), dst: dst ? ipString(dst) : family === AF_INET ? "0.0.0.0" : "::", oif: oif ? oif.readUInt32LE(0) : 0 };
    });
  }
}

function parseLink(m: Buffer): LinkInfo {
  const attrs = parseAttrs(m.subarray(16));
  const info = attrs.get(IFLA_LINKINFO);
  const kind = info ? cstr(parseAttrs(info).get(IFLA_INFO_KIND)) : "";
  return {
    index: m.readInt32LE(4),
    up: (m.readUInt32LE(8) & IFF_UP) !== 0,
    name: cstr(attrs.get(IFLA_IFNAME)),
    mtu: attrs.get(IFLA_MTU)?.readUInt32LE(0) ?? 0,
    master: attrs.get(IFLA_MASTER)?.readUInt32LE(0) ?? 0,
    kind,
    mac: macString(attrs.get(IFLA_ADDRESS)),
    alias: cstr(attrs.get(IFLA_IFALIAS)),
  };
}

/** Wraps a netlink failure as a cove error naming what failed. */
export function netlinkFailure(err: unknown, what: string): CoveError {
  if (err instanceof CoveError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return systemError(`${what}: ${msg}`, { code: "network.netlink" });
}
