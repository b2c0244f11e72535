// Public entry of cove's networking: the network service (networks, IPAM, sandboxes, ports,
// firewall, the embedded DNS server's lookups) and Docker's network JSON types.

export { NetworkService, DEFAULT_NETNS_DIR, type NetworkServiceOptions, type DefaultBridgeOptions, type SandboxRequest, type Sandbox, type DnsNetwork, type NetworkEvent } from "./service.js";
export type { NetworkResource, NetworkCreateRequest, NetworkContainer, EndpointSettings, NetworkSettings, PortBinding, IpamConfig, Attachment } from "./types.js";
export { parseCidr, formatCidr, chooseSubnet, parseAddressPool, type AddressPool } from "./ipam.js";
export { checkBridgeName, defaultBridgePool } from "./networks.js";
export { serveNetworkDns, type NetworkDns, type NetworkDnsOptions } from "./dns.js";
