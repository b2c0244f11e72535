// Networks themselves: the predefined ones (host, none, the default bridge), create with its
// validation and address pools, remove, prune, inspect and list with Docker's filters.

import { conflict, invalid, notFound, unsupported } from "../common/errors.js";
import { ignoring } from "../common/ignore.js";
import { findPlugin } from "./cni.js";
import { chooseSubnet, contains, defaultPools, overlaps, formatCidr, makePool, parseCidr, parseIp, poolSubnets, randomUlaSubnet, type Cidr, type PoolState } from "./ipam.js";
import { AF_INET, AF_INET6, Netlink, type LinkInfo } from "./netlink.js";
import { deleteLinkQuiet, ensureBridge, linkExists } from "./host.js";
import type { IpamConfig, NetworkContainer, NetworkCreateRequest, NetworkRecord, NetworkResource } from "./types.js";
import { BRIDGE_OPT, forbidden, HOST_BINDING_OPT, ICC_OPT, MASQ_OPT, MTU_OPT, newId, now, PREDEFINED, shortName, type NetworkCore } from "./core.js";

export class Networks {
  constructor(private readonly core: NetworkCore) {}

  async ensurePredefined(): Promise<void> {
    const byName = (name: string) => [...this.core.networks.values()].find((n) => n.Name === name);
    for (const name of ["host", "none"]) {
      if (!byName(name)) await this.core.saveNetwork(this.putRecord(this.baseRecord(name, name === "host" ? "host" : "null", {})));
    }
    const def = this.core.opts.defaultBridge;
    const existing = byName("bridge");
    if (def === false) {
      if (existing) {
        this.core.networks.delete(existing.Id);
        await this.core.removeNetworkFile(existing.Id);
      }
      return;
    }
    const bridge = this.core.defaultBridgeName;
    const wanted = def?.subnet ? defaultBridgePool(def.subnet, def.gateway) : undefined;
    if (existing) {
      const samePool = !wanted || (existing.pools[0]?.subnet === wanted.subnet && existing.pools[0]?.gateway === wanted.gateway);
      if (existing.bridge === bridge && samePool) return;
      await this.reconfigureDefaultBridge(existing, bridge, wanted, def !== undefined && def.name !== undefined);
      return;
    }
    const rec = this.baseRecord("bridge", "bridge", {});
    this.configureDefaultBridge(rec, bridge, wanted ?? this.defaultBridgeSubnet(rec));
    this.putRecord(rec);
    await this.core.saveNetwork(rec);
  }

  /** The default bridge's pool when none is configured: 172.17.0.0/16 when free and no address pools are given, else the first free subnet of the pools. */
  private defaultBridgeSubnet(self: NetworkRecord): PoolState {
    const used = this.usedSubnets(self);
    const classic = parseCidr("172.17.0.0/16");
    if (!this.core.opts.addressPools && !used.some((u) => overlaps(u, classic))) return makePool("172.17.0.0/16");
    return makePool(formatCidr(this.freeSubnet(used)));
  }

  private configureDefaultBridge(rec: NetworkRecord, bridge: string, pool: PoolState): void {
    const def = this.core.opts.defaultBridge || undefined;
    rec.Options = {
      "com.docker.network.bridge.default_bridge": "true",
      [ICC_OPT]: "true",
      [MASQ_OPT]: "true",
      [HOST_BINDING_OPT]: "0.0.0.0",
      [BRIDGE_OPT]: bridge,
      [MTU_OPT]: String(def?.mtu ?? 1500),
    };
    rec.pools = [pool];
    rec.IPAM.Config = [{ Subnet: pool.subnet, Gateway: pool.gateway }];
    rec.bridge = bridge;
    rec.mtu = def?.mtu ?? 1500;
  }

