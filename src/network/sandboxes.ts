// Sandboxes: a container's network from create to removal. attach records the networks a new
// container asks for; setUp makes its namespace with one endpoint per network and its published
// ports before its process starts; connect and disconnect change them, live when it runs;
// tearDown undoes setUp (exit, stop, failed start, remove); reconcile tears down the sandboxes of
// containers that no longer run after a daemon restart, so nothing (veth, netns, rule, lease, held
// port) is left behind.
//
// Why a namespace made before the container: the runtime joins it by path, so the container's
// network survives the daemon (live restore), a restart policy starts the container again in a
// fresh sandbox the same way, and container:<name> joins a stable path rather than a PID.

import { isIP } from "node:net";
import path from "node:path";
import { CoveError, invalid } from "../common/errors.js";
import { ignoring } from "../common/ignore.js";
import { parseIp, release } from "./ipam.js";
import { Netlink } from "./netlink.js";
import { deleteLinkQuiet, makeNamespace, removeNetns } from "./host.js";
import { holdPorts } from "./ports.js";
import { editHostsFile, hostsRecords } from "./names.js";
import type { Attachment, EndpointRecord, EndpointSettings, NetworkRecord, SandboxRecord } from "./types.js";
import { forbidden, PREDEFINED, shortName, type Held, type LiveContainer, type NetworkCore, type Sandbox, type SandboxRequest } from "./core.js";

export class Sandboxes {
  /** The sockets holding each running container's published ports. */
  private readonly held = new Map<string, Held[]>();
  /** Address releases waiting for the kernel to remove torn-down veths (see tearDown). */
  private readonly releasing = new Set<Promise<void>>();

