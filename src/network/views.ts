// Container views: a container's network as inspect shows it (NetworkSettings), its address on a
// network, and the network parts of its /etc/hosts and resolv.conf.

import { createHash } from "node:crypto";
import type { Attachment, EndpointRecord, EndpointSettings, NetworkSettings, PortBinding } from "./types.js";
import { hostsRecords } from "./names.js";
import type { NetworkCore } from "./core.js";

export class Views {
  constructor(private readonly core: NetworkCore) {}

  /** NetworkSettings of container inspect, as Docker reports it (a running container's exposed but unpublished ports as null). */
  settings(containerId: string, mode: string, running: boolean, exposed?: Record<string, unknown>): NetworkSettings {
    const sb = running ? this.core.sandboxes.get(containerId) : undefined;
    const networks: Record<string, EndpointSettings> = {};
    const wants = this.core.attachments.get(containerId) ?? {};
    if (mode === "host" || mode === "none") {
      const n = this.core.tryFind(mode);
      networks[mode] = endpointView(n?.Id ?? "", undefined, {});
    } else if (!mode.startsWith("container:")) {
      for (const [id, want] of Object.entries(wants)) {
        const n = this.core.networks.get(id);
        if (!n) continue;
        networks[n.Name] = endpointView(n.Id, sb?.endpoints.find((e) => e.networkId === id), want);
      }
      if (Object.keys(networks).length === 0) {
        const n = this.core.tryFind(mode);
        if (n) networks[n.Name] = endpointView(n.Id, undefined, {});
      }
    }
    const ports: Record<string, PortBinding[] | null> = {};
    if (sb) {
      for (const p of sb.ports) (ports[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
      for (const key of Object.keys(exposed ?? {})) ports[key.includes("/") ? key : `${key}/tcp`] ??= null;
    }
    const def = sb?.endpoints.find((e) => this.core.networks.get(e.networkId)?.Name === "bridge");
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
    const n = this.core.tryFind(networkRef);
    return this.core.sandboxes.get(containerId)?.endpoints.find((e) => e.networkId === n?.Id)?.ipv4;
  }

  /** Whether the container's first network is a user-defined one (name resolution by the embedded DNS). */
  usesEmbeddedDns(containerId: string, mode: string): boolean {
    if (mode === "host" || mode === "none" || mode.startsWith("container:") || mode === "bridge") return false;
    const n = this.core.tryFind(mode);
    return !!n && n.Name !== "bridge" && n.Driver !== "host" && n.Driver !== "null" && !!containerId;
  }

  /**
   * The per-container files' network parts: the hosts entries for the container's own addresses
   * and the resolv.conf nameserver (the embedded DNS address on user-defined networks).
   */
  containerFiles(containerId: string, hostname: string): { hostsEntries: string[]; nameservers: string[] } {
    const sb = this.core.sandboxes.get(containerId);
    const entries: string[] = [];
    const nameservers: string[] = [];
    for (const ep of sb?.endpoints ?? []) {
      const n = this.core.networks.get(ep.networkId);
      entries.push(...hostsRecords(ep, hostname));
      if (n && n.Name !== "bridge" && n.Driver === "bridge" && ep.gateway && !nameservers.includes(ep.gateway)) nameservers.push(ep.gateway);
    }
    return { hostsEntries: entries, nameservers };
  }
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