  /**
   * The daemon was started with another default bridge name or address than its records hold
   * (--bridge, --bip, or a root that moved off the shared cove0): the record changes in place (its
   * id stays, so containers created on "bridge" keep it) while no container runs on it, and the
   * old interface goes when it was this instance's.
   */
  private async reconfigureDefaultBridge(rec: NetworkRecord, bridge: string, wanted: PoolState | undefined, explicit: boolean): Promise<void> {
    const running = [...this.core.sandboxes.values()].filter((sb) => sb.endpoints.some((e) => e.networkId === rec.Id));
    const now = `${rec.bridge} (${rec.pools.map((p) => `${p.gateway}/${p.subnet.split("/")[1]}`).join(", ")})`;
    if (running.length > 0 && !explicit && !wanted) {
      // a daemon that ran before bridges were named after the root: it keeps its bridge while its
      // containers run on it, and moves at a start when none does
      this.core.log(`the default bridge stays ${now} while ${running.map((sb) => shortName(sb.name)).join(", ")} run on it; this daemon's own is ${bridge} (stop them, or give --bridge ${rec.bridge} to keep it)`);
      return;
    }
    if (running.length > 0) {
      throw conflict(`the default bridge is ${now} and containers still run on it: it cannot become ${bridge}${wanted ? ` (${wanted.gateway}/${wanted.subnet.split("/")[1]})` : ""} now`, {
        code: "network.bridge-busy",
        hint: `stop ${running.map((sb) => shortName(sb.name)).join(", ")} first (with the daemon started as before), or start the daemon with the bridge settings it had`,
      });
    }
    const old = rec.bridge;
    this.configureDefaultBridge(rec, bridge, wanted ?? (old === bridge ? rec.pools[0]! : this.defaultBridgeSubnet(rec)));
    if (old) {
      const link = this.linkOf(old);
      if (link?.alias === this.core.owner) deleteLinkQuiet(old, this.core.log);
      else if (link && old !== bridge) this.core.log(`the default bridge moved from ${old} to ${bridge}; ${old} is not this daemon's and stays`);
    }
    await this.core.saveNetwork(rec);
    this.core.log(`the default bridge is now ${bridge} (${rec.pools[0]!.gateway}/${rec.pools[0]!.subnet.split("/")[1]}), was ${now}`);
  }

  private linkOf(name: string): LinkInfo | undefined {
    const nl = Netlink.open();
    try {
      return nl.link(name);
    } finally {
      nl.close();
    }
  }

