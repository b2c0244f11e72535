// The networking part of `cove run/create`: --network (also the advanced
// "name=net,alias=a,ip=..." form, repeatable), --network-alias, --ip, --ip6, --mac-address,
// --link-local-ip and --link, turned into HostConfig.NetworkMode and
// NetworkingConfig.EndpointsConfig exactly as the docker CLI (v28) sends them.

import { endpointSettings, type EndpointSettings } from "../docker/index.js";
import { UsageError } from "./flags.js";

interface Attachment {
  target: string;
  aliases: string[];
  driverOpts: Record<string, string>;
  links: string[];
  ipv4: string;
  ipv6: string;
  mac: string;
  linkLocal: string[];
  gwPriority: number;
}

export interface NetworkFlags {
  network: string[];
  aliases: string[];
  links: string[];
  ip: string;
  ip6: string;
  mac: string;
  linkLocal: string[];
}

/** Docker's NetworkMode.IsUserDefined: not default, bridge, host, none or container:<x>. */
export function isUserDefined(mode: string): boolean {
  return !["default", "bridge", "host", "none"].includes(mode) && !mode.startsWith("container:");
}

/** Go's net.ParseMAC: 6, 8 or 20 bytes as aa:bb:.., aa-bb-.. or aabb.ccdd.eeff. */
export function isMacAddress(s: string): boolean {
  for (const n of [6, 8, 20]) {
    const hex = "[0-9a-fA-F]{2}";
    if (new RegExp(`^${hex}(:${hex}){${n - 1}}$`).test(s) || new RegExp(`^${hex}(-${hex}){${n - 1}}$`).test(s)) return true;
    if (new RegExp(`^[0-9a-fA-F]{4}(\\.[0-9a-fA-F]{4}){${n / 2 - 1}}$`).test(s)) return true;
  }
  return false;
}

/** One --network value: a plain name, or the csv form with name=, alias=, ip=, ... */
function parseNetworkFlag(value: string, command: string): Attachment {
  const a: Attachment = { target: "", aliases: [], driverOpts: {}, links: [], ipv4: "", ipv6: "", mac: "", linkLocal: [], gwPriority: 0 };
  if (!value.includes("=")) {
    a.target = value;
    return a;
  }
  const bad = (why: string) => new UsageError(`invalid argument "${value}" for "--network" flag: ${why}`, command);
  for (const field of splitCsv(value)) {
    const eq = field.indexOf("=");
    if (eq < 0) throw bad(`invalid field '${field}' must be a key=value pair`);
    const key = field.slice(0, eq).trim().toLowerCase();
    const v = field.slice(eq + 1).trim();
    switch (key) {
      case "name":
        a.target = v;
        break;
      case "alias":
        a.aliases.push(v);
        break;
      case "ip":
        a.ipv4 = v;
        break;
      case "ip6":
        a.ipv6 = v;
        break;
      case "mac-address":
        a.mac = v;
        break;
      case "link-local-ip":
        a.linkLocal.push(v);
        break;
      case "driver-opt": {
        const i = v.indexOf("=");
        if (i < 0) throw bad(`invalid key value pair format in driver options`);
        a.driverOpts[v.slice(0, i).trim().toLowerCase()] = v.slice(i + 1).trim();
        break;
      }
      case "gw-priority": {
        if (!/^-?\d+$/.test(v)) throw bad(`invalid gw-priority: ${v}`);
        a.gwPriority = Number(v);
        break;
      }
      default:
        throw bad(`invalid field key ${key}`);
    }
  }
  return a;
}

/** csv fields as Go's encoding/csv reads one line (double quotes group commas). */
export function splitCsv(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '"') {
      if (quoted && s[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = !quoted;
    } else if (ch === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * HostConfig.NetworkMode and NetworkingConfig.EndpointsConfig for the flags. The container-wide
 * flags apply to the first network; a single network without endpoint options sends no endpoint
 * (the daemon makes it), and no --network at all sends the "default" endpoint.
 */
export function networkingConfig(f: NetworkFlags, command: string): { mode: string; endpoints: Record<string, EndpointSettings> } {
  const list = f.network.map((v) => parseNetworkFlag(v, command));
  const explicit = list.length > 0;
  if (!explicit) list.push(parseNetworkFlag("default", command));
  const endpoints: Record<string, EndpointSettings> = {};
  let userDefined = false;
  let builtin = false;
  for (const [i, n] of list.entries()) {
    if (isUserDefined(n.target)) userDefined = true;
    else builtin = true;
    if (i === 0) applyContainerFlags(n, f, command);
    const ep = endpointOf(n, command);
    if (endpoints[n.target]) throw new UsageError(`network "${n.target}" is specified multiple times`, command);
    if (explicit && i === 0 && list.length === 1 && isEmptyEndpoint(ep)) continue;
    endpoints[n.target] = ep;
  }
  if (userDefined && builtin) throw new UsageError("conflicting options: cannot attach both user-defined and non-user-defined network-modes", command);
  return { mode: list[0]!.target, endpoints };
}

function applyContainerFlags(n: Attachment, f: NetworkFlags, command: string): void {
  const conflict = (what: string) => new UsageError(`conflicting options: cannot specify both ${what}`, command);
  if (n.aliases.length && f.aliases.length) throw conflict("--network-alias and per-network alias");
  if (n.ipv4 && f.ip) throw conflict("--ip and per-network IPv4 address");
  if (n.ipv6 && f.ip6) throw conflict("--ip6 and per-network IPv6 address");
  if (n.mac && f.mac) throw conflict("--mac-address and per-network MAC address");
  if (n.linkLocal.length && f.linkLocal.length) throw conflict("--link-local-ip and per-network link-local IP addresses");
  if (f.aliases.length) n.aliases = [...f.aliases];
  if (isUserDefined(n.target) && f.links.length) n.links = [...f.links];
  if (f.ip) n.ipv4 = f.ip;
  if (f.ip6) n.ipv6 = f.ip6;
  if (f.mac) n.mac = f.mac;
  if (f.linkLocal.length) n.linkLocal = [...f.linkLocal];
}

function endpointOf(n: Attachment, command: string): EndpointSettings {
  if (n.target.trim() === "") throw new UsageError("no name set for network", command);
  if (!isUserDefined(n.target)) {
    if (n.aliases.length) throw new UsageError("network-scoped aliases are only supported for user-defined networks", command);
    if (n.links.length) throw new UsageError("links are only supported for user-defined networks", command);
  }
  let ipam: EndpointSettings["IPAMConfig"] = null;
  if (n.ipv4 || n.ipv6 || n.linkLocal.length) {
    ipam = {};
    if (n.ipv4) ipam.IPv4Address = n.ipv4;
    if (n.ipv6) ipam.IPv6Address = n.ipv6;
    if (n.linkLocal.length) ipam.LinkLocalIPs = [...n.linkLocal];
  }
  if (n.mac && !isMacAddress(n.mac)) throw new UsageError(`${n.mac} is not a valid mac address`, command);
  return endpointSettings({
    IPAMConfig: ipam,
    Links: n.links.length ? [...n.links] : null,
    Aliases: n.aliases.length ? [...n.aliases] : null,
    MacAddress: n.mac,
    DriverOpts: Object.keys(n.driverOpts).length ? { ...n.driverOpts } : null,
    GwPriority: n.gwPriority,
  });
}

function isEmptyEndpoint(ep: EndpointSettings): boolean {
  return ep.IPAMConfig === null && ep.Links === null && ep.Aliases === null && ep.MacAddress === "" && ep.DriverOpts === null && ep.GwPriority === 0;
}
