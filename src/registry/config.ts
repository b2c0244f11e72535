// The daemon's registry settings as dockerd reads them from daemon.json: "insecure-registries"
// (CIDRs, whose registries are reached over plain HTTP, and host[:port] names) and
// "registry-mirrors" (for Docker Hub pulls, tried before it); and the RegistryConfig that
// /info shows for them (IndexConfigs, InsecureRegistryCIDRs, Mirrors).
//
// 127.0.0.0/8 and ::1/128 are always insecure, as in dockerd. A CIDR matches a registry named by
// an IP address in it, or by a host name one of whose addresses is in it: the name is resolved,
// as dockerd's isCIDRMatch does (a name that does not resolve matches no CIDR).

import { lookup } from "node:dns/promises";
import net from "node:net";
import { invalid } from "../common/errors.js";
import type { RegistryOptions } from "./client.js";

const DOCKER_HUB_DOMAIN = "docker.io";

/** dockerd's built-in insecure ranges, in the order /info lists them. */
export const DEFAULT_INSECURE_CIDRS = ["::1/128", "127.0.0.0/8"];

export interface IndexInfo {
  Name: string;
  Mirrors: string[];
  Secure: boolean;
  Official: boolean;
}

/** /info's RegistryConfig. */
export interface RegistryConfigInfo {
  AllowNondistributableArtifactsCIDRs: null;
  AllowNondistributableArtifactsHostnames: null;
  InsecureRegistryCIDRs: string[];
  IndexConfigs: Record<string, IndexInfo>;
  Mirrors: string[] | null;
}

/** A CIDR in canonical form ("10.1.0.0/16"), or undefined when s is not one. */
export function parseCIDR(s: string): string | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const [ip, bitsText] = [m[1]!, m[2]!];
  const family = net.isIP(ip);
  if (family === 0) return undefined;
  const bits = Number(bitsText);
  if (bits > (family === 4 ? 32 : 128)) return undefined;
  if (family === 4) {
    const n = ip.split(".").reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n);
    const masked = bits === 0 ? 0n : n & (((1n << BigInt(bits)) - 1n) << BigInt(32 - bits));
    return `${[24n, 16n, 8n, 0n].map((sh) => String((masked >> sh) & 255n)).join(".")}/${bits}`;
  }
  return `${ip.toLowerCase()}/${bits}`;
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split(".").reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const parse = (part: string | undefined) => (part ? part.split(":").filter((x) => x !== "") : []);
  let h = parse(head);
  let t = parse(tail);
  const expand = (groups: string[]) =>
    groups.flatMap((g) => {
      if (g.includes(".")) {
        const v = ipv4ToBigInt(g);
        return [((v >> 16n) & 0xffffn).toString(16), (v & 0xffffn).toString(16)];
      }
      return [g];
    });
  h = expand(h);
  t = expand(t);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Whether the address (a literal IP) lies in the CIDR. */
export function cidrContains(cidr: string, ip: string): boolean {
  // an IPv4 address written as IPv6 (::ffff:10.1.2.3) is matched as IPv4, as Go's IPNet.Contains does
  const mapped = /^::ffff:(\d{1,3}(\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) ip = mapped[1]!;
  const [base, bitsText] = cidr.split("/") as [string, string];
  const family = net.isIP(base);
  if (family === 0 || net.isIP(ip) !== family) return false;
  const width = family === 4 ? 32 : 128;
  const bits = BigInt(Number(bitsText));
  const toInt = family === 4 ? ipv4ToBigInt : ipv6ToBigInt;
  const shift = BigInt(width) - bits;
  return toInt(base) >> shift === toInt(ip) >> shift;
}

/** The host part of "host[:port]" (brackets of an IPv6 address removed). */
function hostOf(domain: string): string {
  if (domain.startsWith("[")) return domain.slice(1, domain.indexOf("]"));
  const colon = domain.lastIndexOf(":");
  return colon === -1 || domain.indexOf(":") !== colon ? domain : domain.slice(0, colon);
}

/** A host name's addresses, from the system's resolver (/etc/hosts, then DNS). */
export type HostResolver = (host: string) => Promise<string[]>;

export const systemResolver: HostResolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Whether cove reaches this registry over plain HTTP, as dockerd's isSecureIndex decides it: a
 * name listed in insecureRegistries, or one whose address (the literal one, or those the name
 * resolves to) lies in one of the insecure CIDRs (127.0.0.0/8 and ::1/128 always). Docker Hub
 * is insecure only when listed by name.
 */
export async function isInsecureRegistry(domain: string, options: Pick<RegistryOptions, "insecureRegistries" | "resolveHost"> = {}): Promise<boolean> {
  const host = hostOf(domain).toLowerCase();
  const entries = options.insecureRegistries ?? [];
  if (entries.some((e) => e === domain.toLowerCase() || e === host)) return true;
  if (domain === DOCKER_HUB_DOMAIN || domain === "index.docker.io") return false;
  if (host === "localhost") return true; // what it resolves to on every host; no lookup needed
  const cidrs = [...DEFAULT_INSECURE_CIDRS, ...entries].flatMap((e) => parseCIDR(e) ?? []);
  let addresses: string[];
  if (net.isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = await (options.resolveHost ?? systemResolver)(host);
    } catch {
      addresses = []; // unresolvable here (or only through a proxy): secure, as with dockerd
    }
  }
  return addresses.some((a) => cidrs.some((c) => cidrContains(c, a)));
}

