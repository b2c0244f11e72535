// cove's network service: networks (bridge in process, host, none, macvlan/ipvlan and other CNI
// plugins), IPAM, container sandboxes (a network namespace per container, kept under
// <netnsDir>/<container id> by a bind mount, which the runtime joins by path), port publishing,
// the firewall, and the lookups the embedded DNS server answers from. The container service, the
// daemon's routes and the embedded DNS server call it.
//
// This is its public face: the records, their persistence and the shared state are in core.ts,
// the operations in the modules it opens with (networks.ts, sandboxes.ts, endpoints.ts,
// ports.ts, names.ts, views.ts). State under <root>/network/ is described in core.ts; reconcile()
// tears down every sandbox whose container is not running, so after a daemon crash nothing (veth,
// netns, rule, lease, held port) is left behind.

import { mkdir } from "node:fs/promises";
import { readdirSync, rmdirSync } from "node:fs";
import { isErrno } from "../common/errors.js";
import path from "node:path";
import { ensureBridge, prepareNetnsDir, unmountQuiet } from "./host.js";
import { Networks } from "./networks.js";
import { Sandboxes } from "./sandboxes.js";
import { Endpoints } from "./endpoints.js";
import { Ports } from "./ports.js";
import { Names } from "./names.js";
import { Views } from "./views.js";
import type { EndpointSettings, NetworkCreateRequest, NetworkRecord, NetworkResource, NetworkSettings, SandboxRecord } from "./types.js";
import { NetworkCore, type DnsNetwork, type LiveContainer, type NetworkServiceOptions, type Sandbox, type SandboxRequest } from "./core.js";

export {
  DEFAULT_NETNS_DIR,
  DEFAULT_ROOT,
  type DefaultBridgeOptions,
  type DnsNetwork,
  type LiveContainer,
  type NetworkEvent,
  type NetworkServiceOptions,
  type Sandbox,
  type SandboxRequest,
} from "./core.js";

export class NetworkService {
  readonly root: string;
  readonly netnsDir: string;

  private constructor(private readonly core: NetworkCore) {
    this.root = core.root;
    this.netnsDir = core.netnsDir;
  }

  /** Opens the service: loads state, makes the predefined networks, restores bridges and the firewall. */
  static async open(opts: NetworkServiceOptions): Promise<NetworkService> {
    const core = new NetworkCore(opts);
    core.m = {
      networks: new Networks(core),
      sandboxes: new Sandboxes(core),
      endpoints: new Endpoints(core),
      ports: new Ports(core),
      names: new Names(core),
      views: new Views(core),
    };
    for (const d of ["networks", "containers", "sandboxes"]) await mkdir(path.join(core.root, d), { recursive: true, mode: 0o700 });
    const mounted = await prepareNetnsDir(core.netnsDir);
    try {
      await core.load();
      await core.m.networks.ensurePredefined();
      for (const n of core.networks.values()) if (n.Driver === "bridge") ensureBridge(n, core.owner);
      await core.m.ports.applyFirewall();
    } catch (err) {
      // a daemon that cannot start (a bridge another daemon owns, say) leaves no mount behind
      if (mounted) unmountQuiet(core.netnsDir, core.log);
      throw err;
    }
    return new NetworkService(core);
  }

  // ------------------------------------------------------------------ networks

  /** Finds a network by full id, name, or unique id prefix (Docker's order). */
  find(ref: string): NetworkRecord {
    return this.core.find(ref);
  }

  tryFind(ref: string): NetworkRecord | undefined {
    return this.core.tryFind(ref);
  }

  inspect(ref: string): NetworkResource {
    return this.core.m.networks.inspect(ref);
  }

  /** GET /networks with Docker's filters: driver, id, label, name, scope, type (builtin/custom), dangling. */
  list(filters: Record<string, string[]> = {}): NetworkResource[] {
    return this.core.m.networks.list(filters);
  }

  create(req: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
    return this.core.m.networks.create(req);
  }

  remove(ref: string): Promise<void> {
    return this.core.m.networks.remove(ref);
  }

  /** POST /networks/prune: removes custom networks no container uses. */
  prune(filters: Record<string, string[]> = {}): Promise<string[]> {
    return this.core.m.networks.prune(filters);
  }

  // ------------------------------------------------------------------ container attachments and sandboxes

  /**
   * Records a new container's networks (create): the mode's network and NetworkingConfig's
   * EndpointsConfig. Validates that they exist and that the settings fit.
   */
  attach(containerId: string, mode: string, endpoints: Record<string, Partial<EndpointSettings> | null | undefined> = {}): Promise<void> {
    return this.core.m.sandboxes.attach(containerId, mode, endpoints);
  }

  /** Forgets a removed container's attachments (its sandbox must be torn down first). */
  forget(containerId: string): Promise<void> {
    return this.core.m.sandboxes.forget(containerId);
  }

  /** The networks a container is attached to, in attachment order. */
  attachedNetworks(containerId: string): NetworkRecord[] {
    return this.core.attachedNetworks(containerId);
  }