  private baseRecord(name: string, driver: string, options: Record<string, string>): NetworkRecord {
    return {
      Name: name,
      Id: newId(),
      Created: now(),
      Scope: "local",
      Driver: driver,
      EnableIPv4: true,
      EnableIPv6: false,
      IPAM: { Driver: "default", Options: null, Config: [] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Options: options,
      Labels: {},
      pools: [],
    };
  }

  private putRecord(n: NetworkRecord): NetworkRecord {
    this.core.networks.set(n.Id, n);
    return n;
  }

  /** Subnets in use: the host's routes and every network's subnets (but those of `except` and of routes through its bridge). */
  private usedSubnets(except?: NetworkRecord): Cidr[] {
    const out: Cidr[] = [];
    const nl = Netlink.open();
    try {
      // a bridge of this instance's that is about to change: its own route is not a conflict
      const own = except?.bridge ? nl.link(except.bridge) : undefined;
      for (const family of [AF_INET, AF_INET6]) {
        for (const r of nl.routes(family)) {
          if (r.table !== 254 || r.dstLen === 0) continue;
          if (own && own.alias === this.core.owner && r.oif === own.index) continue;
          out.push(parseCidr(`${r.dst}/${r.dstLen}`));
        }
      }
    } finally {
      nl.close();
    }
    for (const n of this.core.networks.values()) if (n !== except) for (const p of n.pools) out.push(parseCidr(p.subnet));
    return out;
  }

  private freeSubnet(used: Cidr[]): Cidr {
    const pools = this.core.opts.addressPools;
    const c = chooseSubnet(used, pools ? poolSubnets(pools) : defaultPools());
    if (!c) {
      throw conflict(`could not find an available, non-overlapping IPv4 address pool among the ${pools ? "daemon's default-address-pools" : "defaults"} to assign to the network`, {
        code: "network.no-pool",
        hint: `give the network a --subnet that no route on the host covers${pools ? ", or give the daemon more default-address-pools" : ""}`,
      });
    }
    return c;
  }

  private resource(n: NetworkRecord): NetworkResource {
    const { bridge: _b, mtu: _m, pools: _p, userSubnets: _u, ...doc } = n;
    const containers: Record<string, NetworkContainer> = {};
    for (const sb of this.core.sandboxes.values()) {
      for (const ep of sb.endpoints) {
        if (ep.networkId !== n.Id) continue;
        containers[sb.containerId] = {
          Name: shortName(sb.name),
          EndpointID: ep.endpointId,
          MacAddress: ep.mac,
          IPv4Address: ep.ipv4 ? `${ep.ipv4}/${ep.ipv4Prefix}` : "",
          IPv6Address: ep.ipv6 ? `${ep.ipv6}/${ep.ipv6Prefix}` : "",
        };
      }
    }
    return { ...doc, IPAM: { ...doc.IPAM, Config: doc.IPAM.Config?.map((c) => ({ ...c })) ?? [] }, Options: { ...doc.Options }, Labels: { ...doc.Labels }, Containers: containers };
  }

  inspect(ref: string): NetworkResource {
    return this.resource(this.core.find(ref));
  }

  /** GET /networks with Docker's filters: driver, id, label, name, scope, type (builtin/custom), dangling. */
  list(filters: Record<string, string[]> = {}): NetworkResource[] {
    const known = new Set(["driver", "id", "label", "name", "scope", "type", "dangling"]);
    for (const k of Object.keys(filters)) if (!known.has(k)) throw invalid(`invalid filter '${k}'`, { code: "network.filter" });
    for (const t of filters.type ?? []) if (t !== "builtin" && t !== "custom") throw invalid(`invalid filter: 'type'='${t}'`, { code: "network.filter" });
    const out: NetworkResource[] = [];
    for (const n of this.core.networks.values()) {
      if (filters.driver?.length && !filters.driver.includes(n.Driver)) continue;
      if (filters.id?.length && !filters.id.some((i) => n.Id.startsWith(i))) continue;
      if (filters.name?.length && !filters.name.some((x) => n.Name.includes(x))) continue;
      if (filters.scope?.length && !filters.scope.includes(n.Scope)) continue;
      if (filters.type?.length && !filters.type.includes(PREDEFINED.has(n.Name) ? "builtin" : "custom")) continue;
      if (filters.label?.length && !filters.label.every((l) => labelMatches(n.Labels, l))) continue;
      const r = this.resource(n);
      if (filters.dangling?.length) {
        const want = filters.dangling[0] === "true" || filters.dangling[0] === "1";
        const dangling = !PREDEFINED.has(n.Name) && Object.keys(r.Containers).length === 0 && !this.hasAttachments(n.Id);
        if (want !== dangling) continue;
      }
      out.push(r);
    }
    return out.sort((a, b) => a.Name.localeCompare(b.Name));
  }

  private hasAttachments(networkId: string): boolean {
    for (const a of this.core.attachments.values()) if (a[networkId]) return true;
    return false;
  }

  // ------------------------------------------------------------------ create, remove, prune

  create(req: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
    return this.core.serial(async () => {
      const name = req.Name;
      if (!name) throw invalid("network name must not be empty", { code: "network.name" });
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalid(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { code: "network.name" });
      if (PREDEFINED.has(name)) throw forbidden(`${name} is a pre-defined network and cannot be created`, { code: "network.predefined" });
      if ([...this.core.networks.values()].some((n) => n.Name === name)) throw conflict(`network with name ${name} already exists`, { code: "network.exists" });
      const driver = req.Driver || "bridge";
      if (driver === "host" || driver === "null") throw forbidden(`only one instance of "${driver}" network is allowed`, { code: "network.predefined" });
      if (driver !== "bridge" && !findPlugin(driver, this.core.cniPath)) {
        throw notFound(`plugin "${driver}" not found`, { code: "network.driver", hint: `cove runs bridge networks itself and other drivers as CNI plugins from ${this.core.cniPath.join(":")}` });
      }
      if (req.IPAM?.Driver && req.IPAM.Driver !== "default") throw unsupported(`IPAM driver "${req.IPAM.Driver}" is not supported: cove has the default IPAM driver only`, { code: "network.ipam-driver" });
      if (req.ConfigOnly || req.ConfigFrom?.Network) throw unsupported("config-only networks are not supported", { code: "network.config-only" });
      if (req.Ingress) throw unsupported("ingress networks need swarm mode, which cove does not have", { code: "network.ingress" });
      if (req.Scope && req.Scope !== "local") throw unsupported(`scope "${req.Scope}" is not supported: cove networks are local`, { code: "network.scope" });
      const options = { ...(req.Options ?? {}) };
      const rec = this.baseRecord(name, driver, options);
      rec.Internal = !!req.Internal;
      rec.Attachable = !!req.Attachable;
      rec.EnableIPv6 = !!req.EnableIPv6;
      rec.Labels = { ...(req.Labels ?? {}) };
      rec.IPAM.Options = req.IPAM?.Options ? { ...req.IPAM.Options } : {};
      rec.userSubnets = false;
      const mtuText = options[MTU_OPT];
      if (mtuText !== undefined) {
        const mtu = Number(mtuText);
        if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid(`invalid MTU "${mtuText}": it must be a number between 68 and 65535`, { code: "network.mtu" });
        rec.mtu = mtu;
      }
      for (const k of [MASQ_OPT, ICC_OPT]) {
        if (options[k] !== undefined && !["true", "false"].includes(options[k]!)) throw invalid(`invalid value "${options[k]}" for option ${k}: use true or false`, { code: "network.option" });
      }
      // pools: the user's, else a free one (IPv4 always; IPv6 when enabled)
      const used = this.usedSubnets();
      const configs = req.IPAM?.Config ?? [];
      // inspect shows what the user configured (no gateway when none was given), and the
      // subnet and gateway the daemon chose otherwise, as Docker does
      const shown = new Map<PoolState, IpamConfig>();
      for (const c of configs) {
        if (!c.Subnet) {
          if (c.Gateway || c.IPRange) throw invalid("a gateway or ip-range needs a subnet", { code: "network.subnet-missing" });
          continue;
        }
        try {
          parseCidr(c.Subnet);
        } catch {
          throw invalid(`Invalid subnet ${c.Subnet} : invalid CIDR address: ${c.Subnet}`, { code: "network.cidr-invalid" });
        }
        const pool = makePool(c.Subnet, c.Gateway, c.IPRange, c.AuxiliaryAddresses);
        rec.userSubnets = true;
        shown.set(pool, { Subnet: pool.subnet, ...(pool.ipRange ? { IPRange: pool.ipRange } : {}), ...(c.Gateway ? { Gateway: pool.gateway } : {}), ...(pool.aux ? { AuxiliaryAddresses: { ...pool.aux } } : {}) });
        const cidr = parseCidr(pool.subnet);
        if (cidr.family === 6 && !rec.EnableIPv6) rec.EnableIPv6 = true;
        const clash = [...this.core.networks.values()].find((n) => n.pools.some((p) => overlapsCidr(p.subnet, pool.subnet)));
        if (clash) throw forbidden(`Pool overlaps with other one on this address space`, { code: "network.overlap", hint: `network ${clash.Name} has ${clash.pools.map((p) => p.subnet).join(", ")}` });
        if (rec.pools.some((p) => overlapsCidr(p.subnet, pool.subnet))) throw invalid(`invalid pool request: subnets ${pool.subnet} overlap`, { code: "network.overlap" });
        rec.pools.push(pool);
      }
      if (!rec.pools.some((p) => !p.subnet.includes(":"))) rec.pools.unshift(makePool(formatCidr(this.freeSubnet(used))));
      if (rec.EnableIPv6 && !rec.pools.some((p) => p.subnet.includes(":"))) rec.pools.push(makePool(formatCidr(randomUlaSubnet())));
      rec.IPAM.Config = rec.pools.map((p) => shown.get(p) ?? { Subnet: p.subnet, Gateway: p.gateway });
      if (driver === "bridge") {
        const bridge = options[BRIDGE_OPT] ?? `br-${rec.Id.slice(0, 12)}`;
        checkBridgeName(bridge);
        if ([...this.core.networks.values()].some((n) => n.bridge === bridge)) throw conflict(`bridge name ${bridge} is already used by another network`, { code: "network.bridge-name" });
        rec.bridge = bridge;
      } else if (driver === "macvlan" || driver === "ipvlan") {
        const parent = options.parent;
        if (!parent) throw invalid(`the ${driver} driver needs a parent interface: -o parent=<host interface>`, { code: "network.parent" });
        if (!linkExists(parent)) throw notFound(`-o parent interface was not found on the host: ${parent}`, { code: "network.parent" });
      }
      this.core.networks.set(rec.Id, rec);
      let madeBridge = false;
      try {
        if (rec.Driver === "bridge") madeBridge = ensureBridge(rec, this.core.owner);
        await this.core.saveNetwork(rec);
        await this.core.m.ports.applyFirewall();
      } catch (err) {
        this.core.networks.delete(rec.Id);
        // a bridge that was there before (another daemon's, the host's) stays
        if (rec.bridge && madeBridge) deleteLinkQuiet(rec.bridge, this.core.log);
        await this.core.removeNetworkFile(rec.Id);
        await this.core.m.ports.applyFirewall().catch(ignoring(`restore the firewall after network ${rec.Name} failed to be created`, this.core.log));
        throw err;
      }
      this.core.emit("create", rec, { type: rec.Driver });
      this.core.m.names.notify("create", rec);
      return { Id: rec.Id, Warning: "" };
    });
  }

  remove(ref: string): Promise<void> {
    return this.core.serial(async () => {
      const n = this.core.find(ref);
      if (PREDEFINED.has(n.Name)) throw forbidden(`${n.Name} is a pre-defined network and cannot be removed`, { code: "network.predefined" });
      const active = [...this.core.sandboxes.values()].filter((s) => s.endpoints.some((e) => e.networkId === n.Id));
      if (active.length) {
        throw forbidden(`error while removing network: network ${n.Name} id ${n.Id} has active endpoints`, { code: "network.in-use", hint: `disconnect or stop: ${active.map((s) => shortName(s.name)).join(", ")}` });
      }
      for (const [cid, a] of this.core.attachments) {
        if (a[n.Id]) {
          delete a[n.Id];
          await this.core.saveAttachments(cid);
        }
      }
      this.core.networks.delete(n.Id);
      if (n.bridge) deleteLinkQuiet(n.bridge, this.core.log);
      await this.core.removeNetworkFile(n.Id);
      await this.core.m.ports.applyFirewall();
      this.core.m.names.notify("destroy", n);
      this.core.emit("destroy", n, { type: n.Driver });
    });
  }

  /** POST /networks/prune: removes custom networks no container uses. */
  async prune(filters: Record<string, string[]> = {}): Promise<string[]> {
    for (const k of Object.keys(filters)) if (k !== "label" && k !== "label!" && k !== "until") throw invalid(`invalid filter '${k}'`, { code: "network.filter" });
    const removed: string[] = [];
    for (const n of [...this.core.networks.values()]) {
      if (PREDEFINED.has(n.Name)) continue;
      if ([...this.core.sandboxes.values()].some((s) => s.endpoints.some((e) => e.networkId === n.Id)) || this.hasAttachments(n.Id)) continue;
      if (filters.label?.length && !filters.label.every((l) => labelMatches(n.Labels, l))) continue;
      if (filters["label!"]?.some((l) => labelMatches(n.Labels, l))) continue;
      if (filters.until?.length && Date.parse(n.Created) > untilTime(filters.until[0]!)) continue;
      await this.remove(n.Id);
      removed.push(n.Name);
    }
    return removed;
  }
}

/** Fails unless name can be a bridge interface's: 1 to 15 characters of [a-zA-Z0-9_.-]. */
export function checkBridgeName(name: string, field = BRIDGE_OPT): void {
  if (name.length === 0 || name.length > 15 || !/^[a-zA-Z0-9_.-]+$/.test(name) || name === "." || name === "..") {
    throw invalid(`invalid bridge name "${name}": at most 15 characters of [a-zA-Z0-9_.-]`, { code: "network.bridge-name", field });
  }
}

/**
 * The default bridge's pool from --bip: dockerd's form is the bridge's address with the prefix
 * (172.18.0.1/16: gateway 172.18.0.1 on 172.18.0.0/16); a network address (172.18.0.0/16) gets
 * its first host as gateway.
 */
export function defaultBridgePool(bip: string, gateway?: string): PoolState {
  let c: Cidr;
  try {
    c = parseCidr(bip, "bip");
  } catch {
    throw invalid(`invalid --bip ${bip}: give the bridge's address with its prefix length`, { code: "network.bip", field: "bip", hint: "e.g. --bip 172.18.0.1/16 (bridge address 172.18.0.1 on 172.18.0.0/16)" });
  }
  if (c.family !== 4) throw invalid(`invalid --bip ${bip}: the default bridge's address must be IPv4`, { code: "network.bip", field: "bip" });
  const ip = parseIp(bip.split("/")[0]!).value;
  const broadcast = c.base + (1n << BigInt(32 - c.prefix)) - 1n;
  if (c.prefix > 30) throw invalid(`invalid --bip ${bip}: a /${c.prefix} leaves no addresses for containers`, { code: "network.bip", field: "bip" });
  if (ip === broadcast) throw invalid(`invalid --bip ${bip}: that is the subnet's broadcast address`, { code: "network.bip", field: "bip", hint: `give the bridge's address, e.g. ${formatCidr({ ...c, base: c.base + 1n })}` });
  const gw = gateway ?? (ip !== c.base && contains(c, ip) ? bip.split("/")[0] : undefined);
  return makePool(formatCidr(c), gw);
}

function overlapsCidr(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (x.family !== y.family) return false;
  const p = Math.min(x.prefix, y.prefix);
  const bitsN = x.family === 4 ? 32 : 128;
  const m = ((1n << BigInt(bitsN)) - 1n) ^ ((1n << BigInt(bitsN - p)) - 1n);
  return (x.base & m) === (y.base & m);
}

function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const eq = filter.indexOf("=");
  if (eq < 0) return filter in labels;
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

function untilTime(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const m = /^(\d+)(s|m|h)$/.exec(v);
  if (m) return Date.now() - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "s" | "m" | "h"];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid filter 'until=${v}'`, { code: "network.filter" });
  return t;
}
