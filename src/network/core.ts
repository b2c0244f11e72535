// The network service's core: the records it owns and what every part of the service shares.
//
// State under <root>/network/ (written atomically):
//   networks/<id>.json     a network (Docker's JSON plus the bridge name and address pools)
//   containers/<id>.json   a container's attachments (NetworkingConfig, connect while stopped)
//   sandboxes/<id>.json    a running container's namespace, endpoints, addresses and ports;
//                          written before any kernel object is made, removed after they are gone
// Address allocations are rebuilt from the sandboxes at load, so a lease never outlives its
// container.
//
// The core holds the records (networks, attachments, sandboxes), loads and persists them, finds
// them, orders state changes (serial) and publishes events. The operations live in modules on top
// of it (networks.ts, sandboxes.ts, endpoints.ts, ports.ts, names.ts, views.ts), each reaching the
// others through core.m; service.ts is the public face. host.ts holds the kernel helpers they share.

import { randomBytes } from "node:crypto";
import { readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { CoveError, type ErrorDetails, invalid, notFound } from "../common/errors.js";
import { replaceFile, writeFileAtomic } from "../common/fs.js";
import { DEFAULT_EXEC_ROOT, DEFAULT_ROOT, instanceLayout } from "../common/instance.js";
import { ignored } from "../common/ignore.js";
import { DEFAULT_CNI_PATH } from "./cni.js";
import { Firewall, ip6tablesAvailable } from "./firewall.js";
import { parseCidr, parseIp, release, type AddressPool, type PoolState } from "./ipam.js";
import type { Attachment, NetworkRecord, SandboxRecord } from "./types.js";
import type { Networks } from "./networks.js";
import type { Sandboxes } from "./sandboxes.js";
import type { Endpoints } from "./endpoints.js";
import type { Ports } from "./ports.js";
import type { Names } from "./names.js";
import type { Views } from "./views.js";

export const DEFAULT_NETNS_DIR = `${DEFAULT_EXEC_ROOT}/netns`;
export { DEFAULT_ROOT };
export const BRIDGE_OPT = "com.docker.network.bridge.name";
export const MTU_OPT = "com.docker.network.driver.mtu";
export const MASQ_OPT = "com.docker.network.bridge.enable_ip_masquerade";
export const ICC_OPT = "com.docker.network.bridge.enable_icc";
export const HOST_BINDING_OPT = "com.docker.network.bridge.host_binding_ipv4";
export const PREDEFINED = new Set(["bridge", "host", "none"]);

export interface NetworkEvent {
  Type: "network";
  Action: "create" | "destroy" | "connect" | "disconnect" | "remove";
  Actor: { ID: string; Attributes: Record<string, string> };
}

export interface DefaultBridgeOptions {
  /** The bridge interface (default cove0 for /var/lib/cove, cove-<tag> otherwise). */
  name?: string;
  /** Default 172.17.0.0/16 (or the first free subnet of the address pools when that collides, or when pools are given). */
  subnet?: string;
  gateway?: string;
  mtu?: number;
}

export interface NetworkServiceOptions {
  /** The engine's state root; network state lives in <root>/network. */
  root: string;
  /** Where container namespaces are bind-mounted (default /run/cove/netns for /var/lib/cove, /run/cove-<tag>/netns otherwise). */
  netnsDir?: string;
  /** Suffix of this instance's firewall chains (default: none for /var/lib/cove, a hash of root otherwise). */
  tag?: string;
  /** The pools networks without a subnet take theirs from (default Docker's: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s). */
  addressPools?: AddressPool[];
  /** The default "bridge" network, or false for none (containers on "bridge" then fail to start). */
  defaultBridge?: DefaultBridgeOptions | false;
  /** Directories searched for CNI plugins (default /usr/lib/cni, /opt/cni/bin). */
  cniPath?: string[];
  /** The host's resolv.conf (upstream resolvers and search domains). */
  hostResolvConf?: string;
  events?: (e: NetworkEvent) => void;
  log?: (line: string) => void;
  /**
   * Publishes ports beyond this network namespace (a rootless daemon's port driver): called for
   * each port held here; undefined = this protocol is published in this namespace only.
   */
  hostPorts?: HostPortPublisher;
}

/** What publishes a container's port on the host when the daemon's namespace is not the host's. */
export interface HostPortPublisher {
  expose(p: { proto: "tcp" | "udp" | "sctp"; hostIp: string; hostPort: number; containerIp: string; containerPort: number }): Promise<Held | undefined>;
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

/** A container as connect/disconnect see it; hostsPath and hostname let a live change edit its /etc/hosts. */
export interface LiveContainer {
  id: string;
  name: string;
  hostsPath?: string;
  hostname?: string;
}

/** A published host port held by a socket (see Ports.hold). */
export interface Held {
  close(): void;
}

export const now = () => new Date().toISOString();
export const forbidden = (message: string, details?: ErrorDetails) => new CoveError("forbidden", message, details);
export const newId = () => randomBytes(32).toString("hex");
export const shortName = (n: string) => (n.startsWith("/") ? n.slice(1) : n);

/** The modules of the service, each reached by the others through core.m. */
export interface Modules {
  networks: Networks;
  sandboxes: Sandboxes;
  endpoints: Endpoints;
  ports: Ports;
  names: Names;
  views: Views;
}

export class NetworkCore {
  /** <engine root>/network. */
  readonly root: string;
  readonly netnsDir: string;
  readonly opts: NetworkServiceOptions;
  readonly networks = new Map<string, NetworkRecord>();
  readonly sandboxes = new Map<string, SandboxRecord>();
  readonly attachments = new Map<string, Record<string, Attachment>>();
  readonly firewall: Firewall;
  readonly cniPath: string[];
  /** The default bridge's interface name. */
  readonly defaultBridgeName: string;
  /** The alias cove puts on the bridges it makes ("cove <root>"): a bridge with another cove's alias is not this instance's. */
  readonly owner: string;
  readonly log: (line: string) => void;
  /** The modules, set once by NetworkService.open. */
  m!: Modules;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(opts: NetworkServiceOptions) {
    this.opts = opts;
    this.root = path.join(opts.root, "network");
    const layout = instanceLayout(opts.root, { netnsDir: opts.netnsDir });
    this.netnsDir = layout.netnsDir;
    this.defaultBridgeName = opts.defaultBridge ? (opts.defaultBridge.name ?? layout.bridge) : layout.bridge;
    // an interface alias holds at most 255 bytes
    this.owner = `cove ${layout.root}`.slice(0, 250);
    const tag = opts.tag ?? layout.tag;
    this.firewall = new Firewall(tag, ip6tablesAvailable() ? [4, 6] : [4]);
    this.cniPath = opts.cniPath ?? DEFAULT_CNI_PATH;
    this.log = opts.log ?? (() => undefined);
  }

  /** Runs fn after every earlier state change (allocations, sandboxes and the firewall change in order). */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.lock.then(fn, fn);
    // the caller gets the failure through r; the lock only keeps the order
    this.lock = r.catch(() => undefined);
    return r;
  }

  // ------------------------------------------------------------------ state

  async load(): Promise<void> {
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

  async saveNetwork(n: NetworkRecord): Promise<void> {
    const copy = { ...n, pools: n.pools.map((p) => ({ ...p, allocated: [] })) };
    await writeFileAtomic(path.join(this.root, "networks", `${n.Id}.json`), JSON.stringify(copy), 0o600);
  }

  async removeNetworkFile(networkId: string): Promise<void> {
    await rm(path.join(this.root, "networks", `${networkId}.json`), { force: true });
  }

  async saveAttachments(containerId: string): Promise<void> {
    const a = this.attachments.get(containerId);
    const file = path.join(this.root, "containers", `${containerId}.json`);
    if (!a) await rm(file, { force: true });
    else await writeFileAtomic(file, JSON.stringify(a), 0o600);
  }

  /**
   * A sandbox describes kernel objects (the namespace, its veths, held ports) that a power loss
   * ends, so it is renamed into place without fsync: every bridge container's start waited on the
   * disk for it. A daemon crash leaves it whole (the page cache survives); one a power loss left
   * torn is skipped by load(), and the addresses it held are free again, as after any reboot.
   */
  async saveSandbox(sb: SandboxRecord): Promise<void> {
    await replaceFile(path.join(this.root, "sandboxes", `${sb.containerId}.json`), JSON.stringify(sb), 0o600);
  }

  async removeSandboxFile(containerId: string): Promise<void> {
    await rm(path.join(this.root, "sandboxes", `${containerId}.json`), { force: true });
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

  /** The pool of a network that holds an address. */
  poolFor(n: NetworkRecord, ip: string): PoolState | undefined {
    const v = parseIp(ip);
    return n.pools.find((p) => {
      const c = parseCidr(p.subnet);
      return c.family === v.family && (v.value & ((1n << BigInt(c.family === 4 ? 32 : 128)) - (1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)))) === c.base;
    });
  }

  /** Gives a torn-down sandbox's addresses back to their pools (those of removed networks are gone with them). */
  releaseAddresses(sb: SandboxRecord): void {
    for (const ep of sb.endpoints) {
      const n = this.networks.get(ep.networkId);
      if (!n) continue;
      for (const ip of [ep.ipv4, ep.ipv6]) {
        const pool = ip ? this.poolFor(n, ip) : undefined;
        if (pool && ip) release(pool, ip);
      }
    }
  }

  /** The networks a container is attached to, in attachment order. */
  attachedNetworks(containerId: string): NetworkRecord[] {
    return Object.keys(this.attachments.get(containerId) ?? {}).map((id) => this.networks.get(id)).filter((n): n is NetworkRecord => !!n);
  }

  // ------------------------------------------------------------------ events

  emit(action: NetworkEvent["Action"], n: NetworkRecord, attrs: Record<string, string>): void {
    try {
      this.opts.events?.({ Type: "network", Action: action, Actor: { ID: n.Id, Attributes: { name: n.Name, type: n.Driver, ...attrs } } });
    } catch (err) {
      // a listener's failure is not the network's
      ignored(`deliver the ${action} event of network ${n.Name}`, err, this.log);
    }
  }

  /** A disconnect event for each network a sandbox had an endpoint on. */
  emitDisconnects(sb: SandboxRecord): void {
    for (const ep of sb.endpoints) {
      const n = this.networks.get(ep.networkId);
      if (n) this.emit("disconnect", n, { container: sb.containerId });
    }
  }
}