  netnsPath(containerId: string): string {
    return this.core.m.sandboxes.netnsPath(containerId);
  }

  sandbox(containerId: string): SandboxRecord | undefined {
    return this.core.m.sandboxes.sandbox(containerId);
  }

  /**
   * Makes a container's network before its process starts: the namespace (with lo up), one
   * endpoint per attached network, published ports. Returns undefined for host and container:
   * modes (the caller joins the host's or the other container's namespace).
   */
  setUp(req: SandboxRequest): Promise<Sandbox | undefined> {
    return this.core.m.sandboxes.setUp(req);
  }

  /** Tears a container's network down (exit, stop, failed start, remove). Idempotent. */
  tearDown(containerId: string): Promise<void> {
    return this.core.m.sandboxes.tearDown(containerId);
  }

  /**
   * Brings the service in line with the containers that run: sandboxes of containers that do not
   * run are torn down, the ports of those that do are held again. Call once after the container
   * service restored its containers.
   */
  reconcile(running: Set<string>): Promise<void> {
    return this.core.m.sandboxes.reconcile(running);
  }

  /** Connects a container to a network; live when it runs (a new interface in its namespace). */
  connect(networkRef: string, container: LiveContainer & { running: boolean; mode: string }, cfg: Partial<EndpointSettings> = {}): Promise<void> {
    return this.core.m.sandboxes.connect(networkRef, container, cfg);
  }

  disconnect(networkRef: string, container: LiveContainer, force = false): Promise<void> {
    return this.core.m.sandboxes.disconnect(networkRef, container, force);
  }

  /** Updates a renamed container's DNS names. */
  rename(containerId: string, newName: string): void {
    this.core.m.sandboxes.rename(containerId, newName);
  }

  /** Removes everything this instance made on the host: sandboxes, bridges, the firewall (tests, uninstall). */
  uninstall(): Promise<void> {
    return this.core.m.sandboxes.uninstall();
  }

  /** Releases held ports without touching the kernel state (daemon shutdown: containers keep running). */
  close(): void {
    this.core.m.sandboxes.close();
    // no container's namespace is kept here for a live restore: the bind mount and the directory
    // go with the daemon (the next start makes them again)
    const dir = this.core.netnsDir;
    try {
      if (readdirSync(dir).length > 0) return;
      unmountQuiet(dir, this.core.log);
      rmdirSync(dir);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) this.core.log(`cove: leaving ${dir} in place: ${(err as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ container views

  /** NetworkSettings of container inspect, as Docker reports it (a running container's exposed but unpublished ports as null). */
  settings(containerId: string, mode: string, running: boolean, exposed?: Record<string, unknown>): NetworkSettings {
    return this.core.m.views.settings(containerId, mode, running, exposed);
  }

  /** The container's address on a network (for legacy links and hosts entries). */
  addressOn(containerId: string, networkRef: string): string | undefined {
    return this.core.m.views.addressOn(containerId, networkRef);
  }

  /** Whether the container's first network is a user-defined one (name resolution by the embedded DNS). */
  usesEmbeddedDns(containerId: string, mode: string): boolean {
    return this.core.m.views.usesEmbeddedDns(containerId, mode);
  }

  /**
   * The per-container files' network parts: the hosts entries for the container's own addresses
   * and the resolv.conf nameserver (the embedded DNS address on user-defined networks).
   */
  containerFiles(containerId: string, hostname: string): { hostsEntries: string[]; nameservers: string[] } {
    return this.core.m.views.containerFiles(containerId, hostname);
  }

  // ------------------------------------------------------------------ the embedded DNS server's lookups

  /**
   * Addresses for a name on one network: container name, network alias, short id (12 hex), or
   * <name>.<network>, as Docker's embedded DNS answers them. family 4 gives A, 6 gives AAAA.
   */
  resolve(networkId: string, name: string, family: 4 | 6): string[] {
    return this.core.m.names.resolve(networkId, name, family);
  }

  /** PTR: "<container name>.<network name>" for a container address on a user-defined network. */
  reverse(ip: string): string | undefined {
    return this.core.m.names.reverse(ip);
  }

  /** The networks the embedded DNS serves (user-defined bridge networks) and where. */
  dnsNetworks(): DnsNetwork[] {
    return this.core.m.names.dnsNetworks();
  }

  /** Whether a network forwards nothing outside (the DNS server must not forward its queries). */
  isInternal(networkId: string): boolean {
    return this.core.m.names.isInternal(networkId);
  }

  /** The resolvers the embedded DNS forwards other names to, for a query from sourceIp (see Names.upstreams). */
  upstreams(sourceIp?: string): string[] {
    return this.core.m.names.upstreams(sourceIp);
  }

  /** Follows DNS-served networks as they are created and removed. Returns an unsubscribe function. */
  onDnsNetwork(listener: (action: "create" | "destroy", n: DnsNetwork) => void): () => void {
    return this.core.m.names.onDnsNetwork(listener);
  }
}