/**
 * Checks one "insecure-registries" entry as dockerd does: a CIDR, or a host[:port] without a
 * scheme or a path. Returns it in canonical form.
 */
export function validateInsecureRegistry(entry: string): string {
  if (entry.includes("://")) throw invalid(`insecure registry ${entry} should not contain '://'`, { code: "config.insecure-registry", field: "insecure-registries" });
  const cidr = parseCIDR(entry);
  if (cidr) return cidr;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:(\d{1,5}))?$/.exec(entry);
  if (!m || (m[6] !== undefined && Number(m[6]) > 65535)) {
    throw invalid(`insecure registry ${entry} is not valid: give a CIDR (10.0.0.0/8) or a host[:port] (registry.local:5000)`, {
      code: "config.insecure-registry",
      field: "insecure-registries",
    });
  }
  return entry.toLowerCase();
}

/** Checks one "registry-mirrors" entry as dockerd's ValidateMirror does; returns it as dockerd shows it ("https://mirror.local/"). */
export function normalizeMirror(entry: string): string {
  let u: URL;
  try {
    u = new URL(entry);
  } catch {
    throw invalid(`invalid mirror: "${entry}" is not a valid URI`, { code: "config.mirror", field: "registry-mirrors" });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw invalid(`invalid mirror: unsupported scheme "${u.protocol.replace(/:$/, "")}" in "${entry}"`, { code: "config.mirror", field: "registry-mirrors" });
  if (u.username || u.password) throw invalid(`invalid mirror: username/password not allowed in URI "${entry}"`, { code: "config.mirror", field: "registry-mirrors" });
  if ((u.pathname !== "" && u.pathname !== "/") || u.search || u.hash) {
    throw invalid(`invalid mirror: path, query, or fragment at end of the URI "${entry}"`, { code: "config.mirror", field: "registry-mirrors" });
  }
  return `${u.protocol}//${u.host}/`;
}

/** /info's RegistryConfig for these settings, as dockerd shows it. */
export function registryConfigInfo(options: Pick<RegistryOptions, "insecureRegistries" | "mirrors"> = {}): RegistryConfigInfo {
  const mirrors = options.mirrors ?? [];
  const cidrs: string[] = [];
  const hosts: string[] = [];
  for (const e of options.insecureRegistries ?? []) {
    const cidr = parseCIDR(e);
    if (cidr) {
      if (!cidrs.includes(cidr) && !DEFAULT_INSECURE_CIDRS.includes(cidr)) cidrs.push(cidr);
    } else if (!hosts.includes(e)) hosts.push(e);
  }
  const entries: [string, IndexInfo][] = hosts.filter((h) => h !== DOCKER_HUB_DOMAIN).map((h) => [h, { Name: h, Mirrors: [], Secure: false, Official: false }]);
  entries.push([DOCKER_HUB_DOMAIN, { Name: DOCKER_HUB_DOMAIN, Mirrors: [...mirrors], Secure: !hosts.includes(DOCKER_HUB_DOMAIN), Official: true }]);
  // keys in the order Go writes a map's: sorted
  const index = Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return {
    AllowNondistributableArtifactsCIDRs: null,
    AllowNondistributableArtifactsHostnames: null,
    InsecureRegistryCIDRs: [...cidrs, ...DEFAULT_INSECURE_CIDRS],
    IndexConfigs: index,
    Mirrors: mirrors.length > 0 ? [...mirrors] : null,
  };
}
