// cove's persisted network state, and Docker's network JSON (Engine API v1.47, defined in
// src/docker) under the names the network service uses.

import type { NetworkResource } from "../docker/index.js";
import type { PoolState } from "./ipam.js";

export type { EndpointSettings, IpamConfig, NetworkContainer, NetworkCreateRequest, NetworkResource, NetworkSettings, PortBinding } from "../docker/index.js";

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
