// Docker's network JSON (Engine API v1.47) and cove's persisted network state.

import type { PoolState } from "./ipam.js";

export interface IpamConfig {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface NetworkCreateRequest {
  Name: string;
  CheckDuplicate?: boolean;
  Driver?: string;
  Scope?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  ConfigOnly?: boolean;
  ConfigFrom?: { Network?: string } | null;
  EnableIPv4?: boolean;
  EnableIPv6?: boolean;
  IPAM?: { Driver?: string; Config?: IpamConfig[] | null; Options?: Record<string, string> | null } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

export interface NetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

/** GET /networks/{id} (and the entries of GET /networks). */
export interface NetworkResource {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamConfig[] | null };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, NetworkContainer>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** What <root>/network/networks/<id>.json holds. */
export interface NetworkRecord extends Omit<NetworkResource, "Containers"> {
  /** The bridge interface (bridge driver). */
  bridge?: string;
  mtu?: number;
  /** One pool per subnet; allocations are rebuilt from the sandboxes at load. */
  pools: PoolState[];
  /** Whether the user gave the subnets (a fixed --ip needs that, as in Docker). */
  userSubnets?: boolean;
}

/** EndpointSettings in container inspect and in NetworkingConfig.EndpointsConfig. */
export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] } | null;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  DriverOpts: Record<string, string> | null;
  GwPriority?: number;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

export interface NetworkSettings {
  Bridge: string;
  SandboxID: string;
  SandboxKey: string;
  HairpinMode: boolean;
  LinkLocalIPv6Address: string;
  LinkLocalIPv6PrefixLen: number;
  Ports: Record<string, PortBinding[] | null>;
  SecondaryIPAddresses: null;
  SecondaryIPv6Addresses: null;
  EndpointID: string;
  Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  MacAddress: string;
  Networks: Record<string, EndpointSettings>;
}

/** A container's wish to be on a network (NetworkingConfig, or connect while stopped). */
export interface Attachment {
  aliases?: string[];
  ipv4?: string;
  ipv6?: string;
  /** --link-local-ip: extra addresses on the interface, outside IPAM. */
  linkLocal?: string[];
  links?: string[];
  macAddress?: string;
  driverOpts?: Record<string, string>;
}

export interface EndpointRecord {
  networkId: string;
  endpointId: string;
  ifName: string;
  hostVeth?: string;
  mac: string;
  ipv4?: string;
  ipv4Prefix?: number;
  gateway?: string;
  ipv6?: string;
  ipv6Prefix?: number;
  gateway6?: string;
  aliases: string[];
  dnsNames: string[];
  /** The CNI configuration ADD ran with (DEL runs with the same). */
  cni?: Record<string, unknown>;
}

export interface PortRecord {
  proto: "tcp" | "udp" | "sctp";
  hostIp: string;
  hostPort: number;
  containerPort: number;
  containerIp: string;
  bridge: string;
}

/** A running container's network state: <root>/network/sandboxes/<containerId>.json. */
export interface SandboxRecord {
  containerId: string;
  name: string;
  netns: string;
  endpoints: EndpointRecord[];
  ports: PortRecord[];
  /** The container's --dns servers (the embedded DNS server forwards to these). */
  dns: string[];
}
