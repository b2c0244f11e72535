// Names: the lookups the embedded DNS server answers from (names and aliases on a network, PTR,
// upstream resolvers), the DNS-served networks it follows as they come and go, and the lines of a
// running container's /etc/hosts that a live connect or disconnect adds or removes.

import { readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { isErrno } from "../common/errors.js";
import type { EndpointRecord, NetworkRecord } from "./types.js";
import { shortName, type DnsNetwork, type NetworkCore } from "./core.js";

export class Names {
  private readonly dnsListeners = new Set<(action: "create" | "destroy", n: DnsNetwork) => void>();

  constructor(private readonly core: NetworkCore) {}

  /**
   * Addresses for a name on one network: container name, network alias, short id (12 hex), or
   * <name>.<network>, as Docker's embedded DNS answers them. family 4 gives A, 6 gives AAAA.
   */
  resolve(networkId: string, name: string, family: 4 | 6): string[] {
    const n = this.core.networks.get(networkId);
    if (!n) return [];
    let q = name.toLowerCase().replace(/\.$/, "");
    const suffix = `.${n.Name.toLowerCase()}`;
    if (q.endsWith(suffix)) q = q.slice(0, -suffix.length);
    const out: string[] = [];
    for (const sb of this.core.sandboxes.values()) {
      for (const ep of sb.endpoints) {
        if (ep.networkId !== networkId) continue;
        if (!ep.dnsNames.some((d) => d.toLowerCase() === q)) continue;
        const ip = family === 4 ? ep.ipv4 : ep.ipv6;
        if (ip) out.push(ip);
      }
    }
    return out;
  }

  /** PTR: "<container name>.<network name>" for a container address on a user-defined network. */
  reverse(ip: string): string | undefined {
    for (const sb of this.core.sandboxes.values()) {
      for (const ep of sb.endpoints) {
        if (ep.ipv4 !== ip && ep.ipv6 !== ip) continue;
        const n = this.core.networks.get(ep.networkId);
        if (n && n.Name !== "bridge") return `${shortName(sb.name)}.${n.Name}`;
      }
    }
    return undefined;
  }

  /** The networks the embedded DNS serves (user-defined bridge networks) and where. */
  dnsNetworks(): DnsNetwork[] {
    return [...this.core.networks.values()].filter(servesDns).map(dnsNetwork);
  }

  /** Whether a network forwards nothing outside (the DNS server must not forward its queries). */
  isInternal(networkId: string): boolean {
    return this.core.networks.get(networkId)?.Internal ?? false;
  }

  /**
   * The resolvers the embedded DNS forwards other names to, for a query from sourceIp: that
   * container's --dns servers, or the host's nameservers (loopback ones excluded: they are
   * unreachable from a container's namespace and mean a local stub the daemon can reach itself).
   */
  upstreams(sourceIp?: string): string[] {
    if (sourceIp) {
      for (const sb of this.core.sandboxes.values()) {
        if (sb.dns.length && sb.endpoints.some((e) => e.ipv4 === sourceIp || e.ipv6 === sourceIp)) return [...sb.dns];
      }
    }
    let text = "";
    try {
      text = readFileSync(this.core.opts.hostResolvConf ?? "/etc/resolv.conf", "utf8");
    } catch {
      return [];
    }
    return text
      .split("\n")
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((x): x is string => !!x);
  }

  /** Follows DNS-served networks as they are created and removed. Returns an unsubscribe function. */
  onDnsNetwork(listener: (action: "create" | "destroy", n: DnsNetwork) => void): () => void {
    this.dnsListeners.add(listener);
    return () => this.dnsListeners.delete(listener);
  }

  /** Tells the listeners that a network the embedded DNS serves was created or removed. */
  notify(action: "create" | "destroy", n: NetworkRecord): void {
    if (!servesDns(n)) return;
    for (const l of this.dnsListeners) {
      try {
        l(action, dnsNetwork(n));
      } catch (err) {
        this.core.log(`DNS listener: ${(err as Error).message}`);
      }
    }
  }
}

function servesDns(n: NetworkRecord): boolean {
  return n.Driver === "bridge" && n.Name !== "bridge" && n.pools.some((p) => !p.subnet.includes(":"));
}

function dnsNetwork(n: NetworkRecord): DnsNetwork {
  return { networkId: n.Id, name: n.Name, address: n.pools.find((p) => !p.subnet.includes(":"))!.gateway, internal: n.Internal };
}

/** The /etc/hosts records of a container's own addresses on one endpoint ("<ip>\t<hostname>"). */
export function hostsRecords(ep: EndpointRecord, hostname: string): string[] {
  return [ep.ipv4, ep.ipv6].filter((ip): ip is string => !!ip).map((ip) => `${ip}\t${hostname}`);
}

/**
 * Adds and removes lines of a running container's /etc/hosts in place: the file is bind-mounted
 * into the container, so a rename would leave the container reading the old one; lines the
 * container's own processes added stay.
 */
export async function editHostsFile(file: string, add: string[], remove: string[]): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  const drop = new Set(remove);
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const kept = lines.filter((l) => !drop.has(l));
  for (const l of add) if (!kept.includes(l)) kept.push(l);
  const next = kept.length ? `${kept.join("\n")}\n` : "";
  if (next !== text) await writeFile(file, next);
}
