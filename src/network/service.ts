// cove's network service: networks (bridge in process, host, none, macvlan/ipvlan and other CNI
// plugins), IPAM, container sandboxes (a network namespace per container, kept under
// <netnsDir>/<container id> by a bind mount, which the runtime joins by path), port publishing,
// the firewall, and the lookups the embedded DNS server answers from.
//
// State under <root>/network/ (written atomically):
//   networks/<id>.json     a network (Docker's JSON plus the bridge name and address pools)
//   containers/<id>.json   a container's attachments (NetworkingConfig, connect while stopped)
//   sandboxes/<id>.json    a running container's namespace, endpoints, addresses and ports;
//                          written before any kernel object is made, removed after they are gone
// Address allocations are rebuilt from the sandboxes at open, so a lease never outlives its
// container. reconcile() tears down every sandbox whose container is not running: after a daemon
// crash nothing (veth, netns, rule, lease, held port) is left behind.
//
// Why a namespace made before the container: the runtime joins it by path, so the container's
// network survives the daemon (live restore), a restart policy starts the container again in a
// fresh sandbox the same way, and container:<name> joins a stable path rather than a PID.

import { createHash, randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import net, { isIP } from "node:net";
import path from "node:path";
import { conflict, CoveError, type ErrorDetails, invalid, isErrno, notFound, systemError, unsupported } from "../common/errors.js";
import { writeFileAtomic } from "../common/fs.js";
import { addon } from "../native/addon.js";
import { DEFAULT_CNI_PATH, findPlugin, invokeCni } from "./cni.js";
import { Firewall, checkHostIp, ip6tablesAvailable, isAnyAddress, type FirewallNetwork, type FirewallPort } from "./firewall.js";
import { allocate, chooseSubnet, overlaps, formatCidr, macFromIp, makePool, parseCidr, parseIp, randomMac, randomUlaSubnet, release, type Cidr, type PoolState } from "./ipam.js";
import { AF_INET, AF_INET6, Netlink, netlinkFailure } from "./netlink.js";
import type { Attachment, EndpointRecord, EndpointSettings, IpamConfig, NetworkContainer, NetworkCreateRequest, NetworkRecord, NetworkResource, NetworkSettings, PortBinding, PortRecord, SandboxRecord } from "./types.js";

export const DEFAULT_NETNS_DIR = "/run/cove/netns";
export const DEFAULT_ROOT = "/var/lib/cove";
const BRIDGE_OPT = "com.docker.network.bridge.name";
const MTU_OPT = "com.docker.network.driver.mtu";
const MASQ_OPT = "com.docker.network.bridge.enable_ip_masquerade";
const ICC_OPT = "com.docker.network.bridge.enable_icc";
const HOST_BINDING_OPT = "com.docker.network.bridge.host_binding_ipv4";
const PREDEFINED = new Set(["bridge", "host", "none"]);

export interface NetworkEvent {
  Type: "network";
  Action: "create" | "destroy" | "connect" | "disconnect" | "remove";
  Actor: { ID: string; Attributes: Record<string, string> };
}

export interface DefaultBridgeOptions {
  /** The bridge interface (default cove0). */
  name?: string;
  /** Default 172.17.0.0/16, or the first free Docker pool when that collides. */
  subnet?: string;
  gateway?: string;
  mtu?: number;
}

export interface NetworkServiceOptions {
  /** The engine's state root; network state lives in <root>/network. */
  root: string;
  /** Where container namespaces are bind-mounted (default /run/cove/netns). */
  netnsDir?: string;
  /** Suffix of this instance's firewall chains (default: none for /var/lib/cove, a hash of root otherwise). */
  tag?: string;
  /** The default "bridge" network, or false for none (containers on "bridge" then fail to start). */
  defaultBridge?: DefaultBridgeOptions | false;
  /** Directories searched for CNI plugins (default /usr/lib/cni, /opt/cni/bin). */
  cniPath?: string[];
  /** The host's resolv.conf (upstream resolvers and search domains). */
  hostResolvConf?: string;
  events?: (e: NetworkEvent) => void;
  log?: (line: string) => void;
}

export interface SandboxRequest {
  containerId: string;
  /** The container's name (with or without the leading "/"). */
  name: string;
  hostname: string;
  /** HostConfig.NetworkMode, normalized ("bridge", "none", "host", "container:x", a network). */
  mode: string;
  portBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
  exposedPorts?: Record<string, unknown> | null;
  publishAll?: boolean;
  dns?: string[];
}

export interface Sandbox {
  /** The namespace file the runtime joins. */
  netns: string;
  record: SandboxRecord;
}

/** One live change the embedded DNS server follows. */
export interface DnsNetwork {
  networkId: string;
  name: string;
  /** The address the DNS server listens on for this network (its gateway). */
  address: string;
  internal: boolean;
}

const now = () => new Date().toISOString();
const forbidden = (message: string, details?: ErrorDetails) => new CoveError("forbidden", message, details);
const newId = () => randomBytes(32).toString("hex");
const shortName = (n: string) => (n.startsWith("/") ? n.slice(1) : n);

interface Held {
  close(): void;
}

/** A container as connect/disconnect see it; hostsPath and hostname let a live change edit its /etc/hosts. */
export interface LiveContainer {
  id: string;
  name: string;
  hostsPath?: string;
  hostname?: string;
}

export class NetworkService {
  readonly root: string;
  readonly netnsDir: string;
  private readonly opts: NetworkServiceOptions;
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly sandboxes = new Map<string, SandboxRecord>();
  private readonly attachments = new Map<string, Record<string, Attachment>>();
  private readonly held = new Map<string, Held[]>();
  /** Address releases waiting for the kernel to remove torn-down veths (see tearDown). */
  private readonly releasing = new Set<Promise<void>>();
  private readonly firewall: Firewall;
  private readonly cniPath: string[];
  private readonly dnsListeners = new Set<(action: "create" | "destroy", n: DnsNetwork) => void>();
  private readonly log: (line: string) => void;
  private lock: Promise<unknown> = Promise.resolve();

  private constructor(opts: NetworkServiceOptions) {
    this.opts = opts;
    this.root = path.join(opts.root, "network");
    this.netnsDir = opts.netnsDir ?? DEFAULT_NETNS_DIR;
    const tag = opts.tag ?? (path.resolve(opts.root) === DEFAULT_ROOT ? "" : createHash("sha256").update(path.resolve(opts.root)).digest("hex").slice(0, 8));
    this.firewall = new Firewall(tag, ip6tablesAvailable() ? [4, 6] : [4]);
    this.cniPath = opts.cniPath ?? DEFAULT_CNI_PATH;
    this.log = opts.log ?? (() => undefined);
  }

  /** Opens the service: loads state, makes the predefined networks, restores bridges and the firewall. */
  static async open(opts: NetworkServiceOptions): Promise<NetworkService> {
    const svc = new NetworkService(opts);
    for (const d of ["networks", "containers", "sandboxes"]) await mkdir(path.join(svc.root, d), { recursive: true, mode: 0o700 });
    await svc.prepareNetnsDir();
    await svc.load();
    await svc.ensurePredefined();
    for (const n of svc.networks.values()) if (n.Driver === "bridge") svc.ensureBridge(n);
    await svc.applyFirewall();
    return svc;
  }

  /** Runs fn after every earlier state change (allocations, sandboxes and the firewall change in order). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.lock.then(fn, fn);
    this.lock = r.catch(() => undefined);
    return r;
  }

  // ------------------------------------------------------------------ state

  private async load(): Promise<void> {
    for (const f of await readdir(path.join(this.root, "networks"))) {
      if (!f.endsWith(".json")) continue;
      const n = JSON.parse(await readFile(path.join(this.root, "networks", f), "utf8")) as NetworkRecord;
      for (const p of n.pools) p.allocated = [];
      this.networks.set(n.Id, n);
    }
    for (const f of await readdir(path.join(this.root, "containers"))) {
      if (!f.endsWith(".json")) continue;
      this.attachments.set(f.slice(0, -5), JSON.parse(await readFile(path.join(this.root, "containers", f), "utf8")) as Record<string, Attachment>);
    }
    for (const f of await readdir(path.join(this.root, "sandboxes"))) {
      if (!f.endsWith(".json")) continue;
      let sb: SandboxRecord;
      try {
        sb = JSON.parse(await readFile(path.join(this.root, "sandboxes", f), "utf8")) as SandboxRecord;
      } catch {
        continue;
      }
      this.sandboxes.set(sb.containerId, sb);
      for (const ep of sb.endpoints) {
        const n = this.networks.get(ep.networkId);
        if (!n) continue;
        for (const ip of [ep.ipv4, ep.ipv6]) {
          const pool = ip ? this.poolFor(n, ip) : undefined;
          if (pool && ip && !pool.allocated.includes(ip)) pool.allocated.push(ip);
        }
      }
    }
  }

  private async saveNetwork(n: NetworkRecord): Promise<void> {
    const copy = { ...n, pools: n.pools.map((p) => ({ ...p, allocated: [] })) };
    await writeFileAtomic(path.join(this.root, "networks", `${n.Id}.json`), JSON.stringify(copy), 0o600);
  }

  private async saveAttachments(containerId: string): Promise<void> {
    const a = this.attachments.get(containerId);
    const file = path.join(this.root, "containers", `${containerId}.json`);
    if (!a) await rm(file, { force: true });
    else await writeFileAtomic(file, JSON.stringify(a), 0o600);
  }

  private async saveSandbox(sb: SandboxRecord): Promise<void> {
    await writeFileAtomic(path.join(this.root, "sandboxes", `${sb.containerId}.json`), JSON.stringify(sb), 0o600);
  }

  /** The netns directory is a shared mount, so an unmount there reaches copies in containers' mount namespaces. */
  private async prepareNetnsDir(): Promise<void> {
    await mkdir(this.netnsDir, { recursive: true, mode: 0o755 });
    const a = addon();
    const c = a.constants;
    const mounts = readFileSync("/proc/self/mountinfo", "utf8");
    const isMount = mounts.split("\n").some((l) => l.split(" ")[4] === this.netnsDir);
    if (!isMount) a.mount(this.netnsDir, this.netnsDir, null, c.MS_BIND | c.MS_REC, null);
    try {
      a.mount(null, this.netnsDir, null, c.MS_SHARED | c.MS_REC, null);
    } catch {
      // already shared, or the host refuses: unmounts still work in the daemon's namespace
    }
  }

  private async ensurePredefined(): Promise<void> {
    const byName = (name: string) => [...this.networks.values()].find((n) => n.Name === name);
    for (const name of ["host", "none"]) {
      if (!byName(name)) await this.saveNetwork(this.putRecord(this.baseRecord(name, name === "host" ? "host" : "null", {})));
    }
    const def = this.opts.defaultBridge;
    const existing = byName("bridge");
    if (def === false) {
      if (existing) {
        this.networks.delete(existing.Id);
        await rm(path.join(this.root, "networks", `${existing.Id}.json`), { force: true });
      }
      return;
    }
    if (existing) return;
    const bridge = def?.name ?? "cove0";
    let subnet = def?.subnet;
    if (!subnet) {
      const used = this.usedSubnets();
      const want = parseCidr("172.17.0.0/16");
      subnet = used.some((u) => overlaps(u, want)) ? undefined : "172.17.0.0/16";
      subnet ??= formatCidr(this.freeSubnet(used));
    }
    const options: Record<string, string> = {
      "com.docker.network.bridge.default_bridge": "true",
      [ICC_OPT]: "true",
      [MASQ_OPT]: "true",
      [HOST_BINDING_OPT]: "0.0.0.0",
      [BRIDGE_OPT]: bridge,
      [MTU_OPT]: String(def?.mtu ?? 1500),
    };
    const rec = this.baseRecord("bridge", "bridge", options);
    rec.pools = [makePool(subnet, def?.gateway)];
    rec.IPAM.Config = [{ Subnet: rec.pools[0]!.subnet, Gateway: rec.pools[0]!.gateway }];
    rec.bridge = bridge;
    rec.mtu = def?.mtu ?? 1500;
    this.putRecord(rec);
    await this.saveNetwork(rec);
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
    this.networks.set(n.Id, n);
    return n;
  }

  /** Subnets in use: the host's routes and every network's subnets. */
  private usedSubnets(): Cidr[] {
    const out: Cidr[] = [];
    const nl = Netlink.open();
    try {
      for (const family of [AF_INET, AF_INET6]) {
        for (const r of nl.routes(family)) {
          if (r.table !== 254 || r.dstLen === 0) continue;
          out.push(parseCidr(`${r.dst}/${r.dstLen}`));
        }
      }
    } finally {
      nl.close();
    }
    for (const n of this.networks.values()) for (const p of n.pools) out.push(parseCidr(p.subnet));
    return out;
  }

  private freeSubnet(used: Cidr[]): Cidr {
    const c = chooseSubnet(used);
    if (!c) throw conflict("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network", { code: "network.no-pool", hint: "give the network a --subnet that no route on the host covers" });
    return c;
  }

  // ------------------------------------------------------------------ lookup

  /** Finds a network by full id, name, or unique id prefix (Docker's order). */
  find(ref: string): NetworkRecord {
    const byId = this.networks.get(ref);
    if (byId) return byId;
    for (const n of this.networks.values()) if (n.Name === ref) return n;
    if (/^[0-9a-f]+$/.test(ref)) {
      const hits = [...this.networks.values()].filter((n) => n.Id.startsWith(ref));
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1) throw invalid(`network ${ref} is ambiguous (${hits.length} matches found based on ID prefix)`, { code: "network.ambiguous" });
    }
    throw notFound(`network ${ref} not found`, { code: "network.not-found" });
  }

  tryFind(ref: string): NetworkRecord | undefined {
    try {
      return this.find(ref);
    } catch {
      return undefined;
    }
  }

  private poolFor(n: NetworkRecord, ip: string): PoolState | undefined {
    const v = parseIp(ip);
    return n.pools.find((p) => {
      const c = parseCidr(p.subnet);
      return c.family === v.family && (v.value & ((1n << BigInt(c.family === 4 ? 32 : 128)) - (1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)))) === c.base;
    });
  }

  private resource(n: NetworkRecord): NetworkResource {
    const { bridge: _b, mtu: _m, pools: _p, userSubnets: _u, ...doc } = n;
    const containers: Record<string, NetworkContainer> = {};
    for (const sb of this.sandboxes.values()) {
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
    return this.resource(this.find(ref));
  }

  /** GET /networks with Docker's filters: driver, id, label, name, scope, type (builtin/custom), dangling. */
  list(filters: Record<string, string[]> = {}): NetworkResource[] {
    const known = new Set(["driver", "id", "label", "name", "scope", "type", "dangling"]);
    for (const k of Object.keys(filters)) if (!known.has(k)) throw invalid(`invalid filter '${k}'`, { code: "network.filter" });
    for (const t of filters.type ?? []) if (t !== "builtin" && t !== "custom") throw invalid(`invalid filter: 'type'='${t}'`, { code: "network.filter" });
    const out: NetworkResource[] = [];
    for (const n of this.networks.values()) {
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
    for (const a of this.attachments.values()) if (a[networkId]) return true;
    return false;
  }

  // ------------------------------------------------------------------ create, remove, prune

  create(req: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
    return this.serial(async () => {
      const name = req.Name;
      if (!name) throw invalid("network name must not be empty", { code: "network.name" });
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalid(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { code: "network.name" });
      if (PREDEFINED.has(name)) throw forbidden(`${name} is a pre-defined network and cannot be created`, { code: "network.predefined" });
      if ([...this.networks.values()].some((n) => n.Name === name)) throw conflict(`network with name ${name} already exists`, { code: "network.exists" });
      const driver = req.Driver || "bridge";
      if (driver === "host" || driver === "null") throw forbidden(`only one instance of "${driver}" network is allowed`, { code: "network.predefined" });
      if (driver !== "bridge" && !findPlugin(driver, this.cniPath)) {
        throw notFound(`plugin "${driver}" not found`, { code: "network.driver", hint: `cove runs bridge networks itself and other drivers as CNI plugins from ${this.cniPath.join(":")}` });
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
        const clash = [...this.networks.values()].find((n) => n.pools.some((p) => overlapsCidr(p.subnet, pool.subnet)));
        if (clash) throw forbidden(`Pool overlaps with other one on this address space`, { code: "network.overlap", hint: `network ${clash.Name} has ${clash.pools.map((p) => p.subnet).join(", ")}` });
        if (rec.pools.some((p) => overlapsCidr(p.subnet, pool.subnet))) throw invalid(`invalid pool request: subnets ${pool.subnet} overlap`, { code: "network.overlap" });
        rec.pools.push(pool);
      }
      if (!rec.pools.some((p) => !p.subnet.includes(":"))) rec.pools.unshift(makePool(formatCidr(this.freeSubnet(used))));
      if (rec.EnableIPv6 && !rec.pools.some((p) => p.subnet.includes(":"))) rec.pools.push(makePool(formatCidr(randomUlaSubnet())));
      rec.IPAM.Config = rec.pools.map((p) => shown.get(p) ?? { Subnet: p.subnet, Gateway: p.gateway });
      if (driver === "bridge") {
        const bridge = options[BRIDGE_OPT] ?? `br-${rec.Id.slice(0, 12)}`;
        if (bridge.length > 15 || !/^[a-zA-Z0-9_.-]+$/.test(bridge)) throw invalid(`invalid bridge name "${bridge}": at most 15 characters of [a-zA-Z0-9_.-]`, { code: "network.bridge-name" });
        if ([...this.networks.values()].some((n) => n.bridge === bridge)) throw conflict(`bridge name ${bridge} is already used by another network`, { code: "network.bridge-name" });
        rec.bridge = bridge;
      } else if (driver === "macvlan" || driver === "ipvlan") {
        const parent = options.parent;
        if (!parent) throw invalid(`the ${driver} driver needs a parent interface: -o parent=<host interface>`, { code: "network.parent" });
        if (!this.linkExists(parent)) throw notFound(`-o parent interface was not found on the host: ${parent}`, { code: "network.parent" });
      }
      this.networks.set(rec.Id, rec);
      try {
        if (rec.Driver === "bridge") this.ensureBridge(rec);
        await this.saveNetwork(rec);
        await this.applyFirewall();
      } catch (err) {
        this.networks.delete(rec.Id);
        if (rec.bridge) this.deleteLinkQuiet(rec.bridge);
        await rm(path.join(this.root, "networks", `${rec.Id}.json`), { force: true });
        await this.applyFirewall().catch(() => undefined);
        throw err;
      }
      this.emit("create", rec, { type: rec.Driver });
      this.notifyDns("create", rec);
      return { Id: rec.Id, Warning: "" };
    });
  }

  remove(ref: string): Promise<void> {
    return this.serial(async () => {
      const n = this.find(ref);
      if (PREDEFINED.has(n.Name)) throw forbidden(`${n.Name} is a pre-defined network and cannot be removed`, { code: "network.predefined" });
      const active = [...this.sandboxes.values()].filter((s) => s.endpoints.some((e) => e.networkId === n.Id));
      if (active.length) {
        throw forbidden(`error while removing network: network ${n.Name} id ${n.Id} has active endpoints`, { code: "network.in-use", hint: `disconnect or stop: ${active.map((s) => shortName(s.name)).join(", ")}` });
      }
      for (const [cid, a] of this.attachments) {
        if (a[n.Id]) {
          delete a[n.Id];
          await this.saveAttachments(cid);
        }
      }
      this.networks.delete(n.Id);
      if (n.bridge) this.deleteLinkQuiet(n.bridge);
      await rm(path.join(this.root, "networks", `${n.Id}.json`), { force: true });
      await this.applyFirewall();
      this.notifyDns("destroy", n);
      this.emit("destroy", n, { type: n.Driver });
    });
  }

  /** POST /networks/prune: removes custom networks no container uses. */
  async prune(filters: Record<string, string[]> = {}): Promise<string[]> {
    for (const k of Object.keys(filters)) if (k !== "label" && k !== "label!" && k !== "until") throw invalid(`invalid filter '${k}'`, { code: "network.filter" });
    const removed: string[] = [];
    for (const n of [...this.networks.values()]) {
      if (PREDEFINED.has(n.Name)) continue;
      if ([...this.sandboxes.values()].some((s) => s.endpoints.some((e) => e.networkId === n.Id)) || this.hasAttachments(n.Id)) continue;
      if (filters.label?.length && !filters.label.every((l) => labelMatches(n.Labels, l))) continue;
      if (filters["label!"]?.some((l) => labelMatches(n.Labels, l))) continue;
      if (filters.until?.length && Date.parse(n.Created) > untilTime(filters.until[0]!)) continue;
      await this.remove(n.Id);
      removed.push(n.Name);
    }
    return removed;
  }

  // ------------------------------------------------------------------ bridges

  private linkExists(name: string): boolean {
    const nl = Netlink.open();
    try {
      return nl.link(name) !== undefined;
    } finally {
      nl.close();
    }
  }

  private deleteLinkQuiet(name: string): void {
    const nl = Netlink.open();
    try {
      nl.deleteLink(name);
    } catch (err) {
      this.log(`removing ${name}: ${(err as Error).message}`);
    } finally {
      nl.close();
    }
  }

  /** Creates the bridge with its gateway addresses when missing, and brings it up. */
  private ensureBridge(n: NetworkRecord): void {
    const name = n.bridge!;
    const nl = Netlink.open();
    try {
      let link = nl.link(name);
      if (!link) {
        nl.createBridge(name, n.mtu ? { mtu: n.mtu } : {});
        link = nl.link(name);
        if (!link) throw systemError(`bridge ${name} vanished after creation`, { code: "network.bridge" });
      }
      if (link.kind && link.kind !== "bridge") throw conflict(`interface ${name} exists and is not a bridge`, { code: "network.bridge-name", hint: "choose another com.docker.network.bridge.name" });
      if (n.pools.some((p) => p.subnet.includes(":"))) writeSysctl(`net/ipv6/conf/${name}/disable_ipv6`, "0");
      const have = new Set(nl.addresses().filter((a) => a.index === link.index).map((a) => `${a.address}/${a.prefixLen}`));
      for (const p of n.pools) {
        const prefix = parseCidr(p.subnet).prefix;
        if (!have.has(`${p.gateway}/${prefix}`)) nl.addAddress(link.index, p.gateway, prefix);
      }
      if (!link.up) nl.setUp(name);
    } catch (err) {
      throw netlinkFailure(err, `setting up bridge ${name} for network ${n.Name}`);
    } finally {
      nl.close();
    }
    writeSysctl(`net/ipv4/conf/${name}/route_localnet`, "1");
    if (!n.Internal) {
      writeSysctl("net/ipv4/ip_forward", "1");
      if (n.pools.some((p) => p.subnet.includes(":"))) writeSysctl("net/ipv6/conf/all/forwarding", "1");
    }
  }

  private firewallState(): { networks: FirewallNetwork[]; ports: FirewallPort[] } {
    const networks: FirewallNetwork[] = [];
    for (const n of this.networks.values()) {
      if (n.Driver !== "bridge" || !n.bridge) continue;
      networks.push({ bridge: n.bridge, subnets: n.pools.map((p) => p.subnet), internal: n.Internal, masquerade: n.Options[MASQ_OPT] !== "false", icc: n.Options[ICC_OPT] !== "false" });
    }
    const ports: FirewallPort[] = [];
    for (const sb of this.sandboxes.values()) for (const p of sb.ports) ports.push({ ...p });
    return { networks, ports };
  }

  private async applyFirewall(): Promise<void> {
    const s = this.firewallState();
    await this.firewall.apply(s.networks, s.ports);
  }

  // ------------------------------------------------------------------ container attachments

  /**
   * Records a new container's networks (create): the mode's network and NetworkingConfig's
   * EndpointsConfig. Validates that they exist and that the settings fit.
   */
  async attach(containerId: string, mode: string, endpoints: Record<string, Partial<EndpointSettings> | null | undefined> = {}): Promise<void> {
    const wanted: Record<string, Attachment> = {};
    const netMode = !["host", "none"].includes(mode) && !mode.startsWith("container:");
    if (!netMode) {
      const extra = Object.keys(endpoints).filter((k) => k !== mode && k !== "default");
      if (extra.length) throw invalid(`container cannot be connected to network endpoints: ${mode}, ${extra.join(", ")}`, { code: "network.mode-conflict" });
      if (mode === "host" || mode === "none") this.find(mode);
      return;
    }
    const primary = this.find(mode);
    for (const [ref, cfg] of Object.entries(endpoints)) {
      const n = ref === "default" ? primary : this.find(ref);
      wanted[n.Id] = this.attachmentOf(n, cfg ?? {});
    }
    wanted[primary.Id] ??= this.attachmentOf(primary, {});
    this.attachments.set(containerId, wanted);
    await this.saveAttachments(containerId);
  }

  private attachmentOf(n: NetworkRecord, cfg: Partial<EndpointSettings>): Attachment {
    const a: Attachment = {};
    const aliases = cfg.Aliases ?? [];
    const ipv4 = cfg.IPAMConfig?.IPv4Address;
    const ipv6 = cfg.IPAMConfig?.IPv6Address;
    if ((ipv4 || ipv6) && PREDEFINED.has(n.Name)) throw invalid("user specified IP address is supported on user defined networks only", { code: "network.ip-default" });
    // records written before userSubnets existed keep accepting fixed addresses
    if ((ipv4 || ipv6) && n.userSubnets === false) throw invalid("user specified IP address is supported only when connecting to networks with user configured subnets", { code: "network.ip-auto-subnet" });
    if (aliases.length && n.Name === "bridge") throw invalid("network-scoped alias is supported only for containers in user defined networks", { code: "network.alias-default" });
    if (ipv4) {
      const p = parseIp(ipv4);
      if (p.family !== 4) throw invalid(`invalid IPv4 address: ${ipv4}`, { code: "network.ip-invalid" });
      if (!this.poolFor(n, ipv4)) throw invalid(`no configured subnet or ip-range contain the IP address ${ipv4}`, { code: "network.ip-outside" });
      a.ipv4 = ipv4;
    }
    if (ipv6) {
      if (parseIp(ipv6).family !== 6) throw invalid(`invalid IPv6 address: ${ipv6}`, { code: "network.ip-invalid" });
      if (!this.poolFor(n, ipv6)) throw invalid(`no configured subnet or ip-range contain the IP address ${ipv6}`, { code: "network.ip-outside" });
      a.ipv6 = ipv6;
    }
    for (const ll of cfg.IPAMConfig?.LinkLocalIPs ?? []) {
      if (typeof ll !== "string" || !isIP(ll)) throw invalid(`invalid link-local IP address: ${String(ll)}`, { code: "network.ip-invalid" });
    }
    if (cfg.IPAMConfig?.LinkLocalIPs?.length) a.linkLocal = [...cfg.IPAMConfig.LinkLocalIPs];
    if (aliases.length) a.aliases = [...aliases];
    if (cfg.Links?.length) a.links = [...cfg.Links];
    if (cfg.MacAddress) {
      if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(cfg.MacAddress)) throw invalid(`invalid MAC address: ${cfg.MacAddress}`, { code: "network.mac" });
      a.macAddress = cfg.MacAddress.toLowerCase();
    }
    if (cfg.DriverOpts) a.driverOpts = { ...cfg.DriverOpts };
    return a;
  }

  /** Forgets a removed container's attachments (its sandbox must be torn down first). */
  async forget(containerId: string): Promise<void> {
    await this.tearDown(containerId);
    if (this.attachments.delete(containerId)) await this.saveAttachments(containerId);
  }

  /** The networks a container is attached to, in attachment order. */
  attachedNetworks(containerId: string): NetworkRecord[] {
    return Object.keys(this.attachments.get(containerId) ?? {}).map((id) => this.networks.get(id)).filter((n): n is NetworkRecord => !!n);
  }

  // ------------------------------------------------------------------ sandboxes

  netnsPath(containerId: string): string {
    return path.join(this.netnsDir, containerId);
  }

  sandbox(containerId: string): SandboxRecord | undefined {
    return this.sandboxes.get(containerId);
  }

  /**
   * Makes a container's network before its process starts: the namespace (with lo up), one
   * endpoint per attached network, published ports. Returns undefined for host and container:
   * modes (the caller joins the host's or the other container's namespace).
   */
  setUp(req: SandboxRequest): Promise<Sandbox | undefined> {
    return this.serial(async () => {
      if (req.mode === "host" || req.mode.startsWith("container:")) return undefined;
      if (this.sandboxes.has(req.containerId)) await this.tearDownNow(req.containerId);
      const nets = req.mode === "none" ? [] : this.attachedNetworks(req.containerId);
      if (req.mode !== "none" && nets.length === 0) {
        // a container created before cove had networking, or before its network was made
        const n = this.find(req.mode);
        this.attachments.set(req.containerId, { [n.Id]: {} });
      }
      const attached = req.mode === "none" ? [] : this.attachedNetworks(req.containerId);
      const wants = this.attachments.get(req.containerId) ?? {};
      const sb: SandboxRecord = { containerId: req.containerId, name: req.name.startsWith("/") ? req.name : `/${req.name}`, netns: this.netnsPath(req.containerId), endpoints: [], ports: [], dns: req.dns ?? [] };
      this.sandboxes.set(sb.containerId, sb);
      try {
        for (const n of attached) sb.endpoints.push(await this.planEndpointWaiting(sb, n, wants[n.Id] ?? {}, req));
        const first = sb.endpoints.find((e) => this.networks.get(e.networkId)?.Driver === "bridge");
        const ports = first ? this.planPorts(req, first) : [];
        // held before the record: a port in use fails the start with nothing made
        const prefix = `driver failed programming external connectivity on endpoint ${shortName(sb.name)} (${first?.endpointId ?? ""})`;
        for (const p of ports) {
          const taken = [...this.sandboxes.values()].some((o) => o !== sb && o.ports.some((q) => q.proto === p.proto && q.hostPort === p.hostPort && (isAnyAddress(q.hostIp) || isAnyAddress(p.hostIp) || q.hostIp === p.hostIp)));
          if (taken) throw conflict(`${prefix}: Bind for ${p.hostIp}:${p.hostPort} failed: port is already allocated`, { code: "network.port-allocated" });
        }
        const held = await holdPorts(ports).catch((err: unknown) => {
          throw err instanceof CoveError ? new CoveError(err.kind, `${prefix}: ${err.message}`, { code: err.code }) : err;
        });
        this.held.set(sb.containerId, held);
        sb.ports = ports;
        await this.saveSandbox(sb);
        await this.makeNamespace(sb);
        for (const ep of sb.endpoints) await this.plumb(sb, ep, req);
        if (sb.ports.length) await this.applyFirewall();
        for (const ep of sb.endpoints) this.emit("connect", this.networks.get(ep.networkId)!, { container: sb.containerId });
        return { netns: sb.netns, record: sb };
      } catch (err) {
        await this.tearDownNow(sb.containerId).catch((e: unknown) => this.log(`cleaning up the network of ${sb.containerId}: ${(e as Error).message}`));
        throw err;
      }
    });
  }

  /** planEndpoint, waiting once for addresses whose release waits for the kernel when the pool has none left (or the wanted one is among them). */
  private async planEndpointWaiting(sb: SandboxRecord, n: NetworkRecord, want: Attachment, req: SandboxRequest): Promise<EndpointRecord> {
    try {
      return this.planEndpoint(sb, n, want, req);
    } catch (err) {
      if (!(err instanceof CoveError) || !["network.exhausted", "network.ip-in-use"].includes(err.code ?? "") || this.releasing.size === 0) throw err;
      await Promise.all([...this.releasing]);
      return this.planEndpoint(sb, n, want, req);
    }
  }

  private planEndpoint(sb: SandboxRecord, n: NetworkRecord, want: Attachment, req: SandboxRequest): EndpointRecord {
    const ifName = `eth${sb.endpoints.length}`;
    const ep: EndpointRecord = { networkId: n.Id, endpointId: newId(), ifName, mac: "", aliases: [...(want.aliases ?? [])], dnsNames: [] };
    const v4 = n.pools.find((p) => !p.subnet.includes(":"));
    const v6 = n.EnableIPv6 ? n.pools.find((p) => p.subnet.includes(":")) : undefined;
    try {
      if (v4) {
        ep.ipv4 = allocate(v4, want.ipv4);
        ep.ipv4Prefix = parseCidr(v4.subnet).prefix;
        ep.gateway = v4.gateway;
      }
      if (v6) {
        ep.ipv6 = allocate(v6, want.ipv6);
        ep.ipv6Prefix = parseCidr(v6.subnet).prefix;
        ep.gateway6 = v6.gateway;
      }
    } catch (err) {
      if (ep.ipv4 && v4) release(v4, ep.ipv4);
      throw err;
    }
    ep.mac = want.macAddress ?? (ep.ipv4 ? macFromIp(ep.ipv4) : randomMac());
    if (n.Driver === "bridge") ep.hostVeth = `veth${randomBytes(4).toString("hex").slice(0, 7)}`;
    if (n.Name !== "bridge") ep.dnsNames = [shortName(sb.name), ...ep.aliases, sb.containerId.slice(0, 12)].filter((x, i, a) => a.indexOf(x) === i);
    void req;
    return ep;
  }

  private planPorts(req: SandboxRequest, ep: EndpointRecord): PortRecord[] {
    const n = this.networks.get(ep.networkId)!;
    const out: PortRecord[] = [];
    const bindings = { ...(req.portBindings ?? {}) };
    if (req.publishAll) for (const k of Object.keys(req.exposedPorts ?? {})) if (!bindings[k]?.length) bindings[k] = [{ HostIp: "", HostPort: "" }];
    const defaultIp = n.Options[HOST_BINDING_OPT] ?? "0.0.0.0";
    for (const [key, list] of Object.entries(bindings)) {
      const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(key);
      if (!m) throw invalid(`invalid port specification: "${key}"`, { code: "network.port" });
      const containerPort = Number(m[1]);
      const proto = (m[2] ?? "tcp") as PortRecord["proto"];
      if (proto === "sctp") throw unsupported("publishing SCTP ports is not supported", { code: "network.sctp" });
      for (const b of list ?? []) {
        const hostIp = b.HostIp || defaultIp;
        checkHostIp(hostIp);
        if (hostIp.includes(":") && !ep.ipv6) continue; // an IPv6 host address for an IPv4-only container
        const range = (b.HostPort ?? "").trim();
        const rm = /^(\d*)(?:-(\d+))?$/.exec(range);
        if (!rm) throw invalid(`invalid hostPort: ${range}`, { code: "network.port" });
        const lo = rm[1] ? Number(rm[1]) : 0;
        const hi = rm[2] ? Number(rm[2]) : lo;
        if (lo > 65535 || hi > 65535 || hi < lo) throw invalid(`invalid hostPort: ${range}`, { code: "network.port" });
        out.push({ proto, hostIp, hostPort: lo === hi ? lo : -hi * 65536 - lo, containerPort, containerIp: hostIp.includes(":") ? ep.ipv6! : ep.ipv4!, bridge: n.bridge! });
      }
    }
    return out;
  }

  /** Creates the namespace file and brings its loopback up. */
  private async makeNamespace(sb: SandboxRecord): Promise<void> {
    await writeFile(sb.netns, "", { mode: 0o644 });
    try {
      addon().netnsCreate(sb.netns);
    } catch (err) {
      throw systemError(`creating the network namespace of ${sb.containerId}: ${(err as Error).message}`, { code: "network.netns" });
    }
    const nl = Netlink.open(sb.netns);
    try {
      nl.setUp("lo");
    } finally {
      nl.close();
    }
  }

  /** The kernel side of one endpoint: veth into the bridge (or a CNI plugin), addresses, routes. */
  private async plumb(sb: SandboxRecord, ep: EndpointRecord, _req: SandboxRequest, live = false): Promise<void> {
    const n = this.networks.get(ep.networkId)!;
    const isDefaultRoute = !n.Internal && sb.endpoints.filter((e) => !this.networks.get(e.networkId)?.Internal)[0] === ep;
    if (n.Driver !== "bridge") {
      ep.cni = this.cniConfig(n, ep, isDefaultRoute);
      await invokeCni("ADD", ep.cni, { containerId: sb.containerId, netns: sb.netns, ifName: ep.ifName }, this.cniPath);
      return;
    }
    this.ensureBridge(n);
    const host = Netlink.open();
    const fd = openSync(sb.netns, "r");
    try {
      const bridge = host.link(n.bridge!);
      if (!bridge) throw systemError(`bridge ${n.bridge} is missing`, { code: "network.bridge" });
      host.createVeth(ep.hostVeth!, ep.ifName, fd, { master: bridge.index, peerMac: ep.mac, ...(n.mtu ? { mtu: n.mtu } : {}) });
    } catch (err) {
      throw netlinkFailure(err, `connecting ${shortName(sb.name)} to network ${n.Name}`);
    } finally {
      closeSync(fd);
      host.close();
    }
    const inner = Netlink.open(sb.netns);
    try {
      const link = inner.link(ep.ifName);
      if (!link) throw systemError(`${ep.ifName} is missing in the container's namespace`, { code: "network.veth" });
      if (ep.ipv4) inner.addAddress(link.index, ep.ipv4, ep.ipv4Prefix!);
      if (ep.ipv6) inner.addAddress(link.index, ep.ipv6, ep.ipv6Prefix!);
      for (const ll of this.attachments.get(sb.containerId)?.[n.Id]?.linkLocal ?? []) inner.addAddress(link.index, ll, isIP(ll) === 4 ? 16 : 64);
      inner.setUp(ep.ifName);
      if (isDefaultRoute && !live) {
        if (ep.gateway) inner.addRoute({ gateway: ep.gateway, oif: link.index });
        if (ep.gateway6) inner.addRoute({ gateway: ep.gateway6, oif: link.index, family: AF_INET6 });
      }
    } catch (err) {
      throw netlinkFailure(err, `configuring ${ep.ifName} of ${shortName(sb.name)}`);
    } finally {
      inner.close();
    }
  }

  private cniConfig(n: NetworkRecord, ep: EndpointRecord, defaultRoute: boolean): Record<string, unknown> {
    const { parent, ...rest } = n.Options;
    const addresses: { address: string; gateway?: string }[] = [];
    const routes: { dst: string; gw?: string }[] = [];
    if (ep.ipv4) {
      addresses.push({ address: `${ep.ipv4}/${ep.ipv4Prefix}`, gateway: ep.gateway! });
      if (defaultRoute) routes.push({ dst: "0.0.0.0/0", gw: ep.gateway! });
    }
    if (ep.ipv6) {
      addresses.push({ address: `${ep.ipv6}/${ep.ipv6Prefix}`, gateway: ep.gateway6! });
      if (defaultRoute) routes.push({ dst: "::/0", gw: ep.gateway6! });
    }
    const conf: Record<string, unknown> = { cniVersion: "1.0.0", name: n.Name, type: n.Driver, ...rest };
    if (n.Driver === "macvlan" || n.Driver === "ipvlan") {
      conf.master = parent;
      conf.mode = n.Options[`${n.Driver}_mode`] ?? (n.Driver === "macvlan" ? "bridge" : "l2");
      delete conf[`${n.Driver}_mode`];
    } else if (parent) conf.master = parent;
    if (n.mtu) conf.mtu = n.mtu;
    delete conf[MTU_OPT];
    conf.ipam = { type: "static", addresses, routes };
    if (n.Driver === "macvlan") conf.mac = ep.mac;
    return conf;
  }

  /**
   * Tears a container's network down (exit, stop, failed start, remove). Idempotent.
   *
   * A sandbox of bridge endpoints without published ports goes fast: its namespace is unmounted
   * (the kernel then destroys the namespace and its veth pairs on its own, off this thread), its
   * names stop resolving at once, and its addresses stay allocated until the host ends of its
   * veths are gone, so no new container gets an address (and MAC) still on a bridge port. Deleting
   * the veths here would hold the exit report for tens of milliseconds of kernel work.
   */
  tearDown(containerId: string): Promise<void> {
    return this.serial(async () => {
      const sb = this.sandboxes.get(containerId);
      const wants = this.attachments.get(containerId) ?? {};
      // a fixed address must be free again when the container restarts: those wait for the kernel
      const fixed = sb?.endpoints.some((e) => wants[e.networkId]?.ipv4 || wants[e.networkId]?.ipv6);
      if (!sb || sb.ports.length || fixed || sb.endpoints.some((e) => e.cni || !e.hostVeth)) return this.tearDownNow(containerId);
      for (const h of this.held.get(containerId) ?? []) h.close();
      this.held.delete(containerId);
      try {
        await removeNetns(sb.netns);
      } catch (err) {
        this.log(`unmounting the namespace of ${containerId}: ${(err as Error).message}; removing its veths`);
        return this.tearDownNow(containerId);
      }
      this.sandboxes.delete(containerId);
      await rm(path.join(this.root, "sandboxes", `${containerId}.json`), { force: true });
      this.releaseWhenGone(sb);
      for (const ep of sb.endpoints) {
        const n = this.networks.get(ep.networkId);
        if (n) this.emit("disconnect", n, { container: containerId });
      }
    });
  }

  /** Releases a torn-down sandbox's addresses once the kernel has removed its host veths (deletes them itself after a while). */
  private releaseWhenGone(sb: SandboxRecord): void {
    const started = Date.now();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    this.releasing.add(finished);
    const freeAddresses = () => {
      for (const ep of sb.endpoints) {
        const n = this.networks.get(ep.networkId);
        for (const ip of [ep.ipv4, ep.ipv6]) {
          const pool = n && ip ? this.poolFor(n, ip) : undefined;
          if (pool && ip) release(pool, ip);
        }
      }
    };
    const check = () => {
      const nl = Netlink.open();
      let left: string[];
      try {
        left = sb.endpoints.map((e) => e.hostVeth!).filter((v) => nl.link(v) !== undefined);
        if (left.length && Date.now() - started > 2000) {
          for (const v of left) nl.deleteLink(v);
          left = [];
        }
      } catch (err) {
        this.log(`removing the veths of ${sb.containerId}: ${(err as Error).message}`);
        left = [];
      } finally {
        nl.close();
      }
      if (left.length) setTimeout(check, 10).unref();
      else {
        freeAddresses();
        this.releasing.delete(finished);
        done();
      }
    };
    setTimeout(check, 5).unref();
  }

  private async tearDownNow(containerId: string): Promise<void> {
    const sb = this.sandboxes.get(containerId);
    for (const h of this.held.get(containerId) ?? []) h.close();
    this.held.delete(containerId);
    if (!sb) return;
    const errors: string[] = [];
    for (const ep of sb.endpoints) {
      try {
        await this.unplumb(sb, ep);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    await removeNetns(sb.netns).catch((err: unknown) => errors.push((err as Error).message));
    for (const ep of sb.endpoints) {
      const n = this.networks.get(ep.networkId);
      if (!n) continue;
      for (const ip of [ep.ipv4, ep.ipv6]) {
        const pool = ip ? this.poolFor(n, ip) : undefined;
        if (pool && ip) release(pool, ip);
      }
    }
    this.sandboxes.delete(containerId);
    if (sb.ports.length) await this.applyFirewall().catch((err: unknown) => errors.push((err as Error).message));
    await rm(path.join(this.root, "sandboxes", `${containerId}.json`), { force: true });
    for (const ep of sb.endpoints) {
      const n = this.networks.get(ep.networkId);
      if (n) this.emit("disconnect", n, { container: containerId });
    }
    if (errors.length) this.log(`network teardown of ${containerId}: ${errors.join("; ")}`);
  }

  private async unplumb(sb: SandboxRecord, ep: EndpointRecord): Promise<void> {
    if (ep.cni) {
      await invokeCni("DEL", ep.cni, { containerId: sb.containerId, netns: sb.netns, ifName: ep.ifName }, this.cniPath);
      return;
    }
    if (ep.hostVeth) {
      const nl = Netlink.open();
      try {
        nl.deleteLink(ep.hostVeth);
      } finally {
        nl.close();
      }
    }
  }

  /**
   * Brings the service in line with the containers that run: sandboxes of containers that do not
   * run are torn down, the ports of those that do are held again. Call once after the container
   * service restored its containers.
   */
  reconcile(running: Set<string>): Promise<void> {
    return this.serial(async () => {
      for (const id of [...this.sandboxes.keys()]) {
        if (!running.has(id)) {
          await this.tearDownNow(id);
          continue;
        }
        const sb = this.sandboxes.get(id)!;
        if (sb.ports.length && !this.held.has(id)) {
          try {
            this.held.set(id, await holdPorts(sb.ports));
          } catch (err) {
            this.log(`container ${id}: ${(err as Error).message}; its published ports keep working through the firewall`);
          }
        }
      }
      // names or namespaces of a sandbox whose record never got written
      await this.applyFirewall();
    });
  }

  /**
   * Points the namespace's default routes at the first endpoint on a network with egress (the
   * gateway moves there when a live connect or disconnect changes which one that is). Routes are
   * replaced, so a default that is already right is left as it is.
   */
  private async ensureDefaultRoute(sb: SandboxRecord): Promise<void> {
    const ep = sb.endpoints.find((e) => !this.networks.get(e.networkId)?.Internal);
    if (!ep || (!ep.gateway && !ep.gateway6)) return;
    const inner = Netlink.open(sb.netns);
    try {
      const link = inner.link(ep.ifName);
      if (!link) return;
      if (ep.gateway) inner.addRoute({ gateway: ep.gateway, oif: link.index });
      if (ep.gateway6) inner.addRoute({ gateway: ep.gateway6, oif: link.index, family: AF_INET6 });
    } catch (err) {
      throw netlinkFailure(err, `setting the default route of ${shortName(sb.name)} via ${ep.ifName}`);
    } finally {
      inner.close();
    }
  }

  /** Connects a container to a network; live when it runs (a new interface in its namespace). */
  connect(networkRef: string, container: LiveContainer & { running: boolean; mode: string }, cfg: Partial<EndpointSettings> = {}): Promise<void> {
    return this.serial(async () => {
      const n = this.find(networkRef);
      const mode = container.mode;
      if (mode === "host" || mode === "none" || mode.startsWith("container:")) {
        throw forbidden(`container sharing network namespace with another container or host cannot be connected to any other network`, { code: "network.mode-conflict" });
      }
      if (n.Name === "host" || n.Name === "none") throw forbidden(`container cannot be disconnected from host network or connected to host network`, { code: "network.mode-conflict" });
      const a = this.attachments.get(container.id) ?? {};
      if (a[n.Id]) throw forbidden(`endpoint with name ${shortName(container.name)} already exists in network ${n.Name}`, { code: "network.connected" });
      a[n.Id] = this.attachmentOf(n, cfg);
      const sb = this.sandboxes.get(container.id);
      if (container.running && sb) {
        const ep = this.planEndpoint(sb, n, a[n.Id]!, { containerId: container.id, name: container.name, hostname: "", mode });
        sb.endpoints.push(ep);
        await this.saveSandbox(sb);
        try {
          await this.plumb(sb, ep, { containerId: container.id, name: container.name, hostname: "", mode }, true);
        } catch (err) {
          sb.endpoints.pop();
          for (const ip of [ep.ipv4, ep.ipv6]) if (ip) release(this.poolFor(n, ip)!, ip);
          await this.unplumb(sb, ep).catch(() => undefined);
          await this.saveSandbox(sb);
          throw err;
        }
        await this.ensureDefaultRoute(sb);
        if (container.hostsPath && container.hostname) await editHostsFile(container.hostsPath, hostsRecords(ep, container.hostname), []);
        this.emit("connect", n, { container: container.id });
      }
      this.attachments.set(container.id, a);
      await this.saveAttachments(container.id);
    });
  }

  disconnect(networkRef: string, container: LiveContainer, force = false): Promise<void> {
    return this.serial(async () => {
      const n = this.find(networkRef);
      if (n.Name === "host" || n.Name === "none") throw forbidden(`container cannot be disconnected from host network or connected to host network`, { code: "network.mode-conflict" });
      const a = this.attachments.get(container.id);
      const sb = this.sandboxes.get(container.id);
      const ep = sb?.endpoints.find((e) => e.networkId === n.Id);
      if (!a?.[n.Id] && !ep) {
        if (force) return;
        throw forbidden(`container ${container.id} is not connected to network ${n.Name}`, { code: "network.not-connected" });
      }
      if (a) delete a[n.Id];
      if (sb && ep) {
        await this.unplumb(sb, ep).catch((err: unknown) => {
          if (!force) throw err;
        });
        for (const ip of [ep.ipv4, ep.ipv6]) if (ip) release(this.poolFor(n, ip)!, ip);
        sb.endpoints = sb.endpoints.filter((e) => e !== ep);
        await this.ensureDefaultRoute(sb).catch((err: unknown) => this.log(`moving the default route of ${container.id}: ${(err as Error).message}`));
        if (container.hostsPath && container.hostname) await editHostsFile(container.hostsPath, [], hostsRecords(ep, container.hostname)).catch((err: unknown) => this.log(`updating ${container.hostsPath}: ${(err as Error).message}`));
        const before = sb.ports.length;
        sb.ports = sb.ports.filter((p) => p.bridge !== n.bridge);
        await this.saveSandbox(sb);
        if (before !== sb.ports.length) await this.applyFirewall();
      }
      await this.saveAttachments(container.id);
      this.emit("disconnect", n, { container: container.id });
    });
  }

  /** Updates a renamed container's DNS names. */
  rename(containerId: string, newName: string): void {
    const sb = this.sandboxes.get(containerId);
    if (!sb) return;
    const old = shortName(sb.name);
    sb.name = newName.startsWith("/") ? newName : `/${newName}`;
    for (const ep of sb.endpoints) ep.dnsNames = ep.dnsNames.map((d) => (d === old ? shortName(newName) : d));
    void this.saveSandbox(sb).catch(() => undefined);
  }

  /** Removes everything this instance made on the host: sandboxes, bridges, the firewall (tests, uninstall). */
  uninstall(): Promise<void> {
    return this.serial(async () => {
      await Promise.all([...this.releasing]);
      for (const id of [...this.sandboxes.keys()]) await this.tearDownNow(id);
      for (const n of this.networks.values()) if (n.bridge) this.deleteLinkQuiet(n.bridge);
      await this.firewall.remove();
    });
  }

  /** Releases held ports without touching the kernel state (daemon shutdown: containers keep running). */
  close(): void {
    for (const list of this.held.values()) for (const h of list) h.close();
    this.held.clear();
  }

  // ------------------------------------------------------------------ container views

  /** NetworkSettings of container inspect, as Docker reports it (a running container's exposed but unpublished ports as null). */
  settings(containerId: string, mode: string, running: boolean, exposed?: Record<string, unknown>): NetworkSettings {
    const sb = running ? this.sandboxes.get(containerId) : undefined;
    const networks: Record<string, EndpointSettings> = {};
    const wants = this.attachments.get(containerId) ?? {};
    if (mode === "host" || mode === "none") {
      const n = this.tryFind(mode);
      networks[mode] = endpointView(n?.Id ?? "", undefined, {});
    } else if (!mode.startsWith("container:")) {
      for (const [id, want] of Object.entries(wants)) {
        const n = this.networks.get(id);
        if (!n) continue;
        networks[n.Name] = endpointView(n.Id, sb?.endpoints.find((e) => e.networkId === id), want);
      }
      if (Object.keys(networks).length === 0) {
        const n = this.tryFind(mode);
        if (n) networks[n.Name] = endpointView(n.Id, undefined, {});
      }
    }
    const ports: Record<string, PortBinding[] | null> = {};
    if (sb) {
      for (const p of sb.ports) (ports[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
      for (const key of Object.keys(exposed ?? {})) ports[key.includes("/") ? key : `${key}/tcp`] ??= null;
    }
    const def = sb?.endpoints.find((e) => this.networks.get(e.networkId)?.Name === "bridge");
    return {
      Bridge: "",
      SandboxID: sb ? createHash("sha256").update(sb.netns).digest("hex") : "",
      SandboxKey: sb ? sb.netns : "",
      HairpinMode: false,
      LinkLocalIPv6Address: "",
      LinkLocalIPv6PrefixLen: 0,
      Ports: ports,
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: def?.endpointId ?? "",
      Gateway: def?.gateway ?? "",
      GlobalIPv6Address: def?.ipv6 ?? "",
      GlobalIPv6PrefixLen: def?.ipv6Prefix ?? 0,
      IPAddress: def?.ipv4 ?? "",
      IPPrefixLen: def?.ipv4Prefix ?? 0,
      IPv6Gateway: def?.gateway6 ?? "",
      MacAddress: def?.mac ?? "",
      Networks: networks,
    };
  }

  /** The container's address on a network (for legacy links and hosts entries). */
  addressOn(containerId: string, networkRef: string): string | undefined {
    const n = this.tryFind(networkRef);
    return this.sandboxes.get(containerId)?.endpoints.find((e) => e.networkId === n?.Id)?.ipv4;
  }

  /** Whether the container's first network is a user-defined one (name resolution by the embedded DNS). */
  usesEmbeddedDns(containerId: string, mode: string): boolean {
    if (mode === "host" || mode === "none" || mode.startsWith("container:") || mode === "bridge") return false;
    const n = this.tryFind(mode);
    return !!n && n.Name !== "bridge" && n.Driver !== "host" && n.Driver !== "null" && !!containerId;
  }

  /**
   * The per-container files' network parts: the hosts entries for the container's own addresses
   * and the resolv.conf nameserver (the embedded DNS address on user-defined networks).
   */
  containerFiles(containerId: string, hostname: string): { hostsEntries: string[]; nameservers: string[] } {
    const sb = this.sandboxes.get(containerId);
    const entries: string[] = [];
    const nameservers: string[] = [];
    for (const ep of sb?.endpoints ?? []) {
      const n = this.networks.get(ep.networkId);
      if (ep.ipv4) entries.push(`${ep.ipv4}\t${hostname}`);
      if (ep.ipv6) entries.push(`${ep.ipv6}\t${hostname}`);
      if (n && n.Name !== "bridge" && n.Driver === "bridge" && ep.gateway && !nameservers.includes(ep.gateway)) nameservers.push(ep.gateway);
    }
    return { hostsEntries: entries, nameservers };
  }

  // ------------------------------------------------------------------ the embedded DNS server's lookups

  /**
   * Addresses for a name on one network: container name, network alias, short id (12 hex), or
   * <name>.<network>, as Docker's embedded DNS answers them. family 4 gives A, 6 gives AAAA.
   */
  resolve(networkId: string, name: string, family: 4 | 6): string[] {
    const n = this.networks.get(networkId);
    if (!n) return [];
    let q = name.toLowerCase().replace(/\.$/, "");
    const suffix = `.${n.Name.toLowerCase()}`;
    if (q.endsWith(suffix)) q = q.slice(0, -suffix.length);
    const out: string[] = [];
    for (const sb of this.sandboxes.values()) {
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
    for (const sb of this.sandboxes.values()) {
      for (const ep of sb.endpoints) {
        if (ep.ipv4 !== ip && ep.ipv6 !== ip) continue;
        const n = this.networks.get(ep.networkId);
        if (n && n.Name !== "bridge") return `${shortName(sb.name)}.${n.Name}`;
      }
    }
    return undefined;
  }

  /** The networks the embedded DNS serves (user-defined bridge networks) and where. */
  dnsNetworks(): DnsNetwork[] {
    return [...this.networks.values()].filter(servesDns).map(dnsNetwork);
  }

  /** Whether a network forwards nothing outside (the DNS server must not forward its queries). */
  isInternal(networkId: string): boolean {
    return this.networks.get(networkId)?.Internal ?? false;
  }

  /**
   * The resolvers the embedded DNS forwards other names to, for a query from sourceIp: that
   * container's --dns servers, or the host's nameservers (loopback ones excluded: they are
   * unreachable from a container's namespace and mean a local stub the daemon can reach itself).
   */
  upstreams(sourceIp?: string): string[] {
    if (sourceIp) {
      for (const sb of this.sandboxes.values()) {
        if (sb.dns.length && sb.endpoints.some((e) => e.ipv4 === sourceIp || e.ipv6 === sourceIp)) return [...sb.dns];
      }
    }
    let text = "";
    try {
      text = readFileSync(this.opts.hostResolvConf ?? "/etc/resolv.conf", "utf8");
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

  private notifyDns(action: "create" | "destroy", n: NetworkRecord): void {
    if (!servesDns(n)) return;
    for (const l of this.dnsListeners) {
      try {
        l(action, dnsNetwork(n));
      } catch (err) {
        this.log(`DNS listener: ${(err as Error).message}`);
      }
    }
  }

  private emit(action: NetworkEvent["Action"], n: NetworkRecord, attrs: Record<string, string>): void {
    try {
      this.opts.events?.({ Type: "network", Action: action, Actor: { ID: n.Id, Attributes: { name: n.Name, type: n.Driver, ...attrs } } });
    } catch {
      // a listener's failure is not the network's
    }
  }
}

function servesDns(n: NetworkRecord): boolean {
  return n.Driver === "bridge" && n.Name !== "bridge" && n.pools.some((p) => !p.subnet.includes(":"));
}

function dnsNetwork(n: NetworkRecord): DnsNetwork {
  return { networkId: n.Id, name: n.Name, address: n.pools.find((p) => !p.subnet.includes(":"))!.gateway, internal: n.Internal };
}

function endpointView(networkId: string, ep: EndpointRecord | undefined, want: Attachment): EndpointSettings {
  const ipam = want.ipv4 || want.ipv6 || want.linkLocal?.length ? { ...(want.ipv4 ? { IPv4Address: want.ipv4 } : {}), ...(want.ipv6 ? { IPv6Address: want.ipv6 } : {}), ...(want.linkLocal?.length ? { LinkLocalIPs: [...want.linkLocal] } : {}) } : null;
  return {
    IPAMConfig: ipam,
    Links: want.links?.length ? [...want.links] : null,
    Aliases: want.aliases?.length ? [...want.aliases] : null,
    MacAddress: ep?.mac ?? want.macAddress ?? "",
    DriverOpts: want.driverOpts ?? null,
    GwPriority: 0,
    NetworkID: networkId,
    EndpointID: ep?.endpointId ?? "",
    Gateway: ep?.gateway ?? "",
    IPAddress: ep?.ipv4 ?? "",
    IPPrefixLen: ep?.ipv4Prefix ?? 0,
    IPv6Gateway: ep?.gateway6 ?? "",
    GlobalIPv6Address: ep?.ipv6 ?? "",
    GlobalIPv6PrefixLen: ep?.ipv6Prefix ?? 0,
    DNSNames: ep?.dnsNames.length ? [...ep.dnsNames] : null,
  };
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

function writeSysctl(key: string, value: string): void {
  try {
    writeFileSync(`/proc/sys/${key}`, value);
  } catch {
    // a read-only /proc/sys or a missing key: the network still works for what the kernel allows
  }
}

/** The /etc/hosts records of a container's own addresses on one endpoint ("<ip>\t<hostname>"). */
function hostsRecords(ep: EndpointRecord, hostname: string): string[] {
  return [ep.ipv4, ep.ipv6].filter((ip): ip is string => !!ip).map((ip) => `${ip}\t${hostname}`);
}

/**
 * Adds and removes lines of a running container's /etc/hosts in place: the file is bind-mounted
 * into the container, so a rename would leave the container reading the old one; lines the
 * container's own processes added stay.
 */
async function editHostsFile(file: string, add: string[], remove: string[]): Promise<void> {
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

async function removeNetns(file: string): Promise<void> {
  try {
    addon().umount2(file, addon().constants.MNT_DETACH);
  } catch (err) {
    if (!isErrno(err, "EINVAL", "ENOENT")) throw err;
  }
  await rm(file, { force: true });
}

/**
 * Holds each published host port with a socket, so the port is really the container's: a host
 * process cannot take it, and a taken one fails the start with Docker's error. Traffic never
 * reaches these sockets (the DNAT rules take it first). Range bindings take the first free port;
 * port 0 takes an ephemeral one. Rewrites the records' hostPort with the port held.
 */
async function holdPorts(ports: PortRecord[]): Promise<Held[]> {
  const held: Held[] = [];
  try {
    for (const p of ports) {
      const candidates: number[] = [];
      if (p.hostPort >= 0) candidates.push(p.hostPort);
      else {
        const enc = -p.hostPort;
        const lo = enc % 65536;
        const hi = Math.floor(enc / 65536);
        for (let x = lo; x <= hi; x++) candidates.push(x);
      }
      let lastErr: unknown;
      let ok = false;
      for (const port of candidates) {
        try {
          const h = await holdOne(p.proto, p.hostIp, port);
          held.push(h.held);
          p.hostPort = h.port;
          ok = true;
          break;
        } catch (err) {
          lastErr = err;
        }
      }
      if (!ok) {
        const what = `${p.hostIp}:${candidates.length > 1 ? `${candidates[0]}-${candidates[candidates.length - 1]}` : candidates[0]}`;
        if (isErrno(lastErr, "EADDRINUSE")) throw conflict(`failed to bind host port for ${what}:${p.containerIp}:${p.containerPort}/${p.proto}: address already in use`, { code: "network.port-in-use" });
        if (isErrno(lastErr, "EADDRNOTAVAIL")) throw invalid(`failed to bind host port for ${what}:${p.containerIp}:${p.containerPort}/${p.proto}: cannot assign requested address`, { code: "network.port-address" });
        throw systemError(`failed to bind host port for ${what}/${p.proto}: ${(lastErr as Error).message}`, { code: "network.port" });
      }
    }
  } catch (err) {
    for (const h of held) h.close();
    throw err instanceof CoveError ? err : systemError((err as Error).message);
  }
  return held;
}

function holdOne(proto: PortRecord["proto"], hostIp: string, port: number): Promise<{ held: Held; port: number }> {
  const host = isAnyAddress(hostIp) ? hostIp || "0.0.0.0" : hostIp;
  return new Promise((resolve, reject) => {
    if (proto === "udp") {
      const s = dgram.createSocket({ type: host.includes(":") ? "udp6" : "udp4", ipv6Only: host.includes(":") });
      s.once("error", reject);
      s.bind({ address: host, port, exclusive: true }, () => {
        s.off("error", reject);
        s.unref();
        resolve({ held: { close: () => s.close() }, port: s.address().port });
      });
      return;
    }
    const server = net.createServer((c) => c.destroy());
    server.once("error", reject);
    server.listen({ host, port, exclusive: true, ipv6Only: host.includes(":"), backlog: 1 }, () => {
      server.off("error", reject);
      server.unref();
      resolve({ held: { close: () => server.close() }, port: (server.address() as net.AddressInfo).port });
    });
  });
}

