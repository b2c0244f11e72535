// Endpoints: a sandbox's interface on one network. Planning one takes its addresses from the
// network's pools and names its interfaces; plumbing makes it in the kernel (a veth into the
// bridge, or a CNI plugin's ADD) and unplumbing removes it; the default route follows the first
// endpoint with egress.

import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { isIP } from "node:net";
import { invalid, systemError } from "../common/errors.js";
import { invokeCni } from "./cni.js";
import { allocate, macFromIp, parseCidr, randomMac, release } from "./ipam.js";
import { AF_INET6, Netlink, NetlinkError, netlinkFailure } from "./netlink.js";
import { ensureBridge } from "./host.js";
import type { Attachment, EndpointRecord, NetworkRecord, SandboxRecord } from "./types.js";
import { MTU_OPT, newId, shortName, type NetworkCore, type SandboxRequest } from "./core.js";

export class Endpoints {
  constructor(private readonly core: NetworkCore) {}

  /** A new endpoint of sb on n: its addresses from the pools (the wanted ones when given), MAC, interface names and DNS names. */
  plan(sb: SandboxRecord, n: NetworkRecord, want: Attachment, req: SandboxRequest): EndpointRecord {
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

  /** The kernel side of one endpoint: veth into the bridge (or a CNI plugin), addresses, routes. */
  async plumb(sb: SandboxRecord, ep: EndpointRecord, _req: SandboxRequest, live = false): Promise<void> {
    const n = this.core.networks.get(ep.networkId)!;
    const isDefaultRoute = !n.Internal && sb.endpoints.filter((e) => !this.core.networks.get(e.networkId)?.Internal)[0] === ep;
    if (n.Driver !== "bridge") {
      ep.cni = this.cniConfig(n, ep, isDefaultRoute);
      await invokeCni("ADD", ep.cni, { containerId: sb.containerId, netns: sb.netns, ifName: ep.ifName }, this.core.cniPath);
      return;
    }
    ensureBridge(n, this.core.owner);
    const host = Netlink.open();
    const fd = openSync(sb.netns, "r");
    try {
      const bridge = host.link(n.bridge!);
      if (!bridge) throw systemError(`bridge ${n.bridge} is missing`, { code: "network.bridge" });
      host.createVeth(ep.hostVeth!, ep.ifName, fd, { master: bridge.index, peerMac: ep.mac, ...(n.mtu ? { mtu: n.mtu } : {}) });
    } catch (err) {
      // the kernel numbers a bridge's ports in 10 bits, port 0 its own: 1,023 interfaces at most
      if (err instanceof NetlinkError && err.code === "EXFULL") {
        throw invalid(`network ${n.Name} is full: its bridge ${n.bridge} has 1,023 ports, the most the kernel allows on one bridge, so ${shortName(sb.name)} cannot join it`, {
          code: "network.bridge-full",
          hint: `spread the containers over more networks (docker network create another, and run --network it)`,
        });
      }
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
      for (const ll of this.core.attachments.get(sb.containerId)?.[n.Id]?.linkLocal ?? []) inner.addAddress(link.index, ll, isIP(ll) === 4 ? 16 : 64);
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

  async unplumb(sb: SandboxRecord, ep: EndpointRecord): Promise<void> {
    if (ep.cni) {
      await invokeCni("DEL", ep.cni, { containerId: sb.containerId, netns: sb.netns, ifName: ep.ifName }, this.core.cniPath);
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
   * Points the namespace's default routes at the first endpoint on a network with egress (the
   * gateway moves there when a live connect or disconnect changes which one that is). Routes are
   * replaced, so a default that is already right is left as it is.
   */
  async ensureDefaultRoute(sb: SandboxRecord): Promise<void> {
    const ep = sb.endpoints.find((e) => !this.core.networks.get(e.networkId)?.Internal);
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
}