  constructor(private readonly core: NetworkCore) {}

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
      if (mode === "host" || mode === "none") this.core.find(mode);
      return;
    }
    const primary = this.core.find(mode);
    for (const [ref, cfg] of Object.entries(endpoints)) {
      const n = ref === "default" ? primary : this.core.find(ref);
      wanted[n.Id] = this.attachmentOf(n, cfg ?? {});
    }
    wanted[primary.Id] ??= this.attachmentOf(primary, {});
    this.core.attachments.set(containerId, wanted);
    await this.core.saveAttachments(containerId);
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
      if (!this.core.poolFor(n, ipv4)) throw invalid(`no configured subnet or ip-range contain the IP address ${ipv4}`, { code: "network.ip-outside" });
      a.ipv4 = ipv4;
    }
    if (ipv6) {
      if (parseIp(ipv6).family !== 6) throw invalid(`invalid IPv6 address: ${ipv6}`, { code: "network.ip-invalid" });
      if (!this.core.poolFor(n, ipv6)) throw invalid(`no configured subnet or ip-range contain the IP address ${ipv6}`, { code: "network.ip-outside" });
      a.ipv6 = ipv6;
    }
    for (const ll of cfg.IPAMConfig?.LinkLocalIPs ?? []) {
      if (typeof ll !== "string" || !isIP(ll)) throw invalid(`invalid link-local IP address: ${String(ll)}`, { code: "network.ip-invalid" });
    }
    if (cfg.IPAMConfig?.LinkLocalIPs?.length) a.linkLocal = [...cfg.IPAMConfig.LinkLocalIPs];
    if (aliases.length) a.aliases = [...aliases];
    if (cfg.Links?.length) a.links = [...cfg.Links];
    if (cfg.MacAddress) {
      const mac = parseMac(cfg.MacAddress);
      // dockerd's validateNetworkingConfig wording (400 at create)
      if (!mac) throw invalid(`invalid config for network ${n.Name}: invalid MAC address ${cfg.MacAddress}`, { code: "network.mac", field: "MacAddress" });
      a.macAddress = mac;
    }
    if (cfg.DriverOpts) a.driverOpts = { ...cfg.DriverOpts };
    return a;
  }

  /** Forgets a removed container's attachments (its sandbox must be torn down first). */
  async forget(containerId: string): Promise<void> {
    await this.tearDown(containerId);
    if (this.core.attachments.delete(containerId)) await this.core.saveAttachments(containerId);
  }

  // ------------------------------------------------------------------ sandboxes

  netnsPath(containerId: string): string {
    return path.join(this.core.netnsDir, containerId);
  }

  sandbox(containerId: string): SandboxRecord | undefined {
    return this.core.sandboxes.get(containerId);
  }

  /**
   * Makes a container's network before its process starts: the namespace (with lo up), one
   * endpoint per attached network, published ports. Returns undefined for host and container:
   * modes (the caller joins the host's or the other container's namespace).
   */
  async setUp(req: SandboxRequest): Promise<Sandbox | undefined> {
    let firewall: Promise<void> | undefined;
    const made = await this.core.serial(async () => {
      if (req.mode === "host" || req.mode.startsWith("container:")) return undefined;
      if (this.core.sandboxes.has(req.containerId)) await this.tearDownNow(req.containerId);
      const nets = req.mode === "none" ? [] : this.core.attachedNetworks(req.containerId);
      if (req.mode !== "none" && nets.length === 0) {
        // a container created before cove had networking, or before its network was made
        const n = this.core.find(req.mode);
        this.core.attachments.set(req.containerId, { [n.Id]: {} });
      }
      const attached = req.mode === "none" ? [] : this.core.attachedNetworks(req.containerId);
      const wants = this.core.attachments.get(req.containerId) ?? {};
      const sb: SandboxRecord = { containerId: req.containerId, name: req.name.startsWith("/") ? req.name : `/${req.name}`, netns: this.netnsPath(req.containerId), endpoints: [], ports: [], dns: req.dns ?? [] };
      this.core.sandboxes.set(sb.containerId, sb);
      try {
        for (const n of attached) sb.endpoints.push(await this.planEndpointWaiting(sb, n, wants[n.Id] ?? {}, req));
        const first = sb.endpoints.find((e) => this.core.networks.get(e.networkId)?.Driver === "bridge");
        const ports = first ? this.core.m.ports.plan(req, first) : [];
        // held before the record: a port in use fails the start with nothing made
        const prefix = `driver failed programming external connectivity on endpoint ${shortName(sb.name)} (${first?.endpointId ?? ""})`;
        this.core.m.ports.checkFree(sb, ports, prefix);
        const held = await holdPorts(ports, this.core.opts.hostPorts).catch((err: unknown) => {
          throw err instanceof CoveError ? new CoveError(err.kind, `${prefix}: ${err.message}`, { code: err.code }) : err;
        });
        this.held.set(sb.containerId, held);
        sb.ports = ports;
        await this.core.saveSandbox(sb);
        await makeNamespace(sb);
        for (const ep of sb.endpoints) await this.core.m.endpoints.plumb(sb, ep, req);
        // waited for below, outside the lock: other containers' starts meanwhile share the rewrite
        if (sb.ports.length) {
          firewall = this.core.m.ports.applyFirewall();
          firewall.catch(() => undefined);
        }
        for (const ep of sb.endpoints) this.core.emit("connect", this.core.networks.get(ep.networkId)!, { container: sb.containerId });
        return { netns: sb.netns, record: sb };
      } catch (err) {
        await this.tearDownNow(sb.containerId).catch((e: unknown) => this.core.log(`cleaning up the network of ${sb.containerId}: ${(e as Error).message}`));
        throw err;
      }
    });
    if (made && firewall) {
      try {
        await firewall;
      } catch (err) {
        await this.tearDown(req.containerId).catch((e: unknown) => this.core.log(`cleaning up the network of ${req.containerId}: ${(e as Error).message}`));
        throw err;
      }
    }
    return made;
  }

  /** Endpoints.plan, waiting once for addresses whose release waits for the kernel when the pool has none left (or the wanted one is among them). */
  private async planEndpointWaiting(sb: SandboxRecord, n: NetworkRecord, want: Attachment, req: SandboxRequest): Promise<EndpointRecord> {
    try {
      return this.core.m.endpoints.plan(sb, n, want, req);
    } catch (err) {
      if (!(err instanceof CoveError) || !["network.exhausted", "network.ip-in-use"].includes(err.code ?? "") || this.releasing.size === 0) throw err;
      await Promise.all([...this.releasing]);
      return this.core.m.endpoints.plan(sb, n, want, req);
    }
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
  async tearDown(containerId: string): Promise<void> {
    const { firewall } = await this.core.serial(async (): Promise<{ firewall?: Promise<void> }> => {
      const sb = this.core.sandboxes.get(containerId);
      const wants = this.core.attachments.get(containerId) ?? {};
      // a fixed address must be free again when the container restarts: those wait for the kernel
      const fixed = sb?.endpoints.some((e) => wants[e.networkId]?.ipv4 || wants[e.networkId]?.ipv6);
      if (!sb || sb.ports.length || fixed || sb.endpoints.some((e) => e.cni || !e.hostVeth)) return this.tearDownNow(containerId, "outside");
      for (const h of this.held.get(containerId) ?? []) h.close();
      this.held.delete(containerId);
      try {
        await removeNetns(sb.netns);
      } catch (err) {
        this.core.log(`unmounting the namespace of ${containerId}: ${(err as Error).message}; removing its veths`);
        return this.tearDownNow(containerId, "outside");
      }
      this.core.sandboxes.delete(containerId);
      await this.core.removeSandboxFile(containerId);
      this.releaseWhenGone(sb);
      this.core.emitDisconnects(sb);
      return {};
    });
    // the rewrite without this container's ports, waited for outside the lock (see setUp)
    await firewall;
  }

  /** Releases a torn-down sandbox's addresses once the kernel has removed its host veths (deletes them itself after a while). */
  private releaseWhenGone(sb: SandboxRecord): void {
    const started = Date.now();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    this.releasing.add(finished);
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
        this.core.log(`removing the veths of ${sb.containerId}: ${(err as Error).message}`);
        left = [];
      } finally {
        nl.close();
      }
      if (left.length) setTimeout(check, 10).unref();
      else {
        this.core.releaseAddresses(sb);
        this.releasing.delete(finished);
        done();
      }
    };
    setTimeout(check, 5).unref();
  }

  /**
   * Tears a sandbox down at once. Its firewall rewrite is waited for here, or with "outside"
   * returned (it never fails: a failure is logged) for the caller to wait for once it has left
   * the lock.
   */
  private async tearDownNow(containerId: string, firewallWait: "here" | "outside" = "here"): Promise<{ firewall?: Promise<void> }> {
    const sb = this.core.sandboxes.get(containerId);
    for (const h of this.held.get(containerId) ?? []) h.close();
    this.held.delete(containerId);
    if (!sb) return {};
    const errors: string[] = [];
    for (const ep of sb.endpoints) {
      try {
        await this.core.m.endpoints.unplumb(sb, ep);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    await removeNetns(sb.netns).catch((err: unknown) => errors.push((err as Error).message));
    this.core.releaseAddresses(sb);
    this.core.sandboxes.delete(containerId);
    let firewall: Promise<void> | undefined;
    if (sb.ports.length) {
      firewall = this.core.m.ports.applyFirewall().catch((err: unknown) => {
        if (firewallWait === "here") errors.push((err as Error).message);
        else this.core.log(`network teardown of ${containerId}: ${(err as Error).message}`);
      });
      if (firewallWait === "here") await firewall;
    }
    await this.core.removeSandboxFile(containerId);
    this.core.emitDisconnects(sb);
    if (errors.length) this.core.log(`network teardown of ${containerId}: ${errors.join("; ")}`);
    return firewallWait === "outside" && firewall ? { firewall } : {};
  }

  /**
   * Brings the service in line with the containers that run: sandboxes of containers that do not
   * run are torn down, the ports of those that do are held again. Call once after the container
   * service restored its containers.
   */
  reconcile(running: Set<string>): Promise<void> {
    return this.core.serial(async () => {
      for (const id of [...this.core.sandboxes.keys()]) {
        if (!running.has(id)) {
          await this.tearDownNow(id);
          continue;
        }
        const sb = this.core.sandboxes.get(id)!;
        if (sb.ports.length && !this.held.has(id)) {
          try {
            this.held.set(id, await holdPorts(sb.ports, this.core.opts.hostPorts));
          } catch (err) {
            this.core.log(`container ${id}: ${(err as Error).message}; its published ports keep working through the firewall`);
          }
        }
      }
      // names or namespaces of a sandbox whose record never got written
      await this.core.m.ports.applyFirewall();
    });
  }

  /** Connects a container to a network; live when it runs (a new interface in its namespace). */
  connect(networkRef: string, container: LiveContainer & { running: boolean; mode: string }, cfg: Partial<EndpointSettings> = {}): Promise<void> {
    return this.core.serial(async () => {
      const n = this.core.find(networkRef);
      const mode = container.mode;
      // moby's runconfig errors, validation errors (400) there
      if (mode === "none") throw invalid(`container cannot be connected to multiple networks with one of the networks in private (none) mode`, { code: "network.mode-conflict" });
      if (mode === "host" || mode.startsWith("container:")) {
        throw invalid(`container sharing network namespace with another container or host cannot be connected to any other network`, { code: "network.mode-conflict" });
      }
      if (n.Name === "host" || n.Name === "none") throw invalid(`container cannot be disconnected from host network or connected to host network`, { code: "network.mode-conflict" });
      const a = this.core.attachments.get(container.id) ?? {};
      if (a[n.Id]) throw forbidden(`endpoint with name ${shortName(container.name)} already exists in network ${n.Name}`, { code: "network.connected" });
      a[n.Id] = this.attachmentOf(n, cfg);
      const sb = this.core.sandboxes.get(container.id);
      if (container.running && sb) {
        const ep = this.core.m.endpoints.plan(sb, n, a[n.Id]!, { containerId: container.id, name: container.name, hostname: "", mode });
        sb.endpoints.push(ep);
        await this.core.saveSandbox(sb);
        try {
          await this.core.m.endpoints.plumb(sb, ep, { containerId: container.id, name: container.name, hostname: "", mode }, true);
        } catch (err) {
          sb.endpoints.pop();
          for (const ip of [ep.ipv4, ep.ipv6]) if (ip) release(this.core.poolFor(n, ip)!, ip);
          await this.core.m.endpoints.unplumb(sb, ep).catch(ignoring(`unplumb container ${container.id} from network ${n.Name} after its connect failed`, this.core.log));
          await this.core.saveSandbox(sb);
          throw err;
        }
        await this.core.m.endpoints.ensureDefaultRoute(sb);
        if (container.hostsPath && container.hostname) await editHostsFile(container.hostsPath, hostsRecords(ep, container.hostname), []);
        this.core.emit("connect", n, { container: container.id });
      }
      this.core.attachments.set(container.id, a);
      await this.core.saveAttachments(container.id);
    });
  }

  disconnect(networkRef: string, container: LiveContainer, force = false): Promise<void> {
    return this.core.serial(async () => {
      const n = this.core.find(networkRef);
      if (n.Name === "host" || n.Name === "none") throw forbidden(`container cannot be disconnected from host network or connected to host network`, { code: "network.mode-conflict" });
      const a = this.core.attachments.get(container.id);
      const sb = this.core.sandboxes.get(container.id);
      const ep = sb?.endpoints.find((e) => e.networkId === n.Id);
      if (!a?.[n.Id] && !ep) {
        if (force) return;
        throw forbidden(`container ${container.id} is not connected to network ${n.Name}`, { code: "network.not-connected" });
      }
      if (a) delete a[n.Id];
      if (sb && ep) {
        await this.core.m.endpoints.unplumb(sb, ep).catch((err: unknown) => {
          if (!force) throw err;
        });
        for (const ip of [ep.ipv4, ep.ipv6]) if (ip) release(this.core.poolFor(n, ip)!, ip);
        sb.endpoints = sb.endpoints.filter((e) => e !== ep);
        await this.core.m.endpoints.ensureDefaultRoute(sb).catch((err: unknown) => this.core.log(`moving the default route of ${container.id}: ${(err as Error).message}`));
        if (container.hostsPath && container.hostname) await editHostsFile(container.hostsPath, [], hostsRecords(ep, container.hostname)).catch((err: unknown) => this.core.log(`updating ${container.hostsPath}: ${(err as Error).message}`));
        const before = sb.ports.length;
        sb.ports = sb.ports.filter((p) => p.bridge !== n.bridge);
        await this.core.saveSandbox(sb);
        if (before !== sb.ports.length) await this.core.m.ports.applyFirewall();
      }
      await this.core.saveAttachments(container.id);
      this.core.emit("disconnect", n, { container: container.id });
    });
  }

  /** Updates a renamed container's DNS names. */
  rename(containerId: string, newName: string): void {
    const sb = this.core.sandboxes.get(containerId);
    if (!sb) return;
    const old = shortName(sb.name);
    sb.name = newName.startsWith("/") ? newName : `/${newName}`;
    for (const ep of sb.endpoints) ep.dnsNames = ep.dnsNames.map((d) => (d === old ? shortName(newName) : d));
    void this.core.saveSandbox(sb).catch(ignoring(`save the sandbox of renamed container ${containerId}`, this.core.log));
  }

  /** Removes everything this instance made on the host: sandboxes, bridges, the firewall (tests, uninstall). */
  uninstall(): Promise<void> {
    return this.core.serial(async () => {
      // every step is tried: one sandbox that cannot go must not keep the bridges and chains
      const failures: unknown[] = [];
      await Promise.allSettled([...this.releasing]);
      for (const id of [...this.core.sandboxes.keys()]) await this.tearDownNow(id).catch((err: unknown) => failures.push(err));
      for (const n of this.core.networks.values()) if (n.bridge) deleteLinkQuiet(n.bridge, this.core.log);
      // a rewrite a teardown left running outside the lock would bring the chains back
      await this.core.m.ports.applied();
      await this.core.firewall.remove().catch((err: unknown) => failures.push(err));
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1) throw new AggregateError(failures, `uninstalling the network left ${failures.length} failures: ${failures.map((e) => (e as Error).message).join("; ")}`);
    });
  }

  /** Releases held ports without touching the kernel state (daemon shutdown: containers keep running). */
  close(): void {
    for (const list of this.held.values()) for (const h of list) h.close();
    this.held.clear();
  }
}

/**
 * An Ethernet MAC address as Go's net.ParseMAC reads one (aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or
 * aabb.ccdd.eeff), in its canonical form (lower case, colons); undefined when it is not one.
 */
export function parseMac(s: string): string | undefined {
  let hex: string | undefined;
  if (/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(s) || /^([0-9a-fA-F]{2}-){5}[0-9a-fA-F]{2}$/.test(s)) hex = s.replace(/[:-]/g, "");
  else if (/^([0-9a-fA-F]{4}\.){2}[0-9a-fA-F]{4}$/.test(s)) hex = s.replace(/\./g, "");
  if (!hex) return undefined;
  return hex.toLowerCase().match(/../g)!.join(":");
}
